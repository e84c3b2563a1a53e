/*
 * console.h - the operator console: an ncurses screen over a service
 * (service.h). See docs/operator-guide.md for what the operator sees.
 *
 * The console is a thin driver. The service's threads own the engine; the
 * console only sends commands (log in, lock, sign a stick, export) and
 * renders a view-model (console_model.h) updated from the service's events.
 * One poll() loop waits on the terminal, the service's event descriptor, a
 * self-pipe for SIGWINCH/SIGINT/SIGTERM and the station's own log (stderr is
 * captured while the screen is up and shown in the event log); each turn
 * applies what arrived, marks the screen dirty and renders once.
 */
#ifndef STATION_CONSOLE_H
#define STATION_CONSOLE_H

struct service;
struct st_detail;

/* Runs the console on the terminal (stdin/stdout) until the operator quits
 * (q, then y) or SIGTERM. Starts the service (service_start) and logs in,
 * asking for the PIN on screen when hsm.pin is prompt. The caller frees the
 * service afterwards. Returns 0, or ST_E_USAGE when stdin/stdout is not a
 * terminal or the terminal cannot be set up (DETAIL says why). */
int console_run(struct service *svc, struct st_detail *detail);

#endif
