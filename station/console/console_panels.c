/* console_panels.c - the main screen's panels: status, serial ports, USB
 * batch, event log and the key bar (see console_internal.h). */
#include "console_internal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"
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

  console_clock(st_wall_ms(), now);
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
  {
    time_t t = (time_t)(m->shift_start_ms / 1000);
    struct tm tm;
    char since[16], repeats[48] = "";
    localtime_r(&t, &tm);
    strftime(since, sizeof since, "%H:%M", &tm);
    /* a stick signed again refuses its bad CSRs again: those count as repeats, not as new refusals */
    if (m->shift_repeats > 0)
      snprintf(repeats, sizeof repeats, " (+%llu repeated)", (unsigned long long)m->shift_repeats);
    console_putf(top + 4, 9, A_NORMAL, "issued %llu this shift, %llu total   refused %llu this shift%s, %llu total   "
                 "(shift since %s)", (unsigned long long)m->shift_issued, (unsigned long long)m->issued,
                 (unsigned long long)(m->shift_refused - m->shift_repeats), repeats, (unsigned long long)m->refused,
                 since);
  }
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
    /* the outcome first, so that a narrow screen keeps it */
    if (p->code == ST_E_HSM_PIN && c->model.login != CONSOLE_LOGGED_IN)
      console_putf(top + 1 + i, 39, A_NORMAL, "locked: asked again after unlock  %s", p->device);
    else if (p->device[0] != '\0' || p->code != ST_OK)
      console_putf(top + 1 + i, 39, p->code == ST_OK ? A_NORMAL : console_attr(c, CONSOLE_ATTR_REFUSED),
                   "%s %s  last %s", p->code == ST_OK ? "OK " : "ERR", p->code == ST_OK ? p->serial_hex
                                                                           : st_error_name(p->code),
                   p->device[0] ? p->device : "-");
  }
}

const struct console_view console_ports_view = {"ports", console_ports_rows, console_ports_draw, NULL, NULL};

/* ---- USB sticks ---- */

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

void console_stick_state(const struct console_stick *st, char *out, size_t cap, enum console_attr_role *role)
{
  const struct batch_summary *b = &st->summary;
  char reasons[256];
  *role = CONSOLE_ATTR_NORMAL;
  switch (st->state) {
  case CONSOLE_STICK_NONE:
  case CONSOLE_STICK_INSPECTING: snprintf(out, cap, "inspecting ..."); break;
  case CONSOLE_STICK_READY:
    if (st->inspect_code != ST_OK) {
      *role = CONSOLE_ATTR_ERROR;
      snprintf(out, cap, "cannot be read: %s", st->text);
    } else if (console_stick_signed_before(st)) {
      snprintf(out, cap, "signed before, nothing new: %zu CSRs, %zu will be refused", st->inspection.files,
               st->inspection.refusals);
    } else {
      console_reasons(&st->inspection, reasons, sizeof reasons);
      *role = st->inspection.refusals ? CONSOLE_ATTR_REFUSED : CONSOLE_ATTR_NORMAL;
      snprintf(out, cap, "%zu CSRs, %zu will be refused%s%s", st->inspection.files, st->inspection.refusals,
               st->inspection.refusals ? ": " : "", reasons);
    }
    break;
  case CONSOLE_STICK_QUEUED: snprintf(out, cap, "queued: signed after the batch in progress"); break;
  case CONSOLE_STICK_SIGNING:
    *role = CONSOLE_ATTR_REFUSED;
    snprintf(out, cap, "signing %zu%% (%zu/%zu): do not remove the stick", st->total ? st->done * 100 / st->total : 0,
             st->done, st->total);
    break;
  case CONSOLE_STICK_DONE:
    *role = st->safe ? CONSOLE_ATTR_OK : CONSOLE_ATTR_ERROR;
    if (b->left > 0)
      snprintf(out, cap, "%s; stopped with %zu CSRs left: sign it again for them",
               st->safe ? "safe to remove" : "NOT safe to remove (the stick could not be synced)", b->left);
    else
      snprintf(out, cap, "%s", st->safe ? "safe to remove" : "NOT safe to remove (the stick could not be synced)");
    break;
  case CONSOLE_STICK_FAILED:
    *role = CONSOLE_ATTR_ERROR;
    snprintf(out, cap, "batch stopped (%s)%s", st_error_name(st->code), st->gone ? ": pulled out" : "");
    break;
  }
}

/* Rows the focus stick's details take under the list. */
static int console_focus_rows(const struct console_stick *st)
{
  if (st == NULL)
    return 0;
  switch (st->state) {
  case CONSOLE_STICK_SIGNING:
  case CONSOLE_STICK_DONE:
  case CONSOLE_STICK_READY: return 1;
  case CONSOLE_STICK_FAILED: return st->summary.unwritten > 0 ? 2 : 1;
  default: return 0;
  }
}

static int console_batch_rows(const struct console *c, int available)
{
  const struct console_model *m = &c->model;
  int want = 1 + (m->stick_count > 0 ? (int)m->stick_count : 1) + console_focus_rows(console_model_focus(m));
  int cap = available / 2 > 4 ? available / 2 : 4;
  if (want < 4)
    want = 4;
  if (want > cap)
    want = cap;
  return available < want ? available : want;
}

static void console_progress(struct console *c, int y, const struct console_stick *st)
{
  int width = COLS - 2, bar = width - 40 > 10 ? width - 40 : 10;
  size_t filled = st->total ? st->done * (size_t)bar / st->total : 0;
  double secs = (double)(st_wall_ms() - st->start_ms) / 1000.0;
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

/* The details of the focus stick ST from row Y, at most ROWS of them. */
static void console_focus_draw(struct console *c, int y, int rows, const struct console_stick *st)
{
  const struct batch_summary *b = &st->summary;
  if (rows < 1)
    return;
  switch (st->state) {
  case CONSOLE_STICK_SIGNING: console_progress(c, y, st); break;
  case CONSOLE_STICK_READY:
    if (st->inspect_code == ST_OK)
      console_put(y, 3, console_attr(c, CONSOLE_ATTR_KEY),
                  c->model.login != CONSOLE_LOGGED_IN ? "log in to sign this batch"
                  : console_stick_signed_before(st)
                      ? "signed before: s gives its certificates back from the journal, nothing new is signed"
                      : "press s to sign this batch");
    break;
  case CONSOLE_STICK_DONE:
    console_putf(y, 3, A_NORMAL, "issued %zu (new %zu, before %zu), refused %zu, in %.2f s; e exports the journal",
                 b->issued + b->handed_back, b->issued, b->handed_back, b->refused, (double)st->elapsed_ms / 1000.0);
    break;
  case CONSOLE_STICK_FAILED:
    console_putf(y, 3, console_attr(c, CONSOLE_ATTR_ERROR), "batch stopped: %s (%s): %s", st_error_sentence(st->code),
                 st_error_name(st->code), st->text);
    if (rows > 1 && b->unwritten > 0)
      console_putf(y + 1, 3, console_attr(c, CONSOLE_ATTR_ERROR), "%zu certificates in the journal, not on the "
                   "stick: %s and sign it again (no new signatures)", b->unwritten,
                   st->code == ST_E_NO_SPACE ? "free space on it" : "re-insert it");
    break;
  default: break;
  }
}

static void console_batch_draw(struct console *c, int top, int rows)
{
  const struct console_model *m = &c->model;
  const struct console_stick *focus = console_model_focus(m);
  int detail = console_focus_rows(focus), list = rows - 1 - detail, y = top + 1;
  size_t first = 0;
  char state[400];
  console_heading(c, top, m->stick_count > 1 ? "USB batch: sticks" : "USB batch");
  if (rows < 2)
    return;
  if (m->stick_count == 0) {
    console_put(y, 1, A_NORMAL, m->info->usb_root_count > 0
                                    ? "no stick: waiting for a stick under the intake roots (intake.usb)"
                                    : "no USB intake configured (intake.usb)");
    return;
  }
  if (list < 1) {
    list = 1;
    detail = rows - 2;
  }
  /* more sticks than rows: the newest ones, with the focus among them */
  if (m->stick_count > (size_t)list)
    first = m->stick_count - (size_t)list;
  if (focus != NULL && (size_t)(focus - m->sticks) < first)
    first = (size_t)(focus - m->sticks);
  for (size_t i = first; i < m->stick_count && y < top + 1 + list; i++) {
    const struct console_stick *st = &m->sticks[i];
    enum console_attr_role role;
    console_stick_state(st, state, sizeof state, &role);
    console_putf(y, 0, st == focus && m->stick_count > 1 ? A_BOLD : A_NORMAL, "%c", st == focus && m->stick_count > 1
                                                                                   ? '>' : ' ');
    /* the end of a long path says most */
    console_putf(y, 1, A_NORMAL, "%s:", st->shown);
    console_put(y, 3 + (int)strlen(st->shown), console_attr(c, role), state);
    y++;
  }
  if (focus != NULL && detail > 0)
    console_focus_draw(c, y, top + rows - y < detail ? top + rows - y : detail, focus);
}

const struct console_view console_batch_view = {"batch", console_batch_rows, console_batch_draw, NULL, NULL};

/* ---- event log ---- */

static int console_log_rows(const struct console *c, int available)
{
  (void)c;
  return available;
}

/* Event-log lines a page key moves: about the lines shown. */
static size_t console_log_page(void)
{
  return LINES > 24 ? (size_t)(LINES / 2) : 8;
}

/* The I-th newest line of the list shown (events or problems), and its length. */
static const struct console_log_line *console_list_line(const struct console *c, size_t i)
{
  return c->show_problems ? console_model_problem_line(&c->model, i) : console_model_log_line(&c->model, i);
}

static size_t console_list_count(const struct console *c)
{
  return c->show_problems ? c->model.problem_count : c->model.log_count;
}

static void console_log_draw(struct console *c, int top, int rows)
{
  static const enum console_attr_role roles[] = {CONSOLE_ATTR_NORMAL, CONSOLE_ATTR_OK, CONSOLE_ATTR_REFUSED,
                                                 CONSOLE_ATTR_ERROR};
  char title[128], when[16];
  int lines = rows - 1 - (c->answer[0] != '\0' && rows > 2);
  size_t count = console_list_count(c);
  if (lines < 0)
    lines = 0;
  if (c->selecting && c->selected >= count)
    c->selected = count > 0 ? count - 1 : 0;
  if (c->selecting && c->selected < c->log_scroll) /* the selection stays in sight */
    c->log_scroll = c->selected;
  if (c->selecting && lines > 0 && c->selected >= c->log_scroll + (size_t)lines)
    c->log_scroll = c->selected - (size_t)lines + 1;
  if (c->log_scroll + (size_t)lines > count)
    c->log_scroll = count > (size_t)lines && lines > 0 ? count - (size_t)lines : 0;
  if (c->show_problems)
    snprintf(title, sizeof title, "Problems and actions this shift: %zu%s (Tab: all events; Enter opens a line)",
             count, c->log_scroll ? ", scrolled back" : "");
  else
    snprintf(title, sizeof title, "Events%s (Tab: problems %zu)", c->log_scroll ? ", scrolled back (PgDn, End)" : "",
             c->model.problem_count);
  console_heading(c, top, title);
  for (int i = 0; i < lines; i++) {
    size_t at = c->log_scroll + (size_t)(lines - 1 - i);
    const struct console_log_line *line = console_list_line(c, at);
    attr_t mark = c->selecting && at == c->selected ? A_REVERSE : 0;
    if (line == NULL)
      continue;
    console_clock(line->time_ms, when);
    console_put(top + 1 + i, 0, mark, when);
    console_put(top + 1 + i, 9, console_attr(c, roles[line->role]) | mark, line->text);
  }
  if (c->answer[0] != '\0' && rows > 2) { /* the answer to the last key, until the next key */
    attr_t attr = console_attr(c, roles[c->answer_role]) | A_REVERSE;
    attron(attr);
    mvhline(top + rows - 1, 0, ' ', COLS);
    attroff(attr);
    console_putf(top + rows - 1, 0, attr, " %s", c->answer);
  }
}

static int console_log_key(struct console *c, int key)
{
  int handled = 1;
  size_t page = console_log_page(), count = console_list_count(c);
  const struct console_log_line *line;
  if (key == KEY_PPAGE)
    c->log_scroll += page;
  else if (key == KEY_NPAGE)
    c->log_scroll = c->log_scroll > page ? c->log_scroll - page : 0;
  else if (key == KEY_HOME)
    c->log_scroll = count; /* cut to the oldest line shown at the top when drawn */
  else if (key == KEY_END)
    c->log_scroll = 0;
  else if (key == '\t') {
    c->show_problems = !c->show_problems;
    c->log_scroll = c->selected = 0;
    c->selecting = 0;
  } else if (key == KEY_UP) {
    c->selected = !c->selecting ? 0 : c->selected + 1 < count ? c->selected + 1 : c->selected;
    c->selecting = 1;
  } else if (key == KEY_DOWN) {
    if (c->selecting && c->selected > 0)
      c->selected--;
    c->selecting = 1;
  } else if (key == '\n' || key == '\r' || key == KEY_ENTER) {
    line = console_list_line(c, c->selecting ? c->selected : 0);
    if (line != NULL) {
      c->opened = *line;
      c->overlay = &console_line_view;
    }
  } else if (key == 27) {
    c->selecting = 0;
  } else {
    handled = 0;
  }
  if (key == KEY_PPAGE || key == KEY_NPAGE || key == KEY_HOME || key == KEY_END)
    c->selecting = 0;
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
              " s sign  e export  x eject  l lock  / find  Tab problems  F1 help  F10/q quit");
}

const struct console_view console_keys_view = {"keys", console_keys_rows, console_keys_draw, NULL, NULL};

/* ---- the large banner (a refusal, a fault, a stick done) ---- */

static int console_banner_rows(const struct console *c, int available)
{
  (void)available;
  return c->model.banner_until_ms > st_wall_ms() ? 3 : 0;
}

static void console_banner_draw(struct console *c, int top, int rows)
{
  attr_t attr = c->model.banner_role == CONSOLE_ROLE_OK ? console_attr(c, CONSOLE_ATTR_BANNER_OK)
                                                         : console_attr(c, CONSOLE_ATTR_ALERT);
  int len = (int)strlen(c->model.banner), x = len < COLS ? (COLS - len) / 2 : 0;
  attron(attr);
  for (int i = 0; i < rows; i++)
    mvhline(top + i, 0, ' ', COLS);
  attroff(attr);
  console_put(top + rows / 2, x, attr | A_BOLD, c->model.banner);
}

const struct console_view console_banner_view = {"banner", console_banner_rows, console_banner_draw, NULL, NULL};
