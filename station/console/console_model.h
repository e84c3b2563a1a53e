/*
 * console_model.h - the console's view-model: everything the screen shows,
 * updated from service events, with no curses in it. Views read it; only
 * console_model_apply and the console's key handlers write it.
 */
#ifndef STATION_CONSOLE_MODEL_H
#define STATION_CONSOLE_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "service.h"

/* Lines the event log keeps (older ones scroll away). */
#define CONSOLE_LOG_LINES 500

/* Lines the problem list keeps: the whole shift (past this many, the newest are counted, not kept). */
#define CONSOLE_PROBLEMS_MAX 100000

enum console_login { CONSOLE_LOGGED_OUT, CONSOLE_LOGGING_IN, CONSOLE_LOGGED_IN, CONSOLE_LOCKING };

/* The most sticks the panel keeps (more: the oldest finished one makes room). */
#define CONSOLE_MAX_STICKS 16

enum console_stick_state {
  CONSOLE_STICK_NONE,       /* an unused slot */
  CONSOLE_STICK_INSPECTING, /* seen; its inspection is running */
  CONSOLE_STICK_READY,      /* inspected; waiting for the operator */
  CONSOLE_STICK_QUEUED,     /* the operator said sign: it waits for the batch in progress */
  CONSOLE_STICK_SIGNING,    /* its batch is being signed */
  CONSOLE_STICK_DONE,       /* signed (or stopped at a group boundary: summary.left); SAFE says whether it may be removed */
  CONSOLE_STICK_FAILED,     /* the batch stopped on a fault */
};

/* How a line of the event log is shown. */
enum console_role { CONSOLE_ROLE_INFO, CONSOLE_ROLE_OK, CONSOLE_ROLE_REFUSED, CONSOLE_ROLE_ERROR };

struct console_port {
  enum serial_port_state state;
  int opened;               /* it was open at least once */
  char device[64];          /* the last device answered, or "" */
  char serial_hex[64];
  int code;                 /* the last answer's code */
};

struct console_log_line {
  int64_t time_ms;
  enum console_role role;
  char text[320];
};

struct console_stick {
  enum console_stick_state state;
  char path[256];                      /* as the service names it (for commands) */
  char shown[256];                     /* PATH made printable (UTF-8 kept, other bytes \xNN) */
  int inspect_code;                    /* ST_OK, or why it could not be inspected */
  struct batch_inspection inspection;
  size_t done, total;                  /* progress while signing */
  int64_t start_ms;
  struct batch_summary summary;        /* when done */
  int code;                            /* the batch's outcome */
  char text[512];
  int safe;                            /* 1: every file and directory on it is synced */
  int64_t elapsed_ms;
  int gone;                            /* removed while being signed (kept until its batch ends) */
  int64_t changed_ms;                  /* the last change of state: the newest is the panel's focus */
};

struct console_model {
  const struct service_info *info;
  enum console_login login;
  int login_code;                      /* the last login's outcome (ST_OK before any) */
  char login_text[512];
  int ca_proven;                       /* the CA key was proven to match at a login */
  uint64_t records, issued, refused;   /* journal totals */
  uint64_t shift_issued, shift_refused;   /* the journal's counts since SHIFT_START_MS */
  uint64_t shift_repeats;                 /* of SHIFT_REFUSED, refusals of a CSR the shift refused before */
  int64_t shift_start_ms;              /* the shift in progress began (console.shifts) */
  uint64_t shift_base_issued, shift_base_refused;   /* the journal's totals when it began */
  int64_t verified_ms;                 /* the journal's last check (0: none yet) */
  char verified_how[48];
  struct console_port ports[SERVICE_MAX_PORTS];
  struct console_stick sticks[CONSOLE_MAX_STICKS];   /* in order of arrival */
  size_t stick_count;
  int exporting;
  int fault_code;                      /* the serial server stopped (ST_OK: running) */
  int token_code;                      /* ST_OK, or the token's fault: the station waits to log in again */
  char token_text[512];                /* what the token said */
  int journal_code;                    /* ST_OK, or why the journal cannot be written: the alert is up */
  char journal_fs[256];                /* the file system holding the journal (free space there) */
  char journal_text[512];              /* the engine's sentence: what failed, what it waits for */
  struct console_log_line log[CONSOLE_LOG_LINES];
  size_t log_next, log_count;
  enum console_role banner_role;       /* the large banner: REFUSED/ERROR (red) or OK (green) */
  char banner[200];
  int64_t banner_until_ms;             /* shown until then, or until a key (0: none) */
  int bell;                            /* ring the terminal's bell at the next render */
  struct service_event found[SERVICE_FIND_MAX];   /* the last lookup's records, oldest first */
  size_t found_count, found_total;
  int finding;                         /* a lookup is running */
  int found_code;                      /* ST_OK, or why the journal could not be read */
  struct console_log_line *problems;   /* refusals, faults and operator actions, oldest first (owned) */
  size_t problem_count, problem_cap, problems_lost;
  int dirty;                           /* something changed: render */
};

/* A fresh model for a service with INFO (borrowed). */
void console_model_init(struct console_model *m, const struct service_info *info);

/* At NOW_MS: when a new shift has begun, its counters start at 0 (and the
 * problem list says so). */
void console_model_tick(struct console_model *m, int64_t now_ms);

/* Applies one service event: updates the panels and adds log lines. */
void console_model_apply(struct console_model *m, const struct service_event *ev);

/* Frees what the model owns (the problem list). */
void console_model_cleanup(struct console_model *m);

/* Adds a line to the event log, printf-style. */
void console_model_log(struct console_model *m, enum console_role role, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Adds a line to the event log and to the problem list (a refusal, a fault
 * or an operator's action), printf-style. */
void console_model_problem(struct console_model *m, enum console_role role, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Raises the large banner (ROLE: CONSOLE_ROLE_ERROR red, CONSOLE_ROLE_OK
 * green) with TEXT for a few seconds; red ones ring the bell. */
void console_model_banner(struct console_model *m, enum console_role role, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The I-th newest line of the problem list (0: the newest), or NULL past the end. */
const struct console_log_line *console_model_problem_line(const struct console_model *m, size_t i);

/* The stick at PATH, or NULL. */
struct console_stick *console_model_stick(struct console_model *m, const char *path);

/* The stick being signed, or NULL. */
struct console_stick *console_model_signing(struct console_model *m);

/* Sticks queued or being signed: the batches the station has still to write. */
size_t console_model_busy(const struct console_model *m);

/* The stick the panel details: the one being signed, else the one that changed last; NULL when none. */
const struct console_stick *console_model_focus(const struct console_model *m);

/* 1 when the operator may sign ST now (inspected and readable, not queued, signing or done). */
int console_stick_signable(const struct console_stick *st);

/* 1 when every CSR of ST that passes the checks was issued before (signing gives nothing new). */
int console_stick_signed_before(const struct console_stick *st);

/* The I-th newest log line (0: the newest), or NULL past the end. */
const struct console_log_line *console_model_log_line(const struct console_model *m, size_t i);

/* The port state's word for the ports panel ("idle", "receiving", ...). Static. */
const char *console_port_state_name(enum serial_port_state state);

#endif
