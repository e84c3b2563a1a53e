/* test_journal_recover.c - the journal after a failed commit (journal_recover)
 * and the room on its file system (journal_room, journal_filesystem).
 *
 * Each case commits three records, then makes the commit of a group of three
 * more fail through the system-call seam in one of the ways a full or failing
 * disk does, leaving on disk what that failure can leave:
 *   - a short write, then ENOSPC, and the cut-back failing too: one whole
 *     line of the group and half of the next stay in the file;
 *   - the whole group written, fdatasync failing with EIO, and the cut-back
 *     failing: three whole, chain-valid lines that were never committed;
 *   - the whole group written, fdatasync failing with ENOSPC, the cut-back
 *     working (the file is already at its durable length).
 * After each: the handle refuses everything; journal_recover brings it back
 * without closing it (its lock held all along): exactly the three committed
 * records, none of the group (not by lookup, not in the counts, not on
 * disk), the bytes cut reported; the next group gets the next seq and
 * commits; the journal verifies and reopens the same. Then the refusals:
 * a log deleted or replaced while failed (journal-replaced), one whose
 * durable part was changed or cut (journal-corrupt), a cut-back that fails
 * again (journal, the handle stays failed and recovers later). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

#include "error.h"
#include "journal.h"
#include "syscalls.h"
#include "fixture.h"

struct tctx {
  char dir[64];
  char jpath[96];  /* dir/j, the journal directory */
  char log[128];   /* dir/j/journal.log */
};

static int setup(void **state)
{
  struct tctx *t = calloc(1, sizeof *t);
  snprintf(t->dir, sizeof t->dir, "/tmp/test_journal_recover.XXXXXX");
  if (mkdtemp(t->dir) == NULL)
    return -1;
  snprintf(t->jpath, sizeof t->jpath, "%s/j", t->dir);
  snprintf(t->log, sizeof t->log, "%s/journal.log", t->jpath);
  *state = t;
  return 0;
}

static int teardown(void **state)
{
  struct tctx *t = *state;
  fixture_fault_clear();
  fixture_remove_tree(t->dir);
  free(t);
  return 0;
}

/* An issued record for request I (its own CSR, device, key and serial). */
struct trec {
  struct journal_record rec;
  char source[64], device[64];
  uint8_t cert[200];
};

static void make_issued(struct trec *t, int i)
{
  char text[32];
  memset(t, 0, sizeof *t);
  snprintf(t->source, sizeof t->source, "serial:/dev/ttyUSB%d", i % 4);
  snprintf(t->device, sizeof t->device, "6f1c2a0e-0000-4000-8000-%012d", i);
  t->rec.event = JOURNAL_EVENT_ISSUED;
  t->rec.source = t->source;
  t->rec.device = t->device;
  snprintf(text, sizeof text, "csr-%d", i);
  EVP_Digest(text, strlen(text), t->rec.csr_sha256, NULL, EVP_sha256(), NULL);
  t->rec.has_csr_sha256 = 1;
  snprintf(text, sizeof text, "key-%d", i);
  EVP_Digest(text, strlen(text), t->rec.key_sha256, NULL, EVP_sha256(), NULL);
  t->rec.has_key_sha256 = 1;
  t->rec.serial_len = 16;
  for (int k = 0; k < 16; k++)
    t->rec.serial[k] = k < 4 ? (uint8_t)((unsigned)i >> (8 * (3 - k))) : (uint8_t)(0x40 + k);
  for (size_t k = 0; k < sizeof t->cert; k++)
    t->cert[k] = (uint8_t)(i * 7 + (int)k);
  t->rec.cert_der = t->cert;
  t->rec.cert_len = sizeof t->cert;
}

static off_t file_size(const char *path)
{
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  return st.st_size;
}

/* Appends requests FROM..TO to J. */
static void append_range(struct journal *j, int from, int to)
{
  struct trec a;
  for (int i = from; i <= to; i++) {
    make_issued(&a, i);
    assert_int_equal(journal_append(j, &a.rec), 0);
    assert_int_equal(a.rec.seq, (uint64_t)i);
  }
}

/* 1 when request I is found by its CSR hash, 0 when not. */
static int found(struct journal *j, int i)
{
  struct trec a;
  struct journal_record got;
  int r;
  make_issued(&a, i);
  memset(&got, 0, sizeof got);
  r = journal_find_csr(j, a.rec.csr_sha256, &got);
  assert_true(r >= 0);
  if (r == 1)
    assert_int_equal(got.seq, (uint64_t)i);
  journal_record_cleanup(&got);
  return r;
}

/* ---- the faults (fixture_fault) ---- */

enum fault { FAULT_SHORT_WRITE, FAULT_FDATASYNC_EIO, FAULT_FDATASYNC_ENOSPC };

static void arm(enum fault f)
{
  fixture_fault_clear();
  if (f == FAULT_SHORT_WRITE) { /* the first write goes half through, then the disk is full */
    fixture_fault("write", FIXTURE_FAULT_AT, 1, FIXTURE_FAULT_SHORT);
    fixture_fault("write", FIXTURE_FAULT_FROM, 2, ENOSPC);
  } else {
    fixture_fault("fdatasync", FIXTURE_FAULT_FROM, 1, f == FAULT_FDATASYNC_EIO ? EIO : ENOSPC);
  }
  if (f != FAULT_FDATASYNC_ENOSPC) /* what the failed write left stays on disk */
    fixture_fault("ftruncate", FIXTURE_FAULT_FROM, 1, EIO);
}

/* Three committed records, a group of three whose commit fails with F. Returns
 * the open, failed handle; *DURABLE gets the committed length. */
static struct journal *fail_a_group(struct tctx *t, enum fault f, int want, off_t *durable)
{
  struct journal *j = NULL;
  struct st_detail d = {""};
  assert_int_equal(journal_open(t->jpath, &j, NULL, &d), 0);
  append_range(j, 1, 3);
  assert_int_equal(journal_commit(j, &d), 0);
  *durable = file_size(t->log);
  append_range(j, 4, 6);
  arm(f);
  assert_int_equal(journal_commit(j, &d), want);
  st_syscalls_reset();
  assert_int_equal(journal_failed(j), want);
  return j;
}

static void recover_case(struct tctx *t, enum fault f, int want, int left_on_disk)
{
  struct journal *j, *again = NULL;
  struct journal_open_report rep;
  struct journal_verify_report vr;
  struct st_detail d = {""};
  struct trec a;
  uint64_t records = 0, issued = 0;
  off_t durable = 0, after_failure;

  j = fail_a_group(t, f, want, &durable);
  after_failure = file_size(t->log);
  if (left_on_disk)
    assert_true(after_failure > durable);
  else
    assert_int_equal(after_failure, durable);
  /* failed: everything is refused, and the group never counts */
  journal_counts(j, &records, &issued, NULL);
  assert_int_equal(records, 3);
  assert_int_equal(issued, 3);
  make_issued(&a, 7);
  assert_int_equal(journal_append(j, &a.rec), ST_E_JOURNAL);
  assert_int_equal(journal_find_csr(j, a.rec.csr_sha256, &a.rec), ST_E_JOURNAL);
  assert_int_equal(journal_serial_used(j, a.rec.serial, 16), ST_E_JOURNAL);
  /* recovered through the same handle */
  if (journal_recover(j, &rep, &d) != 0)
    fail_msg("journal_recover: %s", d.text);
  assert_int_equal(journal_failed(j), 0);
  assert_int_equal(rep.records, 3);
  assert_int_equal(rep.torn_bytes_dropped, (uint64_t)(after_failure - durable));
  assert_int_equal(file_size(t->log), durable);
  journal_counts(j, &records, &issued, NULL);
  assert_int_equal(records, 3);
  assert_int_equal(issued, 3);
  for (int i = 1; i <= 3; i++)
    assert_int_equal(found(j, i), 1);
  for (int i = 4; i <= 6; i++)
    assert_int_equal(found(j, i), 0); /* never committed: gone, also from the index */
  /* a second process still cannot take the journal: the lock was never let go */
  assert_int_equal(journal_open(t->jpath, &again, NULL, &d), ST_E_JOURNAL_LOCKED);
  /* the next group continues the chain where the last commit ended */
  append_range(j, 4, 5);
  assert_int_equal(journal_commit(j, &d), 0);
  assert_int_equal(found(j, 5), 1);
  journal_close(j);
  assert_int_equal(journal_verify(t->jpath, &vr, &d), 0);
  assert_int_equal(vr.records, 5);
  assert_int_equal(vr.torn_tail, 0);
  assert_int_equal(journal_open(t->jpath, &j, &rep, &d), 0);
  assert_int_equal(rep.records, 5);
  assert_int_equal(rep.torn_bytes_dropped, 0);
  journal_close(j);
}

static void test_recover_short_write(void **state)
{
  recover_case(*state, FAULT_SHORT_WRITE, ST_E_NO_SPACE, 1);
}

static void test_recover_whole_lines_never_committed(void **state)
{
  recover_case(*state, FAULT_FDATASYNC_EIO, ST_E_JOURNAL, 1);
}

static void test_recover_cut_back_worked(void **state)
{
  recover_case(*state, FAULT_FDATASYNC_ENOSPC, ST_E_NO_SPACE, 0);
}

static void test_recover_healthy_is_nothing(void **state)
{
  struct tctx *t = *state;
  struct journal *j = NULL;
  struct journal_open_report rep;
  struct st_detail d = {""};
  assert_int_equal(journal_open(t->jpath, &j, NULL, &d), 0);
  append_range(j, 1, 2);
  assert_int_equal(journal_commit(j, &d), 0);
  append_range(j, 3, 3); /* pending, not failed: recover leaves it alone */
  assert_int_equal(journal_recover(j, &rep, &d), 0);
  assert_int_equal(journal_pending(j), 1);
  assert_int_equal(journal_commit(j, &d), 0);
  journal_close(j);
  assert_int_equal(journal_verify(t->jpath, NULL, &d), 0);
}

/* The cut-back fails again while recovering: still failed, nothing lost; later it works. */
static void test_recover_retries(void **state)
{
  struct tctx *t = *state;
  struct journal *j;
  struct st_detail d = {""};
  off_t durable = 0;
  j = fail_a_group(t, FAULT_SHORT_WRITE, ST_E_NO_SPACE, &durable);
  fixture_fault_clear();
  fixture_fault("ftruncate", FIXTURE_FAULT_FROM, 1, EIO);
  assert_int_equal(journal_recover(j, NULL, &d), ST_E_JOURNAL);
  assert_non_null(strstr(d.text, "cannot cut journal"));
  assert_non_null(strstr(d.text, t->log));
  assert_int_equal(journal_failed(j), ST_E_NO_SPACE);
  st_syscalls_reset();
  assert_int_equal(journal_recover(j, NULL, &d), 0);
  assert_int_equal(file_size(t->log), durable);
  journal_close(j);
  assert_int_equal(journal_verify(t->jpath, NULL, &d), 0);
}

static void test_recover_deleted(void **state)
{
  struct tctx *t = *state;
  struct journal *j;
  struct st_detail d = {""};
  off_t durable = 0;
  j = fail_a_group(t, FAULT_FDATASYNC_ENOSPC, ST_E_NO_SPACE, &durable);
  assert_int_equal(unlink(t->log), 0); /* "the disk is full: remove the big file" */
  assert_int_equal(journal_recover(j, NULL, &d), ST_E_JOURNAL_REPLACED);
  assert_non_null(strstr(d.text, "was deleted, moved or replaced"));
  assert_int_equal(journal_failed(j), ST_E_NO_SPACE);
  journal_close(j);
}

static void test_recover_replaced(void **state)
{
  struct tctx *t = *state;
  struct journal *j;
  struct st_detail d = {""};
  char copy[160], cmd[800];
  off_t durable = 0;
  j = fail_a_group(t, FAULT_FDATASYNC_ENOSPC, ST_E_NO_SPACE, &durable);
  /* a byte-for-byte copy put in its place is still another file */
  snprintf(copy, sizeof copy, "%s/copy.log", t->dir);
  snprintf(cmd, sizeof cmd, "cp '%s' '%s' && mv '%s' '%s'", t->log, copy, copy, t->log);
  assert_int_equal(system(cmd), 0);
  if (journal_recover(j, NULL, &d) != ST_E_JOURNAL_REPLACED || strstr(d.text, "deleted, moved or replaced") == NULL)
    fail_msg("journal_recover: %s", d.text);
  journal_close(j);
}

/* Changes the file behind the handle's back: the byte at OFF becomes another
 * one (never the byte already there), or, when OFF < 0, the file is cut to LEN. */
static void tamper(const char *log, off_t off, off_t len)
{
  int fd = open(log, O_RDWR);
  char byte = 0;
  assert_true(fd >= 0);
  if (off >= 0) {
    assert_int_equal(pread(fd, &byte, 1, off), 1);
    byte = byte == '0' ? '1' : '0';
    assert_int_equal(pwrite(fd, &byte, 1, off), 1);
  } else {
    assert_int_equal(ftruncate(fd, len), 0);
  }
  close(fd);
}

static void test_recover_durable_part_changed(void **state)
{
  struct tctx *t = *state;
  struct journal *j;
  struct st_detail d = {""};
  off_t durable = 0;
  j = fail_a_group(t, FAULT_FDATASYNC_ENOSPC, ST_E_NO_SPACE, &durable);
  tamper(t->log, durable - 20, 0); /* inside record 3's chain value or certificate */
  assert_int_equal(journal_recover(j, NULL, &d), ST_E_JOURNAL_CORRUPT);
  assert_int_equal(journal_failed(j), ST_E_NO_SPACE);
  journal_close(j);
}

static void test_recover_durable_part_cut(void **state)
{
  struct tctx *t = *state;
  struct journal *j;
  struct st_detail d = {""};
  off_t durable = 0;
  j = fail_a_group(t, FAULT_FDATASYNC_ENOSPC, ST_E_NO_SPACE, &durable);
  /* someone cut the last committed record: a valid journal, but not the one committed */
  {
    FILE *f = fopen(t->log, "r");
    char *line = NULL;
    size_t cap = 0;
    off_t keep = 0, last = 0;
    assert_non_null(f);
    while (getline(&line, &cap, f) > 0) {
      keep = last;
      last = ftello(f);
    }
    free(line);
    fclose(f);
    tamper(t->log, -1, keep);
  }
  assert_int_equal(journal_verify(t->jpath, NULL, &d), 0);
  assert_int_equal(journal_recover(j, NULL, &d), ST_E_JOURNAL_CORRUPT);
  assert_non_null(strstr(d.text, "does not end where the station last committed it (record 3"));
  journal_close(j);
}

/* ---- room ---- */

static void test_room(void **state)
{
  struct tctx *t = *state;
  struct journal *j = NULL;
  struct st_detail d = {""};
  char fs[PATH_MAX], real[PATH_MAX];
  assert_int_equal(journal_open(t->jpath, &j, NULL, &d), 0);
  assert_int_equal(journal_room(j, 0, &d), 0);
  fixture_fault_free_blocks(3); /* 12 KiB */
  assert_int_equal(journal_room(j, 1024 * 1024, &d), ST_E_NO_SPACE);
  assert_non_null(strstr(d.text, t->log));
  assert_non_null(strstr(d.text, "has 12.0 KiB free; the station needs 1.0 MiB"));
  assert_int_equal(journal_room(j, 12 * 1024, &d), 0);
  fixture_fault_free_blocks(256);
  assert_int_equal(journal_room(j, 1024 * 1024, &d), 0);
  fixture_fault_free_blocks(-1);
  assert_int_equal(journal_room(j, 1, &d), ST_E_JOURNAL);
  st_syscalls_reset();
  /* the file system: a directory above the log, on the same device */
  journal_filesystem(t->log, fs, sizeof fs);
  assert_non_null(realpath(t->jpath, real));
  assert_int_equal(strncmp(real, fs, strlen(fs)), 0);
  journal_close(j);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_recover_short_write, setup, teardown),
      cmocka_unit_test_setup_teardown(test_recover_whole_lines_never_committed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_recover_cut_back_worked, setup, teardown),
      cmocka_unit_test_setup_teardown(test_recover_healthy_is_nothing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_recover_retries, setup, teardown),
      cmocka_unit_test_setup_teardown(test_recover_deleted, setup, teardown),
      cmocka_unit_test_setup_teardown(test_recover_replaced, setup, teardown),
      cmocka_unit_test_setup_teardown(test_recover_durable_part_changed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_recover_durable_part_cut, setup, teardown),
      cmocka_unit_test_setup_teardown(test_room, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
