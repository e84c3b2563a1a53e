/*
 * serial_server.h - serving a row of fixtures: every serial port, one
 * engine, one queue, driven in turns by the loop that owns the engine (the
 * service, station/service/service.h), which polls the ports' descriptors
 * beside its own.
 *
 * Each port has a line parser (line_parser.h). A complete CSR block, or a
 * refusal the parser decided (too-large, timeout), becomes a request in one
 * FIFO queue shared by all ports. Each turn (serial_server_turn):
 *
 *   1. reads what every ready port sent and feeds its parser; reopens ports
 *      that went away, once per reopen interval, without waiting for them;
 *   2. takes the requests at the head of the queue, at most one per port (a
 *      board that sends many CSRs cannot crowd out the others), prepares
 *      their CSRs (parsed, signature and policy checked: engine_prepare) -
 *      the first on the driver's thread, the others on the engine's worker
 *      pool with the driver's thread taking those the pool has not started,
 *      so that a lone request costs no hand-off between threads - decides
 *      the refusals of the intake with engine_refuse and the CSRs together
 *      with engine_decide_many (signed on the signing threads), and makes the
 *      whole group durable with ONE engine_commit (the seal signed while the
 *      pool checks the new certificates' signatures);
 *   3. only then writes each answer into its port's output buffer, which is
 *      flushed without blocking as the port takes bytes: a board that does
 *      not read holds up nobody. An issued answer's certificate PEM is
 *      written from the DER the engine made, never decoded again.
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
 * to that board and the turns go on. A commit that fails because the
 * journal cannot be written (a full disk) stops the engine on its journal
 * (engine.h): nothing of the group is released, each of its boards is
 * answered "STATION ERR no-space <sentence>" (or "journal"), so is every
 * request until the engine resumes, and the turns go on; each turn asks the
 * engine to resume (the driver turns at least once a second; the engine
 * tries at most every few seconds), so the station resumes by itself. Any
 * other journal fault (or one after which the engine stops for good) ends
 * the turn with that code before anything of the group is released: the
 * driver stops serving.
 *
 * A port that goes away (read or poll error, hang-up) is closed and reported;
 * a request of it already queued is still decided and journaled, its answer
 * dropped (the board's retry gets the same certificate from the journal).
 *
 * One thread drives a server and its engine (borrowed): the turns, the
 * events and the engine all belong to it; nothing is locked.
 */
#ifndef STATION_SERIAL_SERVER_H
#define STATION_SERIAL_SERVER_H

#include <poll.h>
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

/* Makes a server for the N ports of SPECS on engine E (borrowed).
 * OPTIONS may be NULL. Ports are opened by serial_server_open, not here.
 * Returns 0 and *OUT, ST_E_SERIAL_BAUD (DETAIL names the port), ST_E_USAGE
 * for no ports, ST_E_NO_MEMORY, or ST_E_CRYPTO when the CA chain cannot be
 * written as PEM. */
int serial_server_new(struct engine *e, const struct serial_port_spec *specs, size_t n,
                      const struct serial_server_options *options, struct serial_server **out,
                      struct st_detail *detail);

/* Adds SINK (copied); events go to every sink. Returns 0 or ST_E_NO_MEMORY. */
int serial_server_add_sink(struct serial_server *s, const struct serial_sink *sink);

/* Opens every port; one that cannot be opened is reported (LOST) and
 * retried by the turns. Call once, with the engine logged in, before the
 * first turn. */
void serial_server_open(struct serial_server *s);

/* The most descriptors serial_server_poll_set fills: one per port. */
size_t serial_server_port_count(const struct serial_server *s);

/* Fills FDS (room for serial_server_port_count entries) with the open
 * ports: POLLIN, and POLLOUT while answers wait for the port. Returns how
 * many. The next serial_server_turn reads their revents: FDS must stay
 * valid until then. */
size_t serial_server_poll_set(struct serial_server *s, struct pollfd *fds);

/* How long (ms) the driver may wait before the next turn is due: 0 while
 * requests wait; else until the next block timeout or reopening, at most
 * 1000 (the resume attempts of a stopped journal). */
int serial_server_timeout(const struct serial_server *s);

/* One turn: takes what poll() reported for the ports (the descriptors of
 * the last serial_server_poll_set; a turn without a poll since reads
 * nothing), the block timeouts and the reopenings; decides the head of the
 * queue as one group with one commit and answers it (steps 1-3 above);
 * lets a journal the engine stopped on try to resume. Returns 0, or the
 * journal fault (ST_E_JOURNAL_CORRUPT, ...) with DETAIL after which serving
 * must stop; nothing of the failed group was written to any port. A full
 * journal disk does not stop it (see Faults above). */
int serial_server_turn(struct serial_server *s, struct st_detail *detail);

/* Hands the ports what they take now, closes them and restores their
 * settings. */
void serial_server_close_ports(struct serial_server *s);

/* Closes the ports (restoring their settings) and frees S; NULL is fine. */
void serial_server_free(struct serial_server *s);

#endif
