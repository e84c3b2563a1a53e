/*
 * service.h - the station's runtime: one engine served to a driver (the
 * console, or the headless serial server `station serial`) by one loop
 * thread of its own, so that the driver never waits for a signature.
 *
 * The loop (all state its own; nothing of the engine is locked, as tmux's
 * server loop owns everything and drains its queue): one poll() over the
 * command pipe, the intake.usb watch and the serial ports, then, each turn,
 *   - one serial turn (serial_server_turn): the boards' requests that
 *     arrived, decided as one group with one commit and answered;
 *   - one group of the batch in progress (batch_step: 256 CSRs, one commit),
 *     or, with no batch open, the driver's commands in order (log in, lock,
 *     sign a stick: batch_open, export the journal to a stick);
 *   - the sticks that arrived (usb_watch_scan, at least every second, every
 *     half second during a batch), the journal part of inspections, and a
 *     stopped journal's resume attempts.
 * So a board waits at most for the one batch group being signed when its
 * request arrives (docs/throughput.md gives the figure), never for a whole
 * stick. The serial ports are opened at the first successful login and
 * served until the service is freed (or a journal fault stops them: FAULT).
 * Beside the loop:
 *   inspector      inspects each stick that arrives or changes
 *                  (batch_inspect_collect: the intake's checks and the
 *                  policy; the loop then asks the journal which CSRs were
 *                  issued before), and runs lookups (service_find) on the
 *                  journal file; never touches the engine's state;
 *   the engine's pool prepares the CSRs of sticks and of boards, and its
 *                  hsm.sessions threads sign (engine.h).
 *
 * When a journal commit fails (a full disk), the engine stops signing and
 * answers every request at once (engine.h); the loop asks it to resume
 * every second (the engine tries at most every 2 s), so the station resumes
 * by itself when space is freed, with no request needed. Both changes reach
 * the driver as SERVICE_EVENT_JOURNAL.
 *
 * While the console is locked (logged out), serial requests are still decided:
 * a CSR that needs a new signature is answered "STATION ERR hsm-pin" (nothing
 * journaled, the board may retry after unlock), refusals and certificates
 * issued before are answered as usual.
 *
 * Everything the service has to say is an event in a queue (thread-safe):
 * the driver polls service_event_fd() with its own descriptors and drains
 * the queue with service_next_event(), or hands its thread to service_run.
 * The events of a serial turn wake the driver once, when the turn is over
 * (its answers written), so that the driver's thread takes no CPU from it.
 * Text in events that came from outside (file names, serial text) has
 * already been made printable (st_printable_utf8), except when headless:
 * then it is as it came, for the driver to escape (st_printable) in its log
 * lines. The PIN is never put in an event or the log.
 */
#ifndef STATION_SERVICE_H
#define STATION_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "serial_server.h"

struct station_config;
struct st_detail;
struct service;

/* The most serial ports a service shows. */
#define SERVICE_MAX_PORTS 32

/* What does not change while the service runs. */
/* How a driver wants the service (service_new; NULL: the console's). */
struct service_options {
  const struct serial_port_spec *ports;  /* the ports to serve (borrowed: must outlive the service), or NULL: intake.serial */
  size_t port_count;
  uint32_t block_timeout_ms;             /* a CSR block idle this long is refused (0: the default, 5000) */
  int headless;                          /* 1: no sticks (intake.usb is not watched), no shift counts read,
                                            event text as it came (the driver escapes it for its log) */
};

struct service_info {
  char factory[128];
  char station[64];            /* host name */
  char token[64];              /* hsm.token */
  int pin_prompt;              /* 1: the driver must ask for the PIN (hsm.pin: prompt) */
  char ca_cn[128];             /* the local CA's subject CN */
  char ca_not_after[32];       /* "2046-11-17 12:00 UTC" */
  int ca_expired;              /* 1 when notAfter has passed */
  uint64_t records, issued, refused;   /* journal counts at start */
  size_t port_count;
  char ports[SERVICE_MAX_PORTS][128];  /* intake.serial paths, printable */
  size_t usb_root_count;
  unsigned shift_starts[24];   /* console.shifts: minutes after local midnight, increasing */
  size_t shift_count;
  int64_t shift_start_ms;      /* when the shift in progress at start began (service_shift_start) */
  uint64_t shift_issued, shift_refused;   /* journal records of that shift at start (issued, refused) */
  uint64_t shift_repeats;      /* of those refusals, the ones of a CSR the shift had refused before */
  const char *gateway_url;     /* the device gateway's URL told to boards, or NULL (engine_gateway_url) */
};

enum service_event_kind {
  SERVICE_EVENT_LOGIN,         /* CODE: ST_OK (logged in, CA key proven to match) or why not; TEXT: detail */
  SERVICE_EVENT_LOCKED,        /* logged out of the token */
  SERVICE_EVENT_REQUEST,       /* a request decided: REQUEST_KIND, SOURCE, DEVICE, SERIAL_HEX, CODE, TEXT, SEQ; COUNTS */
  SERVICE_EVENT_PORT,          /* a serial port changed: PORT_EVENT, SOURCE (the port), PORT_STATE, CODE, DEVICE, SERIAL_HEX, TEXT */
  SERVICE_EVENT_STICK,         /* a stick inspected: SOURCE (its path), INSPECTION (with issued_before from the
                                  journal); CODE: ST_OK or why it cannot be inspected */
  SERVICE_EVENT_STICK_GONE,    /* SOURCE: the stick's path */
  SERVICE_EVENT_BATCH_START,   /* SOURCE: the stick; TOTAL entries */
  SERVICE_EVENT_PROGRESS,      /* DONE of TOTAL entries of the batch finished */
  SERVICE_EVENT_BATCH_DONE,    /* SOURCE, CODE, TEXT, SUMMARY (summary.left > 0: stopped at a group boundary by
                                  service_stop_batch); SAFE: 1 when every file and directory on the stick is
                                  synced; COUNTS */
  SERVICE_EVENT_EXPORTED,      /* CODE; SOURCE: the csv written (and .sig), TEXT: detail; on success the journal verified */
  SERVICE_EVENT_FAULT,         /* the serial server stopped on a journal fault: CODE, TEXT; its ports are closed */
  SERVICE_EVENT_TOKEN,         /* the token failed (CODE: hsm..., hsm-timeout) or is back (CODE ST_OK); TEXT: what
                                  it said; SOURCE: the token's label */
  SERVICE_EVENT_JOURNAL,       /* the journal cannot be written: signing stopped (CODE: no-space or journal,
                                  and the station resumes by itself; any other code: stopped for good); or
                                  CODE ST_OK: it can be written again, signing resumed. TEXT: the engine's
                                  sentence; SOURCE: the file system holding the journal; COUNTS */
  SERVICE_EVENT_STICK_SEEN,    /* a stick arrived or changed and is being inspected: SOURCE (its path);
                                  its STICK event follows */
  SERVICE_EVENT_FOUND,         /* a journal record that matches a lookup (service_find): SEQ, RECORD_MS,
                                  REQUEST_KIND (ISSUED or REFUSED), SOURCE, DEVICE, SERIAL_HEX, TEXT (the
                                  refusal's reason and detail); up to SERVICE_FIND_MAX of them, newest last,
                                  then FOUND_END */
  SERVICE_EVENT_FOUND_END,     /* the lookup is over: TEXT the query, TOTAL the records that matched,
                                  CODE ST_OK or why the journal could not be read (SOURCE: detail) */
};

/* The most records a lookup reports (the newest ones; FOUND_END counts them all). */
#define SERVICE_FIND_MAX 8

struct service_event {
  enum service_event_kind kind;
  int64_t time_ms;             /* wall clock, ms since the epoch */
  int code;
  int request_kind;            /* enum engine_event_kind */
  enum serial_event_kind port_event;
  enum serial_port_state port_state;
  char source[256];
  char device[64];
  char serial_hex[64];
  char text[512];
  size_t done, total;
  int safe;
  struct batch_inspection inspection;
  struct batch_summary summary;
  /* journal counts and this run's counts after the event (REQUEST, BATCH_DONE, LOGIN) */
  uint64_t records, issued, refused;
  uint64_t shift_issued, shift_refused;
  uint64_t shift_repeats;      /* refusals of the shift in progress of a CSR it had refused before */
  uint64_t seq;                /* FOUND: the record; REQUEST: the journal record written for it */
  int64_t record_ms;           /* FOUND: the record's time */
};

/* When the shift in progress at NOW_MS (ms since the epoch) began: the
 * latest of INFO's shift starts (local time) at or before NOW_MS, today or
 * yesterday. */
int64_t service_shift_start(const struct service_info *info, int64_t now_ms);

/* Opens the engine for CFG (borrowed; must outlive the service), makes the
 * serial server and the USB watch as OPTIONS say (NULL: the console's),
 * fills the service info. Starts nothing. Returns 0 and *OUT, or the codes
 * of engine_open / serial_server_new with DETAIL. */
int service_new(const struct station_config *cfg, const struct service_options *options, struct service **out,
                struct st_detail *detail);

/* The fixed facts to show. Borrowed. */
const struct service_info *service_info(const struct service *s);

/* Starts the loop thread (with SIGINT, SIGTERM and SIGWINCH blocked in it:
 * they go to the driver's thread). Returns 0 or ST_E_INTERNAL. */
int service_start(struct service *s);

/* For a driver without a screen: starts the loop (service_start) and hands
 * every event, in order, to CONSUME on the calling thread until STOP_FD (a
 * self-pipe, service_signals_open) is readable: returns 0; or until CONSUME
 * returns non-zero: returns that. */
int service_run(struct service *s, int stop_fd, int (*consume)(void *arg, const struct service_event *ev),
                void *arg);

/* The process's one signal self-pipe: a handler for each of the N signals
 * SIGNALS writes the signal's number (one byte) into a non-blocking pipe
 * whose read end goes into *READ_FD, for a poll loop; SIGPIPE is ignored.
 * Returns 0, or ST_E_INTERNAL. */
int service_signals_open(const int *signals, size_t n, int *read_fd);

/* Gives the signals of service_signals_open back their default actions and
 * closes the pipe. */
void service_signals_close(void);

/* Readable while events wait; the driver polls it. */
int service_event_fd(const struct service *s);

/* Takes the oldest event into *EV. Returns 1, or 0 when none waits. */
int service_next_event(struct service *s, struct service_event *ev);

/* Commands: queued, done in order on the loop (a sign command's batch runs
 * to its end before the next command); each answers with an event. Return
 * 0, or ST_E_NO_MEMORY. */

/* Logs in with PIN (copied into locked memory, wiped after use; NULL: from
 * the configured file or environment source). Answer: LOGIN. */
int service_login(struct service *s, const char *pin);

/* Logs out of the token once the work before it is done. Answer: LOCKED. */
int service_lock(struct service *s);

/* Signs the stick at PATH. Answers: BATCH_START, PROGRESS..., REQUEST..., BATCH_DONE. */
int service_sign(struct service *s, const char *path);

/* Writes a signed CSV export of the journal (and its .sig) into the stick at PATH. Answer: EXPORTED. */
int service_export(struct service *s, const char *path);

/* Looks TEXT up in the journal, beside the engine (a batch in progress
 * does not hold it up): the records whose device id or serial is TEXT, or
 * whose source (a stick's file, a serial port) contains it. Answers: FOUND
 * for each of the newest SERVICE_FIND_MAX, then FOUND_END. Returns 0 or
 * ST_E_NO_MEMORY. */
int service_find(struct service *s, const char *text);

/* Drops the sign and export commands still queued (not the one in
 * progress); their sticks get no event. Returns how many were dropped. */
size_t service_cancel_queued(struct service *s);

/* Asks the batch in progress (if any) to stop at its next group boundary:
 * what it signed is written and synced, its BATCH_DONE says how many entries
 * were left (summary.left). Holds until the next service_sign. */
void service_stop_batch(struct service *s);

/* Stops the loop (after the command in progress, a batch to its end), closes
 * the serial ports and the engine (a last checkpoint) and frees S; NULL is
 * fine. */
void service_free(struct service *s);

#endif
