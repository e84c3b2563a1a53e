/*
 * auditdb_query.c - the auditor's two questions of the record: where did
 * this device, serial, key or certificate come from (find), and what does
 * the record hold per station (report).
 *
 * find prints, per matching record, one line
 *   issued: station NAME, record SEQ, TIME, source SOURCE, device D, serial S,
 *           key sha256:K, local CA SUBJECT, export FILE
 * followed by the certificate in PEM, or
 *   refused: station NAME, record SEQ, TIME, source SOURCE, device D,
 *            key sha256:K, reason REASON: DETAIL
 * Text from the exports is printed with control characters replaced ('?').
 *
 * report writes one row per station (CSV with a header, or JSON Lines):
 *   station, local_ca (the subject of the newest export's local CA),
 *   records_covered, issued, refused, first_time, last_time (of the records
 *   held), gaps ("LO-HI" runs, ';'-separated in CSV, an array in JSON),
 *   conflicts (records stored in conflict).
 */
#include "auditdb_internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "syscalls.h"
#include "xbuf.h"

#define FIND_PEM_MAX 65536

/* Prints TEXT with bytes below 0x20 (but '\n' when NEWLINES) and 0x7f as '?'. */
static void put_clean(FILE *out, const char *text, int newlines)
{
  for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++)
    fputc((*p < 0x20 && !(newlines && *p == '\n')) || *p == 0x7f ? '?' : *p, out);
}

/* The serial (lower-case hex), SPKI SHA-256 and CN of the PEM certificate in
 * PATH. 1 when PATH is such a file, 0 when it is not a file, or ST_E_USAGE. */
#define FIND_TEXT_MAX 256

static int find_cert(const char *path, char serial[FIND_TEXT_MAX], char key[FIND_TEXT_MAX], char cn[FIND_TEXT_MAX],
                     struct st_detail *detail)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK), r = ST_E_USAGE;
  char buf[FIND_PEM_MAX];
  ssize_t n;
  BIO *b = NULL;
  X509 *x = NULL;
  BIGNUM *bn = NULL;
  char *hex = NULL;
  unsigned char *der = NULL;
  int dlen;
  if (fd < 0)
    return 0;
  n = st_read_full(fd, buf, sizeof buf);
  close(fd);
  if (n < 0 || (size_t)n == sizeof buf) {
    st_detail_set(detail, "cannot read %s: %s", path, n < 0 ? strerror(errno) : "larger than a certificate is");
    return r;
  }
  if ((b = BIO_new_mem_buf(buf, (int)n)) == NULL || (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL ||
      (bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL)) == NULL || (hex = BN_bn2hex(bn)) == NULL ||
      (dlen = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der)) <= 0) {
    st_detail_set(detail, "%s is a file but holds no PEM certificate", path);
    st_detail_add_openssl(detail);
    goto out;
  }
  snprintf(serial, FIND_TEXT_MAX, "%s", hex);
  for (char *p = serial; *p; p++)
    *p = (char)tolower((unsigned char)*p);
  if (strlen(serial) % 2 != 0) { /* the journal writes whole bytes */
    memmove(serial + 1, serial, strlen(serial) + 1);
    serial[0] = '0';
  }
  auditdb_sha256_hex(der, (size_t)dlen, key);
  cn[0] = '\0';
  X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, FIND_TEXT_MAX);
  r = 1;
out:
  OPENSSL_free(der);
  OPENSSL_free(hex);
  BN_free(bn);
  X509_free(x);
  BIO_free(b);
  return r;
}

int auditdb_find(struct auditdb *db, const char *query, FILE *out, uint64_t *found, struct st_detail *detail)
{
  char serial[FIND_TEXT_MAX], key[FIND_TEXT_MAX], cn[FIND_TEXT_MAX], norm[FIND_TEXT_MAX];
  sqlite3_stmt *st = NULL;
  int r, rc, is_cert;

  *found = 0;
  if ((is_cert = find_cert(query, serial, key, cn, detail)) < 0)
    return is_cert;
  if (!is_cert) {
    /* A serial or a key hash may be typed in upper case or with colons. */
    size_t j = 0;
    int hex = 1;
    if (strlen(query) >= sizeof norm) {
      st_detail_set(detail, "a device id, serial or key hash is shorter than %d bytes", FIND_TEXT_MAX);
      return ST_E_USAGE;
    }
    for (const char *p = query; *p != '\0'; p++)
      if (*p != ':')
        norm[j++] = (char)tolower((unsigned char)*p);
    norm[j] = '\0';
    for (size_t i = 0; i < j; i++)
      hex &= isxdigit((unsigned char)norm[i]) != 0;
    if (!hex || j == 0)
      snprintf(norm, sizeof norm, "%s", query);
    snprintf(serial, sizeof serial, "%s", norm);
    snprintf(key, sizeof key, "%s", norm);
    snprintf(cn, sizeof cn, "%s", query);
  }
  r = auditdb_prepare(db, "SELECT r.event, s.name, r.seq, r.time, r.source, r.device, r.serial, r.key_sha256, "
                          "l.subject, e.file, r.reason, r.detail, r.certificate FROM record r JOIN station s ON "
                          "s.id = r.station_id JOIN local_ca l ON l.id = r.local_ca_id JOIN export e ON e.id = "
                          "r.export_id WHERE (r.device = ?1 OR r.serial = ?2 OR r.key_sha256 = ?3) AND r.event IN "
                          "('issued', 'refused') ORDER BY r.time, s.name, r.seq", &st, detail);
  if (r != 0)
    return r;
  sqlite3_bind_text(st, 1, cn, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, serial, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, key, -1, SQLITE_STATIC);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    int issued = strcmp(auditdb_text(st, 0), "issued") == 0;
    fprintf(out, "%s: station ", issued ? "issued" : "refused");
    put_clean(out, auditdb_text(st, 1), 0);
    fprintf(out, ", record %lld, %s, source ", (long long)sqlite3_column_int64(st, 2), auditdb_text(st, 3));
    put_clean(out, auditdb_text(st, 4), 0);
    fputs(", device ", out);
    put_clean(out, auditdb_text(st, 5), 0);
    if (issued) {
      fprintf(out, ", serial %s, key sha256:%s, local CA ", auditdb_text(st, 6), auditdb_text(st, 7));
      put_clean(out, auditdb_text(st, 8), 0);
      fputs(", export ", out);
      put_clean(out, auditdb_text(st, 9), 0);
      fputc('\n', out);
      put_clean(out, auditdb_text(st, 12), 1);
    } else {
      fprintf(out, ", key sha256:%s, reason %s: ", auditdb_text(st, 7), auditdb_text(st, 10));
      put_clean(out, auditdb_text(st, 11), 0);
      fputc('\n', out);
    }
    (*found)++;
  }
  if (rc != SQLITE_DONE)
    r = auditdb_fail(db, rc, "reading the record", detail);
  sqlite3_finalize(st);
  return r;
}

/* CSV field: quoted when it holds a comma, a quote, CR or LF. */
static void put_csv(FILE *out, const char *s)
{
  if (strpbrk(s, ",\"\r\n") == NULL) {
    fputs(s, out);
    return;
  }
  fputc('"', out);
  for (; *s; s++) {
    if (*s == '"')
      fputc('"', out);
    fputc(*s, out);
  }
  fputc('"', out);
}

/* JSON string, quotes included. */
static void put_json(FILE *out, const char *s)
{
  fputc('"', out);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\')
      fprintf(out, "\\%c", *p);
    else if (*p < 0x20 || *p == 0x7f)
      fprintf(out, "\\u%04x", *p);
    else
      fputc(*p, out);
  }
  fputc('"', out);
}

/* The gaps of one station, as text. */
struct gap_text {
  struct xbuf text;
  int jsonl;
};

static void gap_add(void *arg, int64_t lo, int64_t hi)
{
  struct gap_text *g = arg;
  xb_printf(&g->text, "%s%s%lld-%lld%s", g->text.len > 0 ? (g->jsonl ? "," : ";") : "", g->jsonl ? "\"" : "",
            (long long)lo, (long long)hi, g->jsonl ? "\"" : "");
}

int auditdb_report(struct auditdb *db, int jsonl, FILE *out, struct st_detail *detail)
{
  static const char sql[] =
    "SELECT s.id, s.name, "
    "(SELECT l.subject FROM export e JOIN journal j ON j.id = e.journal_id JOIN local_ca l ON l.id = e.local_ca_id "
    " WHERE j.station_id = s.id ORDER BY e.time DESC, e.id DESC LIMIT 1), "
    "coalesce(t.n, 0), coalesce(t.issued, 0), coalesce(t.refused, 0), t.first_time, t.last_time, "
    "(SELECT count(*) FROM conflict c JOIN journal j ON j.id = c.journal_id WHERE j.station_id = s.id) "
    "FROM station s LEFT JOIN (SELECT station_id, count(*) AS n, sum(event = 'issued') AS issued, "
    " sum(event = 'refused') AS refused, min(time) AS first_time, max(time) AS last_time FROM record "
    " GROUP BY station_id) t ON t.station_id = s.id ORDER BY s.name";
  sqlite3_stmt *st = NULL, *jr = NULL;
  int r, rc, rc2;

  if ((r = auditdb_exec(db, "BEGIN", detail)) != 0)
    return r;
  if ((r = auditdb_prepare(db, sql, &st, detail)) != 0 ||
      (r = auditdb_prepare(db, "SELECT j.id, (SELECT max(journal_last) FROM export e WHERE e.journal_id = j.id) "
                               "FROM journal j WHERE j.station_id = ?1 ORDER BY j.id", &jr, detail)) != 0)
    goto out;
  if (!jsonl)
    fputs("station,local_ca,records_covered,issued,refused,first_time,last_time,gaps,conflicts\n", out);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    struct gap_text g = {{0}, jsonl};
    sqlite3_reset(jr);
    sqlite3_bind_int64(jr, 1, sqlite3_column_int64(st, 0));
    while (r == 0 && (rc2 = sqlite3_step(jr)) == SQLITE_ROW)
      r = auditdb_gaps(db, sqlite3_column_int64(jr, 0), sqlite3_column_int64(jr, 1), gap_add, &g, detail);
    if (r == 0 && rc2 != SQLITE_DONE)
      r = auditdb_fail(db, rc2, "reading the journals", detail);
    if (r == 0 && g.text.failed)
      r = ST_E_NO_MEMORY;
    if (r != 0) {
      xb_free(&g.text);
      goto out;
    }
    if (jsonl) {
      fputs("{\"station\":", out);
      put_json(out, auditdb_text(st, 1));
      fputs(",\"local_ca\":", out);
      put_json(out, auditdb_text(st, 2));
      fprintf(out, ",\"records_covered\":%lld,\"issued\":%lld,\"refused\":%lld,\"first_time\":",
              (long long)sqlite3_column_int64(st, 3), (long long)sqlite3_column_int64(st, 4),
              (long long)sqlite3_column_int64(st, 5));
      put_json(out, auditdb_text(st, 6));
      fputs(",\"last_time\":", out);
      put_json(out, auditdb_text(st, 7));
      fprintf(out, ",\"gaps\":[%s],\"conflicts\":%lld}\n", g.text.data != NULL ? g.text.data : "",
              (long long)sqlite3_column_int64(st, 8));
    } else {
      put_csv(out, auditdb_text(st, 1));
      fputc(',', out);
      put_csv(out, auditdb_text(st, 2));
      fprintf(out, ",%lld,%lld,%lld,%s,%s,%s,%lld\n", (long long)sqlite3_column_int64(st, 3),
              (long long)sqlite3_column_int64(st, 4), (long long)sqlite3_column_int64(st, 5), auditdb_text(st, 6),
              auditdb_text(st, 7), g.text.data != NULL ? g.text.data : "", (long long)sqlite3_column_int64(st, 8));
    }
    xb_free(&g.text);
  }
  if (rc != SQLITE_DONE)
    r = auditdb_fail(db, rc, "reading the record", detail);
out:
  sqlite3_finalize(jr);
  sqlite3_finalize(st);
  sqlite3_exec(db->db, "COMMIT", NULL, NULL, NULL);
  return r;
}
