/*
 * auditdb_merge.c - the merge half of an import (auditdb_import.h): rows into
 * the record, each compared with what the record holds for its journal and
 * seq, and conflicts kept out.
 *
 * A record is stored once per journal and seq (UNIQUE (journal_id, seq)):
 * INSERT OR IGNORE adds it, and a row that was ignored is read back and
 * compared column by column, chain included. The runs of seqs each export
 * lists (export_range) say which exports vouch for which records, so that
 * when exports are marked "conflict" the records no accepted export lists
 * can leave the record and the rest be credited to one that does.
 */
#include "auditdb_import.h"

#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "export_row.h"
#include "json_read.h"
#include "xbuf.h"

/* An id from "SELECT id ... " with one bound text, inserting with INSERT when
 * none. The statements bind ?1.. from TEXTS. */
static int import_id(struct import *x, const char *select, const char *insert, const char *const *texts, int n,
                     int64_t *id, struct st_detail *detail)
{
  sqlite3_stmt *st = NULL;
  int r = 0, rc;
  for (int pass = 0; pass < 2 && r == 0; pass++) {
    if ((r = auditdb_prepare(x->db, pass == 0 ? select : insert, &st, detail)) != 0)
      break;
    for (int i = 0; i < n; i++)
      sqlite3_bind_text(st, i + 1, texts[i], -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (pass == 0 && rc == SQLITE_ROW) {
      *id = sqlite3_column_int64(st, 0);
      sqlite3_finalize(st);
      return 0;
    }
    if (rc != SQLITE_DONE)
      r = auditdb_fail(x->db, rc, "writing the record", detail);
    else if (pass == 1)
      *id = sqlite3_last_insert_rowid(x->db->db);
    sqlite3_finalize(st);
    st = NULL;
  }
  return r;
}

/* The journal, the local CA and the export row; prepares the row statements. */
int import_begin(struct import *x, const char *manifest, size_t mlen, const char *msig, size_t msig_len,
                        const char *fsig, size_t fsig_len, struct st_detail *detail)
{
  char station_id[24], now[32], *base_copy = strdup(x->path);
  const char *ca[3] = {x->m.ca_sha256, x->m.ca_subject, x->m.factory};
  const char *jr[2] = {station_id, x->m.genesis};
  sqlite3_stmt *st = NULL;
  time_t t = time(NULL);
  struct tm tm;
  int r, rc;

  if (base_copy == NULL)
    return ST_E_NO_MEMORY;
  snprintf(station_id, sizeof station_id, "%lld", (long long)x->station_id);
  gmtime_r(&t, &tm);
  strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", &tm);
  r = import_id(x, "SELECT id FROM local_ca WHERE sha256 = ?1",
                "INSERT INTO local_ca (sha256, subject, factory) VALUES (?1, ?2, ?3)", ca, 3, &x->ca_id, detail);
  if (r == 0)
    r = import_id(x, "SELECT id FROM journal WHERE station_id = ?1 AND genesis = ?2",
                  "INSERT INTO journal (station_id, genesis) VALUES (?1, ?2)", jr, 2, &x->journal_id, detail);
  if (r == 0)
    r = auditdb_prepare(x->db,
                        "INSERT INTO export (journal_id, local_ca_id, sha256, file, format, time, first, last, "
                        "journal_last, chain, since, until, source, complete, rows, status, imported_at, manifest, "
                        "manifest_sig, file_sig) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
                        "?14, 0, 'accepted', ?15, ?16, ?17, ?18)", &st, detail);
  if (r != 0)
    goto out;
  sqlite3_bind_int64(st, 1, x->journal_id);
  sqlite3_bind_int64(st, 2, x->ca_id);
  sqlite3_bind_text(st, 3, x->m.sha256, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, basename(base_copy), -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 5, "jsonl", -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 6, x->m.time, -1, SQLITE_STATIC);
  if (x->m.has_range) {
    sqlite3_bind_int64(st, 7, (sqlite3_int64)x->m.first);
    sqlite3_bind_int64(st, 8, (sqlite3_int64)x->m.last);
    sqlite3_bind_text(st, 10, x->m.chain, -1, SQLITE_STATIC);
  }
  sqlite3_bind_int64(st, 9, (sqlite3_int64)x->m.journal_last);
  if (x->m.has_since)
    sqlite3_bind_text(st, 11, x->m.since, -1, SQLITE_STATIC);
  if (x->m.has_until)
    sqlite3_bind_text(st, 12, x->m.until, -1, SQLITE_STATIC);
  if (x->m.has_source)
    sqlite3_bind_text(st, 13, x->m.source, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 14, x->m.complete);
  sqlite3_bind_text(st, 15, now, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 16, manifest, (int)mlen, SQLITE_STATIC);
  sqlite3_bind_blob(st, 17, msig, (int)msig_len, SQLITE_STATIC);
  sqlite3_bind_blob(st, 18, fsig, (int)fsig_len, SQLITE_STATIC);
  if ((rc = sqlite3_step(st)) != SQLITE_DONE) {
    r = auditdb_fail(x->db, rc, "writing the export", detail);
    goto out;
  }
  x->export_id = sqlite3_last_insert_rowid(x->db->db);
  r = auditdb_exec(x->db, "SAVEPOINT import_rows", detail);
  if (r == 0)
    r = auditdb_prepare(x->db,
                        "INSERT OR IGNORE INTO record (journal_id, seq, time, event, source, device, serial, reason, "
                        "csr_sha256, key_sha256, detail, chain, certificate, station_id, local_ca_id, export_id) "
                        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
                        &x->insert, detail);
  if (r == 0)
    r = auditdb_prepare(x->db,
                        "SELECT time, event, source, device, serial, reason, csr_sha256, key_sha256, detail, chain, "
                        "certificate, export_id FROM record WHERE journal_id = ?1 AND seq = ?2", &x->select, detail);
out:
  sqlite3_finalize(st);
  free(base_copy);
  return r;
}

static void import_count(struct import *x, const char *event)
{
  if (export_count(&x->counts, event) != 0) {
    x->row_error = ST_E_EXPORT_INVALID;
    st_detail_set(&x->row_detail, "line %llu: more kinds of event than an export counts",
                  (unsigned long long)x->lineno);
  }
}

/* True when the manifest names no filter. */
static int import_unfiltered(const struct export_manifest *m)
{
  return !m->has_since && !m->has_until && !m->has_source;
}

/* Extends the runs of seqs with SEQ (greater than every seq before). */
static int import_run(struct import *x, uint64_t seq)
{
  int64_t(*grown)[2];
  if (x->nruns > 0 && x->runs[x->nruns - 1][1] == (int64_t)seq - 1) {
    x->runs[x->nruns - 1][1] = (int64_t)seq;
    return 0;
  }
  if ((grown = st_array_grow(x->runs, &x->runs_cap, x->nruns, sizeof *grown, 16, 0)) == NULL)
    return ST_E_NO_MEMORY;
  x->runs = grown;
  x->runs[x->nruns][0] = (int64_t)seq;
  x->runs[x->nruns++][1] = (int64_t)seq;
  return 0;
}

/* Compares ROW with the record's row at its seq (the statement x->select). */
static int import_compare(struct import *x, const struct export_row *row, struct st_detail *detail)
{
  static const char *const names[] = {"time", "event", "source", "device", "serial", "reason", "csr_sha256",
                                      "key_sha256", "detail", "chain", "certificate"};
  const char *mine[11] = {row->time, row->event, row->source, row->device, row->serial, row->reason,
                          row->csr_sha256, row->key_sha256, row->detail, row->chain, row->certificate};
  char fields[160] = "";
  int rc, r = 0;
  sqlite3_reset(x->select);
  sqlite3_bind_int64(x->select, 1, x->journal_id);
  sqlite3_bind_int64(x->select, 2, (sqlite3_int64)row->seq);
  if ((rc = sqlite3_step(x->select)) != SQLITE_ROW)
    return auditdb_fail(x->db, rc, "reading the record", detail);
  for (int i = 0; i < 11; i++)
    if (strcmp(auditdb_text(x->select, i), mine[i]) != 0) {
      size_t used = strlen(fields);
      snprintf(fields + used, sizeof fields - used, "%s%s", used ? ", " : "", names[i]);
    }
  if (fields[0] != '\0') {
    x->conflicting_rows++;
    if (x->nconflicts < IMPORT_CONFLICTS_MAX) {
      struct import_conflict *c = &x->conflicts[x->nconflicts++];
      c->seq = (int64_t)row->seq;
      c->other_export = sqlite3_column_int64(x->select, 11);
      snprintf(c->fields, sizeof c->fields, "%s", fields);
    }
  }
  sqlite3_reset(x->select);
  return r;
}

/* One line of the export: checks its place, inserts or compares it. */
int import_line(struct import *x, const char *line, size_t len, struct st_detail *detail)
{
  struct export_row row;
  struct json_doc *doc = NULL;
  const char *texts[11];
  int r, rc;

  x->lineno++;
  r = export_row_parse(line, len, &row, &doc, &x->row_detail);
  if (r == ST_E_NO_MEMORY)
    return r;
  if (r != 0) {
    char inner[sizeof x->row_detail.text];
    snprintf(inner, sizeof inner, "%s", x->row_detail.text);
    st_detail_set(&x->row_detail, "line %llu: %s", (unsigned long long)x->lineno, inner);
    x->row_error = r;
    return 0;
  }
  if (row.seq <= x->last_seq || (x->rows == 0 && x->m.has_range && row.seq != x->m.first) ||
      (x->rows > 0 && import_unfiltered(&x->m) && row.seq != x->last_seq + 1) || !x->m.has_range ||
      row.seq > x->m.last) {
    x->row_error = ST_E_EXPORT_INVALID;
    st_detail_set(&x->row_detail, "line %llu: record %lld is out of place (the manifest covers %lld-%lld%s)",
                  (unsigned long long)x->lineno, (long long)row.seq, (long long)x->m.first, (long long)x->m.last,
                  import_unfiltered(&x->m) ? ", every record" : "");
    goto out;
  }
  if (x->rows == 0)
    x->first_seq = row.seq;
  x->rows++;
  x->last_seq = row.seq;
  memcpy(x->last_chain, row.chain, 65);
  import_count(x, row.event);
  if ((r = import_run(x, row.seq)) != 0)
    goto out;
  texts[0] = row.time, texts[1] = row.event, texts[2] = row.source, texts[3] = row.device;
  texts[4] = row.serial, texts[5] = row.reason, texts[6] = row.csr_sha256, texts[7] = row.key_sha256;
  texts[8] = row.detail, texts[9] = row.chain, texts[10] = row.certificate;
  sqlite3_reset(x->insert);
  sqlite3_bind_int64(x->insert, 1, x->journal_id);
  sqlite3_bind_int64(x->insert, 2, (sqlite3_int64)row.seq);
  for (int i = 0; i < 11; i++)
    auditdb_bind_text(x->insert, 3 + i, texts[i]);
  sqlite3_bind_int64(x->insert, 14, x->station_id);
  sqlite3_bind_int64(x->insert, 15, x->ca_id);
  sqlite3_bind_int64(x->insert, 16, x->export_id);
  if ((rc = sqlite3_step(x->insert)) != SQLITE_DONE) {
    r = auditdb_fail(x->db, rc, "writing the record", detail);
    goto out;
  }
  if (sqlite3_changes(x->db->db) == 1)
    x->new_rows++;
  else
    r = import_compare(x, &row, detail);
out:
  json_doc_free(doc);
  return r;
}

/* Runs SQL with ?1 = the journal and ?2 = this export (when it names them). */
static int import_step(struct import *x, const char *sql, struct st_detail *detail)
{
  sqlite3_stmt *st = NULL;
  int r = auditdb_prepare(x->db, sql, &st, detail), rc;
  if (r != 0)
    return r;
  sqlite3_bind_int64(st, 1, x->journal_id);
  sqlite3_bind_int64(st, 2, x->export_id);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW)
    ;
  if (rc != SQLITE_DONE)
    r = auditdb_fail(x->db, rc, "writing the record", detail);
  sqlite3_finalize(st);
  return r;
}

int import_ranges(struct import *x, struct st_detail *detail)
{
  sqlite3_stmt *st = NULL;
  int r = auditdb_prepare(x->db, "INSERT INTO export_range (export_id, lo, hi) VALUES (?1, ?2, ?3)", &st, detail), rc;
  for (size_t i = 0; r == 0 && i < x->nruns; i++) {
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, x->export_id);
    sqlite3_bind_int64(st, 2, x->runs[i][0]);
    sqlite3_bind_int64(st, 3, x->runs[i][1]);
    if ((rc = sqlite3_step(st)) != SQLITE_DONE)
      r = auditdb_fail(x->db, rc, "writing the export's ranges", detail);
  }
  sqlite3_finalize(st);
  return r;
}

/* A seq of this export that a stored conflict names: *SEQ and the export
 * that conflict stored. 1 when there is one. */
int import_prior_conflict(struct import *x, int64_t *seq, int64_t *other, struct st_detail *detail)
{
  sqlite3_stmt *st = NULL;
  int r = auditdb_prepare(x->db,
                          "SELECT c.seq, c.export_id FROM conflict c JOIN export_range r ON r.export_id = ?2 "
                          "AND c.seq BETWEEN r.lo AND r.hi WHERE c.journal_id = ?1 ORDER BY c.seq LIMIT 1", &st,
                          detail), rc;
  if (r != 0)
    return r;
  sqlite3_bind_int64(st, 1, x->journal_id);
  sqlite3_bind_int64(st, 2, x->export_id);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    *seq = sqlite3_column_int64(st, 0);
    *other = sqlite3_column_int64(st, 1);
    r = 1;
  } else if (rc != SQLITE_DONE) {
    r = auditdb_fail(x->db, rc, "reading the conflicts", detail);
  }
  sqlite3_finalize(st);
  return r;
}

/* Keeps this export and every export it contradicts out of the record. */
int import_conflict(struct import *x, struct auditdb_import_result *res, struct st_detail *detail)
{
  sqlite3_stmt *st = NULL, *name = NULL;
  int r, rc;
  if ((r = auditdb_exec(x->db, "ROLLBACK TO import_rows; RELEASE import_rows", detail)) != 0 ||
      (r = import_ranges(x, detail)) != 0 ||
      (r = auditdb_prepare(x->db, "INSERT INTO conflict (journal_id, seq, export_id, other_export_id, fields) "
                                  "VALUES (?1, ?2, ?3, ?4, ?5)", &st, detail)) != 0)
    goto out;
  for (size_t i = 0; i < x->nconflicts; i++) {
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, x->journal_id);
    sqlite3_bind_int64(st, 2, x->conflicts[i].seq);
    sqlite3_bind_int64(st, 3, x->export_id);
    sqlite3_bind_int64(st, 4, x->conflicts[i].other_export);
    sqlite3_bind_text(st, 5, x->conflicts[i].fields, -1, SQLITE_STATIC);
    if ((rc = sqlite3_step(st)) != SQLITE_DONE) {
      r = auditdb_fail(x->db, rc, "writing the conflict", detail);
      goto out;
    }
  }
  /* Every export of the journal that lists a conflicting seq leaves the
   * record; a record no accepted export lists goes with it; the rest are
   * credited to an accepted export that lists them. */
  r = import_step(x, "UPDATE export SET status = 'conflict' WHERE journal_id = ?1 AND (id = ?2 OR id IN "
                     "(SELECT r.export_id FROM export_range r JOIN conflict c ON c.seq BETWEEN r.lo AND r.hi "
                     "AND c.journal_id = ?1))", detail);
  if (r == 0)
    r = import_step(x, "DELETE FROM record WHERE journal_id = ?1 AND NOT EXISTS (SELECT 1 FROM "
                       "export_range r JOIN export e ON e.id = r.export_id WHERE e.journal_id = ?1 AND "
                       "e.status = 'accepted' AND record.seq BETWEEN r.lo AND r.hi)", detail);
  if (r == 0)
    r = import_step(x, "UPDATE record SET export_id = (SELECT min(e.id) FROM export_range r JOIN export e ON "
                       "e.id = r.export_id WHERE e.journal_id = ?1 AND e.status = 'accepted' AND record.seq "
                       "BETWEEN r.lo AND r.hi) WHERE journal_id = ?1 AND export_id IN "
                       "(SELECT id FROM export WHERE status = 'conflict')", detail);
  if (r != 0)
    goto out;
  res->conflict = 1;
  if (x->nconflicts > 0 && auditdb_prepare(x->db, "SELECT file FROM export WHERE id = ?1", &name, detail) == 0) {
    sqlite3_bind_int64(name, 1, x->conflicts[0].other_export);
    rc = sqlite3_step(name);
    snprintf(res->conflict_text, sizeof res->conflict_text, "record %lld differs from export %s (%s)%s",
             (long long)x->conflicts[0].seq, rc == SQLITE_ROW ? auditdb_text(name, 0) : "?", x->conflicts[0].fields,
             x->conflicting_rows > 1 ? ", and more records differ" : "");
  }
out:
  sqlite3_finalize(name);
  sqlite3_finalize(st);
  return r;
}

