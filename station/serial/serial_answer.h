/*
 * serial_answer.h - the station -> board half of the serial line protocol:
 * the bytes of an answer (docs/line-protocol.md). No I/O.
 *
 *   issued:   <device certificate PEM><local CA PEM><factory root PEM>
 *             [Request-SHA256: <64 hex>\n]
 *             [Time: <unix seconds> <YYYY-MM-DDThh:mm:ssZ>\n]
 *             [Gateway: <https URL>\n]
 *             STATION OK <serial, lower-case hex>\n
 *   refused:  [Request-SHA256: <64 hex>\n]
 *             [Time: <unix seconds> <YYYY-MM-DDThh:mm:ssZ>\n]
 *             STATION ERR <reason-code> <sentence>\n
 *
 * The lines in brackets (the answer's header lines) come just before the
 * verdict line, after the certificates: a board script that looks only for
 * the PEM blocks and for a line starting "STATION OK " or "STATION ERR "
 * skips them, and the verdict line is unchanged. Request-SHA256 names the
 * request answered: the SHA-256 of its block as the parser kept it (BEGIN to
 * END line, each line trimmed and ended with LF), which is the SHA-256 of the
 * board's PEM file when the line carried it intact; absent when there was no
 * complete block (too-large, timeout). Time is the station's clock when the
 * answer was made. Gateway is the device gateway's URL, when one is configured.
 *
 * Every line ends with LF alone. The sentence is one line of printable ASCII:
 * the particulars of the refusal when there are some, else the code's
 * sentence; control bytes become spaces and other bytes '?', so text that
 * came from a CSR (an OU with a newline in it) cannot break the framing.
 */
#ifndef STATION_SERIAL_ANSWER_H
#define STATION_SERIAL_ANSWER_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <openssl/x509.h>

/* The longest sentence put on an ERR line. */
#define SERIAL_ANSWER_SENTENCE_MAX 400

/* The header lines of one answer; a NULL pointer leaves its line out. */
struct serial_answer_meta {
  const char *request_sha256_hex;  /* 64 lower-case hex digits, or NULL */
  time_t time;                     /* the station's clock; (time_t)-1 leaves the Time line out */
  const char *gateway_url;         /* issued answers only; NULL when no gateway is configured */
};

/* The chain part of every issued answer: CA then ROOT, PEM. Returns 0 and
 * *OUT (NUL-terminated, caller frees), or ST_E_CRYPTO / ST_E_NO_MEMORY. */
int serial_answer_chain(X509 *ca, X509 *root, char **out);

/* The answer for an issued certificate CERT_DER (CERT_LEN bytes, the DER
 * the engine made or checked: put into PEM as it is, not decoded) with
 * serial SERIAL_HEX, followed by CHAIN_PEM, with the header lines of META
 * (NULL: none). Returns 0 and *OUT / *OUT_LEN (caller frees), or
 * ST_E_CRYPTO when CERT_LEN is 0 or the PEM cannot be written. */
int serial_answer_issued(const uint8_t *cert_der, size_t cert_len, const char *chain_pem, const char *serial_hex,
                         const struct serial_answer_meta *meta, char **out, size_t *out_len);

/* The answer for a refusal CODE with DETAIL (NULL or "" for none), with the
 * header lines of META (NULL: none; its gateway is not used). Returns 0 and
 * *OUT / *OUT_LEN (caller frees), or ST_E_NO_MEMORY. */
int serial_answer_refused(int code, const char *detail, const struct serial_answer_meta *meta, char **out,
                          size_t *out_len);

#endif
