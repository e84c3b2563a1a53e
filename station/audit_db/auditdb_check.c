/*
 * auditdb_check.c - what the record shows that an auditor must look at.
 *
 * A registered station with no export imported is a gap of its own.
 * Per journal of each station: coverage (every seq 1..N, N the largest
 * journal_last any export of it states; each missing run is a gap),
 * continuity (the accepted exports, linked wherever two list a same seq,
 * form one piece; each further piece is a break where the chain between
 * them is unproven), and stored conflicts. Per station: more than one
 * journal. Across stations, over issued records: a device id or a key
 * certified by two stations or two local CAs, a serial used twice by one
 * local CA. Each finding is one line on OUT, beginning with its kind.
 */
#include "auditdb_internal.h"

#include <stdlib.h>
#include <string.h>

#include "xbuf.h"

struct check {
  struct auditdb *db;
  FILE *out;
  uint64_t findings;
  const char *station;
  char where[128];   /* "station NAME" or "station NAME (journal 1a2b...)" */
  int64_t n;
};

static void check_gap(void *arg, int64_t lo, int64_t hi)
{
  struct check *c = arg;
  if (lo == hi)
    fprintf(c->out, "gap: %s: record %lld of 1-%lld is in no imported export\n", c->where, (long long)lo,
            (long long)c->n);
  else
    fprintf(c->out, "gap: %s: records %lld-%lld of 1-%lld are in no imported export\n", c->where, (long long)lo,
            (long long)hi, (long long)c->n);
  c->findings++;
}

/* Union-find over the accepted exports of one journal. */
struct piece {
  int64_t export_id;
  size_t parent;
  int64_t lo, hi;
  int has_rows;
  char files[160];
};

static size_t piece_root(struct piece *p, size_t i)
{
  while (p[i].parent != i)
    i = p[i].parent = p[p[i].parent].parent;
  return i;
}

static size_t piece_index(const struct piece *p, size_t n, int64_t id)
{
  for (size_t i = 0; i < n; i++)
    if (p[i].export_id == id)
      return i;
  return n;
}

static int piece_cmp(const void *a, const void *b)
{
  const struct piece *x = a, *y = b;
  return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static int check_continuity(struct check *c, int64_t journal_id, struct st_detail *detail)
{
  sqlite3_stmt *st = NULL;
  struct piece *p = NULL, *roots = NULL;
  size_t n = 0, cap = 0, nroots = 0;
  int r, rc;

  r = auditdb_prepare(c->db, "SELECT e.id, e.file, min(r.lo), max(r.hi) FROM export e JOIN export_range r ON "
                             "r.export_id = e.id WHERE e.journal_id = ?1 AND e.status = 'accepted' GROUP BY e.id "
                             "ORDER BY e.id", &st, detail);
  if (r != 0)
    return r;
  sqlite3_bind_int64(st, 1, journal_id);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    struct piece *grown = st_array_grow(p, &cap, n, sizeof *grown, 16, 0);
    if (grown == NULL) {
      r = ST_E_NO_MEMORY;
      goto out;
    }
    p = grown;
    memset(&p[n], 0, sizeof p[n]);
    p[n].export_id = sqlite3_column_int64(st, 0);
    p[n].parent = n;
    snprintf(p[n].files, sizeof p[n].files, "%s", auditdb_text(st, 1));
    p[n].lo = sqlite3_column_int64(st, 2);
    p[n].hi = sqlite3_column_int64(st, 3);
    n++;
  }
  sqlite3_finalize(st);
  st = NULL;
  if (rc != SQLITE_DONE)
    return auditdb_fail(c->db, rc, "reading the exports", detail);
  if (n < 2)
    goto out;
  r = auditdb_prepare(c->db, "SELECT DISTINCT a.export_id, b.export_id FROM export_range a JOIN export_range b ON "
                             "a.export_id < b.export_id AND a.lo <= b.hi AND b.lo <= a.hi JOIN export ea ON "
                             "ea.id = a.export_id JOIN export eb ON eb.id = b.export_id WHERE ea.journal_id = ?1 AND "
                             "eb.journal_id = ?1 AND ea.status = 'accepted' AND eb.status = 'accepted'", &st, detail);
  if (r != 0)
    goto out;
  sqlite3_bind_int64(st, 1, journal_id);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    size_t a = piece_index(p, n, sqlite3_column_int64(st, 0)), b = piece_index(p, n, sqlite3_column_int64(st, 1));
    if (a < n && b < n)
      p[piece_root(p, a)].parent = piece_root(p, b);
  }
  if (rc != SQLITE_DONE) {
    r = auditdb_fail(c->db, rc, "reading the exports", detail);
    goto out;
  }
  /* One entry per piece: its seq span and the exports in it. */
  if ((roots = calloc(n, sizeof *roots)) == NULL) {
    r = ST_E_NO_MEMORY;
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    size_t root = piece_root(p, i), k;
    for (k = 0; k < nroots && roots[k].export_id != (int64_t)root; k++)
      ;
    if (k == nroots) {
      roots[nroots] = p[i];
      roots[nroots++].export_id = (int64_t)root;
    } else {
      size_t used = strlen(roots[k].files);
      roots[k].lo = p[i].lo < roots[k].lo ? p[i].lo : roots[k].lo;
      roots[k].hi = p[i].hi > roots[k].hi ? p[i].hi : roots[k].hi;
      snprintf(roots[k].files + used, sizeof roots[k].files - used, ", %s", p[i].files);
    }
  }
  qsort(roots, nroots, sizeof *roots, piece_cmp);
  for (size_t k = 1; k < nroots; k++) {
    fprintf(c->out, "continuity: %s: records %lld-%lld (%s) and %lld-%lld (%s) share no record, so no chain value "
            "links them\n", c->where, (long long)roots[k - 1].lo, (long long)roots[k - 1].hi, roots[k - 1].files,
            (long long)roots[k].lo, (long long)roots[k].hi, roots[k].files);
    c->findings++;
  }
out:
  sqlite3_finalize(st);
  free(roots);
  free(p);
  return r;
}

static int check_conflicts(struct check *c, int64_t journal_id, struct st_detail *detail)
{
  sqlite3_stmt *st = NULL;
  int r = auditdb_prepare(c->db, "SELECT min(c.seq), max(c.seq), count(*), a.file, b.file, "
                                 "(SELECT fields FROM conflict d WHERE d.export_id = c.export_id AND "
                                 "d.other_export_id = c.other_export_id ORDER BY d.seq LIMIT 1) FROM conflict c "
                                 "JOIN export a ON a.id = c.export_id JOIN export b ON b.id = c.other_export_id "
                                 "WHERE c.journal_id = ?1 GROUP BY c.export_id, c.other_export_id ORDER BY 1",
                          &st, detail), rc;
  if (r != 0)
    return r;
  sqlite3_bind_int64(st, 1, journal_id);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    fprintf(c->out, "conflict: %s: exports %s and %s disagree on record %lld", c->where, auditdb_text(st, 3),
            auditdb_text(st, 4), (long long)sqlite3_column_int64(st, 0));
    if (sqlite3_column_int64(st, 2) > 1)
      fprintf(c->out, " and %lld more in %lld-%lld", (long long)sqlite3_column_int64(st, 2) - 1,
              (long long)sqlite3_column_int64(st, 0), (long long)sqlite3_column_int64(st, 1));
    fprintf(c->out, " (%s); both are kept out of the record\n", auditdb_text(st, 5));
    c->findings++;
  }
  if (rc != SQLITE_DONE)
    r = auditdb_fail(c->db, rc, "reading the conflicts", detail);
  sqlite3_finalize(st);
  return r;
}

static int check_journals(struct check *c, struct st_detail *detail)
{
  sqlite3_stmt *st = NULL;
  int r = auditdb_prepare(c->db, "SELECT j.id, s.name, j.genesis, (SELECT max(journal_last) FROM export e WHERE "
                                 "e.journal_id = j.id), (SELECT count(*) FROM journal k WHERE k.station_id = "
                                 "s.id) FROM journal j JOIN station s ON s.id = j.station_id ORDER BY s.name, j.id",
                          &st, detail), rc;
  if (r != 0)
    return r;
  while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    int64_t id = sqlite3_column_int64(st, 0);
    c->n = sqlite3_column_int64(st, 3);
    if (sqlite3_column_int64(st, 4) > 1)
      snprintf(c->where, sizeof c->where, "station %s (journal %.16s)", auditdb_text(st, 1), auditdb_text(st, 2));
    else
      snprintf(c->where, sizeof c->where, "station %s", auditdb_text(st, 1));
    r = auditdb_gaps(c->db, id, c->n, check_gap, c, detail);
    if (r == 0)
      r = check_continuity(c, id, detail);
    if (r == 0)
      r = check_conflicts(c, id, detail);
  }
  if (r == 0 && rc != SQLITE_DONE)
    r = auditdb_fail(c->db, rc, "reading the journals", detail);
  sqlite3_finalize(st);
  if (r != 0)
    return r;
  r = auditdb_prepare(c->db, "SELECT name FROM station s WHERE NOT EXISTS (SELECT 1 FROM journal j WHERE "
                             "j.station_id = s.id) ORDER BY name", &st, detail);
  if (r != 0)
    return r;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    fprintf(c->out, "gap: station %s: no export of it has been imported\n", auditdb_text(st, 0));
    c->findings++;
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE)
    return auditdb_fail(c->db, rc, "reading the stations", detail);
  r = auditdb_prepare(c->db, "SELECT s.name, count(*), group_concat(substr(j.genesis, 1, 16), ', ') FROM journal j "
                             "JOIN station s ON s.id = j.station_id GROUP BY s.id HAVING count(*) > 1 ORDER BY s.name",
                      &st, detail);
  if (r != 0)
    return r;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    fprintf(c->out, "journal-restarted: station %s: %lld journals (genesis %s): records of an earlier journal may "
            "be missing\n", auditdb_text(st, 0), (long long)sqlite3_column_int64(st, 1), auditdb_text(st, 2));
    c->findings++;
  }
  if (rc != SQLITE_DONE)
    r = auditdb_fail(c->db, rc, "reading the journals", detail);
  sqlite3_finalize(st);
  return r;
}

/* One cross-station check: GROUPS yields the values found twice (one text
 * column, or local CA id and serial), RECORDS lists the records of one value
 * (bound as in GROUPS) as station, seq, and two columns for the parentheses. */
static int check_twice(struct check *c, const char *groups, const char *records, const char *kind,
                       const char *label, const char *col2, const char *col3, struct st_detail *detail)
{
  sqlite3_stmt *g = NULL, *rec = NULL;
  int r, rc, rc2;
  if ((r = auditdb_prepare(c->db, groups, &g, detail)) != 0 || (r = auditdb_prepare(c->db, records, &rec, detail)) != 0)
    goto out;
  while ((rc = sqlite3_step(g)) == SQLITE_ROW) {
    int cols = sqlite3_column_count(g), first = 1;
    sqlite3_reset(rec);
    for (int i = 0; i < cols; i++)
      sqlite3_bind_value(rec, i + 1, sqlite3_column_value(g, i));
    fprintf(c->out, "%s: %s%s%s", kind, label, label[strlen(label) - 1] == ':' ? "" : " ", auditdb_text(g, cols - 1));
    while ((rc2 = sqlite3_step(rec)) == SQLITE_ROW) {
      if (first && cols > 1)
        fprintf(c->out, " of local CA %s", auditdb_text(rec, 4));
      fprintf(c->out, "%s station %s record %lld (%s %s, %s %s)", first ? ":" : ";", auditdb_text(rec, 0),
              (long long)sqlite3_column_int64(rec, 1), col2, auditdb_text(rec, 2), col3, auditdb_text(rec, 3));
      first = 0;
    }
    fputc('\n', c->out);
    c->findings++;
    if (rc2 != SQLITE_DONE) {
      r = auditdb_fail(c->db, rc2, "reading the record", detail);
      goto out;
    }
  }
  if (rc != SQLITE_DONE)
    r = auditdb_fail(c->db, rc, "reading the record", detail);
out:
  sqlite3_finalize(rec);
  sqlite3_finalize(g);
  return r;
}

int auditdb_check(struct auditdb *db, FILE *out, uint64_t *findings, uint64_t *stations, struct st_detail *detail)
{
  struct check c;
  sqlite3_stmt *st = NULL;
  int r;
  memset(&c, 0, sizeof c);
  c.db = db;
  c.out = out;
  /* One read transaction: every query sees the same record. */
  if ((r = auditdb_exec(db, "BEGIN", detail)) != 0)
    return r;
  r = auditdb_prepare(db, "SELECT count(*) FROM station", &st, detail);
  if (r == 0 && sqlite3_step(st) == SQLITE_ROW)
    *stations = (uint64_t)sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  if (r == 0)
    r = check_journals(&c, detail);
  if (r == 0)
    r = check_twice(&c,
                    "SELECT device FROM record WHERE event = 'issued' AND device IS NOT NULL GROUP BY device "
                    "HAVING min(station_id) <> max(station_id) OR min(local_ca_id) <> max(local_ca_id) ORDER BY device",
                    "SELECT s.name, r.seq, r.serial, l.subject, l.subject FROM record r JOIN station s ON s.id = "
                    "r.station_id JOIN local_ca l ON l.id = r.local_ca_id WHERE r.device = ?1 AND r.event = "
                    "'issued' ORDER BY s.name, r.seq",
                    "device-issued-twice", "device", "serial", "local CA", detail);
  if (r == 0)
    r = check_twice(&c,
                    "SELECT key_sha256 FROM record WHERE event = 'issued' AND key_sha256 IS NOT NULL GROUP BY "
                    "key_sha256 HAVING min(station_id) <> max(station_id) OR min(local_ca_id) <> max(local_ca_id) "
                    "ORDER BY key_sha256",
                    "SELECT s.name, r.seq, r.device, r.serial, '' FROM record r JOIN station s ON s.id = "
                    "r.station_id WHERE r.key_sha256 = ?1 AND r.event = 'issued' ORDER BY s.name, r.seq",
                    "key-issued-twice", "key sha256:", "device", "serial", detail);
  if (r == 0)
    r = check_twice(&c,
                    "SELECT local_ca_id, serial FROM record WHERE event = 'issued' AND serial IS NOT NULL GROUP BY "
                    "serial, local_ca_id HAVING count(*) > 1 ORDER BY serial, local_ca_id",
                    "SELECT s.name, r.seq, r.device, r.time, l.subject FROM record r JOIN station s ON s.id = "
                    "r.station_id JOIN local_ca l ON l.id = r.local_ca_id WHERE r.local_ca_id = ?1 AND r.serial = "
                    "?2 AND r.event = 'issued' ORDER BY s.name, r.seq",
                    "serial-used-twice", "serial", "device", "time", detail);
  sqlite3_exec(db->db, "COMMIT", NULL, NULL, NULL);
  *findings = c.findings;
  return r;
}
