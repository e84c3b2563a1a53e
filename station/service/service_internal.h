/*
 * service_internal.h - the parts of the service shared by service.c (the
 * loop and its commands) and service_queue.c (the event queue).
 */
#ifndef STATION_SERVICE_INTERNAL_H
#define STATION_SERVICE_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>

#include "digest_set.h"
#include "pin.h"
#include "service.h"

struct pollfd;

/* Events beyond this many waiting: REQUEST events are dropped (their counts
 * still travel in every later event); the others are always kept. */
#define SERVICE_QUEUE_MAX 4096

enum service_command_kind { SERVICE_CMD_LOGIN, SERVICE_CMD_LOCK, SERVICE_CMD_SIGN, SERVICE_CMD_EXPORT, SERVICE_CMD_QUIT };

struct service_command {
  enum service_command_kind kind;
  char path[PATH_MAX];
  struct service_command *next;
};

struct service_event_node {
  struct service_event event;
  struct service_event_node *next;
};

/* A stick inspected on the inspector, waiting for the loop to ask the journal. */
struct service_inspection {
  struct service *s;
  char path[PATH_MAX];               /* the stick */
  struct service_event event;        /* STICK, its inspection without issued_before yet */
  struct batch_digests *digests;     /* the CSRs fit to sign, or NULL */
  struct service_inspection *next;
};

struct service {
  const struct station_config *cfg;
  struct service_options options;
  struct engine *engine;                  /* the loop's alone */
  struct serial_server *serial;           /* the loop's; NULL without ports */
  int serial_on;                          /* its ports are open and served (from the first login) */
  struct usb_watch *usb;                  /* the loop's; NULL when headless */
  struct service_info info;
  /* events to the driver */
  pthread_mutex_t event_mutex;
  struct service_event_node *events, **events_tail;
  size_t event_count;
  int event_fd;
  int events_held;                        /* under event_mutex: the loop is in a serial turn (service_hold_events) */
  int events_unsignalled;                 /* under event_mutex: events queued while held, the driver not woken yet */
  uint64_t shift_issued, shift_refused;   /* the loop's */
  uint64_t shift_repeats;                 /* refusals of a CSR refused before in the shift in progress */
  struct digest_set *shift_refused_csrs;  /* the CSRs refused in the shift in progress (shift_start_ms) */
  int64_t shift_start_ms;
  /* commands from the driver, and inspections finished, both wake the loop through command_pipe */
  pthread_mutex_t command_mutex;
  struct service_command *commands, **commands_tail;
  struct service_inspection *inspected;   /* under command_mutex */
  int command_pipe[2];
  struct pin *pin;                        /* a PIN given with service_login, until used */
  int pin_given;
  atomic_int stop_batch;                  /* 1: the batch in progress stops at its next group boundary */
  /* the batch in progress (the loop's) */
  struct batch *batch;
  struct batch_summary summary;
  char batch_path[PATH_MAX];
  int batch_root;                         /* the stick's root, opened before the work (service_sync_stick) */
  struct pollfd *fds;                     /* the loop's poll set: 2 + the serial ports */
  struct serial_port_spec *config_ports;  /* intake.serial as specs, when the options name no ports */
  struct workers *inspector;              /* one thread inspecting the sticks that arrive, and lookups */
  struct work_group *inspections;         /* its tasks */
  int64_t scanned_ms;                     /* the last scan of the intake roots (monotonic) */
  pthread_t loop_thread;
  int loop_started;
};

/* A blank event of KIND, stamped with the time. */
void service_event_init(struct service_event *ev, int kind);

/* Copies IN into OUT (CAP bytes) as text the driver can show: printable
 * UTF-8 for a screen; as it is when headless (service_options: the driver
 * escapes it for its log). */
void service_text(const struct service *s, char *out, size_t cap, const char *in);

/* Queues a copy of EV and wakes the driver (not while held). Thread-safe. */
void service_push(struct service *s, const struct service_event *ev);

/* From service_hold_events to service_release_events, events are queued
 * without waking the driver; the release wakes it once when any came. The
 * loop holds them during a serial turn, so that the driver's thread, woken
 * once after the answers went out, takes no CPU from the turn. */
void service_hold_events(struct service *s);
void service_release_events(struct service *s);

/* Sets up and tears down the queue (service_new, service_free). */
int service_queue_init(struct service *s);
void service_queue_cleanup(struct service *s);

#endif
