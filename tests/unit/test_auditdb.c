/*
 * test_auditdb.c - the audit database (station/audit_db/) on real SQLite
 * files and real OpenSSL signatures: the row reader; recognising a database
 * and refusing other files; registering keys; importing signed exports
 * written here exactly as docs/journal-format.md describes them (overlaps
 * that agree, re-imports, conflicts kept out, rows that disagree with their
 * manifest); and what check, find and report say of the record.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sqlite3.h>

#include "auditdb.h"
#include "export_row.h"
#include "fixture.h"
#include "json_read.h"

static char dir[] = "/tmp/test-auditdb-XXXXXX";
static int counter;

/* A synthetic station: its journal key (made here), genesis and local CA. */
struct station {
  EVP_PKEY *key;
  char pem[512];
  char genesis[65];
  char ca_sha[65];
  const char *ca_subject;
};

/* One row of a synthetic export. chain_tag changes the row's chain value
 * (and so its content) for the same seq. */
struct row {
  uint64_t seq;
  const char *event, *device, *serial, *key;
  int chain_tag;
};

static void hex32(const unsigned char *md, char out[65])
{
  for (int i = 0; i < 32; i++)
    sprintf(out + 2 * i, "%02x", md[i]);
}

static void sha_hex(const void *data, size_t len, char out[65])
{
  unsigned char md[32];
  EVP_Digest(data, len, md, NULL, EVP_sha256(), NULL);
  hex32(md, out);
}

static void station_make(struct station *s, const char *ca_subject, const char *ca_tag)
{
  unsigned char *der = NULL;
  int n;
  char seed[64];
  FILE *f;
  s->key = EVP_EC_gen("P-256");
  assert_non_null(s->key);
  snprintf(s->pem, sizeof s->pem, "%s/key%d.pem", dir, ++counter);
  f = fopen(s->pem, "w");
  assert_non_null(f);
  assert_int_equal(PEM_write_PUBKEY(f, s->key), 1);
  fclose(f);
  n = i2d_PUBKEY(s->key, &der);
  assert_true(n > 0);
  snprintf(seed, sizeof seed, "genesis %d", counter);
  sha_hex(seed, strlen(seed), s->genesis);
  sha_hex(ca_tag, strlen(ca_tag), s->ca_sha);
  s->ca_subject = ca_subject;
  OPENSSL_free(der);
}

static void write_file(const char *path, const void *data, size_t len)
{
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, len, f), len);
  fclose(f);
}

static void sign_file(EVP_PKEY *key, const char *path, const char *data, size_t len)
{
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  unsigned char sig[160];
  size_t n = sizeof sig;
  char sig_path[600];
  assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key), 1);
  assert_int_equal(EVP_DigestSign(md, sig, &n, (const unsigned char *)data, len), 1);
  EVP_MD_CTX_free(md);
  snprintf(sig_path, sizeof sig_path, "%s.sig", path);
  write_file(sig_path, sig, n);
}

static void chain_of(const struct station *s, const struct row *r, char out[65])
{
  char seed[128];
  snprintf(seed, sizeof seed, "%s:%llu:%d", s->genesis, (unsigned long long)r->seq, r->chain_tag);
  sha_hex(seed, strlen(seed), out);
}

/* Writes DIR/NAME, its manifest and both signatures; FILTERED puts a since
 * filter in the manifest. MANIFEST_EDIT (may be NULL) changes the manifest
 * text before it is signed: "counts" bumps the issued count, "chain" states
 * another chain. Returns the export's path (static storage, one at a time). */
static const char *write_export(const struct station *s, const char *name, const struct row *rows, size_t n,
                                uint64_t journal_last, int filtered, const char *manifest_edit)
{
  static char path[600];
  char *data = NULL, mpath[640], sha[65], chain[65] = "", kh[65], line[2048], mf[4096];
  size_t len = 0, cap = 0;
  uint64_t issued = 0, refused = 0, checkpoint = 0;
  unsigned char *der = NULL;
  int dlen;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  for (size_t i = 0; i < n; i++) {
    const struct row *r = &rows[i];
    int issued_row = strcmp(r->event, "issued") == 0;
    int l;
    chain_of(s, r, chain);
    l = snprintf(line, sizeof line,
                 "{\"seq\":%llu,\"time\":\"2026-12-02T10:00:%02d.000Z\",\"event\":\"%s\",\"source\":\"%s\","
                 "\"device\":\"%s\",\"serial\":\"%s\",\"reason\":\"%s\",\"csr_sha256\":\"\",\"key_sha256\":\"%s\","
                 "\"detail\":\"\",\"chain\":\"%s\",\"certificate\":\"%s\"}\n",
                 (unsigned long long)r->seq, (int)(r->seq % 60), r->event,
                 strcmp(r->event, "checkpoint") == 0 ? "" : "serial:/dev/ttyUSB0", r->device ? r->device : "",
                 r->serial ? r->serial : "", strcmp(r->event, "refused") == 0 ? "device-already-certified" : "",
                 r->key ? r->key : "", chain,
                 issued_row ? "-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\\n" : "");
    if (len + (size_t)l + 1 > cap) {
      cap = (len + (size_t)l + 1) * 2;
      data = realloc(data, cap);
      assert_non_null(data);
    }
    memcpy(data + len, line, (size_t)l);
    len += (size_t)l;
    issued += issued_row;
    refused += strcmp(r->event, "refused") == 0;
    checkpoint += strcmp(r->event, "checkpoint") == 0;
  }
  write_file(path, data != NULL ? data : "", len);
  sign_file(s->key, path, data != NULL ? data : "", len);
  sha_hex(data != NULL ? data : "", len, sha);
  dlen = i2d_PUBKEY(s->key, &der);
  sha_hex(der, (size_t)dlen, kh);
  OPENSSL_free(der);
  if (manifest_edit != NULL && strcmp(manifest_edit, "chain") == 0)
    chain[0] = chain[0] == '0' ? '1' : '0';
  if (manifest_edit != NULL && strcmp(manifest_edit, "counts") == 0)
    issued++;
  {
    char counts[256] = "", *c = counts;
    if (issued)
      c += sprintf(c, "\"issued\": %llu", (unsigned long long)issued);
    if (refused)
      c += sprintf(c, "%s\"refused\": %llu", c > counts ? ", " : "", (unsigned long long)refused);
    if (checkpoint)
      c += sprintf(c, "%s\"checkpoint\": %llu", c > counts ? ", " : "", (unsigned long long)checkpoint);
    snprintf(mf, sizeof mf,
             "{\n  \"format\": \"station-export-manifest\",\n  \"version\": 1,\n  \"station\": {\n"
             "    \"factory\": \"acme-factory\",\n    \"local_ca_subject\": \"%s\",\n    \"local_ca_sha256\": \"%s\",\n"
             "    \"journal_key_sha256\": \"%s\",\n    \"journal_genesis\": \"%s\"\n  },\n"
             "  \"export\": {\n    \"file\": \"%s\",\n    \"format\": \"jsonl\",\n    \"sha256\": \"%s\",\n"
             "    \"time\": \"2026-12-02T17:00:00Z\"\n  },\n"
             "  \"records\": {\n    \"first\": %llu,\n    \"last\": %llu,\n    \"journal_last\": %llu,\n"
             "    \"chain\": \"%s\"\n  },\n"
             "  \"filters\": {\n    \"since\": %s,\n    \"until\": null,\n    \"source\": null\n  },\n"
             "  \"complete\": %s,\n  \"counts\": {%s}\n}\n",
             s->ca_subject, s->ca_sha, kh, s->genesis, name, sha, (unsigned long long)rows[0].seq,
             (unsigned long long)rows[n - 1].seq, (unsigned long long)journal_last, chain,
             filtered ? "\"2026-12-02T10:00:00Z\"" : "null",
             !filtered && rows[0].seq == 1 && rows[n - 1].seq == journal_last ? "true" : "false", counts);
  }
  snprintf(mpath, sizeof mpath, "%s.manifest.json", path);
  write_file(mpath, mf, strlen(mf));
  sign_file(s->key, mpath, mf, strlen(mf));
  free(data);
  return path;
}

/* Rows FIRST..LAST: issued, with device "dev-<seq>", serial and key from SEQ. */
static size_t rows_range(struct row *out, uint64_t first, uint64_t last, int tag)
{
  static char names[64][3][80];
  size_t n = 0;
  for (uint64_t s = first; s <= last; s++, n++) {
    snprintf(names[n][0], 80, "dev-%llu", (unsigned long long)s);
    snprintf(names[n][1], 80, "%04llx", (unsigned long long)s);
    snprintf(names[n][2], 80, "%064llx", (unsigned long long)s);
    out[n] = (struct row){s, "issued", names[n][0], names[n][1], names[n][2], s == 4 ? tag : 0};
  }
  return n;
}

static struct auditdb *db_new(const char *name, char *path, size_t size)
{
  struct auditdb *db = NULL;
  struct st_detail d = {""};
  snprintf(path, size, "%s/%s", dir, name);
  assert_int_equal(auditdb_open(path, 1, &db, &d), 0);
  return db;
}

static int64_t sql_int(const char *path, const char *sql)
{
  sqlite3 *s = NULL;
  sqlite3_stmt *st = NULL;
  int64_t v = -1;
  assert_int_equal(sqlite3_open_v2(path, &s, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(s, sql, -1, &st, NULL), SQLITE_OK);
  if (sqlite3_step(st) == SQLITE_ROW)
    v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(s);
  return v;
}

/* Runs FN's output into a string (free it). */
static char *capture_check(struct auditdb *db, uint64_t *findings)
{
  char *buf = NULL;
  size_t len = 0;
  uint64_t stations = 0;
  struct st_detail d = {""};
  FILE *f = open_memstream(&buf, &len);
  assert_int_equal(auditdb_check(db, f, findings, &stations, &d), 0);
  fclose(f);
  return buf;
}

static void t_row_reader(void **state)
{
  static const char good[] =
    "{\"seq\":7,\"time\":\"2026-12-02T10:00:07.000Z\",\"event\":\"issued\",\"source\":\"s\",\"device\":\"d\","
    "\"serial\":\"0a1b\",\"reason\":\"\",\"csr_sha256\":\"\",\"key_sha256\":\"\",\"detail\":\"x\\ny\","
    "\"chain\":\"0000000000000000000000000000000000000000000000000000000000000000\",\"certificate\":\"\"}";
  static const char *const bad[] = {
    "{\"seq\":0,\"time\":\"2026-12-02T10:00:07.000Z\",\"event\":\"issued\",\"source\":\"\",\"device\":\"\",\"serial\":\"\",\"reason\":\"\",\"csr_sha256\":\"\",\"key_sha256\":\"\",\"detail\":\"\",\"chain\":\"0000000000000000000000000000000000000000000000000000000000000000\",\"certificate\":\"\"}",
    "{\"seq\":1,\"time\":\"2026-12-02 10:00:07\",\"event\":\"issued\",\"source\":\"\",\"device\":\"\",\"serial\":\"\",\"reason\":\"\",\"csr_sha256\":\"\",\"key_sha256\":\"\",\"detail\":\"\",\"chain\":\"0000000000000000000000000000000000000000000000000000000000000000\",\"certificate\":\"\"}",
    "{\"seq\":1,\"time\":\"2026-12-02T10:00:07.000Z\",\"event\":\"Issued\",\"source\":\"\",\"device\":\"\",\"serial\":\"\",\"reason\":\"\",\"csr_sha256\":\"\",\"key_sha256\":\"\",\"detail\":\"\",\"chain\":\"0000000000000000000000000000000000000000000000000000000000000000\",\"certificate\":\"\"}",
    "{\"seq\":1,\"time\":\"2026-12-02T10:00:07.000Z\",\"event\":\"issued\",\"source\":\"\",\"device\":\"\",\"serial\":\"ABCD\",\"reason\":\"\",\"csr_sha256\":\"\",\"key_sha256\":\"\",\"detail\":\"\",\"chain\":\"0000000000000000000000000000000000000000000000000000000000000000\",\"certificate\":\"\"}",
    "{\"seq\":1,\"time\":\"2026-12-02T10:00:07.000Z\",\"event\":\"issued\",\"source\":\"\",\"device\":\"\",\"serial\":\"\",\"reason\":\"\",\"csr_sha256\":\"\",\"key_sha256\":\"\",\"detail\":\"\",\"chain\":\"00\",\"certificate\":\"\"}",
    "{\"seq\":1,\"time\":\"2026-12-02T10:00:07.000Z\",\"event\":\"issued\",\"source\":\"\",\"device\":\"\",\"serial\":\"\",\"reason\":\"\",\"csr_sha256\":\"\",\"key_sha256\":\"\",\"detail\":\"\",\"chain\":\"0000000000000000000000000000000000000000000000000000000000000000\",\"certificate\":\"MIIB\"}",
    "{\"seq\":1,\"time\":\"2026-12-02T10:00:07.000Z\",\"event\":\"issued\",\"source\":\"\",\"device\":\"\",\"serial\":\"\",\"reason\":\"\",\"csr_sha256\":\"\",\"key_sha256\":\"\",\"detail\":\"\",\"chain\":\"0000000000000000000000000000000000000000000000000000000000000000\"}",
    "{\"seq\":1,\"time\":\"2026-12-02T10:00:07.000Z\",\"event\":\"issued\",\"source\":\"\",\"device\":\"\",\"serial\":\"\",\"reason\":\"\",\"csr_sha256\":\"\",\"key_sha256\":\"\",\"detail\":\"\",\"chain\":\"0000000000000000000000000000000000000000000000000000000000000000\",\"certificate\":\"\",\"extra\":\"\"}",
    "{\"seq\":1,\"seq\":2}",
    "[1,2,3]",
    "{\"seq\":1",
  };
  struct export_row row;
  struct json_doc *doc = NULL;
  struct st_detail d = {""};
  char *huge;
  (void)state;
  assert_int_equal(export_row_parse(good, strlen(good), &row, &doc, &d), 0);
  assert_int_equal(row.seq, 7);
  assert_string_equal(row.event, "issued");
  assert_string_equal(row.detail, "x\ny");
  assert_string_equal(row.serial, "0a1b");
  json_doc_free(doc);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    d.text[0] = '\0';
    assert_int_equal(export_row_parse(bad[i], strlen(bad[i]), &row, &doc, &d), ST_E_EXPORT_INVALID);
    assert_null(doc);
    assert_true(d.text[0] != '\0');
  }
  huge = malloc(EXPORT_ROW_MAX + 2);
  memset(huge, ' ', EXPORT_ROW_MAX + 1);
  assert_int_equal(export_row_parse(huge, EXPORT_ROW_MAX + 1, &row, &doc, &d), ST_E_EXPORT_INVALID);
  assert_non_null(strstr(d.text, "longer than"));
  free(huge);
}

static void t_open(void **state)
{
  char path[600], text[600], other[600], empty[600];
  struct auditdb *db = NULL;
  struct st_detail d = {""};
  sqlite3 *s = NULL;
  struct stat before, after;
  (void)state;
  db = db_new("open.db", path, sizeof path);
  auditdb_close(db);
  assert_int_equal(sql_int(path, "PRAGMA application_id"), AUDITDB_APPLICATION_ID);
  assert_int_equal(sql_int(path, "PRAGMA user_version"), AUDITDB_USER_VERSION);
  assert_int_equal(auditdb_open(path, 0, &db, &d), 0);
  auditdb_close(db);
  /* not a database at all: refused, the file untouched */
  snprintf(text, sizeof text, "%s/notes.txt", dir);
  write_file(text, "hello, this is not SQLite\n", 26);
  stat(text, &before);
  assert_int_equal(auditdb_open(text, 1, &db, &d), ST_E_AUDIT_DB_FOREIGN);
  assert_null(db);
  stat(text, &after);
  assert_int_equal(before.st_size, after.st_size);
  assert_int_equal(before.st_mtime, after.st_mtime);
  /* another program's SQLite database */
  snprintf(other, sizeof other, "%s/other.db", dir);
  assert_int_equal(sqlite3_open(other, &s), SQLITE_OK);
  assert_int_equal(sqlite3_exec(s, "CREATE TABLE t (x)", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(s);
  assert_int_equal(auditdb_open(other, 1, &db, &d), ST_E_AUDIT_DB_FOREIGN);
  assert_non_null(strstr(d.text, "another kind"));
  /* ours, but a newer version */
  assert_int_equal(sqlite3_open(path, &s), SQLITE_OK);
  assert_int_equal(sqlite3_exec(s, "PRAGMA user_version = 2", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(s);
  assert_int_equal(auditdb_open(path, 0, &db, &d), ST_E_AUDIT_DB_FOREIGN);
  /* an empty file is made a database only when asked to */
  snprintf(empty, sizeof empty, "%s/empty.db", dir);
  write_file(empty, "", 0);
  assert_int_equal(auditdb_open(empty, 0, &db, &d), ST_E_AUDIT_DB_FOREIGN);
  assert_int_equal(auditdb_open(empty, 1, &db, &d), 0);
  auditdb_close(db);
  /* a missing database is not made by a reader */
  snprintf(empty, sizeof empty, "%s/missing.db", dir);
  assert_int_equal(auditdb_open(empty, 0, &db, &d), ST_E_AUDIT_DB);
  assert_int_equal(access(empty, F_OK), -1);
}

static void t_trust(void **state)
{
  char path[600], notkey[600];
  struct station a, b;
  struct st_detail d = {""};
  struct auditdb *db;
  (void)state;
  station_make(&a, "CN=fio-a,OU=acme-factory", "ca-a");
  station_make(&b, "CN=fio-b,OU=acme-factory", "ca-b");
  db = db_new("trust.db", path, sizeof path);
  assert_int_equal(auditdb_trust(db, "", a.pem, &d), ST_E_USAGE);
  assert_int_equal(auditdb_trust(db, " line", a.pem, &d), ST_E_USAGE);
  assert_int_equal(auditdb_trust(db, "line\n1", a.pem, &d), ST_E_USAGE);
  snprintf(notkey, sizeof notkey, "%s/notkey.pem", dir);
  write_file(notkey, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
             strlen("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"));
  assert_int_equal(auditdb_trust(db, "line-1", notkey, &d), ST_E_USAGE);
  assert_int_equal(auditdb_trust(db, "line-1", a.pem, &d), 1);
  assert_int_equal(auditdb_trust(db, "line-1", a.pem, &d), 0);
  assert_int_equal(auditdb_trust(db, "line-2", a.pem, &d), ST_E_AUDIT_KEY_TAKEN);
  assert_non_null(strstr(d.text, "already registered as station \"line-1\""));
  assert_int_equal(auditdb_trust(db, "line-1", b.pem, &d), ST_E_AUDIT_KEY_TAKEN);
  assert_int_equal(auditdb_trust(db, "line-2", b.pem, &d), 1);
  {
    uint64_t findings = 0;
    char *out = capture_check(db, &findings);
    assert_string_equal(out, "gap: station line-1: no export of it has been imported\n"
                             "gap: station line-2: no export of it has been imported\n");
    assert_int_equal(findings, 2);
    free(out);
  }
  auditdb_close(db);
  assert_int_equal(sql_int(path, "SELECT count(*) FROM station"), 2);
  EVP_PKEY_free(a.key);
  EVP_PKEY_free(b.key);
}

static void t_import_merge_and_conflict(void **state)
{
  char path[600];
  struct station a;
  struct row rows[64];
  struct auditdb_import_result res;
  struct st_detail d = {""};
  struct auditdb *db;
  char *out;
  uint64_t findings = 0;
  size_t n;
  (void)state;
  station_make(&a, "CN=fio-a,OU=acme-factory", "ca-a");
  db = db_new("merge.db", path, sizeof path);
  assert_int_equal(auditdb_trust(db, "A", a.pem, &d), 1);

  n = rows_range(rows, 1, 5, 0);
  assert_int_equal(auditdb_import(db, write_export(&a, "e1.jsonl", rows, n, 5, 0, NULL), &res, &d), 0);
  assert_false(res.already || res.conflict);
  assert_int_equal(res.new_rows, 5);
  assert_string_equal(res.station, "A");
  n = rows_range(rows, 1, 8, 0);
  assert_int_equal(auditdb_import(db, write_export(&a, "e2.jsonl", rows, n, 8, 0, NULL), &res, &d), 0);
  assert_int_equal(res.rows, 8);
  assert_int_equal(res.new_rows, 3);
  /* the same export again: nothing changes */
  assert_int_equal(auditdb_import(db, write_export(&a, "e2.jsonl", rows, n, 8, 0, NULL), &res, &d), 0);
  assert_true(res.already);
  assert_int_equal(sql_int(path, "SELECT count(*) FROM export"), 2);
  assert_int_equal(sql_int(path, "SELECT count(*) FROM record"), 8);
  out = capture_check(db, &findings);
  assert_int_equal(findings, 0);
  free(out);

  /* record 4 differs: the new export and both that list 4 are kept out */
  n = rows_range(rows, 1, 10, 1);
  assert_int_equal(auditdb_import(db, write_export(&a, "e3.jsonl", rows, n, 10, 0, NULL), &res, &d), 0);
  assert_true(res.conflict);
  assert_non_null(strstr(res.conflict_text, "record 4 differs from export e1.jsonl (chain)"));
  assert_int_equal(sql_int(path, "SELECT count(*) FROM export WHERE status = 'conflict'"), 3);
  assert_int_equal(sql_int(path, "SELECT count(*) FROM record"), 0);
  assert_int_equal(sql_int(path, "SELECT count(*) FROM conflict WHERE seq = 4"), 1);
  out = capture_check(db, &findings);
  assert_non_null(strstr(out, "conflict: station A: exports e3.jsonl and e1.jsonl disagree on record 4 (chain); "
                              "both are kept out of the record\n"));
  assert_non_null(strstr(out, "gap: station A: records 1-10 of 1-10 are in no imported export\n"));
  free(out);
  /* importing the conflicting export again changes nothing and says it is kept out */
  assert_int_equal(auditdb_import(db, write_export(&a, "e3.jsonl", rows, n, 10, 0, NULL), &res, &d), 0);
  assert_true(res.already && res.conflict);
  assert_int_equal(sql_int(path, "SELECT count(*) FROM conflict"), 1);
  /* a later export that lists the disputed record cannot settle it */
  n = rows_range(rows, 3, 6, 0);
  assert_int_equal(auditdb_import(db, write_export(&a, "e4.jsonl", rows, n, 10, 1, NULL), &res, &d), 0);
  assert_true(res.conflict);
  /* one that does not list it is taken */
  n = rows_range(rows, 9, 12, 0);
  assert_int_equal(auditdb_import(db, write_export(&a, "e5.jsonl", rows, n, 12, 1, NULL), &res, &d), 0);
  assert_false(res.conflict);
  assert_int_equal(sql_int(path, "SELECT count(*) FROM record"), 4);
  out = capture_check(db, &findings);
  assert_non_null(strstr(out, "gap: station A: records 1-8 of 1-12 are in no imported export\n"));
  free(out);
  auditdb_close(db);
  EVP_PKEY_free(a.key);
}

/* Each refused import leaves the database exactly as it was. */
static void t_import_refusals(void **state)
{
  char path[600], copy[700], from[700];
  struct station a, stranger;
  struct row rows[64];
  struct auditdb_import_result res;
  struct st_detail d = {""};
  struct auditdb *db;
  const char *p;
  size_t n;
  int64_t changes;
  (void)state;
  station_make(&a, "CN=fio-a,OU=acme-factory", "ca-a");
  station_make(&stranger, "CN=fio-x,OU=acme-factory", "ca-x");
  db = db_new("refuse.db", path, sizeof path);
  assert_int_equal(auditdb_trust(db, "A", a.pem, &d), 1);
  changes = sql_int(path, "SELECT count(*) FROM export") + sql_int(path, "SELECT count(*) FROM record");

  n = rows_range(rows, 1, 6, 0);
  p = write_export(&stranger, "x.jsonl", rows, n, 6, 0, NULL);
  assert_int_equal(auditdb_import(db, p, &res, &d), ST_E_AUDIT_UNKNOWN_KEY);
  p = write_export(&a, "counts.jsonl", rows, n, 6, 0, "counts");
  assert_int_equal(auditdb_import(db, p, &res, &d), ST_E_EXPORT_INVALID);
  assert_non_null(strstr(d.text, "issued records; its manifest counts 7"));
  p = write_export(&a, "chain.jsonl", rows, n, 6, 0, "chain");
  assert_int_equal(auditdb_import(db, p, &res, &d), ST_E_EXPORT_INVALID);
  assert_non_null(strstr(d.text, "chain value of record 6"));
  /* a hole in an unfiltered export */
  rows[2] = rows[3];
  p = write_export(&a, "hole.jsonl", rows, n - 1, 6, 0, NULL);
  assert_int_equal(auditdb_import(db, p, &res, &d), ST_E_EXPORT_INVALID);
  assert_non_null(strstr(d.text, "out of place"));
  /* a manifest that belongs to another export */
  n = rows_range(rows, 1, 6, 0);
  write_export(&a, "one.jsonl", rows, n, 6, 0, NULL);
  n = rows_range(rows, 1, 5, 0);
  p = write_export(&a, "two.jsonl", rows, n, 5, 0, NULL);
  snprintf(from, sizeof from, "%s/one.jsonl.manifest.json", dir);
  snprintf(copy, sizeof copy, "%s.manifest.json", p);
  assert_int_equal(rename(from, copy), 0);
  strcat(from, ".sig");
  strcat(copy, ".sig");
  assert_int_equal(rename(from, copy), 0);
  assert_int_equal(auditdb_import(db, p, &res, &d), ST_E_EXPORT_MANIFEST);
  assert_non_null(strstr(d.text, "belongs to another export"));
  /* a missing signature */
  snprintf(copy, sizeof copy, "%s.sig", p);
  unlink(copy);
  assert_int_equal(auditdb_import(db, p, &res, &d), ST_E_EXPORT_SIGNATURE);
  assert_int_equal(sql_int(path, "SELECT count(*) FROM export") + sql_int(path, "SELECT count(*) FROM record"),
                   changes);
  assert_int_equal(sql_int(path, "SELECT count(*) FROM journal"), 0);
  auditdb_close(db);
  EVP_PKEY_free(a.key);
  EVP_PKEY_free(stranger.key);
}

static void t_cross_checks_find_report(void **state)
{
  char path[600], *buf = NULL, *out;
  size_t len = 0;
  struct station a, a_newca, b;
  struct row ra[8], rb[8];
  struct auditdb_import_result res;
  struct st_detail d = {""};
  struct auditdb *db;
  uint64_t findings = 0, found = 0;
  FILE *f;
  static const char *k1 = "1111111111111111111111111111111111111111111111111111111111111111";
  static const char *k2 = "2222222222222222222222222222222222222222222222222222222222222222";
  static const char *k3 = "3333333333333333333333333333333333333333333333333333333333333333";
  (void)state;
  station_make(&a, "CN=fio-a,OU=acme-factory", "ca-shared");
  station_make(&b, "CN=fio-a,OU=acme-factory", "ca-shared"); /* a second station on the same local CA */
  db = db_new("cross.db", path, sizeof path);
  assert_int_equal(auditdb_trust(db, "A", a.pem, &d), 1);
  assert_int_equal(auditdb_trust(db, "B", b.pem, &d), 1);
  /* A: devices u1, u2; B: u3 with u1's key, serial 00aa again, and a refusal of u2 */
  ra[0] = (struct row){1, "issued", "u1", "00aa", k1, 0};
  ra[1] = (struct row){2, "issued", "u2", "00bb", k2, 0};
  ra[2] = (struct row){3, "checkpoint", NULL, NULL, NULL, 0};
  rb[0] = (struct row){1, "issued", "u3", "00aa", k1, 0};
  rb[1] = (struct row){2, "refused", "u2", NULL, k3, 0};
  assert_int_equal(auditdb_import(db, write_export(&a, "a.jsonl", ra, 3, 3, 0, NULL), &res, &d), 0);
  assert_int_equal(auditdb_import(db, write_export(&b, "b.jsonl", rb, 2, 2, 0, NULL), &res, &d), 0);
  /* A's local CA replaced: its next export names another CA; u2 issued again under it */
  a_newca = a;
  a_newca.ca_subject = "CN=fio-a2,OU=acme-factory";
  memcpy(a_newca.ca_sha, "ffff", 4);
  ra[3] = (struct row){4, "issued", "u2", "00cc", k3, 0};
  assert_int_equal(auditdb_import(db, write_export(&a_newca, "a2.jsonl", ra, 4, 4, 0, NULL), &res, &d), 0);
  assert_int_equal(res.new_rows, 1);

  out = capture_check(db, &findings);
  assert_non_null(strstr(out, "device-issued-twice: device u2: station A record 2 (serial 00bb, local CA "
                              "CN=fio-a,OU=acme-factory); station A record 4 (serial 00cc, local CA "
                              "CN=fio-a2,OU=acme-factory)\n"));
  assert_non_null(strstr(out, "key-issued-twice: key sha256:1111111111111111111111111111111111111111111111111111111111111111: "
                              "station A record 1 (device u1, serial 00aa); station B record 1 (device u3, serial 00aa)\n"));
  assert_non_null(strstr(out, "serial-used-twice: serial 00aa of local CA CN=fio-a,OU=acme-factory: station A record 1 "
                              "(device u1, time "));
  assert_int_equal(findings, 3);
  free(out);

  f = open_memstream(&buf, &len);
  assert_int_equal(auditdb_find(db, "u2", f, &found, &d), 0);
  fclose(f);
  assert_int_equal(found, 3);
  assert_non_null(strstr(buf, "issued: station A, record 2, "));
  assert_non_null(strstr(buf, "refused: station B, record 2, 2026-12-02T10:00:02.000Z, source serial:/dev/ttyUSB0, "
                              "device u2, key sha256:3333"));
  assert_non_null(strstr(buf, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"));
  free(buf);
  buf = NULL;
  f = open_memstream(&buf, &len);
  assert_int_equal(auditdb_find(db, "00:AA", f, &found, &d), 0);
  fclose(f);
  assert_int_equal(found, 2);
  free(buf);
  buf = NULL;
  f = open_memstream(&buf, &len);
  assert_int_equal(auditdb_find(db, "nothing-like-this", f, &found, &d), 0);
  fclose(f);
  assert_int_equal(found, 0);
  free(buf);

  buf = NULL;
  f = open_memstream(&buf, &len);
  assert_int_equal(auditdb_report(db, 0, f, &d), 0);
  fclose(f);
  assert_string_equal(buf, "station,local_ca,records_covered,issued,refused,first_time,last_time,gaps,conflicts\n"
                           "A,\"CN=fio-a2,OU=acme-factory\",4,3,0,2026-12-02T10:00:01.000Z,2026-12-02T10:00:04.000Z,,0\n"
                           "B,\"CN=fio-a,OU=acme-factory\",2,1,1,2026-12-02T10:00:01.000Z,2026-12-02T10:00:02.000Z,,0\n");
  free(buf);
  buf = NULL;
  f = open_memstream(&buf, &len);
  assert_int_equal(auditdb_report(db, 1, f, &d), 0);
  fclose(f);
  assert_non_null(strstr(buf, "{\"station\":\"B\",\"local_ca\":\"CN=fio-a,OU=acme-factory\",\"records_covered\":2,"
                              "\"issued\":1,\"refused\":1,\"first_time\":\"2026-12-02T10:00:01.000Z\",\"last_time\":"
                              "\"2026-12-02T10:00:02.000Z\",\"gaps\":[],\"conflicts\":0}\n"));
  free(buf);
  auditdb_close(db);
  EVP_PKEY_free(a.key);
  EVP_PKEY_free(b.key);
}

/* Another connection holds the write lock: the import waits, then says so. */
static void t_locked(void **state)
{
  char path[600];
  struct station a;
  struct row rows[8];
  struct auditdb_import_result res;
  struct st_detail d = {""};
  struct auditdb *db;
  sqlite3 *other = NULL;
  const char *p;
  (void)state;
  station_make(&a, "CN=fio-a,OU=acme-factory", "ca-a");
  db = db_new("locked.db", path, sizeof path);
  assert_int_equal(auditdb_trust(db, "A", a.pem, &d), 1);
  p = write_export(&a, "l.jsonl", rows, rows_range(rows, 1, 3, 0), 3, 0, NULL);
  assert_int_equal(sqlite3_open(path, &other), SQLITE_OK);
  assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
  assert_int_equal(auditdb_import(db, p, &res, &d), ST_E_AUDIT_DB_LOCKED);
  assert_non_null(strstr(d.text, "locked by another process"));
  assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(other);
  assert_int_equal(auditdb_import(db, p, &res, &d), 0);
  assert_int_equal(res.new_rows, 3);
  auditdb_close(db);
  EVP_PKEY_free(a.key);
}

/* A journal started again under the same key, and filtered exports that
 * overlap (linked) or leave a hole (a gap and a break). */
static void t_journals_and_continuity(void **state)
{
  char path[600], *out;
  struct station a, a_again;
  struct row rows[64];
  struct auditdb_import_result res;
  struct st_detail d = {""};
  struct auditdb *db;
  uint64_t findings = 0;
  (void)state;
  station_make(&a, "CN=fio-a,OU=acme-factory", "ca-a");
  db = db_new("journals.db", path, sizeof path);
  assert_int_equal(auditdb_trust(db, "A", a.pem, &d), 1);
  assert_int_equal(auditdb_import(db, write_export(&a, "f1.jsonl", rows, rows_range(rows, 1, 6, 0), 20, 1, NULL),
                                  &res, &d), 0);
  assert_int_equal(auditdb_import(db, write_export(&a, "f2.jsonl", rows, rows_range(rows, 6, 10, 0), 20, 1, NULL),
                                  &res, &d), 0);
  assert_int_equal(res.new_rows, 4);
  assert_int_equal(auditdb_import(db, write_export(&a, "f3.jsonl", rows, rows_range(rows, 14, 20, 0), 20, 1, NULL),
                                  &res, &d), 0);
  out = capture_check(db, &findings);
  assert_string_equal(out, "gap: station A: records 11-13 of 1-20 are in no imported export\n"
                           "continuity: station A: records 1-10 (f1.jsonl, f2.jsonl) and 14-20 (f3.jsonl) share no "
                           "record, so no chain value links them\n");
  assert_int_equal(findings, 2);
  free(out);
  /* the same key, a new genesis: a second journal */
  a_again = a;
  memset(a_again.genesis, 'e', 64);
  assert_int_equal(auditdb_import(db, write_export(&a_again, "g1.jsonl", rows, rows_range(rows, 1, 3, 0), 3, 0, NULL),
                                  &res, &d), 0);
  assert_int_equal(res.new_rows, 3);
  out = capture_check(db, &findings);
  assert_non_null(strstr(out, "journal-restarted: station A: 2 journals (genesis "));
  assert_non_null(strstr(out, "gap: station A (journal "));
  assert_int_equal(sql_int(path, "SELECT count(*) FROM journal"), 2);
  free(out);
  auditdb_close(db);
  EVP_PKEY_free(a.key);
}

static int setup(void **state)
{
  (void)state;
  return mkdtemp(dir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
  (void)state;
  return fixture_remove_tree(dir);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(t_row_reader),
    cmocka_unit_test(t_open),
    cmocka_unit_test(t_trust),
    cmocka_unit_test(t_import_merge_and_conflict),
    cmocka_unit_test(t_import_refusals),
    cmocka_unit_test(t_cross_checks_find_report),
    cmocka_unit_test(t_locked),
    cmocka_unit_test(t_journals_and_continuity),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
