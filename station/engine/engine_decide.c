/*
 * engine_decide.c - deciding requests (see engine.h).
 *
 * A group of prepared requests is decided in three phases:
 *
 *   1. plan, in order, on the engine thread: the same CSR issued before is
 *      handed back; a refusal found while preparing stays a refusal; the
 *      identity rules are checked against the journal and against the
 *      requests planned earlier in the same group (a CSR twice in one batch is
 *      signed once; one key under two device ids, or one device id with two
 *      keys, neither issued before, are clones: all of them are refused,
 *      key-cloned or device-cloned, each naming another's source); every
 *      request to sign gets a fresh serial;
 *   2. sign: the certificates are built and signed in the HSM, on the engine
 *      thread or, with hsm.sessions N > 1, on N threads each using its own
 *      token session; each signature is then checked on the worker pool;
 *   3. record, in order: the journal records are appended (issued, refused)
 *      and the events queued. A signing fault stops the group there: the
 *      requests before it keep their records, the ones from it on get the
 *      fault as their result and no record.
 *
 * Nothing decided here is durable or released before engine_commit.
 */
#include "engine.h"
#include "engine_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "certificate.h"
#include "config.h"
#include "csr.h"
#include "encoding.h"
#include "hsm.h"
#include "journal.h"
#include "workers.h"

/* Checks the certificate of issued record REC before it is handed back for
 * the request CSR: it must verify with the local CA's key and carry the
 * CSR's subject (as bytes) and public key. Returns 0, or
 * ST_E_JOURNAL_CORRUPT with DETAIL naming the record. */
static int engine_check_handback(struct engine *e, const struct journal_record *rec, const struct csr *req,
                                 struct st_detail *detail)
{
  int r = ST_E_JOURNAL_CORRUPT, len;
  const unsigned char *p = rec->cert_der;
  X509 *cert = rec->cert_len > 0 ? d2i_X509(NULL, &p, (long)rec->cert_len) : NULL;
  unsigned char *subject = NULL, *spki = NULL;
  uint8_t key[32], want_key[32];
  size_t want_len = 0;
  const uint8_t *want = csr_subject_der(req, &want_len);
  const char *what = NULL;

  csr_key_sha256(req, want_key);
  if (cert == NULL || p != rec->cert_der + rec->cert_len)
    what = "is not a certificate";
  else if (X509_verify(cert, X509_get0_pubkey(e->ca_cert)) != 1)
    what = "does not verify with the local CA's key: the CA never signed it";
  else if ((len = i2d_X509_NAME(X509_get_subject_name(cert), &subject)) <= 0 || (size_t)len != want_len ||
           memcmp(subject, want, want_len) != 0)
    what = "does not carry the request's subject";
  else if ((len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &spki)) <= 0 ||
           !EVP_Digest(spki, (size_t)len, key, NULL, EVP_sha256(), NULL) || memcmp(key, want_key, 32) != 0)
    what = "does not carry the request's public key";
  if (what != NULL) {
    st_detail_set(detail, "journal record %llu (line %llu): the certificate it holds %s; nothing was handed back",
                  (unsigned long long)rec->seq, (unsigned long long)rec->seq + 1, what);
    goto out;
  }
  r = ST_OK;
out:
  OPENSSL_free(subject);
  OPENSSL_free(spki);
  X509_free(cert);
  ERR_clear_error();
  return r;
}

/* Fills RES from an issued journal record (a certificate handed back) once
 * its certificate checks out for REQ (engine_check_handback), and notes the
 * record in PLAN for the handed-back record. A certificate that does not
 * check out stops the engine: the journal is not what the station wrote. */
static int engine_result_from_record(struct engine *e, struct engine_plan *plan, const struct journal_record *rec,
                                     const struct csr *req)
{
  struct engine_result *res = plan->res;
  int r = engine_check_handback(e, rec, req, &res->detail);
  if (r != ST_OK) {
    e->failed = 1;
    return r;
  }
  res->code = ST_OK;
  res->from_journal = 1;
  res->seq = 0;
  snprintf(res->device, sizeof res->device, "%s", rec->device != NULL ? rec->device : "");
  st_hex_encode(res->serial_hex, rec->serial, rec->serial_len > 20 ? 20 : rec->serial_len);
  plan->back_from = rec->seq;
  plan->back_serial_len = rec->serial_len > 20 ? 20 : rec->serial_len;
  memcpy(plan->back_serial, rec->serial, plan->back_serial_len);
  res->cert_der = malloc(rec->cert_len);
  if (res->cert_der == NULL)
    return ST_E_NO_MEMORY;
  memcpy(res->cert_der, rec->cert_der, rec->cert_len);
  res->cert_len = rec->cert_len;
  return ST_OK;
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

/* The identity rules for REQ: hands back the certificate the journal holds
 * for this device, key and subject (sets *HANDED_BACK, RES from the journal),
 * refuses (RES->code set), or leaves RES->code ST_OK to go on to sign.
 * Returns 0, or a fault of the journal (or of the hand-back). */
static int engine_check_identity(struct engine *e, struct engine_plan *plan, const struct csr *req,
                                 const uint8_t key_sha256[32], struct engine_result *res, int *handed_back)
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
    r = engine_result_from_record(e, plan, &rec, req);
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

/* Picks a serial number neither this journal nor the group has used. */
static int engine_fresh_serial(struct engine *e, const struct engine_plan *plans, size_t planned,
                               uint8_t serial[CERT_SERIAL_BYTES])
{
  int r = ST_E_CRYPTO;
  for (int tries = 0; tries < 16; tries++) {
    int taken = 0;
    r = cert_random_serial(serial);
    if (r != ST_OK)
      break;
    for (size_t j = 0; j < planned && !taken; j++)
      taken = plans[j].kind == ENGINE_PLAN_SIGN && memcmp(plans[j].serial, serial, CERT_SERIAL_BYTES) == 0;
    if (!taken && !journal_serial_used(e->journal, serial, CERT_SERIAL_BYTES))
      break;
    r = ST_E_CRYPTO;
  }
  return r;
}

/* The earlier request of the group planned for signing, or refused as a
 * clone, that shares KIND of identity with REQ (0: the CSR, 1: the key,
 * 2: the device), or -1. */
static long engine_group_find(const struct engine_plan *plans, size_t planned, const struct engine_request *req,
                              int kind)
{
  long found = -1;
  for (size_t j = 0; j < planned && found < 0; j++) {
    const struct engine_request *other = plans[j].req;
    if (plans[j].kind != ENGINE_PLAN_SIGN && !plans[j].clone)
      continue;
    if ((kind == 0 && memcmp(other->csr_sha256, req->csr_sha256, 32) == 0) ||
        (kind == 1 && memcmp(other->key_sha256, req->key_sha256, 32) == 0) ||
        (kind == 2 && strcmp(other->id.device_id, req->id.device_id) == 0))
      found = (long)j;
  }
  return found;
}

/* Refuses plan I as a clone of plan J (CODE: ST_E_KEY_CLONED or
 * ST_E_DEVICE_CLONED), naming J's source; and J too, naming I's, unless J
 * was refused as a clone already (it names the first it met). */
static void engine_plan_clones(struct engine_plan *plans, size_t j, size_t i, int code)
{
  struct engine_plan *pair[2] = {&plans[i], &plans[j]};
  for (int k = 0; k < 2; k++) {
    struct engine_plan *p = pair[k], *other = pair[1 - k];
    if (k == 1 && p->clone)
      break;
    p->kind = ENGINE_PLAN_REFUSE;
    p->clone = 1;
    p->res->code = code;
    if (code == ST_E_KEY_CLONED)
      st_detail_set(&p->res->detail, "the same public key is in %s, for device %s: a copied key; neither request "
                    "is signed", other->source, other->req->id.device_id);
    else
      st_detail_set(&p->res->detail, "device %s is also in %s, with another key: two boards claim one id; neither "
                    "request is signed", p->req->id.device_id, other->source);
  }
}

/* The identity rules against the requests planned earlier in the group. A
 * byte-identical CSR, or the same key for the same subject, is signed once
 * (a copy); one key under two device ids, or one device id with two keys,
 * is a clone: every request of it is refused. */
static void engine_plan_in_group(struct engine_plan *plans, size_t i)
{
  struct engine_plan *plan = &plans[i];
  const struct engine_request *req = plan->req;
  struct engine_result *res = plan->res;
  long j = engine_group_find(plans, i, req, 0);
  if (j >= 0 && plans[j].clone) {
    engine_plan_clones(plans, (size_t)j, i, plans[j].res->code);
    return;
  }
  if (j >= 0) {
    plan->kind = ENGINE_PLAN_COPY;
    plan->copy_of = (size_t)j;
    return;
  }
  j = engine_group_find(plans, i, req, 1);
  if (j >= 0 && strcmp(plans[j].req->id.device_id, req->id.device_id) != 0) {
    engine_plan_clones(plans, (size_t)j, i, ST_E_KEY_CLONED);
    return;
  }
  if (j >= 0 && plans[j].clone) {
    engine_plan_clones(plans, (size_t)j, i, plans[j].res->code);
    return;
  }
  if (j >= 0 && X509_NAME_cmp(csr_subject(plans[j].req->csr), csr_subject(req->csr)) == 0) {
    plan->kind = ENGINE_PLAN_COPY;
    plan->copy_of = (size_t)j;
    return;
  }
  j = engine_group_find(plans, i, req, 2);
  if (j >= 0 && (plans[j].clone || memcmp(plans[j].req->key_sha256, req->key_sha256, 32) != 0)) {
    engine_plan_clones(plans, (size_t)j, i, plans[j].clone ? plans[j].res->code : ST_E_DEVICE_CLONED);
    return;
  }
  if (j >= 0 && plan->engine->cfg->reissue != CONFIG_REISSUE_ALLOW) {
    plan->kind = ENGINE_PLAN_REFUSE;
    res->code = ST_E_DEVICE_KNOWN;
    st_detail_set(&res->detail, "device %s is being certified for this key with another subject in the same group",
                  req->id.device_id);
  }
}

/* Phase 1 for request I. Returns 0 or a fault (journal lookups). */
static int engine_plan_one(struct engine *e, struct engine_plan *plans, size_t i)
{
  int r = ST_OK, found, handed_back = 0;
  struct engine_plan *plan = &plans[i];
  const struct engine_request *req = plan->req;
  struct engine_result *res = plan->res;
  struct journal_record rec;

  memset(&rec, 0, sizeof rec);
  memcpy(res->csr_sha256, req->csr_sha256, sizeof res->csr_sha256);
  plan->kind = ENGINE_PLAN_REFUSE;
  if (req->csr != NULL) {
    /* the same CSR issued before is handed back, whatever the policy says now */
    found = journal_find_csr(e->journal, req->csr_sha256, &rec);
    if (found != 0) {
      r = found < 0 ? found : engine_result_from_record(e, plan, &rec, req->csr);
      plan->kind = ENGINE_PLAN_HANDED_BACK;
      goto out;
    }
  }
  if (req->code != ST_OK) {
    res->code = req->code;
    res->detail = req->detail;
    memcpy(res->device, req->id.device_id, sizeof res->device);
    goto out;
  }
  memcpy(res->device, req->id.device_id, sizeof res->device);
  r = engine_check_identity(e, plan, req->csr, req->key_sha256, res, &handed_back);
  if (r != ST_OK || handed_back) {
    plan->kind = ENGINE_PLAN_HANDED_BACK;
    goto out;
  }
  if (res->code != ST_OK)
    goto out;
  plan->kind = ENGINE_PLAN_SIGN;
  engine_plan_in_group(plans, i);
  if (plan->kind == ENGINE_PLAN_SIGN)
    r = engine_fresh_serial(e, plans, i, plan->serial);
out:
  journal_record_cleanup(&rec);
  return r;
}

/* Appends the handed-back record of RES (the certificate of record FROM,
 * serial SERIAL, given out again for the request REQ) and queues its event. */
static int engine_record_handback(struct engine *e, const char *source, struct engine_result *res,
                                  const struct engine_request *req, uint64_t from, const uint8_t *serial,
                                  size_t serial_len)
{
  int r;
  char text[96];
  struct journal_record rec;
  memset(&rec, 0, sizeof rec);
  snprintf(text, sizeof text, "the certificate of record %llu given out again (no new signature)",
           (unsigned long long)from);
  rec.event = JOURNAL_EVENT_HANDED_BACK;
  rec.source = (char *)source;
  rec.device = res->device[0] != '\0' ? res->device : NULL;
  memcpy(rec.csr_sha256, res->csr_sha256, 32);
  rec.has_csr_sha256 = 1;
  if (req->csr != NULL) {
    csr_key_sha256(req->csr, rec.key_sha256);
    rec.has_key_sha256 = 1;
  }
  memcpy(rec.serial, serial, serial_len);
  rec.serial_len = serial_len;
  rec.detail = text;
  r = journal_append(e->journal, &rec);
  if (r == ST_OK) {
    res->seq = rec.seq;
    r = engine_queue_event(e, ENGINE_EVENT_REDELIVERED, source, res);
  }
  return r;
}

/* Phase 3 for request I. Returns 0 or the fault that stops the group. */
static int engine_record_plan(struct engine *e, struct engine_plan *plans, size_t i, const char *source)
{
  int r = ST_OK;
  struct engine_plan *plan = &plans[i];
  struct engine_result *res = plan->res;

  switch (plan->kind) {
  case ENGINE_PLAN_HANDED_BACK:
    r = engine_record_handback(e, source, res, plan->req, plan->back_from, plan->back_serial,
                               plan->back_serial_len);
    break;
  case ENGINE_PLAN_REFUSE:
    r = engine_record(e, source, res, plan->req->csr != NULL ? plan->req->key_sha256 : NULL, NULL, 0);
    break;
  case ENGINE_PLAN_SIGN:
    r = plan->sign_result;
    if (r == ST_OK)
      r = engine_record(e, source, res, plan->req->key_sha256, plan->serial, CERT_SERIAL_BYTES);
    break;
  case ENGINE_PLAN_COPY: {
    const struct engine_result *original = plans[plan->copy_of].res;
    if (plans[plan->copy_of].kind == ENGINE_PLAN_REFUSE) {
      /* the original was refused later in planning (a clone): so is its copy */
      res->code = original->code;
      res->detail = original->detail;
      r = engine_record(e, source, res, plan->req->key_sha256, NULL, 0);
      break;
    }
    r = plans[plan->copy_of].sign_result;
    if (r != ST_OK)
      break;
    r = ST_E_NO_MEMORY;
    res->cert_der = malloc(original->cert_len);
    if (res->cert_der == NULL)
      break;
    memcpy(res->cert_der, original->cert_der, original->cert_len);
    res->cert_len = original->cert_len;
    res->code = ST_OK;
    res->from_journal = 1;
    memcpy(res->device, original->device, sizeof res->device);
    memcpy(res->serial_hex, original->serial_hex, sizeof res->serial_hex);
    r = engine_record_handback(e, source, res, plan->req, original->seq, plans[plan->copy_of].serial,
                               CERT_SERIAL_BYTES);
    break;
  }
  }
  return r;
}

int engine_decide_many(struct engine *e, size_t n, const char *const *sources,
                       const struct engine_request *const *reqs, struct engine_result *results)
{
  int r = ST_E_JOURNAL;
  size_t i = 0, planned = 0;
  struct engine_plan *plans = calloc(n > 0 ? n : 1, sizeof *plans);
  struct st_detail stopped = {""};

  for (size_t k = 0; k < n; k++)
    memset(&results[k], 0, sizeof results[k]);
  if (plans == NULL) {
    r = ST_E_NO_MEMORY;
    goto out;
  }
  if (e->failed)
    goto out;
  r = ST_E_HSM_PIN;
  if (!e->established) /* the journal's seal is checked at the first login: nothing is decided before */
    goto out;
  if (engine_journal_stopped(e) && (r = engine_resume(e, &stopped)) != ST_OK) {
    /* the journal cannot be written; each request is answered at once */
    for (size_t k = 0; k < n; k++)
      engine_journal_refuse(e, sources[k], reqs[k], &results[k], r, &stopped);
    goto out;
  }
  for (r = ST_OK; planned < n && r == ST_OK; planned++) {
    plans[planned] = (struct engine_plan){.engine = e, .req = reqs[planned], .res = &results[planned],
                                          .source = sources[planned]};
    r = engine_plan_one(e, plans, planned);
  }
  if (r != ST_OK)
    goto out;
  r = engine_sign_group(e, plans, n);
  if (r != ST_OK) {
    plans = NULL; /* the engine keeps them for the signature that never came back */
    goto out;
  }
  for (i = 0; i < n && r == ST_OK; i++)
    r = engine_record_plan(e, plans, i, sources[i]);
out:
  /* from the first fault on, every request has the fault as its result and nothing to release */
  for (size_t k = i > 0 && r != ST_OK ? i - 1 : i; r != ST_OK && k < n; k++) {
    free(results[k].cert_der);
    results[k].cert_der = NULL;
    results[k].cert_len = 0;
    results[k].code = r;
  }
  free(plans);
  return r;
}

int engine_decide(struct engine *e, const char *source, const struct engine_request *req, struct engine_result *res)
{
  return engine_decide_many(e, 1, &source, &req, res);
}

int engine_prepare(const struct engine *e, const uint8_t *data, size_t len, struct engine_request **out)
{
  struct engine_request *req = calloc(1, sizeof *req);
  if (req == NULL)
    return ST_E_NO_MEMORY;
  req->code = csr_parse(data, len, &req->csr, &req->detail);
  if (req->code != ST_OK) {
    EVP_Digest(data, len, req->csr_sha256, NULL, EVP_sha256(), NULL);
  } else {
    csr_sha256(req->csr, req->csr_sha256);
    csr_key_sha256(req->csr, req->key_sha256);
    req->code = policy_check(&e->policy, req->csr, &req->id, &req->detail);
    /* a refusal keeps the device id the CSR names, for the journal */
    if (req->code != ST_OK)
      policy_device_id(req->csr, req->id.device_id);
  }
  *out = req;
  return ST_OK;
}

void engine_request_free(struct engine_request *req)
{
  if (req == NULL)
    return;
  csr_free(req->csr);
  free(req);
}

int engine_request_refusal(const struct engine_request *req)
{
  return req->code;
}

void engine_request_csr_sha256(const struct engine_request *req, uint8_t out[32])
{
  if (req->csr != NULL)
    memcpy(out, req->csr_sha256, 32);
  else
    memset(out, 0, 32);
}

int engine_csr_issued(struct engine *e, const uint8_t csr_sha256[32])
{
  struct journal_record rec;
  int found = journal_find_csr(e->journal, csr_sha256, &rec);
  if (found > 0)
    journal_record_cleanup(&rec);
  return found;
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
  int r;
  struct st_detail stopped = {""};
  memset(res, 0, sizeof *res);
  if (e->failed)
    return ST_E_JOURNAL;
  if (!e->established)
    return ST_E_HSM_PIN;
  if (engine_journal_stopped(e) && (r = engine_resume(e, &stopped)) != ST_OK) {
    engine_journal_refuse(e, source, NULL, res, r, &stopped);
    return r;
  }
  res->code = code;
  st_detail_set(&res->detail, "%s", detail != NULL ? detail : "");
  return engine_record(e, source, res, NULL, NULL, 0);
}

