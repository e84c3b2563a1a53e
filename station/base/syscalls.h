/*
 * syscalls.h - the seam between the station and the system calls whose failure
 * matters for durability (in the manner of SQLite's aSyscall[] in os_unix.c).
 *
 * Code that writes the journal or an output file calls through st_sys, never
 * write()/fsync()/rename() directly, so that a test can make one of them fail
 * (EIO, ENOSPC), tear a write short, or count calls. The default table calls
 * the real functions. Every wrapper behaves like the call it stands for,
 * errno included.
 */
#ifndef STATION_SYSCALLS_H
#define STATION_SYSCALLS_H

#include <sys/statvfs.h>
#include <sys/types.h>

struct st_syscalls {
  ssize_t (*write)(int fd, const void *buf, size_t len);
  ssize_t (*pwrite)(int fd, const void *buf, size_t len, off_t off);
  int (*fsync)(int fd);
  int (*fdatasync)(int fd);
  int (*renameat)(int olddirfd, const char *oldpath, int newdirfd, const char *newpath);
  int (*ftruncate)(int fd, off_t len);
  int (*syncfs)(int fd);
  /* the room left on a file system: a test can make a disk look full or freed */
  int (*statvfs)(const char *path, struct statvfs *st);
};

/* The table in force. Tests may replace members; restore with st_syscalls_reset(). */
extern struct st_syscalls st_sys;

/* Puts the real system calls back into st_sys. */
void st_syscalls_reset(void);

/* Writes all LEN bytes of BUF to FD through st_sys.write, retrying on EINTR
 * and short writes. Returns 0, or -1 with errno set (ENOSPC, EIO, ...). */
int st_write_all(int fd, const void *buf, size_t len);

#endif
