/* test_journal_index.c - the journal's index file (journal_index_file.c):
 * written signed, read back at open instead of the records it covers, used
 * only once its signature is checked; a changed, foreign or stale index is
 * not trusted (the whole log is read instead); duplicates are still found
 * after a restart with an index. The signer is a P-256 key made here (in the
 * station it is the journal key in the token). */
#include <errno.h>
#include <fcntl.h>
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
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "error.h"
#include "journal.h"
#include "journal_internal.h"
#include "syscalls.h"
#include "fixture.h"

#define ISSUED 1500 /* more than the 1024 records after which an index is due */

struct ictx {
  char dir[64], jpath[96], log[128], index[160];
  EVP_PKEY *key, *other;
};

static EVP_PKEY *make_key(void)
{
  EVP_PKEY *k = EVP_EC_gen("P-256");
  assert_non_null(k);
  return k;
}

static int setup(void **state)
{
  struct ictx *t = calloc(1, sizeof *t);
  strcpy(t->dir, "/tmp/test_journal_index.XXXXXX");
  if (mkdtemp(t->dir) == NULL)
    return -1;
  snprintf(t->jpath, sizeof t->jpath, "%s/j", t->dir);
  snprintf(t->log, sizeof t->log, "%s/journal.log", t->jpath);
  snprintf(t->index, sizeof t->index, "%s/journal.log.index", t->jpath);
  t->key = make_key();
  t->other = make_key();
  *state = t;
  return 0;
}

static int teardown(void **state)
{
  struct ictx *t = *state;
  st_syscalls_reset();
  fixture_remove_tree(t->dir);
  EVP_PKEY_free(t->key);
  EVP_PKEY_free(t->other);
  free(t);
  return 0;
}

static int soft_sign(void *arg, const char *msg, size_t len, uint8_t *sig, size_t *sig_len, struct st_detail *detail)
{
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  int ok = md != NULL && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, arg) == 1 &&
           EVP_DigestSign(md, sig, sig_len, (const unsigned char *)msg, len) == 1;
  (void)detail;
  EVP_MD_CTX_free(md);
  return ok ? 0 : ST_E_CRYPTO;
}

/* 1 when the claimed index's signature verifies with KEY. */
static int claim_verifies(struct journal *j, EVP_PKEY *key)
{
  char msg[JOURNAL_INDEX_MSG_MAX];
  size_t len = 0, sig_len = 0;
  const uint8_t *sig = NULL;
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  int ok;
  assert_int_equal(journal_index_claim(j, msg, &len, &sig, &sig_len), 1);
  assert_true(len > 40 && memcmp(msg, "station-journal-index 1 ", 24) == 0 && msg[len - 1] == '\n');
  ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
       EVP_DigestVerify(md, sig, sig_len, (const unsigned char *)msg, len) == 1;
  EVP_MD_CTX_free(md);
  return ok;
}

static void digest_of(uint8_t out[32], const char *what, int i)
{
  char text[64];
  int n = snprintf(text, sizeof text, "%s-%d", what, i);
  assert_true(EVP_Digest(text, (size_t)n, out, NULL, EVP_sha256(), NULL));
}

struct irec {
  struct journal_record rec;
  char device[64];
  uint8_t cert[40];
};

static void make_issued(struct irec *r, int i)
{
  memset(r, 0, sizeof *r);
  snprintf(r->device, sizeof r->device, "6f1c2a0e-0000-4000-8000-%012d", i);
  r->rec.event = JOURNAL_EVENT_ISSUED;
  r->rec.source = "batch:/media/stick/csr/a.csr";
  r->rec.device = r->device;
  digest_of(r->rec.csr_sha256, "csr", i);
  r->rec.has_csr_sha256 = 1;
  digest_of(r->rec.key_sha256, "key", i);
  r->rec.has_key_sha256 = 1;
  r->rec.serial_len = 16;
  for (int k = 0; k < 16; k++)
    r->rec.serial[k] = k < 4 ? (uint8_t)((unsigned)i >> (8 * (3 - k))) : (uint8_t)(0x40 + k);
  for (size_t k = 0; k < sizeof r->cert; k++)
    r->cert[k] = (uint8_t)(i * 7 + (int)k);
  r->rec.cert_der = r->cert;
  r->rec.cert_len = sizeof r->cert;
}

/* Appends a record shaped like a checkpoint (the journal checks no signature). */
static void append_checkpoint(struct journal *j)
{
  struct journal_record rec;
  uint8_t sig[40];
  memset(&rec, 0, sizeof rec);
  memset(sig, 0x30, sizeof sig);
  rec.event = JOURNAL_EVENT_CHECKPOINT;
  rec.source = "station";
  digest_of(rec.key_sha256, "journal key", 1);
  rec.has_key_sha256 = 1;
  rec.detail = "covers records";
  rec.cert_der = sig;
  rec.cert_len = sizeof sig;
  assert_int_equal(journal_append(j, &rec), 0);
}

/* Appends issued records FROM to TO, a refusal, and a checkpoint, and commits. */
static void append_sealed(struct journal *j, int from, int to)
{
  struct st_detail d;
  struct irec r;
  struct journal_record refused;
  for (int i = from; i <= to; i++) {
    make_issued(&r, i);
    assert_int_equal(journal_append(j, &r.rec), 0);
  }
  memset(&refused, 0, sizeof refused);
  refused.event = JOURNAL_EVENT_REFUSED;
  refused.source = "serial:/dev/ttyUSB0";
  refused.reason = "wrong-factory";
  assert_int_equal(journal_append(j, &refused), 0);
  append_checkpoint(j);
  assert_int_equal(journal_commit(j, &d), 0);
}

/* 1 when the issued record I is found by each of its keys (a copy checked), 0 when by none. */
static int found(struct journal *j, int i)
{
  struct irec r;
  struct journal_record got;
  int n = 0;
  make_issued(&r, i);
  if (journal_find_csr(j, r.rec.csr_sha256, &got) == 1) {
    assert_string_equal(got.device, r.device);
    n++;
  }
  journal_record_cleanup(&got);
  if (journal_find_key(j, r.rec.key_sha256, &got) == 1)
    n++;
  journal_record_cleanup(&got);
  if (journal_find_device(j, r.device, &got) == 1)
    n++;
  journal_record_cleanup(&got);
  n += journal_serial_used(j, r.rec.serial, 16) == 1;
  assert_true(n == 0 || n == 4);
  return n == 4;
}

/* A journal of ISSUED issued records sealed, its index written with KEY. */
static void make_indexed(struct ictx *t)
{
  struct journal *j = NULL;
  struct st_detail d = {""};
  struct journal_index_signer signer = {soft_sign, t->key};
  struct stat st;
  fixture_remove_tree(t->jpath);
  assert_int_equal(journal_open(t->jpath, &j, NULL, &d), 0);
  append_sealed(j, 1, ISSUED);
  assert_int_equal(journal_index_due(j), 1);
  assert_int_equal(journal_index_write(j, &signer, &d), 0);
  assert_int_equal(journal_index_seq(j), ISSUED + 2);
  assert_int_equal(journal_index_due(j), 0);
  journal_close(j);
  assert_int_equal(stat(t->index, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
}

static off_t file_size_of(const char *path)
{
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  return st.st_size;
}

static void copy_file(const char *from, const char *to)
{
  FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
  char buf[65536];
  size_t n;
  assert_true(in != NULL && out != NULL);
  while ((n = fread(buf, 1, sizeof buf, in)) > 0)
    assert_int_equal(fwrite(buf, 1, n, out), n);
  fclose(in);
  assert_int_equal(fclose(out), 0);
}

/* Changes one byte of FILE at OFF (from its end when OFF < 0). */
static void flip_byte(const char *file, long off)
{
  int fd = open(file, O_RDWR);
  struct stat st;
  uint8_t b;
  assert_true(fd >= 0 && fstat(fd, &st) == 0);
  if (off < 0)
    off += st.st_size;
  assert_int_equal(pread(fd, &b, 1, off), 1);
  b ^= 0x01;
  assert_int_equal(pwrite(fd, &b, 1, off), 1);
  close(fd);
}

static void test_index_used(void **state)
{
  struct ictx *t = *state;
  struct journal *j = NULL;
  struct journal_open_report rep;
  struct st_detail d = {""};
  struct journal_verify_report vr;
  uint64_t records = 0, issued = 0, refused = 0;
  make_indexed(t);

  /* open reads the index: its counts, and no record before its checkpoint */
  assert_int_equal(journal_open(t->jpath, &j, &rep, &d), 0);
  assert_int_equal(rep.records, ISSUED + 2);
  assert_int_equal(rep.issued, ISSUED);
  assert_int_equal(rep.refused, 1);
  assert_int_equal(rep.checkpoints, 1);
  assert_int_equal(journal_index_seq(j), ISSUED + 2);
  assert_int_equal(journal_sealed(j), ISSUED + 2);
  /* nothing of it answers before its signature is checked */
  struct irec r;
  struct journal_record got;
  make_issued(&r, 7);
  assert_int_equal(journal_find_csr(j, r.rec.csr_sha256, &got), ST_E_JOURNAL_UNSEALED);
  assert_int_equal(journal_serial_used(j, r.rec.serial, 16), ST_E_JOURNAL_UNSEALED);
  assert_int_equal(journal_index_due(j), 0);
  assert_int_equal(claim_verifies(j, t->key), 1);
  assert_int_equal(journal_index_settle(j, 1, "", &d), 0);
  assert_int_equal(journal_index_claim(j, (char[JOURNAL_INDEX_MSG_MAX]){0}, &(size_t){0},
                                       &(const uint8_t *){NULL}, &(size_t){0}), 0);
  /* then every issued record is found, and a CSR never issued is not */
  for (int i = 1; i <= ISSUED; i += 37)
    assert_int_equal(found(j, i), 1);
  assert_int_equal(found(j, ISSUED), 1);
  assert_int_equal(found(j, ISSUED + 1), 0);
  /* records after the index: read at open, found too, and the duplicate
   * CSRs of both parts are still found after another restart */
  append_sealed(j, ISSUED + 1, ISSUED + 10);
  journal_close(j);
  assert_int_equal(journal_open(t->jpath, &j, &rep, &d), 0);
  assert_int_equal(rep.records, ISSUED + 14);
  assert_int_equal(rep.issued, ISSUED + 10);
  assert_int_equal(journal_index_seq(j), ISSUED + 2);
  assert_int_equal(claim_verifies(j, t->key), 1);
  assert_int_equal(journal_index_settle(j, 1, "", &d), 0);
  assert_int_equal(found(j, 3), 1);
  assert_int_equal(found(j, ISSUED + 5), 1);
  journal_counts(j, &records, &issued, &refused);
  assert_int_equal(records, ISSUED + 14);
  assert_int_equal(issued, ISSUED + 10);
  assert_int_equal(refused, 2);
  journal_close(j);

  /* proof that open does not read what the index covers: record 100 changed
   * (its certificate's base64) opens fine, but journal verify finds it, and
   * a lookup that reads it back refuses it (its chain value is checked) */
  {
    FILE *f = fopen(t->log, "r+");
    char line[4096];
    long off = 0;
    assert_non_null(f);
    for (int n = 0; n <= 100; n++) {
      off = ftell(f);
      assert_non_null(fgets(line, sizeof line, f));
    }
    char *field = strstr(line, " - - ") + 5; /* the certificate field */
    *field = *field == 'A' ? 'B' : 'A';
    fseek(f, off, SEEK_SET);
    fputs(line, f);
    fclose(f);
  }
  assert_int_equal(journal_open(t->jpath, &j, &rep, &d), 0);
  assert_int_equal(claim_verifies(j, t->key), 1);
  assert_int_equal(journal_index_settle(j, 1, "", &d), 0);
  make_issued(&r, 100);
  assert_int_equal(journal_find_csr(j, r.rec.csr_sha256, &got), ST_E_JOURNAL_CORRUPT);
  assert_int_equal(found(j, 99), 1);
  journal_close(j);
  assert_int_equal(journal_verify(t->jpath, &vr, &d), ST_E_JOURNAL_CORRUPT);
  assert_int_equal(vr.bad_seq, 100);
}

/* An index changed after it was signed, or signed by another key, is not
 * trusted: settle(0) reads the whole log and the index is built anew. */
static void test_index_tampered(void **state)
{
  struct ictx *t = *state;
  struct journal *j = NULL;
  struct st_detail d = {""};
  struct journal_index_signer other = {soft_sign, t->other};
  make_indexed(t);
  /* one byte of an entry's chain value: the shape still checks out */
  flip_byte(t->index, JIF_HEADER_LEN + 40 * 5 + 30);
  assert_int_equal(journal_open(t->jpath, &j, NULL, &d), 0);
  assert_int_equal(journal_index_seq(j), ISSUED + 2); /* read, claimed */
  assert_int_equal(claim_verifies(j, t->key), 0);
  assert_int_equal(journal_index_settle(j, 0, "its signature does not verify", &d), 0);
  assert_int_equal(journal_index_seq(j), 0);         /* the whole log was read */
  assert_int_equal(found(j, 6), 1);
  assert_int_equal(found(j, ISSUED), 1);
  assert_int_equal(journal_index_due(j), 1);         /* and the index is due again */

  /* an index signed by another key */
  assert_int_equal(journal_index_write(j, &other, &d), 0);
  journal_close(j);
  assert_int_equal(journal_open(t->jpath, &j, NULL, &d), 0);
  assert_int_equal(claim_verifies(j, t->key), 0);
  assert_int_equal(journal_index_settle(j, 0, "its signature does not verify", &d), 0);
  assert_int_equal(found(j, 1), 1);
  journal_close(j);

  /* a header changed so that the file does not add up: not even claimed */
  make_indexed(t);
  flip_byte(t->index, 80); /* the end of the checkpoint line it names */
  assert_int_equal(journal_open(t->jpath, &j, NULL, &d), 0);
  assert_int_equal(journal_index_seq(j), 0);
  assert_int_equal(journal_index_claim(j, (char[JOURNAL_INDEX_MSG_MAX]){0}, &(size_t){0},
                                       &(const uint8_t *){NULL}, &(size_t){0}), 0);
  assert_int_equal(found(j, 2), 1);
  journal_close(j);

  /* the signature cut short */
  make_indexed(t);
  assert_int_equal(truncate(t->index, file_size_of(t->index) - 1), 0);
  assert_int_equal(journal_open(t->jpath, &j, NULL, &d), 0);
  assert_int_equal(journal_index_seq(j), 0);
  journal_close(j);
}

/* An index of an older state, or of a log that is not the one it describes. */
static void test_index_stale(void **state)
{
  struct ictx *t = *state;
  struct journal *j = NULL;
  struct st_detail d = {""};
  struct journal_index_signer signer = {soft_sign, t->key};
  char copy[200];
  make_indexed(t);
  snprintf(copy, sizeof copy, "%s.copy", t->index);
  copy_file(t->index, copy);

  /* records sealed after the index: the index is stale, the tail is read */
  assert_int_equal(journal_open(t->jpath, &j, NULL, &d), 0);
  assert_int_equal(journal_index_settle(j, claim_verifies(j, t->key), "", &d), 0);
  append_sealed(j, ISSUED + 1, ISSUED + 3);
  assert_int_equal(journal_index_due(j), 0); /* 5 records after it: not worth writing */
  journal_close(j);
  assert_int_equal(journal_open(t->jpath, &j, NULL, &d), 0);
  assert_int_equal(journal_index_seq(j), ISSUED + 2);
  assert_int_equal(journal_index_settle(j, claim_verifies(j, t->key), "", &d), 0);
  assert_int_equal(found(j, ISSUED + 2), 1);
  /* its own index written again now covers them */
  assert_int_equal(journal_index_write(j, &signer, &d), 0);
  assert_int_equal(journal_index_seq(j), ISSUED + 7);
  journal_close(j);

  /* the log cut back before what the index covers: the index is not used */
  assert_int_equal(truncate(t->log, JOURNAL_HEADER_LEN + 1), 0);
  assert_int_equal(journal_open(t->jpath, &j, NULL, &d), 0);
  assert_int_equal(journal_index_seq(j), 0);
  assert_int_equal(found(j, 1), 0);
  journal_close(j);

  /* a new journal where the old one was: the old index is removed */
  assert_int_equal(unlink(t->log), 0);
  assert_int_equal(rename(copy, t->index), 0);
  assert_int_equal(journal_open(t->jpath, &j, NULL, &d), 0);
  assert_int_equal(journal_index_seq(j), 0);
  assert_int_equal(access(t->index, F_OK), -1);
  journal_close(j);

  /* a FIFO in the index's place neither blocks the open nor is used */
  assert_int_equal(mkfifo(t->index, 0600), 0);
  assert_int_equal(journal_open(t->jpath, &j, NULL, &d), 0);
  assert_int_equal(journal_index_seq(j), 0);
  journal_close(j);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_index_used, setup, teardown),
      cmocka_unit_test_setup_teardown(test_index_tampered, setup, teardown),
      cmocka_unit_test_setup_teardown(test_index_stale, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
