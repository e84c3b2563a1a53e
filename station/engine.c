/*
 * engine.c - the signing engine (see engine.h for the contract).
 *
 * A request goes: parse -> same CSR issued before? -> policy -> identity rules
 * against the journal -> fresh serial -> build, sign in the HSM, verify ->
 * journal record appended. Results are released by the caller after
 * engine_commit; events wait in a queue until then.
 */
#include "engine.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/rand.h>

#include "audit.h"
#include "certificate.h"
#include "config.h"
#include "csr.h"
#include "encoding.h"
#include "export.h"
#include "hsm.h"
#include "journal.h"
#include "log.h"
#include "policy.h"
#include "workers.h"

/* An event waiting for its record to be durable. */
struct engine_pending_event {
  enum engine_event_kind kind;
  char *source;
  char device[37];
  char serial_hex[41];
  int code;
  char *detail;
  uint64_t seq;
};

/* A request prepared beside the engine (see engine_prepare). */
struct engine_request {
  int code;                         /* ST_OK, or the refusal found while preparing */
  struct st_detail detail;
  struct csr *csr;                  /* NULL when the bytes did not parse */
  uint8_t csr_sha256[32];
  uint8_t key_sha256[32];
  struct policy_identity id;
};

/* A signature check running on a pool thread. */
struct engine_check {
  struct engine *engine;
  X509 *cert;
  char serial_hex[41];
};

struct engine {
  const struct station_config *cfg;
  struct policy policy;
  X509 *ca_cert;
  X509 *root_cert;
  struct journal *journal;
  struct hsm *hsm;
  struct hsm_key *ca_key;
  int logged_in;
  int failed;                       /* a commit failed: refuse everything */
  struct engine_sink *sinks;
  size_t sink_count;
  struct engine_pending_event *pending;
  size_t pending_count, pending_cap;
  struct workers *pool;             /* CSR checks and post-signing checks */
  struct work_group *checks;        /* the post-signing checks since the last commit */
  pthread_mutex_t check_lock;
  int check_failed;                 /* a signature the HSM made did not verify */
  char check_failed_serial[41];
  struct audit *audit;              /* journal key and head on the token (audit hooks below) */
};

/* ---- events ---- */

static int engine_queue_event(struct engine *e, enum engine_event_kind kind, const char *source,
                              const struct engine_result *res)
{
  int r = ST_E_NO_MEMORY;
  struct engine_pending_event *ev;
  if (e->pending_count == e->pending_cap) {
    size_t cap = e->pending_cap ? e->pending_cap * 2 : 64;
    struct engine_pending_event *grown = realloc(e->pending, cap * sizeof *grown);
    if (grown == NULL)
      goto out;
    e->pending = grown;
    e->pending_cap = cap;
  }
  ev = &e->pending[e->pending_count];
  memset(ev, 0, sizeof *ev);
  ev->kind = kind;
  ev->code = res->code;
  ev->seq = res->seq;
  memcpy(ev->device, res->device, sizeof ev->device);
  memcpy(ev->serial_hex, res->serial_hex, sizeof ev->serial_hex);
  ev->source = strdup(source);
  ev->detail = strdup(res->detail.text);
  if (ev->source == NULL || ev->detail == NULL) {
    free(ev->source);
    free(ev->detail);
    goto out;
  }
  e->pending_count++;
  r = ST_OK;
out:
  return r;
}

static void engine_flush_events(struct engine *e, int deliver)
{
  for (size_t i = 0; i < e->pending_count; i++) {
    struct engine_pending_event *p = &e->pending[i];
    struct engine_event ev = {p->kind, p->source, p->device, p->serial_hex, p->code, p->detail, p->seq};
    for (size_t s = 0; deliver && s < e->sink_count; s++)
      e->sinks[s].emit(e->sinks[s].arg, &ev);
    free(p->source);
    free(p->detail);
  }
  e->pending_count = 0;
}

int engine_add_sink(struct engine *e, const struct engine_sink *sink)
{
  int r = ST_E_NO_MEMORY;
  struct engine_sink *grown = realloc(e->sinks, (e->sink_count + 1) * sizeof *grown);
  if (grown != NULL) {
    e->sinks = grown;
    e->sinks[e->sink_count++] = *sink;
    r = ST_OK;
  }
  return r;
}

/* ---- opening ---- */

/* 1 when the CA certificate's subject holds OU=FACTORY. */
static int engine_ca_serves_factory(X509 *ca, const char *factory)
{
  const X509_NAME *name = X509_get_subject_name(ca);
  int found = 0;
  for (int i = X509_NAME_get_index_by_NID(name, NID_organizationalUnitName, -1); i >= 0;
       i = X509_NAME_get_index_by_NID(name, NID_organizationalUnitName, i)) {
    const ASN1_STRING *v = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
    if ((size_t)ASN1_STRING_length(v) == strlen(factory) &&
        memcmp(ASN1_STRING_get0_data(v), factory, strlen(factory)) == 0)
      found = 1;
  }
  return found;
}

static enum policy_production engine_policy_production(enum config_production p)
{
  return p == CONFIG_PRODUCTION_REQUIRE ? POLICY_PRODUCTION_REQUIRE
       : p == CONFIG_PRODUCTION_ALLOW   ? POLICY_PRODUCTION_ALLOW
                                        : POLICY_PRODUCTION_FORBID;
}

int engine_open(const struct station_config *cfg, struct engine **out, struct st_detail *detail)
{
  int r = ST_E_NO_MEMORY;
  struct engine *e = calloc(1, sizeof *e);
  struct journal_open_report report;
  time_t now = time(NULL);

  if (e == NULL)
    goto out;
  pthread_mutex_init(&e->check_lock, NULL);
  e->pool = workers_new(workers_default_threads());
  e->checks = work_group_new();
  if (e->pool == NULL || e->checks == NULL)
    goto out;
  e->cfg = cfg;
  e->policy.factory = cfg->factory;
  e->policy.production = engine_policy_production(cfg->production);
  r = cert_load_pem(cfg->ca_certificate, &e->ca_cert, detail);
  if (r == ST_OK)
    r = cert_load_pem(cfg->ca_root, &e->root_cert, detail);
  if (r == ST_OK)
    r = cert_check_local_ca(e->ca_cert, now, detail);
  if (r == ST_OK)
    r = cert_check_chain(e->ca_cert, e->root_cert, now, detail);
  if (r != ST_OK)
    goto out;
  if (!engine_ca_serves_factory(e->ca_cert, cfg->factory)) {
    st_detail_set(detail, "the local CA certificate %s does not carry OU=%s, the configured factory",
                  cfg->ca_certificate, cfg->factory);
    r = ST_E_CA_CERT;
    goto out;
  }
  r = journal_open(cfg->journal_path, &e->journal, &report, detail);
  if (r != ST_OK)
    goto out;
  if (report.torn_bytes_dropped > 0)
    st_warn("journal: cut a torn last record (%llu bytes) left by an interrupted write; it had not been released",
            (unsigned long long)report.torn_bytes_dropped);
  *out = e;
  e = NULL;
  r = ST_OK;
out:
  engine_close(e);
  return r;
}

/* Signs a random digest with the token key and checks it with the CA certificate. */
static int engine_prove_key(struct engine *e, struct st_detail *detail)
{
  int r = ST_E_CA_MISMATCH;
  unsigned char challenge[32], sig[256];
  size_t sig_len = sizeof sig;
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  EVP_PKEY *token_public = hsm_key_public(e->ca_key);
  EVP_PKEY *cert_public = X509_get0_pubkey(e->ca_cert);

  if (md == NULL || RAND_bytes(challenge, sizeof challenge) != 1) {
    r = ST_E_CRYPTO;
    goto out;
  }
  if (token_public != NULL && EVP_PKEY_eq(token_public, cert_public) != 1) {
    st_detail_set(detail, "the public key of token key \"%s\" differs from the key in %s",
                  e->cfg->hsm_key, e->cfg->ca_certificate);
    goto out;
  }
  if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, hsm_key_signer(e->ca_key)) != 1 ||
      EVP_DigestSign(md, sig, &sig_len, challenge, sizeof challenge) != 1) {
    st_detail_set(detail, "the token refused a test signature with key \"%s\"", e->cfg->hsm_key);
    st_detail_add_openssl(detail);
    r = ST_E_HSM;
    goto out;
  }
  EVP_MD_CTX_reset(md);
  if (EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, cert_public) != 1 ||
      EVP_DigestVerify(md, sig, sig_len, challenge, sizeof challenge) != 1) {
    st_detail_set(detail, "a test signature by token key \"%s\" does not verify with %s: they are not a pair",
                  e->cfg->hsm_key, e->cfg->ca_certificate);
    goto out;
  }
  r = ST_OK;
out:
  EVP_PKEY_free(token_public);
  EVP_MD_CTX_free(md);
  ERR_clear_error();
  return r;
}

static void engine_warn_key_attributes(struct engine *e)
{
  struct hsm_key_info info;
  if (hsm_key_info(e->ca_key, &info) != ST_OK)
    return;
  if (info.extractable == 1)
    st_warn("the CA key \"%s\" is extractable: it could be copied out of the token; create it with `station ca init`",
            e->cfg->hsm_key);
  if (info.sensitive == 0)
    st_warn("the CA key \"%s\" is not sensitive: the token may reveal its value", e->cfg->hsm_key);
}

int engine_login(struct engine *e, const char *pin, struct st_detail *detail)
{
  int r = ST_OK;
  if (e->hsm == NULL)
    r = hsm_open(e->cfg->hsm_module, e->cfg->hsm_token, &e->hsm, detail);
  if (r == ST_OK)
    r = hsm_login(e->hsm, pin, detail);
  if (r == ST_OK && e->ca_key == NULL) {
    r = hsm_find_key(e->hsm, e->cfg->hsm_key, &e->ca_key, detail);
    if (r == ST_OK)
      r = engine_prove_key(e, detail);
    if (r == ST_OK)
      engine_warn_key_attributes(e);
    if (r != ST_OK) {
      hsm_key_free(e->ca_key);
      e->ca_key = NULL;
    }
  }
  if (r == ST_OK)
    r = engine_audit_login(e, detail);
  e->logged_in = r == ST_OK;
  return r;
}

int engine_logout(struct engine *e)
{
  int r = ST_OK;
  if (e->hsm != NULL)
    r = hsm_logout(e->hsm);
  e->logged_in = 0;
  return r;
}

int engine_logged_in(const struct engine *e)
{
  return e->logged_in;
}

/* ---- requests ---- */

/* Fills RES from an issued journal record (a certificate handed back). */
static int engine_result_from_record(struct engine_result *res, const struct journal_record *rec)
{
  int r = ST_E_NO_MEMORY;
  res->code = ST_OK;
  res->from_journal = 1;
  res->seq = 0;
  snprintf(res->device, sizeof res->device, "%s", rec->device != NULL ? rec->device : "");
  st_hex_encode(res->serial_hex, rec->serial, rec->serial_len > 20 ? 20 : rec->serial_len);
  res->cert_der = malloc(rec->cert_len);
  if (res->cert_der == NULL)
    goto out;
  memcpy(res->cert_der, rec->cert_der, rec->cert_len);
  res->cert_len = rec->cert_len;
  r = ST_OK;
out:
  return r;
}

/* 1 when the subject of the certificate in REC is byte-equal to REQ's subject. */
static int engine_same_subject(const struct journal_record *rec, const struct csr *req)
{
  const unsigned char *p = rec->cert_der;
  X509 *cert = d2i_X509(NULL, &p, (long)rec->cert_len);
  int same = cert != NULL && X509_NAME_cmp(X509_get_subject_name(cert), csr_subject(req)) == 0;
  X509_free(cert);
  return same;
}

/* Appends the journal record of RES (issued or refused) and queues its event. */
static int engine_record(struct engine *e, const char *source, struct engine_result *res,
                         const uint8_t *key_sha256, const uint8_t *serial, size_t serial_len)
{
  int r;
  struct journal_record rec;
  memset(&rec, 0, sizeof rec);
  rec.event = res->code == ST_OK ? JOURNAL_EVENT_ISSUED : JOURNAL_EVENT_REFUSED;
  rec.source = (char *)source;
  rec.device = res->device[0] != '\0' ? res->device : NULL;
  memcpy(rec.csr_sha256, res->csr_sha256, 32);
  rec.has_csr_sha256 = 1;
  if (key_sha256 != NULL) {
    memcpy(rec.key_sha256, key_sha256, 32);
    rec.has_key_sha256 = 1;
  }
  if (serial != NULL) {
    memcpy(rec.serial, serial, serial_len);
    rec.serial_len = serial_len;
  }
  rec.reason = res->code == ST_OK ? NULL : (char *)st_error_name(res->code);
  rec.detail = res->detail.text[0] != '\0' ? res->detail.text : NULL;
  rec.cert_der = res->cert_der;
  rec.cert_len = res->cert_len;
  r = journal_append(e->journal, &rec);
  if (r == ST_OK) {
    res->seq = rec.seq;
    r = engine_queue_event(e, res->code == ST_OK ? ENGINE_EVENT_ISSUED : ENGINE_EVENT_REFUSED, source, res);
  }
  return r;
}

/* The identity rules: may return a handed-back certificate (1), a refusal
 * code in RES (0 with res->code set), or go on to sign (0 with ST_OK). */
static int engine_check_identity(struct engine *e, const struct csr *req, const uint8_t key_sha256[32],
                                 struct engine_result *res, int *handed_back)
{
  int r = ST_OK, found;
  struct journal_record rec;
  memset(&rec, 0, sizeof rec);

  found = journal_find_key(e->journal, key_sha256, &rec);
  if (found < 0) {
    r = found;
    goto out;
  }
  if (found == 1 && strcmp(rec.device, res->device) != 0) {
    res->code = ST_E_KEY_REUSED;
    st_detail_set(&res->detail, "this public key is already certified for device %s (journal record %llu)",
                  rec.device, (unsigned long long)rec.seq);
    goto out;
  }
  journal_record_cleanup(&rec);
  found = journal_find_device(e->journal, res->device, &rec);
  if (found < 0) {
    r = found;
    goto out;
  }
  if (found == 1 && rec.has_key_sha256 && memcmp(rec.key_sha256, key_sha256, 32) == 0 &&
      engine_same_subject(&rec, req)) {
    r = engine_result_from_record(res, &rec);
    *handed_back = 1;
    goto out;
  }
  if (found == 1 && e->cfg->reissue != CONFIG_REISSUE_ALLOW) {
    char serial[41];
    st_hex_encode(serial, rec.serial, rec.serial_len > 20 ? 20 : rec.serial_len);
    res->code = ST_E_DEVICE_KNOWN;
    st_detail_set(&res->detail, "device %s already holds certificate %s (journal record %llu) for %s",
                  res->device, serial, (unsigned long long)rec.seq,
                  memcmp(rec.key_sha256, key_sha256, 32) != 0 ? "another key" : "this key with another subject");
    goto out;
  }
out:
  journal_record_cleanup(&rec);
  return r;
}

/* Picks a serial number this journal has never issued. */
static int engine_fresh_serial(struct engine *e, uint8_t serial[CERT_SERIAL_BYTES])
{
  int r = ST_E_CRYPTO;
  for (int tries = 0; tries < 16; tries++) {
    r = cert_random_serial(serial);
    if (r != ST_OK || !journal_serial_used(e->journal, serial, CERT_SERIAL_BYTES))
      break;
    r = ST_E_CRYPTO;
  }
  return r;
}

/* Pool task: checks a certificate the HSM signed against the CA certificate's
 * key. A failure stops the engine at its next commit: nothing of that group
 * is released or made durable. */
static void engine_check_signature(void *arg)
{
  struct engine_check *check = arg;
  struct engine *e = check->engine;
  int ok = X509_verify(check->cert, X509_get0_pubkey(e->ca_cert)) == 1;
  ERR_clear_error();
  if (!ok) {
    pthread_mutex_lock(&e->check_lock);
    if (!e->check_failed)
      memcpy(e->check_failed_serial, check->serial_hex, sizeof e->check_failed_serial);
    e->check_failed = 1;
    pthread_mutex_unlock(&e->check_lock);
  }
  X509_free(check->cert);
  free(check);
}

/* Signs a certificate for REQ, records it in RES and queues its signature check. */
static int engine_issue(struct engine *e, const struct csr *req, struct engine_result *res,
                        uint8_t serial[CERT_SERIAL_BYTES])
{
  int r = ST_E_HSM_PIN;
  X509 *cert = NULL;
  unsigned char *der = NULL;
  int der_len;
  struct engine_check *check = NULL;

  if (!e->logged_in || e->ca_key == NULL) {
    st_detail_set(&res->detail, "the station is not logged in to the HSM");
    goto out;
  }
  r = engine_fresh_serial(e, serial);
  if (r != ST_OK)
    goto out;
  r = cert_issue_device(req, e->ca_cert, hsm_key_signer(e->ca_key), NULL, serial, e->cfg->validity_days, time(NULL),
                        &cert, &res->detail);
  if (r != ST_OK)
    goto out;
  r = ST_E_NO_MEMORY;
  der_len = i2d_X509(cert, &der);
  check = calloc(1, sizeof *check);
  if (der_len <= 0 || check == NULL || (res->cert_der = malloc((size_t)der_len)) == NULL)
    goto out;
  memcpy(res->cert_der, der, (size_t)der_len);
  res->cert_len = (size_t)der_len;
  st_hex_encode(res->serial_hex, serial, CERT_SERIAL_BYTES);
  check->engine = e;
  check->cert = cert;
  memcpy(check->serial_hex, res->serial_hex, sizeof check->serial_hex);
  cert = NULL;
  workers_submit(e->pool, e->checks, engine_check_signature, check);
  check = NULL;
  r = ST_OK;
out:
  free(check);
  OPENSSL_free(der);
  X509_free(cert);
  return r;
}

int engine_prepare(const struct engine *e, const uint8_t *data, size_t len, struct engine_request **out)
{
  int r = ST_E_NO_MEMORY;
  struct engine_request *req = calloc(1, sizeof *req);
  if (req == NULL)
    goto out;
  req->code = csr_parse(data, len, &req->csr, &req->detail);
  if (req->code != ST_OK) {
    EVP_Digest(data, len, req->csr_sha256, NULL, EVP_sha256(), NULL);
  } else {
    csr_sha256(req->csr, req->csr_sha256);
    req->code = policy_check(&e->policy, req->csr, &req->id, &req->detail);
    if (req->code == ST_OK)
      csr_key_sha256(req->csr, req->key_sha256);
  }
  *out = req;
  r = ST_OK;
out:
  return r;
}

void engine_request_free(struct engine_request *req)
{
  if (req == NULL)
    return;
  csr_free(req->csr);
  free(req);
}

int engine_decide(struct engine *e, const char *source, const struct engine_request *req, struct engine_result *res)
{
  int r = ST_E_JOURNAL;
  struct journal_record rec;
  uint8_t serial[CERT_SERIAL_BYTES];
  int handed_back = 0, found;

  memset(res, 0, sizeof *res);
  memset(&rec, 0, sizeof rec);
  if (e->failed)
    goto out;
  memcpy(res->csr_sha256, req->csr_sha256, sizeof res->csr_sha256);
  if (req->csr != NULL) {
    /* the same CSR issued before is handed back, whatever the policy says now */
    found = journal_find_csr(e->journal, req->csr_sha256, &rec);
    if (found != 0) {
      r = found < 0 ? found : engine_result_from_record(res, &rec);
      if (r == ST_OK)
        r = engine_queue_event(e, ENGINE_EVENT_REDELIVERED, source, res);
      goto out;
    }
  }
  if (req->code != ST_OK) {
    res->code = req->code;
    res->detail = req->detail;
    r = engine_record(e, source, res, NULL, NULL, 0);
    goto out;
  }
  memcpy(res->device, req->id.device_id, sizeof res->device);
  r = engine_check_identity(e, req->csr, req->key_sha256, res, &handed_back);
  if (r != ST_OK || handed_back) {
    if (r == ST_OK)
      r = engine_queue_event(e, ENGINE_EVENT_REDELIVERED, source, res);
    goto out;
  }
  if (res->code != ST_OK) {
    r = engine_record(e, source, res, req->key_sha256, NULL, 0);
    goto out;
  }
  r = engine_issue(e, req->csr, res, serial);
  if (r != ST_OK)
    goto out;
  r = engine_record(e, source, res, req->key_sha256, serial, sizeof serial);
out:
  if (r != ST_OK) {
    free(res->cert_der);
    res->cert_der = NULL;
    res->cert_len = 0;
    res->code = r;
  }
  journal_record_cleanup(&rec);
  return r;
}

int engine_submit(struct engine *e, const char *source, const uint8_t *data, size_t len,
                  struct engine_result *res)
{
  struct engine_request *req = NULL;
  int r = engine_prepare(e, data, len, &req);
  if (r == ST_OK)
    r = engine_decide(e, source, req, res);
  else
    memset(res, 0, sizeof *res), res->code = r;
  engine_request_free(req);
  return r;
}

int engine_refuse(struct engine *e, const char *source, int code, const char *detail,
                  struct engine_result *res)
{
  int r = ST_E_JOURNAL;
  memset(res, 0, sizeof *res);
  if (e->failed)
    goto out;
  res->code = code;
  st_detail_set(&res->detail, "%s", detail != NULL ? detail : "");
  r = engine_record(e, source, res, NULL, NULL, 0);
out:
  return r;
}

int engine_commit(struct engine *e, struct st_detail *detail)
{
  int r = ST_E_JOURNAL;
  work_group_wait(e->checks);
  if (e->check_failed && !e->failed) {
    st_detail_set(detail, "certificate %s signed by the HSM does not verify with the CA certificate; "
                  "nothing of this group was released or journaled", e->check_failed_serial);
    e->failed = 1;
    engine_flush_events(e, 0);
    r = ST_E_SIGN_VERIFY;
    goto out;
  }
  if (e->failed) {
    st_detail_set(detail, "the engine stopped after an earlier fault; restart the station");
    goto out;
  }
  r = journal_commit(e->journal, detail);
  if (r != ST_OK) {
    e->failed = 1;
    engine_flush_events(e, 0);
    goto out;
  }
  engine_flush_events(e, 1);
  r = engine_audit_commit(e, detail);
out:
  return r;
}

void engine_result_cleanup(struct engine_result *res)
{
  if (res == NULL)
    return;
  free(res->cert_der);
  memset(res, 0, sizeof *res);
}

struct workers *engine_workers(const struct engine *e)
{
  return e->pool;
}

X509 *engine_ca_cert(const struct engine *e)
{
  return e->ca_cert;
}

X509 *engine_root_cert(const struct engine *e)
{
  return e->root_cert;
}

void engine_counts(const struct engine *e, uint64_t *records, uint64_t *issued, uint64_t *refused)
{
  journal_counts(e->journal, records, issued, refused);
}

void engine_close(struct engine *e)
{
  if (e == NULL)
    return;
  engine_audit_close(e);
  work_group_free(e->checks);
  workers_free(e->pool);
  pthread_mutex_destroy(&e->check_lock);
  engine_flush_events(e, 0);
  free(e->pending);
  free(e->sinks);
  journal_close(e->journal);
  hsm_key_free(e->ca_key);
  hsm_close(e->hsm);
  X509_free(e->ca_cert);
  X509_free(e->root_cert);
  free(e);
}

/* ---- audit hooks: the journal key, checkpoints and the head (audit.h) ---- */

/* Codes that mean the journal on disk is not the one the token vouches for. */
static int engine_audit_fatal(int code)
{
  return code == ST_E_JOURNAL_REPLACED || code == ST_E_JOURNAL_TRUNCATED || code == ST_E_JOURNAL_ROLLBACK;
}

int engine_audit_login(struct engine *e, struct st_detail *detail)
{
  int r = ST_OK;
  if (e->audit == NULL)
    r = audit_open(e->hsm, e->cfg->hsm_journal_key, &e->audit, detail);
  if (r == ST_OK && journal_pending(e->journal) == 0)
    r = audit_check_journal(e->audit, e->journal, detail);
  if (engine_audit_fatal(r))
    e->failed = 1; /* never sign on top of a journal that was cut or rolled back */
  return r;
}

int engine_audit_commit(struct engine *e, struct st_detail *detail)
{
  int r = ST_OK;
  uint64_t last = 0;
  uint8_t chain[32];
  if (e->audit == NULL || e->failed || !e->logged_in)
    goto out;
  journal_last(e->journal, &last, chain);
  if (last - journal_last_checkpoint(e->journal) >= AUDIT_CHECKPOINT_EVERY)
    r = audit_checkpoint(e->audit, e->journal, detail);
  else
    r = audit_head_write(e->audit, e->journal, detail);
  if (r != ST_OK)
    e->failed = 1;
out:
  return r;
}

int engine_checkpoint(struct engine *e, struct st_detail *detail)
{
  int r = ST_OK;
  if (e->audit == NULL || e->failed || !e->logged_in || journal_pending(e->journal) > 0)
    goto out;
  r = audit_checkpoint(e->audit, e->journal, detail);
  if (r != ST_OK)
    e->failed = 1;
out:
  return r;
}

void engine_audit_close(struct engine *e)
{
  struct st_detail d = {""};
  if (e->audit != NULL && engine_checkpoint(e, &d) != ST_OK)
    st_warn("journal: no checkpoint at close: %s", d.text);
  audit_free(e->audit);
  e->audit = NULL;
}

int engine_export(struct engine *e, const struct export_options *opt, const char *out_dir, char *path,
                  size_t path_cap, struct export_counts *counts, struct st_detail *detail)
{
  static const char *const ext[] = {"csv", "jsonl", "pem", "txt"};
  int r = ST_E_HSM_PIN;
  char stamp[ST_TIME_LEN + 1];
  struct timespec ts;
  if (e->audit == NULL || !e->logged_in) {
    st_detail_set(detail, "log in to the token first: the export is signed by the journal key");
    goto out;
  }
  clock_gettime(CLOCK_REALTIME, &ts);
  st_time_format(stamp, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
  for (char *c = stamp; *c != '\0'; c++)
    *c = *c == ':' ? '-' : *c;
  snprintf(path, path_cap, "%s/station-journal-%s.%s", out_dir, stamp, ext[opt->format]);
  r = export_write(e->cfg->journal_path, e->audit, opt, path, counts, detail);
out:
  return r;
}
