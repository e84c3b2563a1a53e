/*
 * serial_server.h - serving a row of fixtures: one poll() loop over every
 * serial port, one engine, one queue.
 *
 * Each port has a line parser (line_parser.h). A complete CSR block, or a
 * refusal the parser decided (too-large, timeout), becomes a request in one
 * FIFO queue shared by all ports. Each turn of the loop:
 *
 *   1. reads what every ready port sent and feeds its parser; reopens ports
 *      that went away, once per reopen interval, without waiting for them;
 *   2. takes the requests at the head of the queue, at most one per port (a
 *      board that sends many CSRs cannot crowd out the others), decides each
 *      with engine_submit / engine_refuse, and makes the whole group durable
 *      with ONE engine_commit;
 *   3. only then writes each answer into its port's output buffer, which is
 *      flushed without blocking as the port takes bytes: a board that does
 *      not read holds up nobody.
 *
 * Answers (docs/line-protocol.md), LF line ends:
 *   issued:  device certificate PEM, local CA PEM, factory root PEM, the
 *            header lines, then "STATION OK <serial hex>"
 *   refused: the header lines, then "STATION ERR <reason-code> <one-line sentence>"
 * The header lines (serial_answer.h) name the request answered (the SHA-256
 * of its block), give the station's time and, on issued answers, the device
 * gateway's URL when one is configured (engine_gateway_url).
 * The same CSR sent again gets the certificate already issued (the engine
 * hands it back from the journal). The journal source of a request is
 * "serial:<port path>".
 *
 * Faults: a fault of the HSM for one request is answered "STATION ERR <code>"
 * to that board and the loop goes on. A commit that fails because the
 * journal cannot be written (a full disk) stops the engine on its journal
 * (engine.h): nothing of the group is released, each of its boards is
 * answered "STATION ERR no-space <sentence>" (or "journal"), so is every
 * request until the engine resumes, and the loop goes on; it asks the engine
 * to resume at every turn (at least once a second; the engine tries at most
 * every few seconds), so the station resumes by itself. Any other journal
 * fault (or one after which the engine stops for good) stops the loop with
 * that code before anything of the group is released.
 *
 * A port that goes away (read or poll error, hang-up) is closed and reported;
 * a request of it already queued is still decided and journaled, its answer
 * dropped (the board's retry gets the same certificate from the journal).
 *
 * One thread drives a server; it borrows the engine, which must be logged in.
 */
#ifndef STATION_SERIAL_SERVER_H
#define STATION_SERIAL_SERVER_H

#include <stddef.h>
#include <stdint.h>

struct engine;
struct st_detail;
struct serial_server;

/* A port to serve: its device path and baud. */
struct serial_port_spec {
  const char *path;
  unsigned baud;
};

struct serial_server_options {
  uint32_t block_timeout_ms;    /* idle time that refuses an unfinished block (0: 5000) */
  uint32_t reopen_interval_ms;  /* between attempts to open a port that is gone (0: 1000) */
  size_t queue_per_port;        /* requests one port may have waiting (0: 4); more are answered serial-busy */
};

/* What a port is doing, for a console to show. */
enum serial_port_state {
  SERIAL_PORT_ERROR,      /* not open: unplugged or never opened; being retried */
  SERIAL_PORT_IDLE,       /* open, nothing in progress */
  SERIAL_PORT_RECEIVING,  /* a CSR block is arriving */
  SERIAL_PORT_SIGNING,    /* a request waits for, or is in, the engine */
  SERIAL_PORT_ANSWERED,   /* the last answer was handed to the port */
};

enum serial_event_kind {
  SERIAL_EVENT_OPENED,    /* the port was opened (again) */
  SERIAL_EVENT_LOST,      /* the port went away, or could not be opened (reported once per outage) */
  SERIAL_EVENT_RECEIVING, /* a BEGIN line arrived */
  SERIAL_EVENT_QUEUED,    /* a request joined the queue */
  SERIAL_EVENT_ANSWERED,  /* an answer went into the port's output: CODE, DEVICE, SERIAL_HEX */
  SERIAL_EVENT_DROPPED,   /* an answer could not be delivered (port gone, output full, queue full) */
};

/* One state change. Strings are valid only during the emit call; TEXT may
 * hold text from the wire: pass it through st_printable before showing it. */
struct serial_event {
  enum serial_event_kind kind;
  const char *port;              /* the port's path */
  enum serial_port_state state;  /* the port's state after the event */
  int code;                      /* ANSWERED, DROPPED: ST_OK or the refusal; LOST: ST_E_SERIAL_PORT */
  const char *device;            /* ANSWERED: the device id, or "" */
  const char *serial_hex;        /* ANSWERED: the certificate serial, or "" */
  const char *text;              /* why (LOST, DROPPED, refusals), or "" */
};

struct serial_sink {
  void (*emit)(void *arg, const struct serial_event *event);
  void *arg;
};

/* Makes a server for the N ports of SPECS on engine E (borrowed, logged in).
 * OPTIONS may be NULL. Ports are opened by serial_server_run, not here.
 * Returns 0 and *OUT, ST_E_SERIAL_BAUD (DETAIL names the port), ST_E_USAGE
 * for no ports, ST_E_NO_MEMORY, or ST_E_CRYPTO when the CA chain cannot be
 * written as PEM. */
int serial_server_new(struct engine *e, const struct serial_port_spec *specs, size_t n,
                      const struct serial_server_options *options, struct serial_server **out,
                      struct st_detail *detail);

/* Adds SINK (copied); events go to every sink. Returns 0 or ST_E_NO_MEMORY. */
int serial_server_add_sink(struct serial_server *s, const struct serial_sink *sink);

/* A lock around the engine, for a server that shares
 * its engine with another thread (station/service/service.c runs batches beside it):
 * ENTER is called before a loop turn's group is decided, LEAVE after its
 * commit, both on the server's thread and only for turns with requests. */
struct serial_engine_guard {
  void (*enter)(void *arg);
  void (*leave)(void *arg);
  void *arg;
};

/* Sets GUARD (copied; NULL: none, the default). Call before serial_server_run. */
void serial_server_set_guard(struct serial_server *s, const struct serial_engine_guard *guard);

/* Serves until STOP_FD becomes readable (a self-pipe written by a signal
 * handler; the byte is not consumed). Returns 0 then, or the journal fault
 * (ST_E_JOURNAL_CORRUPT, ...) with DETAIL that stopped it; nothing of the
 * failed group was written to any port. A full journal disk does not stop
 * it (see Faults above). Restores every port on return. */
int serial_server_run(struct serial_server *s, int stop_fd, struct st_detail *detail);

/* Closes the ports (restoring their settings) and frees S; NULL is fine. */
void serial_server_free(struct serial_server *s);

#endif
