/* serial_server.c - the poll loop over every port (see serial_server.h). */
#include "serial_server.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "clock.h"
#include "encoding.h"
#include "engine.h"
#include "error.h"
#include "line_parser.h"
#include "log.h"
#include "serial_answer.h"
#include "serial_port.h"
#include "workers.h"

#define SERVER_READ_CHUNK 4096
#define SERVER_READS_PER_TURN 8          /* per port: one port cannot hog a turn */
#define SERVER_OUTPUT_MAX (64 * 1024)    /* answers a board has not read yet */
#define SERVER_REOPEN_MS 1000
#define SERVER_QUEUE_PER_PORT 4

/* A request waiting for the engine. */
struct serial_request {
  struct serial_request *next;
  size_t slot;
  unsigned generation;       /* the slot's generation when it arrived */
  int refusal;               /* ST_OK: a CSR in DATA; else a refusal the parser decided */
  char *data;
  size_t len;
  const struct engine *engine;
  int prepared;              /* ST_OK, or ST_E_NO_MEMORY: what engine_prepare of DATA gave */
  struct engine_request *request;  /* the prepared CSR (refusal ST_OK), once its group is prepared */
  char why[160];             /* the refusal's particulars */
  char request_hex[65];      /* SHA-256 of DATA, hex (the answer's Request-SHA256), or "" */
};

/* One port and everything the loop keeps for it. */
struct serial_slot {
  struct serial_server *server;
  size_t index;
  char *path;
  unsigned baud;
  char *source;              /* "serial:<path>", the journal source */
  struct serial_port *port;  /* NULL while the port is gone */
  unsigned generation;       /* +1 each time the port is lost: answers never cross to a new board */
  struct line_parser *parser;
  enum serial_port_state state;
  int64_t next_open_ms;
  int lost_reported;         /* the current outage was reported */
  uint8_t *out;              /* SERVER_OUTPUT_MAX bytes: answers not yet taken by the port */
  size_t out_len;
  size_t queued;             /* requests of this port in the queue */
  int taken;                 /* a request of this port is in the current group */
  int poll_index;            /* in the pollfd array, or -1 */
};

struct serial_server {
  struct engine *engine;
  struct serial_server_options options;
  struct serial_slot *slots;
  size_t slot_count;
  char *chain_pem;           /* local CA + root, the tail of every issued answer */
  struct serial_request *queue;
  struct serial_sink *sinks;
  size_t sink_count;
  struct pollfd *fds;        /* the driver's array of the last serial_server_poll_set (borrowed), or NULL */
  struct serial_request **group;
  struct engine_result *results;
  struct work_group *prepares;  /* the group's CSRs being prepared on the engine's pool */
};

/* Sets the slot's STATE and tells every sink. */
static void server_emit(struct serial_slot *slot, enum serial_event_kind kind, enum serial_port_state state, int code,
                        const char *device, const char *serial_hex, const char *text)
{
  struct serial_server *s = slot->server;
  struct serial_event ev = {kind, slot->path, state, code, device != NULL ? device : "",
                            serial_hex != NULL ? serial_hex : "", text != NULL ? text : ""};
  slot->state = state;
  for (size_t i = 0; i < s->sink_count; i++)
    s->sinks[i].emit(s->sinks[i].arg, &ev);
}

/* ---- ports coming and going ---- */

static void server_lose(struct serial_slot *slot, const char *why)
{
  serial_port_close(slot->port);
  slot->port = NULL;
  slot->generation++;
  slot->out_len = 0;
  line_parser_reset(slot->parser);
  slot->next_open_ms = st_mono_ms() + slot->server->options.reopen_interval_ms;
  slot->lost_reported = 1;
  server_emit(slot, SERIAL_EVENT_LOST, SERIAL_PORT_ERROR, ST_E_SERIAL_PORT, NULL, NULL, why);
}

static void server_try_open(struct serial_slot *slot, int64_t now)
{
  struct st_detail why = {""};
  int r = serial_port_open(slot->path, slot->baud, &slot->port, &why);
  if (r == ST_OK) {
    slot->lost_reported = 0;
    line_parser_reset(slot->parser);
    server_emit(slot, SERIAL_EVENT_OPENED, slot->queued > 0 ? SERIAL_PORT_SIGNING : SERIAL_PORT_IDLE, ST_OK, NULL,
                NULL, NULL);
  } else {
    slot->next_open_ms = now + slot->server->options.reopen_interval_ms;
    if (!slot->lost_reported)
      server_emit(slot, SERIAL_EVENT_LOST, SERIAL_PORT_ERROR, r, NULL, NULL, why.text);
    slot->lost_reported = 1;
  }
}

/* Hands as much pending output to the port as it takes now. */
static void server_flush(struct serial_slot *slot)
{
  struct st_detail why = {""};
  size_t written = 0;
  if (slot->port == NULL || slot->out_len == 0)
    return;
  if (serial_port_write(slot->port, slot->out, slot->out_len, &written, &why) != ST_OK) {
    server_lose(slot, why.text);
    return;
  }
  memmove(slot->out, slot->out + written, slot->out_len - written);
  slot->out_len -= written;
}

/* Queues TEXT for the port, or says why it cannot be delivered. Returns 1 when queued. */
static int server_deliver(struct serial_slot *slot, const char *text, size_t len)
{
  int queued = 0;
  if (slot->port == NULL) {
    server_emit(slot, SERIAL_EVENT_DROPPED, slot->state, ST_E_SERIAL_PORT, NULL, NULL,
                "the port went away before the answer was ready; the board's retry gets the same answer");
  } else if (len > SERVER_OUTPUT_MAX - slot->out_len) {
    server_emit(slot, SERIAL_EVENT_DROPPED, slot->state, ST_E_SERIAL_PORT, NULL, NULL,
                "the board has not read its earlier answers; this one was dropped");
  } else {
    memcpy(slot->out + slot->out_len, text, len);
    slot->out_len += len;
    queued = 1;
  }
  return queued;
}

/* ---- requests ---- */

/* The SHA-256 of the LEN bytes of DATA as hex into HEX (65 bytes); "" when
 * LEN is 0 or the digest fails. */
static void server_request_hex(const char *data, size_t len, char hex[65])
{
  uint8_t md[32];
  unsigned int md_len = 0;
  hex[0] = '\0';
  if (len > 0 && EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL) == 1 && md_len == sizeof md)
    st_hex_encode(hex, md, sizeof md);
}

/* The header lines of an answer to a request named REQUEST_HEX ("" for none). */
static struct serial_answer_meta server_meta(const struct serial_server *s, const char *request_hex)
{
  struct serial_answer_meta meta = {request_hex[0] != '\0' ? request_hex : NULL, time(NULL),
                                    engine_gateway_url(s->engine)};
  return meta;
}

/* Task: prepares the CSR of a request (engine_prepare). */
static void server_prepare(void *arg)
{
  struct serial_request *q = arg;
  q->prepared = engine_prepare(q->engine, (const uint8_t *)q->data, q->len, &q->request);
}

/* Frees a request that no pool task holds any more. */
static void server_request_free(struct serial_request *q)
{
  engine_request_free(q->request);
  free(q->data);
  free(q);
}

static void server_enqueue(struct serial_slot *slot, int refusal, const char *data, size_t len, const char *why)
{
  struct serial_server *s = slot->server;
  struct serial_request *q = NULL, **tail;
  char *busy = NULL, request_hex[65];
  size_t busy_len = 0;
  struct serial_answer_meta meta;

  server_request_hex(data, len, request_hex);
  if (slot->queued >= s->options.queue_per_port) {
    meta = server_meta(s, request_hex);
    if (serial_answer_refused(ST_E_SERIAL_BUSY, NULL, &meta, &busy, &busy_len) == ST_OK)
      server_deliver(slot, busy, busy_len);
    server_emit(slot, SERIAL_EVENT_DROPPED, slot->state, ST_E_SERIAL_BUSY, NULL, NULL,
                "a CSR arrived while the port already had its fill of requests waiting; it was answered serial-busy");
    goto out;
  }
  q = calloc(1, sizeof *q);
  if (q == NULL || (len > 0 && (q->data = malloc(len)) == NULL)) {
    st_error("%s: out of memory: a request was dropped", slot->path);
    goto out;
  }
  q->slot = slot->index;
  q->generation = slot->generation;
  q->refusal = refusal;
  if (len > 0)
    memcpy(q->data, data, len);
  q->len = len;
  snprintf(q->why, sizeof q->why, "%s", why);
  memcpy(q->request_hex, request_hex, sizeof q->request_hex);
  q->engine = s->engine;
  for (tail = &s->queue; *tail != NULL; tail = &(*tail)->next)
    ;
  *tail = q;
  q = NULL;
  slot->queued++;
  server_emit(slot, SERIAL_EVENT_QUEUED, SERIAL_PORT_SIGNING, refusal, NULL, NULL, why);
out:
  if (q != NULL)
    free(q->data);
  free(q);
  free(busy);
}

static void server_on_message(void *arg, const struct line_message *m)
{
  struct serial_slot *slot = arg;
  char why[160];
  switch (m->kind) {
  case LINE_MESSAGE_CSR:
    server_enqueue(slot, ST_OK, m->text, m->len, "");
    break;
  case LINE_MESSAGE_TOO_LARGE:
    snprintf(why, sizeof why, "the block passed %d bytes before its END line", LINE_PARSER_BLOCK_MAX);
    server_enqueue(slot, ST_E_TOO_LARGE, NULL, 0, why);
    break;
  case LINE_MESSAGE_TIMEOUT:
    snprintf(why, sizeof why, "no byte arrived for %u ms before the END line",
             (unsigned)slot->server->options.block_timeout_ms);
    server_enqueue(slot, ST_E_TIMEOUT, NULL, 0, why);
    break;
  }
}

static void server_read(struct serial_slot *slot, int64_t now)
{
  uint8_t buf[SERVER_READ_CHUNK];
  struct st_detail why = {""};
  for (int i = 0; i < SERVER_READS_PER_TURN && slot->port != NULL; i++) {
    size_t got = 0;
    if (serial_port_read(slot->port, buf, sizeof buf, &got, &why) != ST_OK) {
      server_lose(slot, why.text);
      break;
    }
    if (got == 0)
      break;
    line_parser_feed(slot->parser, buf, got, now, server_on_message, slot);
  }
  if (slot->port != NULL && line_parser_in_block(slot->parser) &&
      (slot->state == SERIAL_PORT_IDLE || slot->state == SERIAL_PORT_ANSWERED))
    server_emit(slot, SERIAL_EVENT_RECEIVING, SERIAL_PORT_RECEIVING, ST_OK, NULL, NULL, NULL);
}

/* Writes the answer of one decided request into its port's output. */
static void server_answer(struct serial_server *s, const struct serial_request *q, const struct engine_result *res)
{
  struct serial_slot *slot = &s->slots[q->slot];
  enum serial_port_state after = slot->queued > 0 ? SERIAL_PORT_SIGNING : SERIAL_PORT_ANSWERED;
  char *text = NULL;
  size_t len = 0;
  struct serial_answer_meta meta = server_meta(s, q->request_hex);
  int r;

  if (res->code == ST_OK)
    r = serial_answer_issued(res->cert_der, res->cert_len, s->chain_pem, res->serial_hex, &meta, &text, &len);
  else
    r = serial_answer_refused(res->code, res->detail.text, &meta, &text, &len);
  if (r != ST_OK) {
    st_error("%s: the answer could not be written out: %s", slot->path, st_error_sentence(r));
  } else if (q->generation != slot->generation) {
    server_emit(slot, SERIAL_EVENT_DROPPED, slot->state, res->code, res->device, res->serial_hex,
                "the port went away before the answer was ready; the board's retry gets the same answer");
  } else if (server_deliver(slot, text, len)) {
    server_emit(slot, SERIAL_EVENT_ANSWERED, after, res->code, res->device, res->serial_hex, res->detail.text);
    server_flush(slot);
  }
  free(text);
}

/* The group's commit failed and the engine stopped on its journal: nothing
 * of the group may go out; every request of it is answered with CODE and
 * the engine's sentence in DETAIL instead. */
static void server_fail_group(struct serial_server *s, size_t n, int code, const struct st_detail *detail)
{
  for (size_t i = 0; i < n; i++) {
    struct engine_result *res = &s->results[i];
    free(res->cert_der);
    res->cert_der = NULL;
    res->cert_len = 0;
    res->serial_hex[0] = '\0';
    res->code = code;
    res->detail = *detail;
  }
  st_warn("serial: %zu request%s answered %s: %s", n, n == 1 ? "" : "s", st_error_name(code), detail->text);
}

/* While the engine is stopped on its journal, lets it try to resume (it
 * tries at most every few seconds). Returns 0, or the fault when the engine
 * stopped for good. */
static int server_resume(struct serial_server *s, struct st_detail *detail)
{
  int r;
  struct st_detail why = {""};
  if (!engine_journal_stopped(s->engine))
    return ST_OK;
  r = engine_resume(s->engine, &why);
  if (r != ST_OK && engine_journal_stopped(s->engine))
    r = ST_OK; /* still stopped: the engine tries again later */
  if (r != ST_OK)
    *detail = why;
  return r;
}

/* What the engine's answer F (not ST_OK) for the request of SLOT means: the
 * journal cannot be written (RES is answered at once, the station carries
 * on), a fault that stops the station (*R, with DETAIL, when none before), or
 * a fault of this request alone (RES carries it; logged). */
static void server_decided(struct serial_server *s, const struct serial_slot *slot, struct engine_result *res,
                           int f, int *r, struct st_detail *detail)
{
  if (engine_journal_stopped(s->engine)) {
    res->code = f;
    st_debug("%s: answered %s: the journal cannot be written", slot->path, st_error_name(f));
  } else if (st_error_has(f, ST_CLASS_STOPS_RELEASE)) {
    if (*r == ST_OK)
      st_detail_set(detail, "%s: %s", slot->path, res->detail.text[0] ? res->detail.text : st_error_sentence(f));
    *r = f;
  } else {
    res->code = f;
    st_error("%s: %s (%s)%s%s; the board is answered with the code and the station carries on", slot->path,
             st_error_sentence(f), st_error_name(f), res->detail.text[0] ? ": " : "", res->detail.text);
  }
}

/* Decides the N requests of the group into s->results: those refused by the
 * intake (busy, too large) one by one, the CSRs together as one engine group,
 * so that the identity rules see every port's request of this turn at once
 * (two boards with one key, or one id with two keys, are clones: both
 * refused). Returns 0, or the fault that must stop the station. */
static int server_decide_requests(struct serial_server *s, size_t n, struct st_detail *detail)
{
  int r = ST_OK, f;
  size_t m = 0;
  const char **sources = calloc(n + 1, sizeof *sources);
  const struct engine_request **reqs = calloc(n + 1, sizeof *reqs);
  struct engine_result *results = calloc(n + 1, sizeof *results);
  size_t *where = calloc(n + 1, sizeof *where);

  if (sources == NULL || reqs == NULL || results == NULL || where == NULL) {
    r = ST_E_NO_MEMORY;
    st_detail_set(detail, "no memory to decide a group of %zu serial requests", n);
    goto out;
  }
  for (size_t i = 0; i < n && r == ST_OK; i++) {
    struct serial_request *q = s->group[i];
    struct serial_slot *slot = &s->slots[q->slot];
    struct engine_result *res = &s->results[i];
    if (q->refusal != ST_OK) {
      f = engine_refuse(s->engine, slot->source, q->refusal, q->why, res);
    } else {
      memset(res, 0, sizeof *res);
      f = q->prepared;
      if (f == ST_OK) {
        reqs[m] = q->request;
        sources[m] = slot->source;
        where[m++] = i;
      }
    }
    if (f != ST_OK)
      server_decided(s, slot, res, f, &r, detail);
  }
  if (r != ST_OK || m == 0)
    goto out;
  f = engine_decide_many(s->engine, m, sources, reqs, results);
  for (size_t k = 0; k < m; k++) {
    struct engine_result *res = &s->results[where[k]];
    *res = results[k];
    if (f != ST_OK && res->code == f)
      server_decided(s, &s->slots[s->group[where[k]]->slot], res, f, &r, detail);
  }
out:
  free(where);
  free(results);
  free(reqs);
  free(sources);
  return r;
}

/* Prepares the CSRs of the N requests of the group (engine_prepare): the
 * first on this thread, which would otherwise wait; the others on the
 * engine's pool, this thread taking those no pool thread has started
 * (work_group_help), so that a lone request costs no hand-off and a group
 * is not queued behind a batch's read-ahead on the pool. */
static void server_prepare_group(struct serial_server *s, size_t n)
{
  struct serial_request *first = NULL;
  size_t submitted = 0;
  for (size_t i = 0; i < n; i++) {
    struct serial_request *q = s->group[i];
    if (q->refusal != ST_OK)
      continue;
    if (first == NULL) {
      first = q;
    } else {
      workers_submit(engine_workers(s->engine), s->prepares, server_prepare, q);
      submitted++;
    }
  }
  if (first != NULL)
    server_prepare(first);
  if (submitted > 0)
    work_group_help(engine_workers(s->engine), s->prepares);
}

/* Decides the head of the queue, at most one request per port, with one
 * commit; then answers. Returns 0, or the fault that must stop the station. */
static int server_decide_group(struct serial_server *s, struct st_detail *detail)
{
  int r = ST_OK;
  size_t n = 0;
  int64_t start_ms = st_mono_ms(), decided_ms;

  for (struct serial_request **pp = &s->queue; *pp != NULL && n < s->slot_count;) {
    struct serial_request *q = *pp;
    if (s->slots[q->slot].taken) {
      pp = &q->next;
      continue;
    }
    s->slots[q->slot].taken = 1;
    s->slots[q->slot].queued--;
    *pp = q->next;
    s->group[n++] = q;
  }
  server_prepare_group(s, n);
  r = server_decide_requests(s, n, detail);
  decided_ms = st_mono_ms();
  if (r == ST_OK && n > 0)
    r = engine_commit(s->engine, detail);
  if (r != ST_OK && engine_journal_stopped(s->engine)) {
    server_fail_group(s, n, r, detail);
    r = ST_OK;
  }
  if (n > 0)
    st_debug("serial: a group of %zu request%s decided in %lld ms, made durable in %lld ms", n, n == 1 ? "" : "s",
             (long long)(decided_ms - start_ms), (long long)(st_mono_ms() - decided_ms));
  for (size_t i = 0; i < n; i++) {
    if (r == ST_OK)
      server_answer(s, s->group[i], &s->results[i]);
    s->slots[s->group[i]->slot].taken = 0;
    engine_result_cleanup(&s->results[i]);
    server_request_free(s->group[i]);
  }
  return r;
}

/* ---- the turns ---- */

int serial_server_timeout(const struct serial_server *s)
{
  int64_t now = st_mono_ms(), wait = 1000;
  if (s->queue != NULL)
    return 0;
  for (size_t i = 0; i < s->slot_count; i++) {
    const struct serial_slot *slot = &s->slots[i];
    int64_t due = slot->port == NULL ? slot->next_open_ms : line_parser_deadline(slot->parser);
    if (due >= 0 && due - now < wait)
      wait = due - now;
  }
  return wait < 0 ? 0 : (int)wait;
}

size_t serial_server_port_count(const struct serial_server *s)
{
  return s->slot_count;
}

size_t serial_server_poll_set(struct serial_server *s, struct pollfd *fds)
{
  size_t n = 0;
  s->fds = fds;
  for (size_t i = 0; i < s->slot_count; i++) {
    struct serial_slot *slot = &s->slots[i];
    slot->poll_index = -1;
    if (slot->port == NULL)
      continue;
    slot->poll_index = (int)n;
    fds[n++] = (struct pollfd){serial_port_fd(slot->port), (short)(POLLIN | (slot->out_len > 0 ? POLLOUT : 0)), 0};
  }
  return n;
}

/* Takes what poll() reported for every port, then timeouts and reopenings. */
static void server_serve_ports(struct serial_server *s, int64_t now)
{
  for (size_t i = 0; i < s->slot_count; i++) {
    struct serial_slot *slot = &s->slots[i];
    short rev = slot->poll_index >= 0 && s->fds != NULL ? s->fds[slot->poll_index].revents : 0;
    if (slot->port != NULL && (rev & POLLNVAL))
      server_lose(slot, "the port's file descriptor became invalid");
    if (slot->port != NULL && (rev & POLLOUT))
      server_flush(slot);
    if (slot->port != NULL && (rev & (POLLIN | POLLHUP | POLLERR)))
      server_read(slot, now);
    if (slot->port != NULL && (rev & (POLLHUP | POLLERR)))
      server_lose(slot, rev & POLLHUP ? "the line hung up (adapter unplugged?)" : "the port reported an error");
    if (slot->port != NULL)
      line_parser_tick(slot->parser, now, server_on_message, slot);
    else if (now >= slot->next_open_ms)
      server_try_open(slot, now);
    slot->poll_index = -1; /* taken: a later turn without a poll reads nothing stale */
  }
}

void serial_server_open(struct serial_server *s)
{
  int64_t now = st_mono_ms();
  for (size_t i = 0; i < s->slot_count; i++)
    server_try_open(&s->slots[i], now);
}

int serial_server_turn(struct serial_server *s, struct st_detail *detail)
{
  int r;
  server_serve_ports(s, st_mono_ms());
  r = server_decide_group(s, detail);
  if (r == ST_OK)
    r = server_resume(s, detail);
  return r;
}

void serial_server_close_ports(struct serial_server *s)
{
  for (size_t i = 0; i < s->slot_count; i++) {
    server_flush(&s->slots[i]);
    serial_port_close(s->slots[i].port);
    s->slots[i].port = NULL;
  }
}

/* ---- making and freeing ---- */

int serial_server_add_sink(struct serial_server *s, const struct serial_sink *sink)
{
  int r = ST_E_NO_MEMORY;
  struct serial_sink *grown = realloc(s->sinks, (s->sink_count + 1) * sizeof *grown);
  if (grown != NULL) {
    s->sinks = grown;
    s->sinks[s->sink_count++] = *sink;
    r = ST_OK;
  }
  return r;
}

static int server_slot_init(struct serial_server *s, size_t i, const struct serial_port_spec *spec)
{
  struct serial_slot *slot = &s->slots[i];
  size_t source_len = strlen("serial:") + strlen(spec->path) + 1;

  slot->server = s;
  slot->index = i;
  slot->baud = spec->baud;
  slot->state = SERIAL_PORT_ERROR;
  slot->poll_index = -1;
  slot->path = strdup(spec->path);
  slot->source = malloc(source_len);
  slot->out = malloc(SERVER_OUTPUT_MAX);
  slot->parser = line_parser_new(0, s->options.block_timeout_ms);
  if (slot->path == NULL || slot->source == NULL || slot->out == NULL || slot->parser == NULL)
    return ST_E_NO_MEMORY; /* what was made is freed with the server */
  snprintf(slot->source, source_len, "serial:%s", spec->path);
  return ST_OK;
}

int serial_server_new(struct engine *e, const struct serial_port_spec *specs, size_t n,
                      const struct serial_server_options *options, struct serial_server **out,
                      struct st_detail *detail)
{
  int r = ST_E_USAGE;
  struct serial_server *s = NULL;

  if (n == 0) {
    st_detail_set(detail, "no serial port to serve");
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    if (!serial_baud_supported(specs[i].baud)) {
      st_detail_set(detail, "%s: %u baud is not supported", specs[i].path, specs[i].baud);
      r = ST_E_SERIAL_BAUD;
      goto out;
    }
  }
  r = ST_E_NO_MEMORY;
  s = calloc(1, sizeof *s);
  if (s == NULL)
    goto out;
  s->engine = e;
  if (options != NULL)
    s->options = *options;
  if (s->options.block_timeout_ms == 0)
    s->options.block_timeout_ms = LINE_PARSER_TIMEOUT_MS;
  if (s->options.reopen_interval_ms == 0)
    s->options.reopen_interval_ms = SERVER_REOPEN_MS;
  if (s->options.queue_per_port == 0)
    s->options.queue_per_port = SERVER_QUEUE_PER_PORT;
  s->slots = calloc(n, sizeof *s->slots);
  s->prepares = work_group_new();
  s->group = calloc(n, sizeof *s->group);
  s->results = calloc(n, sizeof *s->results);
  if (s->slots == NULL || s->prepares == NULL || s->group == NULL || s->results == NULL)
    goto out;
  s->slot_count = n;
  for (size_t i = 0; i < n; i++)
    if ((r = server_slot_init(s, i, &specs[i])) != ST_OK)
      goto out;
  r = serial_answer_chain(engine_ca_cert(e), engine_root_cert(e), &s->chain_pem);
  if (r != ST_OK)
    goto out;
  *out = s;
  s = NULL;
out:
  serial_server_free(s);
  return r;
}

void serial_server_free(struct serial_server *s)
{
  if (s == NULL)
    return;
  work_group_free(s->prepares); /* waits for the preparations still running */
  for (size_t i = 0; i < s->slot_count; i++) {
    serial_port_close(s->slots[i].port);
    line_parser_free(s->slots[i].parser);
    free(s->slots[i].path);
    free(s->slots[i].source);
    free(s->slots[i].out);
  }
  while (s->queue != NULL) {
    struct serial_request *q = s->queue;
    s->queue = q->next;
    server_request_free(q);
  }
  free(s->slots);
  free(s->group);
  free(s->results);
  free(s->sinks);
  free(s->chain_pem);
  free(s);
}
