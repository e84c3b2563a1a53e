/* service.c - the station's runtime: the loop that owns the engine, its
 * commands, sticks and serial turns (see service.h for the model). */
#include "service_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "clock.h"
#include "config.h"
#include "encoding.h"
#include "engine.h"
#include "error.h"
#include "journal.h"
#include "export.h"
#include "log.h"
#include "syscalls.h"
#include "usb_watch.h"
#include "workers.h"

/* How often the loop looks at the intake roots: while idle, and during a batch. */
#define SERVICE_SCAN_MS 1000
#define SERVICE_SCAN_BATCH_MS 500

static int64_t service_mono_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- sinks: the engine's and the serial server's events become service events (on the loop) ---- */

/* Counts a refusal of the CSR with digest CSR_SHA256 (NULL: unknown) in the
 * shift in progress: a repeat when the shift refused that CSR before (a stick
 * signed again), else a new refusal. A new shift starts with no CSR refused. */
static void service_count_refusal(struct service *s, const uint8_t *csr_sha256)
{
  int64_t start = service_shift_start(&s->info, st_wall_ms());
  s->shift_refused++;
  if (start > s->shift_start_ms) {
    s->shift_start_ms = start;
    s->shift_repeats = 0;
    digest_set_clear(s->shift_refused_csrs);
  }
  if (csr_sha256 != NULL && digest_set_add(s->shift_refused_csrs, csr_sha256) == 0)
    s->shift_repeats++;
}

/* Called on the loop, inside the engine call that made the event: reads
 * only the event (the journal's counts travel in it), never the engine. */
static void service_on_engine(void *arg, const struct engine_event *e)
{
  struct service *s = arg;
  struct service_event ev;
  if (e->kind == ENGINE_EVENT_JOURNAL_STOPPED || e->kind == ENGINE_EVENT_JOURNAL_RESUMED) {
    service_event_init(&ev, SERVICE_EVENT_JOURNAL);
    ev.code = e->code;
    service_text(s, ev.source, sizeof ev.source, e->filesystem);
    service_text(s, ev.text, sizeof ev.text, e->detail);
  } else if (e->kind == ENGINE_EVENT_TOKEN_FAULT || e->kind == ENGINE_EVENT_TOKEN_BACK) {
    service_event_init(&ev, SERVICE_EVENT_TOKEN);
    ev.code = e->code;
    service_text(s, ev.source, sizeof ev.source, e->source);
    service_text(s, ev.text, sizeof ev.text, e->detail);
    service_push(s, &ev);
    return;
  } else {
    service_event_init(&ev, SERVICE_EVENT_REQUEST);
    if (e->kind == ENGINE_EVENT_ISSUED)
      s->shift_issued++;
    else if (e->kind == ENGINE_EVENT_REFUSED)
      service_count_refusal(s, e->csr_sha256);
    ev.request_kind = (int)e->kind;
    ev.code = e->code;
    ev.seq = e->seq;
    service_text(s, ev.source, sizeof ev.source, e->source);
    service_text(s, ev.device, sizeof ev.device, e->device);
    service_text(s, ev.serial_hex, sizeof ev.serial_hex, e->serial_hex);
    service_text(s, ev.text, sizeof ev.text, e->detail);
  }
  ev.records = e->records;
  ev.issued = e->issued;
  ev.refused = e->refused;
  ev.shift_issued = s->shift_issued;
  ev.shift_refused = s->shift_refused;
  ev.shift_repeats = s->shift_repeats;
  service_push(s, &ev);
}

/* The counts of EV, on the loop outside any engine call. */
static void service_event_counts(struct service *s, struct service_event *ev)
{
  engine_counts(s->engine, &ev->records, &ev->issued, &ev->refused);
  ev->shift_issued = s->shift_issued;
  ev->shift_refused = s->shift_refused;
  ev->shift_repeats = s->shift_repeats;
}

/* Called on the loop, during a serial turn. */
static void service_on_port(void *arg, const struct serial_event *e)
{
  struct service *s = arg;
  struct service_event ev;
  service_event_init(&ev, SERVICE_EVENT_PORT);
  ev.port_event = e->kind;
  ev.port_state = e->state;
  ev.code = e->code;
  service_text(s, ev.source, sizeof ev.source, e->port);
  service_text(s, ev.device, sizeof ev.device, e->device);
  service_text(s, ev.serial_hex, sizeof ev.serial_hex, e->serial_hex);
  service_text(s, ev.text, sizeof ev.text, e->text);
  service_push(s, &ev);
}

/* ---- the serial ports: one turn per loop turn ---- */

/* The serial server stopped on a journal fault R (DETAIL): tell the driver, close the ports. */
static void service_serial_fault(struct service *s, int r, const struct st_detail *detail)
{
  struct service_event ev;
  service_event_init(&ev, SERVICE_EVENT_FAULT);
  ev.code = r;
  snprintf(ev.text, sizeof ev.text, "%s", detail->text);
  serial_server_close_ports(s->serial);
  s->serial_on = 0;
  service_push(s, &ev);
}

static void service_serial_turn(struct service *s)
{
  struct st_detail detail = {""};
  int r;
  if (!s->serial_on)
    return;
  service_hold_events(s);
  r = serial_server_turn(s->serial, &detail);
  if (r != ST_OK)
    service_serial_fault(s, r, &detail);
  service_release_events(s);
}

/* ---- commands ---- */

static void service_do_login(struct service *s)
{
  struct service_event ev;
  struct st_detail detail = {""};
  struct pin *pin = NULL;
  int r = ST_OK;

  service_event_init(&ev, SERVICE_EVENT_LOGIN);
  pthread_mutex_lock(&s->command_mutex);
  if (s->pin_given)
    r = (pin = pin_copy(s->pin)) != NULL ? ST_OK : ST_E_NO_MEMORY;
  else
    r = pin_obtain(s->cfg->pin_kind, s->cfg->pin_ref, NULL, &pin, &detail);
  pin_clear(s->pin);
  s->pin_given = 0;
  pthread_mutex_unlock(&s->command_mutex);
  if (r == ST_OK)
    r = engine_login(s->engine, pin_value(pin), &detail);
  service_event_counts(s, &ev);
  pin_free(pin);
  ev.code = r;
  snprintf(ev.text, sizeof ev.text, "%s", detail.text);
  service_push(s, &ev);
  if (r == ST_OK && s->serial != NULL && !s->serial_on) {
    serial_server_open(s->serial);
    s->serial_on = 1;
  }
}

static void service_do_lock(struct service *s)
{
  struct service_event ev;
  engine_logout(s->engine);
  service_event_init(&ev, SERVICE_EVENT_LOCKED);
  service_push(s, &ev);
}

/* Makes everything the station wrote on the stick whose root directory is
 * ROOT (opened before the work, so that a stick pulled out in the meantime is
 * not mistaken for whatever is now at its path) durable: the output
 * directories, the stick's root, then the whole file system. Returns 1 when
 * all of it succeeded; closes ROOT (-1 is fine: returns 0). */
static int service_sync_stick(int root, const char *const *dirs, size_t n)
{
  int ok = 1;
  if (root < 0)
    return 0;
  for (size_t i = 0; i < n; i++) {
    int fd = openat(root, dirs[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
      continue;
    if (fd < 0 || st_sys.fsync(fd) != 0)
      ok = 0;
    if (fd >= 0)
      close(fd);
  }
  if (st_sys.fsync(root) != 0 || st_sys.syncfs(root) != 0)
    ok = 0;
  close(root);
  return ok;
}

static const char *const service_outputs[] = {"certs", "rejected"};

/* The batch is over (done, stopped between groups, or failed with R when
 * it could not even open): syncs the stick and tells the driver. */
static void service_batch_done(struct service *s, int r, const struct st_detail *detail)
{
  struct service_event ev;
  service_event_init(&ev, SERVICE_EVENT_BATCH_DONE);
  ev.summary = s->summary;
  service_event_counts(s, &ev);
  ev.safe = service_sync_stick(s->batch_root, service_outputs, 2);
  s->batch_root = -1;
  ev.code = r;
  snprintf(ev.source, sizeof ev.source, "%.255s", s->batch_path);
  snprintf(ev.text, sizeof ev.text, "%s", detail->text);
  service_push(s, &ev);
}

static void service_do_sign(struct service *s, const char *path)
{
  struct service_event ev;
  struct st_detail detail = {""};
  int r;

  snprintf(s->batch_path, sizeof s->batch_path, "%s", path);
  s->batch_root = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  service_event_init(&ev, SERVICE_EVENT_BATCH_START);
  snprintf(ev.source, sizeof ev.source, "%.255s", path);
  service_push(s, &ev);
  r = batch_open(s->engine, path, &s->summary, &s->batch, &detail);
  if (r != ST_OK) {
    s->batch = NULL;
    service_batch_done(s, r, &detail);
  }
}

/* One group of the batch in progress; closes it when it is over or the
 * driver asked it to stop (service_stop_batch). */
static void service_batch_step(struct service *s)
{
  struct st_detail detail = {""};
  if (batch_step(s->batch)) {
    struct service_event ev;
    service_event_init(&ev, SERVICE_EVENT_PROGRESS);
    batch_progress(s->batch, &ev.done, &ev.total);
    service_push(s, &ev);
  }
  if (batch_finished(s->batch) || atomic_load(&s->stop_batch)) {
    int r = batch_close(s->batch, &detail);
    s->batch = NULL;
    service_batch_done(s, r, &detail);
  }
}

static void service_do_export(struct service *s, const char *path)
{
  struct service_event ev;
  struct st_detail detail = {""};
  struct export_options options = {EXPORT_CSV, 0, 0, 0, 0, NULL, NULL, NULL};
  char file[PATH_MAX] = "";
  int root = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int r;

  service_event_init(&ev, SERVICE_EVENT_EXPORTED);
  r = engine_export(s->engine, &options, path, file, sizeof file, NULL, &detail);
  if (!service_sync_stick(root, NULL, 0) && r == ST_OK) {
    r = ST_E_IO;
    st_detail_set(&detail, "the export was written but the stick could not be synced: %s", strerror(errno));
  }
  ev.code = r;
  st_printable_utf8(ev.source, sizeof ev.source, file);
  snprintf(ev.text, sizeof ev.text, "%s", detail.text);
  service_push(s, &ev);
}

/* ---- sticks: noticed on the loop, inspected on the inspector, the journal asked on the loop ---- */

/* Wakes the loop (a command or an inspection is waiting). */
static void service_wake(struct service *s)
{
  if (write(s->command_pipe[1], "c", 1) < 0) {
    /* the pipe is full: the loop has wake-ups pending */
  }
}

static void service_inspect(void *arg)
{
  struct service_inspection *task = arg;
  struct service *s = task->s;
  struct st_detail detail = {""};
  task->event.code = batch_inspect_collect(s->engine, task->path, &task->event.inspection, &task->digests, &detail);
  snprintf(task->event.text, sizeof task->event.text, "%s", detail.text);
  pthread_mutex_lock(&s->command_mutex);
  task->next = s->inspected;
  s->inspected = task;
  pthread_mutex_unlock(&s->command_mutex);
  service_wake(s);
}

/* The inspections finished on the inspector: asks the journal which of
 * their CSRs were issued before, and tells the driver (oldest first). */
static void service_finish_inspections(struct service *s)
{
  struct service_inspection *list, *ordered = NULL;
  pthread_mutex_lock(&s->command_mutex);
  list = s->inspected;
  s->inspected = NULL;
  pthread_mutex_unlock(&s->command_mutex);
  while (list != NULL) {
    struct service_inspection *task = list;
    list = task->next;
    task->next = ordered;
    ordered = task;
  }
  while (ordered != NULL) {
    struct service_inspection *task = ordered;
    ordered = task->next;
    if (task->event.code == ST_OK)
      batch_inspect_issued(s->engine, task->digests, &task->event.inspection);
    batch_digests_free(task->digests);
    service_push(s, &task->event);
    free(task);
  }
}

static void service_on_stick(void *arg, enum usb_change change, const char *path)
{
  struct service *s = arg;
  struct service_event ev;
  struct service_inspection *task;
  service_event_init(&ev, change == USB_STICK_GONE ? SERVICE_EVENT_STICK_GONE : SERVICE_EVENT_STICK_SEEN);
  snprintf(ev.source, sizeof ev.source, "%s", path);
  service_push(s, &ev);
  if (change == USB_STICK_GONE)
    return;
  task = calloc(1, sizeof *task);
  if (task == NULL) {
    service_event_init(&ev, SERVICE_EVENT_STICK);
    snprintf(ev.source, sizeof ev.source, "%s", path);
    ev.code = ST_E_NO_MEMORY;
    snprintf(ev.text, sizeof ev.text, "%s", st_error_sentence(ST_E_NO_MEMORY));
    service_push(s, &ev);
    return;
  }
  task->s = s;
  service_event_init(&task->event, SERVICE_EVENT_STICK);
  snprintf(task->path, sizeof task->path, "%s", path);
  snprintf(task->event.source, sizeof task->event.source, "%.255s", path);
  /* on failure the task ran here, before returning */
  workers_submit(s->inspector, s->inspections, service_inspect, task);
}

/* Looks at the intake roots when the watch woke the loop (WOKEN) or the
 * last look is old enough. */
static void service_scan(struct service *s, int woken)
{
  int64_t now = service_mono_ms();
  if (s->usb == NULL || (!woken && now - s->scanned_ms < (s->batch != NULL ? SERVICE_SCAN_BATCH_MS : SERVICE_SCAN_MS)))
    return;
  s->scanned_ms = now;
  usb_watch_scan(s->usb, service_on_stick, s);
}

/* ---- lookups, on the inspector ---- */

struct service_lookup {
  struct service *s;
  char query[128];
  struct service_event found[SERVICE_FIND_MAX];   /* a ring of the newest matches */
  size_t total;
};

/* A journal record against the query: the whole device id or serial, or part of the source. */
static int service_lookup_check(void *arg, const struct journal_record *rec, const uint8_t genesis[32],
                                const uint8_t prev_chain[32], struct st_detail *detail)
{
  struct service_lookup *l = arg;
  struct service_event *ev;
  char serial[41] = "";
  (void)genesis;
  (void)prev_chain;
  (void)detail;
  if (rec->event != JOURNAL_EVENT_ISSUED && rec->event != JOURNAL_EVENT_REFUSED)
    return 0;
  if (rec->serial_len > 0 && rec->serial_len <= 20)
    st_hex_encode(serial, rec->serial, rec->serial_len);
  if (!(rec->device != NULL && strcasecmp(rec->device, l->query) == 0) &&
      !(serial[0] != '\0' && strcasecmp(serial, l->query) == 0) &&
      !(rec->source != NULL && strstr(rec->source, l->query) != NULL))
    return 0;
  ev = &l->found[l->total++ % SERVICE_FIND_MAX];
  service_event_init(ev, SERVICE_EVENT_FOUND);
  ev->seq = rec->seq;
  ev->record_ms = rec->time_ms;
  ev->request_kind = rec->event == JOURNAL_EVENT_ISSUED ? ENGINE_EVENT_ISSUED : ENGINE_EVENT_REFUSED;
  st_printable_utf8(ev->source, sizeof ev->source, rec->source != NULL ? rec->source : "");
  st_printable_utf8(ev->device, sizeof ev->device, rec->device != NULL ? rec->device : "");
  st_printable_utf8(ev->serial_hex, sizeof ev->serial_hex, serial);
  if (rec->event == JOURNAL_EVENT_REFUSED) {
    char text[sizeof ev->text];
    snprintf(text, sizeof text, "%s: %s", rec->reason != NULL ? rec->reason : "", rec->detail != NULL ? rec->detail : "");
    st_printable_utf8(ev->text, sizeof ev->text, text);
  }
  return 0;
}

static void service_lookup(void *arg)
{
  struct service_lookup *l = arg;
  struct service *s = l->s;
  struct service_event end;
  struct st_detail detail = {""};
  struct journal_checker checker = {service_lookup_check, l};
  int r = journal_verify_with(s->cfg->journal_path, &checker, NULL, &detail);
  size_t kept = l->total < SERVICE_FIND_MAX ? l->total : SERVICE_FIND_MAX;
  for (size_t i = 0; i < kept; i++) /* oldest first */
    service_push(s, &l->found[(l->total - kept + i) % SERVICE_FIND_MAX]);
  service_event_init(&end, SERVICE_EVENT_FOUND_END);
  end.total = l->total;
  end.code = r == ST_E_JOURNAL_CORRUPT && l->total > 0 ? ST_OK : r; /* a record being appended is not a fault here */
  st_printable_utf8(end.text, sizeof end.text, l->query);
  st_printable_utf8(end.source, sizeof end.source, detail.text);
  service_push(s, &end);
  free(l);
}

int service_find(struct service *s, const char *text)
{
  struct service_lookup *l = calloc(1, sizeof *l);
  if (l == NULL)
    return ST_E_NO_MEMORY;
  l->s = s;
  snprintf(l->query, sizeof l->query, "%s", text);
  workers_submit(s->inspector, s->inspections, service_lookup, l);
  return ST_OK;
}

/* While the engine is stopped on its journal, lets it try to resume (it
 * tries at most every few seconds; its events say what came of it). */
static void service_resume_journal(struct service *s)
{
  struct st_detail detail = {""};
  if (engine_journal_stopped(s->engine))
    engine_resume(s->engine, &detail);
}

/* Takes the oldest command, or NULL. */
static struct service_command *service_pop(struct service *s)
{
  struct service_command *c;
  pthread_mutex_lock(&s->command_mutex);
  c = s->commands;
  if (c != NULL) {
    s->commands = c->next;
    if (s->commands == NULL)
      s->commands_tail = &s->commands;
  }
  pthread_mutex_unlock(&s->command_mutex);
  return c;
}

/* Does the commands waiting, in order, until one opens a batch (its groups
 * come first) or asks the loop to quit. Returns 1 for quit. */
static int service_do_commands(struct service *s)
{
  struct service_command *c;
  int quit = 0;
  while (!quit && s->batch == NULL && (c = service_pop(s)) != NULL) {
    switch (c->kind) {
    case SERVICE_CMD_LOGIN: service_do_login(s); break;
    case SERVICE_CMD_LOCK: service_do_lock(s); break;
    case SERVICE_CMD_SIGN: service_do_sign(s, c->path); break;
    case SERVICE_CMD_EXPORT: service_do_export(s, c->path); break;
    case SERVICE_CMD_QUIT: quit = 1; break;
    }
    free(c);
  }
  return quit;
}

/* 1 when an inspection waits for the journal. */
static int service_inspected_waiting(struct service *s)
{
  int waiting;
  pthread_mutex_lock(&s->command_mutex);
  waiting = s->inspected != NULL;
  pthread_mutex_unlock(&s->command_mutex);
  return waiting;
}

/* The loop: the one thread that uses the engine (see service.h). */
static void *service_loop(void *arg)
{
  struct service *s = arg;
  int quit = 0;
  char drain[64];
  service_scan(s, 1);
  while (!quit) {
    struct pollfd *fds = s->fds;
    nfds_t n = 2;
    int timeout = SERVICE_SCAN_MS;
    fds[0] = (struct pollfd){s->command_pipe[0], POLLIN, 0};
    fds[1] = (struct pollfd){s->usb != NULL ? usb_watch_fd(s->usb) : -1, POLLIN, 0};
    if (s->serial_on) {
      int due = serial_server_timeout(s->serial);
      n += serial_server_poll_set(s->serial, fds + 2);
      if (due < timeout)
        timeout = due;
    }
    if (s->batch != NULL)
      timeout = 0; /* the next group is due: only look at what is ready */
    if (poll(fds, n, timeout) > 0 && (fds[0].revents & POLLIN))
      while (read(s->command_pipe[0], drain, sizeof drain) > 0) {
      }
    service_serial_turn(s);
    service_scan(s, (fds[1].revents & POLLIN) != 0);
    service_resume_journal(s);
    if (service_inspected_waiting(s))
      service_finish_inspections(s);
    if (s->batch != NULL)
      service_batch_step(s);
    else
      quit = service_do_commands(s);
  }
  return NULL;
}

/* Queues a command of KIND on PATH (may be NULL) and wakes the loop. */
static int service_command(struct service *s, enum service_command_kind kind, const char *path)
{
  struct service_command *c = calloc(1, sizeof *c);
  if (c == NULL)
    return ST_E_NO_MEMORY;
  c->kind = kind;
  snprintf(c->path, sizeof c->path, "%s", path != NULL ? path : "");
  pthread_mutex_lock(&s->command_mutex);
  *s->commands_tail = c;
  s->commands_tail = &c->next;
  pthread_mutex_unlock(&s->command_mutex);
  service_wake(s);
  return ST_OK;
}

int service_login(struct service *s, const char *pin)
{
  pthread_mutex_lock(&s->command_mutex);
  pin_clear(s->pin);
  s->pin_given = pin != NULL && pin_set(s->pin, pin) == 0;
  pthread_mutex_unlock(&s->command_mutex);
  return service_command(s, SERVICE_CMD_LOGIN, NULL);
}

int service_lock(struct service *s)
{
  return service_command(s, SERVICE_CMD_LOCK, NULL);
}

int service_sign(struct service *s, const char *path)
{
  atomic_store(&s->stop_batch, 0);
  return service_command(s, SERVICE_CMD_SIGN, path);
}

int service_export(struct service *s, const char *path)
{
  return service_command(s, SERVICE_CMD_EXPORT, path);
}

size_t service_cancel_queued(struct service *s)
{
  size_t dropped = 0;
  struct service_command **at;
  pthread_mutex_lock(&s->command_mutex);
  at = &s->commands;
  s->commands_tail = &s->commands;
  while (*at != NULL) {
    struct service_command *c = *at;
    if (c->kind == SERVICE_CMD_SIGN || c->kind == SERVICE_CMD_EXPORT) {
      *at = c->next;
      free(c);
      dropped++;
    } else {
      at = &c->next;
      s->commands_tail = at;
    }
  }
  pthread_mutex_unlock(&s->command_mutex);
  return dropped;
}

void service_stop_batch(struct service *s)
{
  atomic_store(&s->stop_batch, 1);
}

int service_start(struct service *s)
{
  sigset_t block, saved;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGWINCH);
  pthread_sigmask(SIG_BLOCK, &block, &saved); /* the loop inherits the mask: signals go to the driver */
  s->loop_started = pthread_create(&s->loop_thread, NULL, service_loop, s) == 0;
  pthread_sigmask(SIG_SETMASK, &saved, NULL);
  if (s->loop_started)
    pthread_setname_np(s->loop_thread, "st-loop");
  return s->loop_started ? ST_OK : ST_E_INTERNAL;
}

int service_run(struct service *s, int stop_fd, int (*consume)(void *arg, const struct service_event *ev),
                void *arg)
{
  int r = service_start(s);
  while (r == ST_OK) {
    struct pollfd fds[2] = {{stop_fd, POLLIN, 0}, {s->event_fd, POLLIN, 0}};
    struct service_event ev;
    if (poll(fds, 2, -1) < 0 && errno != EINTR) {
      r = ST_E_INTERNAL;
      break;
    }
    while (r == ST_OK && service_next_event(s, &ev))
      r = consume(arg, &ev);
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR))
      break;
  }
  return r;
}

const struct service_info *service_info(const struct service *s)
{
  return &s->info;
}

/* ---- making and freeing ---- */

/* The facts shown on the status panel, from the configuration and the CA certificate. */
static void service_fill_info(struct service *s)
{
  struct service_info *info = &s->info;
  X509 *ca = engine_ca_cert(s->engine);
  const ASN1_TIME *not_after = X509_get0_notAfter(ca);
  struct tm tm;
  char cn[256] = "";

  st_printable_utf8(info->factory, sizeof info->factory, s->cfg->factory);
  st_printable_utf8(info->token, sizeof info->token, s->cfg->hsm_token);
  if (gethostname(info->station, sizeof info->station) != 0)
    snprintf(info->station, sizeof info->station, "station");
  info->station[sizeof info->station - 1] = '\0';
  info->pin_prompt = s->cfg->pin_kind == PIN_FROM_PROMPT;
  if (X509_NAME_get_text_by_NID(X509_get_subject_name(ca), NID_commonName, cn, sizeof cn) < 0)
    snprintf(cn, sizeof cn, "(no CN)");
  st_printable_utf8(info->ca_cn, sizeof info->ca_cn, cn);
  if (ASN1_TIME_to_tm(not_after, &tm) == 1)
    strftime(info->ca_not_after, sizeof info->ca_not_after, "%Y-%m-%d %H:%M UTC", &tm);
  info->ca_expired = X509_cmp_current_time(not_after) < 0;
  engine_counts(s->engine, &info->records, &info->issued, &info->refused);
  info->port_count = s->options.port_count < SERVICE_MAX_PORTS ? s->options.port_count : SERVICE_MAX_PORTS;
  for (size_t i = 0; i < info->port_count; i++)
    service_text(s, info->ports[i], sizeof info->ports[i], s->options.ports[i].path);
  info->usb_root_count = s->options.headless ? 0 : s->cfg->usb_root_count;
  info->gateway_url = engine_gateway_url(s->engine);
}

int64_t service_shift_start(const struct service_info *info, int64_t now_ms)
{
  time_t now = (time_t)(now_ms / 1000);
  int64_t best = 0;
  for (int day = 0; day >= -1 && best == 0; day--)
    for (size_t i = 0; i < info->shift_count; i++) {
      struct tm tm;
      time_t start;
      localtime_r(&now, &tm);
      tm.tm_mday += day;
      tm.tm_hour = (int)(info->shift_starts[i] / 60);
      tm.tm_min = (int)(info->shift_starts[i] % 60);
      tm.tm_sec = 0;
      tm.tm_isdst = -1;
      start = mktime(&tm);
      if (start != (time_t)-1 && start <= now && (int64_t)start * 1000 > best)
        best = (int64_t)start * 1000;
    }
  return best;
}

struct service_shift_count {
  int64_t since_ms;
  uint64_t issued, refused, repeats;
  struct digest_set *refused_csrs;
};

static int service_shift_check(void *arg, const struct journal_record *rec, const uint8_t genesis[32],
                               const uint8_t prev_chain[32], struct st_detail *detail)
{
  struct service_shift_count *count = arg;
  (void)genesis;
  (void)prev_chain;
  (void)detail;
  if (rec->time_ms >= count->since_ms) {
    count->issued += rec->event == JOURNAL_EVENT_ISSUED;
    count->refused += rec->event == JOURNAL_EVENT_REFUSED;
    if (rec->event == JOURNAL_EVENT_REFUSED && rec->has_csr_sha256 &&
        digest_set_add(count->refused_csrs, rec->csr_sha256) == 0)
      count->repeats++;
  }
  return 0;
}

/* The shift in progress and what the journal holds of it (one read of the journal). */
static void service_fill_shift(struct service *s)
{
  struct service_info *info = &s->info;
  struct service_shift_count count = {0, 0, 0, 0, s->shift_refused_csrs};
  struct journal_checker checker = {service_shift_check, &count};
  struct st_detail detail = {""};
  info->shift_count = s->cfg->shift_count < 24 ? s->cfg->shift_count : 24;
  memcpy(info->shift_starts, s->cfg->shift_starts, info->shift_count * sizeof info->shift_starts[0]);
  info->shift_start_ms = service_shift_start(info, st_wall_ms());
  count.since_ms = info->shift_start_ms;
  if (journal_verify_with(s->cfg->journal_path, &checker, NULL, &detail) == ST_OK) {
    info->shift_issued = count.issued;
    info->shift_refused = count.refused;
    info->shift_repeats = s->shift_repeats = count.repeats;
  } else {
    digest_set_clear(s->shift_refused_csrs);
  }
  s->shift_start_ms = info->shift_start_ms;
}

/* The serial server for the ports of the options, when there are any. */
static int service_make_serial(struct service *s, struct st_detail *detail)
{
  int r = ST_OK;
  struct serial_sink sink = {service_on_port, s};
  struct serial_server_options options = {s->options.block_timeout_ms, 0, 0};
  if (s->options.port_count == 0)
    return ST_OK;
  r = serial_server_new(s->engine, s->options.ports, s->options.port_count, &options, &s->serial, detail);
  if (r == ST_OK)
    r = serial_server_add_sink(s->serial, &sink);
  return r;
}

/* The ports of intake.serial, when the options name none. */
static int service_config_ports(struct service *s)
{
  size_t n = s->cfg->serial_port_count;
  struct serial_port_spec *specs;
  if (s->options.ports != NULL || n == 0)
    return ST_OK;
  if ((specs = calloc(n, sizeof *specs)) == NULL)
    return ST_E_NO_MEMORY;
  for (size_t i = 0; i < n; i++)
    specs[i] = (struct serial_port_spec){s->cfg->serial_ports[i].port, s->cfg->serial_ports[i].baud};
  s->config_ports = specs;
  s->options.ports = specs;
  s->options.port_count = n;
  return ST_OK;
}

int service_new(const struct station_config *cfg, const struct service_options *options, struct service **out,
                struct st_detail *detail)
{
  int r = ST_E_NO_MEMORY;
  struct service *s = calloc(1, sizeof *s);
  struct engine_sink sink;
  if (s == NULL)
    goto out;
  s->cfg = cfg;
  if (options != NULL)
    s->options = *options;
  s->event_fd = s->command_pipe[0] = s->command_pipe[1] = s->batch_root = -1;
  r = (s->pin = pin_new()) != NULL && (s->shift_refused_csrs = digest_set_new()) != NULL ? service_queue_init(s)
                                                                                        : ST_E_NO_MEMORY;
  if (r == ST_OK && pipe2(s->command_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
    r = ST_E_INTERNAL;
  if (r == ST_OK)
    r = service_config_ports(s);
  if (r == ST_OK && (s->fds = calloc(2 + s->options.port_count, sizeof *s->fds)) == NULL)
    r = ST_E_NO_MEMORY;
  if (r == ST_OK)
    r = engine_open(cfg, &s->engine, detail);
  sink = (struct engine_sink){service_on_engine, s};
  if (r == ST_OK)
    r = engine_add_sink(s->engine, &sink);
  if (r == ST_OK) {
    service_fill_info(s);
    if (!s->options.headless)
      service_fill_shift(s);
    r = service_make_serial(s, detail);
  }
  if (r == ST_OK && !s->options.headless)
    r = usb_watch_new(cfg->usb_roots, cfg->usb_root_count, &s->usb);
  if (r == ST_OK && ((s->inspector = workers_new(1, "st-inspect", 0)) == NULL ||
                     (s->inspections = work_group_new()) == NULL))
    r = ST_E_NO_MEMORY;
  if (r != ST_OK)
    goto out;
  *out = s;
  s = NULL;
out:
  service_free(s);
  return r;
}

void service_free(struct service *s)
{
  struct st_detail detail = {""};
  if (s == NULL)
    return;
  if (s->loop_started && service_command(s, SERVICE_CMD_QUIT, NULL) == ST_OK)
    pthread_join(s->loop_thread, NULL);
  if (s->batch != NULL) /* the loop never started its steps */
    batch_close(s->batch, &detail);
  if (s->batch_root >= 0)
    close(s->batch_root);
  workers_free(s->inspector); /* the inspections still running finish first; nobody asks the journal for them */
  work_group_free(s->inspections);
  while (s->inspected != NULL) {
    struct service_inspection *task = s->inspected;
    s->inspected = task->next;
    batch_digests_free(task->digests);
    free(task);
  }
  if (s->serial_on)
    serial_server_close_ports(s->serial);
  serial_server_free(s->serial);
  usb_watch_free(s->usb);
  engine_close(s->engine);
  pin_free(s->pin);
  digest_set_free(s->shift_refused_csrs);
  for (int i = 0; i < 2; i++)
    if (s->command_pipe[i] >= 0)
      close(s->command_pipe[i]);
  service_queue_cleanup(s);
  free(s->fds);
  free(s->config_ports);
  free(s);
}
