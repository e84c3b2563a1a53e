/* test_engine_resume.c - the engine when its journal cannot be written, and
 * how it resumes by itself (engine.h, "when the journal cannot be written").
 *
 * A real engine on a SoftHSM token (the local CA made by the key ceremony),
 * reached through tests/pkcs11 slow_token, which counts every C_Sign; the
 * journal's write, fdatasync, ftruncate and statvfs go through the
 * system-call seam. Three stops, each followed by its resumption:
 *
 *   1. the disk fills up in the middle of a group's write (a short write,
 *      then ENOSPC, and the cut-back fails too: a torn tail stays on disk):
 *      the commit fails with no-space and nothing of the group may go out;
 *      JOURNAL_STOPPED names the journal and its file system; requests are
 *      then refused at once with no-space (a CSR issued before included),
 *      with no signature; while the disk stays full (statvfs) the engine
 *      stays stopped and the torn tail stays; once there is room it resumes
 *      within its 2 s period: the torn tail is cut, the requests refused
 *      meanwhile are journaled as refusals with their own time, the CSR of
 *      the failed group is signed once more and issued once, the CSR issued
 *      before is handed back without a signature;
 *   2. an fdatasync fails with EIO: stopped with "journal", resumes;
 *   3. a group sealed in its own write is durable; refusals made while logged
 *      out are committed unsealed; the checkpoint that seals them after the
 *      next login fails to be written: the engine stops, and after resuming
 *      the CSR of the sealed group is handed back from the journal, unsigned.
 * Every time: the journal verifies, and an engine opened on it afterwards
 * logs in (the head on the token agrees with it). Skipped (77) without
 * SoftHSM or the openssl tool. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ceremony.h"
#include "config.h"
#include "csr_factory.h"
#include "engine.h"
#include "fixture.h"
#include "station_fixture.h"
#include "error.h"
#include "journal.h"
#include "syscalls.h"

#define SOFTHSM FIXTURE_SOFTHSM_MODULE
#define PIN "1234"
#define FACTORY "acme-factory"

struct fixture {
  char dir[64];
  char journal[128];
  char log[160];
  char count[128];
  struct station_config *cfg;
};

/* ---- events ---- */

#define EVENTS_MAX 64
static struct {
  enum engine_event_kind kind;
  int code;
  char source[256];
  char detail[512];
  char filesystem[256];
} events[EVENTS_MAX];
static int event_count;

static void record_event(void *arg, const struct engine_event *ev)
{
  (void)arg;
  if (event_count >= EVENTS_MAX)
    return;
  events[event_count].kind = ev->kind;
  events[event_count].code = ev->code;
  snprintf(events[event_count].source, sizeof events[event_count].source, "%s", ev->source);
  snprintf(events[event_count].detail, sizeof events[event_count].detail, "%s", ev->detail);
  snprintf(events[event_count].filesystem, sizeof events[event_count].filesystem, "%s", ev->filesystem);
  event_count++;
}

/* The number of events of KIND (with CODE unless CODE is 1) since FROM. */
static int events_of(int from, enum engine_event_kind kind, int code)
{
  int n = 0;
  for (int i = from; i < event_count; i++)
    n += events[i].kind == kind && (code == 1 || events[i].code == code);
  return n;
}

/* ---- the seam ---- */

/* No fault, the real calls, and the writes counted from here (fixture_fault). */
static void seam_clear(void)
{
  fixture_fault_clear();
  fixture_fault_count("write");
}

/* ---- the fixture ---- */

static int group_setup(void **state)
{
  struct fixture *f = calloc(1, sizeof *f);

  static const char *const slow_token[] = {SLOW_TOKEN, NULL};

  fixture_require_tools("test_engine_resume", slow_token);
  if (f == NULL)
    fixture_setup_failed("test_engine_resume", "out of memory");
  snprintf(f->dir, sizeof f->dir, "/tmp/station-test-resume-XXXXXX");
  if (fixture_softhsm_token(f->dir, "station", PIN) != 0)
    return -1;
  snprintf(f->count, sizeof f->count, "%s/signatures", f->dir);
  setenv("SLOW_TOKEN_MODULE", SOFTHSM, 1);
  setenv("SLOW_TOKEN_COUNT", f->count, 1);
  if (station_fixture_setup(f->dir, FACTORY, SLOW_TOKEN, "STATION_RESUME_PIN", PIN, "fio-resume", &f->cfg) != 0)
    return -1;
  snprintf(f->journal, sizeof f->journal, "%s/journal", f->dir);
  snprintf(f->log, sizeof f->log, "%s/journal.log", f->journal);
  *state = f;
  return 0;
}

static int group_teardown(void **state)
{
  struct fixture *f = *state;
  fixture_fault_clear();
  config_free(f->cfg);
  fixture_remove_tree(f->dir);
  free(f);
  return 0;
}

/* ---- helpers ---- */

/* A device CSR (DER) for device number N: its own key, CN and OU. */
struct device {
  uint8_t *der;
  size_t len;
};

static void make_device(struct device *dev, int n)
{
  char uuid[37];
  EVP_PKEY *key = EVP_EC_gen("P-256");
  snprintf(uuid, sizeof uuid, "2b0d7c1e-0000-4000-8000-%012d", n);
  dev->der = test_device_csr(key, uuid, FACTORY, &dev->len);
  assert_non_null(dev->der);
  EVP_PKEY_free(key);
}

static long signatures(const struct fixture *f)
{
  FILE *fp = fopen(f->count, "r");
  long n = 0;
  int c;
  if (fp == NULL)
    return 0;
  while ((c = fgetc(fp)) != EOF)
    n += c == '\n';
  fclose(fp);
  return n;
}

static off_t file_size(const char *path)
{
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  return st.st_size;
}

static int64_t now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Past the engine's 2 s between attempts. */
static void wait_for_next_attempt(void)
{
  usleep(2100 * 1000);
}

static struct engine *open_engine(const struct fixture *f)
{
  struct engine *e = NULL;
  struct st_detail d = {""};
  struct engine_sink sink = {record_event, NULL};
  if (engine_open(f->cfg, &e, &d) != ST_OK)
    fail_msg("engine_open: %s", d.text);
  assert_int_equal(engine_add_sink(e, &sink), ST_OK);
  if (engine_login(e, PIN, &d) != ST_OK)
    fail_msg("engine_login: %s", d.text);
  return e;
}

/* Submits DEV; returns the code; the result goes to RES (caller cleans up). */
static int submit(struct engine *e, const struct device *dev, struct engine_result *res)
{
  return engine_submit(e, "serial:/dev/ttyTEST0", dev->der, dev->len, res);
}

/* Records of EVENT (with REASON when not NULL) in the journal file. */
static int journal_lines(const struct fixture *f, const char *event, const char *reason)
{
  FILE *fp = fopen(f->log, "r");
  char *line = NULL, ev[32], rs[64];
  size_t cap = 0;
  int n = 0;
  assert_non_null(fp);
  while (getline(&line, &cap, fp) > 0) {
    if (sscanf(line, "%*s %*s %31s %*s %*s %*s %*s %*s %63s", ev, rs) == 2 && strcmp(ev, event) == 0 &&
        (reason == NULL || strcmp(rs, reason) == 0))
      n++;
  }
  free(line);
  fclose(fp);
  return n;
}

/* The journal verifies, and an engine opened on it logs in (the head on
 * the token agrees with it). */
static void check_journal(const struct fixture *f)
{
  struct journal_verify_report vr;
  struct st_detail d = {""};
  struct engine *e;
  if (journal_verify(f->journal, &vr, &d) != ST_OK)
    fail_msg("journal verify: %s", d.text);
  assert_int_equal(vr.torn_tail, 0);
  e = open_engine(f);
  engine_close(e);
}

/* ---- 1. the disk fills up in the middle of a group ---- */

static void test_disk_full_then_room(void **state)
{
  struct fixture *f = *state;
  struct engine *e = open_engine(f);
  struct engine_result res;
  struct st_detail d = {""};
  struct device a, b, c;
  long before;
  off_t durable;
  int first, r;
  int64_t t0;

  make_device(&a, 1);
  make_device(&b, 2);
  make_device(&c, 3);
  seam_clear();
  assert_int_equal(submit(e, &a, &res), ST_OK);
  assert_int_equal(res.code, ST_OK);
  engine_result_cleanup(&res);
  assert_int_equal(engine_commit(e, &d), ST_OK);
  durable = file_size(f->log);

  /* B is signed, then its group's write is torn by a full disk */
  first = event_count;
  before = signatures(f);
  fixture_fault("write", FIXTURE_FAULT_AT, fixture_fault_calls("write") + 1, FIXTURE_FAULT_SHORT);
  fixture_fault("write", FIXTURE_FAULT_FROM, fixture_fault_calls("write") + 2, ENOSPC);
  fixture_fault("ftruncate", FIXTURE_FAULT_FROM, 1, EIO);
  fixture_fault_free_blocks(3);
  assert_int_equal(submit(e, &b, &res), ST_OK);
  assert_int_equal(res.code, ST_OK); /* decided; not released unless the commit succeeds */
  engine_result_cleanup(&res);
  assert_int_equal(signatures(f), before + 1);
  assert_int_equal(engine_commit(e, &d), ST_E_NO_SPACE);
  assert_non_null(strstr(d.text, "the journal disk is full"));
  assert_non_null(strstr(d.text, f->log));
  assert_non_null(strstr(d.text, "nothing was released"));
  assert_true(file_size(f->log) > durable); /* the torn tail is there */
  assert_int_equal(engine_journal_stopped(e), ST_E_NO_SPACE);
  assert_int_equal(events_of(first, ENGINE_EVENT_JOURNAL_STOPPED, ST_E_NO_SPACE), 1);
  assert_int_equal(events_of(first, ENGINE_EVENT_ISSUED, 1), 0); /* B's event never went out */
  for (int i = first; i < event_count; i++)
    if (events[i].kind == ENGINE_EVENT_JOURNAL_STOPPED) {
      assert_string_equal(events[i].source, f->log);
      assert_true(events[i].filesystem[0] == '/');
      assert_non_null(strstr(f->log, events[i].filesystem));
    }
  seam_clear();
  fixture_fault_free_blocks(3); /* the disk stays full */

  /* stopped: every request refused at once, no signature, nothing appended */
  before = signatures(f);
  t0 = now_ms();
  assert_int_equal(submit(e, &c, &res), ST_E_NO_SPACE);
  assert_true(now_ms() - t0 < 500);
  assert_int_equal(res.code, ST_E_NO_SPACE);
  assert_null(res.cert_der);
  assert_non_null(strstr(res.detail.text, "the journal disk is full"));
  assert_non_null(strstr(res.detail.text, f->log));
  engine_result_cleanup(&res);
  assert_int_equal(submit(e, &a, &res), ST_E_NO_SPACE); /* even a CSR issued before */
  engine_result_cleanup(&res);
  assert_int_equal(engine_refuse(e, "serial:/dev/ttyTEST0", ST_E_TIMEOUT, "no byte for 5000 ms", &res),
                   ST_E_NO_SPACE);
  engine_result_cleanup(&res);
  assert_int_equal(engine_commit(e, &d), ST_OK); /* nothing to make durable: the refusals may go out */
  assert_int_equal(signatures(f), before);

  /* still full: it stays stopped, the torn tail is left as it is */
  wait_for_next_attempt();
  assert_int_equal(engine_resume(e, &d), ST_E_NO_SPACE);
  assert_non_null(strstr(d.text, "has 12.0 KiB free; the station needs 1.0 MiB"));
  assert_non_null(strstr(d.text, f->log));
  assert_int_equal(submit(e, &c, &res), ST_E_NO_SPACE);
  assert_non_null(strstr(res.detail.text, "has 12.0 KiB free"));
  engine_result_cleanup(&res);
  assert_true(file_size(f->log) > durable);

  /* room again: not before the next attempt is due, then by itself */
  first = event_count;
  st_syscall_set("statvfs", NULL); /* the real free space */
  assert_int_equal(engine_resume(e, &d), ST_E_NO_SPACE);
  wait_for_next_attempt();
  r = engine_resume(e, &d);
  if (r != ST_OK)
    fail_msg("engine_resume: %s", d.text);
  assert_int_equal(engine_journal_stopped(e), 0);
  assert_int_equal(events_of(first, ENGINE_EVENT_JOURNAL_RESUMED, ST_OK), 1);
  /* B (its group failed), C twice, A, the timeout: five requests turned away, five refusals */
  assert_int_equal(events_of(first, ENGINE_EVENT_REFUSED, ST_E_NO_SPACE), 5);
  assert_int_equal(journal_lines(f, "refused", "no-space"), 5);
  assert_int_equal(journal_lines(f, "issued", NULL), 1);
  if (journal_verify(f->journal, NULL, &d) != ST_OK)
    fail_msg("journal verify after resuming: %s", d.text);

  /* asked again: B signed once and issued, A handed back unsigned, C signed once */
  before = signatures(f);
  assert_int_equal(submit(e, &b, &res), ST_OK);
  assert_int_equal(res.code, ST_OK);
  assert_int_equal(res.from_journal, 0);
  engine_result_cleanup(&res);
  assert_int_equal(submit(e, &a, &res), ST_OK);
  assert_int_equal(res.from_journal, 1);
  engine_result_cleanup(&res);
  assert_int_equal(submit(e, &c, &res), ST_OK);
  assert_int_equal(res.from_journal, 0);
  engine_result_cleanup(&res);
  assert_int_equal(engine_commit(e, &d), ST_OK);
  assert_int_equal(signatures(f), before + 2 + 1); /* B, C, and the commit's seal */
  assert_int_equal(journal_lines(f, "issued", NULL), 3);
  assert_int_equal(journal_lines(f, "handed-back", NULL), 1);
  engine_close(e);
  seam_clear();
  check_journal(f);
  OPENSSL_free(a.der);
  OPENSSL_free(b.der);
  OPENSSL_free(c.der);
  fixture_fault_clear();
}

/* ---- 2. a failing fdatasync ---- */

static void test_sync_fails_then_works(void **state)
{
  struct fixture *f = *state;
  struct engine *e = open_engine(f);
  struct engine_result res;
  struct st_detail d = {""};
  struct device g;
  int first = event_count, r;

  make_device(&g, 4);
  seam_clear();
  fixture_fault("fdatasync", FIXTURE_FAULT_FROM, 1, EIO);
  assert_int_equal(submit(e, &g, &res), ST_OK);
  engine_result_cleanup(&res);
  assert_int_equal(engine_commit(e, &d), ST_E_JOURNAL);
  assert_non_null(strstr(d.text, "the journal cannot be written"));
  assert_int_equal(engine_journal_stopped(e), ST_E_JOURNAL);
  assert_int_equal(events_of(first, ENGINE_EVENT_JOURNAL_STOPPED, ST_E_JOURNAL), 1);
  assert_int_equal(submit(e, &g, &res), ST_E_JOURNAL);
  assert_non_null(strstr(res.detail.text, "the journal cannot be written"));
  engine_result_cleanup(&res);
  seam_clear();
  wait_for_next_attempt();
  r = engine_resume(e, &d);
  if (r != ST_OK)
    fail_msg("engine_resume: %s", d.text);
  assert_int_equal(submit(e, &g, &res), ST_OK);
  assert_int_equal(res.from_journal, 0);
  engine_result_cleanup(&res);
  assert_int_equal(engine_commit(e, &d), ST_OK);
  assert_int_equal(journal_lines(f, "refused", "journal"), 2);
  engine_close(e);
  seam_clear();
  check_journal(f);
  OPENSSL_free(g.der);
  fixture_fault_clear();
}

/* ---- 3. a checkpoint's commit fails after a durable group ---- */

static void test_checkpoint_fails(void **state)
{
  struct fixture *f = *state;
  struct engine *e = open_engine(f);
  struct engine_result res;
  struct st_detail d = {""};
  struct device h;
  uint8_t *cert = NULL;
  size_t cert_len = 0;
  long before;
  int r;

  make_device(&h, 5);
  seam_clear();
  assert_int_equal(submit(e, &h, &res), ST_OK);
  assert_int_equal(engine_commit(e, &d), ST_OK); /* sealed in the same write */
  cert = res.cert_der;
  cert_len = res.cert_len;
  res.cert_der = NULL;
  engine_result_cleanup(&res);
  /* logged out: refusals are committed unsealed (no token to seal with) */
  engine_logout(e);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(engine_refuse(e, "serial:/dev/ttyTEST1", ST_E_TIMEOUT, "no byte for 5000 ms", &res), ST_OK);
    engine_result_cleanup(&res);
  }
  assert_int_equal(engine_commit(e, &d), ST_OK);
  if (engine_login(e, PIN, &d) != ST_OK)
    fail_msg("engine_login: %s", d.text);
  /* the checkpoint that seals them: its write fails; what came before is durable */
  fixture_fault("write", FIXTURE_FAULT_FROM, fixture_fault_calls("write") + 1, ENOSPC);
  assert_int_equal(engine_checkpoint(e, &d), ST_E_NO_SPACE);
  assert_int_equal(engine_journal_stopped(e), ST_E_NO_SPACE);
  assert_int_equal(journal_lines(f, "issued", NULL), 5);
  assert_int_equal(journal_lines(f, "refused", "timeout"), 3);
  seam_clear();
  wait_for_next_attempt();
  r = engine_resume(e, &d);
  if (r != ST_OK)
    fail_msg("engine_resume: %s", d.text);
  before = signatures(f);
  assert_int_equal(submit(e, &h, &res), ST_OK);
  assert_int_equal(res.from_journal, 1);
  assert_int_equal(res.cert_len, cert_len);
  assert_memory_equal(res.cert_der, cert, cert_len);
  engine_result_cleanup(&res);
  assert_int_equal(engine_commit(e, &d), ST_OK);
  assert_int_equal(signatures(f), before + 1); /* handed back: no signature but the commit's seal */
  engine_close(e);
  seam_clear();
  check_journal(f);
  assert_true(journal_lines(f, "checkpoint", NULL) >= 3);
  free(cert);
  OPENSSL_free(h.der);
  fixture_fault_clear();
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_disk_full_then_room),
      cmocka_unit_test(test_sync_fails_then_works),
      cmocka_unit_test(test_checkpoint_fails),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
