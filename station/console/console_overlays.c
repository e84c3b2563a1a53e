/* console_overlays.c - the views that draw over the main screen and take
 * every key while up: the PIN prompt, a confirmation, the help; and the
 * drawing helpers every view uses (see console_internal.h). */
#include "console_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>


#include "clock.h"
#include "engine.h"
#include "error.h"
#include "service.h"

/* ---- drawing helpers ---- */

attr_t console_attr(const struct console *c, enum console_attr_role role)
{
  static const attr_t mono[CONSOLE_ATTR_COUNT] = {A_NORMAL, A_BOLD,    A_UNDERLINE, A_BOLD | A_REVERSE,
                                                  A_REVERSE, A_BOLD, A_BOLD, A_BOLD | A_REVERSE, A_REVERSE};
  if (!c->colour || role == CONSOLE_ATTR_NORMAL)
    return mono[role];
  return (attr_t)COLOR_PAIR((short)role) |
         (role == CONSOLE_ATTR_ERROR || role == CONSOLE_ATTR_HEADING || role == CONSOLE_ATTR_ALERT ||
                 role == CONSOLE_ATTR_BANNER_OK
             ? A_BOLD
             : 0);
}

/* The terminal's locale is not UTF-8: bytes past ASCII are drawn as '?'. */
static int console_ascii_only;

void console_set_ascii(int ascii_only)
{
  console_ascii_only = ascii_only;
}

void console_put(int y, int x, attr_t attr, const char *text)
{
  int room = COLS - x;
  char ascii[1024];
  if (y < 0 || y >= LINES || room <= 0)
    return;
  if (console_ascii_only) {
    size_t i = 0;
    for (; text[i] != '\0' && i + 1 < sizeof ascii; i++)
      ascii[i] = (unsigned char)text[i] >= 0x80 ? '?' : text[i];
    ascii[i] = '\0';
    text = ascii;
  }
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

int console_wrap(const char *text, int width, char *buf, size_t cap, const char **lines, int max)
{
  int n = 0;
  size_t used = 0, len = strlen(text);
  const char *p = text;
  if (width < 8)
    width = 8;
  while (*p == ' ')
    p++;
  while (*p != '\0' && n < max && used < cap) {
    size_t take = strlen(p), room = cap - used - 1;
    if (take > (size_t)width) {
      size_t cut = (size_t)width;
      while (cut > 0 && p[cut] != ' ')
        cut--;
      take = cut > (size_t)width / 3 ? cut : (size_t)width; /* no space to cut at: cut the word */
    }
    if (n == max - 1 && strlen(p) > take && take > 3 && room > take) { /* the last line: say it goes on */
      take -= 3;
      memcpy(buf + used, p, take);
      memcpy(buf + used + take, "...", 3);
      buf[used + take + 3] = '\0';
      lines[n++] = buf + used;
      used += take + 4;
      break;
    }
    if (take > room)
      take = room;
    memcpy(buf + used, p, take);
    buf[used + take] = '\0';
    lines[n++] = buf + used;
    used += take + 1;
    p += take;
    while (*p == ' ')
      p++;
  }
  (void)len;
  return n;
}

/* ---- PIN prompt ---- */

void console_ask_pin(struct console *c)
{
  if (c->pin == NULL)
    c->pin = pin_new(); /* NULL (out of memory): typing is not taken */
  else
    pin_clear(c->pin);
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
    /* the token's detail on up to two lines, cut between words */
    char buf[1200];
    const char *lines[2];
    int n = console_wrap(m->login_text, w - 4, buf, sizeof buf, lines, 2);
    for (int i = 0; i < n; i++)
      console_put(y + 6 + i, x + 2, A_NORMAL, lines[i]);
    if (m->login_code == ST_E_HSM_PIN)
      console_put(y + 8, x + 2, A_NORMAL, "Wrong PIN: type it again. Too many tries lock the token.");
  }
  console_put(y + 9, x + 2, A_NORMAL, "Enter: log in  Backspace: erase  Ctrl-U: start over  Esc: quit");
}

static int console_pin_key(struct console *c, int key)
{
  if (c->model.login == CONSOLE_LOGGING_IN)
    return 1; /* the last PIN is being checked */
  if (key == 27) {
    console_ask_quit(c);
  } else if (c->pin == NULL) {
    return 1;
  } else if (key == '\n' || key == '\r' || key == KEY_ENTER) {
    if (pin_length(c->pin) > 0) {
      c->model.login = CONSOLE_LOGGING_IN;
      service_login(c->service, pin_value(c->pin));
    }
    pin_clear(c->pin);
  } else if (key == KEY_BACKSPACE || key == 127 || key == 8) {
    pin_chop(c->pin);
  } else if (key == 21) { /* Ctrl-U */
    pin_clear(c->pin);
  } else if (key >= 0x20 && key < 0x7f) {
    (void)pin_append(c->pin, (char)key); /* past PIN_MAX bytes: not taken */
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

/* 1 when the confirmation is a quit while the station writes to a stick (y finishes, g stops after the group). */
static int console_confirm_busy(const struct console *c)
{
  return c->confirm == CONSOLE_CONFIRM_QUIT && (console_model_busy(&c->model) > 0 || c->model.exporting);
}

static void console_confirm_draw(struct console *c, int top, int rows)
{
  char buf[1400];
  const char *lines[12];
  int y, x, w = COLS < 76 ? COLS : 76, n, k;
  const char *keys = console_confirm_busy(c)
                         ? "y: finish the batch, then quit   g: stop after this group?   other key: keep working"
                         : "y: yes    any other key (Esc): no";
  (void)top;
  (void)rows;
  n = console_wrap(c->confirm_text, w - 4, buf, sizeof buf / 2, lines, 6);
  k = console_wrap(keys, w - 4, buf + sizeof buf / 2, sizeof buf / 2, lines + n, 3);
  console_box(c, n + k + 3, w, &y, &x);
  for (int i = 0; i < n; i++)
    console_put(y + 1 + i, x + 2, console_attr(c, CONSOLE_ATTR_HEADING), lines[i]);
  for (int i = 0; i < k; i++)
    console_put(y + 2 + n + i, x + 2, A_NORMAL, lines[n + i]);
}

static int console_confirm_key(struct console *c, int key)
{
  enum console_confirm what = c->confirm;
  int busy = console_confirm_busy(c);
  /* back to the PIN prompt when the question was asked from it */
  c->overlay = c->model.login == CONSOLE_LOGGED_IN ? NULL : &console_pin_view;
  c->model.dirty = 1;
  if (key == 'y' || key == 'Y' || (busy && (key == 'g' || key == 'G')))
    console_confirmed(c, what, key);
  return 1;
}

const struct console_view console_confirm_view = {"confirm", NULL, console_confirm_draw, console_confirm_key, NULL};

/* ---- help ---- */

static void console_help_draw(struct console *c, int top, int rows)
{
  static const char *const lines[] = {
    "s          sign a stick (asks which when several wait; y confirms)",
    "e          export the journal (CSV + .sig) onto a stick",
    "x          eject a stick: unmount it (and power it off) once it is written",
    "l          lock: log out of the token (after the batch in progress)",
    "PgUp PgDn  the event log a page back and forth; Home, End: oldest, newest",
    "F1 ?       this help                 Esc: closes a box",
    "F10 q      quit (during a batch: finish it, or stop after this group)",
    "",
    "At the PIN prompt: Enter logs in, Backspace erases, Ctrl-U clears, Esc quits.",
    "Every panel and message: /usr/share/doc/station/docs/operator-guide.md",
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

/* ---- which stick ---- */

static void console_choose_draw(struct console *c, int top, int rows)
{
  int y, x, w = COLS < 78 ? COLS : 78, n = (int)c->choice_count;
  char state[400];
  (void)top;
  (void)rows;
  if (n > LINES - 5)
    n = LINES - 5 > 1 ? LINES - 5 : 1;
  console_box(c, n + 4, w, &y, &x);
  console_put(y + 1, x + 2, console_attr(c, CONSOLE_ATTR_HEADING),
              c->choice == CONSOLE_CHOOSE_SIGN     ? "Which stick to sign? (number, or arrows and Enter; Esc: none)"
              : c->choice == CONSOLE_CHOOSE_EJECT ? "Eject which stick? (number, or arrows and Enter; Esc: none)"
                                                  : "Export to which stick? (number, or arrows and Enter; Esc: none)");
  for (int i = 0; i < n; i++) {
    const struct console_stick *st = console_model_stick(&c->model, c->choices[i]);
    enum console_attr_role role = CONSOLE_ATTR_NORMAL;
    attr_t attr = (size_t)i == c->choice_selected ? A_REVERSE : A_NORMAL;
    state[0] = '\0';
    if (st != NULL)
      console_stick_state(st, state, sizeof state, &role);
    const char *shown = st != NULL ? st->shown : "(gone)";
    console_putf(y + 2 + i, x + 2, attr, "%d %.*s", i + 1, w - 6, shown);
    if ((int)strlen(shown) + 6 < w - 20)
      console_putf(y + 2 + i, x + 6 + (int)strlen(shown), attr, "%.*s", w - 8 - (int)strlen(shown), state);
  }
}

static int console_choose_key(struct console *c, int key)
{
  c->model.dirty = 1;
  if (key >= '1' && key <= '9' && (size_t)(key - '1') < c->choice_count)
    console_chosen(c, (size_t)(key - '1'));
  else if (key == KEY_UP && c->choice_selected > 0)
    c->choice_selected--;
  else if (key == KEY_DOWN && c->choice_selected + 1 < c->choice_count)
    c->choice_selected++;
  else if (key == '\n' || key == '\r' || key == KEY_ENTER)
    console_chosen(c, c->choice_selected);
  else if (key != KEY_UP && key != KEY_DOWN)
    c->overlay = NULL;
  return 1;
}

const struct console_view console_choose_view = {"choose", NULL, console_choose_draw, console_choose_key, NULL};

/* ---- quitting while a stick is written ---- */

static void console_quitting_draw(struct console *c, int top, int rows)
{
  const struct console_model *m = &c->model;
  int y, x, w = COLS < 76 ? COLS : 76, n = 0;
  char state[400], text[600], buf[1200];
  const char *lines[16];
  size_t show[8], shown = 0;
  (void)top;
  (void)rows;
  if (c->leave_ms > 0) {
    int secs = (int)((c->leave_ms - st_wall_ms() + 999) / 1000);
    snprintf(text, sizeof text, "All written. The console closes in %d s (any key: now).", secs > 0 ? secs : 0);
  } else {
    const struct console_stick *st = console_model_signing((struct console_model *)m);
    size_t left = st != NULL && st->total > st->done ? st->total - st->done : 0;
    if (c->quitting == CONSOLE_QUIT_STOP)
      snprintf(text, sizeof text, "Quitting: stopping after this group. Do not remove %.200s: it is being written.",
               st != NULL ? st->shown : "the stick");
    else
      snprintf(text, sizeof text, "Quitting: finishing: %zu certificates to write to %.200s. Do not remove the "
               "stick: the console closes by itself once it is written.", left, st != NULL ? st->shown : "the stick");
  }
  n = console_wrap(text, w - 4, buf, sizeof buf, lines, 4);
  /* the stick being written, and what became of those written since the quit */
  for (size_t i = 0; i < m->stick_count && shown < 8; i++) {
    const struct console_stick *st = &m->sticks[i];
    if (st->state == CONSOLE_STICK_SIGNING ||
        ((st->state == CONSOLE_STICK_DONE || st->state == CONSOLE_STICK_FAILED) && st->changed_ms >= c->quit_ms))
      show[shown++] = i;
  }
  console_box(c, n + (int)shown + 4, w, &y, &x);
  for (int i = 0; i < n; i++)
    console_put(y + 1 + i, x + 2, console_attr(c, CONSOLE_ATTR_HEADING), lines[i]);
  for (size_t i = 0; i < shown; i++) {
    const struct console_stick *st = &m->sticks[show[i]];
    enum console_attr_role role;
    console_stick_state(st, state, sizeof state, &role);
    console_putf(y + 2 + n++, x + 2, console_attr(c, role), "%s: %s", st->shown, state);
  }
  console_put(y + 2 + n, x + 2, A_NORMAL, c->leave_ms > 0 ? "" : c->quitting == CONSOLE_QUIT_STOP
                                                                 ? "Esc: keep working (do not quit)"
                                                                 : "g: stop after this group instead   Esc: keep working");
}

static int console_quitting_key(struct console *c, int key)
{
  c->model.dirty = 1;
  if (c->leave_ms > 0) {
    c->quit = 1;
  } else if (key == 'g' || key == 'G') {
    console_quit(c, CONSOLE_QUIT_STOP);
  } else if (key == 27) {
    c->quitting = CONSOLE_QUIT_NO;
    c->overlay = c->model.login == CONSOLE_LOGGED_IN ? NULL : &console_pin_view;
    console_answer(c, CONSOLE_ROLE_INFO, "not quitting: the console goes on");
  }
  return 1;
}

const struct console_view console_quitting_view = {"quitting", NULL, console_quitting_draw, console_quitting_key,
                                                   NULL};

/* ---- one line of the event log or the problem list, whole ---- */

static void console_line_draw(struct console *c, int top, int rows)
{
  char when[64], buf[1200];
  const char *lines[20];
  int y, x, w = COLS < 80 ? COLS : 80, n;
  time_t t = (time_t)(c->opened.time_ms / 1000);
  struct tm tm;
  (void)top;
  (void)rows;
  localtime_r(&t, &tm);
  strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
  n = console_wrap(c->opened.text, w - 4, buf, sizeof buf, lines, LINES - 6 > 1 ? (LINES - 6 < 20 ? LINES - 6 : 20) : 1);
  console_box(c, n + 5, w, &y, &x);
  console_putf(y + 1, x + 2, console_attr(c, CONSOLE_ATTR_HEADING), "%s (Esc closes)", when);
  for (int i = 0; i < n; i++)
    console_put(y + 2 + i, x + 2, A_NORMAL, lines[i]);
}

static int console_line_key(struct console *c, int key)
{
  (void)key;
  c->overlay = NULL;
  c->model.dirty = 1;
  return 1;
}

const struct console_view console_line_view = {"line", NULL, console_line_draw, console_line_key, NULL};

/* ---- lookup: a device, serial, file name or port in the journal ---- */

static void console_find_draw(struct console *c, int top, int rows)
{
  const struct console_model *m = &c->model;
  int y, x, w = COLS < 80 ? COLS : 80, n = (int)m->found_count, room = LINES - 8;
  char when[32];
  (void)top;
  (void)rows;
  if (c->find_typing || m->finding) {
    console_box(c, 6, w, &y, &x);
    console_put(y + 1, x + 2, console_attr(c, CONSOLE_ATTR_HEADING),
                "Look up in the journal: device id, serial, file name or port");
    console_putf(y + 2, x + 2, A_NORMAL, "> %.*s%s", w - 8, c->find_text, c->find_typing ? "_" : "");
    console_put(y + 4, x + 2, A_NORMAL, m->finding ? "looking in the journal ..." : "Enter: look up   Esc: cancel");
    return;
  }
  if (2 * n > room)
    n = room / 2 > 0 ? room / 2 : 0;
  console_box(c, 2 * n + 5 + (m->found_total == 0), w, &y, &x);
  console_putf(y + 1, x + 2, console_attr(c, CONSOLE_ATTR_HEADING), "%.*s: %zu journal records%s (any key closes)",
               w - 40, c->find_text, m->found_total, m->found_total > m->found_count ? ", the newest shown" : "");
  if (m->found_code != ST_OK)
    console_putf(y + 2, x + 2, console_attr(c, CONSOLE_ATTR_ERROR), "the journal could not be read: %s",
                 st_error_sentence(m->found_code));
  else if (m->found_total == 0)
    console_put(y + 2, x + 2, A_NORMAL, "nothing in the journal matches");
  for (int i = 0; i < n; i++) {
    const struct service_event *f = &m->found[m->found_count - (size_t)n + (size_t)i];
    time_t t = (time_t)(f->record_ms / 1000);
    struct tm tm;
    int issued = f->request_kind == ENGINE_EVENT_ISSUED;
    char head[1024];
    localtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(head, sizeof head, "#%llu %s %s %s %s", (unsigned long long)f->seq, when, issued ? "issued " : "refused",
             f->device[0] ? f->device : "-", issued ? f->serial_hex : "");
    console_putf(y + 3 + 2 * i, x + 2, console_attr(c, issued ? CONSOLE_ATTR_OK : CONSOLE_ATTR_REFUSED),
                 "%.*s", w - 4, head);
    snprintf(head, sizeof head, "%s%s%s", f->source, issued ? "" : "  ", f->text);
    console_putf(y + 4 + 2 * i, x + 4, A_NORMAL, "%.*s", w - 6, head);
  }
}

static int console_find_key(struct console *c, int key)
{
  c->model.dirty = 1;
  if (c->model.finding)
    return 1;
  if (!c->find_typing) {
    c->overlay = NULL; /* the answer stays up until a key */
  } else if (key == 27) {
    c->overlay = NULL;
  } else if (key == '\n' || key == '\r' || key == KEY_ENTER) {
    if (c->find_len > 0 && service_find(c->service, c->find_text) == ST_OK) {
      c->find_typing = 0;
      c->model.finding = 1;
      c->model.found_count = c->model.found_total = 0;
    }
  } else if (key == KEY_BACKSPACE || key == 127 || key == 8) {
    if (c->find_len > 0)
      c->find_text[--c->find_len] = '\0';
  } else if (key >= 0x20 && key < 0x7f && c->find_len + 1 < sizeof c->find_text) {
    c->find_text[c->find_len++] = (char)key;
    c->find_text[c->find_len] = '\0';
  }
  return 1;
}

const struct console_view console_find_view = {"find", NULL, console_find_draw, console_find_key, NULL};
