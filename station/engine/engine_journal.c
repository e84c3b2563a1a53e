/*
 * engine_journal.c - when the journal cannot be written: the engine stops
 * signing, answers every request at once, and resumes by itself (the
 * contract is in engine.h, "when the journal cannot be written").
 *
 * The states:
 *
 *   running ---- a commit fails ----> stopped
 *      ^        (the group is not released; JOURNAL_STOPPED)
 *      |                                 |
 *      |          engine_resume, at most every 2 s (a request or a
 *      |          driver's timer): room on the file system (1 MiB),
 *      |          journal_recover, the head on the token, the refusals
 *      +--------- made meanwhile committed; JOURNAL_RESUMED
 *
 * While stopped nothing is appended and nothing is signed: a request
 * costs no signature and gets the stop's code (no-space, journal) with a
 * sentence that names the journal and the file system to free. What it
 * was is remembered: its source, device, CSR hash and the time it was
 * answered, and on resuming each becomes a refusal record with that code
 * and that time, before anything new is decided. The requests of the group
 * whose commit failed are remembered the same way (their signatures were
 * made but never released: those certificates exist nowhere but in memory
 * that is dropped). So the journal holds a record for every request the
 * station answered, late but in order, and a board that asks again after
 * the stop is decided anew: handed back from the journal when its
 * certificate was committed before, signed once otherwise.
 *
 * Resuming reads the whole journal back (as a restart would); a journal
 * that does not end on the last commit, was deleted or replaced, or no
 * longer matches the head on the token stops the engine for good
 * (e->failed), because a restart would refuse it too.
 */
#include "engine.h"
#include "engine_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "clock.h"
#include "journal.h"
#include "log.h"

#define ENGINE_RESUME_EVERY_MS 2000u                 /* between room checks while stopped */
#define ENGINE_RESUME_BACKOFF_MAX_MS 64000u          /* when a resumed journal keeps failing */
#define ENGINE_RESUME_ROOM (UINT64_C(1024) * 1024)   /* free bytes wanted before signing again */
#define ENGINE_OUTAGE_MAX 1024                       /* requests remembered for the journal */

/* A request answered while stopped (or in the group whose commit failed). */
struct engine_outage {
  int64_t time_ms;           /* wall clock, when it was answered */
  int code;                  /* the stop's code */
  char *source;
  char device[37];
  uint8_t csr_sha256[32];
  int has_csr;
};

void engine_journal_committed(struct engine *e)
{
  e->stop.backoff_ms = 0;
}

int engine_journal_stopped(const struct engine *e)
{
  return __atomic_load_n(&e->stop.code, __ATOMIC_ACQUIRE);
}

/* Tells every sink about the journal: KIND with CODE and TEXT. */
static void engine_journal_emit(struct engine *e, enum engine_event_kind kind, int code, const char *text)
{
  struct engine_event ev = {.kind = kind, .source = journal_log_path(e->journal), .device = "",
                            .serial_hex = "", .code = code, .detail = text, .seq = 0,
                            .filesystem = e->stop.fs};
  engine_emit(e, &ev);
}

/* The sentence every request gets while stopped, from WHY. */
static void engine_stop_explain(struct engine *e, const char *why)
{
  char text[sizeof e->stop.detail.text];
  snprintf(text, sizeof text, "%s", why);
  if (e->stop.code == ST_E_NO_SPACE)
    st_detail_set(&e->stop.detail, "the journal disk is full: %s; nothing was released; signing resumes once "
                  "there is room on %s", text, e->stop.fs);
  else
    st_detail_set(&e->stop.detail, "the journal cannot be written: %s; nothing was released; signing resumes "
                  "once it can be written again", text);
}

/* Remembers one request answered while stopped (at most ENGINE_OUTAGE_MAX;
 * beyond that, or out of memory, it is only counted). */
static void engine_outage_note(struct engine *e, int code, const char *source, const char *device,
                               const uint8_t *csr_sha256)
{
  static const uint8_t zero[32];
  struct engine_outage *o, *grown;
  size_t cap = e->stop.cap ? e->stop.cap * 2 : 16;
  int kept = 0;

  if (e->stop.count == e->stop.cap) {
    grown = cap <= ENGINE_OUTAGE_MAX ? realloc(e->stop.requests, cap * sizeof *grown) : NULL;
    if (grown == NULL)
      goto out;
    e->stop.requests = grown;
    e->stop.cap = cap;
  }
  o = &e->stop.requests[e->stop.count];
  memset(o, 0, sizeof *o);
  if ((o->source = strdup(source != NULL ? source : "")) == NULL)
    goto out;
  o->time_ms = st_wall_ms();
  o->code = code;
  snprintf(o->device, sizeof o->device, "%s", device != NULL ? device : "");
  if (csr_sha256 != NULL && memcmp(csr_sha256, zero, 32) != 0) {
    memcpy(o->csr_sha256, csr_sha256, 32);
    o->has_csr = 1;
  }
  e->stop.count++;
  kept = 1;
out:
  if (!kept)
    e->stop.lost++;
}

static void engine_outage_clear(struct engine *e)
{
  for (size_t i = 0; i < e->stop.count; i++)
    free(e->stop.requests[i].source);
  e->stop.count = 0;
  e->stop.lost = 0;
}

void engine_journal_stop(struct engine *e, int code, struct st_detail *detail)
{
  int64_t now = st_mono_ms();
  int was = engine_journal_stopped(e);
  struct st_detail why = {""};

  if (detail != NULL)
    why = *detail;
  journal_filesystem(journal_log_path(e->journal), e->stop.fs, sizeof e->stop.fs);
  __atomic_store_n(&e->stop.code, code, __ATOMIC_RELEASE);
  e->stop.backoff_ms = e->stop.backoff_ms == 0 ? ENGINE_RESUME_EVERY_MS
                       : e->stop.backoff_ms * 2 > ENGINE_RESUME_BACKOFF_MAX_MS ? ENGINE_RESUME_BACKOFF_MAX_MS
                                                                               : e->stop.backoff_ms * 2;
  e->stop.resume_at_ms = now + e->stop.backoff_ms;
  if (!was)
    e->stop.since_ms = now;
  engine_stop_explain(e, why.text[0] ? why.text : st_error_sentence(code));
  /* the group that failed: answered with the stop, journaled as refusals on resuming */
  for (size_t i = 0; i < e->pending_count; i++)
    engine_outage_note(e, code, e->pending[i].source, e->pending[i].device, e->pending[i].csr_sha256);
  engine_flush_events(e, 0);
  if (!was)
    engine_journal_emit(e, ENGINE_EVENT_JOURNAL_STOPPED, code, e->stop.detail.text);
  else
    st_warn("journal: still cannot be written: %s", e->stop.detail.text);
  if (detail != NULL)
    *detail = e->stop.detail;
}

void engine_journal_refuse(struct engine *e, const char *source, const struct engine_request *req,
                           struct engine_result *res, int code, const struct st_detail *why)
{
  memset(res, 0, sizeof *res);
  res->code = code;
  res->detail = *why;
  if (req != NULL) {
    memcpy(res->csr_sha256, req->csr_sha256, sizeof res->csr_sha256);
    memcpy(res->device, req->id.device_id, sizeof res->device);
  }
  if (engine_journal_stopped(e) && !e->failed)
    engine_outage_note(e, code, source, res->device, req != NULL ? res->csr_sha256 : NULL);
}

/* Appends a refusal record for every request answered while stopped, with
 * the time it was answered, queues their events and commits them. Returns 0
 * or what the commit returned (then the journal has failed again, the
 * queued events are dropped and the requests stay remembered). */
static int engine_outage_commit(struct engine *e, struct st_detail *detail)
{
  static const char text[] = "turned away while the journal could not be written: nothing was released; "
                             "journaled when it could be written again";
  int r;
  for (size_t i = 0; i < e->stop.count; i++) {
    struct engine_outage *o = &e->stop.requests[i];
    struct journal_record rec;
    struct engine_result res;
    memset(&rec, 0, sizeof rec);
    memset(&res, 0, sizeof res);
    rec.event = JOURNAL_EVENT_REFUSED;
    rec.time_ms = o->time_ms;
    rec.source = o->source;
    rec.device = o->device[0] != '\0' ? o->device : NULL;
    memcpy(rec.csr_sha256, o->csr_sha256, 32);
    rec.has_csr_sha256 = o->has_csr;
    rec.reason = (char *)st_error_name(o->code);
    rec.detail = (char *)text;
    if (journal_append(e->journal, &rec) != ST_OK) {
      st_warn("journal: the refusal of a request from %s answered while stopped could not be journaled",
              o->source);
      continue;
    }
    res.code = o->code;
    res.seq = rec.seq;
    memcpy(res.device, o->device, sizeof res.device);
    memcpy(res.csr_sha256, o->csr_sha256, sizeof res.csr_sha256);
    snprintf(res.detail.text, sizeof res.detail.text, "%s", text);
    if (engine_queue_event(e, ENGINE_EVENT_REFUSED, o->source, &res) != ST_OK)
      st_warn("journal: no event for the refusal journaled as record %llu", (unsigned long long)rec.seq);
  }
  r = engine_seal_commit(e, detail);
  if (r != ST_OK)
    engine_flush_events(e, 0); /* those requests stay remembered */
  return r;
}

/* One attempt to resume (due now). Returns 0 when resumed, or the code. */
static int engine_resume_now(struct engine *e, struct st_detail *detail)
{
  int r, stop = engine_journal_stopped(e);
  int64_t now = st_mono_ms();
  size_t journaled = e->stop.count, lost = e->stop.lost;
  struct journal_open_report report;
  struct st_detail why = {""};
  char text[sizeof why.text];

  e->stop.resume_at_ms = now + ENGINE_RESUME_EVERY_MS;
  r = journal_room(e->journal, ENGINE_RESUME_ROOM, &why);
  if (r == ST_OK)
    r = journal_recover(e->journal, &report, &why);
  if (r == ST_OK && e->logged_in && e->audit != NULL) {
    /* the heads posted before the stop first, so that the check sees the newest one */
    if (audit_head_flush(e->audit, &why) != ST_OK)
      st_warn("journal: the head could not be written to the token: %s", why.text);
    r = audit_check_journal(e->audit, e->journal, &why);
  }
  if (st_error_has(r, ST_CLASS_JOURNAL_UNTRUSTED)) { /* a restart would refuse it too */
    e->failed = 1;
    __atomic_store_n(&e->stop.code, 0, __ATOMIC_RELEASE);
    engine_outage_clear(e);
    engine_journal_emit(e, ENGINE_EVENT_JOURNAL_STOPPED, r, why.text);
    *detail = why;
    return r;
  }
  if (r != ST_OK) {
    if (r != ST_E_NO_SPACE) /* not a matter of room: wait as after a failed commit */
      e->stop.resume_at_ms = now + e->stop.backoff_ms;
    engine_stop_explain(e, why.text);
    *detail = e->stop.detail;
    return stop;
  }
  r = engine_outage_commit(e, &why);
  if (r != ST_OK) {
    engine_journal_stop(e, r, &why);
    *detail = why;
    return r;
  }
  __atomic_store_n(&e->stop.code, 0, __ATOMIC_RELEASE);
  engine_outage_clear(e);
  engine_flush_events(e, 1);
  snprintf(text, sizeof text, "journal %s can be written again after %lld s: signing resumed; %zu request%s "
           "answered meanwhile journaled as refused (%s)", journal_log_path(e->journal),
           (long long)((now - e->stop.since_ms) / 1000), journaled, journaled == 1 ? "" : "s", st_error_name(stop));
  if (lost > 0)
    st_warn("journal: %zu more requests answered while it could not be written were too many to remember and "
            "are not journaled", lost);
  engine_journal_emit(e, ENGINE_EVENT_JOURNAL_RESUMED, ST_OK, text);
  r = engine_audit_commit(e, detail);
  if (r == ST_OK && engine_journal_stopped(e)) { /* a checkpoint's commit failed at once */
    r = engine_journal_stopped(e);
    *detail = e->stop.detail;
  }
  return r;
}

int engine_resume(struct engine *e, struct st_detail *detail)
{
  int r;
  struct st_detail local = {""};
  if (e->failed) {
    st_detail_set(detail, "the engine stopped after an earlier fault; restart the station");
    return ST_E_JOURNAL;
  }
  r = engine_journal_stopped(e);
  if (r == ST_OK)
    return r;
  if (st_mono_ms() < e->stop.resume_at_ms) {
    if (detail != NULL)
      *detail = e->stop.detail;
    return r;
  }
  r = engine_resume_now(e, &local);
  if (detail != NULL)
    *detail = local;
  return r;
}

void engine_journal_close(struct engine *e)
{
  size_t n = e->stop.count + e->stop.lost;
  if (n > 0)
    st_warn("journal: closed before it could be written again: %zu request%s turned away because of it %s not "
            "journaled as refused", n, n == 1 ? "" : "s", n == 1 ? "is" : "are");
  engine_outage_clear(e);
  free(e->stop.requests);
  e->stop.requests = NULL;
  e->stop.cap = 0;
}
