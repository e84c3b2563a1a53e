/*
 * syscalls.h - the seam between the station and the system calls whose
 * failure a test wants to see (in the manner of SQLite's aSyscall[] with
 * xSetSystemCall in os_unix.c).
 *
 * Code that writes the journal, an output file or a serial port, or syncs a
 * file system, calls through st_sys (st_sys.write(...)), never write() or
 * fsync() directly, so that a test can make one of them fail (EIO, ENOSPC),
 * tear a write short, or count calls. A test sets a call by its name:
 *
 *   st_syscall_set("fdatasync", (st_syscall_ptr)failing_fdatasync);
 *   ...
 *   st_syscalls_reset();
 *
 * The default table calls the real functions. Every replacement must behave
 * like the call it stands for, errno included, and have its type.
 */
#ifndef STATION_SYSCALLS_H
#define STATION_SYSCALLS_H

#include <sys/statvfs.h>
#include <sys/types.h>

/* X(name, return type, parameters): the calls of the seam, by name. */
#define ST_SYSCALLS(X)                                                                          \
  X(write, ssize_t, (int fd, const void *buf, size_t len))                                      \
  X(read, ssize_t, (int fd, void *buf, size_t len))                                             \
  X(pwrite, ssize_t, (int fd, const void *buf, size_t len, off_t off))                          \
  X(fsync, int, (int fd))                                                                       \
  X(fdatasync, int, (int fd))                                                                   \
  X(renameat, int, (int olddirfd, const char *oldpath, int newdirfd, const char *newpath))     \
  X(ftruncate, int, (int fd, off_t len))                                                        \
  X(syncfs, int, (int fd))                                                                      \
  /* the room left on a file system: a test can make a disk look full or freed */              \
  X(statvfs, int, (const char *path, struct statvfs *st))

#define ST_SYSCALL_MEMBER(name, ret, params) ret(*name) params;
struct st_syscalls {
  ST_SYSCALLS(ST_SYSCALL_MEMBER)
};
#undef ST_SYSCALL_MEMBER

/* The table in force. Code calls through it; tests change it only through
 * st_syscall_set and st_syscalls_reset. */
extern struct st_syscalls st_sys;

/* Any system call of the table, as st_syscall_set takes it (cast from the
 * call's own type, as SQLite's sqlite3_syscall_ptr). */
typedef void (*st_syscall_ptr)(void);

/* Makes the call NAME ("write", "fdatasync", ...) go to FN, which has that
 * call's type; FN NULL puts the real call back. Returns 0, or -1 when NAME
 * is not in the table (nothing changed). Not thread-safe: set calls while
 * nothing runs through them. */
int st_syscall_set(const char *name, st_syscall_ptr fn);

/* The real call NAME (what st_syscalls_reset puts back), for a replacement
 * that passes most calls on; NULL when NAME is not in the table. */
st_syscall_ptr st_syscall_real(const char *name);

/* Puts every real system call back into st_sys. */
void st_syscalls_reset(void);

/* Writes all LEN bytes of BUF to FD through st_sys.write, retrying on EINTR
 * and short writes and waiting (poll) on EAGAIN. Returns 0, or -1 with errno
 * set (ENOSPC, EIO, ...; EIO when a write moves nothing). */
int st_write_all(int fd, const void *buf, size_t len);

/* Reads from FD into BUF through st_sys.read until LEN bytes came or the end
 * of the file, in the same loop as st_write_all. Returns the bytes read
 * (fewer than LEN: the file ended), or -1 with errno set. */
ssize_t st_read_full(int fd, void *buf, size_t len);

#endif
