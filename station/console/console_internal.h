/*
 * console_internal.h - what the console's files share: the console's state,
 * the view vtable and the drawing helpers. Only station/console/ includes
 * <curses.h>.
 *
 * Views (in the manner of tig's and tmux's): the main screen stacks four
 * panels (status, ports, batch, event log), each asking for a number of rows
 * and drawing itself in them; an overlay (PIN prompt, confirmation, help)
 * draws over the panels and takes every key while it is up.
 */
#ifndef STATION_CONSOLE_INTERNAL_H
#define STATION_CONSOLE_INTERNAL_H

#include <curses.h>

#include "console_model.h"
#include "pin.h"

struct console;

struct console_view {
  const char *name;
  /* Rows the view wants out of AVAILABLE (panels; overlays take the screen). */
  int (*rows)(const struct console *c, int available);
  /* Draws the view in rows TOP .. TOP+ROWS-1 of the screen. */
  void (*draw)(struct console *c, int top, int rows);
  /* Handles KEY; returns 1 when it did (overlays take every key). */
  int (*key)(struct console *c, int key);
  /* The terminal changed size (the console has resized curses already). */
  void (*resize)(struct console *c);
};

/* What a confirmation is for. */
enum console_confirm { CONSOLE_CONFIRM_SIGN, CONSOLE_CONFIRM_QUIT };

/* Colour pairs and their monochrome stand-ins. */
enum console_attr_role {
  CONSOLE_ATTR_NORMAL,
  CONSOLE_ATTR_OK,
  CONSOLE_ATTR_REFUSED,
  CONSOLE_ATTR_ERROR,
  CONSOLE_ATTR_TITLE,
  CONSOLE_ATTR_HEADING,
  CONSOLE_ATTR_KEY,
  CONSOLE_ATTR_ALERT,                  /* the journal alert: white on red, bold */
  CONSOLE_ATTR_COUNT
};

struct console {
  struct service *service;
  struct console_model model;
  int colour;                          /* has_colors() and pairs set up */
  const struct console_view *overlay;  /* NULL: the main screen takes keys */
  struct pin pin;                      /* the PIN being typed (locked memory, wiped) */
  size_t pin_len;
  enum console_confirm confirm;
  char confirm_text[300];
  size_t log_scroll;                   /* lines scrolled back in the event log */
  int utf8;                            /* the terminal's locale is UTF-8 (the alert's dash) */
  int quit;
};

/* The panels, top to bottom, and the overlays. */
extern const struct console_view console_status_view, console_ports_view, console_batch_view, console_log_view,
    console_keys_view;
extern const struct console_view console_pin_view, console_confirm_view, console_help_view;

/* The curses attribute for ROLE, in colour or monochrome. */
attr_t console_attr(const struct console *c, enum console_attr_role role);

/* Writes TEXT at row Y, column X, cut at the screen's right edge, in ATTR. */
void console_put(int y, int x, attr_t attr, const char *text);

/* printf-style console_put. */
void console_putf(int y, int x, attr_t attr, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* A heading line "-- TITLE ----" across the screen at row Y. */
void console_heading(const struct console *c, int y, const char *title);

/* Draws an empty framed box of H rows and W columns centred on the screen;
 * returns its top row and left column in *TOP, *LEFT. */
void console_box(const struct console *c, int h, int w, int *top, int *left);

/* Opens the PIN prompt (after start, a lock or a failed login). */
void console_ask_pin(struct console *c);

/* Opens a confirmation for WHAT with the question TEXT. */
void console_ask_confirm(struct console *c, enum console_confirm what, const char *text);

/* Carries out a confirmed action. */
void console_confirmed(struct console *c, enum console_confirm what);

/* Milliseconds since the epoch. */
int64_t console_now(void);

#endif
