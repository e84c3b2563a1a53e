/* fixture.c - temporary directories, SoftHSM tokens and child commands for the unit tests (see fixture.h). */
#include "fixture.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/err.h>

#include "error.h"
#include "hsm.h"
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

char *fixture_token_new(const char *name, const char *label, const char *pin)
{
  char *dir = malloc(128);

  if (dir == NULL)
    return NULL;
  snprintf(dir, 128, "/tmp/station-test-%s-XXXXXX", name);
  if (fixture_softhsm_token(dir, label, pin) != 0) {
    free(dir);
    return NULL;
  }
  return dir;
}

int fixture_token_free(char *dir)
{
  int r = 0;
  if (dir == NULL)
    return 0;
  r = fixture_remove_tree(dir);
  free(dir);
  return r;
}

long fixture_count_lines(const char *path)
{
  FILE *fp = fopen(path, "r");
  long n = 0;
  int c;
  if (fp == NULL)
    return 0;
  while ((c = fgetc(fp)) != EOF)
    n += c == '\n';
  fclose(fp);
  return n;
}

off_t fixture_file_size(const char *path)
{
  struct stat st;
  if (stat(path, &st) != 0)
    fail_msg("stat %s: %s", path, strerror(errno));
  return st.st_size;
}

int64_t fixture_now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- one journal directory per test ---- */

int fixture_journal_setup(void **state)
{
  struct fixture_journal *t = calloc(1, sizeof *t);
  if (t == NULL)
    return -1;
  snprintf(t->dir, sizeof t->dir, "/tmp/station-test-journal-XXXXXX");
  if (mkdtemp(t->dir) == NULL) {
    free(t);
    return -1;
  }
  snprintf(t->jpath, sizeof t->jpath, "%s/j", t->dir);
  snprintf(t->log, sizeof t->log, "%s/journal.log", t->jpath);
  *state = t;
  return 0;
}

int fixture_journal_teardown(void **state)
{
  struct fixture_journal *t = *state;
  fixture_fault_stop();
  fixture_remove_tree(t->dir);
  free(t);
  return 0;
}

/* ---- the token through hsm/ ---- */

struct hsm *fixture_hsm_login(const char *module, const char *token, const char *pin)
{
  struct hsm *h = NULL;
  struct st_detail d = {""};
  int r = hsm_open(module, token, &h, &d);
  if (r != 0)
    fail_msg("hsm_open: %s (%s)", st_error_name(r), d.text);
  r = hsm_login(h, pin, &d);
  if (r != 0)
    fail_msg("hsm_login: %s (%s)", st_error_name(r), d.text);
  return h;
}

size_t fixture_sign(EVP_PKEY *signer, const char *msg, unsigned char *sig, size_t cap)
{
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  size_t len = cap;
  if (md == NULL || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, signer) != 1
      || EVP_DigestSign(md, sig, &len, (const unsigned char *)msg, strlen(msg)) != 1)
    len = 0;
  EVP_MD_CTX_free(md);
  ERR_clear_error();
  return len;
}

int fixture_verify(EVP_PKEY *pub, const char *msg, const unsigned char *sig, size_t len)
{
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  int ok = md != NULL && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub) == 1
           && EVP_DigestVerify(md, sig, len, (const unsigned char *)msg, strlen(msg)) == 1;
  EVP_MD_CTX_free(md);
  ERR_clear_error();
  return ok;
}

int fixture_key_signs(struct hsm_key *k)
{
  static const char msg[] = "a certificate, say";
  unsigned char sig[256];
  EVP_PKEY *pub = hsm_key_public(k);
  size_t len = pub != NULL ? fixture_sign(hsm_key_signer(k), msg, sig, sizeof sig) : 0;
  int ok = len > 0 && fixture_verify(pub, msg, sig, len);
  EVP_PKEY_free(pub);
  return ok;
}

/* ---- faults through the system-call seam ---- */

/* The fault of one kind of call: calls numbered FIRST to LAST (LAST 0: no
 * end; FIRST 0: no fault) fail with ERR; with TEAR, call FIRST is torn. */
static struct fixture_fault {
  long calls; /* atomic: the worker threads make calls too */
  long first, last;
  int err;
  int tear;
} faults[FIXTURE_CALLS];
static unsigned long fault_room = FIXTURE_ROOM_REAL;

/* Counts one call of CALL: 0 to make the real call, 1 to tear it, -1 to
 * fail it (errno set, for a torn one too). */
static int fault_next(enum fixture_call call)
{
  struct fixture_fault *f = &faults[call];
  long n = __atomic_add_fetch(&f->calls, 1, __ATOMIC_SEQ_CST);
  if (f->first == 0 || n < f->first || (f->last != 0 && n > f->last))
    return 0;
  errno = f->err;
  return f->tear && n == f->first ? 1 : -1;
}

static ssize_t fault_write(int fd, const void *buf, size_t len)
{
  int f = fault_next(FIXTURE_WRITE);
  if (f == 1 && len > 1)
    return write(fd, buf, len / 2);
  return f == 0 ? write(fd, buf, len) : -1;
}

static int fault_fsync(int fd)
{
  return fault_next(FIXTURE_FSYNC) == 0 ? fsync(fd) : -1;
}

static int fault_fdatasync(int fd)
{
  return fault_next(FIXTURE_FDATASYNC) == 0 ? fdatasync(fd) : -1;
}

static int fault_renameat(int olddir, const char *oldpath, int newdir, const char *newpath)
{
  return fault_next(FIXTURE_RENAMEAT) == 0 ? renameat(olddir, oldpath, newdir, newpath) : -1;
}

static int fault_ftruncate(int fd, off_t len)
{
  return fault_next(FIXTURE_FTRUNCATE) == 0 ? ftruncate(fd, len) : -1;
}

static int fault_syncfs(int fd)
{
  return fault_next(FIXTURE_SYNCFS) == 0 ? syncfs(fd) : -1;
}

static int fault_statvfs(const char *path, struct statvfs *st)
{
  int r = fault_next(FIXTURE_STATVFS) == 0 ? statvfs(path, st) : -1;
  if (r == 0 && fault_room != FIXTURE_ROOM_REAL) {
    st->f_bavail = fault_room;
    st->f_frsize = 4096;
  }
  return r;
}

void fixture_fault_start(void)
{
  memset(faults, 0, sizeof faults);
  fault_room = FIXTURE_ROOM_REAL;
  st_syscalls_reset();
  st_syscall_set("write", (st_syscall_ptr)fault_write);
  st_syscall_set("fsync", (st_syscall_ptr)fault_fsync);
  st_syscall_set("fdatasync", (st_syscall_ptr)fault_fdatasync);
  st_syscall_set("renameat", (st_syscall_ptr)fault_renameat);
  st_syscall_set("ftruncate", (st_syscall_ptr)fault_ftruncate);
  st_syscall_set("syncfs", (st_syscall_ptr)fault_syncfs);
  st_syscall_set("statvfs", (st_syscall_ptr)fault_statvfs);
}

/* Sets the fault of CALL: from the AT-th call after this one on, COUNT calls
 * (0: all), the first of them torn when TEAR. */
static void fault_arm(enum fixture_call call, long at, long count, int err, int tear)
{
  struct fixture_fault *f = &faults[call];
  long base = __atomic_load_n(&f->calls, __ATOMIC_SEQ_CST);
  f->first = at > 0 ? base + at : 0;
  f->last = at > 0 && count > 0 ? f->first + count - 1 + tear : 0;
  f->err = err;
  f->tear = tear;
}

void fixture_fault_set(enum fixture_call call, long at, long count, int err)
{
  fault_arm(call, at, count, err, 0);
}

void fixture_fault_tear(long at, long count, int err)
{
  fault_arm(FIXTURE_WRITE, at, count, err, 1);
}

void fixture_fault_room(unsigned long blocks)
{
  fault_room = blocks;
}

long fixture_fault_calls(enum fixture_call call)
{
  return __atomic_load_n(&faults[call].calls, __ATOMIC_SEQ_CST);
}

void fixture_fault_stop(void)
{
  for (int i = 0; i < FIXTURE_CALLS; i++)
    faults[i].first = 0;
  fault_room = FIXTURE_ROOM_REAL;
  st_syscalls_reset();
}
