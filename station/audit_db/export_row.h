/*
 * export_row.h - reading one row of a JSON Lines export on the auditor's
 * side (the format: export.h and docs/journal-format.md, "Signed exports").
 *
 * A row is one line without its '\n': one JSON object with exactly the
 * members seq (an integer >= 1), time (YYYY-MM-DDTHH:MM:SS.mmmZ), event
 * (lower-case letters and '-'), source, device, serial (lower-case hex, even
 * length, or ""), reason, csr_sha256 and key_sha256 (64 lower-case hex digits
 * or ""), detail, chain (64 lower-case hex digits), certificate (PEM or "").
 *
 * The JSON itself is read by the station's strict reader (json_read.h); this
 * adds the row's shape and a cap on its length. No I/O, no database: it can
 * be tested and fuzzed alone.
 */
#ifndef STATION_EXPORT_ROW_H
#define STATION_EXPORT_ROW_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define EXPORT_ROW_MAX (256u * 1024)    /* bytes of one jsonl line */

/* One row; the strings point into the document the row was read from. */
struct export_row {
  uint64_t seq;
  const char *time, *event, *source, *device, *serial, *reason, *csr_sha256, *key_sha256, *detail,
      *chain, *certificate;
};

struct json_doc;

/* Parses one jsonl line (LEN bytes, no '\n') into *ROW, whose strings live in
 * *DOC until json_doc_free(*DOC). Returns 0, or ST_E_EXPORT_INVALID with
 * DETAIL naming what is wrong, or ST_E_NO_MEMORY (then *DOC is NULL). */
int export_row_parse(const char *line, size_t len, struct export_row *row, struct json_doc **doc,
                     struct st_detail *detail);

/* True when S is exactly 64 lower-case hex digits. */
int export_is_hex64(const char *s);

#endif
