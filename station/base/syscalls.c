/* syscalls.c - the default system-call table (see syscalls.h). */
#include "syscalls.h"

#include <errno.h>
#include <stdio.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define ST_SYSCALLS_REAL                                                                            \
  {                                                                                                \
    .write = write, .pwrite = pwrite, .fsync = fsync, .fdatasync = fdatasync, .renameat = renameat, \
    .ftruncate = ftruncate, .syncfs = syncfs, .statvfs = statvfs,                                    \
  }

static const struct st_syscalls st_sys_real = ST_SYSCALLS_REAL;
struct st_syscalls st_sys = ST_SYSCALLS_REAL;

void st_syscalls_reset(void)
{
  st_sys = st_sys_real;
}

int st_write_all(int fd, const void *buf, size_t len)
{
  const unsigned char *p = buf;
  int r = 0;
  while (len > 0) {
    ssize_t n = st_sys.write(fd, p, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      if (n == 0)
        errno = EIO;
      r = -1;
      break;
    }
    p += n;
    len -= (size_t)n;
  }
  return r;
}
