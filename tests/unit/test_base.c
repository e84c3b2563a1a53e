/*
 * test_base.c - the base layer (station/base): the classes of the error
 * table, the system-call seam set by name, the one read/write loop (short
 * transfers, EINTR, the end of a file), the two clocks, the PIN, the
 * growable buffer, the worker pool's help (work_group_help) and its
 * threads' priority.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "error.h"
#include "pin.h"
#include "syscalls.h"
#include "workers.h"
#include "xbuf.h"

/* The classes beside the kind: who stops, who logs in again, who exits 1. */
static void test_error_classes(void **state)
{
  (void)state;
  assert_true(st_error_has(ST_E_HSM, ST_CLASS_TOKEN_FAULT));
  assert_true(st_error_has(ST_E_CRYPTO, ST_CLASS_TOKEN_FAULT));
  assert_false(st_error_has(ST_E_HSM_PIN, ST_CLASS_TOKEN_FAULT));
  assert_false(st_error_has(ST_E_HSM_TIMEOUT, ST_CLASS_TOKEN_FAULT));

  assert_true(st_error_has(ST_E_JOURNAL_CORRUPT, ST_CLASS_JOURNAL_UNTRUSTED));
  assert_true(st_error_has(ST_E_JOURNAL_ROLLBACK, ST_CLASS_JOURNAL_UNTRUSTED | ST_CLASS_CHECK_FAILED));
  assert_false(st_error_has(ST_E_CHECKPOINT, ST_CLASS_JOURNAL_UNTRUSTED));
  assert_true(st_error_has(ST_E_CHECKPOINT, ST_CLASS_CHECK_FAILED));

  assert_true(st_error_has(ST_E_NO_SPACE, ST_CLASS_STOPS_RELEASE));
  assert_true(st_error_has(ST_E_JOURNAL_LOCKED, ST_CLASS_STOPS_RELEASE));
  assert_false(st_error_has(ST_E_JOURNAL_ROLLBACK, ST_CLASS_STOPS_RELEASE));
  assert_false(st_error_has(ST_E_HSM, ST_CLASS_STOPS_RELEASE));

  assert_true(st_error_has(ST_E_EXPORT_MANIFEST, ST_CLASS_CHECK_FAILED));
  assert_false(st_error_has(ST_E_AUDIT_UNKNOWN_KEY, ST_CLASS_CHECK_FAILED));

  /* no class at all: success, a refusal, an empty question, a value not in the table */
  assert_false(st_error_has(ST_OK, ST_CLASS_STOPS_RELEASE));
  assert_false(st_error_has(ST_E_KEY_REUSED, ST_CLASS_CHECK_FAILED));
  assert_false(st_error_has(ST_E_HSM, 0));
  assert_false(st_error_has(-12345, ST_CLASS_TOKEN_FAULT));
  assert_string_equal(st_error_name(-12345), "unknown");
}

/* ---- the seam and the loop ---- */

static int calls;

/* One byte at a time, and EINTR before every other call. */
static ssize_t write_dribble(int fd, const void *buf, size_t len)
{
  if (calls++ % 2 == 0) {
    errno = EINTR;
    return -1;
  }
  return write(fd, buf, len > 0 ? 1 : 0);
}

static ssize_t read_dribble(int fd, void *buf, size_t len)
{
  if (calls++ % 2 == 0) {
    errno = EINTR;
    return -1;
  }
  return read(fd, buf, len > 0 ? 1 : 0);
}

static ssize_t write_nothing(int fd, const void *buf, size_t len)
{
  (void)fd, (void)buf, (void)len;
  return 0;
}

static int fdatasync_enospc(int fd)
{
  (void)fd;
  errno = ENOSPC;
  return -1;
}

static void test_seam_by_name(void **state)
{
  int p[2];
  (void)state;
  assert_int_equal(pipe(p), 0);
  /* a name not in the table changes nothing */
  assert_int_equal(st_syscall_set("unlink", (st_syscall_ptr)fdatasync_enospc), -1);
  assert_null(st_syscall_real("unlink"));
  assert_true(st_syscall_real("fdatasync") == (st_syscall_ptr)fdatasync);
  assert_int_equal(st_sys.fdatasync(p[1]), -1); /* the real call: a pipe cannot be synced */
  assert_int_equal(errno, EINVAL);
  assert_int_equal(st_syscall_set("fdatasync", (st_syscall_ptr)fdatasync_enospc), 0);
  assert_int_equal(st_sys.fdatasync(p[1]), -1);
  assert_int_equal(errno, ENOSPC);
  assert_int_equal(st_syscall_set("fdatasync", NULL), 0); /* the real one back */
  assert_int_equal(st_sys.fdatasync(p[1]), -1);
  assert_int_equal(errno, EINVAL);
  st_syscalls_reset();
  close(p[0]);
  close(p[1]);
}

static void test_io_loop(void **state)
{
  int p[2];
  char got[16] = "";
  (void)state;
  assert_int_equal(pipe(p), 0);
  calls = 0;
  st_syscall_set("write", (st_syscall_ptr)write_dribble);
  st_syscall_set("read", (st_syscall_ptr)read_dribble);
  assert_int_equal(st_write_all(p[1], "station", 7), 0);
  assert_int_equal(calls, 14); /* seven EINTRs, seven one-byte writes */
  close(p[1]);
  calls = 0;
  assert_int_equal(st_read_full(p[0], got, sizeof got), 7); /* the end of the pipe ends it */
  assert_memory_equal(got, "station", 7);
  /* a write that moves nothing is an error, not a loop */
  st_syscall_set("write", (st_syscall_ptr)write_nothing);
  errno = 0;
  assert_int_equal(st_write_all(p[0], "x", 1), -1);
  assert_int_equal(errno, EIO);
  st_syscalls_reset();
  /* a real error comes back as it is */
  assert_int_equal(st_read_full(-1, got, 1), -1);
  assert_int_equal(errno, EBADF);
  close(p[0]);
}

/* ---- the clocks ---- */

static void test_clocks(void **state)
{
  struct timespec nap = {0, 20 * 1000 * 1000}, before, after;
  int64_t m0 = st_mono_ms(), w0, m1;
  (void)state;
  /* the wall clock is CLOCK_REALTIME in ms (time(NULL) reads a coarser clock
   * that can lag it by a tick, so it is not the reference) */
  clock_gettime(CLOCK_REALTIME, &before);
  w0 = st_wall_ms();
  clock_gettime(CLOCK_REALTIME, &after);
  assert_true(w0 >= (int64_t)before.tv_sec * 1000 + before.tv_nsec / 1000000 &&
              w0 <= (int64_t)after.tv_sec * 1000 + after.tv_nsec / 1000000);
  nanosleep(&nap, NULL);
  m1 = st_mono_ms();
  assert_true(m1 - m0 >= 20);
}

/* ---- the PIN ---- */

static void test_pin(void **state)
{
  struct pin *p = pin_new(), *c;
  struct st_detail d = {""};
  enum pin_source kind;
  const char *ref;
  char longer[PIN_MAX + 2];
  (void)state;
  assert_non_null(p);
  assert_string_equal(pin_value(p), "");
  assert_string_equal(pin_value(NULL), "");
  assert_int_equal(pin_set(p, "1234"), 0);
  c = pin_copy(p);
  assert_non_null(c);
  /* a copy is its own: typing into one leaves the other */
  assert_int_equal(pin_append(p, '5'), 0);
  pin_chop(c);
  assert_string_equal(pin_value(p), "12345");
  assert_int_equal(pin_length(p), 5);
  assert_string_equal(pin_value(c), "123");
  pin_clear(p);
  assert_string_equal(pin_value(p), "");
  assert_int_equal(pin_length(p), 0);
  pin_chop(p); /* nothing to take off */
  assert_int_equal(pin_length(p), 0);
  /* the cap */
  memset(longer, '7', sizeof longer - 1);
  longer[PIN_MAX + 1] = '\0';
  assert_int_equal(pin_set(p, longer), -1);
  assert_string_equal(pin_value(p), "");
  longer[PIN_MAX] = '\0';
  assert_int_equal(pin_set(p, longer), 0);
  assert_int_equal(pin_append(p, '8'), -1);
  assert_int_equal(pin_length(p), PIN_MAX);
  pin_free(p);
  pin_free(c);
  pin_free(NULL);

  /* from the environment */
  setenv("TEST_BASE_PIN", "246810", 1);
  assert_int_equal(pin_parse_source("env:TEST_BASE_PIN", &kind, &ref), ST_OK);
  assert_int_equal(kind, PIN_FROM_ENV);
  assert_int_equal(pin_obtain(kind, ref, NULL, &p, &d), ST_OK);
  assert_string_equal(pin_value(p), "246810");
  pin_free(p);
  unsetenv("TEST_BASE_PIN");
  assert_int_equal(pin_obtain(kind, ref, NULL, &p, &d), ST_E_PIN_SOURCE);
  assert_null(p);
  assert_string_equal(d.text, "hsm.pin is env:TEST_BASE_PIN but that environment variable is not set");
  assert_int_equal(pin_parse_source("/etc/station/pin", &kind, &ref), ST_OK);
  assert_int_equal(kind, PIN_FROM_FILE);
  assert_int_equal(pin_parse_source("env:", &kind, &ref), ST_E_USAGE);
}

/* ---- the buffer ---- */

static void test_xbuf(void **state)
{
  struct xbuf b = {0};
  (void)state;
  /* reserve, then write in place */
  assert_int_equal(xb_reserve(&b, 3), ST_OK);
  memcpy(b.data, "abc", 3);
  b.len = 3;
  xb_printf(&b, "-%d-", 42);
  assert_string_equal(b.data, "abc-42-");
  xb_csv(&b, "a,\"b\"");
  assert_string_equal(b.data, "abc-42-\"a,\"\"b\"\"\"");
  xb_free(&b);
  assert_null(b.data);
  assert_int_equal(b.len, 0);
  /* a cap: a reserve past it fails and changes nothing; an append past it is sticky */
  b.max = 8;
  xb_str(&b, "12345678");
  assert_false(b.failed);
  assert_int_equal(xb_reserve(&b, 1), ST_E_TOO_LARGE);
  assert_int_equal(b.len, 8);
  xb_str(&b, "9");
  assert_true(b.failed);
  xb_truncate(&b, 4);
  xb_str(&b, "x"); /* failed stays: nothing is added */
  assert_string_equal(b.data, "1234");
  assert_int_equal(xb_reserve(&b, 4), ST_OK); /* reserve ignores failed: room up to the cap */
  assert_int_equal(xb_reserve(&b, (size_t)-1), ST_E_NO_MEMORY);
  xb_free(&b);
  assert_false(b.failed);
  assert_int_equal(b.max, 8);
}

/* Arrays grow by doubling from FIRST, up to MAX, and stay as they were when they cannot. */
static void test_array_grow(void **state)
{
  int *a = NULL, *grown;
  size_t cap = 0, n = 0;
  (void)state;
  for (int i = 0; i < 20; i++) {
    grown = st_array_grow(a, &cap, n, sizeof *a, 4, 16);
    if (grown == NULL)
      break;
    a = grown;
    a[n++] = i;
  }
  assert_int_equal(n, 16); /* 4, 8, 16, then the cap */
  assert_int_equal(cap, 16);
  assert_int_equal(a[15], 15);
  assert_null(st_array_grow(a, &cap, n, sizeof *a, 4, 16));
  assert_int_equal(cap, 16);
  assert_true(st_array_grow(a, &cap, 3, sizeof *a, 4, 16) == a); /* room: the same array */
  cap = SIZE_MAX / 2;
  assert_null(st_array_grow(a, &cap, cap, sizeof *a, 4, 0)); /* an overflow, not a huge realloc */
  free(a);
}

/* A task of the pool test: notes the thread it ran on; the gate task holds
 * its pool thread until the gate opens. */
struct help_task {
  pthread_t ran_on;
  int ran;
  int gate;                  /* 1: wait for the gate */
  pthread_mutex_t *lock;
  pthread_cond_t *cond;
  int *open, *holding;
};

static void help_task_run(void *arg)
{
  struct help_task *t = arg;
  t->ran_on = pthread_self();
  if (t->gate) {
    pthread_mutex_lock(t->lock);
    *t->holding = 1;
    pthread_cond_broadcast(t->cond);
    while (!*t->open)
      pthread_cond_wait(t->cond, t->lock);
    pthread_mutex_unlock(t->lock);
  }
  __atomic_store_n(&t->ran, 1, __ATOMIC_RELEASE);
}

/* work_group_help runs the group's queued tasks on the caller, in order,
 * and leaves other groups' tasks (queued before and after them) to the
 * pool: with the pool's one thread held by a gate task, the helped group
 * still finishes, on the calling thread. */
static void test_work_group_help(void **state)
{
  pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
  int open = 0, holding = 0;
  struct workers *w = workers_new(1, "st-test", 0);
  struct work_group *other = work_group_new(), *mine = work_group_new();
  struct help_task gate = {.gate = 1, .lock = &lock, .cond = &cond, .open = &open, .holding = &holding};
  struct help_task before = {0}, after = {0}, own[3];
  (void)state;
  memset(own, 0, sizeof own);
  assert_non_null(w);
  assert_non_null(other);
  assert_non_null(mine);
  assert_int_equal(workers_submit(w, other, help_task_run, &gate), ST_OK);
  pthread_mutex_lock(&lock);
  while (!holding) /* the pool's thread is inside the gate task */
    pthread_cond_wait(&cond, &lock);
  pthread_mutex_unlock(&lock);
  assert_int_equal(workers_submit(w, other, help_task_run, &before), ST_OK);
  for (int i = 0; i < 3; i++)
    assert_int_equal(workers_submit(w, mine, help_task_run, &own[i]), ST_OK);
  assert_int_equal(workers_submit(w, other, help_task_run, &after), ST_OK);

  work_group_help(w, mine);
  for (int i = 0; i < 3; i++) {
    assert_true(__atomic_load_n(&own[i].ran, __ATOMIC_ACQUIRE));
    assert_true(pthread_equal(own[i].ran_on, pthread_self()));
  }
  assert_false(__atomic_load_n(&before.ran, __ATOMIC_ACQUIRE)); /* still queued behind the gate */
  assert_false(__atomic_load_n(&after.ran, __ATOMIC_ACQUIRE));

  pthread_mutex_lock(&lock);
  open = 1;
  pthread_cond_broadcast(&cond);
  pthread_mutex_unlock(&lock);
  work_group_wait(other);
  assert_true(before.ran && after.ran && gate.ran);
  assert_false(pthread_equal(before.ran_on, pthread_self()));
  assert_false(pthread_equal(after.ran_on, pthread_self()));
  /* a group with nothing queued: help returns at once; a NULL pool only waits */
  work_group_help(w, mine);
  work_group_help(NULL, mine);
  work_group_free(mine);
  work_group_free(other);
  workers_free(w);
}

/* A task of the priority test: the nice value of the thread it runs on. */
static void nice_task_run(void *arg)
{
  errno = 0;
  *(int *)arg = getpriority(PRIO_PROCESS, (id_t)gettid());
  if (errno != 0)
    *(int *)arg = -100;
}

/* A pool made with a nice value runs its tasks at that value; a pool made
 * with 0 at the process's own; the calling thread is not changed. */
static void test_workers_nice(void **state)
{
  int own = getpriority(PRIO_PROCESS, (id_t)gettid()), slack = -100, plain = -100;
  struct workers *low = workers_new(1, "st-test", WORKERS_NICE_SLACK), *normal = workers_new(1, "st-test", 0);
  struct work_group *g = work_group_new();
  (void)state;
  assert_non_null(low);
  assert_non_null(normal);
  assert_non_null(g);
  assert_int_equal(workers_submit(low, g, nice_task_run, &slack), ST_OK);
  assert_int_equal(workers_submit(normal, g, nice_task_run, &plain), ST_OK);
  work_group_wait(g);
  if (own <= WORKERS_NICE_SLACK) /* raising the nice value needs no privilege */
    assert_int_equal(slack, WORKERS_NICE_SLACK);
  assert_int_equal(plain, own);
  assert_int_equal(getpriority(PRIO_PROCESS, (id_t)gettid()), own);
  work_group_free(g);
  workers_free(low);
  workers_free(normal);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_error_classes),
      cmocka_unit_test(test_seam_by_name),
      cmocka_unit_test(test_io_loop),
      cmocka_unit_test(test_clocks),
      cmocka_unit_test(test_pin),
      cmocka_unit_test(test_xbuf),
      cmocka_unit_test(test_array_grow),
      cmocka_unit_test(test_work_group_help),
      cmocka_unit_test(test_workers_nice),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
