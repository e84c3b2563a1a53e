/*
 * engine_internal.h - what engine.c (opening, login, commit, audit hooks) and
 * engine_decide.c (deciding requests) share. Not for other modules.
 */
#ifndef STATION_ENGINE_INTERNAL_H
#define STATION_ENGINE_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "engine.h"
#include "error.h"
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
  struct workers *signers;          /* hsm.sessions > 1: threads signing in parallel */
};

/* Queues an event for the sinks; it goes out at the next successful commit.
 * Returns 0 or ST_E_NO_MEMORY. */
int engine_queue_event(struct engine *e, enum engine_event_kind kind, const char *source,
                       const struct engine_result *res);

#endif
