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
 *     refusals still work), and engine_close leaves the token, the threads and
 *     everything a stuck call may still touch where it is (parked, reachable
 *     from engine_parked) and closes only the journal. The operator re-plugs
 *     the token and restarts the station.
 *   - Any other fault of a signature (C_Sign failing, the device removed, the
 *     session closed behind the station's back) fails its request with the
 *     fault; the next request that needs a signature, once a back-off has
 *     passed (1 s, doubling up to 64 s; requests before that fail at once
 *     without touching the token), first logs out and in again with the PIN
 *     kept from engine_login, finds the keys again (hsm_login does) and proves
 *     the CA key with a test signature. A PIN the token refuses then is never
 *     offered again (a retry loop could lock the token): it is wiped, and
 *     only a new engine_login brings the engine back.
 *
 * A signing thread writes only into its own plan; the engine thread moves
 * the certificate into the result when the whole group is back.
 */
#include "engine.h"
#include "engine_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "audit.h"
#include "certificate.h"
#include "config.h"
#include "encoding.h"
#include "hsm.h"
#include "journal.h"
#include "log.h"
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

static int64_t engine_now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the kept PIN ---- */

int engine_pin_keep(struct engine *e, const char *pin)
{
  int r = ST_E_NO_MEMORY;
  size_t len = strlen(pin);
  engine_pin_forget(e);
  if (len > PIN_MAX || (e->kept_pin = calloc(1, sizeof *e->kept_pin)) == NULL)
    goto out;
  e->kept_pin->locked = mlock(e->kept_pin->value, sizeof e->kept_pin->value) == 0;
  memcpy(e->kept_pin->value, pin, len + 1);
  r = ST_OK;
out:
  return r;
}

void engine_pin_forget(struct engine *e)
{
  pin_wipe(e->kept_pin);
  free(e->kept_pin);
  e->kept_pin = NULL;
}

/* ---- signing ---- */

/* Pool task: checks a signature the HSM made (over the certificate's TBS
 * digest) with the CA certificate's key. A failure stops the engine at its
 * next commit: nothing of that group is released or made durable. */
static void engine_check_signature(void *arg)
{
  struct engine_check *check = arg;
  struct engine *e = check->engine;
  if (!device_cert_signature_ok(X509_get0_pubkey(e->ca_cert), check->digest, check->sig, check->sig_len)) {
    pthread_mutex_lock(&e->check_lock);
    if (!e->check_failed)
      memcpy(e->check_failed_serial, check->serial_hex, sizeof e->check_failed_serial);
    e->check_failed = 1;
    pthread_mutex_unlock(&e->check_lock);
  }
  free(check);
}

/* Signing task for one plan: write the TBS, sign its digest in the token,
 * keep the certificate in the plan and hand the signature's check to the
 * pool. Touches only its own plan (and the engine's pool); a plan queued
 * behind a stuck signature finds the engine wedged and does not sign. */
static void engine_sign_plan(void *arg)
{
  struct engine_plan *plan = arg;
  struct engine *e = plan->engine;
  struct device_tbs tbs = {0};
  struct engine_check *check = NULL;
  int r = ST_E_HSM_TIMEOUT;

  if (__atomic_load_n(&e->wedged, __ATOMIC_ACQUIRE))
    goto out;
  r = ST_E_NO_MEMORY;
  if ((check = calloc(1, sizeof *check)) == NULL)
    goto out;
  r = device_cert_tbs(e->issuer, plan->req->csr, plan->serial, e->cfg->validity_days, time(NULL), &tbs,
                      &plan->sign_detail);
  if (r != ST_OK)
    goto out;
  r = device_cert_sign(hsm_key_signer(e->ca_key), tbs.digest, check->sig, &check->sig_len, &plan->sign_detail);
  __atomic_add_fetch(&e->signed_count, 1, __ATOMIC_RELEASE);
  if (r != ST_OK)
    goto out;
  r = device_cert_assemble(&tbs, check->sig, check->sig_len, &plan->cert_der, &plan->cert_len);
  if (r != ST_OK)
    goto out;
  st_hex_encode(plan->serial_hex, plan->serial, CERT_SERIAL_BYTES);
  check->engine = e;
  memcpy(check->digest, tbs.digest, sizeof check->digest);
  memcpy(check->serial_hex, plan->serial_hex, sizeof check->serial_hex);
  workers_submit(e->pool, e->checks, engine_check_signature, check);
  check = NULL;
out:
  free(check);
  free(tbs.der);
  plan->sign_result = r;
}

/* Waits for SIGNING while signatures keep coming back. Returns 0, or 1 when
 * none came back for hsm.sign_timeout seconds. */
static int engine_watch(struct engine *e, struct work_group *signing)
{
  unsigned timeout_ms = (e->cfg->hsm_sign_timeout > 0 ? e->cfg->hsm_sign_timeout : 30) * 1000u;
  unsigned seen = __atomic_load_n(&e->signed_count, __ATOMIC_ACQUIRE);
  int stuck = 0;
  while (!stuck && work_group_wait_timed(signing, timeout_ms)) {
    unsigned now = __atomic_load_n(&e->signed_count, __ATOMIC_ACQUIRE);
    stuck = now == seen;
    seen = now;
  }
  return stuck;
}

/* ---- the token back after a fault ---- */

/* 1 for the codes of a signature that mean the token (or its session) failed. */
static int engine_hsm_fault(int code)
{
  return code == ST_E_HSM || code == ST_E_CRYPTO;
}

/* Logs out and in again with the kept PIN and proves the CA key. */
static int engine_relogin(struct engine *e, struct st_detail *detail)
{
  int r = ST_E_HSM_PIN;
  if (e->kept_pin == NULL) {
    st_detail_set(detail, "the token failed and the station keeps no PIN to log in again; log in again");
    goto out;
  }
  st_info("hsm: logging in to token %s again after a fault", e->cfg->hsm_token);
  if (e->audit != NULL && audit_head_flush(e->audit, detail) != ST_OK)
    st_warn("hsm: the journal head could not be written before logging in again: %s", detail->text);
  hsm_logout(e->hsm); /* the session may be gone already: its error says nothing new */
  e->logged_in = 0;
  r = hsm_login(e->hsm, e->kept_pin->value, detail);
  if (r == ST_E_HSM_PIN || r == ST_E_HSM_PIN_LOCKED) {
    engine_pin_forget(e); /* one refused attempt, never a loop that could lock the token */
    goto out;
  }
  if (r == ST_OK)
    r = engine_prove_key(e, detail);
  e->logged_in = r == ST_OK;
out:
  return r;
}

/* Whether signing may go ahead: logged in, not wedged, and, after a fault,
 * past the back-off and logged in again. Returns 0 or the fault for every
 * request of the group, with DETAIL. */
static int engine_sign_ready(struct engine *e, struct st_detail *detail)
{
  int r = ST_E_HSM_TIMEOUT;
  int64_t now = engine_now_ms();
  if (__atomic_load_n(&e->wedged, __ATOMIC_ACQUIRE)) {
    st_detail_set(detail, "a signature in the token never came back; the station signs nothing more until restarted");
    goto out;
  }
  r = ST_E_HSM;
  if (e->hsm_fault_ms != 0 && now - e->hsm_fault_ms < (int64_t)e->hsm_backoff_ms) {
    st_detail_set(detail, "the token failed %lld ms ago; the station logs in again in %lld ms",
                  (long long)(now - e->hsm_fault_ms), (long long)(e->hsm_backoff_ms - (now - e->hsm_fault_ms)));
    goto out;
  }
  if (e->hsm_fault_ms != 0) {
    r = engine_relogin(e, detail);
    if (r != ST_OK) {
      e->hsm_fault_ms = now;
      e->hsm_backoff_ms = e->hsm_backoff_ms * 2 > ENGINE_BACKOFF_MAX_MS ? ENGINE_BACKOFF_MAX_MS : e->hsm_backoff_ms * 2;
      goto out;
    }
    st_info("hsm: token %s is back: logged in again and the CA key proved", e->cfg->hsm_token);
    e->hsm_fault_ms = 0;
  }
  r = ST_E_HSM_PIN;
  if (!e->logged_in || e->ca_key == NULL) {
    st_detail_set(detail, "the station is not logged in to the HSM");
    goto out;
  }
  r = ST_OK;
out:
  return r;
}

/* Notes a signature's fault for the next engine_sign_ready. */
static void engine_note_fault(struct engine *e, int code)
{
  if (!engine_hsm_fault(code) || e->hsm_fault_ms != 0)
    return;
  e->hsm_fault_ms = engine_now_ms();
  e->hsm_backoff_ms = ENGINE_BACKOFF_FIRST_MS;
}

/* Moves what phase 2 made of PLAN into its result. */
static void engine_plan_settle(struct engine *e, struct engine_plan *plan)
{
  struct engine_result *res = plan->res;
  if (plan->sign_result == ST_OK) {
    res->cert_der = plan->cert_der;
    res->cert_len = plan->cert_len;
    memcpy(res->serial_hex, plan->serial_hex, sizeof res->serial_hex);
    plan->cert_der = NULL;
  } else {
    res->detail = plan->sign_detail;
    engine_note_fault(e, plan->sign_result);
  }
}

int engine_sign_group(struct engine *e, struct engine_plan *plans, size_t n)
{
  int r = ST_OK, ready;
  size_t to_sign = 0;
  struct st_detail why = {""};
  struct work_group *signing = NULL;

  for (size_t k = 0; k < n; k++)
    to_sign += plans[k].kind == ENGINE_PLAN_SIGN;
  if (to_sign == 0)
    goto out;
  ready = engine_sign_ready(e, &why);
  if (ready == ST_OK && e->signers == NULL && (e->signers = workers_new(1, "st-sign")) == NULL)
    ready = ST_E_NO_MEMORY;
  if (ready == ST_OK && (signing = work_group_new()) == NULL)
    ready = ST_E_NO_MEMORY;
  for (size_t k = 0; k < n; k++) {
    if (plans[k].kind != ENGINE_PLAN_SIGN)
      continue;
    if (ready != ST_OK) {
      plans[k].sign_result = ready;
      plans[k].sign_detail = why;
    } else {
      workers_submit(e->signers, signing, engine_sign_plan, &plans[k]);
    }
  }
  if (signing != NULL && engine_watch(e, signing)) {
    __atomic_store_n(&e->wedged, 1, __ATOMIC_RELEASE);
    engine_park(plans);
    engine_park(signing);
    signing = NULL;
    st_error("hsm: token %s finished no signature for %u s; the station signs nothing more until restarted",
             e->cfg->hsm_token, e->cfg->hsm_sign_timeout);
    for (size_t k = 0; k < n; k++)
      st_detail_set(&plans[k].res->detail, "token %s finished no signature for %u s (hsm.sign_timeout)",
                    e->cfg->hsm_token, e->cfg->hsm_sign_timeout);
    r = ST_E_HSM_TIMEOUT;
    goto out;
  }
  for (size_t k = 0; k < n; k++)
    if (plans[k].kind == ENGINE_PLAN_SIGN)
      engine_plan_settle(e, &plans[k]);
out:
  work_group_free(signing);
  return r;
}

int engine_sign_close(struct engine *e)
{
  int wedged = __atomic_load_n(&e->wedged, __ATOMIC_ACQUIRE);
  engine_pin_forget(e);
  if (wedged) {
    st_warn("hsm: a signature never came back from token %s; the token is left as it is", e->cfg->hsm_token);
    journal_close(e->journal);
    e->journal = NULL;
    engine_park(e);
  }
  return wedged;
}
