/* test_hsm_uri.c - PKCS#11 URI parsing (hsm_uri_parse, RFC 7512). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "error.h"
#include "hsm.h"

/* Parses URI, expecting success. */
static void parse_ok(const char *uri, struct hsm_uri *u)
{
  struct st_detail d = {""};
  int r = hsm_uri_parse(uri, u, &d);
  if (r != 0)
    fail_msg("%s: %s (%s)", uri, st_error_name(r), d.text);
}

/* Parses URI, expecting ST_E_USAGE with a detail containing WANT; checks that
 * nothing is left allocated in the result. */
static void parse_bad(const char *uri, const char *want)
{
  struct hsm_uri u;
  struct st_detail d = {""};
  int r = hsm_uri_parse(uri, &u, &d);
  if (r != ST_E_USAGE)
    fail_msg("%s: got %s, want usage", uri != NULL ? uri : "(null)", st_error_name(r));
  if (strstr(d.text, want) == NULL)
    fail_msg("%s: detail \"%s\" lacks \"%s\"", uri != NULL ? uri : "(null)", d.text, want);
  assert_null(u.token);
  assert_null(u.object);
  assert_null(u.module_path);
  assert_null(u.pin_source);
}

static void test_full_uri(void **state)
{
  struct hsm_uri u;
  (void)state;
  parse_ok("pkcs11:token=factory-ca;object=ca-key;type=private"
           "?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=/run/station/pin",
           &u);
  assert_string_equal(u.token, "factory-ca");
  assert_string_equal(u.object, "ca-key");
  assert_string_equal(u.module_path, "/usr/lib/softhsm/libsofthsm2.so");
  assert_string_equal(u.pin_source, "/run/station/pin");
  hsm_uri_cleanup(&u);
  assert_null(u.token);
  assert_null(u.pin_source);
}

static void test_partial_uris(void **state)
{
  struct hsm_uri u;
  (void)state;
  parse_ok("pkcs11:object=root", &u);
  assert_null(u.token);
  assert_string_equal(u.object, "root");
  assert_null(u.module_path);
  assert_null(u.pin_source);
  hsm_uri_cleanup(&u);

  parse_ok("pkcs11:", &u);
  assert_null(u.token);
  assert_null(u.object);
  hsm_uri_cleanup(&u);

  parse_ok("PKCS11:token=t?pin-source=env:STATION_PIN", &u);
  assert_string_equal(u.token, "t");
  assert_string_equal(u.pin_source, "env:STATION_PIN");
  hsm_uri_cleanup(&u);

  /* An empty path and a query only. */
  parse_ok("pkcs11:?module-path=/m.so", &u);
  assert_null(u.token);
  assert_string_equal(u.module_path, "/m.so");
  hsm_uri_cleanup(&u);
}

static void test_percent_decoding(void **state)
{
  struct hsm_uri u;
  (void)state;
  parse_ok("pkcs11:token=Factory%20CA%3b1;object=key%2Fa%25b%c3%a9;id=%01%02%ff"
           "?pin-source=/tmp/a%26b",
           &u);
  assert_string_equal(u.token, "Factory CA;1");
  assert_string_equal(u.object, "key/a%b\xc3\xa9");
  assert_string_equal(u.pin_source, "/tmp/a&b");
  hsm_uri_cleanup(&u);
}

static void test_ignored_attributes(void **state)
{
  struct hsm_uri u;
  (void)state;
  parse_ok("pkcs11:manufacturer=SoftHSM%20project;model=SoftHSM%20v2;serial=1234;"
           "token=t;type=cert;slot-id=3;library-version=2.6;x-vendor=1?x-other=2",
           &u);
  assert_string_equal(u.token, "t");
  assert_null(u.object);
  hsm_uri_cleanup(&u);
}

static void test_pin_value_refused(void **state)
{
  struct hsm_uri u;
  struct st_detail d = {""};
  (void)state;
  assert_int_equal(hsm_uri_parse("pkcs11:token=t;object=k?pin-value=s3cret-4711", &u, &d),
                   ST_E_USAGE);
  assert_non_null(strstr(d.text, "pin-value"));
  assert_non_null(strstr(d.text, "pin-source"));
  assert_null(strstr(d.text, "s3cret-4711")); /* the PIN is not echoed */
  assert_null(u.token);
  assert_null(u.object);
  /* In the path it is refused just the same. */
  parse_bad("pkcs11:pin-value=1234", "pin-value is refused");
}

static void test_malformed(void **state)
{
  (void)state;
  parse_bad(NULL, "none given");
  parse_bad("token=t", "must begin with");
  parse_bad("pkcs12:token=t", "must begin with");
  parse_bad("pkcs11:token=a%2", "bad %-escape");
  parse_bad("pkcs11:token=a%", "bad %-escape");
  parse_bad("pkcs11:token=a%zz", "bad %-escape");
  parse_bad("pkcs11:token=a%g1b", "bad %-escape");
  parse_bad("pkcs11:object=a b", "must be %-escaped");
  parse_bad("pkcs11:object=a#b", "must be %-escaped");
  parse_bad("pkcs11:object=a\tb", "must be %-escaped");
  parse_bad("pkcs11:object=a%00b", "NUL byte");
  parse_bad("pkcs11:token", "name=value");
  parse_bad("pkcs11:=x", "name=value");
  parse_bad("pkcs11:token=", "is empty");
  parse_bad("pkcs11:token=a;;object=b", "empty attribute");
  parse_bad("pkcs11:token=a;", "dangling ';'");
  parse_bad("pkcs11:?module-path=/m.so&", "dangling '&'");
  parse_bad("pkcs11:token=a;token=b", "appears twice");
  parse_bad("pkcs11:objet=k", "unknown attribute objet");
  parse_bad("pkcs11:token=a?module-name=softhsm2", "module-path");
  parse_bad("pkcs11:module-path=/m.so", "belongs in the query");
  parse_bad("pkcs11:?object=k", "belongs in the path");
  /* A well-formed value is dropped again when a later attribute is bad. */
  parse_bad("pkcs11:token=a;object=b?pin-source=/p&oops", "name=value");
}

static void test_too_long(void **state)
{
  size_t n = 5000;
  char *uri = malloc(n + 1);
  (void)state;
  assert_non_null(uri);
  memcpy(uri, "pkcs11:object=", 14);
  memset(uri + 14, 'a', n - 14);
  uri[n] = '\0';
  parse_bad(uri, "longer than");
  free(uri);
}

static void test_cleanup_null(void **state)
{
  (void)state;
  hsm_uri_cleanup(NULL);
  assert_int_equal(hsm_uri_parse("pkcs11:", NULL, NULL), ST_E_USAGE);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_full_uri),
    cmocka_unit_test(test_partial_uris),
    cmocka_unit_test(test_percent_decoding),
    cmocka_unit_test(test_ignored_attributes),
    cmocka_unit_test(test_pin_value_refused),
    cmocka_unit_test(test_malformed),
    cmocka_unit_test(test_too_long),
    cmocka_unit_test(test_cleanup_null),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
