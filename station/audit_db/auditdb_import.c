/*
 * auditdb_import.c - verifying a signed export, and the order of an import.
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
 * Merging (auditdb_merge.c): a row the record already holds for that
 * journal and seq must be identical, chain included. When any differs (or
 * the export lists a seq already in conflict), the rows are rolled back, the
 * conflict is stored, and every export of that journal that lists a
 * conflicting seq is marked "conflict"; records no accepted export lists
 * leave the record.
 * An export whose manifest states a hash already imported is verified (1-3)
 * and reported as imported before, with nothing written.
 */
#include "auditdb_import.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "export_row.h"
#include "file_read.h"

#define IMPORT_SIG_MAX 512
#define IMPORT_MANIFEST_MAX 65536
#define IMPORT_CHUNK 65536

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
  if ((r = st_file_read(mpath, IMPORT_MANIFEST_MAX, &manifest, &mlen, detail)) != 0 ||
      (r = st_file_read(mspath, IMPORT_SIG_MAX, &msig, &msig_len, detail)) != 0) {
    r = r == ST_E_IO ? ST_E_EXPORT_MANIFEST : r;
    goto out;
  }
  if ((r = st_file_read(fspath, IMPORT_SIG_MAX, &fsig, &fsig_len, detail)) != 0) {
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
