/*
 * export.c - writing a signed export of the journal and its manifest
 * (formats in export.h and manifest.h).
 *
 * One pass over the journal through audit_verify: the full check runs and each
 * good record that passes the filters becomes an entry (its seq, event, chain
 * value and where its row starts in a growing buffer). Only when the whole
 * journal has checked out is the range decided (export_trusted_last): entries
 * past it are dropped and the buffer cut back to the first of them. Then the
 * manifest is made from the entries left, FILE and the manifest are signed by
 * the journal key, and the four files are published together through an
 * output group (temporary names, fsync, rename, fsync of the directory).
 */
#include "export.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "audit.h"
#include "encoding.h"
#include "error.h"
#include "journal.h"
#include "manifest.h"
#include "output.h"
#include "xbuf.h"

#define EXPORT_CSV_HEADER \
  "seq,time,event,source,device,serial,reason,csr_sha256,key_sha256,detail,chain\n"

/* A record that passed the filters. */
struct export_entry {
  uint64_t seq;
  size_t offset;               /* where its row starts in the buffer */
  enum journal_event event;
  int row;                     /* 1 when it has a row (pem, index: issued records only) */
  uint8_t chain[32];
};

/* The state of one export pass. */
struct export_pass {
  const struct export_options *opt;
  struct xbuf out;
  struct export_entry *entries;
  size_t n, cap;
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
  char seq[24], time[ST_TIME_LEN + 1], serial[41] = "", csr[65] = "", key[65] = "", chain[65];
  const char *event = journal_event_name(rec->event);
  const char *names[] = {"source", "device", "serial", "reason", "csr_sha256", "key_sha256", "detail", "chain"};
  const char *values[8];
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
  st_hex_encode(chain, rec->chain, 32);
  values[4] = csr, values[5] = key, values[6] = rec->detail, values[7] = chain;
  if (x->opt->format == EXPORT_CSV) {
    xb_str(&x->out, seq);
    xb_put(&x->out, ",", 1);
    xb_str(&x->out, time);
    xb_put(&x->out, ",", 1);
    xb_str(&x->out, event);
    for (int i = 0; i < 8; i++) {
      xb_put(&x->out, ",", 1);
      xb_csv(&x->out, values[i]);
    }
    xb_put(&x->out, "\n", 1);
    goto out;
  }
  if (rec->event == JOURNAL_EVENT_ISSUED && rec->cert_len > 0 && (pem = export_pem(rec)) == NULL) {
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
  for (int i = 0; i < 8; i++) {
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

/* Remembers REC as an entry whose row starts at OFFSET. */
static int export_entry_add(struct export_pass *x, const struct journal_record *rec, size_t offset, int row)
{
  struct export_entry *e = st_array_grow(x->entries, &x->cap, x->n, sizeof *e, 1024, 0);
  if (e == NULL)
    return ST_E_NO_MEMORY;
  x->entries = e;
  e = &x->entries[x->n++];
  e->seq = rec->seq;
  e->offset = offset;
  e->event = rec->event;
  e->row = row;
  memcpy(e->chain, rec->chain, 32);
  return 0;
}

/* The extra checker of audit_verify: filters REC and writes its row. */
static int export_record(void *arg, const struct journal_record *rec, const uint8_t genesis[32],
                         const uint8_t prev_chain[32], struct st_detail *detail)
{
  struct export_pass *x = arg;
  const struct export_options *o = x->opt;
  size_t offset = x->out.len;
  int r = 0, row = 1;
  char *pem = NULL;
  (void)genesis;
  (void)prev_chain;
  if ((o->has_since && rec->time_ms < o->since_ms) || (o->has_until && rec->time_ms > o->until_ms) ||
      (o->source != NULL && strncmp(rec->source != NULL ? rec->source : "", o->source, strlen(o->source)) != 0))
    goto out;
  if ((o->format == EXPORT_PEM || o->format == EXPORT_INDEX) && rec->event != JOURNAL_EVENT_ISSUED) {
    row = 0;
  } else if (o->format == EXPORT_PEM) {
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
  if (r == 0)
    r = export_entry_add(x, rec, offset, row);
  if (r < 0)
    st_detail_set(detail, "record %llu cannot be exported", (unsigned long long)rec->seq);
out:
  free(pem);
  return r;
}

/* The journal's last trusted record, after the full check REP: the end of
 * every export's range. The one place that decides how far an export may
 * list records. */
static uint64_t export_trusted_last(const struct audit_verify_report *rep)
{
  return rep->trusted;
}

/* Drops the entries past LAST (and their rows), then counts the rows left. */
static int export_cut(struct export_pass *x, uint64_t last, struct export_counts *counts)
{
  size_t keep = 0;
  memset(counts, 0, sizeof *counts);
  while (keep < x->n && x->entries[keep].seq <= last)
    keep++;
  if (keep < x->n)
    xb_truncate(&x->out, x->entries[keep].offset);
  x->n = keep;
  for (size_t i = 0; i < x->n; i++)
    if (x->entries[i].row && export_count(counts, journal_event_name(x->entries[i].event)) != 0)
      return ST_E_INTERNAL;
  return 0;
}

/* Fills the manifest M of the export X written to OUT_PATH. */
static int export_manifest_fill(const struct export_pass *x, struct audit *a, const struct export_station *st,
                                const struct audit_verify_report *rep, uint64_t last, const char *out_path,
                                const struct export_counts *counts, struct export_manifest *m,
                                struct st_detail *detail)
{
  const struct export_options *o = x->opt;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned md_len = 0;
  const char *slash = strrchr(out_path, '/');
  BIO *mem = BIO_new(BIO_s_mem());
  time_t now = time(NULL);
  struct tm tm;
  int r = ST_E_CRYPTO, n = 0;

  memset(m, 0, sizeof *m);
  snprintf(m->factory, sizeof m->factory, "%s", st->factory);
  if (mem == NULL || X509_NAME_print_ex(mem, X509_get_subject_name(st->ca_cert), 0, XN_FLAG_RFC2253) < 0 ||
      (n = BIO_read(mem, m->ca_subject, (int)sizeof m->ca_subject - 1)) < 0 ||
      X509_digest(st->ca_cert, EVP_sha256(), md, &md_len) != 1 || md_len != 32 ||
      audit_key_fingerprint(audit_public_key(a), m->key_sha256) != 0) {
    st_detail_set(detail, "the manifest's station values cannot be computed");
    st_detail_add_openssl(detail);
    goto out;
  }
  m->ca_subject[n] = '\0';
  st_hex_encode(m->ca_sha256, md, 32);
  st_hex_encode(m->genesis, rep->journal.genesis, 32);
  snprintf(m->file, sizeof m->file, "%s", slash != NULL ? slash + 1 : out_path);
  m->format = o->format;
  EVP_Digest(x->out.data != NULL ? x->out.data : "", x->out.len, md, NULL, EVP_sha256(), NULL);
  st_hex_encode(m->sha256, md, 32);
  gmtime_r(&now, &tm);
  strftime(m->time, sizeof m->time, "%Y-%m-%dT%H:%M:%SZ", &tm);
  m->journal_last = last;
  if (x->n > 0) {
    m->has_range = 1;
    m->first = x->entries[0].seq;
    m->last = x->entries[x->n - 1].seq;
    st_hex_encode(m->chain, x->entries[x->n - 1].chain, 32);
  }
  m->has_since = o->has_since;
  m->has_until = o->has_until;
  m->has_source = o->source != NULL;
  snprintf(m->since, sizeof m->since, "%s", o->since_text != NULL ? o->since_text : "");
  snprintf(m->until, sizeof m->until, "%s", o->until_text != NULL ? o->until_text : "");
  snprintf(m->source, sizeof m->source, "%s", o->source != NULL ? o->source : "");
  m->complete = !o->has_since && !o->has_until && o->source == NULL && m->has_range && m->first == 1 &&
                m->last == m->journal_last;
  m->counts = *counts;
  r = 0;
out:
  BIO_free(mem);
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

/* One file of an export: its name's suffix and its bytes. */
struct export_file {
  const char *suffix;          /* "", ".sig", ".manifest.json", ".manifest.json.sig" */
  const void *data;
  size_t len;
};

/* Publishes the N files of an export as OUT_PATH + suffix in one output group. */
static int export_publish(const char *out_path, const struct export_file *files, size_t n,
                          struct st_detail *detail)
{
  int r = ST_E_NO_MEMORY, dirfd = -1;
  char *dir_copy = strdup(out_path), *base_copy = strdup(out_path), *name = NULL;
  struct output_group *g = output_group_new();
  const char *dir, *base;
  if (dir_copy == NULL || base_copy == NULL || g == NULL)
    goto out;
  dir = dirname(dir_copy);
  base = basename(base_copy);
  r = ST_E_IO;
  dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0) {
    st_detail_set(detail, "cannot open directory %s for the export: %s", dir, strerror(errno));
    goto out;
  }
  r = 0;
  for (size_t i = 0; i < n && r == 0; i++) {
    free(name);
    if (asprintf(&name, "%s%s", base, files[i].suffix) < 0) {
      name = NULL;
      r = ST_E_NO_MEMORY;
      break;
    }
    r = output_group_stage(g, dirfd, name, files[i].data, files[i].len, 0, detail);
  }
  if (r == 0)
    r = output_group_publish(g, detail);
out:
  output_group_free(g);
  if (dirfd >= 0)
    close(dirfd);
  free(name);
  free(base_copy);
  free(dir_copy);
  return r;
}

int export_write(const char *journal_path, struct audit *a, const struct export_station *st,
                 const struct export_options *opt, const char *out_path, struct export_counts *counts,
                 struct st_detail *detail)
{
  struct export_pass x;
  struct journal_checker extra = {export_record, &x};
  struct journal_head head;
  struct audit_verify_report rep;
  struct export_counts c;
  struct export_manifest *m = NULL;
  struct xbuf mtext = {0};
  unsigned char *sig = NULL, *msig = NULL;
  size_t sig_len = 0, msig_len = 0;
  uint64_t last;
  int r, found;

  memset(&x, 0, sizeof x);
  x.opt = opt;
  if (opt->format == EXPORT_CSV)
    xb_str(&x.out, EXPORT_CSV_HEADER);
  r = found = audit_head_read(a, &head, detail);
  if (r < 0)
    goto out;
  r = audit_verify(journal_path, audit_public_key(a), found == 1 ? &head : NULL, &extra, &rep, detail);
  if (r < 0)
    goto out;
  last = export_trusted_last(&rep);
  r = export_cut(&x, last, &c);
  if (r == 0 && (m = malloc(sizeof *m)) == NULL)
    r = ST_E_NO_MEMORY;
  if (r == 0)
    r = export_manifest_fill(&x, a, st, &rep, last, out_path, &c, m, detail);
  if (r == 0) {
    manifest_write(m, &mtext);
    if (x.out.failed || mtext.failed)
      r = ST_E_NO_MEMORY;
  }
  if (r == 0)
    r = export_sign(a, x.out.data != NULL ? x.out.data : "", x.out.len, &sig, &sig_len, detail);
  if (r == 0)
    r = export_sign(a, mtext.data, mtext.len, &msig, &msig_len, detail);
  if (r == 0) {
    struct export_file files[] = {
      {"", x.out.data != NULL ? x.out.data : "", x.out.len},
      {".sig", sig, sig_len},
      {".manifest.json", mtext.data, mtext.len},
      {".manifest.json.sig", msig, msig_len},
    };
    r = export_publish(out_path, files, sizeof files / sizeof files[0], detail);
  }
  if (r == 0 && counts != NULL)
    *counts = c;
out:
  free(msig);
  free(sig);
  free(m);
  free(mtext.data);
  free(x.entries);
  free(x.out.data);
  return r;
}

const char *export_format_name(enum export_format format)
{
  static const char *const names[] = {"csv", "jsonl", "pem", "index"};
  return (unsigned)format < 4 ? names[format] : "unknown";
}

/* The place of EVENT among the counts: issued, refused, checkpoint, others. */
static int export_event_rank(const char *event)
{
  return strcmp(event, "issued") == 0 ? 0 : strcmp(event, "refused") == 0 ? 1
       : strcmp(event, "checkpoint") == 0 ? 2 : 3;
}

int export_count(struct export_counts *c, const char *event)
{
  return export_count_add(c, event, 1);
}

int export_count_add(struct export_counts *c, const char *event, uint64_t rows)
{
  size_t i = 0, len = strlen(event);
  int rank = export_event_rank(event);
  for (; i < c->events; i++)
    if (strcmp(c->event[i].name, event) == 0)
      break;
  if (i == c->events) {
    if (len == 0 || len >= sizeof c->event[0].name || c->events == EXPORT_EVENTS_MAX)
      return ST_E_EXPORT_INVALID;
    for (i = 0; i < c->events && export_event_rank(c->event[i].name) <= rank; i++)
      ;
    memmove(&c->event[i + 1], &c->event[i], (c->events - i) * sizeof c->event[0]);
    memcpy(c->event[i].name, event, len + 1);
    c->event[i].rows = 0;
    c->events++;
  }
  c->event[i].rows += rows;
  c->rows += rows;
  if (rank == 0)
    c->issued += rows;
  else if (rank == 1)
    c->refused += rows;
  return 0;
}

uint64_t export_count_of(const struct export_counts *c, const char *event)
{
  for (size_t i = 0; i < c->events; i++)
    if (strcmp(c->event[i].name, event) == 0)
      return c->event[i].rows;
  return 0;
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
