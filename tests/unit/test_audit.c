/* test_audit.c - signed checkpoints, the head, the full journal check with
 * every tamper case, and the offline export check. A software EC P-256 key
 * stands in for the token's journal key; the head is passed as the token
 * would give it. Each test runs in its own mkdtemp directory. */
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

#include "audit.h"
#include "checkpoint.h"
#include "encoding.h"
#include "error.h"
#include "export.h"
#include "journal.h"
#include "manifest.h"
#include "xbuf.h"
#include "fixture.h"

struct tctx {
  char dir[64];
  char jpath[96];
  char log[128];
  EVP_PKEY *key;            /* the journal key stand-in */
  EVP_PKEY *other;          /* a key that is not it */
  struct journal_head head; /* as the token would hold it after build */
};

static int setup(void **state)
{
  struct tctx *t = calloc(1, sizeof *t);
  strcpy(t->dir, "/tmp/test_audit.XXXXXX");
  if (t == NULL || mkdtemp(t->dir) == NULL)
    return -1;
  snprintf(t->jpath, sizeof t->jpath, "%s/j", t->dir);
  snprintf(t->log, sizeof t->log, "%s/journal.log", t->jpath);
  t->key = EVP_EC_gen("P-256");
  t->other = EVP_EC_gen("P-256");
  *state = t;
  return t->key != NULL && t->other != NULL ? 0 : -1;
}

static int teardown(void **state)
{
  struct tctx *t = *state;
  fixture_remove_tree(t->dir);
  EVP_PKEY_free(t->key);
  EVP_PKEY_free(t->other);
  free(t);
  return 0;
}

/* Appends request record I (odd issued, even refused). */
static void append_request(struct journal *j, int i)
{
  struct journal_record rec;
  char source[64];
  uint8_t cert[16];
  memset(&rec, 0, sizeof rec);
  memset(cert, i, sizeof cert);
  snprintf(source, sizeof source, "batch:/media/stick/csr/board, \"%d\".csr", i);
  rec.source = source;
  rec.has_csr_sha256 = 1;
  rec.csr_sha256[0] = (uint8_t)i;
  rec.time_ms = INT64_C(1718105293000) + i * 1000;
  if (i % 2 == 1) {
    rec.event = JOURNAL_EVENT_ISSUED;
    rec.device = "6f1c2a0e-0000-4000-8000-000000000001";
    rec.serial_len = 4;
    rec.serial[3] = (uint8_t)i;
    rec.cert_der = cert;
    rec.cert_len = sizeof cert;
  } else {
    rec.event = JOURNAL_EVENT_REFUSED;
    rec.reason = "wrong-factory";
    rec.detail = "OU is \"berlin\"";
  }
  assert_int_equal(journal_append(j, &rec), 0);
}

/* A journal of 4 requests, a checkpoint (5), 4 requests, a checkpoint (10),
 * 2 requests (11, 12); T->head is its end. When SAVE is not NULL the file
 * is copied there after the first checkpoint. */
static void build(struct tctx *t, const char *save)
{
  struct journal *j = NULL;
  struct st_detail d = {""};
  int n = 0;
  assert_int_equal(journal_open(t->jpath, &j, NULL, &d), 0);
  for (int round = 0; round < 2; round++) {
    for (int k = 0; k < 4; k++)
      append_request(j, ++n);
    assert_int_equal(checkpoint_append(j, t->key, t->key, &d), 0);
    n++;
    assert_int_equal(journal_commit(j, &d), 0);
    if (round == 0 && save != NULL) {
      char cmd[320];
      snprintf(cmd, sizeof cmd, "cp %s %s", t->log, save);
      assert_int_equal(system(cmd), 0);
    }
  }
  append_request(j, ++n);
  append_request(j, ++n);
  assert_int_equal(journal_commit(j, &d), 0);
  assert_int_equal(journal_last_checkpoint(j), 10);
  journal_genesis(j, t->head.genesis);
  journal_last(j, &t->head.seq, t->head.chain);
  assert_int_equal(t->head.seq, 12);
  journal_close(j);
}

static void test_message_and_head_text(void **state)
{
  uint8_t g[32], c[32];
  char msg[CHECKPOINT_TEXT_MAX], hex[65];
  struct journal_head h = {{0}, 0, {0}}, back;
  (void)state;
  memset(g, 0xab, 32);
  memset(c, 0x01, 32);
  assert_int_equal(checkpoint_message(msg, g, 42, c), 29 + 64 + 1 + 2 + 1 + 64 + 1);
  st_hex_encode(hex, g, 32);
  assert_true(strncmp(msg, "station-journal checkpoint 1 abab", 33) == 0);
  assert_non_null(strstr(msg, " 42 0101"));
  assert_int_equal(msg[strlen(msg) - 1], '\n');

  memcpy(h.genesis, g, 32);
  memcpy(h.chain, c, 32);
  h.seq = 1234567;
  assert_true(checkpoint_head_format(msg, &h) > 0);
  assert_true(checkpoint_head_parse(&back, msg, strlen(msg)));
  assert_int_equal(back.seq, 1234567);
  assert_memory_equal(back.chain, c, 32);
  /* one spelling only */
  assert_false(checkpoint_head_parse(&back, msg, strlen(msg) - 1));
  msg[strlen("station-journal-head 1 ") + 65] = '0';
  assert_false(checkpoint_head_parse(&back, msg, strlen(msg)));
  assert_false(checkpoint_head_parse(&back, "station-journal-head 1 x", 24));
}

static void test_intact(void **state)
{
  struct tctx *t = *state;
  struct audit_verify_report rep;
  struct st_detail d = {""};
  build(t, NULL);
  assert_int_equal(audit_verify(t->jpath, t->key, &t->head, NULL, &rep, &d), 0);
  assert_int_equal(rep.journal.records, 12);
  assert_int_equal(rep.journal.checkpoints, 2);
  assert_int_equal(rep.journal.issued, 5);
  assert_int_equal(rep.journal.refused, 5);
  assert_int_equal(rep.unsigned_tail, 2);
  assert_int_equal(rep.head_behind, 0);
  /* a head behind the journal (a stop between the two writes) is accepted */
  t->head.seq = 10;
  memset(&rep, 0, sizeof rep);
  assert_int_equal(audit_verify(t->jpath, t->key, &t->head, NULL, &rep, &d), ST_E_JOURNAL_ROLLBACK);
  /* ...only with the chain value that record really has: line 11's */
  {
    FILE *f = fopen(t->log, "r");
    char *line = NULL;
    size_t cap = 0;
    for (int k = 0; k < 11; k++)
      assert_true(getline(&line, &cap, f) > 0);
    fclose(f);
    assert_true(st_hex_decode(t->head.chain, strrchr(line, ' ') + 1, 64));
    free(line);
  }
  /* behind it, records no seal covers are not trusted */
  assert_int_equal(audit_verify(t->jpath, t->key, &t->head, NULL, &rep, &d), ST_E_JOURNAL_UNSEALED);
  assert_int_equal(rep.head_behind, 2);
  assert_int_equal(rep.trusted, 10);
  assert_non_null(strstr(d.text, "records 11 to 12 (line 12 to 13) are covered by no seal"));
  unlink(t->log);
  build(t, NULL); /* a new journal in the same place, and its head */
  assert_int_equal(audit_verify(t->jpath, t->key, &t->head, NULL, &rep, &d), 0);
  /* a checkpoint by another key, and no head at all */
  assert_int_equal(audit_verify(t->jpath, t->other, &t->head, NULL, &rep, &d), ST_E_CHECKPOINT);
  assert_non_null(strstr(d.text, "record 5 (line 6)"));
  assert_int_equal(audit_verify(t->jpath, t->key, NULL, NULL, &rep, &d), ST_E_JOURNAL_HEAD);
}

/* The file's lines, at most 32. */
struct tlines {
  char *l[32];
  size_t n;
};

static void lines_read(const char *path, struct tlines *x)
{
  FILE *f = fopen(path, "r");
  char *buf = NULL;
  size_t cap = 0;
  assert_non_null(f);
  memset(x, 0, sizeof *x);
  while (getline(&buf, &cap, f) > 0 && x->n < 32)
    x->l[x->n++] = strdup(buf);
  free(buf);
  fclose(f);
}

static void lines_write(const char *path, struct tlines *x)
{
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  for (size_t i = 0; i < x->n; i++) {
    fputs(x->l[i], f);
    free(x->l[i]);
  }
  fclose(f);
}

/* Recomputes every chain value after a change (what a forger would do). */
static void lines_rechain(struct tlines *x)
{
  uint8_t prev[32], next[32];
  char hex[65];
  assert_true(EVP_Digest(x->l[0], strlen(x->l[0]) - 1, prev, NULL, EVP_sha256(), NULL));
  for (size_t i = 1; i < x->n; i++) {
    char *sp = strrchr(x->l[i], ' ');
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int n = 0;
    assert_true(EVP_DigestInit_ex(md, EVP_sha256(), NULL) && EVP_DigestUpdate(md, prev, 32) &&
                EVP_DigestUpdate(md, x->l[i], (size_t)(sp - x->l[i])) && EVP_DigestFinal_ex(md, next, &n));
    EVP_MD_CTX_free(md);
    st_hex_encode(hex, next, 32);
    memcpy(sp + 1, hex, 64);
    memcpy(prev, next, 32);
  }
}

enum how { CHANGED_BYTE, DELETED, SWAPPED, INSERTED, CUT_TAIL, CUT_AT_CHECKPOINT, OLDER_COPY, REWRITTEN, REPLACED };

static const struct {
  enum how how;
  int code;
  const char *says;
} cases[] = {
  {CHANGED_BYTE, ST_E_JOURNAL_CORRUPT, "record 3 (line 4): chain hash mismatch"},
  {DELETED, ST_E_JOURNAL_CORRUPT, "record 3 is missing, so a record was removed"},
  {SWAPPED, ST_E_JOURNAL_CORRUPT, "records were reordered"},
  {INSERTED, ST_E_JOURNAL_CORRUPT, "the record appears twice, so a record was copied in"},
  {CUT_TAIL, ST_E_JOURNAL_TRUNCATED, "the journal ends at record 9, but the head kept on the token is record 12: its tail was cut"},
  {CUT_AT_CHECKPOINT, ST_E_JOURNAL_ROLLBACK, "the journal ends at record 10, a checkpoint"},
  {OLDER_COPY, ST_E_JOURNAL_ROLLBACK, "an older copy of the journal was restored (rolled back; records 6 to 12 are missing)"},
  {REWRITTEN, ST_E_CHECKPOINT, "record 5 (line 6): the checkpoint's signature does not verify"},
  {REPLACED, ST_E_JOURNAL_REPLACED, "the whole journal was replaced by another one"},
};

static void test_tamper_cases(void **state)
{
  struct tctx *t = *state;
  char saved[128], cmd[320];
  snprintf(saved, sizeof saved, "%s/after-first-checkpoint", t->dir);
  build(t, NULL); /* another journal, signed by the same key: the replacement */
  snprintf(cmd, sizeof cmd, "mv %s %s/replacement", t->log, t->dir);
  assert_int_equal(system(cmd), 0);
  build(t, saved);
  snprintf(cmd, sizeof cmd, "cp %s %s/good", t->log, t->dir);
  assert_int_equal(system(cmd), 0);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct tlines x;
    struct st_detail d = {""};
    char *tmp;
    snprintf(cmd, sizeof cmd, "cp %s/good %s", t->dir, t->log);
    assert_int_equal(system(cmd), 0);
    lines_read(t->log, &x);
    assert_int_equal(x.n, 13);
    switch (cases[i].how) {
    case CHANGED_BYTE: *strstr(x.l[3], "board") = 'c'; break;
    case DELETED: free(x.l[3]); memmove(&x.l[3], &x.l[4], (x.n-- - 4) * sizeof x.l[0]); break;
    case SWAPPED: tmp = x.l[3]; x.l[3] = x.l[4]; x.l[4] = tmp; break;
    case INSERTED: memmove(&x.l[5], &x.l[4], (x.n++ - 4) * sizeof x.l[0]); x.l[4] = strdup(x.l[3]); break;
    case CUT_TAIL: while (x.n > 10) free(x.l[--x.n]); break;
    case CUT_AT_CHECKPOINT: while (x.n > 11) free(x.l[--x.n]); break;
    case OLDER_COPY:
      for (size_t k = 0; k < x.n; k++)
        free(x.l[k]);
      lines_read(saved, &x);
      break;
    case REWRITTEN: *strstr(x.l[3], "board") = 'c'; lines_rechain(&x); break;
    case REPLACED:
      for (size_t k = 0; k < x.n; k++)
        free(x.l[k]);
      snprintf(cmd, sizeof cmd, "%s/replacement", t->dir);
      lines_read(cmd, &x);
      break;
    }
    lines_write(t->log, &x);
    int r = audit_verify(t->jpath, t->key, &t->head, NULL, NULL, &d);
    if (r != cases[i].code || strstr(d.text, cases[i].says) == NULL)
      fail_msg("case %zu: %s: %s", i, st_error_name(r), d.text);
  }
}

/* Writes DATA as FILE and its signature by KEY as FILE.sig. */
static void test_export_scan(void **state)
{
  struct export_scan sc;
  struct st_detail d = {""};
  const char *chain = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  char csv[1024], jsonl[1024];
  (void)state;
  snprintf(csv, sizeof csv,
           "seq,time,event,source,device,serial,reason,csr_sha256,key_sha256,detail,chain\n"
           "1,2024-06-11T11:28:13.417Z,issued,\"batch:/a, \"\"b\"\".csr\",dev,01,,aa,bb,,%s\n"
           "2,2024-06-11T11:28:14.000Z,refused,serial:/dev/ttyUSB0,,,wrong-factory,aa,,\"two\nlines\",%s\n"
           "4,2024-06-11T11:28:15.000Z,checkpoint,station:checkpoint,,,,,ab,sig,%s\n", chain, chain, chain);
  assert_int_equal(export_scan(csv, strlen(csv), &sc, &d), 0);
  assert_int_equal(sc.format, EXPORT_CSV);
  assert_int_equal(sc.counts.rows, 3);
  assert_int_equal(export_count_of(&sc.counts, "issued"), 1);
  assert_int_equal(export_count_of(&sc.counts, "refused"), 1);
  assert_int_equal(export_count_of(&sc.counts, "checkpoint"), 1);
  assert_int_equal(sc.first, 1);
  assert_int_equal(sc.last, 4);
  assert_int_equal(sc.gapless, 0);
  assert_string_equal(sc.last_chain, chain);
  /* a row out of order */
  snprintf(csv, sizeof csv,
           "seq,time,event,source,device,serial,reason,csr_sha256,key_sha256,detail,chain\n"
           "2,2024-06-11T11:28:13.417Z,issued,,,,,,,,%s\n1,2024-06-11T11:28:13.417Z,issued,,,,,,,,%s\n", chain, chain);
  assert_int_equal(export_scan(csv, strlen(csv), &sc, &d), ST_E_EXPORT_INVALID);
  assert_non_null(strstr(d.text, "row 3"));
  /* the header of the format before the chain column is not an export of this one */
  assert_int_equal(export_scan("seq,time,event,source,device,serial,reason,csr_sha256,key_sha256,detail\n", 73, &sc, &d),
                   ST_E_EXPORT_INVALID);
  snprintf(jsonl, sizeof jsonl,
           "{\"seq\":3,\"time\":\"2024-06-11T11:28:13.417Z\",\"event\":\"refused\",\"source\":\"\",\"device\":\"d\","
           "\"serial\":\"\",\"reason\":\"x\",\"csr_sha256\":\"\",\"key_sha256\":\"\",\"detail\":\"a\\\"b\","
           "\"chain\":\"%s\",\"certificate\":\"\"}\n", chain);
  assert_int_equal(export_scan(jsonl, strlen(jsonl), &sc, &d), 0);
  assert_int_equal(sc.format, EXPORT_JSONL);
  assert_int_equal(sc.counts.refused, 1);
  assert_int_equal(sc.first, 3);
  /* a key missing */
  assert_int_equal(export_scan("{\"seq\":3,\"time\":\"2024-06-11T11:28:13.417Z\",\"event\":\"refused\"}\n", 63, &sc, &d),
                   ST_E_EXPORT_INVALID);
}

static void test_manifest_round_trip(void **state)
{
  struct export_manifest m, back;
  struct xbuf b = {0};
  struct st_detail d = {""};
  char *bad;
  (void)state;
  memset(&m, 0, sizeof m);
  snprintf(m.factory, sizeof m.factory, "acme \"works\"");
  snprintf(m.ca_subject, sizeof m.ca_subject, "OU=acme,CN=fio-1");
  memset(m.ca_sha256, 'a', 64);
  memset(m.key_sha256, 'b', 64);
  memset(m.genesis, 'c', 64);
  memset(m.sha256, 'd', 64);
  memset(m.chain, 'e', 64);
  snprintf(m.file, sizeof m.file, "audit.csv");
  snprintf(m.time, sizeof m.time, "2026-12-02T17:00:00Z");
  m.format = EXPORT_CSV;
  m.has_range = 1, m.first = 1, m.last = 9, m.journal_last = 9, m.complete = 1;
  assert_int_equal(export_count_add(&m.counts, "checkpoint", 2), 0);
  assert_int_equal(export_count_add(&m.counts, "issued", 5), 0);
  assert_int_equal(export_count_add(&m.counts, "refused", 2), 0);
  manifest_write(&m, &b);
  assert_false(b.failed);
  /* issued, refused, checkpoint in that order, whatever order they were met in */
  assert_true(strstr(b.data, "\"issued\"") < strstr(b.data, "\"refused\"") &&
              strstr(b.data, "\"refused\"") < strstr(b.data, "\"checkpoint\""));
  assert_int_equal(manifest_read(b.data, b.len, &back, &d), 0);
  assert_string_equal(back.factory, m.factory);
  assert_string_equal(back.chain, m.chain);
  assert_int_equal(back.last, 9);
  assert_int_equal(back.complete, 1);
  assert_int_equal(back.counts.rows, 9);
  assert_int_equal(export_count_of(&back.counts, "checkpoint"), 2);
  assert_int_equal(back.has_since, 0);
  /* complete with a range that does not reach journal_last is refused */
  bad = strdup(b.data);
  memcpy(strstr(bad, "\"journal_last\": 9"), "\"journal_last\": 8", 17);
  assert_int_equal(manifest_read(bad, strlen(bad), &back, &d), ST_E_EXPORT_INVALID);
  free(bad);
  free(b.data);
}

static void test_parse_time(void **state)
{
  int64_t ms = 0;
  enum export_format f;
  (void)state;
  assert_int_equal(export_parse_time("2024-06-11T11:28:13Z", &ms), 0);
  assert_int_equal(ms, INT64_C(1718105293000));
  assert_int_equal(export_parse_time("2024-06-11T11:28:13.5Z", &ms), 0);
  assert_int_equal(ms, INT64_C(1718105293500));
  assert_int_equal(export_parse_time("2024-06-11T13:28:13.417+02:00", &ms), 0);
  assert_int_equal(ms, INT64_C(1718105293417));
  assert_int_equal(export_parse_time("2024-02-30T00:00:00Z", &ms), ST_E_USAGE);
  assert_int_equal(export_parse_time("2024-06-11", &ms), ST_E_USAGE);
  assert_int_equal(export_parse_time("2024-06-11T11:28:13", &ms), ST_E_USAGE);
  assert_int_equal(export_parse_format("jsonl", &f), 0);
  assert_int_equal(f, EXPORT_JSONL);
  assert_int_equal(export_parse_format("xml", &f), ST_E_USAGE);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_message_and_head_text),
    cmocka_unit_test(test_parse_time),
    cmocka_unit_test_setup_teardown(test_intact, setup, teardown),
    cmocka_unit_test_setup_teardown(test_tamper_cases, setup, teardown),
    cmocka_unit_test(test_export_scan),
    cmocka_unit_test(test_manifest_round_trip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
