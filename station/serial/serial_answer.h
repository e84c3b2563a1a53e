/*
 * serial_answer.h - the station -> board half of the serial line protocol:
 * the bytes of an answer (docs/line-protocol.md). No I/O.
 *
 *   issued:   <device certificate PEM><local CA PEM><factory root PEM>
 *             STATION OK <serial, lower-case hex>\n
 *   refused:  STATION ERR <reason-code> <sentence>\n
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
#include <openssl/x509.h>

/* The longest sentence put on an ERR line. */
#define SERIAL_ANSWER_SENTENCE_MAX 400

/* The chain part of every issued answer: CA then ROOT, PEM. Returns 0 and
 * *OUT (NUL-terminated, caller frees), or ST_E_CRYPTO / ST_E_NO_MEMORY. */
int serial_answer_chain(X509 *ca, X509 *root, char **out);

/* The answer for an issued certificate CERT_DER (CERT_LEN bytes) with serial
 * SERIAL_HEX, followed by CHAIN_PEM. Returns 0 and *OUT / *OUT_LEN (caller
 * frees), or ST_E_CRYPTO when CERT_DER does not parse, or ST_E_NO_MEMORY. */
int serial_answer_issued(const uint8_t *cert_der, size_t cert_len, const char *chain_pem, const char *serial_hex,
                         char **out, size_t *out_len);

/* The answer for a refusal CODE with DETAIL (NULL or "" for none). Returns 0
 * and *OUT / *OUT_LEN (caller frees), or ST_E_NO_MEMORY. */
int serial_answer_refused(int code, const char *detail, char **out, size_t *out_len);

#endif
