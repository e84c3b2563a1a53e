/*
 * auditdb_import.h - what the two halves of an import share: the state of
 * one import, and the merge half (auditdb_merge.c) that auditdb_import.c
 * drives: the export's rows in the database, compared with the record, and
 * conflicts kept out. Not for use outside station/audit_db/.
 */
#ifndef STATION_AUDITDB_IMPORT_H
#define STATION_AUDITDB_IMPORT_H

#include <openssl/evp.h>

#include "auditdb_internal.h"
#include "export.h"
#include "manifest.h"

#define IMPORT_CONFLICTS_MAX 64

struct import_conflict {
  int64_t seq;
  int64_t other_export;
  char fields[160];
};

/* The state of one import. */
struct import {
  struct auditdb *db;
  const char *path;
  struct export_manifest m;
  int64_t station_id, journal_id, ca_id, export_id;
  char station[AUDITDB_NAME_MAX + 1];
  EVP_PKEY *key;
  sqlite3_stmt *insert, *select;
  /* rows read so far */
  uint64_t rows, new_rows, lineno;
  uint64_t first_seq, last_seq;
  char last_chain[65];
  struct export_counts counts;
  int64_t (*runs)[2];
  size_t nruns, runs_cap;
  struct import_conflict conflicts[IMPORT_CONFLICTS_MAX];
  size_t nconflicts;
  uint64_t conflicting_rows;
  int row_error;
  struct st_detail row_detail;
};

/* Inside the transaction: finds or adds the journal and the local CA, adds
 * the export (manifest, signatures), sets the savepoint import_rows and
 * prepares the row statements. 0 or a database code. */
int import_begin(struct import *x, const char *manifest, size_t mlen, const char *msig, size_t msig_len,
                 const char *fsig, size_t fsig_len, struct st_detail *detail);

/* One line of the export (LEN bytes, no '\n'): a malformed or misplaced row
 * sets x->row_error and x->row_detail and returns 0; otherwise the row is
 * inserted, or compared with the record's (a difference is noted in
 * x->conflicts). Returns 0 or a database code. */
int import_line(struct import *x, const char *line, size_t len, struct st_detail *detail);

/* Stores the runs of seqs the export listed. 0 or a database code. */
int import_ranges(struct import *x, struct st_detail *detail);

/* 1 with *SEQ and *OTHER when this export lists a seq a stored conflict
 * names (and the export that conflict stored); 0 when none; or a database code. */
int import_prior_conflict(struct import *x, int64_t *seq, int64_t *other, struct st_detail *detail);

/* Rolls the rows back to import_rows, stores the conflicts, and keeps this
 * export and every export it contradicts out of the record; sets
 * RES->conflict and RES->conflict_text. 0 or a database code. */
int import_conflict(struct import *x, struct auditdb_import_result *res, struct st_detail *detail);

#endif
