/*
 * engine_sign.c - phase 2 of deciding (see engine_decide.c): signing in the
 * token under a watchdog, and getting the token back after a fault.
 *
 * Signatures run on the signing threads (hsm.sessions of them, at least one),
 * never on the engine thread, so that the engine thread waits for them with a
 * deadline:
 *
 *   - The watchdog watches progress: when no signature of the group has come
 *     back for hsm.sign_timeout seconds, the group fails with
 *     ST_E_HSM_TIMEOUT; nothing of it is journaled or released. A call stuck
 *     inside the token cannot be taken back, so the engine is then wedged: it
 *     signs nothing more (certificates handed back from the journal and
 *     refusals still work), and engine_close leaves the token, the threads, the
 *     audit and everything a stuck call may still touch where it is (parked,
 *     reachable from engine_parked), waits a bounded time for the journal head
 *     and closes only the journal. The operator re-plugs the token and
 *     restarts the station.
 *   - Any other fault of a signature (C_Sign failing, the device removed, the
 *     session closed behind the station's back) fails its request with the
 *     fault, the token named; the next request that needs a signature, once
 *     a back-off has passed (1 s, doubling up to 64 s; requests before that
 *     fail at once without touching the token), first logs in again with the
 *     PIN kept from engine_login: hsm_relogin finds out whether the token is
 *     in its slot at all (if not, the attempt fails at once and the back-off
 *     doubles), whether its sessions survived (then a logout and a login) or
 *     died with it (a token pulled out and put back: new sessions, then a
 *     login), and finds the keys again; then the CA key is proved with a
 *     test signature. A PIN the token refuses then is never offered again (a
 *     retry loop could lock the token): it is wiped, and only a new
 *     engine_login brings the engine back.
 *   - That re-login runs on a signing thread under the same watchdog as a
 *     signature (engine_relogin): a token that hangs in C_Login, or vanishes
 *     while libp11 opens a session, fails the group with ST_E_HSM_TIMEOUT and
 *     wedges the engine as a stuck signature does. The task (with its copy of
 *     the PIN, which the stuck call may still read) is parked, not freed.
 *
 * Plans are signed in blocks of up to ENGINE_SIGN_BLOCK, one task a block,
 * and the block's signatures are checked by one pool task. A signing thread
 * writes only into the plans of its own block; the engine thread moves
 * the certificate into the result when the whole group is back.
 */
#include "engine.h"
#include "engine_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "audit.h"
#include "certificate.h"
#include "checkpoint.h"
#include "clock.h"
#include "config.h"
#include "encoding.h"
#include "hsm.h"
#include "journal.h"
#include "log.h"
#include "pin.h"
#include "workers.h"

#define ENGINE_BACKOFF_FIRST_MS 1000u
#define ENGINE_BACKOFF_MAX_MS 64000u

/* Wedged engines and the plans their stuck signatures still point into:
 * kept reachable (not leaked) until the process ends. */
struct engine_parked {
  void *what;
  struct engine_parked *next;
};
static struct engine_parked *engine_parked;
static pthread_mutex_t engine_parked_lock = PTHREAD_MUTEX_INITIALIZER;

static void engine_park(void *what)
{
  struct engine_parked *p = malloc(sizeof *p);
  if (p == NULL)
    return; /* then it is leaked, which is still safe */
  p->what = what;
  pthread_mutex_lock(&engine_parked_lock);
  p->next = engine_parked;
  engine_parked = p;
  pthread_mutex_unlock(&engine_parked_lock);
}

/* ---- the kept PIN ---- */

int engine_pin_keep(struct engine *e, const char *pin)
{
  engine_pin_forget(e);
  if ((e->token.kept_pin = pin_new()) == NULL || pin_set(e->token.kept_pin, pin) != 0) {
    engine_pin_forget(e);
    return ST_E_NO_MEMORY;
  }
  return ST_OK;
}

void engine_pin_forget(struct engine *e)
{
  pin_free(e->token.kept_pin);
  e->token.kept_pin = NULL;
}

/* ---- signing ---- */

/* Pool task: checks the signatures the HSM made (each over a certificate's
 * TBS digest) with the CA certificate's key. A failure stops the engine at
 * its next commit: nothing of that group is released or made durable. */
static void engine_check_signatures(void *arg)
{
  struct engine_checks *checks = arg;
  struct engine *e = checks->engine;
  for (size_t k = 0; k < checks->count; k++) {
    const struct engine_check *check = &checks->item[k];
    if (device_cert_signature_ok(X509_get0_pubkey(e->ca_cert), check->digest, check->sig, check->sig_len))
      continue;
    pthread_mutex_lock(&e->check_lock);
    if (!e->check_failed)
      memcpy(e->check_failed_serial, check->serial_hex, sizeof e->check_failed_serial);
    e->check_failed = 1;
    pthread_mutex_unlock(&e->check_lock);
  }
  free(checks);
}

/* Signs one plan: writes the TBS, signs its digest in the token and keeps the
 * certificate in the plan, the signature and digest in CHECK. Returns 0 or
 * the fault (also in the plan). Touches only its own plan; a plan queued
 * behind a stuck signature finds the engine wedged and does not sign. */
static int engine_sign_plan(struct engine_plan *plan, struct engine_check *check)
{
  struct engine *e = plan->engine;
  struct device_tbs tbs = {0};
  int r = ST_E_HSM_TIMEOUT;

  if (__atomic_load_n(&e->token.wedged, __ATOMIC_ACQUIRE))
    goto out;
  r = device_cert_tbs(e->issuer, plan->req->csr, plan->serial, e->cfg->validity_days, time(NULL), &tbs,
                      &plan->sign_detail);
  if (r != ST_OK)
    goto out;
  r = device_cert_sign(hsm_key_signer(e->ca_key), tbs.digest, check->sig, &check->sig_len, &plan->sign_detail);
  __atomic_add_fetch(&e->token.signed_count, 1, __ATOMIC_RELEASE);
  if (r != ST_OK)
    goto out;
  r = device_cert_assemble(&tbs, check->sig, check->sig_len, &plan->cert_der, &plan->cert_len);
  if (r != ST_OK)
    goto out;
  st_hex_encode(plan->serial_hex, plan->serial, CERT_SERIAL_BYTES);
  memcpy(check->digest, tbs.digest, sizeof check->digest);
  memcpy(check->serial_hex, plan->serial_hex, sizeof check->serial_hex);
out:
  free(tbs.der);
  plan->sign_result = r;
  return r;
}

/* The plans [from, to) of a group, signed by one signing task. */
struct engine_sign_block {
  struct engine_plan *plans;
  size_t from, to;
};

/* Signing task: signs the ENGINE_PLAN_SIGN plans of its block one after
 * the other and hands their checks to the pool as one task. */
static void engine_sign_block_run(void *arg)
{
  const struct engine_sign_block *block = arg;
  struct engine *e = block->plans[block->from].engine;
  struct engine_checks *checks = calloc(1, sizeof *checks);

  for (size_t k = block->from; k < block->to; k++) {
    struct engine_plan *plan = &block->plans[k];
    if (plan->kind != ENGINE_PLAN_SIGN)
      continue;
    if (checks == NULL) {
      plan->sign_result = ST_E_NO_MEMORY;
      continue;
    }
    if (engine_sign_plan(plan, &checks->item[checks->count]) == ST_OK)
      checks->count++;
  }
  if (checks != NULL && checks->count > 0) {
    checks->engine = e;
    workers_submit(e->pool, e->checks, engine_check_signatures, checks);
  } else {
    free(checks);
  }
}

/* Waits for SIGNING while signatures keep coming back. Returns 0, or 1 when
 * none came back for hsm.sign_timeout seconds. */
static int engine_watch(struct engine *e, struct work_group *signing)
{
  unsigned timeout_ms = (e->cfg->hsm_sign_timeout > 0 ? e->cfg->hsm_sign_timeout : 30) * 1000u;
  unsigned seen = __atomic_load_n(&e->token.signed_count, __ATOMIC_ACQUIRE);
  int stuck = 0;
  while (!stuck && work_group_wait_timed(signing, timeout_ms)) {
    unsigned now = __atomic_load_n(&e->token.signed_count, __ATOMIC_ACQUIRE);
    stuck = now == seen;
    seen = now;
  }
  return stuck;
}

/* ---- the token back after a fault ---- */

/* Tells the sinks that the token failed (CODE) or is back (ST_OK). */
static void engine_token_emit(struct engine *e, enum engine_event_kind kind, int code, const char *text)
{
  struct engine_event ev = {.kind = kind, .source = e->cfg->hsm_token, .device = "", .serial_hex = "",
                            .code = code, .detail = text, .seq = 0, .filesystem = ""};
  engine_emit(e, &ev);
}


/* A re-login running on a signing thread, watched like a signature: its own
 * locked copy of the PIN, and what came of it. When the watchdog gives up on
 * it, the whole task is parked, PIN included: a C_Login stuck in the module
 * may still read that PIN, so it is neither wiped nor freed while the
 * process lives (a PIN wiped under it would be a wrong try counted by the
 * token). */
struct engine_relogin {
  struct engine *engine;
  struct pin *pin;             /* its own copy */
  int result;                 /* ST_OK or the fault */
  struct st_detail detail;
};

/* Runs FN(TASK) on a signing thread under the watchdog (engine_watch), as a
 * signature. Returns ST_OK once it finished (its result is in TASK),
 * ST_E_NO_MEMORY, or ST_E_HSM_TIMEOUT when it did not finish within
 * hsm.sign_timeout: the engine is then wedged, TASK is parked (the thread
 * may still write it: never free it), the fault is logged and emitted as
 * "NOUN never came back", and DETAIL says that WHAT did not finish, then
 * AFTER. */
static int engine_run_watched(struct engine *e, void (*fn)(void *), void *task, const char *what, const char *noun,
                              const char *after, struct st_detail *detail)
{
  char text[160];
  struct work_group *group = NULL;
  if (e->token.signers == NULL && (e->token.signers = workers_new(1, "st-sign", 0)) == NULL)
    return ST_E_NO_MEMORY;
  if ((group = work_group_new()) == NULL)
    return ST_E_NO_MEMORY;
  workers_submit(e->token.signers, group, fn, task);
  if (!engine_watch(e, group)) {
    work_group_free(group);
    return ST_OK;
  }
  __atomic_store_n(&e->token.wedged, 1, __ATOMIC_RELEASE);
  engine_park(task);
  engine_park(group);
  st_error("hsm: token %s did not finish %s within %u s; the station signs nothing more until restarted",
           e->cfg->hsm_token, what, e->cfg->hsm_sign_timeout);
  snprintf(text, sizeof text, "%s never came back; the station signs nothing more until restarted", noun);
  engine_token_emit(e, ENGINE_EVENT_TOKEN_FAULT, ST_E_HSM_TIMEOUT, text);
  st_detail_set(detail, "token %s did not finish %s within %u s (hsm.sign_timeout); %s", e->cfg->hsm_token, what,
                e->cfg->hsm_sign_timeout, after);
  return ST_E_HSM_TIMEOUT;
}

/* Signing-thread task: writes out the journal head first (the sessions may
 * all be closed while logging in again, a head write in flight with them),
 * logs in again whatever became of the token (hsm_relogin), finds the keys
 * again and proves the CA key. Writes only into its task; then counts as a
 * finished signature for the watchdog. */
static void engine_relogin_run(void *arg)
{
  struct engine_relogin *t = arg;
  struct engine *e = t->engine;
  struct st_detail why = {""};
  if (e->audit != NULL && audit_head_flush(e->audit, &why) != ST_OK)
    st_warn("hsm: the journal head could not be written before logging in again: %s", why.text);
  t->result = hsm_relogin(e->hsm, pin_value(t->pin), &t->detail);
  if (t->result == ST_OK)
    t->result = engine_prove_key(e, &t->detail);
  ERR_clear_error();
  __atomic_add_fetch(&e->token.signed_count, 1, __ATOMIC_RELEASE);
}

/* Logs in again with the kept PIN and proves the CA key, on a signing thread
 * under the watchdog (engine_watch), like a signature. Returns 0, the fault
 * with DETAIL, or ST_E_HSM_TIMEOUT when it did not finish within
 * hsm.sign_timeout: the engine is then wedged. A refused PIN is wiped. */
static int engine_relogin(struct engine *e, struct st_detail *detail)
{
  int r = ST_E_HSM_PIN;
  struct engine_relogin *t = NULL;

  if (e->token.kept_pin == NULL) {
    st_detail_set(detail, "the token failed and the station keeps no PIN to log in again; log in again");
    goto out;
  }
  r = ST_E_NO_MEMORY;
  if ((t = calloc(1, sizeof *t)) == NULL)
    goto out;
  t->engine = e;
  if ((t->pin = pin_copy(e->token.kept_pin)) == NULL)
    goto out;
  st_info("hsm: logging in to token %s again after a fault", e->cfg->hsm_token);
  e->logged_in = 0;
  r = engine_run_watched(e, engine_relogin_run, t, "logging in again", "a login",
                         "the station signs nothing more until restarted", detail);
  if (r == ST_E_HSM_TIMEOUT)
    t = NULL; /* parked */
  if (r != ST_OK)
    goto out;
  r = t->result;
  *detail = t->detail;
  if (r == ST_E_HSM_PIN || r == ST_E_HSM_PIN_LOCKED)
    engine_pin_forget(e); /* one refused attempt, never a loop that could lock the token */
  e->logged_in = r == ST_OK;
out:
  if (t != NULL)
    pin_free(t->pin);
  free(t);
  return r;
}

static void engine_note_fault(struct engine *e, int code, struct st_detail *detail);

/* A seal signature running on a signing thread, watched like a signature. */
struct engine_seal_task {
  struct engine *engine;
  char msg[CHECKPOINT_TEXT_MAX];
  size_t msg_len;
  uint8_t sig[CHECKPOINT_SIG_MAX];
  size_t sig_len;
  int result;
  struct st_detail detail;
};

/* Signing-thread task: the journal key signs the seal's message. */
static void engine_seal_run(void *arg)
{
  struct engine_seal_task *t = arg;
  struct engine *e = t->engine;
  t->result = checkpoint_sign(audit_signer(e->audit), audit_public_key(e->audit), t->msg, t->msg_len, t->sig,
                              &t->sig_len, &t->detail);
  ERR_clear_error();
  __atomic_add_fetch(&e->token.signed_count, 1, __ATOMIC_RELEASE);
}

int engine_seal_append(struct engine *e, struct st_detail *detail)
{
  int r = ST_E_NO_MEMORY;
  struct engine_seal_task *t = NULL;

  if ((t = calloc(1, sizeof *t)) == NULL)
    goto out;
  t->engine = e;
  t->msg_len = checkpoint_next_message(e->journal, t->msg);
  r = engine_run_watched(e, engine_seal_run, t, "the journal seal", "a seal",
                         "nothing of the group was journaled or released", detail);
  if (r == ST_E_HSM_TIMEOUT)
    t = NULL; /* parked */
  if (r != ST_OK)
    goto out;
  r = t->result;
  if (r != ST_OK) {
    *detail = t->detail;
    engine_note_fault(e, ST_E_HSM, detail); /* log in again before the next signature */
    goto out;
  }
  r = checkpoint_append_signed(e->journal, audit_public_key(e->audit), t->sig, t->sig_len, detail);
out:
  free(t);
  return r;
}

/* Whether signing may go ahead: logged in, not wedged, and, after a fault,
 * past the back-off and logged in again. Returns 0 or the fault for every
 * request of the group, with DETAIL. */
static int engine_sign_ready(struct engine *e, struct st_detail *detail)
{
  int r;
  int64_t now = st_mono_ms();
  if (__atomic_load_n(&e->token.wedged, __ATOMIC_ACQUIRE)) {
    st_detail_set(detail, "token %s stopped answering (a signature or a login never came back); the station "
                  "signs nothing more until restarted", e->cfg->hsm_token);
    return ST_E_HSM_TIMEOUT;
  }
  if (e->token.fault_ms != 0 && now - e->token.fault_ms < (int64_t)e->token.backoff_ms) {
    st_detail_set(detail, "token %s failed %lld ms ago (%.300s); the station logs in again in %lld ms",
                  e->cfg->hsm_token, (long long)(now - e->token.fault_ms), e->token.fault_why.text,
                  (long long)(e->token.backoff_ms - (now - e->token.fault_ms)));
    return ST_E_HSM;
  }
  if (e->token.fault_ms != 0) {
    r = engine_relogin(e, detail);
    if (r == ST_E_HSM_TIMEOUT)
      return r;
    if (r != ST_OK) {
      e->token.fault_ms = now;
      e->token.backoff_ms = e->token.backoff_ms * 2 > ENGINE_BACKOFF_MAX_MS ? ENGINE_BACKOFF_MAX_MS : e->token.backoff_ms * 2;
      e->token.fault_why = *detail;
      st_warn("hsm: logging in to token %s again failed: %s; the next try in %u s", e->cfg->hsm_token,
              detail->text, e->token.backoff_ms / 1000);
      return r;
    }
    st_info("hsm: token %s is back: logged in again and the CA key proved", e->cfg->hsm_token);
    e->token.fault_ms = 0;
    engine_token_emit(e, ENGINE_EVENT_TOKEN_BACK, ST_OK, "logged in again and the CA key proved");
  }
  if (!e->logged_in || e->ca_key == NULL) {
    st_detail_set(detail, "the station is not logged in to the HSM");
    return ST_E_HSM_PIN;
  }
  return ST_OK;
}

/* Notes a signature's fault for the next engine_sign_ready, and names the
 * token in its DETAIL. */
static void engine_note_fault(struct engine *e, int code, struct st_detail *detail)
{
  struct st_detail said = *detail;
  if (st_error_has(code, ST_CLASS_TOKEN_FAULT)) {
    st_detail_set(detail, "token %s: %s", e->cfg->hsm_token, said.text);
    if (e->token.fault_ms == 0) {
      e->token.fault_ms = st_mono_ms();
      e->token.backoff_ms = ENGINE_BACKOFF_FIRST_MS;
      e->token.fault_why = said;
      engine_token_emit(e, ENGINE_EVENT_TOKEN_FAULT, code, detail->text);
    }
  }
}

/* Moves what phase 2 made of PLAN into its result; TRIED: it went to the
 * token (else it was refused before, with a fault already noted). */
static void engine_plan_settle(struct engine *e, struct engine_plan *plan, int tried)
{
  struct engine_result *res = plan->res;
  if (plan->sign_result == ST_OK) {
    res->cert_der = plan->cert_der;
    res->cert_len = plan->cert_len;
    memcpy(res->serial_hex, plan->serial_hex, sizeof res->serial_hex);
    plan->cert_der = NULL;
  } else {
    res->detail = plan->sign_detail;
    if (tried)
      engine_note_fault(e, plan->sign_result, &res->detail);
  }
}

/* Plans per signing task for TO_SIGN signatures on SESSIONS threads: as many
 * blocks as the fewest whole rounds over the threads with at most
 * ENGINE_SIGN_BLOCK plans each, the plans spread evenly over them, so that
 * every thread gets the same share (88 on 4 threads: 8 blocks of 11). */
static size_t engine_block_size(size_t to_sign, unsigned sessions)
{
  size_t threads = sessions > 0 ? sessions : 1;
  size_t rounds = (to_sign + threads * ENGINE_SIGN_BLOCK - 1) / (threads * ENGINE_SIGN_BLOCK);
  size_t blocks = threads * (rounds > 0 ? rounds : 1);
  size_t size = (to_sign + blocks - 1) / blocks;
  return size > 0 ? size : 1;
}

int engine_sign_group(struct engine *e, struct engine_plan *plans, size_t n)
{
  int r = ST_OK, ready;
  size_t to_sign = 0, size, blocks = 0;
  struct st_detail why = {""};
  struct work_group *signing = NULL;
  struct engine_sign_block *block = NULL;

  for (size_t k = 0; k < n; k++)
    to_sign += plans[k].kind == ENGINE_PLAN_SIGN;
  if (to_sign == 0)
    goto out;
  ready = engine_sign_ready(e, &why);
  if (ready == ST_OK && e->token.signers == NULL && (e->token.signers = workers_new(1, "st-sign", 0)) == NULL)
    ready = ST_E_NO_MEMORY;
  if (ready == ST_OK && (signing = work_group_new()) == NULL)
    ready = ST_E_NO_MEMORY;
  /* blocks of plans in order, each holding SIZE plans to sign (the last fewer) */
  size = engine_block_size(to_sign, e->cfg->hsm_sessions);
  if (ready == ST_OK && (block = calloc((to_sign + size - 1) / size, sizeof *block)) == NULL)
    ready = ST_E_NO_MEMORY;
  for (size_t k = 0, held = 0; k < n; k++) {
    if (plans[k].kind != ENGINE_PLAN_SIGN)
      continue;
    if (ready != ST_OK) {
      plans[k].sign_result = ready;
      plans[k].sign_detail = why;
      continue;
    }
    if (held == 0)
      block[blocks++] = (struct engine_sign_block){.plans = plans, .from = k};
    block[blocks - 1].to = k + 1;
    if (++held == size)
      held = 0;
  }
  for (size_t b = 0; b < blocks; b++)
    workers_submit(e->token.signers, signing, engine_sign_block_run, &block[b]);
  if (signing != NULL && engine_watch(e, signing)) {
    __atomic_store_n(&e->token.wedged, 1, __ATOMIC_RELEASE);
    engine_park(plans);
    engine_park(block);
    engine_park(signing);
    block = NULL;
    signing = NULL;
    st_error("hsm: token %s finished no signature for %u s; the station signs nothing more until restarted",
             e->cfg->hsm_token, e->cfg->hsm_sign_timeout);
    engine_token_emit(e, ENGINE_EVENT_TOKEN_FAULT, ST_E_HSM_TIMEOUT,
                      "a signature never came back; the station signs nothing more until restarted");
    for (size_t k = 0; k < n; k++)
      st_detail_set(&plans[k].res->detail, "token %s finished no signature for %u s (hsm.sign_timeout)",
                    e->cfg->hsm_token, e->cfg->hsm_sign_timeout);
    r = ST_E_HSM_TIMEOUT;
    goto out;
  }
  for (size_t k = 0; k < n; k++)
    if (plans[k].kind == ENGINE_PLAN_SIGN)
      engine_plan_settle(e, &plans[k], ready == ST_OK);
out:
  free(block);
  work_group_free(signing);
  return r;
}

int engine_token_open(struct engine *e, unsigned sessions)
{
  if (sessions > 1 && (e->token.signers = workers_new(sessions, "st-sign", 0)) == NULL)
    return ST_E_NO_MEMORY;
  return ST_OK;
}

int engine_token_wedged(const struct engine *e)
{
  return __atomic_load_n(&e->token.wedged, __ATOMIC_ACQUIRE);
}

int engine_token_answering(const struct engine *e)
{
  return e->token.fault_ms == 0 && !engine_token_wedged(e);
}

void engine_token_answered(struct engine *e)
{
  e->token.fault_ms = 0;
}

int engine_sign_close(struct engine *e)
{
  int wedged = __atomic_load_n(&e->token.wedged, __ATOMIC_ACQUIRE);
  unsigned wait_ms = (e->cfg->hsm_sign_timeout > 0 ? e->cfg->hsm_sign_timeout : 30) * 1000u;
  struct st_detail why = {""};
  engine_pin_forget(e);
  if (wedged) {
    st_warn("hsm: token %s stopped answering (a signature or a login never came back); the token is left as it is",
            e->cfg->hsm_token);
    /* the journal head: written if the token still takes it, never waited for long */
    if (e->audit != NULL && audit_head_flush_timed(e->audit, wait_ms, &why) != ST_OK)
      st_warn("journal: the head on the token may lag the journal: %s", why.text);
    journal_close(e->journal);
    e->journal = NULL;
    engine_park(e); /* with the audit, its writer thread and the keys a stuck call may still use */
  } else {
    workers_free(e->token.signers);
    e->token.signers = NULL;
  }
  return wedged;
}
