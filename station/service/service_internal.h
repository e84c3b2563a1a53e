/*
 * service_internal.h - the parts of the service shared by service.c (threads
 * and commands) and service_queue.c (the event queue and the engine lock).
 */
#ifndef STATION_SERVICE_INTERNAL_H
#define STATION_SERVICE_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>

#include "pin.h"
#include "service.h"

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

struct service {
  const struct station_config *cfg;
  struct engine *engine;
  struct serial_server *serial;
  struct usb_watch *usb;
  struct service_info info;
  /* the engine lock: a ticket lock, so that waiting threads take turns */
  pthread_mutex_t lock_mutex;
  pthread_cond_t lock_turn;
  unsigned long ticket_next, ticket_serving;
  /* events to the driver */
  pthread_mutex_t event_mutex;
  struct service_event_node *events, **events_tail;
  size_t event_count;
  int event_fd;
  uint64_t shift_issued, shift_refused;   /* under the engine lock */
  /* commands from the driver */
  pthread_mutex_t command_mutex;
  struct service_command *commands, **commands_tail;
  int command_pipe[2];
  struct pin *pin;                        /* a PIN given with service_login, until used */
  int pin_given;
  atomic_int stop_batch;                  /* 1: the batch in progress stops at its next group boundary */
  struct workers *inspector;              /* one thread inspecting the sticks that arrive */
  struct work_group *inspections;         /* its tasks */
  int64_t scanned_ms;                     /* the last scan of the intake roots during a batch */
  /* threads */
  pthread_t job_thread, serial_thread;
  int job_started, serial_started;
  int serial_stop[2];
};

/* Takes and gives the engine lock (first come, first served). */
void service_engine_take(struct service *s);
void service_engine_give(struct service *s);

/* A blank event of KIND, stamped with the time. */
void service_event_init(struct service_event *ev, int kind);

/* Fills the counts of EV from the engine; call holding the engine lock. */
void service_event_counts(struct service *s, struct service_event *ev);

/* Queues a copy of EV and wakes the driver. */
void service_push(struct service *s, const struct service_event *ev);

/* Sets up and tears down the queue and the lock (service_new, service_free). */
int service_queue_init(struct service *s);
void service_queue_cleanup(struct service *s);

#endif
