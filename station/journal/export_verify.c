/*
 * export_verify.c - the offline check of an export (export.h), and the
 * RFC 3339 times the export filters take.
 *
 * The check needs only FILE, FILE.sig, FILE.manifest.json, its .sig and the
 * journal public key: first both signatures (what `openssl dgst -sha256
 * -verify` does), then the manifest's shape and that it names FILE's hash,
 * then FILE's rows, read whole, and that they agree with the manifest.
 */
#include "export.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "audit.h"
#include "encoding.h"
#include "error.h"
#include "file_read.h"
#include "json_read.h"
#include "manifest.h"

#define EXPORT_CSV_HEADER \
  "seq,time,event,source,device,serial,reason,csr_sha256,key_sha256,detail,chain\n"
#define EXPORT_CSV_FIELDS 11
#define EXPORT_JSONL_KEYS 12
#define EXPORT_FILE_MAX (INT64_C(1) << 34) /* 16 GiB: far past any station's journal */

/* Parses one CSV record at *P (END bounds it) into up to MAX fields (each
 * pointing into a scratch copy). Returns the field count, or -1 when the
 * quoting is broken. */
static int csv_record(const char **p, const char *end, char *scratch, char **fields, int max)
{
  int n = 0;
  const char *s = *p;
  char *w = scratch;
  for (;;) {
    if (n == max)
      return -1;
    fields[n++] = w;
    if (s < end && *s == '"') {
      s++;
      for (;;) {
        if (s >= end)
          return -1;
        if (*s == '"' && s + 1 < end && s[1] == '"') {
          *w++ = '"';
          s += 2;
        } else if (*s == '"') {
          s++;
          break;
        } else {
          *w++ = *s++;
        }
      }
    } else {
      while (s < end && *s != ',' && *s != '\n') {
        if (*s == '"')
          return -1;
        *w++ = *s++;
      }
    }
    *w++ = '\0';
    if (s < end && *s == ',') {
      s++;
      continue;
    }
    if (s >= end || *s != '\n')
      return -1;
    *p = s + 1;
    return n;
  }
}

/* 1 when S is 64 lower-case hex digits. */
static int export_is_hex64(const char *s)
{
  size_t n = 0;
  for (; s[n] != '\0'; n++)
    if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
      return 0;
  return n == 64;
}

/* Checks one row's seq (decimal, rising), time, event and chain; counts it. */
static int export_scan_row(struct export_scan *sc, const char *seq, const char *time, const char *event,
                           const char *chain)
{
  uint64_t v = 0;
  int64_t ms;
  size_t n = strlen(seq);
  int ok = n > 0 && n <= 18 && seq[0] != '0' && strlen(time) == ST_TIME_LEN &&
           st_time_parse(&ms, time, ST_TIME_LEN) && export_is_hex64(chain) && event[0] != '\0';
  for (size_t i = 0; ok && i < n; i++) {
    ok = seq[i] >= '0' && seq[i] <= '9';
    v = v * 10 + (uint64_t)(seq[i] - '0');
  }
  for (const char *p = event; ok && *p != '\0'; p++)
    ok = (*p >= 'a' && *p <= 'z') || *p == '-' || *p == '_';
  ok = ok && v > sc->last && export_count(&sc->counts, event) == 0;
  if (ok) {
    if (sc->first == 0)
      sc->first = v;
    else if (v != sc->last + 1)
      sc->gapless = 0;
    sc->last = v;
    memcpy(sc->last_chain, chain, 65);
  }
  return ok;
}

static int export_check_csv(const char *data, size_t len, struct export_scan *sc, struct st_detail *detail)
{
  int r = ST_E_NO_MEMORY;
  const char *p = data + sizeof EXPORT_CSV_HEADER - 1, *end = data + len;
  char *scratch = malloc(len + 1), *f[EXPORT_CSV_FIELDS];
  uint64_t row = 1;
  if (scratch == NULL)
    goto out;
  r = ST_E_EXPORT_INVALID;
  while (p < end) {
    row++;
    if (csv_record(&p, end, scratch, f, EXPORT_CSV_FIELDS) != EXPORT_CSV_FIELDS ||
        !export_scan_row(sc, f[0], f[1], f[2], f[10])) {
      st_detail_set(detail, "row %llu of the CSV export is not a well-formed record row",
                    (unsigned long long)row);
      goto out;
    }
  }
  r = 0;
out:
  free(scratch);
  return r;
}

/* Checks one JSON Lines row: an object with the export's keys, in order. */
static int export_jsonl_row(struct export_scan *sc, const struct json_node *obj)
{
  static const char *const keys[EXPORT_JSONL_KEYS] = {"seq", "time", "event", "source", "device", "serial",
                                                      "reason", "csr_sha256", "key_sha256", "detail", "chain",
                                                      "certificate"};
  const struct json_node *n = obj->type == JSON_OBJECT ? obj->child : NULL, *v[EXPORT_JSONL_KEYS];
  for (int i = 0; i < EXPORT_JSONL_KEYS; i++, n = n->next) {
    if (n == NULL || strcmp(n->key, keys[i]) != 0 || n->type != (i == 0 ? JSON_NUMBER : JSON_STRING))
      return 0;
    v[i] = n;
  }
  return n == NULL && export_scan_row(sc, v[0]->text, v[1]->text, v[2]->text, v[10]->text);
}

static int export_check_jsonl(const char *data, size_t len, struct export_scan *sc, struct st_detail *detail)
{
  int r = 0;
  const char *p = data, *end = data + len;
  uint64_t line = 0;
  struct st_detail why = {""};
  while (p < end && r == 0) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    struct json_doc *doc = NULL;
    line++;
    r = nl == NULL ? ST_E_EXPORT_INVALID : json_parse(p, (size_t)(nl - p), &doc, &why);
    if (r == 0 && !export_jsonl_row(sc, json_root(doc)))
      r = ST_E_EXPORT_INVALID;
    json_doc_free(doc);
    if (r == ST_E_EXPORT_INVALID)
      st_detail_set(detail, "line %llu of the JSON Lines export is not a well-formed record line",
                    (unsigned long long)line);
    p = nl != NULL ? nl + 1 : end;
  }
  return r;
}

static int export_check_pem(const char *data, size_t len, struct export_counts *c, struct st_detail *detail)
{
  int r = ST_E_NO_MEMORY;
  BIO *bio = BIO_new_mem_buf(data, (int)len);
  X509 *cert = NULL;
  if (bio == NULL || len > INT32_MAX)
    goto out;
  while ((cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
    X509_free(cert);
    export_count(c, "issued");
  }
  ERR_clear_error();
  r = 0;
  if (BIO_pending(bio) > 0) {
    r = ST_E_EXPORT_INVALID;
    st_detail_set(detail, "the PEM export holds something other than certificates after "
                  "certificate %llu", (unsigned long long)c->rows);
  }
out:
  BIO_free(bio);
  return r;
}

static int export_check_index(const char *data, size_t len, struct export_counts *c, struct st_detail *detail)
{
  int r = ST_E_EXPORT_INVALID;
  const char *p = data, *end = data + len;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    int tabs = 0;
    for (const char *q = p; nl != NULL && q < nl; q++)
      tabs += *q == '\t';
    if (nl == NULL || strncmp(p, "V\t", 2) != 0 || tabs != 5) {
      st_detail_set(detail, "line %llu of the index export is not an index.txt line",
                    (unsigned long long)c->rows + 1);
      return r;
    }
    export_count(c, "issued");
    p = nl + 1;
  }
  return 0;
}

int export_scan(const char *data, size_t len, struct export_scan *sc, struct st_detail *detail)
{
  int r;
  memset(sc, 0, sizeof *sc);
  sc->gapless = 1;
  if (len >= sizeof EXPORT_CSV_HEADER - 1 && memcmp(data, EXPORT_CSV_HEADER, sizeof EXPORT_CSV_HEADER - 1) == 0) {
    sc->format = EXPORT_CSV;
    r = export_check_csv(data, len, sc, detail);
  } else if (len > 0 && data[0] == '{') {
    sc->format = EXPORT_JSONL;
    r = export_check_jsonl(data, len, sc, detail);
  } else if (len > 0 && data[0] == '-') {
    sc->format = EXPORT_PEM;
    r = export_check_pem(data, len, &sc->counts, detail);
  } else {
    sc->format = EXPORT_INDEX;
    r = export_check_index(data, len, &sc->counts, detail);
  }
  return r;
}

/* 1 when SIG (DER) over DATA verifies with PUB. */
static int export_sig_ok(EVP_PKEY *pub, const char *data, size_t len, const char *sig, size_t sig_len)
{
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  int ok = md != NULL && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub) == 1 &&
           EVP_DigestVerify(md, (const unsigned char *)sig, sig_len, (const unsigned char *)data, len) == 1;
  EVP_MD_CTX_free(md);
  ERR_clear_error();
  return ok;
}

/* 1 when the counts A and B hold the same events with the same rows. */
static int export_counts_equal(const struct export_counts *a, const struct export_counts *b)
{
  int same = a->events == b->events && a->rows == b->rows;
  for (size_t i = 0; same && i < a->events; i++)
    same = export_count_of(b, a->event[i].name) == a->event[i].rows;
  return same;
}

/* Checks that the rows SC agree with the manifest M of FILE. */
static int export_rows_match(const char *file, const struct export_manifest *m, const struct export_scan *sc,
                             struct st_detail *detail)
{
  int filtered = m->has_since || m->has_until || m->has_source;
  int rows_with_seq = sc->format == EXPORT_CSV || sc->format == EXPORT_JSONL;
  if (sc->format != m->format) {
    st_detail_set(detail, "%s is a %s export, its manifest says %s", file, export_format_name(sc->format),
                  export_format_name(m->format));
  } else if (!export_counts_equal(&sc->counts, &m->counts)) {
    st_detail_set(detail, "%s holds %llu rows (%llu issued, %llu refused), not the counts its manifest gives",
                  file, (unsigned long long)sc->counts.rows, (unsigned long long)sc->counts.issued,
                  (unsigned long long)sc->counts.refused);
  } else if (rows_with_seq && (sc->counts.rows > 0) != m->has_range) {
    st_detail_set(detail, "%s %s rows, but its manifest's records say otherwise", file,
                  sc->counts.rows > 0 ? "holds" : "holds no");
  } else if (rows_with_seq && m->has_range &&
             (sc->first != m->first || sc->last != m->last || strcmp(sc->last_chain, m->chain) != 0)) {
    st_detail_set(detail, "%s runs from record %llu to %llu, its manifest says %llu to %llu (or another "
                  "chain value)", file, (unsigned long long)sc->first, (unsigned long long)sc->last,
                  (unsigned long long)m->first, (unsigned long long)m->last);
  } else if (rows_with_seq && !filtered && !sc->gapless) {
    st_detail_set(detail, "%s has no filter but records are missing between %llu and %llu", file,
                  (unsigned long long)sc->first, (unsigned long long)sc->last);
  } else {
    return 0;
  }
  return ST_E_EXPORT_INVALID;
}

int export_verify(const char *file, EVP_PKEY *pub, struct export_manifest *m_out, struct export_scan *scan_out,
                  struct st_detail *detail)
{
  int r = ST_E_NO_MEMORY;
  char *data = NULL, *sig = NULL, *man = NULL, *msig = NULL, *paths[3] = {NULL, NULL, NULL};
  size_t len = 0, sig_len = 0, man_len = 0, msig_len = 0;
  struct export_manifest *m = malloc(sizeof *m);
  struct export_scan sc;
  uint8_t md[32];
  char hex[65], key_hex[65];
  struct st_detail why = {""};

  static const char *const suffix[3] = {".sig", ".manifest.json", ".manifest.json.sig"};

  for (int i = 0; i < 3; i++)
    if (asprintf(&paths[i], "%s%s", file, suffix[i]) < 0)
      paths[i] = NULL;
  if (m == NULL || paths[0] == NULL || paths[1] == NULL || paths[2] == NULL)
    goto out;
  if ((r = st_file_read(file, EXPORT_FILE_MAX, &data, &len, detail)) != 0 ||
      (r = st_file_read(paths[0], EXPORT_FILE_MAX, &sig, &sig_len, detail)) != 0)
    goto out;
  r = ST_E_EXPORT_SIGNATURE;
  if (!export_sig_ok(pub, data, len, sig, sig_len)) {
    st_detail_set(detail, "%s does not match its signature %s by the journal key: the export was "
                  "changed, or another key signed it", file, paths[0]);
    goto out;
  }
  r = ST_E_EXPORT_MANIFEST;
  if (st_file_read(paths[1], EXPORT_FILE_MAX, &man, &man_len, &why) != 0 ||
      st_file_read(paths[2], EXPORT_FILE_MAX, &msig, &msig_len, &why) != 0) {
    st_detail_set(detail, "the export's manifest: %s", why.text);
    goto out;
  }
  r = ST_E_EXPORT_SIGNATURE;
  if (!export_sig_ok(pub, man, man_len, msig, msig_len)) {
    st_detail_set(detail, "%s does not match its signature %s by the journal key: the manifest was "
                  "changed, or another key signed it", paths[1], paths[2]);
    goto out;
  }
  r = manifest_read(man, man_len, m, &why);
  if (r == ST_E_EXPORT_INVALID) {
    r = ST_E_EXPORT_MANIFEST;
    st_detail_set(detail, "%s: %s", paths[1], why.text);
  }
  if (r != 0)
    goto out;
  EVP_Digest(data, len, md, NULL, EVP_sha256(), NULL);
  st_hex_encode(hex, md, 32);
  r = ST_E_EXPORT_MANIFEST;
  if (strcmp(hex, m->sha256) != 0) {
    st_detail_set(detail, "%s is not the manifest of %s: it names a file with SHA-256 %.16s..., this one "
                  "has %.16s...", paths[1], file, m->sha256, hex);
    goto out;
  }
  if (audit_key_fingerprint(pub, key_hex) != 0 || strcmp(key_hex, m->key_sha256) != 0) {
    st_detail_set(detail, "%s names the journal key sha256:%.16s..., not the key it was checked with", paths[1],
                  m->key_sha256);
    goto out;
  }
  r = export_scan(data, len, &sc, detail);
  if (r == 0)
    r = export_rows_match(file, m, &sc, detail);
  if (r == 0 && m_out != NULL)
    *m_out = *m;
  if (r == 0 && scan_out != NULL)
    *scan_out = sc;
out:
  for (int i = 0; i < 3; i++)
    free(paths[i]);
  free(msig);
  free(man);
  free(sig);
  free(data);
  free(m);
  return r;
}

int export_parse_time(const char *text, int64_t *ms)
{
  return st_time_parse_rfc3339(ms, text) ? 0 : ST_E_USAGE;
}
