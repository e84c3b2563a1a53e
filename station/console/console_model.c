/* console_model.c - the view-model, updated from service events (see console_model.h). */
#include "console_model.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "engine.h"
#include "error.h"
#include "log.h"
#include "xbuf.h"

void console_model_init(struct console_model *m, const struct service_info *info)
{
  memset(m, 0, sizeof *m);
  m->info = info;
  m->records = info->records;
  m->issued = info->issued;
  m->refused = info->refused;
  for (size_t i = 0; i < info->port_count; i++)
    m->ports[i].state = SERIAL_PORT_ERROR;
  m->shift_start_ms = info->shift_start_ms;
  m->shift_issued = info->shift_issued;
  m->shift_refused = info->shift_refused;
  m->shift_repeats = info->shift_repeats;
  m->shift_base_issued = info->issued - (info->shift_issued < info->issued ? info->shift_issued : info->issued);
  m->shift_base_refused = info->refused - (info->shift_refused < info->refused ? info->shift_refused : info->refused);
  m->dirty = 1;
}

void console_model_log(struct console_model *m, enum console_role role, const char *fmt, ...)
{
  struct console_log_line *line = &m->log[m->log_next];
  va_list ap;
  line->time_ms = st_wall_ms();
  line->role = role;
  va_start(ap, fmt);
  vsnprintf(line->text, sizeof line->text, fmt, ap);
  va_end(ap);
  m->log_next = (m->log_next + 1) % CONSOLE_LOG_LINES;
  if (m->log_count < CONSOLE_LOG_LINES)
    m->log_count++;
  m->dirty = 1;
}

void console_model_cleanup(struct console_model *m)
{
  free(m->problems);
  m->problems = NULL;
  m->problem_count = m->problem_cap = 0;
}

void console_model_problem(struct console_model *m, enum console_role role, const char *fmt, ...)
{
  va_list ap;
  char text[sizeof m->log[0].text];
  struct console_log_line *grown;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  console_model_log(m, role, "%s", text);
  grown = st_array_grow(m->problems, &m->problem_cap, m->problem_count, sizeof *grown, 256, CONSOLE_PROBLEMS_MAX);
  if (grown == NULL) {
    m->problems_lost++;
    return;
  }
  m->problems = grown;
  m->problems[m->problem_count++] = *console_model_log_line(m, 0);
}

/* How long a banner stays up without a key. */
#define CONSOLE_BANNER_MS 6000

void console_model_banner(struct console_model *m, enum console_role role, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(m->banner, sizeof m->banner, fmt, ap);
  va_end(ap);
  m->banner_role = role;
  m->banner_until_ms = st_wall_ms() + CONSOLE_BANNER_MS;
  m->bell |= role != CONSOLE_ROLE_OK;
  m->dirty = 1;
}

const struct console_log_line *console_model_problem_line(const struct console_model *m, size_t i)
{
  if (i >= m->problem_count)
    return NULL;
  return &m->problems[m->problem_count - 1 - i];
}

const struct console_log_line *console_model_log_line(const struct console_model *m, size_t i)
{
  if (i >= m->log_count)
    return NULL;
  return &m->log[(m->log_next + CONSOLE_LOG_LINES - 1 - i) % CONSOLE_LOG_LINES];
}

const char *console_port_state_name(enum serial_port_state state)
{
  switch (state) {
  case SERIAL_PORT_IDLE: return "idle";
  case SERIAL_PORT_RECEIVING: return "receiving";
  case SERIAL_PORT_SIGNING: return "signing";
  case SERIAL_PORT_ANSWERED: return "answered";
  case SERIAL_PORT_ERROR: break;
  }
  return "error";
}

/* The short name of a request's source: "csr/NAME" for a batch file, the port's last name for serial. */
static const char *console_short_source(const char *source)
{
  const char *csr = strstr(source, "/csr/");
  if (strncmp(source, "batch:", 6) == 0 && csr != NULL)
    return csr + 1;
  if (strncmp(source, "serial:", 7) == 0)
    return strrchr(source, '/') != NULL ? strrchr(source, '/') + 1 : source + 7;
  return source;
}

static void console_counts(struct console_model *m, const struct service_event *ev)
{
  m->records = ev->records;
  m->issued = ev->issued;
  m->refused = ev->refused;
  m->shift_issued = m->issued >= m->shift_base_issued ? m->issued - m->shift_base_issued : 0;
  m->shift_refused = m->refused >= m->shift_base_refused ? m->refused - m->shift_base_refused : 0;
  m->shift_repeats = ev->shift_repeats < m->shift_refused ? ev->shift_repeats : m->shift_refused;
}

void console_model_tick(struct console_model *m, int64_t now_ms)
{
  int64_t start = service_shift_start(m->info, now_ms);
  time_t t = (time_t)(start / 1000);
  struct tm tm;
  char when[16];
  if (start <= m->shift_start_ms)
    return;
  m->shift_start_ms = start;
  m->shift_base_issued = m->issued;
  m->shift_base_refused = m->refused;
  m->shift_issued = m->shift_refused = m->shift_repeats = 0;
  localtime_r(&t, &tm);
  strftime(when, sizeof when, "%H:%M", &tm);
  console_model_problem(m, CONSOLE_ROLE_INFO, "a new shift began at %s: its counters start at 0", when);
}

static void console_apply_request(struct console_model *m, const struct service_event *ev)
{
  const char *src = console_short_source(ev->source);
  console_counts(m, ev);
  switch ((enum engine_event_kind)ev->request_kind) {
  case ENGINE_EVENT_ISSUED:
    console_model_log(m, CONSOLE_ROLE_OK, "issued   %s  serial %s  %s", ev->device, ev->serial_hex, src);
    break;
  case ENGINE_EVENT_REDELIVERED:
    console_model_log(m, CONSOLE_ROLE_INFO, "again    %s  issued before, no new signature  %s", ev->device, src);
    break;
  case ENGINE_EVENT_REFUSED:
    console_model_problem(m, CONSOLE_ROLE_REFUSED, "refused  %s: %s: %s", src, st_error_name(ev->code),
                      ev->text[0] ? ev->text : st_error_sentence(ev->code));
    console_model_banner(m, CONSOLE_ROLE_ERROR, "REFUSED  %s: %s", src, st_error_name(ev->code));
    break;
  case ENGINE_EVENT_JOURNAL_STOPPED:
  case ENGINE_EVENT_JOURNAL_RESUMED:
    break; /* these come as SERVICE_EVENT_JOURNAL */
  case ENGINE_EVENT_TOKEN_FAULT:
  case ENGINE_EVENT_TOKEN_BACK:
    break; /* these come as SERVICE_EVENT_TOKEN */
  }
}

/* The journal cannot be written (the alert goes up), or can again (it goes). */
static void console_apply_journal(struct console_model *m, const struct service_event *ev)
{
  console_counts(m, ev);
  m->journal_code = ev->code;
  snprintf(m->journal_fs, sizeof m->journal_fs, "%s", ev->source);
  snprintf(m->journal_text, sizeof m->journal_text, "%s", ev->text);
  if (ev->code != ST_OK)
{
    console_model_problem(m, CONSOLE_ROLE_ERROR, "journal: signing stopped (%s): %s", st_error_name(ev->code), ev->text);
    console_model_banner(m, CONSOLE_ROLE_ERROR, "JOURNAL: SIGNING STOPPED (%s)", st_error_name(ev->code));
  }
  else
    console_model_problem(m, CONSOLE_ROLE_OK, "%s", ev->text);
}

/* The index of the port named in EV, or -1. */
static int console_port_index(const struct console_model *m, const char *path)
{
  for (size_t i = 0; i < m->info->port_count; i++)
    if (strcmp(m->info->ports[i], path) == 0)
      return (int)i;
  return -1;
}

static void console_apply_port(struct console_model *m, const struct service_event *ev)
{
  int i = console_port_index(m, ev->source);
  struct console_port *p = i >= 0 ? &m->ports[i] : NULL;
  if (p != NULL)
    p->state = ev->port_state;
  m->dirty = 1;
  switch (ev->port_event) {
  case SERIAL_EVENT_OPENED:
    if (p != NULL)
      p->opened = 1;
    console_model_log(m, CONSOLE_ROLE_INFO, "port %s open", ev->source);
    break;
  case SERIAL_EVENT_LOST: {
    size_t n = strlen(ev->source);
    const char *why = strncmp(ev->text, ev->source, n) == 0 && strncmp(ev->text + n, ": ", 2) == 0 ? ev->text + n + 2
                                                                                                     : ev->text;
    console_model_log(m, CONSOLE_ROLE_ERROR, "port %s lost: %s", ev->source, why[0] ? why : "not available");
    break;
  }
  case SERIAL_EVENT_ANSWERED:
    if (p != NULL) {
      snprintf(p->device, sizeof p->device, "%s", ev->device);
      snprintf(p->serial_hex, sizeof p->serial_hex, "%s", ev->serial_hex);
      p->code = ev->code;
    }
    break;
  case SERIAL_EVENT_DROPPED:
    console_model_problem(m, CONSOLE_ROLE_REFUSED, "port %s: answer not delivered: %s", ev->source, ev->text);
    break;
  case SERIAL_EVENT_RECEIVING:
  case SERIAL_EVENT_QUEUED:
    break;
  }
}

struct console_stick *console_model_stick(struct console_model *m, const char *path)
{
  for (size_t i = 0; i < m->stick_count; i++)
    if (strcmp(m->sticks[i].path, path) == 0)
      return &m->sticks[i];
  return NULL;
}

struct console_stick *console_model_signing(struct console_model *m)
{
  for (size_t i = 0; i < m->stick_count; i++)
    if (m->sticks[i].state == CONSOLE_STICK_SIGNING)
      return &m->sticks[i];
  return NULL;
}

size_t console_model_busy(const struct console_model *m)
{
  size_t n = 0;
  for (size_t i = 0; i < m->stick_count; i++)
    n += m->sticks[i].state == CONSOLE_STICK_SIGNING || m->sticks[i].state == CONSOLE_STICK_QUEUED;
  return n;
}

const struct console_stick *console_model_focus(const struct console_model *m)
{
  const struct console_stick *focus = NULL;
  for (size_t i = 0; i < m->stick_count; i++) {
    const struct console_stick *st = &m->sticks[i];
    if (st->state == CONSOLE_STICK_SIGNING)
      return st;
    if (focus == NULL || st->changed_ms >= focus->changed_ms)
      focus = st;
  }
  return focus;
}

int console_stick_signable(const struct console_stick *st)
{
  return !st->gone &&
         ((st->state == CONSOLE_STICK_READY && st->inspect_code == ST_OK) || st->state == CONSOLE_STICK_FAILED);
}

int console_stick_signed_before(const struct console_stick *st)
{
  const struct batch_inspection *in = &st->inspection;
  return st->inspect_code == ST_OK && in->files > in->refusals && in->issued_before == in->files - in->refusals;
}

/* Removes the stick at index I, keeping the others in order. */
static void console_stick_remove(struct console_model *m, size_t i)
{
  memmove(&m->sticks[i], &m->sticks[i + 1], (m->stick_count - i - 1) * sizeof m->sticks[0]);
  m->stick_count--;
  memset(&m->sticks[m->stick_count], 0, sizeof m->sticks[0]);
}

/* The stick at PATH, added (in state INSPECTING) when it is not known yet;
 * NULL when the panel is full of sticks that are still needed. */
static struct console_stick *console_stick_add(struct console_model *m, const char *path)
{
  struct console_stick *st = console_model_stick(m, path);
  if (st != NULL)
    return st;
  if (m->stick_count == CONSOLE_MAX_STICKS) /* the oldest finished stick makes room */
    for (size_t i = 0; i < m->stick_count; i++)
      if (m->sticks[i].state == CONSOLE_STICK_DONE || m->sticks[i].state == CONSOLE_STICK_FAILED) {
        console_stick_remove(m, i);
        break;
      }
  if (m->stick_count == CONSOLE_MAX_STICKS)
    return NULL;
  st = &m->sticks[m->stick_count++];
  memset(st, 0, sizeof *st);
  st->state = CONSOLE_STICK_INSPECTING;
  snprintf(st->path, sizeof st->path, "%s", path);
  st_printable_utf8(st->shown, sizeof st->shown, path);
  return st;
}

static void console_apply_stick_seen(struct console_model *m, const struct service_event *ev)
{
  char shown[256];
  st_printable_utf8(shown, sizeof shown, ev->source);
  struct console_stick *st = console_stick_add(m, ev->source);
  if (st == NULL) {
    console_model_log(m, CONSOLE_ROLE_REFUSED, "stick %s: not shown, %d sticks are already in", shown,
                      CONSOLE_MAX_STICKS);
    return;
  }
  if (st->state == CONSOLE_STICK_SIGNING || st->state == CONSOLE_STICK_QUEUED)
    return; /* its batch decides what it shows */
  st->state = CONSOLE_STICK_INSPECTING;
  st->gone = 0;
  st->changed_ms = ev->time_ms;
}

static void console_apply_stick(struct console_model *m, const struct service_event *ev)
{
  char shown[256];
  st_printable_utf8(shown, sizeof shown, ev->source);
  struct console_stick *st = console_model_stick(m, ev->source);
  if (st == NULL || st->state != CONSOLE_STICK_INSPECTING)
    return; /* removed meanwhile, or being signed: the batch says more */
  st->state = CONSOLE_STICK_READY;
  st->inspect_code = ev->code;
  st->inspection = ev->inspection;
  st->changed_ms = ev->time_ms;
  snprintf(st->text, sizeof st->text, "%s", ev->text);
  if (ev->code != ST_OK)
    console_model_problem(m, CONSOLE_ROLE_ERROR, "stick %s cannot be read: %s", shown, ev->text);
  else if (console_stick_signed_before(st))
    console_model_log(m, CONSOLE_ROLE_INFO, "stick %s: %zu CSRs, %zu will be refused; signed before, nothing new",
                      shown, ev->inspection.files, ev->inspection.refusals);
  else
    console_model_log(m, CONSOLE_ROLE_INFO, "stick %s: %zu CSRs, %zu will be refused", shown,
                      ev->inspection.files, ev->inspection.refusals);
}

static void console_apply_stick_gone(struct console_model *m, const struct service_event *ev)
{
  char shown[256];
  st_printable_utf8(shown, sizeof shown, ev->source);
  struct console_stick *st = console_model_stick(m, ev->source);
  if (st != NULL && (st->state == CONSOLE_STICK_SIGNING || st->state == CONSOLE_STICK_QUEUED)) {
    st->gone = 1; /* its batch ends, says what became of it, and then that it was removed */
    return;
  }
  console_model_log(m, CONSOLE_ROLE_INFO, "stick %s removed", shown);
  if (st != NULL)
    console_stick_remove(m, (size_t)(st - m->sticks));
}

static void console_apply_batch_start(struct console_model *m, const struct service_event *ev)
{
  char shown[256];
  st_printable_utf8(shown, sizeof shown, ev->source);
  struct console_stick *st = console_stick_add(m, ev->source);
  console_model_problem(m, CONSOLE_ROLE_INFO, "signing stick %s", shown);
  if (st == NULL)
    return;
  st->state = CONSOLE_STICK_SIGNING;
  st->done = st->total = 0;
  st->start_ms = st->changed_ms = ev->time_ms;
}

static void console_apply_batch_done(struct console_model *m, const struct service_event *ev)
{
  char shown[256];
  st_printable_utf8(shown, sizeof shown, ev->source);
  struct console_stick *st = console_stick_add(m, ev->source);
  const struct batch_summary *b = &ev->summary;
  console_counts(m, ev);
  if (ev->code == ST_OK && b->left > 0)
    console_model_problem(m, CONSOLE_ROLE_REFUSED, "batch stopped after this group: issued %zu (new %zu, before %zu), "
                      "refused %zu; %zu CSRs left unsigned (sign the stick again for them); %s",
                      b->issued + b->handed_back, b->issued, b->handed_back, b->refused, b->left,
                      ev->safe ? "safe to remove" : "NOT safe to remove: the stick could not be synced");
  else if (ev->code == ST_OK)
    console_model_problem(m, CONSOLE_ROLE_OK, "batch done: %s: issued %zu (new %zu, before %zu), refused %zu; %s",
                      shown, b->issued + b->handed_back, b->issued, b->handed_back, b->refused,
                      ev->safe ? "safe to remove" : "NOT safe to remove: the stick could not be synced");
  else
    console_model_problem(m, CONSOLE_ROLE_ERROR, "batch stopped: %s (%s): %s", st_error_sentence(ev->code),
                      st_error_name(ev->code), ev->text);
  if (ev->code != ST_OK)
    console_model_banner(m, CONSOLE_ROLE_ERROR, "BATCH STOPPED (%s): %s", st_error_name(ev->code), shown);
  else if (ev->safe && b->refused > 0)
    console_model_banner(m, CONSOLE_ROLE_ERROR, "DONE, %zu REFUSED  %s: safe to remove; Tab lists the refusals",
                         b->refused, shown);
  else if (ev->safe)
    console_model_banner(m, CONSOLE_ROLE_OK, "DONE  %s: safe to remove", shown);
  if (ev->code != ST_OK && b->unwritten > 0) /* the stick is full, failed or was pulled out: what comes next */
    console_model_problem(m, CONSOLE_ROLE_ERROR, "%zu certificates in the journal, not on the stick: %s and sign it "
                      "again (no new signatures)", b->unwritten,
                      ev->code == ST_E_NO_SPACE ? "free space on it" : "re-insert it");
  if (st == NULL)
    return;
  if (st->gone)
    console_model_problem(m, CONSOLE_ROLE_ERROR, "stick %s removed while it was being signed", shown);
  st->state = ev->code == ST_OK ? CONSOLE_STICK_DONE : CONSOLE_STICK_FAILED;
  st->summary = *b;
  st->code = ev->code;
  st->safe = ev->safe;
  st->elapsed_ms = ev->time_ms - st->start_ms;
  st->changed_ms = ev->time_ms;
  snprintf(st->text, sizeof st->text, "%s", ev->text);
}

static void console_apply_login(struct console_model *m, const struct service_event *ev)
{
  m->login_code = ev->code;
  snprintf(m->login_text, sizeof m->login_text, "%s", ev->text);
  if (ev->code == ST_OK) {
    m->login = CONSOLE_LOGGED_IN;
    m->token_code = ST_OK; /* logged in: the token answers */
    m->ca_proven = 1;
    m->verified_ms = ev->time_ms;
    snprintf(m->verified_how, sizeof m->verified_how, "head on token");
    console_counts(m, ev);
    console_model_problem(m, CONSOLE_ROLE_OK, "logged in to token %s; CA key matches the certificate", m->info->token);
  } else {
    m->login = CONSOLE_LOGGED_OUT;
    console_model_problem(m, CONSOLE_ROLE_ERROR, "login failed: %s (%s)", st_error_sentence(ev->code),
                      st_error_name(ev->code));
  }
}

void console_model_apply(struct console_model *m, const struct service_event *ev)
{
  m->dirty = 1;
  switch (ev->kind) {
  case SERVICE_EVENT_LOGIN: console_apply_login(m, ev); break;
  case SERVICE_EVENT_LOCKED:
    m->login = CONSOLE_LOGGED_OUT;
    console_model_problem(m, CONSOLE_ROLE_INFO, "locked: logged out of token %s", m->info->token);
    break;
  case SERVICE_EVENT_REQUEST: console_apply_request(m, ev); break;
  case SERVICE_EVENT_PORT: console_apply_port(m, ev); break;
  case SERVICE_EVENT_STICK: console_apply_stick(m, ev); break;
  case SERVICE_EVENT_STICK_SEEN: console_apply_stick_seen(m, ev); break;
  case SERVICE_EVENT_STICK_GONE: console_apply_stick_gone(m, ev); break;
  case SERVICE_EVENT_BATCH_START: console_apply_batch_start(m, ev); break;
  case SERVICE_EVENT_PROGRESS: {
    struct console_stick *st = console_model_signing(m);
    if (st != NULL) {
      st->done = ev->done;
      st->total = ev->total;
    }
    break;
  }
  case SERVICE_EVENT_BATCH_DONE: console_apply_batch_done(m, ev); break;
  case SERVICE_EVENT_EXPORTED:
    m->exporting = 0;
    if (ev->code == ST_OK) {
      m->verified_ms = ev->time_ms;
      snprintf(m->verified_how, sizeof m->verified_how, "full check, export");
      console_model_problem(m, CONSOLE_ROLE_OK, "journal exported: %s (+ .sig, .manifest.json and its .sig); the journal verified", ev->source);
    } else {
      console_model_problem(m, CONSOLE_ROLE_ERROR, "export failed: %s (%s): %s", st_error_sentence(ev->code),
                        st_error_name(ev->code), ev->text);
    }
    break;
  case SERVICE_EVENT_JOURNAL: console_apply_journal(m, ev); break;
  case SERVICE_EVENT_FOUND:
    if (m->found_count < SERVICE_FIND_MAX)
      m->found[m->found_count++] = *ev;
    break;
  case SERVICE_EVENT_FOUND_END:
    m->finding = 0;
    m->found_total = ev->total;
    m->found_code = ev->code;
    console_model_log(m, CONSOLE_ROLE_INFO, "looked up \"%s\" in the journal: %zu records", ev->text, ev->total);
    break;
  case SERVICE_EVENT_TOKEN:
    m->token_code = ev->code;
    snprintf(m->token_text, sizeof m->token_text, "%s", ev->text);
    if (ev->code != ST_OK) {
      console_model_problem(m, CONSOLE_ROLE_ERROR, "token %s failed (%s): %s", ev->source, st_error_name(ev->code),
                            ev->text);
      console_model_banner(m, CONSOLE_ROLE_ERROR, "TOKEN FAILED (%s)", st_error_name(ev->code));
    }
    else
      console_model_problem(m, CONSOLE_ROLE_OK, "token %s is back: %s", ev->source, ev->text);
    break;
  case SERVICE_EVENT_FAULT:
    m->fault_code = ev->code;
    console_model_problem(m, CONSOLE_ROLE_ERROR, "serial service stopped: %s (%s): %s", st_error_sentence(ev->code),
                      st_error_name(ev->code), ev->text);
    break;
  }
}
