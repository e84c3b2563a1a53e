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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "error.h"
#include "service.h"

/* Below this size the screen says so instead of drawing the panels. */
#define CONSOLE_MIN_COLS 40
#define CONSOLE_MIN_LINES 12

/* The write end of the self-pipe the signal handler pokes. */
static int console_signal_write = -1;

static void console_on_signal(int sig)
{
  int saved = errno;
  char byte = (char)sig;
  if (write(console_signal_write, &byte, 1) < 0) {
    /* full: a wake-up is pending anyway */
  }
  errno = saved;
}

/* ---- actions ---- */

void console_confirmed(struct console *c, enum console_confirm what)
{
  struct console_stick *st = &c->model.stick;
  if (what == CONSOLE_CONFIRM_QUIT) {
    c->quit = 1;
  } else if (what == CONSOLE_CONFIRM_SIGN && service_sign(c->service, st->path) == ST_OK) {
    st->state = CONSOLE_STICK_SIGNING; /* until BATCH_START confirms it */
    st->start_ms = console_now();
    st->done = st->total = 0;
  }
}

static void console_key_sign(struct console *c)
{
  const struct console_stick *st = &c->model.stick;
  char text[300];
  if (c->model.login != CONSOLE_LOGGED_IN)
    console_model_log(&c->model, CONSOLE_ROLE_REFUSED, "s: log in first (the console is locked)");
  else if (st->state == CONSOLE_STICK_NONE)
    console_model_log(&c->model, CONSOLE_ROLE_REFUSED, "s: no stick to sign; insert one");
  else if (st->state == CONSOLE_STICK_SIGNING)
    console_model_log(&c->model, CONSOLE_ROLE_REFUSED, "s: the stick is being signed");
  else if (st->inspect_code != ST_OK)
    console_model_log(&c->model, CONSOLE_ROLE_REFUSED, "s: this stick cannot be read: %s", st->text);
  else {
    snprintf(text, sizeof text, "Sign %zu CSRs from %.180s (%zu will be refused)?", st->inspection.files, st->path,
             st->inspection.refusals);
    console_ask_confirm(c, CONSOLE_CONFIRM_SIGN, text);
  }
}

static void console_key_export(struct console *c)
{
  const struct console_stick *st = &c->model.stick;
  if (c->model.login != CONSOLE_LOGGED_IN)
    console_model_log(&c->model, CONSOLE_ROLE_REFUSED, "e: log in first: the export is signed by the journal key");
  else if (st->state == CONSOLE_STICK_NONE || st->state == CONSOLE_STICK_SIGNING)
    console_model_log(&c->model, CONSOLE_ROLE_REFUSED, "e: no idle stick in the USB slot to export to");
  else if (!c->model.exporting && service_export(c->service, st->path) == ST_OK) {
    c->model.exporting = 1;
    console_model_log(&c->model, CONSOLE_ROLE_INFO, "exporting the journal to %s ...", st->path);
  }
}

static void console_key_main(struct console *c, int key)
{
  switch (key) {
  case 's': console_key_sign(c); break;
  case 'e': console_key_export(c); break;
  case 'l':
    if (c->model.login == CONSOLE_LOGGED_IN && service_lock(c->service) == ST_OK) {
      c->model.login = CONSOLE_LOCKING;
      console_model_log(&c->model, CONSOLE_ROLE_INFO, c->model.stick.state == CONSOLE_STICK_SIGNING
                                                          ? "locking after the batch in progress ..."
                                                          : "locking ...");
    }
    break;
  case '?': c->overlay = &console_help_view; break;
  case 'q':
    console_ask_confirm(c, CONSOLE_CONFIRM_QUIT, c->model.stick.state == CONSOLE_STICK_SIGNING
                                                     ? "A batch is being signed. Quit when it is done?"
                                                     : "Quit the station console?");
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
      c->quit = 1;
    else if (sigs[i] == SIGINT && c->overlay != &console_confirm_view)
      console_ask_confirm(c, CONSOLE_CONFIRM_QUIT, "Quit the station console?");
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
    console_model_log(&c->model,
                      strstr(line, "error:") ? CONSOLE_ROLE_ERROR
                      : strstr(line, "warning:") ? CONSOLE_ROLE_REFUSED
                                                 : CONSOLE_ROLE_INFO,
                      "%s", strncmp(line, "station: ", 9) == 0 ? line + 9 : line);
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
    console_log_view.draw(c, top, left);
    console_keys_view.draw(c, LINES - 1, 1);
    if (c->overlay != NULL)
      c->overlay->draw(c, 0, LINES);
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
}

static int console_signals(int fds[2])
{
  int r = ST_E_INTERNAL;
  struct sigaction sa;
  if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0)
    goto out;
  console_signal_write = fds[1];
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = console_on_signal;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGWINCH, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0)
    goto out;
  signal(SIGPIPE, SIG_IGN);
  r = ST_OK;
out:
  return r;
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
    int signing = c->model.stick.state == CONSOLE_STICK_SIGNING, key;
    if (c->model.dirty)
      console_render(c);
    if (poll(fds, 4, signing ? 250 : (int)(1000 - console_now() % 1000)) <= 0) {
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
      if (key == KEY_RESIZE)
        console_resize(c);
      else if (c->overlay != NULL)
        c->overlay->key(c, key);
      else
        console_key_main(c, key);
    }
  }
}

int console_run(struct service *svc, struct st_detail *detail)
{
  int r = ST_E_USAGE;
  int signal_fds[2] = {-1, -1}, log_fds[2] = {-1, -1}, saved_stderr = -1;
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
  if ((screen = newterm(NULL, stdout, stdin)) == NULL) {
    st_detail_set(detail, "the terminal type \"%s\" is not known to ncurses", getenv("TERM") ? getenv("TERM") : "");
    goto out;
  }
  r = console_signals(signal_fds);
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
  console_loop(&c, signal_fds[0], log_fds[0]);
  r = ST_OK;
out:
  if (screen != NULL) {
    endwin();
    delscreen(screen);
  }
  if (saved_stderr >= 0) {
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
  }
  pin_wipe(&c.pin);
  signal(SIGWINCH, SIG_DFL);
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  console_signal_write = -1;
  for (int i = 0; i < 2; i++) {
    if (signal_fds[i] >= 0)
      close(signal_fds[i]);
    if (log_fds[i] >= 0)
      close(log_fds[i]);
  }
  return r;
}
