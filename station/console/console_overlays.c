/* console_overlays.c - the views that draw over the main screen and take
 * every key while up: the PIN prompt, a confirmation, the help; and the
 * drawing helpers every view uses (see console_internal.h). */
#include "console_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <openssl/crypto.h>

#include "error.h"
#include "service.h"

/* ---- drawing helpers ---- */

attr_t console_attr(const struct console *c, enum console_attr_role role)
{
  static const attr_t mono[CONSOLE_ATTR_COUNT] = {A_NORMAL, A_BOLD,    A_UNDERLINE, A_BOLD | A_REVERSE,
                                                  A_REVERSE, A_BOLD, A_BOLD, A_BOLD | A_REVERSE};
  if (!c->colour || role == CONSOLE_ATTR_NORMAL)
    return mono[role];
  return (attr_t)COLOR_PAIR((short)role) |
         (role == CONSOLE_ATTR_ERROR || role == CONSOLE_ATTR_HEADING || role == CONSOLE_ATTR_ALERT ? A_BOLD : 0);
}

void console_put(int y, int x, attr_t attr, const char *text)
{
  int room = COLS - x;
  if (y < 0 || y >= LINES || room <= 0)
    return;
  attron(attr);
  mvaddnstr(y, x, text, room);
  attroff(attr);
}

void console_putf(int y, int x, attr_t attr, const char *fmt, ...)
{
  char text[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  console_put(y, x, attr, text);
}

void console_heading(const struct console *c, int y, const char *title)
{
  attr_t attr = console_attr(c, CONSOLE_ATTR_HEADING);
  attron(attr);
  mvhline(y, 0, ACS_HLINE, COLS);
  attroff(attr);
  console_putf(y, 1, attr, " %s ", title);
}

void console_box(const struct console *c, int h, int w, int *top, int *left)
{
  (void)c;
  if (w > COLS)
    w = COLS;
  if (h > LINES)
    h = LINES;
  *top = (LINES - h) / 2;
  *left = (COLS - w) / 2;
  for (int y = *top; y < *top + h; y++)
    mvhline(y, *left, ' ', w);
  mvhline(*top, *left, ACS_HLINE, w);
  mvhline(*top + h - 1, *left, ACS_HLINE, w);
  mvvline(*top, *left, ACS_VLINE, h);
  mvvline(*top, *left + w - 1, ACS_VLINE, h);
  mvaddch(*top, *left, ACS_ULCORNER);
  mvaddch(*top, *left + w - 1, ACS_URCORNER);
  mvaddch(*top + h - 1, *left, ACS_LLCORNER);
  mvaddch(*top + h - 1, *left + w - 1, ACS_LRCORNER);
}

int64_t console_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- PIN prompt ---- */

void console_ask_pin(struct console *c)
{
  OPENSSL_cleanse(c->pin.value, sizeof c->pin.value);
  if (!c->pin.locked)
    c->pin.locked = mlock(c->pin.value, sizeof c->pin.value) == 0;
  c->pin_len = 0;
  c->overlay = &console_pin_view;
  c->model.dirty = 1;
}

static void console_pin_draw(struct console *c, int top, int rows)
{
  const struct console_model *m = &c->model;
  int y, x, w = COLS < 76 ? COLS : 76;
  (void)top;
  (void)rows;
  console_box(c, 11, w, &y, &x);
  console_putf(y + 1, x + 2, console_attr(c, CONSOLE_ATTR_HEADING), "Unlock the station: PIN of HSM token \"%s\"",
               m->info->token);
  if (m->login == CONSOLE_LOGGING_IN) {
    console_put(y + 3, x + 2, A_NORMAL, "Checking the PIN ...");
  } else {
    console_put(y + 3, x + 2, A_NORMAL, "PIN: ");
    console_put(y + 3, x + 7, console_attr(c, CONSOLE_ATTR_KEY), "(typing is not shown)");
  }
  if (m->login_code != ST_OK && m->login != CONSOLE_LOGGING_IN) {
    console_putf(y + 5, x + 2, console_attr(c, CONSOLE_ATTR_ERROR), "%.*s (%s)", w - 20,
                 st_error_sentence(m->login_code), st_error_name(m->login_code));
    /* the token's detail on up to two lines */
    console_putf(y + 6, x + 2, A_NORMAL, "%.*s", w - 4, m->login_text);
    if (strlen(m->login_text) > (size_t)(w - 4))
      console_putf(y + 7, x + 2, A_NORMAL, "%.*s", w - 4, m->login_text + w - 4);
    if (m->login_code == ST_E_HSM_PIN)
      console_put(y + 8, x + 2, A_NORMAL, "Wrong PIN: type it again. Too many tries lock the token.");
  }
  console_put(y + 9, x + 2, A_NORMAL, "Enter: log in  Backspace: erase  Ctrl-U: start over  Esc: quit");
}

static int console_pin_key(struct console *c, int key)
{
  if (c->model.login == CONSOLE_LOGGING_IN)
    return 1; /* the last PIN is being checked */
  if (key == '\n' || key == '\r' || key == KEY_ENTER) {
    if (c->pin_len > 0) {
      c->pin.value[c->pin_len] = '\0';
      c->model.login = CONSOLE_LOGGING_IN;
      service_login(c->service, c->pin.value);
    }
    OPENSSL_cleanse(c->pin.value, sizeof c->pin.value);
    c->pin_len = 0;
  } else if (key == KEY_BACKSPACE || key == 127 || key == 8) {
    if (c->pin_len > 0)
      c->pin.value[--c->pin_len] = '\0';
  } else if (key == 21) { /* Ctrl-U */
    OPENSSL_cleanse(c->pin.value, sizeof c->pin.value);
    c->pin_len = 0;
  } else if (key == 27) {
    console_ask_confirm(c, CONSOLE_CONFIRM_QUIT, "Quit the station console?");
  } else if (key >= 0x20 && key < 0x7f && c->pin_len < PIN_MAX) {
    c->pin.value[c->pin_len++] = (char)key;
  }
  c->model.dirty = 1;
  return 1;
}

const struct console_view console_pin_view = {"pin", NULL, console_pin_draw, console_pin_key, NULL};

/* ---- confirmation ---- */

void console_ask_confirm(struct console *c, enum console_confirm what, const char *text)
{
  c->confirm = what;
  snprintf(c->confirm_text, sizeof c->confirm_text, "%s", text);
  c->overlay = &console_confirm_view;
  c->model.dirty = 1;
}

static void console_confirm_draw(struct console *c, int top, int rows)
{
  int y, x, w = COLS < 76 ? COLS : 76;
  (void)top;
  (void)rows;
  console_box(c, 5, w, &y, &x);
  console_putf(y + 1, x + 2, console_attr(c, CONSOLE_ATTR_HEADING), "%.*s", w - 4, c->confirm_text);
  console_put(y + 3, x + 2, A_NORMAL, "y: yes    any other key: no");
}

static int console_confirm_key(struct console *c, int key)
{
  enum console_confirm what = c->confirm;
  /* back to the PIN prompt when the question was asked from it */
  c->overlay = c->model.login == CONSOLE_LOGGED_IN ? NULL : &console_pin_view;
  c->model.dirty = 1;
  if (key == 'y' || key == 'Y')
    console_confirmed(c, what);
  return 1;
}

const struct console_view console_confirm_view = {"confirm", NULL, console_confirm_draw, console_confirm_key, NULL};

/* ---- help ---- */

static void console_help_draw(struct console *c, int top, int rows)
{
  static const char *const lines[] = {
    "s          sign the stick shown in the USB batch panel (asks y to confirm)",
    "e          export the journal (CSV + .sig) onto that stick",
    "l          lock: log out of the token; the PIN unlocks",
    "PgUp PgDn  scroll the event log back and forth",
    "?          this help",
    "q          quit (asks y to confirm; waits for a batch in progress)",
    "",
    "At the PIN prompt: Enter logs in, Backspace erases, Ctrl-U clears, Esc quits.",
    "docs/operator-guide.md explains every panel and message.",
  };
  int n = (int)(sizeof lines / sizeof lines[0]), y, x, w = COLS < 80 ? COLS : 80;
  (void)top;
  (void)rows;
  console_box(c, n + 4, w, &y, &x);
  console_put(y + 1, x + 2, console_attr(c, CONSOLE_ATTR_HEADING), "Keys (any key closes this help)");
  for (int i = 0; i < n; i++)
    console_putf(y + 2 + i, x + 2, A_NORMAL, "%.*s", w - 4, lines[i]);
}

static int console_help_key(struct console *c, int key)
{
  (void)key;
  c->overlay = NULL;
  c->model.dirty = 1;
  return 1;
}

const struct console_view console_help_view = {"help", NULL, console_help_draw, console_help_key, NULL};
