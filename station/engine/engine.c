/*
 * engine.c - the signing engine (see engine.h for the contract).
 *
 * A request goes: parse -> same CSR issued before? -> policy -> identity rules
 * against the journal -> fresh serial -> build, sign in the HSM, verify ->
 * journal record appended. Results are released by the caller after
 * engine_commit; events wait in a queue until then.
 */
#include "engine.h"
#include "engine_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/rand.h>

#include "audit.h"
#include "certificate.h"
#include "checkpoint.h"
#include "clock.h"
#include "config.h"
#include "csr.h"
#include "encoding.h"
#include "gateway.h"
#include "export.h"
#include "hsm.h"
#include "journal.h"
#include "log.h"
#include "policy.h"
#include "workers.h"

/* ---- events ---- */

int engine_queue_event(struct engine *e, enum engine_event_kind kind, const char *source,
                              const struct engine_result *res)
{
  struct engine_pending_event *ev;
  if (e->pending_count == e->pending_cap) {
    size_t cap = e->pending_cap ? e->pending_cap * 2 : 64;
    struct engine_pending_event *grown = realloc(e->pending, cap * sizeof *grown);
    if (grown == NULL)
      return ST_E_NO_MEMORY;
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
  memcpy(ev->csr_sha256, res->csr_sha256, sizeof ev->csr_sha256);
  ev->source = strdup(source);
  ev->detail = strdup(res->detail.text);
  if (ev->source == NULL || ev->detail == NULL) {
    free(ev->source);
    free(ev->detail);
    return ST_E_NO_MEMORY;
  }
  e->pending_count++;
  return ST_OK;
}

void engine_emit(struct engine *e, struct engine_event *ev)
{
  journal_counts(e->journal, &ev->records, &ev->issued, &ev->refused);
  for (size_t s = 0; s < e->sink_count; s++)
    e->sinks[s].emit(e->sinks[s].arg, ev);
}

void engine_flush_events(struct engine *e, int deliver)
{
  for (size_t i = 0; i < e->pending_count; i++) {
    struct engine_pending_event *p = &e->pending[i];
    struct engine_event ev = {.kind = p->kind, .source = p->source, .device = p->device,
                              .serial_hex = p->serial_hex, .code = p->code, .detail = p->detail,
                              .seq = p->seq, .filesystem = "", .csr_sha256 = p->csr_sha256};
    if (deliver)
      engine_emit(e, &ev);
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
  e->pool = workers_new(workers_default_threads(), "st-check", WORKERS_NICE_SLACK);
  e->checks = work_group_new();
  if (e->pool == NULL || e->checks == NULL)
    goto out;
  if (engine_token_open(e, cfg->hsm_sessions) != ST_OK)
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
  if (cfg->gateway_certificate != NULL &&
      (r = gateway_check(cfg->gateway_certificate, cfg->gateway_url, e->root_cert, now, &e->gateway_url, detail)) !=
          ST_OK)
    goto out;
  r = device_issuer_new(e->ca_cert, &e->issuer, detail);
  if (r != ST_OK)
    goto out;
  r = journal_open(cfg->journal_path, &e->journal, &report, detail);
  if (r != ST_OK)
    goto out;
  e->journal_created = report.created;
  journal_counts(e->journal, NULL, &e->durable_issued, NULL);
  /* what comes after the last seal is trusted by nothing until the first login decides (audit_establish) */
  journal_trust_upto(e->journal, journal_sealed(e->journal));
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
int engine_prove_key(struct engine *e, struct st_detail *detail)
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
  if (engine_token_wedged(e)) {
    /* a call stuck in the token may still be using its sessions */
    st_detail_set(detail, "token %s stopped answering; restart the station", e->cfg->hsm_token);
    r = ST_E_HSM_TIMEOUT;
  }
  if (r == ST_OK && e->hsm == NULL)
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
  if (r == ST_OK)
    r = engine_pin_keep(e, pin); /* to log in again after a token fault */
  if (r == ST_OK)
    engine_token_answered(e);
  e->logged_in = r == ST_OK;
  return r;
}

int engine_logout(struct engine *e)
{
  int r = ST_OK;
  struct st_detail why = {""};
  /* the head writer works in the logged-in session: let it finish first */
  if (e->audit != NULL && !engine_token_wedged(e) &&
      audit_head_flush_timed(e->audit, (e->cfg->hsm_sign_timeout > 0 ? e->cfg->hsm_sign_timeout : 30) * 1000u,
                             &why) != ST_OK)
    st_warn("journal: the head could not be written to the token before logging out: %s", why.text);
  if (e->hsm != NULL && !engine_token_wedged(e)) /* wedged: leave the token alone */
    r = hsm_logout(e->hsm);
  engine_pin_forget(e); /* locked: the engine must not log in on its own */
  e->logged_in = 0;
  return r;
}

/* Writes the records appended since the last commit, with their seal, in one
 * write and one fdatasync (journal_commit), and notes how many issued
 * records are now durable. Returns 0 or what journal_commit returned. */
static int engine_write_pending(struct engine *e, struct st_detail *detail)
{
  int r = journal_commit(e->journal, detail);
  if (r == ST_OK)
    journal_counts(e->journal, NULL, &e->durable_issued, NULL);
  return r;
}

int engine_commit(struct engine *e, struct st_detail *detail)
{
  int r, sealed = ST_OK;
  size_t records = 0;
  struct st_detail seal_why = {""};
  /* the seal is signed in the token while the pool finishes the signature
   * checks; it is only appended, and nothing is written before they pass */
  if (!e->failed && !engine_journal_stopped(e)) {
    records = journal_pending(e->journal);
    sealed = engine_seal_pending(e, &seal_why);
  }
  work_group_wait(e->checks);
  if (e->check_failed && !e->failed) {
    st_detail_set(detail, "certificate %s signed by the HSM does not verify with the CA certificate; "
                  "nothing of this group was released or journaled", e->check_failed_serial);
    e->failed = 1;
    engine_flush_events(e, 0);
    return ST_E_SIGN_VERIFY;
  }
  if (e->failed) {
    st_detail_set(detail, "the engine stopped after an earlier fault; restart the station");
    return ST_E_JOURNAL;
  }
  if (engine_journal_stopped(e))
    return ST_OK; /* nothing was appended since the stop: every request was refused at once */
  r = sealed;
  if (r == ST_OK)
    r = engine_write_pending(e, detail);
  else
    *detail = seal_why;
  if (r != ST_OK) {
    engine_journal_stop(e, r, detail); /* refuse, then resume by itself */
    return r;
  }
  if (records > 0)
    engine_journal_committed(e);
  engine_flush_events(e, 1);
  return engine_audit_commit(e, detail);
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

const char *engine_gateway_url(const struct engine *e)
{
  return e->gateway_url;
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
  engine_journal_close(e);
  if (engine_sign_close(e))
    return; /* wedged: a stuck signature may still use what E holds */
  work_group_free(e->checks);
  workers_free(e->pool);
  pthread_mutex_destroy(&e->check_lock);
  engine_flush_events(e, 0);
  free(e->pending);
  free(e->sinks);
  journal_close(e->journal);
  hsm_key_free(e->ca_key);
  hsm_close(e->hsm);
  device_issuer_free(e->issuer);
  X509_free(e->ca_cert);
  X509_free(e->root_cert);
  free(e->gateway_url);
  free(e);
}

/* ---- audit hooks: the journal key, checkpoints and the head (audit.h) ---- */

int engine_audit_login(struct engine *e, struct st_detail *detail)
{
  int r = ST_OK;
  if (e->audit == NULL)
    r = audit_open(e->hsm, e->cfg->hsm_journal_key, e->cfg->journal_path, &e->audit, detail);
  if (r == ST_OK && !e->established) {
    /* the first login: the last seal, the head, the unsealed tail, or where a journal begins */
    r = audit_establish(e->audit, e->journal, e->init_journal, e->init_why, sizeof e->init_why, detail);
    e->established = r == ST_OK;
    journal_counts(e->journal, NULL, &e->durable_issued, NULL);
    if (r == ST_E_JOURNAL_MISSING && e->journal_created && unlink(journal_log_path(e->journal)) == 0)
      e->journal_created = 0; /* leave journal.path as it was found */
  } else if (r == ST_OK && journal_pending(e->journal) == 0 && !engine_journal_stopped(e)) {
    r = audit_check_journal(e->audit, e->journal, detail); /* while stopped: when it resumes */
  }
  /* never sign on top of a journal that was cut, rolled back, rewritten or lost; a corrupt one found
   * after the first login is the outage's to judge (engine_journal.c) */
  if ((st_error_has(r, ST_CLASS_JOURNAL_UNTRUSTED) && (r != ST_E_JOURNAL_CORRUPT || !e->established)) ||
      r == ST_E_CHECKPOINT || r == ST_E_JOURNAL_MISSING || r == ST_E_EXISTS)
    e->failed = 1;
  return r;
}

void engine_init_journal(struct engine *e)
{
  e->init_journal = 1;
}

const char *engine_init_reason(const struct engine *e)
{
  return e->init_why;
}

int engine_journal_key_id(const struct engine *e, uint8_t id[32])
{
  return e->audit != NULL ? checkpoint_key_id(audit_public_key(e->audit), id) : ST_E_JOURNAL_KEY;
}

/* 1 when a seal can be made now: logged in, the token answering, the
 * journal established. */
static int engine_can_seal(const struct engine *e)
{
  return e->audit != NULL && e->logged_in && e->established && engine_token_answering(e);
}

int engine_seal_pending(struct engine *e, struct st_detail *detail)
{
  int r = ST_OK;
  uint64_t records = 0, issued = 0, durable_issued = 0;
  if (journal_pending(e->journal) == 0)
    return r;
  if (engine_can_seal(e)) {
    r = engine_seal_append(e, detail);
  } else {
    /* unsealed: only a group with no issued record (nothing can be signed without the token) */
    journal_counts(e->journal, &records, &issued, NULL);
    durable_issued = e->durable_issued;
    if (issued != durable_issued) {
      st_detail_set(detail, "%llu certificates cannot be sealed: the station is not logged in to the token",
                    (unsigned long long)(issued - durable_issued));
      r = ST_E_JOURNAL_KEY;
    }
  }
  if (r != ST_OK)
    journal_abandon(e->journal, r); /* nothing of the group is written or released */
  return r;
}

int engine_seal_commit(struct engine *e, struct st_detail *detail)
{
  int r = engine_seal_pending(e, detail);
  return r != ST_OK ? r : engine_write_pending(e, detail);
}

int engine_audit_commit(struct engine *e, struct st_detail *detail)
{
  int r;
  if (e->audit == NULL || e->failed || engine_journal_stopped(e) || !e->logged_in || !e->established ||
      engine_token_wedged(e))
    return ST_OK;
  /* every commit ended with its seal (engine_seal_commit); the head follows it */
  r = audit_head_write(e->audit, e->journal, detail);
  if (r != ST_OK && journal_failed(e->journal)) {
    /* the checkpoint's commit failed; the group before it is durable and may go out */
    engine_journal_stop(e, r, detail);
    r = ST_OK;
  } else if (r != ST_OK) {
    e->failed = 1;
  }
  return r;
}

int engine_checkpoint(struct engine *e, struct st_detail *detail)
{
  int r;
  if (e->audit == NULL || e->failed || engine_journal_stopped(e) || !engine_can_seal(e) ||
      journal_pending(e->journal) > 0)
    return ST_OK;
  r = audit_checkpoint(e->audit, e->journal, detail); /* after commits made unsealed */
  if (r != ST_OK && journal_failed(e->journal))
    engine_journal_stop(e, r, detail);
  else if (r != ST_OK)
    e->failed = 1;
  return r;
}

void engine_audit_close(struct engine *e)
{
  struct st_detail d = {""};
  if (e->audit != NULL && engine_checkpoint(e, &d) != ST_OK)
    st_warn("journal: no checkpoint at close: %s", d.text);
  /* wedged: a call stuck in the token may still use the audit's key; engine_sign_close keeps it */
  if (!engine_token_wedged(e)) {
    audit_free(e->audit);
    e->audit = NULL;
  }
}

int engine_export(struct engine *e, const struct export_options *opt, const char *out_dir, char *path,
                  size_t path_cap, struct export_counts *counts, struct st_detail *detail)
{
  static const char *const ext[] = {"csv", "jsonl", "pem", "txt"};
  struct export_station station;
  char stamp[ST_TIME_LEN + 1];
  if (e->audit == NULL || !e->logged_in) {
    st_detail_set(detail, "log in to the token first: the export is signed by the journal key");
    return ST_E_HSM_PIN;
  }
  st_time_format(stamp, st_wall_ms());
  for (char *c = stamp; *c != '\0'; c++)
    *c = *c == ':' ? '-' : *c;
  snprintf(path, path_cap, "%s/station-journal-%s.%s", out_dir, stamp, ext[opt->format]);
  station.factory = e->cfg->factory;
  station.ca_cert = e->ca_cert;
  return export_write(e->cfg->journal_path, e->audit, &station, opt, path, counts, detail);
}
