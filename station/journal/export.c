/*
 * export.c - writing a signed export of the journal and its manifest
 * (formats in export.h and manifest.h).
 *
 * One pass over the journal through audit_verify, streamed: the full check
 * runs and each good record that passes the filters gets its row in a buffer
 * and an entry (seq, event, chain value, where its row starts). The range
 * (export_trusted_last) can only end after the last checkpoint, which seals
 * every record before it; so at each checkpoint the entries up to it are
 * folded: their rows go into the running SHA-256 of FILE, the counts and the
 * range, and are written to FILE's temporary file (staged in an output group)
 * in chunks of 64 KiB. Only the records since the last checkpoint are held in
 * memory, so an export's memory does not grow with the journal. When the
 * whole journal has checked out, the entries up to the range's end are
 * folded and the rest dropped; the manifest is made from the running values,
 * FILE's digest and the manifest are signed by the journal key (ECDSA over
 * the SHA-256, what `openssl dgst -sha256 -verify` checks), and the four
 * files are published together (temporary names, fsync, rename, fsync of the
 * directory). A failed check or write publishes nothing and removes the
 * temporary file.
 */
#include "export.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/asn1.h>
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

/* A record that passed the filters, not yet folded into the file. */
struct export_entry {
  uint64_t seq;
  size_t offset;               /* where its row starts in the buffer */
  enum journal_event event;
  int row;                     /* 1 when it has a row (pem, index: issued records only) */
  uint8_t chain[32];
};

/* Bytes of folded rows kept before one write to the file. */
#define EXPORT_WRITE_CHUNK (64 * 1024)

/* The state of one export pass. `out` holds the bytes not yet written to the
 * file: [0, folded) are rows already folded (hashed and counted), the rest
 * the rows of the entries since the last checkpoint. */
struct export_pass {
  const struct export_options *opt;
  struct xbuf out;
  size_t folded;
  struct export_entry *entries;  /* the records since the last checkpoint */
  size_t n, cap;
  EVP_MD_CTX *sha;             /* SHA-256 of every folded byte */
  int fd;                      /* the staged file */
  const char *name;            /* its final name, for messages */
  int io;                      /* 0, or the code of a failed write */
  struct st_detail io_detail;
  struct export_counts counts; /* of the folded rows */
  int has_range;
  uint64_t first, last;        /* seq of the first and last folded entries */
  uint8_t last_chain[32];
};

/* The certificate of REC as PEM text into a new string, or NULL when its
 * bytes are not one DER SEQUENCE. The DER is written as it is in the
 * journal (what PEM_write_bio_X509 writes for a certificate: base64 in lines
 * of 64 characters between the CERTIFICATE lines), without decoding the
 * certificate. */
static char *export_pem(const struct journal_record *rec)
{
  static const char head[] = "-----BEGIN CERTIFICATE-----\n", tail[] = "-----END CERTIFICATE-----\n";
  const unsigned char *p = rec->cert_der;
  long len = 0;
  int tag = 0, cls = 0;
  size_t lines = (rec->cert_len + 47) / 48, cap = sizeof head + lines * 65 + sizeof tail, n = 0;
  char *text = NULL;
  if (rec->cert_len == 0 || rec->cert_len > LONG_MAX ||
      ASN1_get_object(&p, &len, &tag, &cls, (long)rec->cert_len) != V_ASN1_CONSTRUCTED || tag != V_ASN1_SEQUENCE ||
      cls != V_ASN1_UNIVERSAL || p + len != rec->cert_der + rec->cert_len || (text = malloc(cap)) == NULL)
    return NULL;
  memcpy(text, head, sizeof head - 1);
  n = sizeof head - 1;
  for (size_t off = 0; off < rec->cert_len; off += 48) {
    size_t chunk = rec->cert_len - off < 48 ? rec->cert_len - off : 48;
    n += (size_t)EVP_EncodeBlock((unsigned char *)text + n, rec->cert_der + off, (int)chunk);
    text[n++] = '\n';
  }
  memcpy(text + n, tail, sizeof tail);
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

/* Writes the folded bytes to the file when ALL or when there are enough. */
static void export_flush(struct export_pass *x, int all)
{
  if (x->folded == 0 || (!all && x->folded < EXPORT_WRITE_CHUNK))
    return;
  if (x->io == 0)
    x->io = output_fd_write(x->fd, x->name, x->out.data, x->folded, &x->io_detail);
  memmove(x->out.data, x->out.data + x->folded, x->out.len - x->folded);
  for (size_t i = 0; i < x->n; i++)
    x->entries[i].offset -= x->folded;
  xb_truncate(&x->out, x->out.len - x->folded);
  x->folded = 0;
}

/* Folds the entries up to seq LAST into the file's hash, counts and range,
 * and drops them; their rows stay in the buffer until export_flush writes
 * them. */
static int export_fold(struct export_pass *x, uint64_t last)
{
  size_t k = 0, end;
  while (k < x->n && x->entries[k].seq <= last)
    k++;
  end = k < x->n ? x->entries[k].offset : x->out.len;
  if (EVP_DigestUpdate(x->sha, x->out.data + x->folded, end - x->folded) != 1)
    return ST_E_CRYPTO;
  for (size_t i = 0; i < k; i++) {
    const struct export_entry *e = &x->entries[i];
    if (e->row && export_count(&x->counts, journal_event_name(e->event)) != 0)
      return ST_E_INTERNAL;
    if (!x->has_range)
      x->first = e->seq;
    x->has_range = 1;
    x->last = e->seq;
    memcpy(x->last_chain, e->chain, 32);
  }
  if (k < x->n)
    memmove(x->entries, x->entries + k, (x->n - k) * sizeof *x->entries);
  x->n -= k;
  x->folded = end;
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
    goto fold;
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
  if (r < 0) {
    st_detail_set(detail, "record %llu cannot be exported", (unsigned long long)rec->seq);
    goto out;
  }
fold:
  /* a checkpoint seals every record before it: those rows stay in any range */
  if (rec->event == JOURNAL_EVENT_CHECKPOINT && (r = export_fold(x, rec->seq)) == 0)
    export_flush(x, 0);
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

/* Fills the manifest M of the export X written to OUT_PATH (every row
 * folded), and DIGEST with the SHA-256 of the file. */
static int export_manifest_fill(struct export_pass *x, struct audit *a, const struct export_station *st,
                                const struct audit_verify_report *rep, uint64_t last, const char *out_path,
                                const struct export_counts *counts, struct export_manifest *m,
                                uint8_t digest[32], struct st_detail *detail)
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
  if (EVP_DigestFinal_ex(x->sha, md, &md_len) != 1 || md_len != 32) {
    st_detail_set(detail, "the export's SHA-256 cannot be computed");
    goto out;
  }
  memcpy(digest, md, 32);
  st_hex_encode(m->sha256, md, 32);
  gmtime_r(&now, &tm);
  strftime(m->time, sizeof m->time, "%Y-%m-%dT%H:%M:%SZ", &tm);
  m->journal_last = last;
  if (x->has_range) {
    m->has_range = 1;
    m->first = x->first;
    m->last = x->last;
    st_hex_encode(m->chain, x->last_chain, 32);
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

/* Signs the SHA-256 DIGEST of a file with the journal key into a new DER
 * *SIG (ECDSA-SHA256: what `openssl dgst -sha256 -verify` checks against
 * the file's bytes), and checks it with the public half. */
static int export_sign(struct audit *a, const uint8_t digest[32], unsigned char **sig, size_t *sig_len,
                       struct st_detail *detail)
{
  int r = ST_E_JOURNAL_KEY;
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(audit_signer(a), NULL);
  EVP_PKEY_CTX *vctx = EVP_PKEY_CTX_new(audit_public_key(a), NULL);
  unsigned char buf[160];
  size_t n = sizeof buf;
  *sig = NULL;
  if (ctx == NULL || vctx == NULL || EVP_PKEY_sign_init(ctx) != 1 ||
      EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) != 1 || EVP_PKEY_sign(ctx, buf, &n, digest, 32) != 1) {
    st_detail_set(detail, "the token did not sign the export with the journal key");
    st_detail_add_openssl(detail);
    goto out;
  }
  if (EVP_PKEY_verify_init(vctx) != 1 || EVP_PKEY_CTX_set_signature_md(vctx, EVP_sha256()) != 1 ||
      EVP_PKEY_verify(vctx, buf, n, digest, 32) != 1) {
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
  EVP_PKEY_CTX_free(vctx);
  EVP_PKEY_CTX_free(ctx);
  return r;
}

/* Where an export goes: the directory of OUT_PATH, open, and the names of
 * its four files; the group they are published in. */
struct export_target {
  int dirfd;
  char *base;                  /* OUT_PATH's file name */
  char *names[4];              /* base + "", ".sig", ".manifest.json", ".manifest.json.sig" */
  struct output_group *g;
};

static void export_target_free(struct export_target *t)
{
  output_group_free(t->g);
  if (t->dirfd >= 0)
    close(t->dirfd);
  for (int i = 0; i < 4; i++)
    free(t->names[i]);
  free(t->base);
}

/* Opens OUT_PATH's directory and a group for the export's files. */
static int export_target_open(struct export_target *t, const char *out_path, struct st_detail *detail)
{
  static const char *const suffix[4] = {"", ".sig", ".manifest.json", ".manifest.json.sig"};
  int r = ST_E_NO_MEMORY;
  char *dir_copy = strdup(out_path), *base_copy = strdup(out_path);
  const char *dir;
  memset(t, 0, sizeof *t);
  t->dirfd = -1;
  if (dir_copy == NULL || base_copy == NULL || (t->g = output_group_new()) == NULL ||
      (t->base = strdup(basename(base_copy))) == NULL)
    goto out;
  for (int i = 0; i < 4; i++)
    if (asprintf(&t->names[i], "%s%s", t->base, suffix[i]) < 0) {
      t->names[i] = NULL;
      goto out;
    }
  dir = dirname(dir_copy);
  r = ST_E_IO;
  t->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (t->dirfd < 0) {
    st_detail_set(detail, "cannot open directory %s for the export: %s", dir, strerror(errno));
    goto out;
  }
  r = 0;
out:
  free(base_copy);
  free(dir_copy);
  return r;
}

int export_write(const char *journal_path, struct audit *a, const struct export_station *st,
                 const struct export_options *opt, const char *out_path, struct export_counts *counts,
                 struct st_detail *detail)
{
  struct export_pass x;
  struct export_target t;
  struct journal_checker extra = {export_record, &x};
  struct journal_head head;
  struct audit_verify_report rep;
  struct export_manifest *m = NULL;
  struct xbuf mtext = {0};
  unsigned char *sig = NULL, *msig = NULL;
  uint8_t digest[32], mdigest[32];
  size_t sig_len = 0, msig_len = 0;
  uint64_t last;
  int r, found, fd_closed;

  memset(&x, 0, sizeof x);
  x.opt = opt;
  x.fd = -1;
  r = export_target_open(&t, out_path, detail);
  if (r < 0)
    goto out;
  x.name = t.names[0];
  r = ST_E_NO_MEMORY;
  if ((x.sha = EVP_MD_CTX_new()) == NULL)
    goto out;
  r = ST_E_CRYPTO;
  if (EVP_DigestInit_ex(x.sha, EVP_sha256(), NULL) != 1)
    goto out;
  if (opt->format == EXPORT_CSV) {
    xb_str(&x.out, EXPORT_CSV_HEADER);
    if ((r = export_fold(&x, 0)) < 0)
      goto out;
  }
  r = output_group_stage_fd(t.g, t.dirfd, t.names[0], &x.fd, detail);
  if (r < 0)
    goto out;
  r = found = audit_head_read(a, &head, detail);
  if (r < 0)
    goto out;
  r = audit_verify(journal_path, audit_public_key(a), found == 1 ? &head : NULL, &extra, &rep, detail);
  if (r < 0)
    goto out;
  last = export_trusted_last(&rep);
  r = export_fold(&x, last); /* rows past LAST are dropped with the buffer */
  if (r == 0 && x.out.failed)
    r = ST_E_NO_MEMORY;
  if (r < 0)
    goto out;
  xb_truncate(&x.out, x.folded);
  export_flush(&x, 1);
  fd_closed = close(x.fd);
  x.fd = -1;
  if (x.io == 0 && fd_closed != 0) {
    x.io = errno == ENOSPC || errno == EDQUOT ? ST_E_NO_SPACE : ST_E_IO;
    st_detail_set(&x.io_detail, "cannot write %s: %s", x.name, strerror(errno));
  }
  if ((r = x.io) < 0) {
    *detail = x.io_detail;
    goto out;
  }
  r = ST_E_NO_MEMORY;
  if ((m = malloc(sizeof *m)) == NULL)
    goto out;
  r = export_manifest_fill(&x, a, st, &rep, last, out_path, &x.counts, m, digest, detail);
  if (r == 0) {
    manifest_write(m, &mtext);
    if (mtext.failed)
      r = ST_E_NO_MEMORY;
  }
  if (r == 0 && EVP_Digest(mtext.data, mtext.len, mdigest, NULL, EVP_sha256(), NULL) != 1)
    r = ST_E_CRYPTO;
  if (r == 0)
    r = export_sign(a, digest, &sig, &sig_len, detail);
  if (r == 0)
    r = export_sign(a, mdigest, &msig, &msig_len, detail);
  if (r == 0)
    r = output_group_stage(t.g, t.dirfd, t.names[1], sig, sig_len, 0, detail);
  if (r == 0)
    r = output_group_stage(t.g, t.dirfd, t.names[2], mtext.data, mtext.len, 0, detail);
  if (r == 0)
    r = output_group_stage(t.g, t.dirfd, t.names[3], msig, msig_len, 0, detail);
  if (r == 0)
    r = output_group_publish(t.g, detail);
  if (r == 0 && counts != NULL)
    *counts = x.counts;
out:
  if (x.fd >= 0)
    close(x.fd);
  export_target_free(&t); /* removes the staged files when nothing was published */
  EVP_MD_CTX_free(x.sha);
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
