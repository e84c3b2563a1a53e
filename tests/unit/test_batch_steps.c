/* test_batch_steps.c - a batch driven in steps (batch.h: batch_open,
 * batch_step, batch_progress, batch_finished, batch_close), the way the
 * service's loop drives it, on a real engine (a SoftHSM token made in a
 * temporary directory, the local CA made by the key ceremony):
 *   - a stick of 600 CSRs is 3 groups (256, 256, 88): progress after each
 *     step, finished after the third;
 *   - closed after one step, the batch leaves 344 entries (summary.left),
 *     writes 256 certificates and journals 256 issued records;
 *   - an inspection then finds those 256 issued before (batch_inspect_collect
 *     beside the engine, batch_inspect_issued on its thread);
 *   - signing the stick again in steps hands 256 back and issues 344;
 *   - every engine event carries the journal's counts as they are when it
 *     leaves (the sink never calls the engine). */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "batch.h"
#include "config.h"
#include "csr_factory.h"
#include "engine.h"
#include "error.h"
#include "fixture.h"
#include "station_fixture.h"

#define MODULE FIXTURE_SOFTHSM_MODULE
#define PIN "1234"
#define FACTORY "acme-factory"
#define STICK_CSRS 600

struct fixture {
  struct station_fixture st; /* first: station_fixture_teardown frees the whole */
  char stick[128];
};

/* What the sink saw: the events, and the counts of the last one. */
struct seen {
  size_t issued_events, redelivered_events;
  uint64_t records, issued, refused;
};

static void on_event(void *arg, const struct engine_event *ev)
{
  struct seen *seen = arg;
  seen->issued_events += ev->kind == ENGINE_EVENT_ISSUED;
  seen->redelivered_events += ev->kind == ENGINE_EVENT_REDELIVERED;
  seen->records = ev->records;
  seen->issued = ev->issued;
  seen->refused = ev->refused;
}

static size_t count_files(const char *dir)
{
  size_t n = 0;
  DIR *d = opendir(dir);
  struct dirent *ent;
  while (d != NULL && (ent = readdir(d)) != NULL)
    n += ent->d_name[0] != '.';
  if (d != NULL)
    closedir(d);
  return n;
}

static int group_setup(void **state)
{
  struct fixture *f = calloc(1, sizeof *f);
  char path[256];

  fixture_require_tools("test_batch_steps", NULL);
  if (f == NULL)
    fixture_setup_failed("test_batch_steps", "out of memory");
  if (station_fixture_token(&f->st, "steps", PIN) != 0 ||
      station_fixture_setup(&f->st, FACTORY, MODULE, "STATION_STEPS_PIN", PIN, "fio-steps") != 0)
    fixture_setup_failed("test_batch_steps", "the station could not be set up");
  snprintf(f->stick, sizeof f->stick, "%s/stick", f->st.dir);
  snprintf(path, sizeof path, "%s/csr", f->stick);
  if (mkdir(f->stick, 0700) != 0 || mkdir(path, 0700) != 0)
    fixture_setup_failed("test_batch_steps", "cannot make the stick");
  for (int i = 0; i < STICK_CSRS; i++) {
    EVP_PKEY *key = EVP_EC_gen("P-256");
    char uuid[37], file[300];
    size_t len = 0;
    uint8_t *der;
    FILE *fp;
    snprintf(uuid, sizeof uuid, "00000000-0000-4000-8000-%012d", i);
    der = test_device_csr(key, uuid, FACTORY, &len);
    snprintf(file, sizeof file, "%s/board-%03d.der", path, i);
    fp = fopen(file, "wb");
    if (key == NULL || der == NULL || fp == NULL || fwrite(der, 1, len, fp) != len || fclose(fp) != 0)
      fixture_setup_failed("test_batch_steps", "cannot write a CSR");
    OPENSSL_free(der);
    EVP_PKEY_free(key);
  }
  *state = f;
  return 0;
}

/* Opens an engine with a sink filling SEEN, logged in. */
static struct engine *open_engine(struct fixture *f, struct seen *seen)
{
  struct engine *e = NULL;
  struct st_detail d = {""};
  struct engine_sink sink = {on_event, seen};
  assert_int_equal(engine_open(f->st.cfg, &e, &d), ST_OK);
  assert_int_equal(engine_add_sink(e, &sink), ST_OK);
  assert_int_equal(engine_login(e, PIN, &d), ST_OK);
  return e;
}

static void test_steps_stop_inspect_resume(void **state)
{
  struct fixture *f = *state;
  struct seen seen = {0, 0, 0, 0, 0};
  struct engine *e = open_engine(f, &seen);
  struct batch *b = NULL;
  struct batch_summary summary;
  struct batch_inspection inspection;
  struct batch_digests *digests = NULL;
  struct st_detail d = {""};
  uint64_t records, issued, refused;
  size_t done = 0, total = 0;
  char certs[200];

  /* one step, then closed between two groups */
  assert_int_equal(batch_open(e, f->stick, &summary, &b, &d), ST_OK);
  assert_false(batch_finished(b));
  assert_int_equal(batch_step(b), 1);
  batch_progress(b, &done, &total);
  assert_int_equal(done, 256);
  assert_int_equal(total, STICK_CSRS);
  assert_false(batch_finished(b));
  assert_int_equal(batch_close(b, &d), ST_OK);
  assert_int_equal(summary.issued, 256);
  assert_int_equal(summary.left, STICK_CSRS - 256);
  snprintf(certs, sizeof certs, "%s/certs", f->stick);
  assert_int_equal(count_files(certs), 256);

  /* the events carried the journal's counts as they left */
  assert_int_equal(seen.issued_events, 256);
  engine_counts(e, &records, &issued, &refused);
  assert_int_equal(seen.issued, 256);
  assert_int_equal(issued, 256);
  assert_true(seen.records > 256 && seen.records <= records); /* a checkpoint may follow the last event */

  /* an inspection finds the 256 issued before */
  assert_int_equal(batch_inspect_collect(e, f->stick, &inspection, &digests, &d), ST_OK);
  assert_int_equal(inspection.files, STICK_CSRS);
  assert_int_equal(inspection.refusals, 0);
  assert_int_equal(inspection.issued_before, 0);
  batch_inspect_issued(e, digests, &inspection);
  assert_int_equal(inspection.issued_before, 256);
  batch_digests_free(digests);

  /* signed again in steps: three groups, 256 handed back, 344 new */
  assert_int_equal(batch_open(e, f->stick, &summary, &b, &d), ST_OK);
  for (int steps = 1; steps <= 3; steps++) {
    assert_int_equal(batch_step(b), 1);
    assert_int_equal(batch_finished(b), steps == 3);
  }
  assert_int_equal(batch_step(b), 0);
  batch_progress(b, &done, &total);
  assert_int_equal(done, STICK_CSRS);
  assert_int_equal(batch_close(b, &d), ST_OK);
  assert_int_equal(summary.handed_back, 256);
  assert_int_equal(summary.issued, STICK_CSRS - 256);
  assert_int_equal(summary.left, 0);
  assert_int_equal(count_files(certs), STICK_CSRS);
  assert_int_equal(seen.redelivered_events, 256);
  assert_int_equal(seen.issued, STICK_CSRS);
  engine_close(e);
}

static void test_open_without_csr_dir(void **state)
{
  struct fixture *f = *state;
  struct seen seen = {0, 0, 0, 0, 0};
  struct engine *e = open_engine(f, &seen);
  struct batch *b = NULL;
  struct batch_summary summary;
  struct st_detail d = {""};
  assert_int_equal(batch_open(e, f->st.dir, &summary, &b, &d), ST_E_BATCH_LAYOUT);
  assert_null(b);
  assert_non_null(strstr(d.text, "has no csr/ directory"));
  engine_close(e);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_steps_stop_inspect_resume),
      cmocka_unit_test(test_open_without_csr_dir),
  };
  return cmocka_run_group_tests(tests, group_setup, station_fixture_teardown);
}
