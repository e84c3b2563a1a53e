/* syscalls.c - the system-call table and its setter by name (see syscalls.h). */
#include "syscalls.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define ST_SYSCALL_REAL(name, ret, params) .name = name,
static const struct st_syscalls st_sys_real = {ST_SYSCALLS(ST_SYSCALL_REAL)};
struct st_syscalls st_sys = {ST_SYSCALLS(ST_SYSCALL_REAL)};
#undef ST_SYSCALL_REAL

int st_syscall_set(const char *name, st_syscall_ptr fn)
{
#define ST_SYSCALL_SET(call, ret, params)                           \
  if (strcmp(name, #call) == 0) {                                   \
    st_sys.call = fn != NULL ? (ret(*) params)fn : st_sys_real.call; \
    return 0;                                                       \
  }
  ST_SYSCALLS(ST_SYSCALL_SET)
#undef ST_SYSCALL_SET
  return -1;
}

st_syscall_ptr st_syscall_real(const char *name)
{
#define ST_SYSCALL_REAL_OF(call, ret, params) \
  if (strcmp(name, #call) == 0)               \
    return (st_syscall_ptr)st_sys_real.call;
  ST_SYSCALLS(ST_SYSCALL_REAL_OF)
#undef ST_SYSCALL_REAL_OF
  return NULL;
}

void st_syscalls_reset(void)
{
  st_sys = st_sys_real;
}

/* The one transfer loop (OpenSSH's atomicio): moves LEN bytes with
 * st_sys.write from WBUF, or with st_sys.read into RBUF when WBUF is NULL,
 * retrying on EINTR, waiting in poll() on EAGAIN and going on after short
 * transfers. Returns the bytes moved (fewer than LEN only when a read met
 * the end of the file), or -1 with errno set; a write that moves nothing is
 * EIO. */
static ssize_t st_io(int fd, void *rbuf, const void *wbuf, size_t len)
{
  struct pollfd pfd = {.fd = fd, .events = wbuf != NULL ? POLLOUT : POLLIN};
  size_t done = 0;
  while (done < len) {
    ssize_t n = wbuf != NULL ? st_sys.write(fd, (const unsigned char *)wbuf + done, len - done)
                             : st_sys.read(fd, (unsigned char *)rbuf + done, len - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      (void)poll(&pfd, 1, -1);
      continue;
    }
    if (n < 0)
      return -1;
    if (n == 0 && wbuf != NULL) {
      errno = EIO;
      return -1;
    }
    if (n == 0)
      break;
    done += (size_t)n;
  }
  return (ssize_t)done;
}

int st_write_all(int fd, const void *buf, size_t len)
{
  return st_io(fd, NULL, buf, len) < 0 ? -1 : 0;
}

ssize_t st_read_full(int fd, void *buf, size_t len)
{
  return st_io(fd, buf, NULL, len);
}
