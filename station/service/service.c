/* service.c - the headless runtime the console drives: threads, commands,
 * stick handling (see service.h for the thread model). */
#include "service_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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

/* ---- sinks: the engine's and the serial server's events become service events ---- */

/* A journal event of the engine: the journal cannot be written, or can again. */
static void service_on_journal(struct service *s, const struct engine_event *e)
{
  struct service_event ev;
  service_event_init(&ev, SERVICE_EVENT_JOURNAL);
  ev.code = e->code;
  st_printable_utf8(ev.source, sizeof ev.source, e->filesystem);
  st_printable_utf8(ev.text, sizeof ev.text, e->detail);
  service_event_counts(s, &ev);
  service_push(s, &ev);
}

/* Called on the thread holding the engine lock, inside engine_commit (and
 * engine_resume, for the journal's events). */
static void service_on_request(void *arg, const struct engine_event *e)
{
  struct service *s = arg;
  struct service_event ev;
  if (e->kind == ENGINE_EVENT_JOURNAL_STOPPED || e->kind == ENGINE_EVENT_JOURNAL_RESUMED) {
    service_on_journal(s, e);
    return;
  }
  if (e->kind == ENGINE_EVENT_TOKEN_FAULT || e->kind == ENGINE_EVENT_TOKEN_BACK) {
    service_event_init(&ev, SERVICE_EVENT_TOKEN);
    ev.code = e->code;
    st_printable_utf8(ev.source, sizeof ev.source, e->source);
    st_printable_utf8(ev.text, sizeof ev.text, e->detail);
    service_push(s, &ev);
    return;
  }
  service_event_init(&ev, SERVICE_EVENT_REQUEST);
  if (e->kind == ENGINE_EVENT_ISSUED)
    s->shift_issued++;
  else if (e->kind == ENGINE_EVENT_REFUSED)
    s->shift_refused++;
  ev.request_kind = (int)e->kind;
  ev.code = e->code;
  st_printable_utf8(ev.source, sizeof ev.source, e->source);
  st_printable_utf8(ev.device, sizeof ev.device, e->device);
  st_printable_utf8(ev.serial_hex, sizeof ev.serial_hex, e->serial_hex);
  st_printable_utf8(ev.text, sizeof ev.text, e->detail);
  service_event_counts(s, &ev);
  service_push(s, &ev);
}

/* Called on the serial thread. */
static void service_on_port(void *arg, const struct serial_event *e)
{
  struct service *s = arg;
  struct service_event ev;
  service_event_init(&ev, SERVICE_EVENT_PORT);
  ev.port_event = e->kind;
  ev.port_state = e->state;
  ev.code = e->code;
  st_printable_utf8(ev.source, sizeof ev.source, e->port);
  st_printable_utf8(ev.device, sizeof ev.device, e->device != NULL ? e->device : "");
  st_printable_utf8(ev.serial_hex, sizeof ev.serial_hex, e->serial_hex != NULL ? e->serial_hex : "");
  st_printable_utf8(ev.text, sizeof ev.text, e->text != NULL ? e->text : "");
  service_push(s, &ev);
}

static void service_guard_enter(void *arg)
{
  service_engine_take(arg);
}

static void service_guard_leave(void *arg)
{
  service_engine_give(arg);
}

/* ---- the serial thread ---- */

static void *service_serial_main(void *arg)
{
  struct service *s = arg;
  struct st_detail detail = {""};
  int r = serial_server_run(s->serial, s->serial_stop[0], &detail);
  if (r != ST_OK) {
    struct service_event ev;
    service_event_init(&ev, SERVICE_EVENT_FAULT);
    ev.code = r;
    snprintf(ev.text, sizeof ev.text, "%s", detail.text);
    service_push(s, &ev);
  }
  return NULL;
}

/* ---- commands, on the job thread ---- */

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
  service_engine_take(s);
  if (r == ST_OK)
    r = engine_login(s->engine, pin_value(pin), &detail);
  service_event_counts(s, &ev);
  service_engine_give(s);
  pin_free(pin);
  ev.code = r;
  snprintf(ev.text, sizeof ev.text, "%s", detail.text);
  service_push(s, &ev);
  if (r == ST_OK && s->serial != NULL && !s->serial_started) {
    s->serial_started = pthread_create(&s->serial_thread, NULL, service_serial_main, s) == 0;
    if (s->serial_started)
      pthread_setname_np(s->serial_thread, "st-serial");
  }
}

static void service_do_lock(struct service *s)
{
  struct service_event ev;
  service_engine_take(s);
  engine_logout(s->engine);
  service_engine_give(s);
  service_event_init(&ev, SERVICE_EVENT_LOCKED);
  service_push(s, &ev);
}

static void service_on_stick(void *arg, enum usb_change change, const char *path);

/* The batch observer: tells the driver, looks for sticks that arrived (at
 * most every half second), and lets a waiting board have the engine. */
static void service_on_progress(void *arg, size_t done, size_t total)
{
  struct service *s = arg;
  struct service_event ev;
  service_event_init(&ev, SERVICE_EVENT_PROGRESS);
  ev.done = done;
  ev.total = total;
  service_push(s, &ev);
  service_engine_give(s);
  if (ev.time_ms - s->scanned_ms >= 500) {
    s->scanned_ms = ev.time_ms;
    usb_watch_scan(s->usb, service_on_stick, s);
  }
  service_engine_take(s);
}

static int service_should_stop(void *arg)
{
  struct service *s = arg;
  return atomic_load(&s->stop_batch);
}

/* Makes everything the station wrote on the stick whose root directory is
 * ROOT (opened before the work, so that a stick pulled out in the meantime is
 * not mistaken for whatever is now at its path) durable: the output
 * directories, the stick's root, then the whole file system. Returns 1 when
 * all of it succeeded; closes ROOT (-1 is fine: returns 0). */
static int service_sync_stick(int root, const char *const *dirs, size_t n)
{
  int ok = 0;
  if (root < 0)
    goto out;
  ok = 1;
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
out:
  return ok;
}

static void service_do_sign(struct service *s, const char *path)
{
  static const char *const outputs[] = {"certs", "rejected"};
  struct service_event ev;
  struct st_detail detail = {""};
  struct batch_observer observer = {service_on_progress, s, service_should_stop};
  int root = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int r;

  service_event_init(&ev, SERVICE_EVENT_BATCH_START);
  snprintf(ev.source, sizeof ev.source, "%s", path);
  service_push(s, &ev);
  service_event_init(&ev, SERVICE_EVENT_BATCH_DONE);
  service_engine_take(s);
  r = batch_sign_directory_observed(s->engine, path, &observer, &ev.summary, &detail);
  service_event_counts(s, &ev);
  service_engine_give(s);
  ev.safe = service_sync_stick(root, outputs, 2);
  ev.code = r;
  snprintf(ev.source, sizeof ev.source, "%s", path);
  snprintf(ev.text, sizeof ev.text, "%s", detail.text);
  service_push(s, &ev);
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
  service_engine_take(s);
  r = engine_export(s->engine, &options, path, file, sizeof file, NULL, &detail);
  service_engine_give(s);
  if (!service_sync_stick(root, NULL, 0) && r == ST_OK) {
    r = ST_E_IO;
    st_detail_set(&detail, "the export was written but the stick could not be synced: %s", strerror(errno));
  }
  ev.code = r;
  st_printable_utf8(ev.source, sizeof ev.source, file);
  snprintf(ev.text, sizeof ev.text, "%s", detail.text);
  service_push(s, &ev);
}

/* ---- sticks: noticed on the job thread, inspected on the inspector ---- */

struct service_inspection {
  struct service *s;
  char path[PATH_MAX];
};

static void service_inspect(void *arg)
{
  struct service_inspection *task = arg;
  struct service *s = task->s;
  struct service_event ev;
  struct st_detail detail = {""};
  struct batch_engine_lock lock = {service_guard_enter, service_guard_leave, s};
  service_event_init(&ev, SERVICE_EVENT_STICK);
  snprintf(ev.source, sizeof ev.source, "%.255s", task->path);
  ev.code = batch_inspect_journal(s->engine, task->path, &lock, &ev.inspection, &detail);
  snprintf(ev.text, sizeof ev.text, "%s", detail.text);
  service_push(s, &ev);
  free(task);
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
  snprintf(task->path, sizeof task->path, "%s", path);
  /* on failure the task ran here, before returning */
  workers_submit(s->inspector, s->inspections, service_inspect, task);
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
  if (!engine_journal_stopped(s->engine))
    return;
  service_engine_take(s);
  engine_resume(s->engine, &detail);
  service_engine_give(s);
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

static void *service_job_main(void *arg)
{
  struct service *s = arg;
  int quit = 0;
  char drain[64];
  while (!quit) {
    struct pollfd fds[2] = {{s->command_pipe[0], POLLIN, 0}, {usb_watch_fd(s->usb), POLLIN, 0}};
    struct service_command *c;
    usb_watch_scan(s->usb, service_on_stick, s);
    service_resume_journal(s);
    if (poll(fds, 2, 1000) > 0 && (fds[0].revents & POLLIN))
      while (read(s->command_pipe[0], drain, sizeof drain) > 0) {
      }
    while (!quit && (c = service_pop(s)) != NULL) {
      switch (c->kind) {
      case SERVICE_CMD_LOGIN: service_do_login(s); break;
      case SERVICE_CMD_LOCK: service_do_lock(s); break;
      case SERVICE_CMD_SIGN: service_do_sign(s, c->path); break;
      case SERVICE_CMD_EXPORT: service_do_export(s, c->path); break;
      case SERVICE_CMD_QUIT: quit = 1; break;
      }
      free(c);
    }
  }
  return NULL;
}

/* Queues a command of KIND on PATH (may be NULL) and wakes the job thread. */
static int service_command(struct service *s, enum service_command_kind kind, const char *path)
{
  int r = ST_E_NO_MEMORY;
  struct service_command *c = calloc(1, sizeof *c);
  if (c == NULL)
    goto out;
  c->kind = kind;
  snprintf(c->path, sizeof c->path, "%s", path != NULL ? path : "");
  pthread_mutex_lock(&s->command_mutex);
  *s->commands_tail = c;
  s->commands_tail = &c->next;
  pthread_mutex_unlock(&s->command_mutex);
  if (write(s->command_pipe[1], "c", 1) < 0) {
    /* the pipe is full: the job thread has wake-ups pending */
  }
  r = ST_OK;
out:
  return r;
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
  s->job_started = pthread_create(&s->job_thread, NULL, service_job_main, s) == 0;
  if (s->job_started)
    pthread_setname_np(s->job_thread, "st-job");
  return s->job_started ? ST_OK : ST_E_INTERNAL;
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
  info->port_count = s->cfg->serial_port_count < SERVICE_MAX_PORTS ? s->cfg->serial_port_count : SERVICE_MAX_PORTS;
  for (size_t i = 0; i < info->port_count; i++)
    st_printable_utf8(info->ports[i], sizeof info->ports[i], s->cfg->serial_ports[i].port);
  info->usb_root_count = s->cfg->usb_root_count;
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
  uint64_t issued, refused;
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
  }
  return 0;
}

/* The shift in progress and what the journal holds of it (one read of the journal). */
static void service_fill_shift(struct service *s)
{
  struct service_info *info = &s->info;
  struct service_shift_count count = {0, 0, 0};
  struct journal_checker checker = {service_shift_check, &count};
  struct st_detail detail = {""};
  info->shift_count = s->cfg->shift_count < 24 ? s->cfg->shift_count : 24;
  memcpy(info->shift_starts, s->cfg->shift_starts, info->shift_count * sizeof info->shift_starts[0]);
  info->shift_start_ms = service_shift_start(info, st_wall_ms());
  count.since_ms = info->shift_start_ms;
  if (journal_verify_with(s->cfg->journal_path, &checker, NULL, &detail) == ST_OK) {
    info->shift_issued = count.issued;
    info->shift_refused = count.refused;
  }
}

/* The serial server for intake.serial, when ports are configured. */
static int service_make_serial(struct service *s, struct st_detail *detail)
{
  int r = ST_E_NO_MEMORY;
  size_t n = s->info.port_count;
  struct serial_port_spec *specs = NULL;
  struct serial_sink sink = {service_on_port, s};
  struct serial_engine_guard guard = {service_guard_enter, service_guard_leave, s};
  if (n == 0) {
    r = ST_OK;
    goto out;
  }
  if ((specs = calloc(n, sizeof *specs)) == NULL)
    goto out;
  for (size_t i = 0; i < n; i++)
    specs[i] = (struct serial_port_spec){s->cfg->serial_ports[i].port, s->cfg->serial_ports[i].baud};
  r = serial_server_new(s->engine, specs, n, NULL, &s->serial, detail);
  if (r == ST_OK)
    r = serial_server_add_sink(s->serial, &sink);
  if (r == ST_OK)
    serial_server_set_guard(s->serial, &guard);
  if (r == ST_OK && pipe2(s->serial_stop, O_CLOEXEC | O_NONBLOCK) != 0)
    r = ST_E_INTERNAL;
out:
  free(specs);
  return r;
}

int service_new(const struct station_config *cfg, struct service **out, struct st_detail *detail)
{
  int r = ST_E_NO_MEMORY;
  struct service *s = calloc(1, sizeof *s);
  struct engine_sink sink;
  if (s == NULL)
    goto out;
  s->cfg = cfg;
  s->event_fd = s->command_pipe[0] = s->command_pipe[1] = s->serial_stop[0] = s->serial_stop[1] = -1;
  r = (s->pin = pin_new()) != NULL ? service_queue_init(s) : ST_E_NO_MEMORY;
  if (r == ST_OK && pipe2(s->command_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
    r = ST_E_INTERNAL;
  if (r == ST_OK)
    r = engine_open(cfg, &s->engine, detail);
  sink = (struct engine_sink){service_on_request, s};
  if (r == ST_OK)
    r = engine_add_sink(s->engine, &sink);
  if (r == ST_OK) {
    service_fill_info(s);
    service_fill_shift(s);
    r = service_make_serial(s, detail);
  }
  if (r == ST_OK)
    r = usb_watch_new(cfg->usb_roots, cfg->usb_root_count, &s->usb);
  if (r == ST_OK && ((s->inspector = workers_new(1, "st-inspect")) == NULL ||
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
  if (s == NULL)
    return;
  if (s->job_started && service_command(s, SERVICE_CMD_QUIT, NULL) == ST_OK)
    pthread_join(s->job_thread, NULL);
  if (s->serial_started) {
    if (write(s->serial_stop[1], "q", 1) < 0) {
      /* cannot happen on an empty pipe */
    }
    pthread_join(s->serial_thread, NULL);
  }
  workers_free(s->inspector); /* the inspections still queued take the engine: before it closes */
  work_group_free(s->inspections);
  serial_server_free(s->serial);
  usb_watch_free(s->usb);
  engine_close(s->engine);
  pin_free(s->pin);
  for (int i = 0; i < 2; i++) {
    if (s->command_pipe[i] >= 0)
      close(s->command_pipe[i]);
    if (s->serial_stop[i] >= 0)
      close(s->serial_stop[i]);
  }
  service_queue_cleanup(s);
  free(s);
}
