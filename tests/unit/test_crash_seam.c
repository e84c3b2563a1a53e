/* test_crash_seam.c - crash consistency of one request, step by step, through
 * the system-call seam (syscalls.h). A real engine (a SoftHSM token made in
 * a temporary directory, the local CA made by the key ceremony) signs one
 * fresh CSR from a stick with batch_sign_directory while the N-th call of one
 * kind fails: a write (EIO, ENOSPC, or torn: a short write, then EIO, with
 * the cut-back failing too so that a torn tail stays on disk), an fdatasync,
 * an fsync, a rename of an output, a syncfs. For every N until the run makes
 * no N-th call of that kind, after the faulty run:
 *   - the journal verifies and reopens (a torn tail is cut);
 *   - a certificate on the stick is exactly the one a durable issued record
 *     holds (nothing published without a durable record);
 *   - a clean run then delivers the certificate, and the journal holds
 *     exactly one issued record more than before the faulty run.
 * Skipped (77) when SoftHSM or the openssl tool is not there. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "batch.h"
#include "ceremony.h"
#include "config.h"
#include "csr_factory.h"
#include "engine.h"
#include "fixture.h"
#include "station_fixture.h"
#include "error.h"
#include "journal.h"

#define MODULE FIXTURE_SOFTHSM_MODULE
#define PIN "1234"
#define FACTORY "acme-factory"

struct fixture {
  char dir[64];
  char config[128];
  char journal[128];
  struct station_config *cfg;
  int sticks;
};

/* ---- fault injection ---- */

enum fault_kind { FAULT_WRITE_EIO, FAULT_WRITE_ENOSPC, FAULT_WRITE_TORN, FAULT_FDATASYNC, FAULT_FSYNC,
                  FAULT_RENAME, FAULT_SYNCFS, FAULT_KINDS };
static const char *const fault_names[FAULT_KINDS] = {"write EIO", "write ENOSPC", "torn write", "fdatasync",
                                                     "fsync", "rename", "syncfs"};
/* The call each kind fails. */
static const char *const fault_calls_of[FAULT_KINDS] = {"write", "write", "write", "fdatasync", "fsync", "renameat",
                                                        "syncfs"};

/* Makes call AT (1-based) of KIND's call fail (fixture_fault). A torn write
 * goes half through, the next write fails, and so does every cut-back after
 * it (the torn tail stays for journal_open). */
static void fault_arm(enum fault_kind kind, long at)
{
  fixture_fault_clear();
  if (kind == FAULT_WRITE_TORN) {
    fixture_fault("write", FIXTURE_FAULT_AT, at, FIXTURE_FAULT_SHORT);
    fixture_fault("write", FIXTURE_FAULT_AT, at + 1, EIO);
    fixture_fault("ftruncate", FIXTURE_FAULT_AFTER_SHORT, 0, EIO);
  } else {
    fixture_fault(fault_calls_of[kind], FIXTURE_FAULT_AT, at, kind == FAULT_WRITE_ENOSPC ? ENOSPC : EIO);
  }
}

/* ---- the fixture: token, PKI, configuration ---- */

static int group_setup(void **state)
{
  struct fixture *f = calloc(1, sizeof *f);

  fixture_require_tools("test_crash_seam", NULL);
  if (f == NULL)
    fixture_setup_failed("test_crash_seam", "out of memory");
  snprintf(f->dir, sizeof f->dir, "/tmp/station-test-seam-XXXXXX");
  if (fixture_softhsm_token(f->dir, "station", PIN) != 0 ||
      station_fixture_setup(f->dir, FACTORY, MODULE, "STATION_SEAM_PIN", PIN, "fio-seam", &f->cfg) != 0)
    return -1;
  snprintf(f->config, sizeof f->config, "%s/station.yaml", f->dir);
  snprintf(f->journal, sizeof f->journal, "%s/journal", f->dir);
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

/* ---- one request ---- */

/* A fresh stick with one new device CSR; its path in STICK, the CSR's hash in HASH. */
static void new_stick(struct fixture *f, char *stick, size_t cap, uint8_t hash[32])
{
  char path[512], uuid[37];
  EVP_PKEY *key = EVP_EC_gen("P-256");
  size_t len = 0;
  uint8_t *der;
  FILE *fp;
  X509_REQ *req;
  const unsigned char *p;
  unsigned char *canon = NULL;
  int canon_len;

  snprintf(stick, cap, "%s/stick%d", f->dir, ++f->sticks);
  snprintf(uuid, sizeof uuid, "6f1c2a0e-0000-4000-8000-%012d", f->sticks);
  snprintf(path, sizeof path, "%s/csr", stick);
  assert_int_equal(mkdir(stick, 0755), 0);
  assert_int_equal(mkdir(path, 0755), 0);
  der = test_device_csr(key, uuid, FACTORY, &len);
  assert_non_null(der);
  p = der;
  req = d2i_X509_REQ(NULL, &p, (long)len);
  assert_non_null(req);
  canon_len = i2d_X509_REQ(req, &canon);
  assert_true(canon_len > 0);
  EVP_Digest(canon, (size_t)canon_len, hash, NULL, EVP_sha256(), NULL);
  snprintf(path, sizeof path, "%s/csr/device.der", stick);
  fp = fopen(path, "wb");
  assert_non_null(fp);
  assert_int_equal(fwrite(der, 1, len, fp), len);
  fclose(fp);
  OPENSSL_free(canon);
  X509_REQ_free(req);
  OPENSSL_free(der);
  EVP_PKEY_free(key);
}

/* Opens an engine, logs in, signs STICK. Returns batch_sign_directory's code. */
static int sign_stick(struct fixture *f, const char *stick)
{
  struct engine *e = NULL;
  struct batch_summary summary;
  struct st_detail d = {""};
  int r = engine_open(f->cfg, &e, &d);
  if (r == ST_OK)
    r = engine_login(e, PIN, &d);
  if (r == ST_OK)
    r = batch_sign_directory(e, stick, &summary, &d);
  engine_close(e);
  return r;
}

/* The certificate at STICK/certs/device.pem as DER, or NULL when there is none. */
static uint8_t *stick_cert(const char *stick, size_t *len)
{
  char path[512];
  FILE *fp;
  X509 *x = NULL;
  unsigned char *der = NULL;
  int n;
  snprintf(path, sizeof path, "%s/certs/device.pem", stick);
  fp = fopen(path, "r");
  if (fp == NULL)
    return NULL;
  x = PEM_read_X509(fp, NULL, NULL, NULL);
  fclose(fp);
  assert_non_null(x); /* a published file is whole */
  n = i2d_X509(x, &der);
  X509_free(x);
  assert_true(n > 0);
  *len = (size_t)n;
  return der;
}

/* The invariants after a faulty run: the journal verifies and reopens; a
 * certificate on the stick is a durable issued record's. Returns the issued count. */
static uint64_t check_invariants(struct fixture *f, const char *stick, const uint8_t hash[32], const char *what)
{
  struct journal *j = NULL;
  struct journal_record rec;
  struct st_detail d = {""};
  uint64_t issued = 0;
  size_t len = 0;
  uint8_t *cert = stick_cert(stick, &len);
  int found;

  if (journal_verify(f->journal, NULL, &d) != ST_OK)
    fail_msg("%s: journal verify: %s", what, d.text);
  if (journal_open(f->journal, &j, NULL, &d) != ST_OK)
    fail_msg("%s: the journal does not reopen: %s", what, d.text);
  memset(&rec, 0, sizeof rec);
  found = journal_find_csr(j, hash, &rec);
  if (cert != NULL && (found != 1 || rec.cert_len != len || memcmp(rec.cert_der, cert, len) != 0))
    fail_msg("%s: a certificate was published without its durable journal record", what);
  journal_counts(j, NULL, &issued, NULL);
  journal_record_cleanup(&rec);
  journal_close(j);
  OPENSSL_free(cert);
  return issued;
}

static void test_every_step_of_one_request(void **state)
{
  struct fixture *f = *state;
  char stick[256], what[96];
  uint8_t hash[32];
  size_t len = 0;
  uint8_t *cert;
  int steps = 0;

  /* a first clean run makes the journal, its key and its head */
  new_stick(f, stick, sizeof stick, hash);
  assert_int_equal(sign_stick(f, stick), ST_OK);
  for (int kind = 0; kind < FAULT_KINDS; kind++) {
    for (long at = 1; at <= 64; at++) {
      uint64_t before = check_invariants(f, stick, hash, "before"), after;
      int r, reached;
      new_stick(f, stick, sizeof stick, hash);
      fault_arm((enum fault_kind)kind, at);
      r = sign_stick(f, stick);
      reached = fixture_fault_calls(fault_calls_of[kind]) >= at;
      fixture_fault_clear();
      snprintf(what, sizeof what, "%s at call %ld", fault_names[kind], at);
      if (reached && r == ST_OK && kind != FAULT_SYNCFS && kind != FAULT_FSYNC)
        fail_msg("%s: the run reported success", what);
      check_invariants(f, stick, hash, what);
      assert_int_equal(sign_stick(f, stick), ST_OK);
      cert = stick_cert(stick, &len);
      if (cert == NULL)
        fail_msg("%s: the clean re-run did not deliver the certificate", what);
      OPENSSL_free(cert);
      after = check_invariants(f, stick, hash, what);
      if (after != before + 1)
        fail_msg("%s: %llu issued records after, %llu before: not exactly one more", what,
                 (unsigned long long)after, (unsigned long long)before);
      steps++;
      if (!reached)
        break; /* the run made fewer calls of this kind: every step was tried */
    }
  }
  print_message("%d faulty runs, each followed by a clean one\n", steps);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_step_of_one_request),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
