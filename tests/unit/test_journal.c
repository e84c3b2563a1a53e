/* test_journal.c - the journal: encodings, line format, index, open/append/commit,
 * recovery, tamper detection, failure injection, locking. Each test runs in
 * its own mkdtemp directory. */
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "encoding.h"
#include "error.h"
#include "journal.h"
#include "journal_internal.h"
#include "fixture.h"

/* ---- fixtures and helpers ---------------------------------------------- */

static void sha256_of(uint8_t out[32], const char *what, int i)
{
  char text[64];
  int n = snprintf(text, sizeof text, "%s-%d", what, i);
  assert_true(EVP_Digest(text, (size_t)n, out, NULL, EVP_sha256(), NULL));
}

/* Test record I. Issued records get device dev-(I/2 when SAME_DEVICE...) etc.
 * Strings live in static storage per call; the caller uses them at once. */
struct trec {
  struct journal_record rec;
  char source[64], device[64];
  uint8_t cert[40];
};

static void make_issued(struct trec *t, int i, int device_no, int key_no)
{
  memset(t, 0, sizeof *t);
  snprintf(t->source, sizeof t->source, "batch:/media/stick/csr/board %d.csr", i);
  snprintf(t->device, sizeof t->device, "6f1c2a0e-0000-4000-8000-%012d", device_no);
  t->rec.event = JOURNAL_EVENT_ISSUED;
  t->rec.source = t->source;
  t->rec.device = t->device;
  sha256_of(t->rec.csr_sha256, "csr", i);
  t->rec.has_csr_sha256 = 1;
  sha256_of(t->rec.key_sha256, "key", key_no);
  t->rec.has_key_sha256 = 1;
  t->rec.serial_len = 16;
  for (int k = 0; k < 16; k++) /* unique: I in the first four bytes */
    t->rec.serial[k] = k < 4 ? (uint8_t)((unsigned)i >> (8 * (3 - k))) : (uint8_t)(0x40 + k);
  for (size_t k = 0; k < sizeof t->cert; k++)
    t->cert[k] = (uint8_t)(i * 7 + (int)k);
  t->rec.cert_der = t->cert;
  t->rec.cert_len = sizeof t->cert;
}

static void make_refused(struct trec *t, int i)
{
  memset(t, 0, sizeof *t);
  snprintf(t->source, sizeof t->source, "serial:/dev/ttyUSB0");
  t->rec.event = JOURNAL_EVENT_REFUSED;
  t->rec.source = t->source;
  sha256_of(t->rec.csr_sha256, "csr", i);
  t->rec.has_csr_sha256 = 1;
  t->rec.reason = "wrong-factory";
  t->rec.detail = "OU is \"berlin\", expected \"munich\"";
}

/* Makes a journal at T->jpath with N committed records: odd seq issued, even
 * refused. */
static void build_journal(struct fixture_journal *t, int n)
{
  struct journal *j = NULL;
  struct st_detail d;
  struct trec r;
  assert_int_equal(journal_open(t->jpath, &j, NULL, &d), 0);
  for (int i = 1; i <= n; i++) {
    if (i % 2 == 1)
      make_issued(&r, i, i, i);
    else
      make_refused(&r, i);
    r.rec.time_ms = INT64_C(1700000000000) + i;
    assert_int_equal(journal_append(j, &r.rec), 0);
    assert_int_equal(r.rec.seq, (uint64_t)i);
  }
  assert_int_equal(journal_commit(j, &d), 0);
  journal_close(j);
}

/* The file's lines (with their '\n'), at most 64 of them. */
struct tlines {
  char *line[64];
  size_t n;
};

static void read_lines(const char *path, struct tlines *l)
{
  FILE *f = fopen(path, "r");
  char *buf = NULL;
  size_t cap = 0;
  assert_non_null(f);
  memset(l, 0, sizeof *l);
  while (getline(&buf, &cap, f) > 0 && l->n < 64)
    l->line[l->n++] = strdup(buf);
  free(buf);
  fclose(f);
}

static void write_lines(const char *path, struct tlines *l)
{
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  for (size_t i = 0; i < l->n; i++)
    fputs(l->line[i], f);
  fclose(f);
  for (size_t i = 0; i < l->n; i++)
    free(l->line[i]);
}

static void append_bytes(const char *path, const void *p, size_t n)
{
  int fd = open(path, O_WRONLY | O_APPEND);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, p, n), (ssize_t)n);
  close(fd);
}

/* ---- encodings ----------------------------------------------------------- */

static void test_hex(void **state)
{
  (void)state;
  const uint8_t in[] = {0x00, 0x01, 0xab, 0xff};
  char out[9];
  uint8_t back[4];
  st_hex_encode(out, in, 4);
  assert_string_equal(out, "0001abff");
  assert_true(st_hex_decode(back, out, 8));
  assert_memory_equal(back, in, 4);
  assert_false(st_hex_decode(back, "0001ABFF", 8));
  assert_false(st_hex_decode(back, "000", 3));
  assert_false(st_hex_decode(back, "0g", 2));
  assert_true(st_hex_decode(back, "", 0));
}

static void test_base64(void **state)
{
  (void)state;
  /* RFC 4648 section 10 vectors. */
  static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
  static const char *coded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
  char out[16];
  uint8_t back[16];
  size_t n = 99;
  for (int i = 0; i < 7; i++) {
    size_t len = strlen(plain[i]);
    assert_int_equal(st_base64_len(len), strlen(coded[i]));
    st_base64_encode(out, (const uint8_t *)plain[i], len);
    assert_string_equal(out, coded[i]);
    assert_true(st_base64_decode(back, &n, coded[i], strlen(coded[i])));
    assert_int_equal(n, len);
    assert_memory_equal(back, plain[i], len);
  }
  const uint8_t bin[] = {0x00, 0xff, 0xfe, 0x80};
  st_base64_encode(out, bin, 4);
  assert_string_equal(out, "AP/+gA==");
  assert_false(st_base64_decode(back, &n, "Zg=", 3));       /* length */
  assert_false(st_base64_decode(back, &n, "Zh==", 4));      /* leftover bits */
  assert_false(st_base64_decode(back, &n, "Zm9=", 4));      /* leftover bits */
  assert_false(st_base64_decode(back, &n, "Z===", 4));      /* three pads */
  assert_false(st_base64_decode(back, &n, "Zg==Zg==", 8));  /* pad in the middle */
  assert_false(st_base64_decode(back, &n, "Zm-v", 4));      /* alphabet */
  assert_false(st_base64_decode(back, &n, "Zm9v\n", 5));
  assert_false(st_base64_decode(back, &n, "=m9v", 4));
}

static void test_percent(void **state)
{
  (void)state;
  char out[64], back[64];
  const char raw[] = {'a', ' ', '%', (char)0xff, 0x01, 'b', 0};
  assert_int_equal(st_pct_len(raw), 14);
  st_pct_encode(out, raw);
  assert_string_equal(out, "a%20%25%FF%01b");
  assert_true(st_pct_decode(back, out, strlen(out)));
  assert_string_equal(back, raw);
  st_pct_encode(out, "-");
  assert_string_equal(out, "%2D");
  assert_true(st_pct_decode(back, "%2D", 3));
  assert_string_equal(back, "-");
  st_pct_encode(out, NULL);
  assert_string_equal(out, "-");
  st_pct_encode(out, "");
  assert_string_equal(out, "-");
  assert_true(st_pct_decode(back, "-", 1));
  assert_string_equal(back, "");
  st_pct_encode(out, "a-b");
  assert_string_equal(out, "a-b");
  st_pct_encode(out, "--");
  assert_string_equal(out, "--");
  assert_false(st_pct_decode(back, "", 0));
  assert_false(st_pct_decode(back, "%41", 3));   /* 'A' needs no escape */
  assert_false(st_pct_decode(back, "%2d", 3));   /* lower case */
  assert_false(st_pct_decode(back, "x%2D", 4));  /* %2D only as the whole value */
  assert_false(st_pct_decode(back, "%00", 3));
  assert_false(st_pct_decode(back, "%2", 2));
  assert_false(st_pct_decode(back, "a b", 3));
  assert_false(st_pct_decode(back, "a\xff", 2));
}

static void test_time(void **state)
{
  (void)state;
  char out[ST_TIME_LEN + 1];
  int64_t ms = 0;
  assert_true(st_time_format(out, 0));
  assert_string_equal(out, "1970-01-01T00:00:00.000Z");
  /* 2024-02-29T12:34:56.789Z = 1709210096 s */
  assert_true(st_time_format(out, INT64_C(1709210096789)));
  assert_string_equal(out, "2024-02-29T12:34:56.789Z");
  assert_true(st_time_parse(&ms, out, strlen(out)));
  assert_int_equal(ms, INT64_C(1709210096789));
  assert_true(st_time_format(out, ST_TIME_MAX_MS));
  assert_string_equal(out, "9999-12-31T23:59:59.999Z");
  assert_true(st_time_parse(&ms, out, strlen(out)));
  assert_int_equal(ms, ST_TIME_MAX_MS);
  assert_false(st_time_format(out, -1));
  assert_false(st_time_format(out, ST_TIME_MAX_MS + 1));
  /* Every day from 1970 to 2100 round-trips, at a changing time of day. */
  for (int64_t day = 0; day < 47847; day++) {
    int64_t v = day * 86400000 + (day * 7919) % 86400000;
    assert_true(st_time_format(out, v));
    assert_true(st_time_parse(&ms, out, ST_TIME_LEN));
    assert_int_equal(ms, v);
  }
  static const char *bad[] = {"2023-02-29T00:00:00.000Z", "2024-13-01T00:00:00.000Z",
                              "2024-01-01T24:00:00.000Z", "2024-01-01T00:60:00.000Z",
                              "2024-01-01T00:00:60.000Z", "1969-12-31T23:59:59.999Z",
                              "2024-01-01T00:00:00.000z", "2024-01-01 00:00:00.000Z",
                              "2024-01-00T00:00:00.000Z", "2024-04-31T00:00:00.000Z",
                              "2024-01-01T00:00:00.00Z",  "+024-01-01T00:00:00.000Z"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_false(st_time_parse(&ms, bad[i], strlen(bad[i])));
}

/* ---- line format -------------------------------------------------------- */

static void test_format_parse(void **state)
{
  (void)state;
  struct trec t;
  struct xbuf b = {0};
  struct journal_record back;
  uint8_t prev[32] = {1, 2, 3};
  size_t body = 0;
  const char *why = NULL;
  make_issued(&t, 5, 5, 5);
  t.rec.seq = 12;
  t.rec.time_ms = INT64_C(1709210096789);
  t.rec.detail = "-";
  assert_int_equal(jf_format(&b, &t.rec, prev), 0);
  assert_int_equal(b.data[b.len - 1], '\n');
  const char *want = "12 2024-02-29T12:34:56.789Z issued batch:/media/stick/csr/board%205.csr "
                     "6f1c2a0e-0000-4000-8000-000000000005 ";
  assert_memory_equal(b.data, want, strlen(want));
  assert_non_null(strstr(b.data, " 000000054445464748494a4b4c4d4e4f - %2D "));
  assert_int_equal(jf_parse(b.data, b.len - 1, &back, &body, &why), 0);
  assert_int_equal(body, b.len - 1 - 65);
  assert_int_equal(back.seq, 12);
  assert_int_equal(back.time_ms, t.rec.time_ms);
  assert_int_equal(back.event, JOURNAL_EVENT_ISSUED);
  assert_string_equal(back.source, t.source);
  assert_string_equal(back.device, t.device);
  assert_string_equal(back.detail, "-");
  assert_null(back.reason);
  assert_memory_equal(back.csr_sha256, t.rec.csr_sha256, 32);
  assert_memory_equal(back.key_sha256, t.rec.key_sha256, 32);
  assert_int_equal(back.serial_len, 16);
  assert_memory_equal(back.serial, t.rec.serial, 16);
  assert_int_equal(back.cert_len, sizeof t.cert);
  assert_memory_equal(back.cert_der, t.cert, sizeof t.cert);
  assert_memory_equal(back.chain, t.rec.chain, 32);
  /* Written again, it is the same bytes. */
  struct xbuf b2 = {0};
  assert_int_equal(jf_format(&b2, &back, prev), 0);
  assert_int_equal(b2.len, b.len);
  assert_memory_equal(b2.data, b.data, b.len);
  journal_record_cleanup(&back);
  xb_free(&b);
  xb_free(&b2);

  /* A refused record with no values is all dashes. */
  struct journal_record r = {.seq = 18446744073709551615ULL, .time_ms = 1,
                             .event = JOURNAL_EVENT_REFUSED, .reason = "not-a-csr"};
  assert_int_equal(jf_format(&b, &r, prev), 0);
  want = "18446744073709551615 1970-01-01T00:00:00.001Z refused - - - - - not-a-csr - - ";
  assert_memory_equal(b.data, want, strlen(want));
  assert_int_equal(b.len, strlen(want) + 65);
  assert_int_equal(jf_parse(b.data, b.len - 1, &back, &body, &why), 0);
  assert_int_equal(back.seq, 18446744073709551615ULL);
  assert_null(back.source);
  assert_false(back.has_csr_sha256);
  assert_int_equal(back.cert_len, 0);
  journal_record_cleanup(&back);
  xb_free(&b);

  /* What cannot be written is refused, and the buffer is unchanged. */
  r.reason = "Wrong Factory";
  assert_int_equal(jf_format(&b, &r, prev), ST_E_INTERNAL);
  r.reason = NULL;
  r.event = 7;
  assert_int_equal(jf_format(&b, &r, prev), ST_E_INTERNAL);
  assert_int_equal(b.len, 0);
  xb_free(&b);
}

static void test_parse_hostile(void **state)
{
  (void)state;
  static const char *ok = "7 2024-02-29T12:34:56.789Z refused - - - - - wrong-factory - - "
                          "0000000000000000000000000000000000000000000000000000000000000000";
  static const struct {
    const char *line;
    const char *why;
  } bad[] = {
      {"7 2024-02-29T12:34:56.789Z refused - - - - - wrong-factory -", "fewer than 12"},
      {"7 2024-02-29T12:34:56.789Z refused - - - - - wrong-factory - - 00 x", "more than 12"},
      {"7  2024-02-29T12:34:56.789Z refused - - - - - wrong-factory - - 00", "empty field"},
      {"07 2024-02-29T12:34:56.789Z refused - - - - - x - - 00", "seq"},
      {"0 2024-02-29T12:34:56.789Z refused - - - - - x - - 00", "seq"},
      {"18446744073709551616 2024-02-29T12:34:56.789Z refused - - - - - x - - 00", "seq"},
      {"7 2024-02-30T12:34:56.789Z refused - - - - - x - - 00", "time"},
      {"7 2024-02-29T12:34:56.789Z Issued - - - - - x - - 00", "event"},
      {"7 2024-02-29T12:34:56.789Z revoked - - - - - x - - 00", "event"},
      {"7 2024-02-29T12:34:56.789Z refused a%2 - - - - x - - 00", "source"},
      {"7 2024-02-29T12:34:56.789Z refused - %41 - - - x - - 00", "device"},
      {"7 2024-02-29T12:34:56.789Z refused - - ABCD - - x - - 00", "CSR hash"},
      {"7 2024-02-29T12:34:56.789Z refused - - - 00 - x - - 00", "key hash"},
      {"7 2024-02-29T12:34:56.789Z refused - - - - 123 x - - 00", "serial"},
      {"7 2024-02-29T12:34:56.789Z refused - - - - 00 Bad - - 00", "reason"},
      {"7 2024-02-29T12:34:56.789Z refused - - - - 00 x %zz - 00", "detail"},
      {"7 2024-02-29T12:34:56.789Z refused - - - - 00 x - Zh== 00", "certificate"},
      {"7 2024-02-29T12:34:56.789Z refused - - - - 00 x - - 00", "chain"},
      {"7 2024-02-29T12:34:56.789Z refused - - - - 00 x - - -", "chain"},
      {"7 2024-02-29T12:34:56.789Z refused \x01 - - - 00 x - - 00", "printable"},
  };
  struct journal_record rec;
  size_t body = 0;
  const char *why = NULL;
  assert_int_equal(jf_parse(ok, strlen(ok), &rec, &body, &why), 0);
  assert_int_equal(rec.seq, 7);
  assert_string_equal(rec.reason, "wrong-factory");
  journal_record_cleanup(&rec);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(jf_parse(bad[i].line, strlen(bad[i].line), &rec, &body, &why),
                     ST_E_JOURNAL_CORRUPT);
    if (strstr(why, bad[i].why) == NULL)
      fail_msg("line %zu: why \"%s\" lacks \"%s\"", i, why, bad[i].why);
    journal_record_cleanup(&rec);
  }
  /* A NUL inside the given length is refused, not taken as the end. */
  char withnul[200];
  memcpy(withnul, ok, strlen(ok));
  withnul[2] = '\0';
  assert_int_equal(jf_parse(withnul, strlen(ok), &rec, &body, &why), ST_E_JOURNAL_CORRUPT);
  journal_record_cleanup(&rec);
  /* Over-long lines are refused before any work. */
  char *big = malloc(JOURNAL_LINE_MAX + 1);
  memset(big, 'a', JOURNAL_LINE_MAX + 1);
  assert_int_equal(jf_parse(big, JOURNAL_LINE_MAX, &rec, &body, &why), ST_E_JOURNAL_CORRUPT);
  journal_record_cleanup(&rec);
  free(big);
}

/* ---- index ------------------------------------------------------------- */

/* A loader that makes up record LOC - 1 instead of reading it (see idx_rec). */
static void idx_rec(struct journal_record *rec, uint64_t i)
{
  memset(rec, 0, sizeof *rec);
  rec->event = JOURNAL_EVENT_ISSUED;
  sha256_of(rec->csr_sha256, "csr", (int)i);
  rec->has_csr_sha256 = 1;
  sha256_of(rec->key_sha256, "key", (int)(i / 3)); /* three records per key */
  rec->has_key_sha256 = 1;
  rec->device = malloc(48);
  snprintf(rec->device, 48, "dev-%llu", (unsigned long long)(i / 2)); /* two per device */
  rec->serial_len = 8;
  for (int k = 0; k < 8; k++)
    rec->serial[k] = (uint8_t)(i >> (8 * k));
}

static int idx_loads;

static int idx_load(void *arg, uint64_t loc, const uint8_t chain[16], struct journal_record *rec)
{
  (void)arg;
  (void)chain;
  idx_loads++;
  idx_rec(rec, loc - 1);
  return 0;
}

static void test_index_million(void **state)
{
  (void)state;
  const uint64_t n = 1000000;
  struct jindex_loader loader = {idx_load, NULL};
  struct jindex *ix = jindex_new(&loader);
  struct journal_record rec;
  uint64_t loc = 0;
  uint8_t chain16[16];
  assert_non_null(ix);
  for (uint64_t i = 0; i < n; i++) {
    idx_rec(&rec, i);
    assert_int_equal(jindex_add(ix, i + 1, &rec), 0);
    journal_record_cleanup(&rec);
  }
  size_t per_record = jindex_memory(ix) / n;
  print_message("index: %zu bytes for %llu records: %zu bytes per record, %d loads\n",
                jindex_memory(ix), (unsigned long long)n, per_record, idx_loads);
  assert_true(per_record < 100);
  for (uint64_t i = 0; i < n; i += 997) {
    idx_rec(&rec, i);
    assert_int_equal(jindex_find(ix, JINDEX_CSR, rec.csr_sha256, 32, &loc, chain16), 1);
    assert_int_equal(loc, i + 1);
    assert_int_equal(jindex_find(ix, JINDEX_KEY, rec.key_sha256, 32, &loc, chain16), 1);
    assert_int_equal(loc, i / 3 * 3 + 1);                 /* the first for the key */
    assert_int_equal(jindex_find(ix, JINDEX_DEVICE, rec.device, strlen(rec.device), &loc, chain16), 1);
    assert_int_equal(loc, i / 2 * 2 + 2);                 /* the latest for the device */
    assert_int_equal(jindex_find(ix, JINDEX_SERIAL, rec.serial, 8, &loc, chain16), 1);
    assert_int_equal(loc, i + 1);
    journal_record_cleanup(&rec);
  }
  uint8_t absent[32];
  sha256_of(absent, "csr", -1);
  assert_int_equal(jindex_find(ix, JINDEX_CSR, absent, 32, &loc, chain16), 0);
  assert_int_equal(jindex_find(ix, JINDEX_DEVICE, "dev-x", 5, &loc, chain16), 0);
  jindex_free(ix);
}

/* ---- open, append, commit, find ------------------------------------------ */

static void test_create_append_find(void **state)
{
  struct fixture_journal *t = *state;
  struct journal *j = NULL;
  struct journal_open_report rep;
  struct st_detail d;
  struct trec a, b, c, x;
  struct journal_record got;
  struct stat st;
  uint64_t records = 0, issued = 0, refused = 0;

  assert_int_equal(journal_open(t->jpath, &j, &rep, &d), 0);
  assert_int_equal(rep.created, 1);
  assert_int_equal(rep.records, 0);
  assert_string_equal(journal_log_path(j), t->log);
  assert_int_equal(stat(t->jpath, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0700);
  assert_int_equal(stat(t->log, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  assert_int_equal(st.st_size, JOURNAL_HEADER_LEN + 1);

  make_issued(&a, 1, 1, 1);
  make_refused(&b, 2);
  make_issued(&c, 3, 1, 3); /* the same device again, with a new key */
  assert_int_equal(journal_append(j, &a.rec), 0);
  assert_int_equal(journal_append(j, &b.rec), 0);
  assert_int_equal(journal_append(j, &c.rec), 0);
  assert_int_equal(c.rec.seq, 3);
  assert_true(a.rec.time_ms > INT64_C(1700000000000)); /* filled in: now */
  assert_int_equal(journal_pending(j), 3);

  /* Pending records are found before the commit. */
  assert_int_equal(journal_find_csr(j, a.rec.csr_sha256, &got), 1);
  assert_int_equal(got.seq, 1);
  assert_memory_equal(got.chain, a.rec.chain, 32);
  journal_record_cleanup(&got);
  assert_int_equal(journal_find_device(j, a.device, &got), 1);
  assert_int_equal(got.seq, 3);
  journal_record_cleanup(&got);
  assert_int_equal(journal_find_csr(j, b.rec.csr_sha256, &got), 0); /* refused: not indexed */
  assert_int_equal(journal_serial_used(j, c.rec.serial, 16), 1);
  assert_int_equal(fixture_file_size(t->log), JOURNAL_HEADER_LEN + 1);     /* nothing written yet */

  assert_int_equal(journal_commit(j, &d), 0);
  assert_int_equal(journal_pending(j), 0);
  assert_true(fixture_file_size(t->log) > JOURNAL_HEADER_LEN + 1);

  /* A record appended after the commit, found from pending, the rest from the file. */
  make_issued(&x, 4, 4, 1); /* reuses a's key */
  assert_int_equal(journal_append(j, &x.rec), 0);
  assert_int_equal(journal_find_key(j, a.rec.key_sha256, &got), 1);
  assert_int_equal(got.seq, 1); /* the first record with that key */
  journal_record_cleanup(&got);
  assert_int_equal(journal_find_csr(j, x.rec.csr_sha256, &got), 1);
  assert_int_equal(got.seq, 4);
  journal_record_cleanup(&got);
  journal_counts(j, &records, &issued, &refused);
  assert_int_equal(records, 4);
  assert_int_equal(issued, 3);
  assert_int_equal(refused, 1);
  journal_close(j); /* record 4 is dropped */

  assert_int_equal(journal_open(t->jpath, &j, &rep, &d), 0);
  assert_int_equal(rep.created, 0);
  assert_int_equal(rep.records, 3);
  assert_int_equal(rep.issued, 2);
  assert_int_equal(rep.refused, 1);
  assert_int_equal(rep.torn_bytes_dropped, 0);
  assert_int_equal(journal_find_csr(j, x.rec.csr_sha256, &got), 0);
  assert_int_equal(journal_find_csr(j, a.rec.csr_sha256, &got), 1);
  assert_int_equal(got.seq, 1);
  assert_int_equal(got.time_ms, a.rec.time_ms);
  assert_string_equal(got.source, a.source);
  assert_string_equal(got.device, a.device);
  assert_memory_equal(got.key_sha256, a.rec.key_sha256, 32);
  assert_int_equal(got.cert_len, sizeof a.cert);
  assert_memory_equal(got.cert_der, a.cert, sizeof a.cert);
  journal_record_cleanup(&got);
  assert_int_equal(journal_find_device(j, a.device, &got), 1);
  assert_int_equal(got.seq, 3);
  assert_memory_equal(got.key_sha256, c.rec.key_sha256, 32);
  journal_record_cleanup(&got);
  assert_int_equal(journal_find_key(j, c.rec.key_sha256, &got), 1);
  assert_int_equal(got.seq, 3);
  journal_record_cleanup(&got);
  assert_int_equal(journal_find_device(j, "6f1c2a0e-0000-4000-8000-000000000002", &got), 0);
  assert_int_equal(journal_serial_used(j, a.rec.serial, 16), 1);
  assert_int_equal(journal_serial_used(j, x.rec.serial, 16), 0);
  assert_int_equal(journal_serial_used(j, a.rec.serial, 15), 0);
  /* Appending continues the chain: seq 4 follows 3. */
  make_refused(&b, 9);
  assert_int_equal(journal_append(j, &b.rec), 0);
  assert_int_equal(b.rec.seq, 4);
  assert_int_equal(journal_commit(j, &d), 0);
  journal_counts(j, &records, NULL, &refused);
  assert_int_equal(records, 4);
  assert_int_equal(refused, 2);
  journal_close(j);

  struct journal_verify_report vr;
  assert_int_equal(journal_verify(t->jpath, &vr, &d), 0);
  assert_int_equal(vr.records, 4);
  assert_int_equal(vr.issued, 2);
  assert_int_equal(vr.refused, 2);
  assert_int_equal(vr.torn_tail, 0);
  assert_int_equal(vr.bad_seq, 0);
}

static void test_log_file_path(void **state)
{
  struct fixture_journal *t = *state;
  struct journal *j = NULL;
  struct journal_open_report rep;
  struct st_detail d;
  struct trec a;
  char file[128];
  build_journal(t, 3);
  /* The log given as a regular file is the log itself. */
  assert_int_equal(journal_open(t->log, &j, &rep, &d), 0);
  assert_int_equal(rep.records, 3);
  assert_string_equal(journal_log_path(j), t->log);
  journal_close(j);
  /* An empty regular file becomes a new journal. */
  snprintf(file, sizeof file, "%s/empty.log", t->dir);
  close(open(file, O_WRONLY | O_CREAT, 0600));
  assert_int_equal(journal_open(file, &j, &rep, &d), 0);
  assert_int_equal(rep.created, 1);
  make_issued(&a, 1, 1, 1);
  assert_int_equal(journal_append(j, &a.rec), 0);
  assert_int_equal(journal_commit(j, &d), 0);
  journal_close(j);
  assert_int_equal(journal_verify(file, NULL, &d), 0);
  /* A missing parent directory is an I/O error naming the path. */
  snprintf(file, sizeof file, "%s/no/such", t->dir);
  assert_int_equal(journal_open(file, &j, &rep, &d), ST_E_JOURNAL);
  assert_null(j);
  assert_non_null(strstr(d.text, file));
  assert_int_equal(journal_verify(file, NULL, &d), ST_E_JOURNAL);
}

static void test_lock(void **state)
{
  struct fixture_journal *t = *state;
  struct journal *j1 = NULL, *j2 = NULL;
  struct st_detail d;
  assert_int_equal(journal_open(t->jpath, &j1, NULL, &d), 0);
  assert_int_equal(journal_open(t->jpath, &j2, NULL, &d), ST_E_JOURNAL_LOCKED);
  assert_null(j2);
  char want[200];
  snprintf(want, sizeof want, "journal %s is in use by another station process", t->log);
  assert_string_equal(d.text, want);
  /* verify takes no lock */
  assert_int_equal(journal_verify(t->jpath, NULL, &d), 0);
  journal_close(j1);
  assert_int_equal(journal_open(t->jpath, &j2, NULL, &d), 0);
  journal_close(j2);
}

/* ---- tampering ------------------------------------------------------------ */

enum tamper { FLIP_FIELD, FLIP_SYNTAX, DELETE, DELETE_NEXT_TO_LAST, DELETE_TWO, SWAP,
              DUPLICATE, OLD_INSERTED, HEADER_GENESIS, HEADER_VERSION, LONG_LINE };

static const struct {
  enum tamper how;
  uint64_t bad_seq, bad_line, good;
  const char *detail;
} tamper_cases[] = {
    {FLIP_FIELD, 3, 4, 2, "record 3 (line 4): chain hash mismatch: the record was changed, or a "
                          "record before it was removed or inserted"},
    {FLIP_SYNTAX, 3, 4, 2, "record 3 (line 4) cannot be read: its time is not a UTC time "
                           "YYYY-MM-DDTHH:MM:SS.mmmZ: the record was changed or damaged"},
    {DELETE, 4, 4, 2, "record 4 (line 4) follows record 2: record 3 is missing, so a record was "
                      "removed"},
    {DELETE_NEXT_TO_LAST, 5, 5, 3, "record 5 (line 5) follows record 3: record 4 is missing, so "
                                   "a record was removed"},
    {DELETE_TWO, 4, 2, 0, "record 4 (line 2) follows the header: records 1 to 3 are missing, so "
                          "records were removed"},
    {SWAP, 3, 3, 1, "record 3 (line 3) follows record 1, and record 2 comes after it: records "
                    "were reordered"},
    {DUPLICATE, 3, 5, 3, "record 3 (line 5) follows record 3: the record appears twice, so a "
                         "record was copied in"},
    {OLD_INSERTED, 1, 5, 3, "record 1 (line 5) follows record 3: records are out of order, so a "
                            "record was moved or an old record was inserted"},
    {HEADER_GENESIS, 1, 2, 0, "record 1 (line 2): chain hash mismatch: the header or the record "
                              "was changed"},
    {HEADER_VERSION, 0, 1, 0, "line 1: the header is not valid: it names a format version other "
                              "than 1, which this station does not read"},
    {LONG_LINE, 3, 4, 2, "record 3 (line 4) cannot be read: it is longer than 65536 bytes: the "
                         "record was changed or damaged"},
};

/* Applies HOW to the 5-record journal's lines (line 0 is the header). */
static void tamper_apply(struct tlines *l, enum tamper how)
{
  char *tmp;
  switch (how) {
  case FLIP_FIELD: /* 'b' of "board" in the source of record 3 */
    *strstr(l->line[3], "board") = 'c';
    break;
  case FLIP_SYNTAX:
    strchr(l->line[3], 'T')[0] = 't';
    break;
  case DELETE:
  case DELETE_NEXT_TO_LAST:
  case DELETE_TWO: {
    size_t at = how == DELETE ? 3 : how == DELETE_NEXT_TO_LAST ? 4 : 1;
    size_t count = how == DELETE_TWO ? 3 : 1;
    for (size_t k = 0; k < count; k++)
      free(l->line[at + k]);
    memmove(&l->line[at], &l->line[at + count], (l->n - at - count) * sizeof l->line[0]);
    l->n -= count;
    break;
  }
  case SWAP:
    tmp = l->line[2];
    l->line[2] = l->line[3];
    l->line[3] = tmp;
    break;
  case DUPLICATE:
  case OLD_INSERTED:
    memmove(&l->line[5], &l->line[4], (l->n - 4) * sizeof l->line[0]);
    l->line[4] = strdup(l->line[how == DUPLICATE ? 3 : 1]);
    l->n++;
    break;
  case HEADER_GENESIS:
    l->line[0][30] = l->line[0][30] == '0' ? '1' : '0';
    break;
  case HEADER_VERSION:
    l->line[0][16] = '2';
    break;
  case LONG_LINE:
    free(l->line[3]);
    l->line[3] = malloc(70001);
    memset(l->line[3], 'x', 69999);
    l->line[3][69999] = '\n';
    l->line[3][70000] = '\0';
    break;
  }
}

static void test_tamper(void **state)
{
  struct fixture_journal *t = *state;
  for (size_t i = 0; i < sizeof tamper_cases / sizeof tamper_cases[0]; i++) {
    struct tlines l;
    struct journal_verify_report vr;
    struct st_detail d;
    struct journal *j = NULL;
    char jpath[128];
    snprintf(t->jpath, sizeof t->jpath, "%s/j%zu", t->dir, i);
    snprintf(t->log, sizeof t->log, "%s/journal.log", t->jpath);
    snprintf(jpath, sizeof jpath, "%s", t->jpath);
    build_journal(t, 5);
    assert_int_equal(journal_verify(jpath, NULL, &d), 0);
    read_lines(t->log, &l);
    assert_int_equal(l.n, 6);
    tamper_apply(&l, tamper_cases[i].how);
    write_lines(t->log, &l);

    memset(&d, 0, sizeof d);
    assert_int_equal(journal_verify(jpath, &vr, &d), ST_E_JOURNAL_CORRUPT);
    if (strcmp(d.text, tamper_cases[i].detail) != 0)
      fail_msg("case %zu: verify said \"%s\"", i, d.text);
    assert_int_equal(vr.bad_seq, tamper_cases[i].bad_seq);
    assert_int_equal(vr.bad_line, tamper_cases[i].bad_line);
    assert_int_equal(vr.records, tamper_cases[i].good);

    memset(&d, 0, sizeof d);
    off_t before = fixture_file_size(t->log);
    assert_int_equal(journal_open(jpath, &j, NULL, &d), ST_E_JOURNAL_CORRUPT);
    assert_null(j);
    if (strcmp(d.text, tamper_cases[i].detail) != 0)
      fail_msg("case %zu: open said \"%s\"", i, d.text);
    assert_int_equal(fixture_file_size(t->log), before); /* refused, not repaired */
  }
}

static void test_verify_empty_and_garbage(void **state)
{
  struct fixture_journal *t = *state;
  struct st_detail d;
  struct journal *j = NULL;
  char file[128];
  snprintf(file, sizeof file, "%s/empty.log", t->dir);
  close(open(file, O_WRONLY | O_CREAT, 0600));
  assert_int_equal(journal_verify(file, NULL, &d), ST_E_JOURNAL_CORRUPT);
  assert_string_equal(d.text, "line 1: the file is empty: it has no journal header");
  /* A file without a single '\n' that is not a torn header is left alone. */
  snprintf(file, sizeof file, "%s/other.bin", t->dir);
  int fd = open(file, O_WRONLY | O_CREAT, 0600);
  assert_int_equal(write(fd, "\x7f" "ELF\x02\x01", 6), 6);
  close(fd);
  assert_int_equal(journal_open(file, &j, NULL, &d), ST_E_JOURNAL_CORRUPT);
  assert_string_equal(d.text, "line 1: the header is not valid: the file does not begin with a "
                              "station journal header line");
  assert_int_equal(fixture_file_size(file), 6);
}

/* ---- torn tails ------------------------------------------------------------ */

static void torn_case(struct fixture_journal *t, const void *tail, size_t n)
{
  struct journal_verify_report vr;
  struct journal_open_report rep;
  struct st_detail d;
  struct journal *j = NULL;
  struct trec a;
  build_journal(t, 5);
  off_t whole = fixture_file_size(t->log);
  append_bytes(t->log, tail, n);
  assert_int_equal(journal_verify(t->jpath, &vr, &d), 0);
  assert_int_equal(vr.torn_tail, 1);
  assert_int_equal(vr.records, 5);
  assert_int_equal(fixture_file_size(t->log), whole + (off_t)n); /* verify changes nothing */

  assert_int_equal(journal_open(t->jpath, &j, &rep, &d), 0);
  assert_int_equal(rep.torn_bytes_dropped, n);
  assert_int_equal(rep.records, 5);
  assert_int_equal(fixture_file_size(t->log), whole);
  make_issued(&a, 6, 6, 6);
  assert_int_equal(journal_append(j, &a.rec), 0);
  assert_int_equal(a.rec.seq, 6);
  assert_int_equal(journal_commit(j, &d), 0);
  journal_close(j);
  assert_int_equal(journal_verify(t->jpath, &vr, &d), 0);
  assert_int_equal(vr.torn_tail, 0);
  assert_int_equal(vr.records, 6);
}

static void test_torn_partial_line(void **state)
{
  const char partial[] = "6 2024-02-29T12:34:56.789Z issued batch:/media/st";
  torn_case(*state, partial, sizeof partial - 1);
}

static void test_torn_nul_tail(void **state)
{
  char zeros[4096];
  memset(zeros, 0, sizeof zeros);
  torn_case(*state, zeros, sizeof zeros);
}

static void test_torn_long_tail(void **state)
{
  /* A tail longer than a line (a whole group lost to zeros) is still torn. */
  size_t n = 3 * JOURNAL_LINE_MAX + 5;
  char *zeros = calloc(1, n);
  torn_case(*state, zeros, n);
  free(zeros);
}

static void test_torn_header(void **state)
{
  struct fixture_journal *t = *state;
  struct journal_open_report rep;
  struct st_detail d;
  struct journal *j = NULL;
  char file[128];
  static const char part[] = "station-journal 1 0123ab\0\0\0";
  snprintf(file, sizeof file, "%s/torn.log", t->dir);
  int fd = open(file, O_WRONLY | O_CREAT, 0600);
  assert_int_equal(write(fd, part, sizeof part - 1), (ssize_t)(sizeof part - 1));
  close(fd);
  assert_int_equal(journal_open(file, &j, &rep, &d), 0);
  assert_int_equal(rep.created, 1);
  assert_int_equal(rep.torn_bytes_dropped, sizeof part - 1);
  journal_close(j);
  assert_int_equal(fixture_file_size(file), JOURNAL_HEADER_LEN + 1);
  assert_int_equal(journal_verify(file, NULL, &d), 0);
}

/* ---- failure injection ------------------------------------------------------ */

/* Commits 3 records, then makes a commit of 2 more fail through the hooks set
 * by INSTALL; checks the code, the cut, the dead handle and the reopen. */
static void failed_commit_case(struct fixture_journal *t, void (*install)(void), int want)
{
  struct journal *j = NULL;
  struct journal_open_report rep;
  struct st_detail d;
  struct journal_record got;
  struct trec a;
  build_journal(t, 3);
  off_t durable = fixture_file_size(t->log);
  assert_int_equal(journal_open(t->jpath, &j, NULL, &d), 0);
  for (int i = 4; i <= 5; i++) {
    make_issued(&a, i, i, i);
    assert_int_equal(journal_append(j, &a.rec), 0);
  }
  fixture_fault_start();
  install();
  assert_int_equal(journal_commit(j, &d), want);
  assert_non_null(strstr(d.text, "it was cut back to its last durable length"));
  assert_int_equal(fixture_fault_calls(FIXTURE_FTRUNCATE), 1);
  fixture_fault_stop();
  assert_int_equal(fixture_file_size(t->log), durable);
  /* The handle is dead. */
  make_issued(&a, 6, 6, 6);
  assert_int_equal(journal_append(j, &a.rec), ST_E_JOURNAL);
  assert_int_equal(journal_commit(j, &d), ST_E_JOURNAL);
  assert_int_equal(journal_find_csr(j, a.rec.csr_sha256, &got), ST_E_JOURNAL);
  journal_close(j);
  assert_int_equal(journal_open(t->jpath, &j, &rep, &d), 0);
  assert_int_equal(rep.records, 3);
  assert_int_equal(rep.torn_bytes_dropped, 0);
  make_issued(&a, 4, 4, 4);
  assert_int_equal(journal_find_csr(j, a.rec.csr_sha256, &got), 0);
  journal_close(j);
  assert_int_equal(journal_verify(t->jpath, NULL, &d), 0);
}

static void install_fdatasync_enospc(void)
{
  fixture_fault_set(FIXTURE_FDATASYNC, 1, 0, ENOSPC);
}

static void install_write_eio(void)
{
  fixture_fault_set(FIXTURE_WRITE, 1, 0, EIO);
}

static void install_short_write(void)
{
  fixture_fault_tear(1, 0, ENOSPC); /* half a write, then the disk is full */
}

static void test_commit_fdatasync_enospc(void **state)
{
  failed_commit_case(*state, install_fdatasync_enospc, ST_E_NO_SPACE);
}

static void test_commit_write_eio(void **state)
{
  failed_commit_case(*state, install_write_eio, ST_E_JOURNAL);
}

static void test_commit_short_write(void **state)
{
  failed_commit_case(*state, install_short_write, ST_E_NO_SPACE);
  assert_int_equal(fixture_fault_calls(FIXTURE_WRITE), 2);
}

/* ---- a larger journal ------------------------------------------------------ */

static void test_many_records(void **state)
{
  struct fixture_journal *t = *state;
  struct journal *j = NULL;
  struct journal_open_report rep;
  struct st_detail d;
  struct journal_record got;
  struct trec a;
  const int n = 20000;
  assert_int_equal(journal_open(t->jpath, &j, NULL, &d), 0);
  for (int i = 1; i <= n; i++) {
    make_issued(&a, i, i % 5000, i);
    assert_int_equal(journal_append(j, &a.rec), 0);
    if (i % 1000 == 0)
      assert_int_equal(journal_commit(j, &d), 0);
  }
  journal_close(j);
  assert_int_equal(journal_open(t->jpath, &j, &rep, &d), 0);
  assert_int_equal(rep.issued, n);
  for (int i = 1; i <= n; i += 331) {
    make_issued(&a, i, i % 5000, i);
    assert_int_equal(journal_find_csr(j, a.rec.csr_sha256, &got), 1);
    assert_int_equal(got.seq, (uint64_t)i);
    journal_record_cleanup(&got);
    assert_int_equal(journal_find_device(j, a.device, &got), 1);
    assert_int_equal(got.seq, (uint64_t)(15000 + i % 5000 + (i % 5000 == 0 ? 5000 : 0)));
    journal_record_cleanup(&got);
  }
  journal_close(j);
}


/* ---- the seal: what comes after the last checkpoint ----------------------- */

/* A record shaped like a checkpoint (the journal checks no signature). */
static void make_checkpoint(struct trec *t, int i)
{
  memset(t, 0, sizeof *t);
  snprintf(t->source, sizeof t->source, "station");
  t->rec.event = JOURNAL_EVENT_CHECKPOINT;
  t->rec.source = t->source;
  sha256_of(t->rec.key_sha256, "journal key", 1);
  t->rec.has_key_sha256 = 1;
  t->rec.detail = "covers records 1 to 1";
  for (size_t k = 0; k < sizeof t->cert; k++)
    t->cert[k] = (uint8_t)(i + (int)k);
  t->rec.cert_der = t->cert;
  t->rec.cert_len = sizeof t->cert;
}

static void test_unsealed_tail_cut(void **state)
{
  struct fixture_journal *t = *state;
  struct journal *j = NULL;
  struct st_detail d;
  struct trec a, cp, b, c, e;
  struct journal_record got;
  uint8_t chain_b[32], chain_cp[32], chain[32], prev[32];
  char saved[4096], line[256];
  uint64_t cut = 0, last = 0;
  FILE *f;
  int lines = 0;

  assert_int_equal(journal_open(t->jpath, &j, NULL, &d), 0);
  make_issued(&a, 1, 1, 1);
  make_checkpoint(&cp, 2);
  assert_int_equal(journal_append(j, &a.rec), 0);
  assert_int_equal(journal_append(j, &cp.rec), 0);
  memcpy(chain_cp, cp.rec.chain, 32);
  assert_int_equal(journal_commit(j, &d), 0);
  make_issued(&b, 3, 3, 3);
  make_refused(&c, 4);
  assert_int_equal(journal_append(j, &b.rec), 0);
  memcpy(chain_b, b.rec.chain, 32);
  assert_int_equal(journal_append(j, &c.rec), 0);
  assert_int_equal(journal_commit(j, &d), 0);
  assert_int_equal(journal_sealed(j), 2);
  journal_close(j);

  /* reopened: the seal and the tail after it, as found in the file */
  assert_int_equal(journal_open(t->jpath, &j, NULL, &d), 0);
  assert_int_equal(journal_sealed(j), 2);
  assert_int_equal(journal_last_seal(j, &got, prev), 1);
  assert_int_equal(got.seq, 2);
  assert_memory_equal(prev, a.rec.chain, 32);
  journal_record_cleanup(&got);
  assert_int_equal(journal_chain_at(j, 2, chain), 1);
  assert_memory_equal(chain, chain_cp, 32);
  assert_int_equal(journal_chain_at(j, 3, chain), 1);
  assert_memory_equal(chain, chain_b, 32);
  assert_int_equal(journal_chain_at(j, 1, chain), 0); /* before the seal: not kept */

  /* nothing after the seal is trusted once the limit is set */
  assert_int_equal(journal_find_csr(j, b.rec.csr_sha256, &got), 1);
  journal_record_cleanup(&got);
  journal_trust_upto(j, journal_sealed(j));
  assert_int_equal(journal_find_csr(j, b.rec.csr_sha256, &got), ST_E_JOURNAL_UNSEALED);
  assert_int_equal(journal_find_device(j, b.device, &got), ST_E_JOURNAL_UNSEALED);
  assert_int_equal(journal_find_csr(j, a.rec.csr_sha256, &got), 1);
  journal_record_cleanup(&got);

  /* a cut before the seal is refused; after it, the tail goes to a file beside the log */
  assert_int_equal(journal_cut_after(j, 1, saved, sizeof saved, &cut, &d), ST_E_INTERNAL);
  assert_int_equal(journal_cut_after(j, 2, saved, sizeof saved, &cut, &d), 0);
  assert_int_equal(cut, 2);
  assert_non_null(strstr(saved, "journal.log.unsealed-"));
  assert_non_null(f = fopen(saved, "r"));
  while (fgets(line, sizeof line, f) != NULL)
    lines += line[strlen(line) - 1] == '\n';
  fclose(f);
  assert_int_equal(lines, 2);
  journal_last(j, &last, chain);
  assert_int_equal(last, 2);
  assert_memory_equal(chain, chain_cp, 32);
  assert_int_equal(journal_find_csr(j, b.rec.csr_sha256, &got), 0); /* gone from the index */
  assert_int_equal(journal_serial_used(j, b.rec.serial, 16), 0);
  journal_trust_upto(j, UINT64_MAX);

  /* and the journal goes on after its seal */
  make_issued(&e, 5, 5, 5);
  assert_int_equal(journal_append(j, &e.rec), 0);
  assert_int_equal(e.rec.seq, 3);
  assert_int_equal(journal_commit(j, &d), 0);
  journal_close(j);
  assert_int_equal(journal_verify(t->jpath, NULL, &d), 0);
  unlink(saved);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hex),
      cmocka_unit_test(test_base64),
      cmocka_unit_test(test_percent),
      cmocka_unit_test(test_time),
      cmocka_unit_test(test_format_parse),
      cmocka_unit_test(test_parse_hostile),
      cmocka_unit_test(test_index_million),
      cmocka_unit_test_setup_teardown(test_create_append_find, fixture_journal_setup, fixture_journal_teardown),
      cmocka_unit_test_setup_teardown(test_log_file_path, fixture_journal_setup, fixture_journal_teardown),
      cmocka_unit_test_setup_teardown(test_lock, fixture_journal_setup, fixture_journal_teardown),
      cmocka_unit_test_setup_teardown(test_tamper, fixture_journal_setup, fixture_journal_teardown),
      cmocka_unit_test_setup_teardown(test_verify_empty_and_garbage, fixture_journal_setup, fixture_journal_teardown),
      cmocka_unit_test_setup_teardown(test_torn_partial_line, fixture_journal_setup, fixture_journal_teardown),
      cmocka_unit_test_setup_teardown(test_torn_nul_tail, fixture_journal_setup, fixture_journal_teardown),
      cmocka_unit_test_setup_teardown(test_torn_long_tail, fixture_journal_setup, fixture_journal_teardown),
      cmocka_unit_test_setup_teardown(test_torn_header, fixture_journal_setup, fixture_journal_teardown),
      cmocka_unit_test_setup_teardown(test_commit_fdatasync_enospc, fixture_journal_setup, fixture_journal_teardown),
      cmocka_unit_test_setup_teardown(test_commit_write_eio, fixture_journal_setup, fixture_journal_teardown),
      cmocka_unit_test_setup_teardown(test_commit_short_write, fixture_journal_setup, fixture_journal_teardown),
      cmocka_unit_test_setup_teardown(test_many_records, fixture_journal_setup, fixture_journal_teardown),
      cmocka_unit_test_setup_teardown(test_unsealed_tail_cut, fixture_journal_setup, fixture_journal_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
