/*
 * test_hsm_unplug.c - hsm/ when its token is pulled out and put back.
 *
 * The token is SoftHSM behind tests/pkcs11 slow_token (SLOW_TOKEN_PATH, the
 * built module), whose control file takes the token out of its slot
 * ("unplugged": no token listed, new sessions refused, every open session
 * dead for good) and puts it back ("ok"), or fails C_Sign alone ("removed").
 * The group setup makes a fresh SoftHSM token ("station-unplug", user PIN
 * 1234) in a temporary directory; the tests run in order on it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "error.h"
#include "fixture.h"
#include "hsm.h"


#define TOKEN "station-unplug"
#define PIN "1234"
#define WRONG_PIN "987654"
#define KEY "unplug-key"

struct fixture {
  char *dir;
  char control[128];
  char logins[128];
};

static struct fixture *fx;

/* Writes WORD into the slow_token control file. */
static void control(const char *word)
{
  FILE *f = fopen(fx->control, "w");
  assert_non_null(f);
  fprintf(f, "%s\n", word);
  assert_int_equal(fclose(f), 0);
}

/* The C_Login calls the module has seen so far. */
static long logins(void)
{
  return fixture_count_lines(fx->logins);
}

static int group_setup(void **state)
{
  struct fixture *f = calloc(1, sizeof *f);

  if (f == NULL || (f->dir = fixture_token_new("unplug", TOKEN, PIN)) == NULL)
    return -1;
  snprintf(f->control, sizeof f->control, "%s/control", f->dir);
  snprintf(f->logins, sizeof f->logins, "%s/logins", f->dir);
  /* read by slow_token when it is loaded */
  if (setenv("SLOW_TOKEN_MODULE", FIXTURE_SOFTHSM_MODULE, 1) != 0 ||
      setenv("SLOW_TOKEN_CONTROL", f->control, 1) != 0 || setenv("SLOW_TOKEN_LOGINS", f->logins, 1) != 0)
    return -1;
  fx = f;
  *state = f;
  return 0;
}

static int group_teardown(void **state)
{
  struct fixture *f = *state;
  int r = 0;
  if (f != NULL) {
    r = fixture_token_free(f->dir);
    free(f);
  }
  fx = NULL;
  return r;
}

/* Opens the token through slow_token and logs in, failing the test on any error. */
static struct hsm *open_logged_in(void)
{
  control("ok");
  return fixture_hsm_login(SLOW_TOKEN_PATH, TOKEN, PIN);
}

static void test_open_while_unplugged(void **state)
{
  struct hsm *h = NULL;
  struct st_detail d = {""};
  (void)state;
  control("unplugged");
  assert_int_equal(hsm_open(SLOW_TOKEN_PATH, TOKEN, &h, &d), ST_E_HSM_TOKEN);
  assert_null(h);
  assert_non_null(strstr(d.text, "tokens seen: none"));
  control("ok");
}

static void test_unplug_and_back(void **state)
{
  struct hsm *h = open_logged_in();
  struct hsm_key *k = NULL;
  struct st_detail d = {""};
  unsigned char buf[64];
  size_t len = 0;
  int64_t t0;
  long before;
  (void)state;

  assert_int_equal(hsm_generate_ec_p256(h, KEY, &k, &d), 0);
  assert_true(fixture_key_signs(k));
  assert_int_equal(hsm_data_write(h, "unplug-data", "one", 3, &d), 0);

  for (int cycle = 0; cycle < 2; cycle++) {
    control("unplugged");
    assert_false(fixture_key_signs(k));
    assert_int_equal(hsm_data_write(h, "unplug-data", "two", 3, &d), ST_E_HSM);
    assert_non_null(strstr(d.text, "CKR_TOKEN_NOT_PRESENT"));
    /* out: refused at once, without a login attempt */
    before = logins();
    t0 = fixture_now_ms();
    assert_int_equal(hsm_relogin(h, PIN, &d), ST_E_HSM);
    assert_true(fixture_now_ms() - t0 < 1000);
    assert_non_null(strstr(d.text, "token " TOKEN " is not in its slot"));
    assert_int_equal(logins(), before);

    /* back: the sessions from before are dead, a new login brings it back */
    control("ok");
    assert_false(fixture_key_signs(k));
    assert_int_equal(hsm_relogin(h, PIN, &d), 0);
    assert_int_equal(logins(), before + 1);
    assert_true(fixture_key_signs(k));
    assert_int_equal(hsm_data_write(h, "unplug-data", cycle == 0 ? "two" : "six", 3, &d), 0);
    assert_int_equal(hsm_data_read(h, "unplug-data", buf, sizeof buf, &len, &d), 1);
    assert_memory_equal(buf, cycle == 0 ? "two" : "six", 3);
  }
  hsm_key_free(k);
  hsm_close(h);
}

static void test_relogin_sessions_alive(void **state)
{
  struct hsm *h = open_logged_in();
  struct hsm_key *k = NULL;
  struct st_detail d = {""};
  long before;
  (void)state;

  assert_int_equal(hsm_find_key(h, KEY, &k, &d), 0);
  assert_true(fixture_key_signs(k));
  control("removed"); /* C_Sign alone fails; the sessions live on */
  assert_false(fixture_key_signs(k));
  control("ok");
  before = logins();
  assert_int_equal(hsm_relogin(h, PIN, &d), 0);
  assert_int_equal(logins(), before + 1);
  assert_true(fixture_key_signs(k));
  hsm_key_free(k);
  hsm_close(h);
}

static void test_wrong_pin_after_unplug(void **state)
{
  struct hsm *h = open_logged_in();
  struct hsm_key *k = NULL;
  struct st_detail d = {""};
  long before;
  (void)state;

  assert_int_equal(hsm_find_key(h, KEY, &k, &d), 0);
  control("unplugged");
  assert_false(fixture_key_signs(k));
  control("ok");
  before = logins();
  assert_int_equal(hsm_relogin(h, WRONG_PIN, &d), ST_E_HSM_PIN);
  assert_int_equal(logins(), before + 1); /* one attempt, never a loop */
  assert_non_null(strstr(d.text, "token " TOKEN " refused the PIN (CKR_PIN_INCORRECT)"));
  assert_null(strstr(d.text, WRONG_PIN));
  assert_false(fixture_key_signs(k));
  /* libp11 still believes it is logged in; a plain login (the console's
   * unlock) must not take its word for it */
  assert_int_equal(hsm_login(h, PIN, &d), 0);
  assert_int_equal(logins(), before + 2);
  assert_true(fixture_key_signs(k));
  hsm_key_free(k);
  hsm_close(h);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_open_while_unplugged),
    cmocka_unit_test(test_unplug_and_back),
    cmocka_unit_test(test_relogin_sessions_alive),
    cmocka_unit_test(test_wrong_pin_after_unplug),
  };
  static const char *const slow_token[] = {SLOW_TOKEN_PATH, NULL};

  fixture_require_tools("test_hsm_unplug", slow_token);
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
