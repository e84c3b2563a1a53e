/*
 * auditdb.c - opening the audit database (recognising it, or making it),
 * the shared SQLite helpers, and registering a station's journal key.
 *
 * The schema (docs/audit-database.md explains each table and column):
 *   station       a registered journal key and its name
 *   local_ca      a local CA named by a manifest (SHA-256 of its DER, subject)
 *   journal       one journal of a station (its genesis); a station that
 *                 started a new journal has two
 *   export        one imported export: its manifest (verbatim, and parsed),
 *                 both signatures, and its status (accepted or conflict)
 *   export_range  the runs of consecutive seqs an export lists
 *   record        one journal record, once, as the accepted exports agree on it
 *   conflict      a record two exports disagree on
 * A database is ours when PRAGMA application_id is AUDITDB_APPLICATION_ID and
 * user_version AUDITDB_USER_VERSION.
 */
#include "auditdb_internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "syscalls.h"

#define AUDITDB_PEM_MAX 65536

static const char auditdb_schema[] =
  "CREATE TABLE station (\n"
  "  id INTEGER PRIMARY KEY,\n"
  "  name TEXT NOT NULL UNIQUE,\n"
  "  key_sha256 TEXT NOT NULL UNIQUE,\n"
  "  key_pem TEXT NOT NULL,\n"
  "  trusted_at TEXT NOT NULL\n"
  ");\n"
  "CREATE TABLE local_ca (\n"
  "  id INTEGER PRIMARY KEY,\n"
  "  sha256 TEXT NOT NULL UNIQUE,\n"
  "  subject TEXT NOT NULL,\n"
  "  factory TEXT NOT NULL\n"
  ");\n"
  "CREATE TABLE journal (\n"
  "  id INTEGER PRIMARY KEY,\n"
  "  station_id INTEGER NOT NULL REFERENCES station(id),\n"
  "  genesis TEXT NOT NULL,\n"
  "  UNIQUE (station_id, genesis)\n"
  ");\n"
  "CREATE TABLE export (\n"
  "  id INTEGER PRIMARY KEY,\n"
  "  journal_id INTEGER NOT NULL REFERENCES journal(id),\n"
  "  local_ca_id INTEGER NOT NULL REFERENCES local_ca(id),\n"
  "  sha256 TEXT NOT NULL UNIQUE,\n"
  "  file TEXT NOT NULL,\n"
  "  format TEXT NOT NULL,\n"
  "  time TEXT NOT NULL,\n"
  "  first INTEGER,\n"
  "  last INTEGER,\n"
  "  journal_last INTEGER NOT NULL,\n"
  "  chain TEXT,\n"
  "  since TEXT,\n"
  "  until TEXT,\n"
  "  source TEXT,\n"
  "  complete INTEGER NOT NULL,\n"
  "  rows INTEGER NOT NULL,\n"
  "  status TEXT NOT NULL CHECK (status IN ('accepted', 'conflict')),\n"
  "  imported_at TEXT NOT NULL,\n"
  "  manifest TEXT NOT NULL,\n"
  "  manifest_sig BLOB NOT NULL,\n"
  "  file_sig BLOB NOT NULL\n"
  ");\n"
  "CREATE TABLE export_range (\n"
  "  export_id INTEGER NOT NULL REFERENCES export(id),\n"
  "  lo INTEGER NOT NULL,\n"
  "  hi INTEGER NOT NULL,\n"
  "  PRIMARY KEY (export_id, lo)\n"
  ") WITHOUT ROWID;\n"
  "CREATE TABLE record (\n"
  "  id INTEGER PRIMARY KEY,\n"
  "  journal_id INTEGER NOT NULL REFERENCES journal(id),\n"
  "  seq INTEGER NOT NULL,\n"
  "  time TEXT NOT NULL,\n"
  "  event TEXT NOT NULL,\n"
  "  source TEXT,\n"
  "  device TEXT,\n"
  "  serial TEXT,\n"
  "  reason TEXT,\n"
  "  csr_sha256 TEXT,\n"
  "  key_sha256 TEXT,\n"
  "  detail TEXT,\n"
  "  chain TEXT NOT NULL,\n"
  "  certificate TEXT,\n"
  "  station_id INTEGER NOT NULL REFERENCES station(id),\n"
  "  local_ca_id INTEGER NOT NULL REFERENCES local_ca(id),\n"
  "  export_id INTEGER NOT NULL REFERENCES export(id),\n"
  "  UNIQUE (journal_id, seq)\n"
  ");\n"
  "CREATE INDEX record_device ON record(device, event, station_id, local_ca_id);\n"
  "CREATE INDEX record_key ON record(key_sha256, event, station_id, local_ca_id);\n"
  "CREATE INDEX record_serial ON record(serial, local_ca_id, event);\n"
  "CREATE INDEX record_station ON record(station_id, event, time);\n"
  "CREATE TABLE conflict (\n"
  "  id INTEGER PRIMARY KEY,\n"
  "  journal_id INTEGER NOT NULL REFERENCES journal(id),\n"
  "  seq INTEGER NOT NULL,\n"
  "  export_id INTEGER NOT NULL REFERENCES export(id),\n"
  "  other_export_id INTEGER NOT NULL REFERENCES export(id),\n"
  "  fields TEXT NOT NULL\n"
  ");\n"
  "CREATE INDEX conflict_journal ON conflict(journal_id, seq);\n"
  "CREATE VIEW issued AS\n"
  "  SELECT s.name AS station, r.seq, r.time, r.source, r.device, r.serial, r.key_sha256,\n"
  "         c.subject AS local_ca, r.certificate\n"
  "  FROM record r JOIN station s ON s.id = r.station_id JOIN local_ca c ON c.id = r.local_ca_id\n"
  "  WHERE r.event = 'issued';\n"
  "CREATE VIEW refused AS\n"
  "  SELECT s.name AS station, r.seq, r.time, r.source, r.device, r.key_sha256, r.reason, r.detail\n"
  "  FROM record r JOIN station s ON s.id = r.station_id\n"
  "  WHERE r.event = 'refused';\n";

int auditdb_fail(struct auditdb *db, int rc, const char *what, struct st_detail *detail)
{
  int base = rc & 0xff;
  const char *msg = db != NULL && db->db != NULL ? sqlite3_errmsg(db->db) : sqlite3_errstr(rc);
  if (base == SQLITE_BUSY || base == SQLITE_LOCKED) {
    st_detail_set(detail, "%s: the database stayed locked by another process for %d ms", what, AUDITDB_BUSY_MS);
    return ST_E_AUDIT_DB_LOCKED;
  }
  st_detail_set(detail, "%s: %s", what, msg);
  if (base == SQLITE_NOTADB)
    return ST_E_AUDIT_DB_FOREIGN;
  if (base == SQLITE_FULL)
    return ST_E_NO_SPACE;
  if (base == SQLITE_NOMEM)
    return ST_E_NO_MEMORY;
  return ST_E_AUDIT_DB;
}

int auditdb_exec(struct auditdb *db, const char *sql, struct st_detail *detail)
{
  int rc = sqlite3_exec(db->db, sql, NULL, NULL, NULL);
  return rc == SQLITE_OK ? 0 : auditdb_fail(db, rc, "the audit database", detail);
}

int auditdb_prepare(struct auditdb *db, const char *sql, sqlite3_stmt **st, struct st_detail *detail)
{
  int rc = sqlite3_prepare_v2(db->db, sql, -1, st, NULL);
  return rc == SQLITE_OK ? 0 : auditdb_fail(db, rc, "the audit database", detail);
}

int auditdb_begin(struct auditdb *db, struct st_detail *detail)
{
  int rc = sqlite3_exec(db->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
  return rc == SQLITE_OK ? 0 : auditdb_fail(db, rc, "cannot start a transaction", detail);
}

int auditdb_end(struct auditdb *db, int r, struct st_detail *detail)
{
  if (r == 0) {
    int rc = sqlite3_exec(db->db, "COMMIT", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
      return 0;
    r = auditdb_fail(db, rc, "cannot commit", detail);
  }
  sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL);
  return r;
}

int auditdb_bind_text(sqlite3_stmt *st, int i, const char *text)
{
  if (text == NULL || text[0] == '\0')
    return sqlite3_bind_null(st, i);
  return sqlite3_bind_text(st, i, text, -1, SQLITE_TRANSIENT);
}

const char *auditdb_text(sqlite3_stmt *st, int i)
{
  const unsigned char *t = sqlite3_column_text(st, i);
  return t != NULL ? (const char *)t : "";
}

void auditdb_sha256_hex(const void *data, size_t len, char out[65])
{
  unsigned char md[32];
  static const char hex[] = "0123456789abcdef";
  EVP_Digest(data, len, md, NULL, EVP_sha256(), NULL);
  for (int i = 0; i < 32; i++) {
    out[2 * i] = hex[md[i] >> 4];
    out[2 * i + 1] = hex[md[i] & 15];
  }
  out[64] = '\0';
}

int auditdb_gaps(struct auditdb *db, int64_t journal_id, int64_t n, void (*fn)(void *, int64_t, int64_t),
                 void *arg, struct st_detail *detail)
{
  /* Each record whose predecessor (in seq order) is not seq - 1 ends a gap;
   * a last record before N leaves one more. */
  static const char sql[] =
    "SELECT prev + 1, seq - 1 FROM (SELECT seq, lag(seq, 1, 0) OVER (ORDER BY seq) AS prev "
    "FROM record WHERE journal_id = ?1 AND seq <= ?2) WHERE seq > prev + 1 "
    "UNION ALL SELECT coalesce(max(seq), 0) + 1, ?2 FROM record WHERE journal_id = ?1 AND seq <= ?2 "
    "HAVING coalesce(max(seq), 0) < ?2 ORDER BY 1";
  sqlite3_stmt *st = NULL;
  int r, rc;
  if ((r = auditdb_prepare(db, sql, &st, detail)) != 0)
    return r;
  sqlite3_bind_int64(st, 1, journal_id);
  sqlite3_bind_int64(st, 2, n);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW)
    fn(arg, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1));
  r = rc == SQLITE_DONE ? 0 : auditdb_fail(db, rc, "reading the record", detail);
  sqlite3_finalize(st);
  return r;
}

/* One integer from SQL (a PRAGMA or a count) into *V. */
static int auditdb_int(struct auditdb *db, const char *sql, int64_t *v, struct st_detail *detail)
{
  sqlite3_stmt *st = NULL;
  int r = auditdb_prepare(db, sql, &st, detail), rc;
  if (r != 0)
    return r;
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    *v = sqlite3_column_int64(st, 0);
  else
    r = auditdb_fail(db, rc, "reading the database header", detail);
  sqlite3_finalize(st);
  return r;
}

/* Makes the schema in a database that holds nothing, in one transaction. */
static int auditdb_create(struct auditdb *db, struct st_detail *detail)
{
  char pragmas[128];
  int64_t objects = 0;
  int r;
  if ((r = auditdb_exec(db, "PRAGMA journal_mode = WAL", detail)) != 0 || (r = auditdb_begin(db, detail)) != 0)
    return r;
  r = auditdb_int(db, "SELECT count(*) FROM sqlite_master", &objects, detail);
  if (r == 0 && objects != 0) {
    st_detail_set(detail, "another process made tables in the new database at the same time");
    r = ST_E_AUDIT_DB_FOREIGN;
  }
  snprintf(pragmas, sizeof pragmas, "PRAGMA application_id = %d; PRAGMA user_version = %d;",
           AUDITDB_APPLICATION_ID, AUDITDB_USER_VERSION);
  if (r == 0)
    r = auditdb_exec(db, auditdb_schema, detail);
  if (r == 0)
    r = auditdb_exec(db, pragmas, detail);
  return auditdb_end(db, r, detail);
}

int auditdb_open(const char *path, int create, struct auditdb **out, struct st_detail *detail)
{
  struct auditdb *db = calloc(1, sizeof *db);
  int64_t app = 0, version = 0, objects = 0;
  struct stat sb;
  int r = ST_E_NO_MEMORY, rc, exists = stat(path, &sb) == 0;

  *out = NULL;
  if (db == NULL)
    goto out;
  r = ST_E_AUDIT_DB;
  if (!exists && !create) {
    st_detail_set(detail, "there is no audit database at %s (station audit trust makes one)", path);
    goto out;
  }
  if (exists && !S_ISREG(sb.st_mode)) {
    st_detail_set(detail, "%s is not a regular file", path);
    r = ST_E_AUDIT_DB_FOREIGN;
    goto out;
  }
  rc = sqlite3_open_v2(path, &db->db, SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0), NULL);
  if (rc != SQLITE_OK) {
    r = auditdb_fail(db, rc, path, detail);
    goto out;
  }
  sqlite3_busy_timeout(db->db, AUDITDB_BUSY_MS);
  /* Read the header before anything writes: a foreign file stays as it is. */
  if ((r = auditdb_int(db, "PRAGMA application_id", &app, detail)) != 0 ||
      (r = auditdb_int(db, "PRAGMA user_version", &version, detail)) != 0 ||
      (r = auditdb_int(db, "SELECT count(*) FROM sqlite_master", &objects, detail)) != 0) {
    if (r == ST_E_AUDIT_DB_FOREIGN)
      st_detail_set(detail, "%s is not an SQLite database", path);
    goto out;
  }
  if (app == 0 && version == 0 && objects == 0) {
    if (!create) {
      r = ST_E_AUDIT_DB_FOREIGN;
      st_detail_set(detail, "%s is an empty file, not an audit database (station audit trust makes one)", path);
      goto out;
    }
    if ((r = auditdb_create(db, detail)) != 0)
      goto out;
  } else if (app != AUDITDB_APPLICATION_ID || version != AUDITDB_USER_VERSION) {
    r = ST_E_AUDIT_DB_FOREIGN;
    st_detail_set(detail, "%s is an SQLite database of another kind (application_id %lld, user_version %lld; "
                  "an audit database has %d and %d)", path, (long long)app, (long long)version,
                  AUDITDB_APPLICATION_ID, AUDITDB_USER_VERSION);
    goto out;
  }
  /* Up to 512 MiB of page cache (taken as used): an import touches the
   * device, key and serial indexes at random places, which at a million
   * records is some 300 MB; a check reads them whole. */
  if ((r = auditdb_exec(db, "PRAGMA foreign_keys = ON; PRAGMA cache_size = -524288", detail)) != 0)
    goto out;
  *out = db;
  db = NULL;
  r = 0;
out:
  auditdb_close(db);
  return r;
}

void auditdb_close(struct auditdb *db)
{
  if (db == NULL)
    return;
  sqlite3_close(db->db);
  free(db);
}

/* Reads the PEM public key at PATH (at most AUDITDB_PEM_MAX bytes): its
 * SubjectPublicKeyInfo hash into HASH and its PEM text (re-encoded) into *PEM. */
static int auditdb_read_key(const char *path, char hash[65], char **pem, struct st_detail *detail)
{
  int r = ST_E_USAGE, fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  char buf[AUDITDB_PEM_MAX];
  ssize_t n = fd >= 0 ? st_read_full(fd, buf, sizeof buf) : -1;
  BIO *in = NULL, *mem = NULL;
  EVP_PKEY *key = NULL;
  unsigned char *der = NULL;
  char *text;
  long tlen;
  int dlen;
  if (fd >= 0)
    close(fd);
  if (n < 0 || (size_t)n == sizeof buf) {
    st_detail_set(detail, "cannot read %s: %s", path, n < 0 ? strerror(errno) : "larger than a key file is");
    return r;
  }
  if ((in = BIO_new_mem_buf(buf, (int)n)) == NULL || (key = PEM_read_bio_PUBKEY(in, NULL, NULL, NULL)) == NULL ||
      (dlen = i2d_PUBKEY(key, &der)) <= 0 || (mem = BIO_new(BIO_s_mem())) == NULL ||
      PEM_write_bio_PUBKEY(mem, key) != 1 || (tlen = BIO_get_mem_data(mem, &text)) <= 0) {
    st_detail_set(detail, "%s holds no PEM public key (station journal key prints one)", path);
    st_detail_add_openssl(detail);
    goto out;
  }
  auditdb_sha256_hex(der, (size_t)dlen, hash);
  r = ST_E_NO_MEMORY;
  if ((*pem = strndup(text, (size_t)tlen)) == NULL)
    goto out;
  r = 0;
out:
  OPENSSL_free(der);
  EVP_PKEY_free(key);
  BIO_free(mem);
  BIO_free(in);
  return r;
}

static int auditdb_name_ok(const char *name)
{
  size_t n = strlen(name);
  if (n == 0 || n > AUDITDB_NAME_MAX || isspace((unsigned char)name[0]) || isspace((unsigned char)name[n - 1]))
    return 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
      return 0;
  return 1;
}

/* The current UTC time, RFC 3339, into OUT[32]. */
static void auditdb_now(char out[32])
{
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int auditdb_trust(struct auditdb *db, const char *name, const char *pem_path, struct st_detail *detail)
{
  char hash[65], now[32];
  char *pem = NULL;
  sqlite3_stmt *st = NULL;
  int r, rc;

  if (!auditdb_name_ok(name)) {
    st_detail_set(detail, "a station name is 1 to %d printable bytes with no space at either end", AUDITDB_NAME_MAX);
    return ST_E_USAGE;
  }
  if ((r = auditdb_read_key(pem_path, hash, &pem, detail)) != 0)
    return r;
  if ((r = auditdb_begin(db, detail)) != 0)
    goto out;
  if ((r = auditdb_prepare(db, "SELECT name, key_sha256 FROM station WHERE name = ?1 OR key_sha256 = ?2", &st,
                           detail)) != 0)
    goto end;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW && r == 0) {
    const char *have_name = auditdb_text(st, 0), *have_key = auditdb_text(st, 1);
    if (strcmp(have_name, name) == 0 && strcmp(have_key, hash) == 0) {
      r = 1; /* registered before: nothing to do */
    } else {
      r = ST_E_AUDIT_KEY_TAKEN;
      if (strcmp(have_key, hash) == 0)
        st_detail_set(detail, "journal key sha256:%s is already registered as station \"%s\"", hash, have_name);
      else
        st_detail_set(detail, "station \"%s\" is already registered with journal key sha256:%s", have_name, have_key);
    }
  }
  if (r == 0 && rc != SQLITE_DONE)
    r = auditdb_fail(db, rc, "reading the stations", detail);
  sqlite3_finalize(st);
  st = NULL;
  if (r != 0)
    goto end;
  auditdb_now(now);
  if ((r = auditdb_prepare(db, "INSERT INTO station (name, key_sha256, key_pem, trusted_at) VALUES (?1, ?2, ?3, ?4)",
                           &st, detail)) != 0)
    goto end;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, pem, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, now, -1, SQLITE_STATIC);
  if ((rc = sqlite3_step(st)) != SQLITE_DONE)
    r = auditdb_fail(db, rc, "registering the station", detail);
end:
  sqlite3_finalize(st);
  st = NULL;
  if (r == 1) {
    auditdb_end(db, ST_E_EXISTS, detail); /* nothing written: roll back */
    r = 0;
  } else {
    r = auditdb_end(db, r, detail);
    r = r == 0 ? 1 : r;
  }
out:
  free(pem);
  return r;
}
