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
  char dir[64];
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
static int logins(void)
{
  FILE *f = fopen(fx->logins, "r");
  int n = 0, c;
  if (f == NULL)
    return 0;
  while ((c = fgetc(f)) != EOF)
    n += c == '\n';
  fclose(f);
  return n;
}

static int group_setup(void **state)
{
  struct fixture *f = calloc(1, sizeof *f);

  if (f == NULL)
    return -1;
  snprintf(f->dir, sizeof f->dir, "/tmp/station-test-unplug-XXXXXX");
  if (fixture_softhsm_token(f->dir, TOKEN, PIN) != 0)
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
    r = fixture_remove_tree(f->dir);
    free(f);
  }
  fx = NULL;
  return r;
}

/* Opens the token through slow_token and logs in, failing the test on any error. */
static struct hsm *open_logged_in(void)
{
  struct hsm *h = NULL;
  struct st_detail d = {""};
  int r;
  control("ok");
  r = hsm_open(SLOW_TOKEN_PATH, TOKEN, &h, &d);
  if (r != 0)
    fail_msg("hsm_open: %s (%s)", st_error_name(r), d.text);
  r = hsm_login(h, PIN, &d);
  if (r != 0)
    fail_msg("hsm_login: %s (%s)", st_error_name(r), d.text);
  return h;
}

/* 1 when K's signer (taken now, as the engine does) makes a SHA-256
 * signature that verifies with K's public half. */
static int signs(struct hsm_key *k)
{
  static const unsigned char msg[] = "a certificate, say";
  unsigned char sig[256];
  size_t len = sizeof sig;
  EVP_PKEY *pub = hsm_key_public(k);
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  int ok = md != NULL && pub != NULL && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, hsm_key_signer(k)) == 1
           && EVP_DigestSign(md, sig, &len, msg, sizeof msg) == 1;
  EVP_MD_CTX_reset(md);
  ok = ok && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub) == 1
       && EVP_DigestVerify(md, sig, len, msg, sizeof msg) == 1;
  EVP_MD_CTX_free(md);
  EVP_PKEY_free(pub);
  ERR_clear_error();
  return ok;
}

static double now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
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
  double t0;
  int before;
  (void)state;

  assert_int_equal(hsm_generate_ec_p256(h, KEY, &k, &d), 0);
  assert_true(signs(k));
  assert_int_equal(hsm_data_write(h, "unplug-data", "one", 3, &d), 0);

  for (int cycle = 0; cycle < 2; cycle++) {
    control("unplugged");
    assert_false(signs(k));
    assert_int_equal(hsm_data_write(h, "unplug-data", "two", 3, &d), ST_E_HSM);
    assert_non_null(strstr(d.text, "CKR_TOKEN_NOT_PRESENT"));
    /* out: refused at once, without a login attempt */
    before = logins();
    t0 = now_ms();
    assert_int_equal(hsm_relogin(h, PIN, &d), ST_E_HSM);
    assert_true(now_ms() - t0 < 1000);
    assert_non_null(strstr(d.text, "token " TOKEN " is not in its slot"));
    assert_int_equal(logins(), before);

    /* back: the sessions from before are dead, a new login brings it back */
    control("ok");
    assert_false(signs(k));
    assert_int_equal(hsm_relogin(h, PIN, &d), 0);
    assert_int_equal(logins(), before + 1);
    assert_true(signs(k));
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
  int before;
  (void)state;

  assert_int_equal(hsm_find_key(h, KEY, &k, &d), 0);
  assert_true(signs(k));
  control("removed"); /* C_Sign alone fails; the sessions live on */
  assert_false(signs(k));
  control("ok");
  before = logins();
  assert_int_equal(hsm_relogin(h, PIN, &d), 0);
  assert_int_equal(logins(), before + 1);
  assert_true(signs(k));
  hsm_key_free(k);
  hsm_close(h);
}

static void test_wrong_pin_after_unplug(void **state)
{
  struct hsm *h = open_logged_in();
  struct hsm_key *k = NULL;
  struct st_detail d = {""};
  int before;
  (void)state;

  assert_int_equal(hsm_find_key(h, KEY, &k, &d), 0);
  control("unplugged");
  assert_false(signs(k));
  control("ok");
  before = logins();
  assert_int_equal(hsm_relogin(h, WRONG_PIN, &d), ST_E_HSM_PIN);
  assert_int_equal(logins(), before + 1); /* one attempt, never a loop */
  assert_non_null(strstr(d.text, "token " TOKEN " refused the PIN (CKR_PIN_INCORRECT)"));
  assert_null(strstr(d.text, WRONG_PIN));
  assert_false(signs(k));
  /* libp11 still believes it is logged in; a plain login (the console's
   * unlock) must not take its word for it */
  assert_int_equal(hsm_login(h, PIN, &d), 0);
  assert_int_equal(logins(), before + 2);
  assert_true(signs(k));
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
