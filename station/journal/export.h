/*
 * export.h - signed exports of the journal for auditors and back ends.
 *
 * An export is four files written atomically and published together: FILE;
 * FILE.sig, a DER ECDSA-SHA256 signature over FILE's bytes, exactly as they
 * are, by the journal-signing key in the token; FILE.manifest.json, what the
 * export covers (manifest.h); and FILE.manifest.json.sig, the same kind of
 * signature over the manifest. An auditor checks each with
 *
 *   openssl dgst -sha256 -verify journal-key.pem -signature X.sig X
 *
 * (journal-key.pem from `station journal key`), and FILE's SHA-256 against the
 * manifest's export.sha256. The journal is read once, without its lock, and
 * checked as `station journal verify` checks it (chain, checkpoints, head) in
 * the same pass: a journal that does not verify is not exported.
 *
 * Range: the records from 1 to the journal's last trusted record (one place
 * decides it: export_trusted_last in export.c). Without a filter every record
 * in range is a row, whatever its event (issued, refused, checkpoint, and any
 * other the journal holds), so seq runs without holes; --since, --until and
 * --source keep the matching records only.
 *
 * Formats:
 *   csv    RFC 4180, CRLF not used: lines end in '\n'. A header row
 *          seq,time,event,source,device,serial,reason,csr_sha256,key_sha256,detail,chain
 *          then one row per record. A field holding a comma, a double quote,
 *          a CR or an LF is put in double quotes, a quote doubled. Absent
 *          values are empty. time is UTC YYYY-MM-DDTHH:MM:SS.mmmZ (RFC 3339);
 *          serial, csr_sha256, key_sha256 and chain (the record's chain value
 *          in the journal) lower-case hex.
 *   jsonl  one JSON object per line with the same keys in the same order plus
 *          "certificate": the issued certificate in PEM ("" otherwise).
 *          seq is a number, every other value a string ("" when absent).
 *          Bytes of source, device and detail that are not valid UTF-8 are
 *          written as \u00XX (read as Latin-1).
 *   pem    every issued certificate in range, PEM, in journal order.
 *   index  OpenSSL's CA database (index.txt): for every issued certificate
 *          "V\t<notAfter as in the certificate>\t\t<SERIAL upper-case hex>\tunknown\t<subject /CN=..../OU=...>\n".
 */
#ifndef STATION_EXPORT_H
#define STATION_EXPORT_H

#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

struct audit;
struct st_detail;
struct export_manifest;

enum export_format { EXPORT_CSV, EXPORT_JSONL, EXPORT_PEM, EXPORT_INDEX };

/* Which records become rows. */
struct export_options {
  enum export_format format;
  int has_since, has_until;
  int64_t since_ms;            /* rows with time >= since (ms since the epoch, UTC) */
  int64_t until_ms;            /* rows with time <= until */
  const char *source;          /* rows whose source begins with this text; NULL: all */
  const char *since_text;      /* --since and --until as given, for the manifest (NULL: none) */
  const char *until_text;
};

/* Who made an export: the manifest's station part. */
struct export_station {
  const char *factory;
  X509 *ca_cert;               /* the local CA certificate (borrowed) */
};

#define EXPORT_EVENTS_MAX 8

/* What an export holds: rows by event. */
struct export_counts {
  uint64_t rows;               /* data rows (certificates for pem and index) */
  uint64_t issued;             /* rows of the events issued and refused (also in event[]) */
  uint64_t refused;
  size_t events;               /* entries of event[] in use */
  struct {
    char name[24];
    uint64_t rows;
  } event[EXPORT_EVENTS_MAX];  /* issued, refused, checkpoint first, then others as met */
};

/* Counts one row of EVENT (a lower-case event name) in C. Returns 0, or
 * ST_E_EXPORT_INVALID for a name too long or one event too many. */
int export_count(struct export_counts *c, const char *event);

/* As export_count, for ROWS rows at once. */
int export_count_add(struct export_counts *c, const char *event, uint64_t rows);

/* Rows of EVENT in C (0 when none). */
uint64_t export_count_of(const struct export_counts *c, const char *event);

/* What the rows of an export say, read back. */
struct export_scan {
  enum export_format format;   /* told from the first bytes */
  struct export_counts counts;
  uint64_t first, last;        /* seq of the first and last row (0: no row; csv and jsonl) */
  char last_chain[65];         /* chain of the last row ("" when none; csv and jsonl) */
  int gapless;                 /* 1 when each row's seq is the one before + 1 */
};

/* "csv", "jsonl", "pem", "index" into *OUT. 0 or ST_E_USAGE. */
int export_parse_format(const char *name, enum export_format *out);

/* An RFC 3339 date-time ("2024-06-11T11:28:13Z", with optional fraction and
 * "+HH:MM"/"-HH:MM" offset instead of Z) into ms since the epoch.
 * 0 or ST_E_USAGE. */
int export_parse_time(const char *text, int64_t *ms);

/* Verifies the journal at JOURNAL_PATH against the journal key and head of A,
 * and writes OUT_PATH, OUT_PATH.sig, OUT_PATH.manifest.json and
 * OUT_PATH.manifest.json.sig (all published together after fsync), signed by
 * the journal key; ST names the station in the manifest. COUNTS may be NULL.
 * Memory grows with the export (it is signed whole). Returns 0, the codes of
 * audit_verify when the journal does not verify, ST_E_JOURNAL_KEY, ST_E_IO,
 * ST_E_NO_SPACE, ST_E_NO_MEMORY, ST_E_CRYPTO, with DETAIL. */
int export_write(const char *journal_path, struct audit *a, const struct export_station *st,
                 const struct export_options *opt, const char *out_path, struct export_counts *counts,
                 struct st_detail *detail);

/* Reads the rows of an export (LEN bytes of DATA; its format told from its
 * first bytes: the CSV header, '{' for JSON Lines, "-----BEGIN" for PEM,
 * anything else an index) into *SCAN. Rows must be well formed, with rising
 * seq. Returns 0, ST_E_EXPORT_INVALID (DETAIL names the row) or
 * ST_E_NO_MEMORY. */
int export_scan(const char *data, size_t len, struct export_scan *scan, struct st_detail *detail);

/* Offline check of an export, no token, no journal: FILE.sig and
 * FILE.manifest.json.sig with PUB, the manifest's shape, that its
 * export.sha256 is FILE's hash and export.format FILE's format, and that the
 * rows agree with it (counts; for csv and jsonl first, last, the chain of the
 * last row, and no hole when unfiltered). Returns 0 with *M and *SCAN (either
 * may be NULL), ST_E_EXPORT_SIGNATURE (a signature does not verify),
 * ST_E_EXPORT_MANIFEST (the manifest is missing, malformed or not FILE's),
 * ST_E_EXPORT_INVALID (the rows are malformed or disagree with it), or
 * ST_E_IO, with DETAIL. */
int export_verify(const char *file, EVP_PKEY *pub, struct export_manifest *m, struct export_scan *scan,
                  struct st_detail *detail);

/* The name of FORMAT ("csv", "jsonl", "pem", "index"). */
const char *export_format_name(enum export_format format);

#endif
