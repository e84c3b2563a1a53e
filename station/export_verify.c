/*
 * export_verify.c - the offline check of an export (export.h), and the
 * RFC 3339 times the export filters take.
 *
 * The check needs only FILE, FILE.sig and the journal public key: first the
 * signature over FILE's bytes (what `openssl dgst -sha256 -verify` does), then
 * FILE's syntax, so that the counts it reports are those of a well-formed
 * export. The format is told by the first bytes: the CSV header, '{' for JSON
 * Lines, "-----BEGIN" for PEM, "V\t" for an index. An empty file is an index
 * or a PEM export with no certificate.
 */
#include "export.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "encoding.h"
#include "error.h"

#define EXPORT_CSV_HEADER "seq,time,event,source,device,serial,reason,csr_sha256,key_sha256,detail\n"
#define EXPORT_CSV_FIELDS 10
#define EXPORT_FILE_MAX (INT64_C(1) << 34) /* 16 GiB: far past any station's journal */

/* Reads the whole of PATH into *DATA (NUL-terminated) and *LEN. */
static int export_slurp(const char *path, char **data, size_t *len, struct st_detail *detail)
{
  int r = ST_E_IO, fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  struct stat st;
  size_t got = 0;
  char *buf = NULL;
  if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > EXPORT_FILE_MAX) {
    st_detail_set(detail, "cannot read %s: %s", path, fd < 0 ? strerror(errno) : "not a regular file of a sane size");
    goto out;
  }
  r = ST_E_NO_MEMORY;
  if ((buf = malloc((size_t)st.st_size + 1)) == NULL)
    goto out;
  r = ST_E_IO;
  while (got < (size_t)st.st_size) {
    ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      st_detail_set(detail, "cannot read %s: %s", path, n < 0 ? strerror(errno) : "it shrank");
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

/* Checks seq (decimal, increasing) and event of one row; counts it. */
static int export_count_row(const char *seq, const char *event, uint64_t *last, struct export_counts *c)
{
  uint64_t v = 0;
  size_t n = strlen(seq);
  int ok = n > 0 && n <= 19 && seq[0] != '0';
  for (size_t i = 0; ok && i < n; i++) {
    ok = seq[i] >= '0' && seq[i] <= '9';
    v = v * 10 + (uint64_t)(seq[i] - '0');
  }
  ok = ok && v > *last && (strcmp(event, "issued") == 0 || strcmp(event, "refused") == 0);
  if (ok) {
    *last = v;
    c->rows++;
    if (event[0] == 'i')
      c->issued++;
    else
      c->refused++;
  }
  return ok;
}

static int export_check_csv(const char *data, size_t len, struct export_counts *c, struct st_detail *detail)
{
  int r = ST_E_NO_MEMORY;
  const char *p = data + sizeof EXPORT_CSV_HEADER - 1, *end = data + len;
  char *scratch = malloc(len + 1), *f[EXPORT_CSV_FIELDS];
  uint64_t last = 0, row = 1;
  int64_t ms;
  if (scratch == NULL)
    goto out;
  r = ST_E_EXPORT_INVALID;
  while (p < end) {
    row++;
    if (csv_record(&p, end, scratch, f, EXPORT_CSV_FIELDS) != EXPORT_CSV_FIELDS ||
        !st_time_parse(&ms, f[1], strlen(f[1])) || !export_count_row(f[0], f[2], &last, c)) {
      st_detail_set(detail, "row %llu of the CSV export is not a well-formed request row",
                    (unsigned long long)row);
      goto out;
    }
  }
  r = 0;
out:
  free(scratch);
  return r;
}

static int export_check_jsonl(const char *data, size_t len, struct export_counts *c, struct st_detail *detail)
{
  int r = ST_E_EXPORT_INVALID;
  const char *p = data, *end = data + len;
  uint64_t last = 0, line = 0;
  char seq[24], event[8];
  int64_t ms;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t n = 0;
    line++;
    if (nl == NULL || strncmp(p, "{\"seq\":", 7) != 0)
      goto bad;
    for (p += 7; p < nl && *p >= '0' && *p <= '9' && n < sizeof seq - 1; p++)
      seq[n++] = *p;
    seq[n] = '\0';
    if (nl - p < 10 + ST_TIME_LEN + 11 || strncmp(p, ",\"time\":\"", 9) != 0 ||
        !st_time_parse(&ms, p + 9, ST_TIME_LEN) || strncmp(p + 9 + ST_TIME_LEN, "\",\"event\":\"", 11) != 0)
      goto bad;
    p += 9 + ST_TIME_LEN + 11;
    n = strncmp(p, "issued\"", 7) == 0 ? 6 : strncmp(p, "refused\"", 8) == 0 ? 7 : 0;
    memcpy(event, p, n);
    event[n] = '\0';
    if (n == 0 || nl[-1] != '}' || !export_count_row(seq, event, &last, c))
      goto bad;
    p = nl + 1;
  }
  r = 0;
  goto out;
bad:
  st_detail_set(detail, "line %llu of the JSON Lines export is not a well-formed request line",
                (unsigned long long)line);
out:
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
    c->rows++;
    c->issued++;
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
      goto out;
    }
    c->rows++;
    c->issued++;
    p = nl + 1;
  }
  r = 0;
out:
  return r;
}

int export_verify(const char *file, EVP_PKEY *pub, enum export_format *format,
                  struct export_counts *counts, struct st_detail *detail)
{
  int r;
  char *data = NULL, *sig = NULL, *sig_path = NULL;
  size_t len = 0, sig_len = 0;
  struct export_counts c = {0, 0, 0};
  enum export_format f = EXPORT_INDEX;
  EVP_MD_CTX *md = NULL;

  r = ST_E_NO_MEMORY;
  if (asprintf(&sig_path, "%s.sig", file) < 0) {
    sig_path = NULL;
    goto out;
  }
  if ((r = export_slurp(file, &data, &len, detail)) != 0 || (r = export_slurp(sig_path, &sig, &sig_len, detail)) != 0)
    goto out;
  r = ST_E_NO_MEMORY;
  if ((md = EVP_MD_CTX_new()) == NULL)
    goto out;
  r = ST_E_EXPORT_SIGNATURE;
  if (EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub) != 1 ||
      EVP_DigestVerify(md, (const unsigned char *)sig, sig_len, (const unsigned char *)data, len) != 1) {
    ERR_clear_error();
    st_detail_set(detail, "%s does not match its signature %s by the journal key: the export was "
                  "changed, or another key signed it", file, sig_path);
    goto out;
  }
  if (len >= sizeof EXPORT_CSV_HEADER - 1 && memcmp(data, EXPORT_CSV_HEADER, sizeof EXPORT_CSV_HEADER - 1) == 0) {
    f = EXPORT_CSV;
    r = export_check_csv(data, len, &c, detail);
  } else if (len > 0 && data[0] == '{') {
    f = EXPORT_JSONL;
    r = export_check_jsonl(data, len, &c, detail);
  } else if (len > 0 && data[0] == '-') {
    f = EXPORT_PEM;
    r = export_check_pem(data, len, &c, detail);
  } else {
    r = export_check_index(data, len, &c, detail);
  }
  if (r == 0 && format != NULL)
    *format = f;
  if (r == 0 && counts != NULL)
    *counts = c;
out:
  EVP_MD_CTX_free(md);
  free(sig_path);
  free(sig);
  free(data);
  return r;
}

/* Reads N digits at P into *V. */
static int digits(const char *p, int n, int *v)
{
  *v = 0;
  for (int i = 0; i < n; i++) {
    if (p[i] < '0' || p[i] > '9')
      return 0;
    *v = *v * 10 + (p[i] - '0');
  }
  return 1;
}

int export_parse_time(const char *text, int64_t *ms)
{
  static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  struct tm tm;
  int y, mo, d, h, mi, s, oh = 0, om = 0, frac = 0, digits_read = 0, ok;
  const char *p = text;
  size_t n = strlen(text);
  memset(&tm, 0, sizeof tm);
  ok = n >= 20 && digits(p, 4, &y) && p[4] == '-' && digits(p + 5, 2, &mo) && p[7] == '-' &&
       digits(p + 8, 2, &d) && (p[10] == 'T' || p[10] == 't' || p[10] == ' ') && digits(p + 11, 2, &h) &&
       p[13] == ':' && digits(p + 14, 2, &mi) && p[16] == ':' && digits(p + 17, 2, &s);
  p += 19;
  if (ok && *p == '.') {
    for (p++; *p >= '0' && *p <= '9'; p++, digits_read++)
      if (digits_read < 3)
        frac = frac * 10 + (*p - '0');
    ok = digits_read > 0;
    for (; digits_read > 0 && digits_read < 3; digits_read++)
      frac *= 10;
  }
  if (ok && (*p == 'Z' || *p == 'z'))
    ok = p[1] == '\0';
  else if (ok && (*p == '+' || *p == '-'))
    ok = digits(p + 1, 2, &oh) && p[3] == ':' && digits(p + 4, 2, &om) && p[6] == '\0' && oh < 24 && om < 60;
  else
    ok = 0;
  ok = ok && y >= 1970 && mo >= 1 && mo <= 12 && d >= 1 && d <= mdays[mo - 1] &&
       (mo != 2 || d < 29 || (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))) && h < 24 && mi < 60 && s < 61;
  if (ok) {
    int64_t offset = (int64_t)(oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s > 59 ? 59 : s;
    *ms = ((int64_t)timegm(&tm) - offset) * 1000 + frac;
  }
  return ok ? 0 : ST_E_USAGE;
}
