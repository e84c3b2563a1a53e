/*
 * auditdb_import.c - verifying a signed export and merging it into the record.
 *
 * Order of the checks, each with its own reason:
 *   1. FILE.manifest.json.sig over the manifest's bytes with a registered key
 *      (the manifest names the key it claims: an unregistered key is
 *      export-unknown-key; a registered one that does not verify means the
 *      manifest was changed: export-signature);
 *   2. the manifest reads and names the key that verified it;
 *   3. FILE is read once, in chunks: the bytes feed the check of FILE.sig and
 *      the SHA-256 the manifest states (another export's manifest: its hash
 *      differs), and each line becomes a row inserted into the record, all
 *      inside one transaction that is rolled back unless every check passes;
 *   4. the rows agree with the manifest: first, last, the chain at last, the
 *      counts by event, and without filters no seq missing in first..last.
 * Merging: a row the record already holds for that journal and seq must be
 * identical, chain included. When any differs (or the export lists a seq
 * already in conflict), the rows are rolled back, the conflict is stored,
 * and every export of that journal that lists a conflicting seq is marked
 * "conflict"; records no accepted export lists leave the record.
 * An export whose manifest states a hash already imported is verified (1-3)
 * and reported as imported before, with nothing written.
 */
#include "auditdb_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "export.h"
#include "export_row.h"
#include "json_read.h"
#include "manifest.h"

#define IMPORT_SIG_MAX 512
#define IMPORT_MANIFEST_MAX 65536
#define IMPORT_CHUNK 65536
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

/* Reads the whole of PATH, at most MAX bytes, into *DATA (NUL-terminated). */
static int import_slurp(const char *path, size_t max, char **data, size_t *len, struct st_detail *detail)
{
  int r = ST_E_IO, fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  struct stat sb;
  char *buf = NULL;
  size_t got = 0;
  *data = NULL;
  if (fd < 0 || fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || (size_t)sb.st_size > max) {
    st_detail_set(detail, "cannot read %s: %s", path,
                  fd < 0 ? strerror(errno) : !S_ISREG(sb.st_mode) ? "not a regular file" : "larger than it can be");
    goto out;
  }
  r = ST_E_NO_MEMORY;
  if ((buf = malloc((size_t)sb.st_size + 1)) == NULL)
    goto out;
  r = ST_E_IO;
  while (got < (size_t)sb.st_size) {
    ssize_t n = read(fd, buf + got, (size_t)sb.st_size - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      st_detail_set(detail, "cannot read %s: %s", path, n < 0 ? strerror(errno) : "it shrank while read");
      goto out;
    }
    got += (size_t)n;
  }
  buf[got] = '\0';
  *data = buf;
  *len = got;
  buf = NULL;
  r = 0;
out:
  free(buf);
  if (fd >= 0)
    close(fd);
  return r;
}

static int import_verify(EVP_PKEY *key, const char *sig, size_t sig_len, const char *data, size_t len)
{
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  int ok = md != NULL && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
           EVP_DigestVerify(md, (const unsigned char *)sig, sig_len, (const unsigned char *)data, len) == 1;
  EVP_MD_CTX_free(md);
  ERR_clear_error();
  return ok;
}

static EVP_PKEY *import_key(const char *pem)
{
  BIO *b = BIO_new_mem_buf(pem, -1);
  EVP_PKEY *k = b != NULL ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;
  BIO_free(b);
  return k;
}

/* Step 1 and 2: the registered station whose key verifies the manifest. */
static int import_manifest(struct import *x, const char *text, size_t len, const char *sig, size_t sig_len,
                           const char *mpath, struct st_detail *detail)
{
  sqlite3_stmt *st = NULL;
  struct st_detail pd = {""};
  int r, rc, parsed;
  char claimed[AUDITDB_NAME_MAX + 1] = "";

  if ((r = auditdb_prepare(x->db, "SELECT id, name, key_sha256, key_pem FROM station ORDER BY id", &st, detail)) != 0)
    return r;
  parsed = len <= IMPORT_MANIFEST_MAX ? manifest_read(text, len, &x->m, &pd) : ST_E_EXPORT_INVALID;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    EVP_PKEY *k = import_key(auditdb_text(st, 3));
    if (export_is_hex64(x->m.key_sha256) && strcmp(auditdb_text(st, 2), x->m.key_sha256) == 0)
      snprintf(claimed, sizeof claimed, "%s", auditdb_text(st, 1));
    if (k != NULL && import_verify(k, sig, sig_len, text, len)) {
      x->key = k;
      x->station_id = sqlite3_column_int64(st, 0);
      snprintf(x->station, sizeof x->station, "%s", auditdb_text(st, 1));
      if (parsed == 0 && strcmp(auditdb_text(st, 2), x->m.key_sha256) != 0) {
        st_detail_set(detail, "%s is signed by station \"%s\" but names another journal key (sha256:%.16s...)",
                      mpath, x->station, x->m.key_sha256);
        r = ST_E_EXPORT_MANIFEST;
      }
      break;
    }
    EVP_PKEY_free(k);
  }
  sqlite3_finalize(st);
  if (r != 0)
    return r;
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return auditdb_fail(x->db, rc, "reading the stations", detail);
  if (x->key == NULL) {
    if (claimed[0] != '\0') {
      st_detail_set(detail, "%s does not match its signature by the journal key of station \"%s\": the manifest "
                    "was changed after the export", mpath, claimed);
      return ST_E_EXPORT_SIGNATURE;
    }
    if (parsed == 0) {
      st_detail_set(detail, "%s names journal key sha256:%s, which no station is registered with", mpath,
                    x->m.key_sha256);
      return ST_E_AUDIT_UNKNOWN_KEY;
    }
    st_detail_set(detail, "%s verifies with no registered journal key and does not read as a manifest (%s)", mpath,
                  pd.text);
    return ST_E_EXPORT_SIGNATURE;
  }
  if (parsed != 0) {
    st_detail_set(detail, "%s: %s", mpath, pd.text);
    return parsed == ST_E_NO_MEMORY ? parsed : ST_E_EXPORT_MANIFEST;
  }
  if (x->m.format != EXPORT_JSONL) {
    st_detail_set(detail, "%s is not a JSON Lines export; only those (--format jsonl) carry the rows and "
                  "certificates the audit record holds", x->path);
    return ST_E_EXPORT_INVALID;
  }
  return 0;
}

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
static int import_begin(struct import *x, const char *manifest, size_t mlen, const char *msig, size_t msig_len,
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
  if (x->nruns > 0 && x->runs[x->nruns - 1][1] == (int64_t)seq - 1) {
    x->runs[x->nruns - 1][1] = (int64_t)seq;
    return 0;
  }
  if (x->nruns == x->runs_cap) {
    size_t cap = x->runs_cap ? x->runs_cap * 2 : 16;
    int64_t(*grown)[2] = realloc(x->runs, cap * sizeof *grown);
    if (grown == NULL)
      return ST_E_NO_MEMORY;
    x->runs = grown;
    x->runs_cap = cap;
  }
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
static int import_line(struct import *x, const char *line, size_t len, struct st_detail *detail)
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

/* Step 3: reads FILE once; its bytes feed the signature check, the hash and
 * (when INSERT) the rows. *SIG_OK and HASH report the first two. */
static int import_file(struct import *x, int insert, const char *fsig, size_t fsig_len, int *sig_ok,
                       char hash[65], struct st_detail *detail)
{
  int r = ST_E_NO_MEMORY, fd = -1;
  EVP_MD_CTX *vctx = EVP_MD_CTX_new(), *hctx = EVP_MD_CTX_new();
  char *chunk = malloc(IMPORT_CHUNK), *line = malloc(EXPORT_ROW_MAX + 1);
  size_t line_len = 0;
  int overlong = 0;
  unsigned char md[32];
  struct stat sb;
  static const char hex[] = "0123456789abcdef";

  *sig_ok = 0;
  if (vctx == NULL || hctx == NULL || chunk == NULL || line == NULL)
    goto out;
  r = ST_E_IO;
  if ((fd = open(x->path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0 || fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
    st_detail_set(detail, "cannot read %s: %s", x->path, fd < 0 ? strerror(errno) : "not a regular file");
    goto out;
  }
  r = ST_E_CRYPTO;
  if (EVP_DigestVerifyInit(vctx, NULL, EVP_sha256(), NULL, x->key) != 1 ||
      EVP_DigestInit_ex(hctx, EVP_sha256(), NULL) != 1)
    goto out;
  for (;;) {
    ssize_t n = read(fd, chunk, IMPORT_CHUNK);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      r = ST_E_IO;
      st_detail_set(detail, "cannot read %s: %s", x->path, strerror(errno));
      goto out;
    }
    if (n == 0)
      break;
    if (EVP_DigestVerifyUpdate(vctx, chunk, (size_t)n) != 1 || EVP_DigestUpdate(hctx, chunk, (size_t)n) != 1)
      goto out;
    for (ssize_t i = 0; i < n && insert && x->row_error == 0;) {
      char *nl = memchr(chunk + i, '\n', (size_t)(n - i));
      size_t take = nl != NULL ? (size_t)(nl - (chunk + i)) : (size_t)(n - i);
      if (line_len + take > EXPORT_ROW_MAX)
        overlong = 1;
      else
        memcpy(line + line_len, chunk + i, take);
      line_len += take;
      i += (ssize_t)take;
      if (nl == NULL)
        break;
      i++;
      if (overlong) {
        x->row_error = ST_E_EXPORT_INVALID;
        st_detail_set(&x->row_detail, "line %llu is longer than %u bytes", (unsigned long long)x->lineno + 1,
                      EXPORT_ROW_MAX);
      } else if ((r = import_line(x, line, line_len, detail)) != 0) {
        goto out;
      }
      line_len = 0;
    }
  }
  if (insert && x->row_error == 0 && line_len > 0) {
    x->row_error = ST_E_EXPORT_INVALID;
    st_detail_set(&x->row_detail, "the last line has no end: the export is cut short");
  }
  *sig_ok = EVP_DigestVerifyFinal(vctx, (const unsigned char *)fsig, fsig_len) == 1;
  ERR_clear_error();
  if (EVP_DigestFinal_ex(hctx, md, NULL) != 1)
    goto out;
  for (int i = 0; i < 32; i++) {
    hash[2 * i] = hex[md[i] >> 4];
    hash[2 * i + 1] = hex[md[i] & 15];
  }
  hash[64] = '\0';
  r = 0;
out:
  if (fd >= 0)
    close(fd);
  free(line);
  free(chunk);
  EVP_MD_CTX_free(vctx);
  EVP_MD_CTX_free(hctx);
  return r;
}

/* Step 4: the rows against the manifest. */
static int import_agree(struct import *x, struct st_detail *detail)
{
  if (x->m.has_range && (x->rows == 0 || x->first_seq != x->m.first || x->last_seq != x->m.last)) {
    st_detail_set(detail, "%s lists records %lld-%lld; its manifest says %lld-%lld", x->path,
                  (long long)x->first_seq, (long long)x->last_seq, (long long)x->m.first, (long long)x->m.last);
    return ST_E_EXPORT_INVALID;
  }
  if (!x->m.has_range && x->rows > 0) {
    st_detail_set(detail, "%s lists records; its manifest says none matched", x->path);
    return ST_E_EXPORT_INVALID;
  }
  if (x->m.has_range && strcmp(x->last_chain, x->m.chain) != 0) {
    st_detail_set(detail, "the chain value of record %lld in %s is not the one its manifest states", (long long)x->last_seq,
                  x->path);
    return ST_E_EXPORT_INVALID;
  }
  for (size_t i = 0; i < x->counts.events; i++)
    if (export_count_of(&x->m.counts, x->counts.event[i].name) != x->counts.event[i].rows) {
      st_detail_set(detail, "%s lists %llu %s records; its manifest counts %llu", x->path,
                    (unsigned long long)x->counts.event[i].rows, x->counts.event[i].name,
                    (unsigned long long)export_count_of(&x->m.counts, x->counts.event[i].name));
      return ST_E_EXPORT_INVALID;
    }
  for (size_t i = 0; i < x->m.counts.events; i++)
    if (export_count_of(&x->counts, x->m.counts.event[i].name) != x->m.counts.event[i].rows) {
      st_detail_set(detail, "%s lists %llu %s records; its manifest counts %llu", x->path,
                    (unsigned long long)export_count_of(&x->counts, x->m.counts.event[i].name),
                    x->m.counts.event[i].name, (unsigned long long)x->m.counts.event[i].rows);
      return ST_E_EXPORT_INVALID;
    }
  return 0;
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

static int import_ranges(struct import *x, struct st_detail *detail)
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
static int import_prior_conflict(struct import *x, int64_t *seq, int64_t *other, struct st_detail *detail)
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
static int import_conflict(struct import *x, struct auditdb_import_result *res, struct st_detail *detail)
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

/* Steps 3 and 4 and the merge, inside the transaction. */
static int import_rows(struct import *x, const char *manifest, size_t mlen, const char *msig, size_t msig_len,
                       const char *fsig, size_t fsig_len, struct auditdb_import_result *res, struct st_detail *detail)
{
  char hash[65];
  int sig_ok = 0, r;
  int64_t seq = 0, other = 0;

  if ((r = import_begin(x, manifest, mlen, msig, msig_len, fsig, fsig_len, detail)) != 0)
    return r;
  if ((r = import_file(x, 1, fsig, fsig_len, &sig_ok, hash, detail)) != 0)
    return r;
  if (!sig_ok) {
    st_detail_set(detail, "%s does not match its signature %s.sig by the journal key of station \"%s\": the "
                  "export was changed or cut after it was signed", x->path, x->path, x->station);
    return ST_E_EXPORT_SIGNATURE;
  }
  if (strcmp(hash, x->m.sha256) != 0) {
    st_detail_set(detail, "%s.manifest.json belongs to another export: it states sha256 %.16s..., %s has %.16s...",
                  x->path, x->m.sha256, x->path, hash);
    return ST_E_EXPORT_MANIFEST;
  }
  if (x->row_error != 0) {
    st_detail_set(detail, "%s: %s", x->path, x->row_detail.text);
    return x->row_error;
  }
  if ((r = import_agree(x, detail)) != 0)
    return r;
  if (x->nconflicts == 0) {
    if ((r = import_ranges(x, detail)) != 0)
      return r;
    if ((r = import_prior_conflict(x, &seq, &other, detail)) < 0)
      return r;
    if (r == 1) {
      x->conflicts[0].seq = seq;
      x->conflicts[0].other_export = other;
      snprintf(x->conflicts[0].fields, sizeof x->conflicts[0].fields, "a record two exports already disagree on");
      x->nconflicts = 1;
      x->conflicting_rows = 1;
    }
  }
  if (x->nconflicts > 0) {
    if ((r = import_conflict(x, res, detail)) != 0)
      return r;
  } else if ((r = auditdb_exec(x->db, "RELEASE import_rows", detail)) != 0) {
    return r;
  }
  {
    sqlite3_stmt *st = NULL;
    int rc;
    if ((r = auditdb_prepare(x->db, "UPDATE export SET rows = ?1 WHERE id = ?2", &st, detail)) != 0)
      return r;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)x->rows);
    sqlite3_bind_int64(st, 2, x->export_id);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
      return auditdb_fail(x->db, rc, "writing the export", detail);
  }
  res->rows = x->rows;
  res->new_rows = res->conflict ? 0 : x->new_rows;
  return 0;
}

int auditdb_import(struct auditdb *db, const char *path, struct auditdb_import_result *res,
                   struct st_detail *detail)
{
  struct import x;
  char *manifest = NULL, *msig = NULL, *fsig = NULL, *mpath = NULL, *mspath = NULL, *fspath = NULL;
  size_t mlen = 0, msig_len = 0, fsig_len = 0;
  sqlite3_stmt *st = NULL;
  int r, rc, in_tx = 0;

  memset(&x, 0, sizeof x);
  memset(res, 0, sizeof *res);
  x.db = db;
  x.path = path;
  r = ST_E_NO_MEMORY;
  if (asprintf(&mpath, "%s.manifest.json", path) < 0 || asprintf(&mspath, "%s.manifest.json.sig", path) < 0 ||
      asprintf(&fspath, "%s.sig", path) < 0)
    goto out;
  if ((r = import_slurp(mpath, IMPORT_MANIFEST_MAX, &manifest, &mlen, detail)) != 0 ||
      (r = import_slurp(mspath, IMPORT_SIG_MAX, &msig, &msig_len, detail)) != 0) {
    r = r == ST_E_IO ? ST_E_EXPORT_MANIFEST : r;
    goto out;
  }
  if ((r = import_slurp(fspath, IMPORT_SIG_MAX, &fsig, &fsig_len, detail)) != 0) {
    r = r == ST_E_IO ? ST_E_EXPORT_SIGNATURE : r;
    goto out;
  }
  if ((r = import_manifest(&x, manifest, mlen, msig, msig_len, mpath, detail)) != 0)
    goto out;
  snprintf(res->station, sizeof res->station, "%s", x.station);
  res->has_records = x.m.has_range;
  res->first = x.m.first;
  res->last = x.m.last;
  res->journal_last = x.m.journal_last;
  res->complete = x.m.complete;
  if ((r = auditdb_begin(db, detail)) != 0)
    goto out;
  in_tx = 1;
  if ((r = auditdb_prepare(db, "SELECT rows, status = 'conflict' FROM export WHERE sha256 = ?1", &st, detail)) != 0)
    goto out;
  sqlite3_bind_text(st, 1, x.m.sha256, -1, SQLITE_STATIC);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    char hash[65];
    int sig_ok = 0;
    res->rows = (uint64_t)sqlite3_column_int64(st, 0);
    res->conflict = sqlite3_column_int(st, 1);
    if ((r = import_file(&x, 0, fsig, fsig_len, &sig_ok, hash, detail)) != 0)
      goto out;
    if (!sig_ok) {
      st_detail_set(detail, "%s does not match its signature %s.sig by the journal key of station \"%s\": the "
                    "export was changed or cut after it was signed", path, path, x.station);
      r = ST_E_EXPORT_SIGNATURE;
      goto out;
    }
    if (strcmp(hash, x.m.sha256) != 0) {
      st_detail_set(detail, "%s.manifest.json belongs to another export: it states sha256 %.16s..., %s has "
                    "%.16s...", path, x.m.sha256, path, hash);
      r = ST_E_EXPORT_MANIFEST;
      goto out;
    }
    res->already = 1;
    r = ST_E_EXISTS; /* roll back: nothing to write */
    goto out;
  }
  if (rc != SQLITE_DONE) {
    r = auditdb_fail(db, rc, "reading the exports", detail);
    goto out;
  }
  r = import_rows(&x, manifest, mlen, msig, msig_len, fsig, fsig_len, res, detail);
out:
  sqlite3_finalize(st);
  sqlite3_finalize(x.insert);
  sqlite3_finalize(x.select);
  if (in_tx)
    r = auditdb_end(db, r, detail);
  if (r == ST_E_EXISTS && res->already)
    r = 0;
  EVP_PKEY_free(x.key);
  free(x.runs);
  free(fspath);
  free(mspath);
  free(mpath);
  free(fsig);
  free(msig);
  free(manifest);
  return r;
}
