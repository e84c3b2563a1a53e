/*
 * auditdb.h - the factory-wide audit record: many stations' signed journal
 * exports verified and merged into one SQLite database (the schema, in plain
 * SQL, is docs/audit-database.md; auditdb.c holds the same text).
 *
 * An auditor registers each station's journal-signing key under a name
 * (auditdb_trust), imports the stations' JSON Lines exports with their
 * manifests (auditdb_import), then asks the record: coverage, continuity and
 * cross-station findings (auditdb_check), one device, serial, key or
 * certificate (auditdb_find), one summary row per station (auditdb_report).
 *
 * Every change is one transaction (BEGIN IMMEDIATE): a refused export, a
 * locked database or a crash leaves the database as it was. The database is
 * recognised by its application_id and user_version; any other file is
 * refused and left untouched. A database another process is writing is
 * waited for (AUDITDB_BUSY_MS), then refused with ST_E_AUDIT_DB_LOCKED.
 *
 * These functions are the only code that includes <sqlite3.h>.
 */
#ifndef STATION_AUDITDB_H
#define STATION_AUDITDB_H

#include <stdint.h>
#include <stdio.h>

#include "error.h"

#define AUDITDB_APPLICATION_ID 0x53544144 /* "STAD" */
#define AUDITDB_USER_VERSION 1
#define AUDITDB_BUSY_MS 3000
#define AUDITDB_NAME_MAX 64               /* bytes of a station name */

struct auditdb;

/* Opens the audit database at PATH. CREATE: a missing or empty file becomes
 * a new database (schema, WAL mode); otherwise a missing database is
 * ST_E_AUDIT_DB with a sentence saying so. Returns 0 and *OUT (close with
 * auditdb_close), ST_E_AUDIT_DB_FOREIGN for a file that is not a station
 * audit database (unchanged), ST_E_AUDIT_DB_LOCKED, ST_E_AUDIT_DB, with
 * DETAIL. */
int auditdb_open(const char *path, int create, struct auditdb **out, struct st_detail *detail);

/* Closes DB; NULL is fine. */
void auditdb_close(struct auditdb *db);

/* Registers the journal public key in PEM_PATH (as `station journal key`
 * prints it) under NAME (1 to AUDITDB_NAME_MAX printable bytes, no space at
 * either end). Returns 1 when registered now, 0 when exactly this name and
 * key were registered already (nothing changed), ST_E_AUDIT_KEY_TAKEN when
 * the key is registered under another name or the name with another key,
 * ST_E_USAGE for a bad name or a file that holds no public key, or a
 * database code; with DETAIL. */
int auditdb_trust(struct auditdb *db, const char *name, const char *pem_path, struct st_detail *detail);

/* What one import did. */
struct auditdb_import_result {
  char station[AUDITDB_NAME_MAX + 1];
  int already;                 /* 1: this export was imported before; nothing changed */
  int conflict;                /* 1: it disagrees with the record; kept out with the exports it contradicts
                                  (with already: it was kept out when first imported) */
  int has_records;
  int64_t first, last, journal_last;
  int complete;
  uint64_t rows;               /* rows in the export */
  uint64_t new_rows;           /* rows the record did not hold yet */
  char conflict_text[256];     /* with conflict: the first differing record and the other export */
};

/* Verifies the export at PATH (PATH.sig, PATH.manifest.json,
 * PATH.manifest.json.sig) against the registered keys and imports it, all in
 * one transaction. Returns 0 with *RES (imported, already imported, or
 * imported as a conflict), or, with DETAIL saying which file and why, and the
 * database unchanged: ST_E_AUDIT_UNKNOWN_KEY, ST_E_EXPORT_SIGNATURE (a file
 * changed or cut after the export), ST_E_EXPORT_INVALID (a manifest of
 * another export, rows that disagree with the manifest, a format that is not
 * jsonl), ST_E_IO, ST_E_AUDIT_DB_LOCKED, ST_E_AUDIT_DB, ST_E_NO_MEMORY. */
int auditdb_import(struct auditdb *db, const char *path, struct auditdb_import_result *res,
                   struct st_detail *detail);

/* Writes each finding of the record to OUT, one per line beginning with its
 * kind (gap, continuity, conflict, journal-restarted, device-issued-twice,
 * key-issued-twice, serial-used-twice), and sets *FINDINGS to their number
 * and *STATIONS to the stations registered. Returns 0 or a database code. */
int auditdb_check(struct auditdb *db, FILE *out, uint64_t *findings, uint64_t *stations, struct st_detail *detail);

/* Writes to OUT every issued or refused record whose device id, serial or key
 * hash (SHA-256 of the SubjectPublicKeyInfo DER) is QUERY, or, when QUERY is a
 * file holding a PEM certificate, whose serial or key is the certificate's or
 * whose device is its CN: station, record, time, source, local CA, export,
 * and the certificate in PEM. *FOUND gets the number of records. Returns 0,
 * ST_E_USAGE for a certificate file that does not read, or a database code. */
int auditdb_find(struct auditdb *db, const char *query, FILE *out, uint64_t *found, struct st_detail *detail);

/* Writes one row per station to OUT: CSV with a header row (JSONL: 0) or JSON
 * Lines (1): station, local_ca, records_covered, issued, refused,
 * first_time, last_time, gaps, conflicts. Returns 0 or a database code. */
int auditdb_report(struct auditdb *db, int jsonl, FILE *out, struct st_detail *detail);

#endif
