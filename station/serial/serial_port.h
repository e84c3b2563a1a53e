/*
 * serial_port.h - one serial port (a USB-serial adapter, a pseudo-terminal) in
 * raw mode, non-blocking. The only code of the station that touches termios.
 *
 * A port is opened O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC (it never becomes
 * the station's controlling terminal and never blocks the poll loop), its
 * settings are saved, and raw 8N1 at the configured baud is set: no echo, no
 * line editing, no signals, no CR/LF translation either way, no flow control,
 * modem lines ignored. Closing puts the saved settings back.
 *
 * A port that disappears (the adapter unplugged, the pty master closed) shows
 * as EIO, ENXIO or ENODEV on a read, or as end of file; serial_port_read then
 * returns ST_E_SERIAL_PORT and the caller closes the port and opens the path
 * again later (serial_server.c does, every second).
 */
#ifndef STATION_SERIAL_PORT_H
#define STATION_SERIAL_PORT_H

#include <stddef.h>
#include <stdint.h>

struct termios;
struct st_detail;
struct serial_port;

/* The baud used when a port is named without one. */
#define SERIAL_DEFAULT_BAUD 115200u

/* 1 when BAUD is a rate the settings can carry (the standard Linux rates from
 * 1200 to 4000000), else 0. Pure. */
int serial_baud_supported(unsigned baud);

/* Builds the station's port settings in OUT from nothing (what was on the
 * port before does not matter): raw 8N1, receiver on, modem control lines
 * ignored, VMIN 1 / VTIME 0, input and output speed BAUD. Pure: no system
 * call. Returns 0, or ST_E_SERIAL_BAUD (OUT untouched) for an unsupported BAUD. */
int serial_termios_settings(unsigned baud, struct termios *out);

/* Opens PATH, saves its settings, asks for exclusive use (TIOCEXCL, best
 * effort) and sets serial_termios_settings(BAUD). Does not flush: what a board
 * sent before the port was opened is still read. A PATH that is a symbolic
 * link to a pseudo-terminal (/dev/pts/N) which is some process's controlling
 * terminal (a shell's, found in /proc) is refused before its settings are
 * touched: such a link was left behind by a board simulator or a demo, and
 * its pty now belongs to someone's session; /dev/pts/N named itself is opened.
 * Returns 0 and *OUT (close with serial_port_close), or ST_E_SERIAL_BAUD, or
 * ST_E_SERIAL_PORT with DETAIL ("/dev/ttyUSB3: No such file or directory",
 * "...: not a terminal", "...: not opened: it is a link to /dev/pts/4, the
 * terminal of a running session ..."). */
int serial_port_open(const char *path, unsigned baud, struct serial_port **out, struct st_detail *detail);

/* The file descriptor, for poll(). */
int serial_port_fd(const struct serial_port *p);

/* Reads what has arrived, at most CAP bytes, without blocking (retries EINTR).
 * Returns 0 with *GOT bytes (0 when nothing is waiting), or ST_E_SERIAL_PORT
 * with DETAIL when the port is gone (EIO, ENXIO, ENODEV, end of file, ...). */
int serial_port_read(struct serial_port *p, uint8_t *buf, size_t cap, size_t *got, struct st_detail *detail);

/* Writes as much of BUF (LEN bytes) as the port takes now, through st_sys.write,
 * retrying EINTR and continuing after short writes until the port would block.
 * Returns 0 with *WRITTEN (may be less than LEN: write the rest when poll says
 * POLLOUT), or ST_E_SERIAL_PORT with DETAIL when the port failed. */
int serial_port_write(struct serial_port *p, const uint8_t *buf, size_t len, size_t *written,
                      struct st_detail *detail);

/* Puts back the settings saved at open (without waiting for output to drain,
 * which a dead port would never do) and closes. NULL is fine. */
void serial_port_close(struct serial_port *p);

#endif
