/*
 * test_printable.c - text from outside made fit for one line of a terminal:
 * st_printable (ASCII only) and st_printable_utf8 (well-formed UTF-8 kept,
 * every other byte, control and bidirectional control escaped), and the cap.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "log.h"

static void expect_utf8(const char *in, const char *want)
{
  char out[128];
  assert_string_equal(st_printable_utf8(out, sizeof out, in), want);
}

static void test_ascii_only(void **state)
{
  char out[64];
  (void)state;
  assert_string_equal(st_printable(out, sizeof out, "M\xc3\xbcller\n"), "M\\xc3\\xbcller\\x0a");
}

static void test_utf8_kept(void **state)
{
  (void)state;
  expect_utf8("M\xc3\xbcller.csr", "M\xc3\xbcller.csr");              /* U+00FC */
  expect_utf8("\xe2\x82\xac 5", "\xe2\x82\xac 5");                    /* U+20AC */
  expect_utf8("\xf0\x9f\x94\x91", "\xf0\x9f\x94\x91");                /* U+1F511 */
  expect_utf8("a\\b", "a\\x5cb");                                      /* the escape character itself */
}

static void test_bad_bytes_escaped(void **state)
{
  (void)state;
  expect_utf8("bad\xffx", "bad\\xffx");                                /* not UTF-8 at all */
  expect_utf8("\xc3", "\\xc3");                                        /* cut short at the end */
  expect_utf8("\xc3(", "\\xc3(");                                      /* cut short by ASCII */
  expect_utf8("\xc0\xaf", "\\xc0\\xaf");                               /* overlong '/' */
  expect_utf8("\xe0\x80\xaf", "\\xe0\\x80\\xaf");                      /* overlong, 3 bytes */
  expect_utf8("\xed\xa0\x80", "\\xed\\xa0\\x80");                      /* a surrogate */
  expect_utf8("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80");             /* past U+10FFFF */
  expect_utf8("\xc2\x9b" "31m", "\\xc2\\x9b31m");                      /* C1 control (CSI) */
  expect_utf8("\x1b[31m", "\\x1b[31m");                                /* ESC */
  expect_utf8("a\xe2\x80\xae" "b", "a\\xe2\\x80\\xaeb");                  /* U+202E right-to-left override */
  expect_utf8("\x7f", "\\x7f");
}

static void test_cap(void **state)
{
  char out[8];
  (void)state;
  /* at most CAP - 1 bytes, never half a character or half an escape */
  assert_string_equal(st_printable_utf8(out, sizeof out, "\xf0\x9f\x94\x91\xf0\x9f\x94\x91"), "\xf0\x9f\x94\x91");
  assert_string_equal(st_printable_utf8(out, sizeof out, "ab\xff\xff"), "ab\\xff");
  assert_string_equal(st_printable_utf8(out, 1, "abc"), "");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ascii_only),
      cmocka_unit_test(test_utf8_kept),
      cmocka_unit_test(test_bad_bytes_escaped),
      cmocka_unit_test(test_cap),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
