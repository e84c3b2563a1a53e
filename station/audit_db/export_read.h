/*
 * export_read.h - reading what `station journal export` writes, on the
 * auditor's side: the manifest FILE.manifest.json and the rows of a JSON Lines
 * export (docs/journal-format.md, "Signed exports"; docs/audit-database.md).
 *
 * Manifest: one JSON object with the members format ("station-export-
 * manifest"), version (1), station {factory, local_ca_subject,
 * local_ca_sha256, journal_key_sha256, journal_genesis}, export {file,
 * format, sha256, time}, records {first, last, journal_last, chain},
 * filters {since, until, source}, complete, counts {EVENT: N, ...}. Hashes
 * are 64 lower-case hex digits; first, last and chain are null together
 * (an export in which no record matched).
 *
 * Row (one line of a jsonl export, without its '\n'): one JSON object with
 * exactly the members seq (an integer >= 1), time (YYYY-MM-DDTHH:MM:SS.mmmZ),
 * event (lower-case letters and '-'), source, device, serial (lower-case hex,
 * even length, or ""), reason, csr_sha256 and key_sha256 (64 hex or ""),
 * detail, chain (64 hex), certificate (PEM or "").
 *
 * Nothing here does I/O or touches a database; both readers are strict and
 * capped (json.h), so they can be tested and fuzzed alone.
 */
#ifndef STATION_EXPORT_READ_H
#define STATION_EXPORT_READ_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define EXPORT_MANIFEST_MAX 65536       /* bytes of FILE.manifest.json */
#define EXPORT_ROW_MAX (256u * 1024)    /* bytes of one jsonl line */
#define EXPORT_EVENTS_MAX 16            /* distinct events in counts */

struct export_manifest {
  char factory[256];
  char local_ca_subject[1024];
  char local_ca_sha256[65];
  char journal_key_sha256[65];
  char journal_genesis[65];
  char file[256];
  char format[8];                  /* csv | jsonl | pem | index */
  char sha256[65];
  char time[40];
  int has_records;                 /* 0: first, last and chain were null */
  int64_t first, last, journal_last;
  char chain[65];
  int has_since, has_until, has_source;
  char since[64], until[64], source[512];
  int complete;
  size_t nevents;
  struct {
    char name[32];
    int64_t n;
  } counts[EXPORT_EVENTS_MAX];
};

/* One row; the strings point into the document the row was read from. */
struct export_row {
  int64_t seq;
  const char *time, *event, *source, *device, *serial, *reason, *csr_sha256, *key_sha256, *detail,
      *chain, *certificate;
};

struct json_doc;

/* Parses and checks LEN bytes of manifest text into *M. Returns 0, or
 * ST_E_EXPORT_INVALID with DETAIL naming the member that is wrong, or
 * ST_E_NO_MEMORY. */
int export_manifest_parse(const char *text, size_t len, struct export_manifest *m, struct st_detail *detail);

/* The manifest's count for EVENT (0 when it lists none). */
int64_t export_manifest_count(const struct export_manifest *m, const char *event);

/* True when the manifest names no filter. */
int export_manifest_unfiltered(const struct export_manifest *m);

/* Parses one jsonl line (LEN bytes, no '\n') into *ROW, whose strings live in
 * *DOC until json_free(*DOC). Returns 0, or ST_E_EXPORT_INVALID with DETAIL,
 * or ST_E_NO_MEMORY (then *DOC is NULL). */
int export_row_parse(const char *line, size_t len, struct export_row *row, struct json_doc **doc,
                     struct st_detail *detail);

/* True when S is exactly 64 lower-case hex digits. */
int export_is_hex64(const char *s);

#endif
