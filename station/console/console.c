/* console.c - the console's loop: terminal, service events, signals and the
 * station's log in one poll(); keys become service commands; one render per
 * turn when something changed (see console.h). */
#include "console.h"
#include "console_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "clock.h"
#include "error.h"
#include "log.h"
#include "service.h"
#include "stick_eject.h"

/* How long the console shows what became of the sticks before it leaves, when it quit during a batch. */
#define CONSOLE_LEAVE_MS 3000

/* Below this size the screen says so instead of drawing the panels. */
#define CONSOLE_MIN_COLS 40
#define CONSOLE_MIN_LINES 12

/* ---- actions ---- */

void console_answer(struct console *c, enum console_role role, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->answer, sizeof c->answer, fmt, ap);
  va_end(ap);
  c->answer_role = role;
  if (role == CONSOLE_ROLE_INFO) /* an action the operator started */
    console_model_problem(&c->model, role, "%s", c->answer);
  else
    console_model_log(&c->model, role, "%s", c->answer);
}

/* Certificates the station has still to write: the rest of the batch in
 * progress and the sticks queued after it. */
static size_t console_to_write(const struct console_model *m)
{
  size_t n = 0;
  for (size_t i = 0; i < m->stick_count; i++) {
    const struct console_stick *st = &m->sticks[i];
    if (st->state == CONSOLE_STICK_SIGNING)
      n += st->total > st->done ? st->total - st->done : (st->total == 0 ? st->inspection.files : 0);
    else if (st->state == CONSOLE_STICK_QUEUED)
      n += st->inspection.files;
  }
  return n;
}

/* 1 while the station writes (or is about to write) to a stick. */
static int console_busy(const struct console *c)
{
  return console_model_busy(&c->model) > 0 || c->model.exporting;
}

void console_quit(struct console *c, enum console_quitting how)
{
  if (!console_busy(c)) {
    c->quit = 1;
    return;
  }
  if (service_cancel_queued(c->service) > 0 || console_model_busy(&c->model) > 1)
    for (size_t i = 0; i < c->model.stick_count; i++)
      if (c->model.sticks[i].state == CONSOLE_STICK_QUEUED) {
        c->model.sticks[i].state = CONSOLE_STICK_READY; /* not signed: the operator quit first */
        console_model_log(&c->model, CONSOLE_ROLE_INFO, "stick %s: not signed (the console is quitting)",
                          c->model.sticks[i].shown);
      }
  if (how == CONSOLE_QUIT_STOP)
    service_stop_batch(c->service);
  if (c->quitting == CONSOLE_QUIT_NO)
    c->quit_ms = st_wall_ms();
  if (how > c->quitting)
    c->quitting = how;
  c->leave_ms = 0;
  console_model_problem(&c->model, CONSOLE_ROLE_INFO, how == CONSOLE_QUIT_STOP
                        ? "quitting: the batch stops after this group; the console closes once the stick is written"
                        : "quitting: finishing the batch; the console closes once the stick is written");
  c->overlay = &console_quitting_view;
  c->model.dirty = 1;
}

/* The stick a sign confirmation names, or NULL when it went meanwhile. */
static struct console_stick *console_confirm_stick(struct console *c)
{
  return console_model_stick(&c->model, c->confirm_path);
}

void console_confirmed(struct console *c, enum console_confirm what, int key)
{
  struct console_stick *st;
  if (what == CONSOLE_CONFIRM_QUIT) {
    console_quit(c, key == 'g' || key == 'G' ? CONSOLE_QUIT_STOP : CONSOLE_QUIT_FINISH);
  } else if (what == CONSOLE_CONFIRM_SIGN && (st = console_confirm_stick(c)) != NULL && console_stick_signable(st)) {
    int queued = console_model_busy(&c->model) > 0;
    if (service_sign(c->service, st->path) == ST_OK) {
      st->state = CONSOLE_STICK_QUEUED; /* until BATCH_START says it is being signed */
      st->start_ms = st->changed_ms = st_wall_ms();
      st->done = st->total = 0;
      if (queued)
        console_answer(c, CONSOLE_ROLE_INFO, "stick %s queued: it is signed after the batch in progress", st->shown);
    }
  }
}

static void console_ask_sign(struct console *c, const struct console_stick *st)
{
  char text[600];
  int busy = console_model_busy(&c->model) > 0;
  snprintf(text, sizeof text, "Sign %zu CSRs from %.200s (%zu will be refused)?%s%s", st->inspection.files,
           st->shown, st->inspection.refusals,
           console_stick_signed_before(st) ? " Signed before: its certificates come back from the journal, "
                                             "nothing new is signed."
                                           : "",
           busy ? " A batch is in progress: this stick is queued after it." : "");
  snprintf(c->confirm_path, sizeof c->confirm_path, "%s", st->path);
  console_ask_confirm(c, CONSOLE_CONFIRM_SIGN, text);
}

/* Offers the sticks for which ACCEPT says 1: none (returns 0), one (returns
 * 1 and its index in *ONE), or several (opens the chooser; returns their count). */
static size_t console_offer(struct console *c, enum console_choice what, int (*accept)(const struct console_stick *),
                            size_t *one)
{
  size_t n = 0;
  for (size_t i = 0; i < c->model.stick_count; i++)
    if (accept(&c->model.sticks[i])) {
      snprintf(c->choices[n++], sizeof c->choices[0], "%s", c->model.sticks[i].path);
      *one = i;
    }
  if (n > 1) {
    c->choice = what;
    c->choice_count = n;
    c->choice_selected = 0;
    c->overlay = &console_choose_view;
  }
  return n;
}

static int console_exportable(const struct console_stick *st)
{
  return !st->gone &&
         (st->state == CONSOLE_STICK_READY || st->state == CONSOLE_STICK_DONE || st->state == CONSOLE_STICK_FAILED);
}

static void console_export_to(struct console *c, const char *path)
{
  char shown[256];
  st_printable_utf8(shown, sizeof shown, path);
  if (c->model.exporting)
    console_answer(c, CONSOLE_ROLE_REFUSED, "e: an export is already being written");
  else if (service_export(c->service, path) == ST_OK) {
    c->model.exporting = 1;
    console_answer(c, CONSOLE_ROLE_INFO, "exporting the journal to %s ...", shown);
  }
}

/* 1 when ST may be ejected: nothing is being written to it and everything on it is synced. */
static int console_ejectable(const struct console_stick *st)
{
  return !st->gone && (st->state == CONSOLE_STICK_READY ||
                       ((st->state == CONSOLE_STICK_DONE || st->state == CONSOLE_STICK_FAILED) && st->safe));
}

static void console_render(struct console *c);

/* Unmounts (and powers off) the stick ST through the mount helper; the
 * screen says so first, as the helper takes a moment. */
static void console_eject(struct console *c, struct console_stick *st)
{
  char answer[400], shown[256];
  snprintf(shown, sizeof shown, "%s", st->shown);
  if (c->model.exporting) {
    console_answer(c, CONSOLE_ROLE_REFUSED, "x: the journal is being exported onto a stick; eject once it is written");
    return;
  }
  console_answer(c, CONSOLE_ROLE_INFO, "ejecting %s ...", shown);
  console_render(c);
  if (stick_eject(st->path, answer, sizeof answer) == ST_OK)
    console_answer(c, CONSOLE_ROLE_INFO, "x: %s", answer);
  else
    console_answer(c, CONSOLE_ROLE_ERROR, "x: %s not ejected: %s", shown, answer);
}

void console_chosen(struct console *c, size_t i)
{
  struct console_stick *st = i < c->choice_count ? console_model_stick(&c->model, c->choices[i]) : NULL;
  c->overlay = NULL;
  if (st == NULL)
    console_answer(c, CONSOLE_ROLE_REFUSED, "that stick is no longer there");
  else if (c->choice == CONSOLE_CHOOSE_SIGN && console_stick_signable(st))
    console_ask_sign(c, st);
  else if (c->choice == CONSOLE_CHOOSE_EXPORT && console_exportable(st))
    console_export_to(c, st->path);
  else if (c->choice == CONSOLE_CHOOSE_EJECT && console_ejectable(st))
    console_eject(c, st);
  else
    console_answer(c, CONSOLE_ROLE_REFUSED, "stick %s cannot be used now", st->shown);
}

static void console_key_sign(struct console *c)
{
  size_t one = 0, n;
  int inspecting = 0;
  for (size_t i = 0; i < c->model.stick_count; i++)
    inspecting |= c->model.sticks[i].state == CONSOLE_STICK_INSPECTING;
  if (c->model.login != CONSOLE_LOGGED_IN) {
    console_answer(c, CONSOLE_ROLE_REFUSED, "s: log in first (the console is locked)");
    return;
  }
  n = console_offer(c, CONSOLE_CHOOSE_SIGN, console_stick_signable, &one);
  if (n == 1)
    console_ask_sign(c, &c->model.sticks[one]);
  else if (n == 0 && inspecting)
    console_answer(c, CONSOLE_ROLE_REFUSED, "s: the stick is still being inspected; wait a moment");
  else if (n == 0 && console_model_busy(&c->model) > 0)
    console_answer(c, CONSOLE_ROLE_REFUSED, "s: every stick in is being signed or queued");
  else if (n == 0 && c->model.stick_count > 0)
    console_answer(c, CONSOLE_ROLE_REFUSED, "s: no stick waits to be signed (a stick that cannot be read, or all done)");
  else if (n == 0)
    console_answer(c, CONSOLE_ROLE_REFUSED, "s: no stick to sign; insert one");
}

static void console_key_export(struct console *c)
{
  size_t one = 0, n;
  if (c->model.login != CONSOLE_LOGGED_IN) {
    console_answer(c, CONSOLE_ROLE_REFUSED, "e: log in first: the export is signed by the journal key");
    return;
  }
  n = console_offer(c, CONSOLE_CHOOSE_EXPORT, console_exportable, &one);
  if (n == 1)
    console_export_to(c, c->model.sticks[one].path);
  else if (n == 0)
    console_answer(c, CONSOLE_ROLE_REFUSED, "e: no idle stick in the USB slot to export to");
}

static void console_key_eject(struct console *c)
{
  size_t one = 0, n;
  const struct console_stick *busy = NULL;
  for (size_t i = 0; i < c->model.stick_count; i++) {
    const struct console_stick *st = &c->model.sticks[i];
    if (st->state == CONSOLE_STICK_SIGNING || st->state == CONSOLE_STICK_QUEUED ||
        ((st->state == CONSOLE_STICK_DONE || st->state == CONSOLE_STICK_FAILED) && !st->safe))
      busy = st;
  }
  if (c->model.exporting) {
    console_answer(c, CONSOLE_ROLE_REFUSED, "x: the journal is being exported onto a stick; eject once it is written");
    return;
  }
  n = console_offer(c, CONSOLE_CHOOSE_EJECT, console_ejectable, &one);
  if (n == 1)
    console_eject(c, &c->model.sticks[one]);
  else if (n == 0 && busy != NULL)
    console_answer(c, CONSOLE_ROLE_REFUSED, "x: not now: the station is writing to stick %s; eject it once it says "
                   "\"safe to remove\"", busy->shown);
  else if (n == 0 && c->model.stick_count > 0)
    console_answer(c, CONSOLE_ROLE_REFUSED, "x: no stick can be ejected now (still being inspected, or gone)");
  else if (n == 0)
    console_answer(c, CONSOLE_ROLE_REFUSED, "x: no stick to eject");
}

void console_ask_quit(struct console *c)
{
  const struct console_stick *st = console_model_signing(&c->model);
  char text[600];
  if (!console_busy(c)) {
    console_ask_confirm(c, CONSOLE_CONFIRM_QUIT, "Quit the station console?");
    return;
  }
  snprintf(text, sizeof text, "Quit the station console? finishing: %zu certificates to write. The station is "
           "writing to %.200s: the console waits for it.", console_to_write(&c->model),
           st != NULL ? st->shown : "a stick");
  console_ask_confirm(c, CONSOLE_CONFIRM_QUIT, text);
}

static void console_key_main(struct console *c, int key)
{
  c->answer[0] = '\0';
  c->model.banner_until_ms = 0; /* seen */
  switch (key) {
  case 's': console_key_sign(c); break;
  case 'e': console_key_export(c); break;
  case 'x': console_key_eject(c); break;
  case 'l':
    if (c->model.login == CONSOLE_LOGGED_IN && service_lock(c->service) == ST_OK) {
      c->model.login = CONSOLE_LOCKING;
      console_answer(c, CONSOLE_ROLE_INFO, console_model_busy(&c->model) > 0 ? "locking after the batch in progress ..."
                                                                             : "locking ...");
    }
    break;
  case '?':
  case KEY_F(1): c->overlay = &console_help_view; break;
  case 'q':
  case KEY_F(10): console_ask_quit(c); break;
  case '/':
  case 'f':
    c->find_typing = 1;
    c->find_len = 0;
    c->find_text[0] = '\0';
    c->overlay = &console_find_view;
    break;
  default: console_log_view.key(c, key); break;
  }
  c->model.dirty = 1;
}

/* ---- the loop's inputs ---- */

static void console_resize(struct console *c)
{
  struct winsize ws;
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0)
    resize_term(ws.ws_row, ws.ws_col);
  clearok(stdscr, TRUE);
  c->model.dirty = 1;
}

static void console_on_signals(struct console *c, int fd)
{
  char sigs[16];
  ssize_t n = read(fd, sigs, sizeof sigs);
  for (ssize_t i = 0; i < n; i++) {
    if (sigs[i] == SIGWINCH)
      console_resize(c);
    else if (sigs[i] == SIGTERM)
      console_quit(c, CONSOLE_QUIT_STOP); /* at once, or once the stick is written */
    else if (sigs[i] == SIGINT && c->overlay != &console_confirm_view && c->overlay != &console_quitting_view)
      console_ask_quit(c);
  }
}

static void console_on_events(struct console *c)
{
  struct service_event ev;
  while (service_next_event(c->service, &ev)) {
    console_model_apply(&c->model, &ev);
    if (ev.kind == SERVICE_EVENT_LOGIN && ev.code == ST_OK && c->overlay == &console_pin_view)
      c->overlay = NULL;
    else if ((ev.kind == SERVICE_EVENT_LOGIN && ev.code != ST_OK) || ev.kind == SERVICE_EVENT_LOCKED)
      console_ask_pin(c);
  }
}

/* Lines the station logged on stderr (captured while the screen is up). */
static void console_on_log(struct console *c, int fd, char *buf, size_t cap, size_t *used)
{
  ssize_t n = read(fd, buf + *used, cap - 1 - *used);
  char *line = buf, *nl;
  if (n <= 0)
    return;
  *used += (size_t)n;
  buf[*used] = '\0';
  while ((nl = strchr(line, '\n')) != NULL || (line == buf && *used == cap - 1)) {
    if (nl != NULL)
      *nl = '\0';
    const char *level = strstr(line, "error: ") != NULL ? strstr(line, "error: ") : strstr(line, "warning: ");
    if (c->model.login != CONSOLE_LOGGED_IN && level != NULL && strstr(line, "hsm-pin") != NULL) {
      /* a board's request while locked ("PORT: ... (hsm-pin) ..."): not a fault, the board asks again */
      const char *what = strchr(level, ' ') + 1, *colon = strstr(what, ": ");
      console_model_log(&c->model, CONSOLE_ROLE_INFO, "locked: %.*s: answered hsm-pin; the board asks again after unlock",
                        colon != NULL ? (int)(colon - what) : (int)strlen(what), what);
    } else if (strstr(line, "error:") != NULL || strstr(line, "warning:") != NULL)
      console_model_problem(&c->model, strstr(line, "error:") ? CONSOLE_ROLE_ERROR : CONSOLE_ROLE_REFUSED, "%s",
                            strncmp(line, "station: ", 9) == 0 ? line + 9 : line);
    else
      console_model_log(&c->model, CONSOLE_ROLE_INFO, "%s", strncmp(line, "station: ", 9) == 0 ? line + 9 : line);
    line = nl != NULL ? nl + 1 : buf + *used;
  }
  *used -= (size_t)(line - buf);
  memmove(buf, line, *used);
}

/* ---- rendering ---- */

static void console_render(struct console *c)
{
  static const struct console_view *const panels[] = {&console_status_view, &console_ports_view,
                                                      &console_batch_view};
  int top = 0, left;
  erase();
  if (COLS < CONSOLE_MIN_COLS || LINES < CONSOLE_MIN_LINES) {
    console_putf(0, 0, A_BOLD, "Terminal too small (%dx%d): make it 80x24 or larger.", COLS, LINES);
  } else {
    left = LINES - 1;
    for (size_t i = 0; i < sizeof panels / sizeof panels[0]; i++) {
      int rows = panels[i]->rows(c, left - 3);
      panels[i]->draw(c, top, rows);
      top += rows;
      left -= rows;
    }
    if (console_banner_view.rows(c, left) > 0 && left > 6) { /* over the top of the event log */
      console_banner_view.draw(c, top, 3);
      top += 3;
      left -= 3;
    }
    console_log_view.draw(c, top, left);
    if (c->overlay != &console_pin_view) /* the PIN prompt's keys are in its box */
      console_keys_view.draw(c, LINES - 1, 1);
    if (c->overlay != NULL)
      c->overlay->draw(c, 0, LINES);
  }
  if (c->model.bell) {
    beep();
    c->model.bell = 0;
  }
  refresh();
  c->model.dirty = 0;
}

/* ---- set-up and the loop ---- */

static void console_colours(struct console *c)
{
  c->colour = has_colors() && start_color() == OK;
  if (!c->colour)
    return;
  use_default_colors();
  init_pair(CONSOLE_ATTR_OK, COLOR_GREEN, -1);
  init_pair(CONSOLE_ATTR_REFUSED, COLOR_YELLOW, -1);
  init_pair(CONSOLE_ATTR_ERROR, COLOR_RED, -1);
  init_pair(CONSOLE_ATTR_TITLE, COLOR_WHITE, COLOR_BLUE);
  init_pair(CONSOLE_ATTR_HEADING, COLOR_CYAN, -1);
  init_pair(CONSOLE_ATTR_KEY, COLOR_GREEN, -1);
  init_pair(CONSOLE_ATTR_ALERT, COLOR_WHITE, COLOR_RED);
  init_pair(CONSOLE_ATTR_BANNER_OK, COLOR_BLACK, COLOR_GREEN);
}

/* While quitting: once the station writes to no stick, the console shows
 * what became of the sticks for a moment, then leaves. */
static void console_check_leave(struct console *c)
{
  if (c->quitting == CONSOLE_QUIT_NO)
    return;
  if (console_busy(c)) {
    c->leave_ms = 0; /* a batch began meanwhile: wait for it too */
  } else if (c->leave_ms == 0) {
    c->leave_ms = st_wall_ms() + CONSOLE_LEAVE_MS;
    c->model.dirty = 1;
  } else if (st_wall_ms() >= c->leave_ms) {
    c->quit = 1;
  }
}

/* The loop: returns when the operator quit. */
static void console_loop(struct console *c, int signal_fd, int log_fd)
{
  char log_buf[2048];
  size_t log_used = 0;
  while (!c->quit) {
    struct pollfd fds[4] = {{STDIN_FILENO, POLLIN, 0},
                            {service_event_fd(c->service), POLLIN, 0},
                            {signal_fd, POLLIN, 0},
                            {log_fd, POLLIN, 0}};
    int timeout = console_model_signing(&c->model) != NULL ? 250 : (int)(1000 - st_wall_ms() % 1000), key;
    console_check_leave(c);
    if (c->quit)
      break;
    if (st_wall_ms() - c->ticked_ms >= 1000) { /* a new shift? */
      c->ticked_ms = st_wall_ms();
      console_model_tick(&c->model, c->ticked_ms);
    }
    if (c->leave_ms > 0 && c->leave_ms - st_wall_ms() < timeout)
      timeout = (int)(c->leave_ms - st_wall_ms()) > 0 ? (int)(c->leave_ms - st_wall_ms()) : 0;
    if (c->model.dirty)
      console_render(c);
    if (poll(fds, 4, timeout) <= 0) {
      c->model.dirty = 1; /* the clock, the rate and the time left */
      continue;
    }
    if (fds[2].revents & POLLIN)
      console_on_signals(c, signal_fd);
    if (fds[1].revents & POLLIN)
      console_on_events(c);
    if (fds[3].revents & POLLIN)
      console_on_log(c, log_fd, log_buf, sizeof log_buf, &log_used);
    while (!c->quit && (key = getch()) != ERR) {
      if (key != KEY_RESIZE)
        c->answer[0] = '\0'; /* an answer stays until the next key */
      if (key == KEY_RESIZE)
        console_resize(c);
      else if (c->overlay != NULL)
        c->overlay->key(c, key);
      else
        console_key_main(c, key);
    }
  }
}

/* After the screen is gone: what became of the sticks written since the operator quit. */
static void console_farewell(const struct console *c)
{
  for (size_t i = 0; c->quitting != CONSOLE_QUIT_NO && i < c->model.stick_count; i++) {
    const struct console_stick *st = &c->model.sticks[i];
    enum console_attr_role role;
    char state[400];
    if ((st->state != CONSOLE_STICK_DONE && st->state != CONSOLE_STICK_FAILED) || st->changed_ms < c->quit_ms)
      continue;
    console_stick_state(st, state, sizeof state, &role);
    printf("station console: %s: %s\n", st->shown, state);
  }
  printf("station console: closed\n");
  fflush(stdout);
}

int console_run(struct service *svc, struct st_detail *detail)
{
  int r = ST_E_USAGE;
  static const int signals[] = {SIGWINCH, SIGINT, SIGTERM};
  int signal_fd = -1, log_fds[2] = {-1, -1}, saved_stderr = -1;
  SCREEN *screen = NULL;
  static struct console c; /* large (the log); one console per process */

  memset(&c, 0, sizeof c);
  c.service = svc;
  if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
    st_detail_set(detail, "the console needs a terminal; without one use `station sign DIR` or `station serial`");
    goto out;
  }
  setlocale(LC_ALL, "");
  c.utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
  console_set_ascii(!c.utf8);
  if ((screen = newterm(NULL, stdout, stdin)) == NULL) {
    st_detail_set(detail, "the terminal type \"%s\" is not known to ncurses", getenv("TERM") ? getenv("TERM") : "");
    goto out;
  }
  {
    const char *cup = tigetstr("cup"); /* the console places text: a terminal that cannot gets a sentence */
    if (cup == NULL || cup == (const char *)-1) {
      endwin();
      delscreen(screen);
      screen = NULL;
      st_detail_set(detail, "the terminal \"%s\" cannot place text on the screen, so the console cannot be shown: "
                    "use a terminal such as linux, xterm or tmux (TERM), or `station sign DIR` and `station serial`",
                    getenv("TERM") ? getenv("TERM") : "");
      goto out;
    }
  }
  r = service_signals_open(signals, 3, &signal_fd);
  /* the station's log goes into the event log while the screen is up */
  if (r == ST_OK && (pipe2(log_fds, O_CLOEXEC) != 0 || (saved_stderr = dup(STDERR_FILENO)) < 0 ||
                     dup2(log_fds[1], STDERR_FILENO) < 0 || fcntl(log_fds[0], F_SETFL, O_NONBLOCK) != 0))
    r = ST_E_INTERNAL;
  if (r == ST_OK)
    r = service_start(svc);
  if (r != ST_OK) {
    st_detail_set(detail, "the console could not set up its pipes or threads");
    goto out;
  }
  cbreak();
  noecho();
  nonl();
  keypad(stdscr, TRUE);
  nodelay(stdscr, TRUE);
  curs_set(0);
  set_escdelay(25);
  console_colours(&c);
  console_model_init(&c.model, service_info(svc));
  console_model_log(&c.model, CONSOLE_ROLE_INFO, "console started; %s", c.colour ? "colour" : "monochrome");
  if (c.model.info->pin_prompt) {
    console_ask_pin(&c);
  } else {
    c.model.login = CONSOLE_LOGGING_IN;
    service_login(svc, NULL);
  }
  console_loop(&c, signal_fd, log_fds[0]);
  r = ST_OK;
out:
  if (screen != NULL) {
    erase(); /* a terminal without an alternate screen keeps no stale frame */
    refresh();
    endwin();
    delscreen(screen);
  }
  if (r == ST_OK)
    console_farewell(&c);
  if (saved_stderr >= 0) {
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
  }
  pin_free(c.pin);
  console_model_cleanup(&c.model);
  service_signals_close();
  for (int i = 0; i < 2; i++)
    if (log_fds[i] >= 0)
      close(log_fds[i]);
  return r;
}
