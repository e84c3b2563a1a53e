/*
 * stick_fs.c - a USB stick that a test can pull out (FUSE, libfuse3).
 *
 *   stick_fs [--pull-after-opens N] [--pull-after-creates N] [--pull-errno N] BACKING MOUNTPOINT
 *
 * Mounts BACKING (a directory) at MOUNTPOINT and passes every operation
 * through to it, in the foreground, until it is unmounted. Then the stick is
 * pulled out:
 *
 *   - on SIGUSR1, or by itself once the N-th existing file has been opened
 *     (--pull-after-opens: lands the pull while the station reads CSRs) or
 *     the N-th file has been created (--pull-after-creates: lands it in the
 *     middle of the station's writes, between a temporary file and its
 *     rename), every operation from
 *     then on fails with EIO (or --pull-errno), including those on files and
 *     directories that are already open: reads, writes, fsync, close,
 *     readdir, rename, unlink, stat. Nothing reaches BACKING any more, as
 *     nothing reaches a stick that is no longer in its port;
 *   - then it runs `fusermount3 -u -z MOUNTPOINT`, the lazy unmount that
 *     udisks does when a mounted stick disappears: the path is gone at once,
 *     and processes holding descriptors keep getting errors until they close
 *     them, when the file system goes and stick_fs exits.
 *
 * "Re-inserting" the stick is mounting BACKING again (with a new stick_fs).
 * The kernel is told to cache no names and no attributes, so that a pulled
 * stick is not papered over by the cache.
 *
 * This is test code: a stand-in for hardware, never part of the station.
 */
#define FUSE_USE_VERSION 31

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int stick_backing = -1;     /* the backing directory */
static char *stick_mountpoint;
static long stick_pull_opens;      /* pull when this many files were opened (0: never) */
static long stick_pull_creates;    /* pull when this many files were created (0: never) */
static long stick_opens, stick_creates;  /* so far */
static int stick_pull_errno = EIO;
static volatile int stick_pulled;  /* read by every operation */
static int stick_pull_pipe[2] = {-1, -1};

/* Every operation starts here: the error of a pulled stick, or 0. */
#define STICK_CHECK()                                       \
  do {                                                      \
    if (__atomic_load_n(&stick_pulled, __ATOMIC_ACQUIRE))   \
      return -stick_pull_errno;                             \
  } while (0)

/* The path relative to the backing directory ("." for the root). */
static const char *stick_rel(const char *path)
{
  while (*path == '/')
    path++;
  return *path ? path : ".";
}

/* Pulls the stick: errors from now on, then the lazy unmount (on the pull thread). */
static void stick_pull(void)
{
  char byte = 'p';
  if (__atomic_exchange_n(&stick_pulled, 1, __ATOMIC_ACQ_REL) == 0)
    (void)!write(stick_pull_pipe[1], &byte, 1);
}

static void stick_on_sigusr1(int sig)
{
  (void)sig;
  stick_pull();
}

/* The pull thread: waits for the pull, then unmounts lazily as udisks would. */
static void *stick_pull_thread(void *arg)
{
  char byte;
  pid_t pid;
  int status;
  char *argv[] = {"fusermount3", "-u", "-z", stick_mountpoint, NULL};
  (void)arg;
  while (read(stick_pull_pipe[0], &byte, 1) < 0 && errno == EINTR)
    ;
  fprintf(stderr, "stick_fs: pulled out (%s from now on), unmounting %s lazily\n", strerror(stick_pull_errno),
          stick_mountpoint);
  if (posix_spawnp(&pid, "fusermount3", NULL, NULL, argv, environ) != 0)
    fprintf(stderr, "stick_fs: cannot run fusermount3\n");
  else
    waitpid(pid, &status, 0);
  return NULL;
}

static void *stick_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
  pthread_t t;
  (void)conn;
  cfg->entry_timeout = 0;
  cfg->attr_timeout = 0;
  cfg->negative_timeout = 0;
  cfg->hard_remove = 1; /* an open file unlinked goes, not to .fuse_hidden* */
  cfg->use_ino = 1;
  if (pthread_create(&t, NULL, stick_pull_thread, NULL) == 0)
    pthread_detach(t);
  return NULL;
}

static int stick_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
  STICK_CHECK();
  if (fi != NULL)
    return fstat((int)fi->fh, st) == 0 ? 0 : -errno;
  return fstatat(stick_backing, stick_rel(path), st, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : -errno;
}

static int stick_access(const char *path, int mask)
{
  STICK_CHECK();
  return faccessat(stick_backing, stick_rel(path), mask, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : -errno;
}

static int stick_readlink(const char *path, char *buf, size_t size)
{
  ssize_t n;
  STICK_CHECK();
  n = readlinkat(stick_backing, stick_rel(path), buf, size - 1);
  if (n < 0)
    return -errno;
  buf[n] = '\0';
  return 0;
}

static int stick_opendir(const char *path, struct fuse_file_info *fi)
{
  int fd;
  DIR *d;
  STICK_CHECK();
  fd = openat(stick_backing, stick_rel(path), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  if (fd < 0)
    return -errno;
  d = fdopendir(fd);
  if (d == NULL) {
    int err = errno;
    close(fd);
    return -err;
  }
  fi->fh = (uintptr_t)d;
  return 0;
}

static int stick_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off, struct fuse_file_info *fi,
                         enum fuse_readdir_flags flags)
{
  DIR *d = (DIR *)(uintptr_t)fi->fh;
  struct dirent *ent;
  (void)path;
  (void)off; /* the whole directory in one call (offsets 0): libfuse pages it */
  (void)flags;
  STICK_CHECK();
  rewinddir(d);
  while ((errno = 0, ent = readdir(d)) != NULL) {
    struct stat st;
    memset(&st, 0, sizeof st);
    st.st_ino = ent->d_ino;
    st.st_mode = (mode_t)DTTOIF(ent->d_type);
    if (fill(buf, ent->d_name, &st, 0, 0))
      break;
  }
  return errno != 0 ? -errno : 0;
}

static int stick_releasedir(const char *path, struct fuse_file_info *fi)
{
  (void)path;
  closedir((DIR *)(uintptr_t)fi->fh); /* the descriptor goes in any case */
  STICK_CHECK();
  return 0;
}

static int stick_fsyncdir(const char *path, int datasync, struct fuse_file_info *fi)
{
  DIR *d = (DIR *)(uintptr_t)fi->fh;
  (void)path;
  STICK_CHECK();
  return (datasync ? fdatasync(dirfd(d)) : fsync(dirfd(d))) == 0 ? 0 : -errno;
}

static int stick_mkdir(const char *path, mode_t mode)
{
  STICK_CHECK();
  return mkdirat(stick_backing, stick_rel(path), mode) == 0 ? 0 : -errno;
}

static int stick_mknod(const char *path, mode_t mode, dev_t rdev)
{
  STICK_CHECK();
  return mknodat(stick_backing, stick_rel(path), mode, rdev) == 0 ? 0 : -errno;
}

static int stick_unlink(const char *path)
{
  STICK_CHECK();
  return unlinkat(stick_backing, stick_rel(path), 0) == 0 ? 0 : -errno;
}

static int stick_rmdir(const char *path)
{
  STICK_CHECK();
  return unlinkat(stick_backing, stick_rel(path), AT_REMOVEDIR) == 0 ? 0 : -errno;
}

static int stick_symlink(const char *target, const char *path)
{
  STICK_CHECK();
  return symlinkat(target, stick_backing, stick_rel(path)) == 0 ? 0 : -errno;
}

static int stick_rename(const char *from, const char *to, unsigned int flags)
{
  STICK_CHECK();
  return renameat2(stick_backing, stick_rel(from), stick_backing, stick_rel(to), flags) == 0 ? 0 : -errno;
}

static int stick_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
  STICK_CHECK();
  if (fi != NULL)
    return fchmod((int)fi->fh, mode) == 0 ? 0 : -errno;
  return fchmodat(stick_backing, stick_rel(path), mode, 0) == 0 ? 0 : -errno;
}

static int stick_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
  STICK_CHECK();
  if (fi != NULL)
    return fchown((int)fi->fh, uid, gid) == 0 ? 0 : -errno;
  return fchownat(stick_backing, stick_rel(path), uid, gid, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : -errno;
}

static int stick_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
  int fd, r;
  STICK_CHECK();
  if (fi != NULL)
    return ftruncate((int)fi->fh, size) == 0 ? 0 : -errno;
  fd = openat(stick_backing, stick_rel(path), O_WRONLY | O_NOFOLLOW);
  if (fd < 0)
    return -errno;
  r = ftruncate(fd, size) == 0 ? 0 : -errno;
  close(fd);
  return r;
}

static int stick_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
  STICK_CHECK();
  if (fi != NULL)
    return futimens((int)fi->fh, tv) == 0 ? 0 : -errno;
  return utimensat(stick_backing, stick_rel(path), tv, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : -errno;
}

static int stick_open(const char *path, struct fuse_file_info *fi)
{
  int fd;
  STICK_CHECK();
  fd = openat(stick_backing, stick_rel(path), fi->flags);
  if (fd < 0)
    return -errno;
  fi->fh = (uint64_t)fd;
  if (stick_pull_opens > 0 && __atomic_add_fetch(&stick_opens, 1, __ATOMIC_ACQ_REL) == stick_pull_opens)
    stick_pull(); /* this file is open; reading it, and all that comes after, fails */
  return 0;
}

static int stick_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
  int fd;
  STICK_CHECK();
  fd = openat(stick_backing, stick_rel(path), fi->flags, mode);
  if (fd < 0)
    return -errno;
  fi->fh = (uint64_t)fd;
  if (stick_pull_creates > 0 && __atomic_add_fetch(&stick_creates, 1, __ATOMIC_ACQ_REL) == stick_pull_creates)
    stick_pull(); /* this file is made; writing it, and all that comes after, fails */
  return 0;
}

static int stick_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
  ssize_t n;
  (void)path;
  STICK_CHECK();
  n = pread((int)fi->fh, buf, size, off);
  return n >= 0 ? (int)n : -errno;
}

static int stick_write(const char *path, const char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
  ssize_t n;
  (void)path;
  STICK_CHECK();
  n = pwrite((int)fi->fh, buf, size, off);
  return n >= 0 ? (int)n : -errno;
}

static int stick_statfs(const char *path, struct statvfs *st)
{
  (void)path;
  STICK_CHECK();
  return fstatvfs(stick_backing, st) == 0 ? 0 : -errno;
}

static int stick_flush(const char *path, struct fuse_file_info *fi)
{
  (void)path;
  (void)fi;
  STICK_CHECK();
  return 0;
}

static int stick_release(const char *path, struct fuse_file_info *fi)
{
  (void)path;
  close((int)fi->fh); /* the descriptor goes in any case; the answer is not seen by close() */
  return 0;
}

static int stick_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
  (void)path;
  STICK_CHECK();
  return (datasync ? fdatasync((int)fi->fh) : fsync((int)fi->fh)) == 0 ? 0 : -errno;
}

static const struct fuse_operations stick_ops = {
    .init = stick_init,
    .getattr = stick_getattr,
    .access = stick_access,
    .readlink = stick_readlink,
    .opendir = stick_opendir,
    .readdir = stick_readdir,
    .releasedir = stick_releasedir,
    .fsyncdir = stick_fsyncdir,
    .mkdir = stick_mkdir,
    .mknod = stick_mknod,
    .unlink = stick_unlink,
    .rmdir = stick_rmdir,
    .symlink = stick_symlink,
    .rename = stick_rename,
    .chmod = stick_chmod,
    .chown = stick_chown,
    .truncate = stick_truncate,
    .utimens = stick_utimens,
    .open = stick_open,
    .create = stick_create,
    .read = stick_read,
    .write = stick_write,
    .statfs = stick_statfs,
    .flush = stick_flush,
    .release = stick_release,
    .fsync = stick_fsync,
};

static int stick_usage(void)
{
  fprintf(stderr, "usage: stick_fs [--pull-after-opens N] [--pull-after-creates N] [--pull-errno N] BACKING MOUNTPOINT\n"
                  "  SIGUSR1 pulls the stick out: every operation fails, then fusermount3 -u -z\n");
  return 2;
}

int main(int argc, char **argv)
{
  int i = 1;
  struct sigaction sa;
  char *fuse_argv[8];
  int fuse_argc = 0;

  for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
    if (strcmp(argv[i], "--pull-after-opens") == 0)
      stick_pull_opens = strtol(argv[i + 1], NULL, 10);
    else if (strcmp(argv[i], "--pull-after-creates") == 0)
      stick_pull_creates = strtol(argv[i + 1], NULL, 10);
    else if (strcmp(argv[i], "--pull-errno") == 0)
      stick_pull_errno = (int)strtol(argv[i + 1], NULL, 10);
    else
      return stick_usage();
  }
  if (argc - i != 2 || stick_pull_errno <= 0)
    return stick_usage();
  stick_backing = open(argv[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (stick_backing < 0) {
    fprintf(stderr, "stick_fs: cannot open %s: %s\n", argv[i], strerror(errno));
    return 1;
  }
  stick_mountpoint = realpath(argv[i + 1], NULL);
  if (stick_mountpoint == NULL || pipe2(stick_pull_pipe, O_CLOEXEC) != 0) {
    fprintf(stderr, "stick_fs: %s: %s\n", argv[i + 1], strerror(errno));
    return 1;
  }
  umask(0);
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = stick_on_sigusr1;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, NULL);

  fuse_argv[fuse_argc++] = argv[0];
  fuse_argv[fuse_argc++] = "-f";                         /* foreground: the test holds the pid */
  fuse_argv[fuse_argc++] = "-o";
  fuse_argv[fuse_argc++] = "fsname=station-stick,subtype=stick_fs";
  fuse_argv[fuse_argc++] = stick_mountpoint;
  fuse_argv[fuse_argc] = NULL;
  return fuse_main(fuse_argc, fuse_argv, &stick_ops, NULL);
}
