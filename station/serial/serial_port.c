/* serial_port.c - raw, non-blocking serial ports (see serial_port.h). */
#include "serial_port.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>

#include "baud_rates.h"
#include "error.h"
#include "syscalls.h"

struct serial_port {
  int fd;
  struct termios saved;      /* the settings found at open, put back at close */
  char *path;
};

struct serial_speed {
  unsigned baud;
  speed_t speed;
};

/* The rates of baud_rates.h with their termios constants. */
#define SERIAL_SPEED_ENTRY(rate) {rate, B##rate},
static const struct serial_speed serial_speeds[] = {BAUD_RATES(SERIAL_SPEED_ENTRY)};

/* The speed_t of BAUD, or B0 when it has none. */
static speed_t serial_speed_of(unsigned baud)
{
  speed_t speed = B0;
  for (size_t i = 0; i < sizeof serial_speeds / sizeof serial_speeds[0]; i++)
    if (serial_speeds[i].baud == baud)
      speed = serial_speeds[i].speed;
  return speed;
}

int serial_baud_supported(unsigned baud)
{
  return serial_speed_of(baud) != B0;
}

int serial_termios_settings(unsigned baud, struct termios *out)
{
  int r = ST_E_SERIAL_BAUD;
  struct termios t;
  speed_t speed = serial_speed_of(baud);

  if (speed == B0)
    return r;
  memset(&t, 0, sizeof t);
  t.c_iflag = 0;                        /* no CR/LF mapping, no XON/XOFF, no parity marking, no stripping */
  t.c_oflag = 0;                        /* no output processing: "\n" goes out as LF */
  t.c_cflag = CS8 | CREAD | CLOCAL;     /* 8 data bits, no parity, 1 stop bit, no RTS/CTS, no modem lines */
  t.c_lflag = 0;                        /* no echo, no canonical lines, no signal characters */
  t.c_cc[VMIN] = 1;
  t.c_cc[VTIME] = 0;
  if (cfsetispeed(&t, speed) != 0 || cfsetospeed(&t, speed) != 0)
    return r;
  *out = t;
  return ST_OK;
}

/* Pseudo-terminal slaves (/dev/pts/N): majors 136 to 143. */
#define SERIAL_PTS_MAJOR_FIRST 136
#define SERIAL_PTS_MAJOR_LAST 143

/* A process whose controlling terminal is the device DEV (this one too), or 0
 * when none is seen in /proc (processes /proc does not show are not seen). */
static pid_t serial_terminal_owner(dev_t dev)
{
  /* /proc/PID/stat's tty_nr: minor bits 0-7 and 20-31, major bits 8-15 */
  unsigned long want = (minor(dev) & 0xffUL) | ((unsigned long)major(dev) << 8) | ((minor(dev) & ~0xffUL) << 12);
  pid_t found = 0;
  struct dirent *de;
  DIR *d = opendir("/proc");
  if (d == NULL)
    return 0;
  while (found == 0 && (de = readdir(d)) != NULL) {
    char file[300], buf[1024], *end;
    long pid = strtol(de->d_name, &end, 10);
    unsigned long tty = 0;
    FILE *f;
    if (*end != '\0' || pid <= 0)
      continue;
    snprintf(file, sizeof file, "/proc/%s/stat", de->d_name);
    if ((f = fopen(file, "re")) == NULL)
      continue;
    if (fgets(buf, sizeof buf, f) != NULL && (end = strrchr(buf, ')')) != NULL &&
        sscanf(end + 1, " %*c %*d %*d %*d %lu", &tty) == 1 && tty == want)
      found = (pid_t)pid;
    fclose(f);
  }
  closedir(d);
  return found;
}

/* 1 (with DETAIL) when PATH is a symbolic link to a pseudo-terminal (FD open
 * on it) that is some session's terminal: a link left behind by a board
 * simulator or a demo whose pty now belongs to someone else's shell. */
static int serial_foreign_terminal(const char *path, int fd, struct st_detail *detail)
{
  struct stat link, target;
  pid_t owner;
  if (lstat(path, &link) != 0 || !S_ISLNK(link.st_mode) || fstat(fd, &target) != 0 || !S_ISCHR(target.st_mode) ||
      major(target.st_rdev) < SERIAL_PTS_MAJOR_FIRST || major(target.st_rdev) > SERIAL_PTS_MAJOR_LAST)
    return 0;
  if ((owner = serial_terminal_owner(target.st_rdev)) == 0)
    return 0;
  st_detail_set(detail, "%s: not opened: it is a link to /dev/pts/%u, the terminal of a running session (process "
                "%ld), not a board's line; a link left behind by a demo or a test? Remove it, or name the port itself",
                path, minor(target.st_rdev), (long)owner);
  return 1;
}

int serial_port_open(const char *path, unsigned baud, struct serial_port **out, struct st_detail *detail)
{
  int r;
  struct termios raw;
  struct serial_port *p = calloc(1, sizeof *p);

  if (p != NULL)
    p->fd = -1;
  r = serial_termios_settings(baud, &raw);
  if (r != ST_OK) {
    st_detail_set(detail, "%s: %u baud is not supported", path, baud);
    goto out;
  }
  r = ST_E_NO_MEMORY;
  if (p == NULL || (p->path = strdup(path)) == NULL)
    goto out;
  r = ST_E_SERIAL_PORT;
  p->fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (p->fd < 0) {
    st_detail_set(detail, "%s: %s", path, strerror(errno));
    goto out;
  }
  if (serial_foreign_terminal(path, p->fd, detail))
    goto out;
  if (tcgetattr(p->fd, &p->saved) != 0) {
    st_detail_set(detail, "%s: %s", path, errno == ENOTTY ? "not a terminal (a serial port was expected)" : strerror(errno));
    goto out;
  }
  (void)ioctl(p->fd, TIOCEXCL);
  if (tcsetattr(p->fd, TCSANOW, &raw) != 0) {
    st_detail_set(detail, "%s: cannot set raw mode at %u baud: %s", path, baud, strerror(errno));
    goto out;
  }
  *out = p;
  p = NULL;
  r = ST_OK;
out:
  if (p != NULL && p->fd >= 0)
    close(p->fd);
  if (p != NULL)
    free(p->path);
  free(p);
  return r;
}

int serial_port_fd(const struct serial_port *p)
{
  return p->fd;
}

int serial_port_read(struct serial_port *p, uint8_t *buf, size_t cap, size_t *got, struct st_detail *detail)
{
  int r = ST_OK;
  ssize_t n;

  *got = 0;
  do
    n = read(p->fd, buf, cap);
  while (n < 0 && errno == EINTR);
  if (n > 0) {
    *got = (size_t)n;
  } else if (n == 0) {
    st_detail_set(detail, "%s: the line hung up", p->path);
    r = ST_E_SERIAL_PORT;
  } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
    st_detail_set(detail, "%s: %s", p->path, strerror(errno));
    r = ST_E_SERIAL_PORT;
  }
  return r;
}

int serial_port_write(struct serial_port *p, const uint8_t *buf, size_t len, size_t *written,
                      struct st_detail *detail)
{
  int r = ST_OK;
  size_t done = 0;

  while (done < len) {
    ssize_t n = st_sys.write(p->fd, buf + done, len - done);
    if (n > 0) {
      done += (size_t)n;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      break;
    } else {
      st_detail_set(detail, "%s: %s", p->path, n == 0 ? "the port takes no more bytes" : strerror(errno));
      r = ST_E_SERIAL_PORT;
      break;
    }
  }
  *written = done;
  return r;
}

void serial_port_close(struct serial_port *p)
{
  if (p == NULL)
    return;
  (void)tcsetattr(p->fd, TCSANOW, &p->saved);
  close(p->fd);
  free(p->path);
  free(p);
}
