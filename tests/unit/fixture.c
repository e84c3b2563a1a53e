/* fixture.c - temporary directories, SoftHSM tokens, child commands and faults
 * through the system-call seam for the unit tests (see fixture.h). */
#include "fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "syscalls.h"

extern char **environ;

int fixture_run(char *const argv[])
{
  posix_spawn_file_actions_t fa;
  pid_t pid;
  int status = -1, r = -1;

  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) == 0 && waitpid(pid, &status, 0) == pid &&
      WIFEXITED(status) && WEXITSTATUS(status) == 0)
    r = 0;
  posix_spawn_file_actions_destroy(&fa);
  return r;
}

/* nftw callback removing one entry of the tree. */
static int fixture_remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

int fixture_remove_tree(const char *dir)
{
  return nftw(dir, fixture_remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

int fixture_softhsm_token(char *dir_template, const char *label, const char *pin)
{
  char conf[256], tokens[256];
  char *init[] = {"softhsm2-util", "--init-token", "--free", "--label", (char *)label, "--pin", (char *)pin,
                  "--so-pin", "12345678", NULL};
  FILE *fp;
  int r = -1;

  if (mkdtemp(dir_template) == NULL)
    goto out;
  snprintf(conf, sizeof conf, "%s/softhsm2.conf", dir_template);
  snprintf(tokens, sizeof tokens, "%s/tokens", dir_template);
  if (mkdir(tokens, 0700) != 0 || (fp = fopen(conf, "w")) == NULL)
    goto out;
  fprintf(fp, "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n", tokens);
  if (fclose(fp) != 0 || setenv("SOFTHSM2_CONF", conf, 1) != 0)
    goto out;
  if (fixture_run(init) != 0) {
    fprintf(stderr, "softhsm2-util --init-token failed\n");
    goto out;
  }
  r = 0;
out:
  return r;
}

/* on_path: 1 when NAME is an executable file in one of PATH's directories. */
static int on_path(const char *name)
{
  const char *path = getenv("PATH");
  char candidate[512];

  if (path == NULL)
    path = "/usr/bin:/bin";
  while (*path != '\0') {
    size_t n = strcspn(path, ":");
    if (n > 0 && n < sizeof candidate - 2 - strlen(name)) {
      snprintf(candidate, sizeof candidate, "%.*s/%s", (int)n, path, name);
      if (access(candidate, X_OK) == 0)
        return 1;
    }
    path += n;
    if (*path == ':')
      path++;
  }
  return 0;
}

void fixture_require_tools(const char *test, const char *const *extra_files)
{
  static const char *const commands[] = {"softhsm2-util", "pkcs11-tool", "openssl", NULL};
  int missing = 0;

  if (access(FIXTURE_SOFTHSM_MODULE, R_OK) != 0) {
    fprintf(stderr, "%s: cannot run: the SoftHSM module %s is missing\n", test, FIXTURE_SOFTHSM_MODULE);
    missing = 1;
  }
  for (size_t i = 0; commands[i] != NULL; i++)
    if (!on_path(commands[i])) {
      fprintf(stderr, "%s: cannot run: the command %s is missing\n", test, commands[i]);
      missing = 1;
    }
  for (size_t i = 0; extra_files != NULL && extra_files[i] != NULL; i++)
    if (access(extra_files[i], R_OK) != 0) {
      fprintf(stderr, "%s: cannot run: %s is missing\n", test, extra_files[i]);
      missing = 1;
    }
  if (missing) {
    fprintf(stderr, "%s: install the test set with: bash packaging/install-deps.sh --test\n", test);
    exit(1);
  }
}

void fixture_setup_failed(const char *test, const char *what)
{
  fprintf(stderr, "%s: setup failed: %s\n", test, what);
  exit(1);
}

/* ---- faults through the system-call seam ---- */

enum { FAULT_WRITE, FAULT_FTRUNCATE, FAULT_FDATASYNC, FAULT_FSYNC, FAULT_RENAMEAT, FAULT_SYNCFS, FAULT_CALLS };
static const char *const fault_call_names[FAULT_CALLS] = {"write", "ftruncate", "fdatasync", "fsync", "renameat",
                                                          "syncfs"};
struct fault_rule {
  int call;
  enum fixture_fault_when when;
  long at;
  int err;
};
static struct fault_rule fault_rules[8];
static int fault_rule_count;
static long fault_counts[FAULT_CALLS];
static int fault_short_done;
static long fault_free_blocks;

/* Counts a call of CALL; the errno its rule gives it, FIXTURE_FAULT_SHORT, or 0. */
static int fault_due(int call)
{
  long n = __atomic_add_fetch(&fault_counts[call], 1, __ATOMIC_SEQ_CST);
  for (int i = 0; i < fault_rule_count; i++) {
    const struct fault_rule *f = &fault_rules[i];
    if (f->call == call &&
        ((f->when == FIXTURE_FAULT_AT && n == f->at) || (f->when == FIXTURE_FAULT_FROM && n >= f->at) ||
         (f->when == FIXTURE_FAULT_AFTER_SHORT && __atomic_load_n(&fault_short_done, __ATOMIC_SEQ_CST))))
      return f->err;
  }
  return 0;
}

static ssize_t fault_write(int fd, const void *buf, size_t len)
{
  int err = fault_due(FAULT_WRITE);
  if (err == FIXTURE_FAULT_SHORT && len > 1) {
    __atomic_store_n(&fault_short_done, 1, __ATOMIC_SEQ_CST);
    return write(fd, buf, len / 2);
  }
  if (err > 0) {
    errno = err;
    return -1;
  }
  return write(fd, buf, len);
}

/* The calls of one int (int fd, ...) shape: fail with their rule's errno or go through. */
#define FAULT_OR(call, real)     \
  int err = fault_due(call);     \
  if (err > 0) {                 \
    errno = err;                 \
    return -1;                   \
  }                              \
  return real

static int fault_ftruncate(int fd, off_t len)
{
  FAULT_OR(FAULT_FTRUNCATE, ftruncate(fd, len));
}

static int fault_fdatasync(int fd)
{
  FAULT_OR(FAULT_FDATASYNC, fdatasync(fd));
}

static int fault_fsync(int fd)
{
  FAULT_OR(FAULT_FSYNC, fsync(fd));
}

static int fault_renameat(int olddir, const char *oldpath, int newdir, const char *newpath)
{
  FAULT_OR(FAULT_RENAMEAT, renameat(olddir, oldpath, newdir, newpath));
}

static int fault_syncfs(int fd)
{
  FAULT_OR(FAULT_SYNCFS, syncfs(fd));
}

static const st_syscall_ptr fault_wrappers[FAULT_CALLS] = {
    (st_syscall_ptr)fault_write, (st_syscall_ptr)fault_ftruncate, (st_syscall_ptr)fault_fdatasync,
    (st_syscall_ptr)fault_fsync, (st_syscall_ptr)fault_renameat,  (st_syscall_ptr)fault_syncfs};

static int fault_call(const char *name)
{
  for (int i = 0; i < FAULT_CALLS; i++)
    if (strcmp(fault_call_names[i], name) == 0)
      return i;
  fprintf(stderr, "fixture_fault: no call %s in the seam\n", name);
  abort();
}

void fixture_fault_count(const char *name)
{
  int call = fault_call(name);
  st_syscall_set(name, fault_wrappers[call]);
}

void fixture_fault(const char *name, enum fixture_fault_when when, long at, int err)
{
  if (fault_rule_count == (int)(sizeof fault_rules / sizeof fault_rules[0])) {
    fprintf(stderr, "fixture_fault: more than %d rules\n", fault_rule_count);
    abort();
  }
  fault_rules[fault_rule_count++] = (struct fault_rule){fault_call(name), when, at, err};
  fixture_fault_count(name);
}

long fixture_fault_calls(const char *name)
{
  return __atomic_load_n(&fault_counts[fault_call(name)], __ATOMIC_SEQ_CST);
}

static int fault_statvfs(const char *path, struct statvfs *st)
{
  int r;
  if (fault_free_blocks < 0) {
    errno = EIO;
    return -1;
  }
  r = statvfs(path, st);
  st->f_bavail = (fsblkcnt_t)fault_free_blocks;
  st->f_frsize = 4096;
  return r;
}

void fixture_fault_free_blocks(long blocks)
{
  fault_free_blocks = blocks;
  st_syscall_set("statvfs", (st_syscall_ptr)fault_statvfs);
}

void fixture_fault_clear(void)
{
  st_syscalls_reset();
  fault_rule_count = 0;
  fault_short_done = 0;
  for (int i = 0; i < FAULT_CALLS; i++)
    __atomic_store_n(&fault_counts[i], 0, __ATOMIC_SEQ_CST);
}
