/* console_panels.c - the main screen's panels: status, serial ports, USB
 * batch, event log and the key bar (see console_internal.h). */
#include "console_internal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "error.h"

/* "HH:MM:SS" local time of MS. */
static void console_clock(int64_t ms, char out[16])
{
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  localtime_r(&t, &tm);
  strftime(out, 16, "%H:%M:%S", &tm);
}

/* ---- status ---- */

/* The journal alert's headline: what stopped (HEAD) and what to do (TODO). */
static void console_alert_text(const struct console *c, char *head, size_t head_cap, char *todo, size_t todo_cap)
{
  const struct console_model *m = &c->model;
  const char *dash = c->utf8 ? "\u2014" : "--";
  if (m->journal_code == ST_E_NO_SPACE) {
    snprintf(head, head_cap, "JOURNAL DISK FULL %s signing stopped.", dash);
    snprintf(todo, todo_cap, "Free space on %s; the station resumes by itself", m->journal_fs);
  } else if (m->journal_code == ST_E_JOURNAL) {
    snprintf(head, head_cap, "JOURNAL CANNOT BE WRITTEN %s signing stopped.", dash);
    snprintf(todo, todo_cap, "Check the disk holding %s; the station retries by itself", m->journal_fs);
  } else {
    snprintf(head, head_cap, "JOURNAL FAULT %s signing stopped until the station is restarted.", dash);
    snprintf(todo, todo_cap, "%s (%s) Keep the journal as it is; station journal verify says more",
             st_error_sentence(m->journal_code), st_error_name(m->journal_code));
  }
}

/* Rows of the journal alert while the journal cannot be written: the
 * headline on one line when the screen is wide enough, else on two, then
 * the engine's sentence. */
static int console_alert_rows(const struct console *c)
{
  char head[128], todo[400];
  if (c->model.journal_code == ST_OK)
    return 0;
  console_alert_text(c, head, sizeof head, todo, sizeof todo);
  return strlen(head) + 1 + strlen(todo) + 2 <= (size_t)COLS ? 2 : 3;
}

static int console_status_rows(const struct console *c, int available)
{
  int want = 5 + console_alert_rows(c);
  return available < want ? available : want;
}

/* The journal alert across the screen from row Y, ROWS of it (at most
 * console_alert_rows): white on red (reverse video in monochrome). */
static void console_alert_draw(struct console *c, int y, int rows)
{
  attr_t alert = console_attr(c, CONSOLE_ATTR_ALERT);
  char head[128], todo[400];
  int split = console_alert_rows(c) == 3;
  console_alert_text(c, head, sizeof head, todo, sizeof todo);
  for (int i = 0; i < rows; i++) {
    attron(alert);
    mvhline(y + i, 0, ' ', COLS);
    attroff(alert);
  }
  if (split) {
    console_put(y, 1, alert, head);
    if (rows > 1)
      console_put(y + 1, 1, alert, todo);
  } else {
    console_putf(y, 1, alert, "%s %s", head, todo);
  }
  if (rows > 1 + split)
    console_put(y + 1 + split, 1, alert, c->model.journal_text);
}

static void console_status_draw(struct console *c, int top, int rows)
{
  const struct console_model *m = &c->model;
  const struct service_info *info = m->info;
  attr_t label = console_attr(c, CONSOLE_ATTR_HEADING);
  char now[16], verified[16];
  int width = COLS;

  console_clock(console_now(), now);
  attron(console_attr(c, CONSOLE_ATTR_TITLE));
  mvhline(top, 0, ' ', width);
  attroff(console_attr(c, CONSOLE_ATTR_TITLE));
  console_putf(top, 0, console_attr(c, CONSOLE_ATTR_TITLE), " STATION  %s  factory %s", info->station, info->factory);
  if (width > 10)
    console_put(top, width - 9, console_attr(c, CONSOLE_ATTR_TITLE), now);
  if (rows < 2)
    return;
  if (console_alert_rows(c) > 0) { /* first, where no one can miss it */
    int alert = rows - 1 < console_alert_rows(c) ? rows - 1 : console_alert_rows(c);
    console_alert_draw(c, top + 1, alert);
    top += alert;
    rows -= alert;
    if (rows < 2)
      return;
  }
  console_put(top + 1, 0, label, "Token");
  if (m->login == CONSOLE_LOGGED_IN && m->token_code == ST_E_HSM_TIMEOUT)
    console_putf(top + 1, 9, console_attr(c, CONSOLE_ATTR_ERROR), "%s: NOT ANSWERING - signing stopped; restart the "
                 "station", info->token);
  else if (m->login == CONSOLE_LOGGED_IN && m->token_code != ST_OK)
    console_putf(top + 1, 9, console_attr(c, CONSOLE_ATTR_ERROR), "%s: FAILED (%s) - check it is plugged in; the "
                 "station logs in again by itself", info->token, st_error_name(m->token_code));
  else if (m->login == CONSOLE_LOGGED_IN)
    console_putf(top + 1, 9, console_attr(c, CONSOLE_ATTR_OK), "%s: logged in", info->token);
  else if (m->login == CONSOLE_LOGGING_IN)
    console_putf(top + 1, 9, A_NORMAL, "%s: logging in ...", info->token);
  else
    console_putf(top + 1, 9, console_attr(c, CONSOLE_ATTR_REFUSED), "%s: LOCKED (not logged in)", info->token);
  if (rows < 3)
    return;
  console_put(top + 2, 0, label, "CA");
  console_putf(top + 2, 9, info->ca_expired ? console_attr(c, CONSOLE_ATTR_ERROR) : A_NORMAL, "%s  expires %s%s",
               info->ca_cn, info->ca_not_after, info->ca_expired ? " EXPIRED" : "");
  {
    int x = 9 + (int)strlen(info->ca_cn) + 11 + (int)strlen(info->ca_not_after) + (info->ca_expired ? 8 : 0) + 2;
    if (m->ca_proven)
      console_put(top + 2, x, console_attr(c, CONSOLE_ATTR_OK), "key matches");
    else
      console_put(top + 2, x, A_NORMAL, "key: checked at login");
  }
  if (rows < 4)
    return;
  console_put(top + 3, 0, label, "Journal");
  if (m->journal_code != ST_OK) {
    console_putf(top + 3, 9, console_attr(c, CONSOLE_ATTR_ERROR), "%llu records  CANNOT BE WRITTEN: signing stopped (%s)",
                 (unsigned long long)m->records, st_error_name(m->journal_code));
  } else if (m->verified_ms > 0) {
    console_clock(m->verified_ms, verified);
    console_putf(top + 3, 9, A_NORMAL, "%llu records  last verify %s (%s)", (unsigned long long)m->records, verified,
                 m->verified_how);
  } else {
    console_putf(top + 3, 9, A_NORMAL, "%llu records  not verified yet (at login)", (unsigned long long)m->records);
  }
  if (rows < 5)
    return;
  console_put(top + 4, 0, label, "Counts");
  console_putf(top + 4, 9, A_NORMAL, "issued %llu this shift, %llu total   refused %llu this shift, %llu total",
               (unsigned long long)m->shift_issued, (unsigned long long)m->issued,
               (unsigned long long)m->shift_refused, (unsigned long long)m->refused);
}

const struct console_view console_status_view = {"status", console_status_rows, console_status_draw, NULL, NULL};

/* ---- serial ports ---- */

static int console_ports_rows(const struct console *c, int available)
{
  int want = 1 + (c->model.info->port_count > 0 ? (int)c->model.info->port_count : 1);
  int cap = available / 3 > 2 ? available / 3 : 2;
  return want < cap ? want : cap;
}

static void console_ports_draw(struct console *c, int top, int rows)
{
  const struct service_info *info = c->model.info;
  console_heading(c, top, "Serial ports");
  if (info->port_count == 0 && rows > 1)
    console_put(top + 1, 1, A_NORMAL, "none configured (intake.serial)");
  for (int i = 0; i + 1 < rows && (size_t)i < info->port_count; i++) {
    const struct console_port *p = &c->model.ports[i];
    enum console_attr_role role = p->state == SERIAL_PORT_ERROR ? CONSOLE_ATTR_ERROR
                                : p->state == SERIAL_PORT_IDLE  ? CONSOLE_ATTR_NORMAL
                                                                : CONSOLE_ATTR_OK;
    int more = i + 2 == rows && info->port_count > (size_t)rows - 1;
    if (more) {
      console_putf(top + 1 + i, 1, A_NORMAL, "... and %zu more ports", info->port_count - (size_t)i);
      break;
    }
    size_t len = strlen(info->ports[i]);
    /* the end of a long path says most: ".../ports/ttyBOARD0" */
    console_putf(top + 1 + i, 1, A_NORMAL, len <= 26 ? "%-26s" : "...%.23s", len <= 26 ? info->ports[i]
                                                                                      : info->ports[i] + len - 23);
    console_putf(top + 1 + i, 28, console_attr(c, role), "%-10s", console_port_state_name(p->state));
    if (p->device[0] != '\0' || p->code != ST_OK)
      console_putf(top + 1 + i, 39, p->code == ST_OK ? A_NORMAL : console_attr(c, CONSOLE_ATTR_REFUSED),
                   "last %s %s%s", p->device[0] ? p->device : "-", p->code == ST_OK ? "OK " : "ERR ",
                   p->code == ST_OK ? p->serial_hex : st_error_name(p->code));
  }
}

const struct console_view console_ports_view = {"ports", console_ports_rows, console_ports_draw, NULL, NULL};

/* ---- USB batch ---- */

static int console_batch_rows(const struct console *c, int available)
{
  (void)c;
  return available < 4 ? available : 4;
}

/* "wrong-factory 2, not-a-csr 1" into OUT. */
static void console_reasons(const struct batch_inspection *in, char *out, size_t cap)
{
  size_t used = 0;
  out[0] = '\0';
  for (size_t i = 0; i < in->reason_count && used < cap; i++)
    used += (size_t)snprintf(out + used, cap - used, "%s%s %zu", i ? ", " : "", st_error_name(in->reasons[i].code),
                             in->reasons[i].count);
  if (in->other > 0 && used < cap)
    snprintf(out + used, cap - used, ", other %zu", in->other);
}

static void console_progress(struct console *c, int y, const struct console_stick *st)
{
  int width = COLS - 2, bar = width - 40 > 10 ? width - 40 : 10;
  size_t filled = st->total ? st->done * (size_t)bar / st->total : 0;
  double secs = (double)(console_now() - st->start_ms) / 1000.0;
  double rate = secs > 0.2 ? (double)st->done / secs : 0.0;
  char left[32] = "-";
  if (rate > 0.0 && st->total >= st->done)
    snprintf(left, sizeof left, "%.0f s left", (double)(st->total - st->done) / rate);
  mvaddch(y, 1, '[');
  attron(console_attr(c, CONSOLE_ATTR_OK));
  for (int i = 0; i < bar; i++)
    mvaddch(y, 2 + i, (size_t)i < filled ? '#' : '-');
  attroff(console_attr(c, CONSOLE_ATTR_OK));
  mvaddch(y, 2 + bar, ']');
  console_putf(y, 4 + bar, A_NORMAL, "%3zu%% %zu/%zu %.0f/s %s", st->total ? st->done * 100 / st->total : 0, st->done,
               st->total, rate, left);
}

static void console_batch_draw(struct console *c, int top, int rows)
{
  const struct console_stick *st = &c->model.stick;
  char reasons[256];
  console_heading(c, top, "USB batch");
  if (rows < 2)
    return;
  switch (st->state) {
  case CONSOLE_STICK_NONE:
    console_put(top + 1, 1, A_NORMAL, c->model.info->usb_root_count > 0
                                          ? "no stick: waiting for a stick under the intake roots (intake.usb)"
                                          : "no USB intake configured (intake.usb)");
    break;
  case CONSOLE_STICK_READY:
    console_putf(top + 1, 1, A_NORMAL, "stick %s", st->path);
    if (rows > 2 && st->inspect_code != ST_OK)
      console_putf(top + 2, 1, console_attr(c, CONSOLE_ATTR_ERROR), "cannot be read: %s", st->text);
    else if (rows > 2) {
      console_reasons(&st->inspection, reasons, sizeof reasons);
      console_putf(top + 2, 1, st->inspection.refusals ? console_attr(c, CONSOLE_ATTR_REFUSED) : A_NORMAL,
                   "%zu CSRs, %zu will be refused%s%s", st->inspection.files, st->inspection.refusals,
                   st->inspection.refusals ? ": " : "", reasons);
    }
    if (rows > 3)
      console_put(top + 3, 1, console_attr(c, CONSOLE_ATTR_KEY),
                  c->model.login == CONSOLE_LOGGED_IN ? "press s to sign this batch" : "log in to sign this batch");
    break;
  case CONSOLE_STICK_SIGNING:
    console_putf(top + 1, 1, console_attr(c, CONSOLE_ATTR_REFUSED), "signing %s: do not remove the stick", st->path);
    if (rows > 2)
      console_progress(c, top + 2, st);
    break;
  case CONSOLE_STICK_DONE:
  case CONSOLE_STICK_FAILED:
    console_putf(top + 1, 1, st->safe && st->state == CONSOLE_STICK_DONE ? console_attr(c, CONSOLE_ATTR_OK)
                                                                          : console_attr(c, CONSOLE_ATTR_ERROR),
                 "%s: %s", st->path,
                 st->safe ? "safe to remove" : "NOT safe to remove (the stick could not be synced)");
    if (rows > 2 && st->state == CONSOLE_STICK_DONE)
      console_putf(top + 2, 1, A_NORMAL, "issued %zu (new %zu, before %zu), refused %zu, in %.2f s",
                   st->summary.issued + st->summary.handed_back, st->summary.issued, st->summary.handed_back,
                   st->summary.refused, (double)st->elapsed_ms / 1000.0);
    else if (rows > 2)
      console_putf(top + 2, 1, console_attr(c, CONSOLE_ATTR_ERROR), "batch stopped: %s (%s): %s",
                   st_error_sentence(st->code), st_error_name(st->code), st->text);
    if (rows > 3 && st->state == CONSOLE_STICK_FAILED && st->summary.unwritten > 0)
      console_putf(top + 3, 1, console_attr(c, CONSOLE_ATTR_ERROR), "%zu certificates in the journal, not on the "
                   "stick: %s and sign it again (no new signatures)", st->summary.unwritten,
                   st->code == ST_E_NO_SPACE ? "free space on it" : "re-insert it");
    else if (rows > 3)
      console_put(top + 3, 1, A_NORMAL, "certificates in certs/, refusal notes in rejected/; e exports the journal here");
    break;
  }
}

const struct console_view console_batch_view = {"batch", console_batch_rows, console_batch_draw, NULL, NULL};

/* ---- event log ---- */

static int console_log_rows(const struct console *c, int available)
{
  (void)c;
  return available;
}

static void console_log_draw(struct console *c, int top, int rows)
{
  static const enum console_attr_role roles[] = {CONSOLE_ATTR_NORMAL, CONSOLE_ATTR_OK, CONSOLE_ATTR_REFUSED,
                                                 CONSOLE_ATTR_ERROR};
  char title[64], when[16];
  int lines = rows - 1;
  if (c->log_scroll + (size_t)(lines > 0 ? lines : 0) > c->model.log_count)
    c->log_scroll = c->model.log_count > (size_t)lines && lines > 0 ? c->model.log_count - (size_t)lines : 0;
  snprintf(title, sizeof title, c->log_scroll ? "Events (scrolled back %zu; PgDn)" : "Events", c->log_scroll);
  console_heading(c, top, title);
  for (int i = 0; i < lines; i++) {
    const struct console_log_line *line = console_model_log_line(&c->model, c->log_scroll + (size_t)(lines - 1 - i));
    if (line == NULL)
      continue;
    console_clock(line->time_ms, when);
    console_put(top + 1 + i, 0, A_NORMAL, when);
    console_put(top + 1 + i, 9, console_attr(c, roles[line->role]), line->text);
  }
}

static int console_log_key(struct console *c, int key)
{
  int handled = 1;
  if (key == KEY_PPAGE)
    c->log_scroll += 5;
  else if (key == KEY_NPAGE)
    c->log_scroll = c->log_scroll > 5 ? c->log_scroll - 5 : 0;
  else
    handled = 0;
  c->model.dirty |= handled;
  return handled;
}

const struct console_view console_log_view = {"log", console_log_rows, console_log_draw, console_log_key, NULL};

/* ---- key bar ---- */

static int console_keys_rows(const struct console *c, int available)
{
  (void)c;
  return available > 0 ? 1 : 0;
}

static void console_keys_draw(struct console *c, int top, int rows)
{
  (void)rows;
  attron(console_attr(c, CONSOLE_ATTR_TITLE));
  mvhline(top, 0, ' ', COLS);
  attroff(console_attr(c, CONSOLE_ATTR_TITLE));
  console_put(top, 0, console_attr(c, CONSOLE_ATTR_TITLE),
              " s sign  e export  l lock  PgUp/PgDn events  ? help  q quit");
}

const struct console_view console_keys_view = {"keys", console_keys_rows, console_keys_draw, NULL, NULL};
