/*
 * engine_internal.h - what the engine's files share. Not for other modules.
 * The token's state (struct engine_token) is written by engine_sign.c
 * alone, the journal outage (struct engine_stop) by engine_journal.c alone;
 * the other files ask them through the functions below. Events leave the
 * engine in one place, engine_emit (engine.c).
 */
#ifndef STATION_ENGINE_INTERNAL_H
#define STATION_ENGINE_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "certificate.h"
#include "device_cert.h"
#include "engine.h"
#include "error.h"
#include "pin.h"
#include "policy.h"

struct audit;
struct csr;
struct hsm;
struct hsm_key;
struct journal;
struct work_group;
struct workers;

/* An event waiting for its record to be durable. */
struct engine_pending_event {
  enum engine_event_kind kind;
  char *source;
  char device[37];
  char serial_hex[41];
  int code;
  char *detail;
  uint64_t seq;
  uint8_t csr_sha256[32];           /* the request's, for the refusal journaled if its commit fails */
};

struct engine_outage;

/* A request prepared beside the engine (see engine_prepare). */
struct engine_request {
  int code;                         /* ST_OK, or the refusal found while preparing */
  struct st_detail detail;
  struct csr *csr;                  /* NULL when the bytes did not parse */
  uint8_t csr_sha256[32];
  uint8_t key_sha256[32];
  struct policy_identity id;
};

/* At most this many plans are signed by one signing task, and their
 * signatures checked by one pool task: a group of 256 costs the threads a few
 * dozen hand-offs, not two per certificate. */
#define ENGINE_SIGN_BLOCK 16

/* One signature to check with the CA certificate's key. */
struct engine_check {
  uint8_t digest[32];               /* SHA-256 of the TBSCertificate */
  uint8_t sig[DEVICE_SIG_MAX];      /* the token's signature of it */
  size_t sig_len;
  char serial_hex[41];
};

/* The checks of one signing task, run as one pool task. */
struct engine_checks {
  struct engine *engine;
  size_t count;
  struct engine_check item[ENGINE_SIGN_BLOCK];
};

/* The token's state: written by engine_sign.c alone (signing, faults, logging
 * in again); the other files ask it through engine_token_*. */
struct engine_token {
  struct workers *signers;          /* hsm.sessions threads signing; NULL for one session */
  struct pin *kept_pin;             /* the PIN of the last engine_login, locked, for logging in again */
  int wedged;                       /* a signature never came back: sign no more (atomic) */
  unsigned signed_count;            /* signatures finished (atomic): the watchdog's progress */
  int64_t fault_ms;                 /* when the last HSM fault happened (0: none since the last login) */
  unsigned backoff_ms;              /* wait before the next log-in attempt */
  struct st_detail fault_why;       /* what the last HSM fault (or log-in attempt) said */
};

/* The journal outage: written by engine_journal.c alone (stop, refusals while
 * stopped, resume); the other files ask engine_journal_stopped. */
struct engine_stop {
  int code;                         /* 0, or the code of the failed commit (atomic) */
  struct st_detail detail;          /* the sentence every request gets while stopped */
  char fs[256];                     /* the file system holding the journal */
  int64_t since_ms;                 /* when it stopped (monotonic) */
  int64_t resume_at_ms;             /* the earliest next attempt to resume (monotonic) */
  unsigned backoff_ms;              /* wait after a failed commit; doubles while commits keep failing */
  struct engine_outage *requests;   /* requests answered while stopped, journaled on resuming */
  size_t count, cap, lost;
};

struct engine {
  const struct station_config *cfg;
  struct policy policy;
  X509 *ca_cert;
  struct device_issuer *issuer;     /* ca_cert, encoded once for device certificates */
  X509 *root_cert;
  char *gateway_url;                /* NULL: no gateway configured */
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
  struct engine_token token;        /* engine_sign.c's */
  struct engine_stop stop;          /* engine_journal.c's */
  /* the seal (engine.c, audit_seal.c) */
  int established;                  /* the first login checked the journal's seal and head */
  int init_journal;                 /* engine_init_journal: the first login may begin a journal */
  int journal_created;              /* journal_open made the log file */
  char init_why[256];               /* the journal-init record's sentence, when one was written */
  uint64_t durable_issued;          /* issued records committed (sealed) */
};

enum engine_plan_kind {
  ENGINE_PLAN_HANDED_BACK,   /* issued before: result filled in phase 1 */
  ENGINE_PLAN_REFUSE,        /* refused: record in phase 3 */
  ENGINE_PLAN_SIGN,          /* to sign in phase 2, record in phase 3 */
  ENGINE_PLAN_COPY,          /* the same as an earlier request of the group */
};

/* What phase 1 of deciding (engine_decide.c) planned for one request, and
 * what phase 2 (engine_sign.c) made of it. A signing thread writes only the
 * phase 2 fields of its own plan, never the result: the engine thread moves
 * them into RES once the group is back (engine_sign_group). */
struct engine_plan {
  enum engine_plan_kind kind;
  size_t copy_of;                     /* ENGINE_PLAN_COPY: index of the original */
  uint64_t back_from;                 /* ENGINE_PLAN_HANDED_BACK: the issued record given out again */
  uint8_t back_serial[20];            /* ... and its certificate's serial */
  size_t back_serial_len;
  uint8_t serial[CERT_SERIAL_BYTES];
  struct engine *engine;
  const struct engine_request *req;
  struct engine_result *res;
  const char *source;                 /* where the request came from (borrowed) */
  int clone;                          /* refused as one of clones in the group (key or device) */
  /* phase 2 */
  int sign_result;                    /* ST_OK or the fault */
  uint8_t *cert_der;                  /* the signed certificate (owned until moved into RES) */
  size_t cert_len;
  char serial_hex[41];
  struct st_detail sign_detail;       /* why signing failed */
};

/* Phase 2 of deciding (engine_sign.c): signs every ENGINE_PLAN_SIGN plan
 * of PLANS (N) on the signing threads, its check on the pool, and fills the
 * results of those plans (certificate, serial, or the fault in sign_result
 * with its detail in the result). Before signing, after an earlier HSM fault
 * and its back-off, logs in again (engine_sign.c explains). Returns 0, or
 * ST_E_HSM_TIMEOUT when the token finished no signature for
 * hsm.sign_timeout seconds: then PLANS belongs to the engine (a thread may
 * still write into it) and every result of the group must carry the fault. */
int engine_sign_group(struct engine *e, struct engine_plan *plans, size_t n);

/* Signs a random digest with the CA key in the token and checks it with the
 * CA certificate (engine.c). Returns 0, ST_E_HSM or ST_E_CA_MISMATCH. */
int engine_prove_key(struct engine *e, struct st_detail *detail);

/* The seal (engine_sign.c): the journal key signs a checkpoint over every
 * record appended so far, on a signing thread under the watchdog
 * (hsm.sign_timeout), and the checkpoint is appended. Returns 0,
 * ST_E_JOURNAL_KEY (the token did not sign: noted as a token fault, the
 * engine logs in again before its next signature), ST_E_HSM_TIMEOUT (the
 * engine is wedged), or journal_append's codes. */
int engine_seal_append(struct engine *e, struct st_detail *detail);

/* engine_sign.c: starts the signing threads for SESSIONS (none for one).
 * Returns 0 or ST_E_NO_MEMORY. */
int engine_token_open(struct engine *e, unsigned sessions);

/* engine_sign.c: 1 when a call into the token never came back (the engine
 * is wedged until restarted). Thread-safe. */
int engine_token_wedged(const struct engine *e);

/* engine_sign.c: 1 when the token answers: no fault since the last login,
 * not wedged. */
int engine_token_answering(const struct engine *e);

/* engine_sign.c: a login succeeded: the token's faults are behind it. */
void engine_token_answered(struct engine *e);

/* engine_journal.c: a commit with records reached the journal: the wait
 * after a failed commit starts again from its least. */
void engine_journal_committed(struct engine *e);

/* Keeps a locked copy of PIN for logging in again after a fault (replacing
 * any earlier one). Returns 0 or ST_E_NO_MEMORY. */
int engine_pin_keep(struct engine *e, const char *pin);

/* Wipes and frees the kept PIN; the engine then cannot log in on its own. */
void engine_pin_forget(struct engine *e);

/* At engine_close: wipes the kept PIN; when the engine is wedged (a
 * signature or a re-login never came back), also waits up to
 * hsm.sign_timeout for the journal head to reach the token, closes the
 * journal, parks the rest of E with its audit (the stuck thread may still use
 * them) and returns 1: the caller must then not free E. Else returns 0. */
int engine_sign_close(struct engine *e);

/* Appends the seal (a checkpoint signed by the journal key) to the records
 * appended since the last commit, without writing anything; nothing when
 * none was appended. Without a token to seal with (not logged in, a token
 * fault being waited out), a group that holds no issued record stays
 * unsealed: the next sealed commit covers it. Returns 0, or the sealing
 * fault (the group is dropped: journal_abandon). */
int engine_seal_pending(struct engine *e, struct st_detail *detail);

/* Appends the seal (engine_seal_pending) to the records appended since the
 * last commit, then commits them all with one write and one fdatasync
 * (journal_commit). Returns 0, the sealing fault (the group is dropped), or
 * what journal_commit returned. */
int engine_seal_commit(struct engine *e, struct st_detail *detail);

/* Queues an event for the sinks; it goes out at the next successful commit.
 * Returns 0 or ST_E_NO_MEMORY. */
int engine_queue_event(struct engine *e, enum engine_event_kind kind, const char *source,
                       const struct engine_result *res);

/* Sends EV to every sink, with the journal's counts filled in. The one
 * place events leave the engine. */
void engine_emit(struct engine *e, struct engine_event *ev);

/* Sends the queued events to the sinks (DELIVER 1) or drops them (0). */
void engine_flush_events(struct engine *e, int deliver);

/* engine_journal.c: a commit of the journal failed with CODE (DETAIL, may
 * be NULL, says why): stops the engine on its journal, remembers the
 * requests of the queued events (and drops those events), emits
 * JOURNAL_STOPPED, and puts the sentence requests now get into DETAIL. */
void engine_journal_stop(struct engine *e, int code, struct st_detail *detail);

/* engine_journal.c: answers one request while stopped: RES gets CODE and
 * WHY (the identity of REQ, which may be NULL, when it has one) and the
 * request is remembered for the journal. */
void engine_journal_refuse(struct engine *e, const char *source, const struct engine_request *req,
                           struct engine_result *res, int code, const struct st_detail *why);

/* engine_journal.c: at engine_close, says what could not be journaled and
 * frees what the stop kept. */
void engine_journal_close(struct engine *e);

#endif
