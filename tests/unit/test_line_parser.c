/* test_line_parser.c - the serial framing: noise, line ends, NULs, splits,
 * timeouts, the block cap, resynchronisation, and a seeded random soak. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "line_parser.h"

/* A CSR as the parser gives it back: LF line ends, nothing around it. */
static const char csr_text[] =
    "-----BEGIN CERTIFICATE REQUEST-----\n"
    "MIIBNzCB3gIBADBWMS0wKwYDVQQDDCQwZjhlN2Q2Yy01YjRhLTQzOTItODE3MC02\n"
    "ZTVkNGMzYjJhMTkxFTATBgNVBAsMDGFjbWUtZmFjdG9yeTBZMBMGByqGSM49AgEG\n"
    "CCqGSM49AwEHA0IABE6D0SJ1Z3nPhYwHAr1zOKzxpUTbPqUnh0V+6hN9T5kDPjtQ\n"
    "oAAwCgYIKoZIzj0EAwIDSAAwRQIhAKZ8mUj8iRjq0q7mV8tR0m1J4iS9sD0Fv1L4\n"
    "-----END CERTIFICATE REQUEST-----\n";

#define MAX_MESSAGES 16

struct collected {
  size_t count;
  enum line_message_kind kind[MAX_MESSAGES];
  char *text[MAX_MESSAGES];
};

static void collect(void *arg, const struct line_message *m)
{
  struct collected *c = arg;
  assert_true(c->count < MAX_MESSAGES);
  c->kind[c->count] = m->kind;
  c->text[c->count] = m->text != NULL ? strndup(m->text, m->len) : NULL;
  if (m->text != NULL)
    assert_int_equal(strlen(m->text), m->len);
  c->count++;
}

static void collected_clear(struct collected *c)
{
  for (size_t i = 0; i < c->count; i++)
    free(c->text[i]);
  memset(c, 0, sizeof *c);
}

/* CSR text with every LF replaced by EOL. */
static char *with_line_ends(const char *eol)
{
  char *out = malloc(sizeof csr_text * 2 + 1);
  size_t n = 0;
  for (const char *p = csr_text; *p != '\0'; p++) {
    if (*p == '\n') {
      memcpy(out + n, eol, strlen(eol));
      n += strlen(eol);
    } else {
      out[n++] = *p;
    }
  }
  out[n] = '\0';
  return out;
}

static void feed_str(struct line_parser *p, const char *s, int64_t now, struct collected *c)
{
  line_parser_feed(p, (const uint8_t *)s, strlen(s), now, collect, c);
}

static void assert_one_csr(struct collected *c)
{
  assert_int_equal(c->count, 1);
  assert_int_equal(c->kind[0], LINE_MESSAGE_CSR);
  assert_string_equal(c->text[0], csr_text);
}

static void test_plain_block(void **state)
{
  struct line_parser *p = line_parser_new(0, 0);
  struct collected c = {0};
  (void)state;
  assert_false(line_parser_in_block(p));
  assert_int_equal(line_parser_deadline(p), -1);
  feed_str(p, csr_text, 1, &c);
  assert_one_csr(&c);
  assert_false(line_parser_in_block(p));
  collected_clear(&c);
  line_parser_free(p);
}

static void test_cr_lf_crlf_all_normalised(void **state)
{
  static const char *const ends[] = {"\n", "\r", "\r\n", "\n\r", "\r\n\r\n"};
  (void)state;
  for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++) {
    struct line_parser *p = line_parser_new(0, 0);
    struct collected c = {0};
    char *text = with_line_ends(ends[i]);
    feed_str(p, text, 1, &c);
    assert_one_csr(&c);
    collected_clear(&c);
    free(text);
    line_parser_free(p);
  }
}

static void test_noise_before_between_after(void **state)
{
  static const uint8_t junk[] = {0x00, 0xff, 0x1b, '[', '2', 'J', 0x00, 0x00, 0x80, '-', '-', '-', 0x7f,
                                 '\r', 0xfe, 'B', 'E', 'G', 'I', 'N', '\n', 0x00};
  struct line_parser *p = line_parser_new(0, 0);
  struct collected c = {0};
  (void)state;
  feed_str(p, "U-Boot 2023.04 (Jan 01 2024)\r\nDRAM:  512 MiB\r\n\r\nStarting kernel ...\n", 1, &c);
  line_parser_feed(p, junk, sizeof junk, 2, collect, &c);
  feed_str(p, csr_text, 3, &c);
  line_parser_feed(p, junk, sizeof junk, 4, collect, &c);
  feed_str(p, "-----END CERTIFICATE REQUEST-----\nlogin: ", 5, &c);
  feed_str(p, csr_text, 6, &c);
  line_parser_feed(p, junk, sizeof junk, 7, collect, &c);
  assert_int_equal(c.count, 2);
  assert_string_equal(c.text[0], csr_text);
  assert_string_equal(c.text[1], csr_text);
  collected_clear(&c);
  line_parser_free(p);
}

static void test_nul_bytes_dropped_everywhere(void **state)
{
  struct line_parser *p = line_parser_new(0, 0);
  struct collected c = {0};
  uint8_t buf[2 * sizeof csr_text];
  size_t n = 0;
  (void)state;
  for (const char *s = csr_text; *s != '\0'; s++) {
    buf[n++] = (uint8_t)*s;
    if ((s - csr_text) % 7 == 0)
      buf[n++] = 0;
  }
  line_parser_feed(p, buf, n, 1, collect, &c);
  assert_one_csr(&c);
  collected_clear(&c);
  line_parser_free(p);
}

static void test_block_split_in_single_bytes(void **state)
{
  struct line_parser *p = line_parser_new(0, 0);
  struct collected c = {0};
  char *text = with_line_ends("\r\n");
  (void)state;
  size_t len = strlen(text);
  for (size_t i = 0; i < len; i++) {
    line_parser_feed(p, (const uint8_t *)text + i, 1, (int64_t)i, collect, &c);
    assert_int_equal(c.count, i + 2 >= len ? 1 : 0); /* out at the CR of the END line */
  }
  assert_one_csr(&c);
  collected_clear(&c);
  free(text);
  line_parser_free(p);
}

static void test_marker_after_junk_on_same_line(void **state)
{
  struct line_parser *p = line_parser_new(0, 0);
  struct collected c = {0};
  char long_junk[1000];
  (void)state;
  memset(long_junk, 'x', sizeof long_junk - 1);
  long_junk[sizeof long_junk - 1] = '\0';
  feed_str(p, "[    1.234] eth0: link up", 1, &c);
  feed_str(p, csr_text, 2, &c);
  feed_str(p, long_junk, 3, &c);
  feed_str(p, "  \t", 3, &c);
  feed_str(p, csr_text, 4, &c);
  assert_int_equal(c.count, 2);
  assert_string_equal(c.text[0], csr_text);
  assert_string_equal(c.text[1], csr_text);
  collected_clear(&c);
  line_parser_free(p);
}

static void test_blanks_trimmed_and_blank_lines_skipped(void **state)
{
  struct line_parser *p = line_parser_new(0, 0);
  struct collected c = {0};
  char *text = with_line_ends(" \t\n\n   ");
  (void)state;
  feed_str(p, text, 1, &c);
  feed_str(p, "\n", 1, &c);
  assert_one_csr(&c);
  collected_clear(&c);
  free(text);
  line_parser_free(p);
}

static void test_new_certificate_request_label(void **state)
{
  static const char text[] = "-----BEGIN NEW CERTIFICATE REQUEST-----\nAAAA\n"
                             "-----END CERTIFICATE REQUEST-----\nBBBB\n-----END NEW CERTIFICATE REQUEST-----\n";
  struct line_parser *p = line_parser_new(0, 0);
  struct collected c = {0};
  (void)state;
  feed_str(p, text, 1, &c);
  assert_int_equal(c.count, 1);
  assert_int_equal(c.kind[0], LINE_MESSAGE_CSR);
  assert_string_equal(c.text[0], text); /* the other label's END is body text */
  collected_clear(&c);
  line_parser_free(p);
}

static void test_end_line_with_junk_is_not_an_end(void **state)
{
  struct line_parser *p = line_parser_new(0, 0);
  struct collected c = {0};
  (void)state;
  feed_str(p, "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\nxx-----END CERTIFICATE REQUEST-----\n", 1, &c);
  assert_int_equal(c.count, 0);
  assert_true(line_parser_in_block(p));
  collected_clear(&c);
  line_parser_free(p);
}

static void test_silent_block_times_out_then_next_csr(void **state)
{
  struct line_parser *p = line_parser_new(0, 1000);
  struct collected c = {0};
  (void)state;
  feed_str(p, "-----BEGIN CERTIFICATE REQUEST-----\r\nMIIBNzCB3gIBADBWMS0w", 100, &c);
  assert_true(line_parser_in_block(p));
  assert_int_equal(line_parser_deadline(p), 1100);
  feed_str(p, "KwYDVQQD\r\n", 900, &c); /* a byte keeps it alive */
  assert_int_equal(line_parser_deadline(p), 1900);
  line_parser_tick(p, 1899, collect, &c);
  assert_int_equal(c.count, 0);
  line_parser_tick(p, 1900, collect, &c);
  assert_int_equal(c.count, 1);
  assert_int_equal(c.kind[0], LINE_MESSAGE_TIMEOUT);
  assert_null(c.text[0]);
  assert_false(line_parser_in_block(p));
  line_parser_tick(p, 5000, collect, &c); /* once only */
  assert_int_equal(c.count, 1);
  feed_str(p, csr_text, 6000, &c);
  assert_int_equal(c.count, 2);
  assert_string_equal(c.text[1], csr_text);
  collected_clear(&c);
  line_parser_free(p);
}

static void test_late_feed_times_out_the_old_block_first(void **state)
{
  struct line_parser *p = line_parser_new(0, 1000);
  struct collected c = {0};
  (void)state;
  feed_str(p, "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n", 0, &c);
  feed_str(p, csr_text, 5000, &c); /* no tick came between */
  assert_int_equal(c.count, 2);
  assert_int_equal(c.kind[0], LINE_MESSAGE_TIMEOUT);
  assert_int_equal(c.kind[1], LINE_MESSAGE_CSR);
  assert_string_equal(c.text[1], csr_text);
  collected_clear(&c);
  line_parser_free(p);
}

static void test_oversized_block_refused_once_then_resync(void **state)
{
  struct line_parser *p = line_parser_new(0, 0);
  struct collected c = {0};
  char line[66];
  (void)state;
  memset(line, 'A', 64);
  line[64] = '\n';
  line[65] = '\0';
  feed_str(p, "-----BEGIN CERTIFICATE REQUEST-----\n", 1, &c);
  for (int i = 0; i < 400; i++) /* 26 KB */
    feed_str(p, line, 2, &c);
  feed_str(p, "-----END CERTIFICATE REQUEST-----\n", 3, &c);
  assert_int_equal(c.count, 1);
  assert_int_equal(c.kind[0], LINE_MESSAGE_TOO_LARGE);
  feed_str(p, csr_text, 4, &c);
  assert_int_equal(c.count, 2);
  assert_string_equal(c.text[1], csr_text);
  collected_clear(&c);
  line_parser_free(p);
}

static void test_oversized_single_line_refused_without_newline(void **state)
{
  struct line_parser *p = line_parser_new(0, 0);
  struct collected c = {0};
  uint8_t *junk = malloc(100000);
  (void)state;
  memset(junk, 'Q', 100000);
  feed_str(p, "-----BEGIN CERTIFICATE REQUEST-----\n", 1, &c);
  line_parser_feed(p, junk, 100000, 2, collect, &c);
  assert_int_equal(c.count, 1);
  assert_int_equal(c.kind[0], LINE_MESSAGE_TOO_LARGE);
  feed_str(p, "\n", 3, &c);
  feed_str(p, csr_text, 4, &c);
  assert_int_equal(c.count, 2);
  assert_string_equal(c.text[1], csr_text);
  collected_clear(&c);
  free(junk);
  line_parser_free(p);
}

static void test_cap_is_inclusive(void **state)
{
  size_t exact = strlen(csr_text);
  struct line_parser *fits = line_parser_new(exact, 0);
  struct line_parser *short_by_one = line_parser_new(exact - 1, 0);
  struct collected c = {0}, d = {0};
  (void)state;
  feed_str(fits, csr_text, 1, &c);
  assert_one_csr(&c);
  feed_str(short_by_one, csr_text, 1, &d);
  assert_int_equal(d.count, 1);
  assert_int_equal(d.kind[0], LINE_MESSAGE_TOO_LARGE);
  collected_clear(&c);
  collected_clear(&d);
  line_parser_free(fits);
  line_parser_free(short_by_one);
}

static void test_noise_without_newlines_never_grows(void **state)
{
  struct line_parser *p = line_parser_new(0, 0);
  struct collected c = {0};
  uint8_t chunk[4096];
  (void)state;
  for (size_t i = 0; i < sizeof chunk; i++)
    chunk[i] = (uint8_t)("-----BEGIN CERT"[i % 15]);
  for (int i = 0; i < 2048; i++) /* 8 MiB of near-markers */
    line_parser_feed(p, chunk, sizeof chunk, i, collect, &c);
  assert_int_equal(c.count, 0);
  assert_false(line_parser_in_block(p));
  feed_str(p, "\n", 3000, &c);
  feed_str(p, csr_text, 3000, &c);
  assert_one_csr(&c);
  collected_clear(&c);
  line_parser_free(p);
}

static void test_new_begin_restarts_block(void **state)
{
  struct line_parser *p = line_parser_new(0, 0);
  struct collected c = {0};
  (void)state;
  feed_str(p, "-----BEGIN CERTIFICATE REQUEST-----\nMIIBNzCB3gIBADBW\n", 1, &c);
  feed_str(p, csr_text, 2, &c);
  assert_one_csr(&c);
  collected_clear(&c);
  line_parser_free(p);
}

static void test_reset_forgets_partial_block(void **state)
{
  struct line_parser *p = line_parser_new(0, 0);
  struct collected c = {0};
  (void)state;
  feed_str(p, "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n", 1, &c);
  line_parser_reset(p);
  assert_false(line_parser_in_block(p));
  feed_str(p, "-----END CERTIFICATE REQUEST-----\n", 2, &c);
  assert_int_equal(c.count, 0);
  feed_str(p, csr_text, 3, &c);
  assert_one_csr(&c);
  collected_clear(&c);
  line_parser_free(p);
}

/* Seeded soak: random noise (no marker can form: no '-'), CSRs with random line
 * ends, all cut at random points; every CSR must come out exactly. */
static void test_random_noise_and_splits(void **state)
{
  uint32_t seed = 12345;
  (void)state;
  for (int round = 0; round < 200; round++) {
    struct line_parser *p = line_parser_new(0, 0);
    struct collected c = {0};
    size_t cap = 64 * 1024, n = 0, csrs = 0;
    uint8_t *stream = malloc(cap);
    static const char *const ends[] = {"\n", "\r\n", "\r"};
    while (n < cap - 4096 && csrs < MAX_MESSAGES) {
      size_t noise;
      char *text;
      seed = seed * 1103515245u + 12345u;
      noise = (seed >> 16) % 300;
      for (size_t i = 0; i < noise; i++) {
        seed = seed * 1103515245u + 12345u;
        stream[n] = (uint8_t)(seed >> 16);
        if (stream[n] == '-')
          stream[n] = 0;
        n++;
      }
      stream[n++] = '\n';
      text = with_line_ends(ends[(seed >> 8) % 3]);
      memcpy(stream + n, text, strlen(text));
      n += strlen(text);
      free(text);
      csrs++;
    }
    for (size_t off = 0; off < n;) {
      size_t piece;
      seed = seed * 1103515245u + 12345u;
      piece = 1 + (seed >> 16) % 97;
      if (piece > n - off)
        piece = n - off;
      line_parser_feed(p, stream + off, piece, round, collect, &c);
      off += piece;
    }
    assert_int_equal(c.count, csrs);
    for (size_t i = 0; i < c.count; i++) {
      assert_int_equal(c.kind[i], LINE_MESSAGE_CSR);
      assert_string_equal(c.text[i], csr_text);
    }
    collected_clear(&c);
    free(stream);
    line_parser_free(p);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_plain_block),
    cmocka_unit_test(test_cr_lf_crlf_all_normalised),
    cmocka_unit_test(test_noise_before_between_after),
    cmocka_unit_test(test_nul_bytes_dropped_everywhere),
    cmocka_unit_test(test_block_split_in_single_bytes),
    cmocka_unit_test(test_marker_after_junk_on_same_line),
    cmocka_unit_test(test_blanks_trimmed_and_blank_lines_skipped),
    cmocka_unit_test(test_new_certificate_request_label),
    cmocka_unit_test(test_end_line_with_junk_is_not_an_end),
    cmocka_unit_test(test_silent_block_times_out_then_next_csr),
    cmocka_unit_test(test_late_feed_times_out_the_old_block_first),
    cmocka_unit_test(test_oversized_block_refused_once_then_resync),
    cmocka_unit_test(test_oversized_single_line_refused_without_newline),
    cmocka_unit_test(test_cap_is_inclusive),
    cmocka_unit_test(test_noise_without_newlines_never_grows),
    cmocka_unit_test(test_new_begin_restarts_block),
    cmocka_unit_test(test_reset_forgets_partial_block),
    cmocka_unit_test(test_random_noise_and_splits),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
