/*
 * export.c - writing a signed export of the journal (formats in export.h).
 *
 * One pass over the journal through audit_verify: the full check runs and each
 * good request record that passes the filters becomes a row in a growing
 * buffer. Only when the whole journal has checked out is the buffer signed by
 * the journal key and published, FILE and FILE.sig together, through an
 * output group (temporary names, fsync, rename, fsync of the directory).
 */
#include "export.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "audit.h"
#include "encoding.h"
#include "error.h"
#include "journal.h"
#include "output.h"

#define EXPORT_CSV_HEADER "seq,time,event,source,device,serial,reason,csr_sha256,key_sha256,detail\n"

/* A growing output buffer; a failed append sets failed and is sticky. */
struct xbuf {
  char *data;
  size_t len, cap;
  int failed;
};

static void xb_put(struct xbuf *b, const void *p, size_t n)
{
  if (b->failed)
    return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 65536;
    char *grown;
    while (cap < b->len + n + 1)
      cap *= 2;
    grown = realloc(b->data, cap);
    if (grown == NULL) {
      b->failed = 1;
      return;
    }
    b->data = grown;
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
}

static void xb_str(struct xbuf *b, const char *s)
{
  xb_put(b, s, strlen(s));
}

/* A CSV field: quoted when it holds a comma, a quote, CR or LF. */
static void xb_csv(struct xbuf *b, const char *s)
{
  if (s == NULL)
    return;
  if (strpbrk(s, ",\"\r\n") == NULL) {
    xb_str(b, s);
    return;
  }
  xb_put(b, "\"", 1);
  for (const char *p = s; *p != '\0'; p++)
    xb_put(b, *p == '"' ? "\"\"" : p, *p == '"' ? 2 : 1);
  xb_put(b, "\"", 1);
}

/* The length of a valid UTF-8 sequence at P (at most N bytes), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
  size_t want = p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 && p[0] < 0xe0 ? 2 : 0;
  uint32_t cp;
  if (want == 0 || p[0] > 0xf4 || n < want)
    return 0;
  for (size_t i = 1; i < want; i++)
    if ((p[i] & 0xc0) != 0x80)
      return 0;
  cp = want == 2 ? (uint32_t)(p[0] & 0x1f) << 6 | (p[1] & 0x3f)
     : want == 3 ? (uint32_t)(p[0] & 0x0f) << 12 | (uint32_t)(p[1] & 0x3f) << 6 | (p[2] & 0x3f)
                 : (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3f) << 12 |
                       (uint32_t)(p[2] & 0x3f) << 6 | (p[3] & 0x3f);
  if ((want == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (want == 4 && (cp < 0x10000 || cp > 0x10ffff)))
    return 0;
  return want;
}

/* A JSON string (quotes included); NULL is "". */
static void xb_json(struct xbuf *b, const char *s)
{
  const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");
  size_t n = strlen((const char *)p);
  char esc[8];
  xb_put(b, "\"", 1);
  for (size_t i = 0; i < n;) {
    size_t u = p[i] >= 0x80 ? utf8_len(p + i, n - i) : 0;
    if (p[i] == '"' || p[i] == '\\') {
      esc[0] = '\\';
      esc[1] = (char)p[i];
      xb_put(b, esc, 2);
      i++;
    } else if (p[i] == '\n') {
      xb_put(b, "\\n", 2);
      i++;
    } else if (p[i] < 0x20 || p[i] == 0x7f || (p[i] >= 0x80 && u == 0)) {
      snprintf(esc, sizeof esc, "\\u%04x", p[i]);
      xb_put(b, esc, 6);
      i++;
    } else {
      u = u ? u : 1;
      xb_put(b, p + i, u);
      i += u;
    }
  }
  xb_put(b, "\"", 1);
}

/* The state of one export pass. */
struct export_pass {
  const struct export_options *opt;
  struct xbuf out;
  struct export_counts counts;
};

/* The certificate of REC as PEM text into a new string, or NULL. */
static char *export_pem(const struct journal_record *rec)
{
  const unsigned char *p = rec->cert_der;
  X509 *cert = d2i_X509(NULL, &p, (long)rec->cert_len);
  BIO *bio = BIO_new(BIO_s_mem());
  char *text = NULL, *data = NULL;
  long n;
  if (cert != NULL && bio != NULL && PEM_write_bio_X509(bio, cert) == 1 &&
      (n = BIO_get_mem_data(bio, &data)) > 0 && (text = malloc((size_t)n + 1)) != NULL) {
    memcpy(text, data, (size_t)n);
    text[n] = '\0';
  }
  BIO_free(bio);
  X509_free(cert);
  return text;
}

/* One line of index.txt for the certificate of REC. */
static int export_index_line(struct xbuf *b, const struct journal_record *rec)
{
  int r = ST_E_CRYPTO;
  const unsigned char *p = rec->cert_der;
  X509 *cert = d2i_X509(NULL, &p, (long)rec->cert_len);
  BIGNUM *bn = NULL;
  char *hex = NULL, *subject = NULL;
  const ASN1_TIME *na;
  if (cert == NULL || (na = X509_get0_notAfter(cert)) == NULL ||
      (bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL)) == NULL ||
      (hex = BN_bn2hex(bn)) == NULL ||
      (subject = X509_NAME_oneline(X509_get_subject_name(cert), NULL, 0)) == NULL)
    goto out;
  xb_put(b, "V\t", 2);
  xb_put(b, ASN1_STRING_get0_data(na), (size_t)ASN1_STRING_length(na));
  xb_put(b, "\t\t", 2);
  xb_str(b, hex);
  xb_str(b, "\tunknown\t");
  xb_str(b, subject);
  xb_put(b, "\n", 1);
  r = 0;
out:
  OPENSSL_free(subject);
  OPENSSL_free(hex);
  BN_free(bn);
  X509_free(cert);
  return r;
}

/* A CSV row or a JSON line for REC. */
static int export_row(struct export_pass *x, const struct journal_record *rec)
{
  char seq[24], time[ST_TIME_LEN + 1], serial[41] = "", csr[65] = "", key[65] = "";
  const char *event = rec->event == JOURNAL_EVENT_ISSUED ? "issued" : "refused";
  const char *names[] = {"source", "device", "serial", "reason", "csr_sha256", "key_sha256", "detail"};
  const char *values[7];
  char *pem = NULL;
  int r = 0;
  snprintf(seq, sizeof seq, "%llu", (unsigned long long)rec->seq);
  st_time_format(time, rec->time_ms);
  st_hex_encode(serial, rec->serial, rec->serial_len);
  if (rec->has_csr_sha256)
    st_hex_encode(csr, rec->csr_sha256, 32);
  if (rec->has_key_sha256)
    st_hex_encode(key, rec->key_sha256, 32);
  values[0] = rec->source, values[1] = rec->device, values[2] = serial, values[3] = rec->reason;
  values[4] = csr, values[5] = key, values[6] = rec->detail;
  if (x->opt->format == EXPORT_CSV) {
    xb_str(&x->out, seq);
    xb_put(&x->out, ",", 1);
    xb_str(&x->out, time);
    xb_put(&x->out, ",", 1);
    xb_str(&x->out, event);
    for (int i = 0; i < 7; i++) {
      xb_put(&x->out, ",", 1);
      xb_csv(&x->out, values[i]);
    }
    xb_put(&x->out, "\n", 1);
    goto out;
  }
  if (rec->cert_len > 0 && (pem = export_pem(rec)) == NULL) {
    r = ST_E_CRYPTO;
    goto out;
  }
  xb_str(&x->out, "{\"seq\":");
  xb_str(&x->out, seq);
  xb_str(&x->out, ",\"time\":\"");
  xb_str(&x->out, time);
  xb_str(&x->out, "\",\"event\":\"");
  xb_str(&x->out, event);
  xb_put(&x->out, "\"", 1);
  for (int i = 0; i < 7; i++) {
    xb_str(&x->out, ",\"");
    xb_str(&x->out, names[i]);
    xb_str(&x->out, "\":");
    xb_json(&x->out, values[i]);
  }
  xb_str(&x->out, ",\"certificate\":");
  xb_json(&x->out, pem);
  xb_str(&x->out, "}\n");
out:
  free(pem);
  return r;
}

/* The extra checker of audit_verify: filters REC and writes its row. */
static int export_record(void *arg, const struct journal_record *rec, const uint8_t genesis[32],
                         const uint8_t prev_chain[32], struct st_detail *detail)
{
  struct export_pass *x = arg;
  const struct export_options *o = x->opt;
  int r = 0;
  char *pem = NULL;
  (void)genesis;
  (void)prev_chain;
  if ((rec->event != JOURNAL_EVENT_ISSUED && rec->event != JOURNAL_EVENT_REFUSED) || (o->has_since && rec->time_ms < o->since_ms) ||
      (o->has_until && rec->time_ms > o->until_ms) ||
      (o->source != NULL && strncmp(rec->source != NULL ? rec->source : "", o->source, strlen(o->source)) != 0))
    goto out;
  if ((o->format == EXPORT_PEM || o->format == EXPORT_INDEX) && rec->event != JOURNAL_EVENT_ISSUED)
    goto out;
  if (o->format == EXPORT_PEM) {
    pem = export_pem(rec);
    r = pem != NULL ? 0 : ST_E_CRYPTO;
    if (pem != NULL)
      xb_str(&x->out, pem);
  } else if (o->format == EXPORT_INDEX) {
    r = export_index_line(&x->out, rec);
  } else {
    r = export_row(x, rec);
  }
  if (r == 0 && x->out.failed)
    r = ST_E_NO_MEMORY;
  if (r < 0) {
    st_detail_set(detail, "record %llu cannot be exported", (unsigned long long)rec->seq);
    goto out;
  }
  x->counts.rows++;
  if (rec->event == JOURNAL_EVENT_ISSUED)
    x->counts.issued++;
  else
    x->counts.refused++;
out:
  free(pem);
  return r;
}

/* Signs LEN bytes of DATA with the journal key into a new DER *SIG. */
static int export_sign(struct audit *a, const char *data, size_t len, unsigned char **sig,
                       size_t *sig_len, struct st_detail *detail)
{
  int r = ST_E_JOURNAL_KEY;
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  unsigned char buf[160];
  size_t n = sizeof buf;
  *sig = NULL;
  if (md == NULL || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, audit_signer(a)) != 1 ||
      EVP_DigestSign(md, buf, &n, (const unsigned char *)data, len) != 1) {
    st_detail_set(detail, "the token did not sign the export with the journal key");
    st_detail_add_openssl(detail);
    goto out;
  }
  EVP_MD_CTX_reset(md);
  if (EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, audit_public_key(a)) != 1 ||
      EVP_DigestVerify(md, buf, n, (const unsigned char *)data, len) != 1) {
    st_detail_set(detail, "the export's signature does not verify with the journal public key");
    st_detail_add_openssl(detail);
    goto out;
  }
  r = ST_E_NO_MEMORY;
  if ((*sig = malloc(n)) == NULL)
    goto out;
  memcpy(*sig, buf, n);
  *sig_len = n;
  r = 0;
out:
  EVP_MD_CTX_free(md);
  return r;
}

/* Publishes DATA as OUT_PATH and SIG as OUT_PATH.sig in one output group. */
static int export_publish(const char *out_path, const struct xbuf *data, const unsigned char *sig,
                          size_t sig_len, struct st_detail *detail)
{
  int r = ST_E_NO_MEMORY, dirfd = -1;
  char *dir_copy = strdup(out_path), *base_copy = strdup(out_path), *sig_name = NULL;
  struct output_group *g = output_group_new();
  const char *dir, *base;
  if (dir_copy == NULL || base_copy == NULL || g == NULL)
    goto out;
  dir = dirname(dir_copy);
  base = basename(base_copy);
  if (asprintf(&sig_name, "%s.sig", base) < 0) {
    sig_name = NULL;
    goto out;
  }
  r = ST_E_IO;
  dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0) {
    st_detail_set(detail, "cannot open directory %s for the export: %s", dir, strerror(errno));
    goto out;
  }
  r = output_group_stage(g, dirfd, base, data->data != NULL ? data->data : "", data->len, 0, detail);
  if (r == 0)
    r = output_group_stage(g, dirfd, sig_name, sig, sig_len, 0, detail);
  if (r == 0)
    r = output_group_publish(g, detail);
out:
  output_group_free(g);
  if (dirfd >= 0)
    close(dirfd);
  free(sig_name);
  free(base_copy);
  free(dir_copy);
  return r;
}

int export_write(const char *journal_path, struct audit *a, const struct export_options *opt,
                 const char *out_path, struct export_counts *counts, struct st_detail *detail)
{
  struct export_pass x;
  struct journal_checker extra = {export_record, &x};
  struct journal_head head;
  unsigned char *sig = NULL;
  size_t sig_len = 0;
  int r, found;

  memset(&x, 0, sizeof x);
  x.opt = opt;
  if (opt->format == EXPORT_CSV)
    xb_str(&x.out, EXPORT_CSV_HEADER);
  r = found = audit_head_read(a, &head, detail);
  if (r < 0)
    goto out;
  r = audit_verify(journal_path, audit_public_key(a), found == 1 ? &head : NULL, &extra, NULL, detail);
  if (r == 0 && x.out.failed)
    r = ST_E_NO_MEMORY;
  if (r == 0)
    r = export_sign(a, x.out.data != NULL ? x.out.data : "", x.out.len, &sig, &sig_len, detail);
  if (r == 0)
    r = export_publish(out_path, &x.out, sig, sig_len, detail);
  if (r == 0 && counts != NULL)
    *counts = x.counts;
out:
  free(sig);
  free(x.out.data);
  return r;
}

int export_parse_format(const char *name, enum export_format *out)
{
  static const char *const names[] = {"csv", "jsonl", "pem", "index"};
  int r = ST_E_USAGE;
  for (int i = 0; i < 4; i++)
    if (name != NULL && strcmp(name, names[i]) == 0) {
      *out = (enum export_format)i;
      r = 0;
    }
  return r;
}
