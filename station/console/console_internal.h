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

/* What the stick chooser is for. */
enum console_choice { CONSOLE_CHOOSE_SIGN, CONSOLE_CHOOSE_EXPORT, CONSOLE_CHOOSE_EJECT };

/* How the console leaves while the station writes to a stick. */
enum console_quitting {
  CONSOLE_QUIT_NO,          /* not quitting */
  CONSOLE_QUIT_FINISH,      /* the batch in progress is finished, then the console leaves */
  CONSOLE_QUIT_STOP,        /* the batch stops after its group, then the console leaves */
};

/* Colour pairs and their monochrome stand-ins. */
enum console_attr_role {
  CONSOLE_ATTR_NORMAL,
  CONSOLE_ATTR_OK,
  CONSOLE_ATTR_REFUSED,
  CONSOLE_ATTR_ERROR,
  CONSOLE_ATTR_TITLE,
  CONSOLE_ATTR_HEADING,
  CONSOLE_ATTR_KEY,
  CONSOLE_ATTR_ALERT,                  /* the journal alert and the red banner: white on red, bold */
  CONSOLE_ATTR_BANNER_OK,              /* the green banner: black on green */
  CONSOLE_ATTR_COUNT
};

struct console {
  struct service *service;
  struct console_model model;
  int colour;                          /* has_colors() and pairs set up */
  const struct console_view *overlay;  /* NULL: the main screen takes keys */
  struct pin *pin;                     /* the PIN being typed (locked memory, wiped); NULL before asked */
  enum console_confirm confirm;
  char confirm_text[600];
  char confirm_path[256];              /* the stick a sign confirmation is for */
  enum console_choice choice;          /* the chooser: what for, and the sticks it offers */
  char choices[CONSOLE_MAX_STICKS][256];
  size_t choice_count, choice_selected;
  enum console_quitting quitting;
  int64_t quit_ms;                     /* when the operator quit (quitting) */
  int64_t leave_ms;                    /* quitting, everything written: the console leaves at this time */
  char answer[320];                    /* the answer to the last key, shown until the next key */
  enum console_role answer_role;
  size_t log_scroll;                   /* lines scrolled back in the event log (or the problem list) */
  int show_problems;                   /* the list shows the problems (Tab), not every event */
  int selecting;                       /* a line is selected (Up/Down): Enter opens it whole */
  size_t selected;                     /* the selected line, counted from the newest (0) */
  struct console_log_line opened;      /* the line shown whole */
  char find_text[128];                 /* the lookup being typed, or the last one */
  size_t find_len;
  int find_typing;                     /* the lookup box takes text (else it shows the answer) */
  int utf8;                            /* the terminal's locale is UTF-8 (the alert's dash) */
  int64_t ticked_ms;                   /* the last look at the clock for a new shift */
  int quit;
};

/* The panels, top to bottom, and the overlays. */
extern const struct console_view console_status_view, console_ports_view, console_batch_view, console_log_view,
    console_keys_view, console_banner_view;
extern const struct console_view console_pin_view, console_confirm_view, console_help_view, console_choose_view,
    console_quitting_view, console_line_view, console_find_view;

/* The curses attribute for ROLE, in colour or monochrome. */
attr_t console_attr(const struct console *c, enum console_attr_role role);

/* ASCII_ONLY: the terminal's locale is not UTF-8, and console_put draws
 * every byte past ASCII as '?' (text from outside is UTF-8 or \xNN). */
void console_set_ascii(int ascii_only);

/* Writes TEXT at row Y, column X, cut at the screen's right edge, in ATTR. */
void console_put(int y, int x, attr_t attr, const char *text);

/* printf-style console_put. */
void console_putf(int y, int x, attr_t attr, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* A heading line "-- TITLE ----" across the screen at row Y. */
void console_heading(const struct console *c, int y, const char *title);

/* Draws an empty framed box of H rows and W columns centred on the screen;
 * returns its top row and left column in *TOP, *LEFT. */
void console_box(const struct console *c, int h, int w, int *top, int *left);

/* What stick ST is at ("7 CSRs, 2 will be refused", "signing 40% ...",
 * "safe to remove") into OUT, and the role to show it in. */
void console_stick_state(const struct console_stick *st, char *out, size_t cap, enum console_attr_role *role);

/* Opens the PIN prompt (after start, a lock or a failed login). */
void console_ask_pin(struct console *c);

/* Opens a confirmation for WHAT with the question TEXT. */
void console_ask_confirm(struct console *c, enum console_confirm what, const char *text);

/* Carries out a confirmed action; KEY is the key that confirmed it ('y', or
 * 'g' for a quit that stops the batch after its group). */
void console_confirmed(struct console *c, enum console_confirm what, int key);

/* The operator chose the I-th stick of the chooser. */
void console_chosen(struct console *c, size_t i);

/* The answer to a key: a line kept above the key bar until the next key,
 * and in the event log. */
void console_answer(struct console *c, enum console_role role, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Splits TEXT into at most MAX lines of at most WIDTH columns, at spaces
 * where it can; LINES[i] point into BUF (CAP bytes). Returns the count. */
int console_wrap(const char *text, int width, char *buf, size_t cap, const char **lines, int max);

/* Asks whether to quit, saying what the station still writes to a stick. */
void console_ask_quit(struct console *c);

/* Quits at once when the station writes to no stick; else cancels the
 * queued batches, stops the one in progress after its group when HOW is
 * CONSOLE_QUIT_STOP, and stays up (the quitting view) until it is written. */
void console_quit(struct console *c, enum console_quitting how);

#endif
