/*
 * export.h - signed exports of the journal for auditors and back ends.
 *
 * An export is a plain file FILE, written atomically, and FILE.sig: a DER
 * ECDSA-SHA256 signature over FILE's bytes, exactly as they are, by the
 * journal-signing key in the token. An auditor checks it with
 *
 *   openssl dgst -sha256 -verify journal-key.pem -signature FILE.sig FILE
 *
 * (journal-key.pem from `station journal key`). The journal is read once,
 * without its lock, and checked as `station journal verify` checks it
 * (chain, checkpoints, head) in the same pass: a journal that does not verify
 * is not exported.
 *
 * Rows: one per device request (events issued and refused), in journal
 * order; checkpoint records are the journal's own and are not rows.
 *
 * Formats:
 *   csv    RFC 4180, CRLF not used: lines end in '\n'. A header row
 *          seq,time,event,source,device,serial,reason,csr_sha256,key_sha256,detail
 *          then one row per request. A field holding a comma, a double quote,
 *          a CR or an LF is put in double quotes, a quote doubled. Absent
 *          values are empty. time is UTC YYYY-MM-DDTHH:MM:SS.mmmZ (RFC 3339);
 *          serial, csr_sha256 and key_sha256 lower-case hex.
 *   jsonl  one JSON object per line with the same keys in the same order plus
 *          "certificate": the issued certificate in PEM ("" when refused).
 *          seq is a number, every other value a string ("" when absent).
 *          Bytes of source, device and detail that are not valid UTF-8 are
 *          written as \u00XX (read as Latin-1).
 *   pem    every issued certificate, PEM, in journal order.
 *   index  OpenSSL's CA database (index.txt): for every issued certificate
 *          "V\t<notAfter as in the certificate>\t\t<SERIAL upper-case hex>\tunknown\t<subject /CN=..../OU=...>\n".
 */
#ifndef STATION_EXPORT_H
#define STATION_EXPORT_H

#include <stdint.h>

#include <openssl/evp.h>

struct audit;
struct st_detail;

enum export_format { EXPORT_CSV, EXPORT_JSONL, EXPORT_PEM, EXPORT_INDEX };

/* Which records become rows. */
struct export_options {
  enum export_format format;
  int has_since, has_until;
  int64_t since_ms;            /* rows with time >= since (ms since the epoch, UTC) */
  int64_t until_ms;            /* rows with time <= until */
  const char *source;          /* rows whose source begins with this text; NULL: all */
};

/* What an export holds. */
struct export_counts {
  uint64_t rows;               /* data rows (certificates for pem and index) */
  uint64_t issued;
  uint64_t refused;
};

/* "csv", "jsonl", "pem", "index" into *OUT. 0 or ST_E_USAGE. */
int export_parse_format(const char *name, enum export_format *out);

/* An RFC 3339 date-time ("2024-06-11T11:28:13Z", with optional fraction and
 * "+HH:MM"/"-HH:MM" offset instead of Z) into ms since the epoch.
 * 0 or ST_E_USAGE. */
int export_parse_time(const char *text, int64_t *ms);

/* Verifies the journal at JOURNAL_PATH against the journal key and head of A,
 * and writes OUT_PATH and OUT_PATH.sig atomically (both published together
 * after fsync), signed by the journal key. COUNTS may be NULL. Memory grows
 * with the export (it is signed whole). Returns 0, the codes of audit_verify
 * when the journal does not verify, ST_E_JOURNAL_KEY, ST_E_IO, ST_E_NO_SPACE,
 * ST_E_NO_MEMORY, with DETAIL. */
int export_write(const char *journal_path, struct audit *a, const struct export_options *opt,
                 const char *out_path, struct export_counts *counts, struct st_detail *detail);

/* Offline check of an export: FILE.sig with PUB over FILE's bytes, then
 * FILE's syntax (its format found from its first bytes) and counts. No token,
 * no journal. Returns 0, ST_E_EXPORT_SIGNATURE, ST_E_EXPORT_INVALID (DETAIL
 * names the line), or ST_E_IO. FORMAT and COUNTS may be NULL. */
int export_verify(const char *file, EVP_PKEY *pub, enum export_format *format,
                  struct export_counts *counts, struct st_detail *detail);

#endif
