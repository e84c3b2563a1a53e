/*
 * auditdb_internal.h - what the auditdb*.c files share: the handle, SQLite
 * result codes turned into the station's codes, and small statement helpers.
 * Not for use outside station/audit_db/.
 */
#ifndef STATION_AUDITDB_INTERNAL_H
#define STATION_AUDITDB_INTERNAL_H

#include <sqlite3.h>
#include <stdint.h>

#include "auditdb.h"

struct auditdb {
  sqlite3 *db;
};

/* The station's code for SQLite result RC (SQLITE_BUSY/LOCKED: locked,
 * SQLITE_NOTADB: foreign, SQLITE_FULL: no space, else ST_E_AUDIT_DB), with
 * DETAIL "WHAT: <SQLite's message>". */
int auditdb_fail(struct auditdb *db, int rc, const char *what, struct st_detail *detail);

/* Runs SQL (no results wanted). 0 or auditdb_fail's code. */
int auditdb_exec(struct auditdb *db, const char *sql, struct st_detail *detail);

/* Prepares SQL into *ST. 0 or auditdb_fail's code. */
int auditdb_prepare(struct auditdb *db, const char *sql, sqlite3_stmt **st, struct st_detail *detail);

/* BEGIN IMMEDIATE (waits AUDITDB_BUSY_MS for another writer). 0, or
 * ST_E_AUDIT_DB_LOCKED with DETAIL. */
int auditdb_begin(struct auditdb *db, struct st_detail *detail);

/* COMMIT, or ROLLBACK when R is not 0; returns R, or COMMIT's failure. */
int auditdb_end(struct auditdb *db, int r, struct st_detail *detail);

/* Binds TEXT at I, NULL for NULL or "". */
int auditdb_bind_text(sqlite3_stmt *st, int i, const char *text);

/* Column I as text, "" for NULL. */
const char *auditdb_text(sqlite3_stmt *st, int i);

/* SHA-256 of DATA as 64 lower-case hex digits into OUT[65]. */
void auditdb_sha256_hex(const void *data, size_t len, char out[65]);

/* Calls FN(ARG, lo, hi) for each run of seqs in 1..N that journal JOURNAL_ID
 * does not hold in the record, in order. 0 or a database code. */
int auditdb_gaps(struct auditdb *db, int64_t journal_id, int64_t n, void (*fn)(void *, int64_t, int64_t),
                 void *arg, struct st_detail *detail);

#endif
