/*
 * test_config.c - the configuration reader: a full file, defaults, relative
 * paths, and every kind of error with the exact FILE:LINE:COLUMN it names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "error.h"

/* Sections that are valid, to complete a file whose error lies elsewhere.
 * They go last, so they never move the line of the error under test. */
#define HSM_OK "hsm: {module: m.so, token: t, key: k, pin: prompt}\n"
#define CA_OK "ca: {certificate: c.pem, root: r.pem}\n"
#define JOURNAL_OK "journal: {path: j}\n"
#define TAIL_OK CA_OK JOURNAL_OK

/* Loads TEXT as "station.yaml"; returns the code, the message in DETAIL. */
static int load_text(const char *text, struct station_config **c, struct st_detail *detail)
{
  memset(detail, 0, sizeof *detail);
  *c = (struct station_config *)(uintptr_t)1;   /* must be reset to NULL on failure */
  return config_load_buffer("station.yaml", text, strlen(text), c, detail);
}

/* Asserts that TEXT is refused with a message that starts with WHERE
 * ("station.yaml:L:C: ") and holds WORD. */
static void expect_error(const char *text, const char *where, const char *word)
{
  struct station_config *c;
  struct st_detail detail;
  int r = load_text(text, &c, &detail);

  if (strncmp(detail.text, where, strlen(where)) != 0 || strstr(detail.text, word) == NULL)
    print_error("message \"%s\" lacks \"%s\" or \"%s\"\n", detail.text, where, word);
  assert_int_equal(r, ST_E_CONFIG);
  assert_null(c);
  assert_memory_equal(detail.text, where, strlen(where));
  assert_non_null(strstr(detail.text, word));
}

/* Asserts that TEXT is refused with exactly MESSAGE. */
static void expect_message(const char *text, const char *message)
{
  struct station_config *c;
  struct st_detail detail;
  int r = load_text(text, &c, &detail);

  assert_int_equal(r, ST_E_CONFIG);
  assert_null(c);
  assert_string_equal(detail.text, message);
}

/* Writes LEN bytes of TEXT to a new file in a new temporary directory; the
 * caller removes both with remove_temp. */
static char *write_temp(const char *text, size_t len)
{
  char dir[] = "/tmp/test_config.XXXXXX";
  char *path = malloc(sizeof dir + 16);
  FILE *f;

  assert_non_null(mkdtemp(dir));
  assert_non_null(path);
  snprintf(path, sizeof dir + 16, "%s/station.yaml", dir);
  f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(text, 1, len, f), len);
  assert_int_equal(fclose(f), 0);
  return path;
}

/* Removes the file PATH made by write_temp and its directory. */
static void remove_temp(char *path)
{
  unlink(path);
  *strrchr(path, '/') = '\0';
  rmdir(path);
  free(path);
}

static const char full_file[] =
    "# a station with every key set\n"
    "factory: acme-factory.1_x\n"
    "hsm:\n"
    "  module: lib/libsofthsm2.so\n"
    "  token: station\n"
    "  key: local-ca\n"
    "  pin: file:secrets/pin\n"
    "  journal_key: \"journal key 2\"\n"
    "  sessions: 4\n"
    "ca:\n"
    "  certificate: local-ca.pem\n"
    "  root: '/etc/station/factory_ca.pem'\n"
    "profile:\n"
    "  validity_days: 365\n"
    "  production: require\n"
    "  reissue: allow\n"
    "journal:\n"
    "  path: ../var/journal\n"
    "intake:\n"
    "  usb: [/media/station, sticks]\n"
    "  serial:\n"
    "    - port: /dev/ttyUSB0\n"
    "      baud: 921600\n"
    "    - port: /dev/ttyACM1\n";

static void test_full_file(void **state)
{
  struct station_config *c = NULL;
  struct st_detail detail = {{0}};
  (void)state;

  assert_int_equal(config_load_buffer("/srv/station/station.yaml", full_file, strlen(full_file), &c,
                                      &detail), ST_OK);
  assert_non_null(c);
  assert_string_equal(c->source_path, "/srv/station/station.yaml");
  assert_string_equal(c->factory, "acme-factory.1_x");
  assert_string_equal(c->hsm_module, "/srv/station/lib/libsofthsm2.so");
  assert_string_equal(c->hsm_token, "station");
  assert_string_equal(c->hsm_key, "local-ca");
  assert_int_equal(c->pin_kind, PIN_FROM_FILE);
  assert_string_equal(c->pin_ref, "/srv/station/secrets/pin");
  assert_string_equal(c->hsm_journal_key, "journal key 2");
  assert_int_equal(c->hsm_sessions, 4);
  assert_string_equal(c->ca_certificate, "/srv/station/local-ca.pem");
  assert_string_equal(c->ca_root, "/etc/station/factory_ca.pem");
  assert_int_equal(c->validity_days, 365);
  assert_int_equal(c->production, CONFIG_PRODUCTION_REQUIRE);
  assert_int_equal(c->reissue, CONFIG_REISSUE_ALLOW);
  assert_string_equal(c->journal_path, "/srv/station/../var/journal");
  assert_int_equal(c->usb_root_count, 2);
  assert_string_equal(c->usb_roots[0], "/media/station");
  assert_string_equal(c->usb_roots[1], "/srv/station/sticks");
  assert_int_equal(c->serial_port_count, 2);
  assert_string_equal(c->serial_ports[0].port, "/dev/ttyUSB0");
  assert_int_equal(c->serial_ports[0].baud, 921600);
  assert_string_equal(c->serial_ports[1].port, "/dev/ttyACM1");
  assert_int_equal(c->serial_ports[1].baud, 115200);
  config_free(c);
}

static void test_defaults(void **state)
{
  static const char text[] =
      "factory: acme\n"
      "hsm:\n"
      "  module: libsofthsm2.so\n"
      "  token: station\n"
      "  key: local-ca\n"
      "  pin: env:STATION_PIN_1\n"
      "ca:\n"
      "  certificate: /etc/station/local-ca.pem\n"
      "  root: /etc/station/factory_ca.pem\n"
      "journal:\n"
      "  path: /var/lib/station/journal\n";
  struct station_config *c = NULL;
  struct st_detail detail = {{0}};
  (void)state;

  assert_int_equal(config_load_buffer("/etc/station/station.yaml", text, strlen(text), &c, &detail),
                   ST_OK);
  assert_string_equal(c->hsm_module, "libsofthsm2.so");   /* no '/': left to the loader */
  assert_int_equal(c->pin_kind, PIN_FROM_ENV);
  assert_string_equal(c->pin_ref, "STATION_PIN_1");
  assert_string_equal(c->hsm_journal_key, "station-journal");
  assert_int_equal(c->hsm_sessions, 1);
  assert_int_equal(c->validity_days, 7300);
  assert_int_equal(c->production, CONFIG_PRODUCTION_FORBID);
  assert_int_equal(c->reissue, CONFIG_REISSUE_REFUSE);
  assert_string_equal(c->journal_path, "/var/lib/station/journal");
  assert_int_equal(c->usb_root_count, 0);
  assert_null(c->usb_roots);
  assert_int_equal(c->serial_port_count, 0);
  assert_null(c->serial_ports);
  config_free(c);
}

static void test_prompt_block_usb_and_empty_lists(void **state)
{
  static const char text[] =
      "factory: a\n" HSM_OK
      "profile: {production: allow}\n"
      "intake:\n"
      "  usb:\n"
      "    - /media/a\n"
      "    - \"/media/b c\"\n"
      "  serial: []\n" TAIL_OK;
  struct station_config *c = NULL;
  struct st_detail detail = {{0}};
  (void)state;

  assert_int_equal(config_load_buffer("/x/station.yaml", text, strlen(text), &c, &detail), ST_OK);
  assert_int_equal(c->pin_kind, PIN_FROM_PROMPT);
  assert_null(c->pin_ref);
  assert_int_equal(c->production, CONFIG_PRODUCTION_ALLOW);
  assert_int_equal(c->usb_root_count, 2);
  assert_string_equal(c->usb_roots[1], "/media/b c");
  assert_int_equal(c->serial_port_count, 0);
  assert_string_equal(c->ca_certificate, "/x/c.pem");
  config_free(c);
}

static void test_relative_file_name_uses_current_directory(void **state)
{
  static const char text[] = "factory: a\n" HSM_OK TAIL_OK;
  struct station_config *c = NULL;
  struct st_detail detail = {{0}};
  char cwd[4096], expected[4200];
  (void)state;

  assert_non_null(getcwd(cwd, sizeof cwd));
  assert_int_equal(config_load_buffer("conf//station.yaml", text, strlen(text), &c, &detail), ST_OK);
  snprintf(expected, sizeof expected, "%s/conf/c.pem", cwd);
  assert_string_equal(c->ca_certificate, expected);
  assert_string_equal(c->source_path, "conf//station.yaml");
  config_free(c);
  assert_int_equal(config_load_buffer("station.yaml", text, strlen(text), &c, &detail), ST_OK);
  snprintf(expected, sizeof expected, "%s/j", cwd);
  assert_string_equal(c->journal_path, expected);
  config_free(c);
}

static void test_load_file(void **state)
{
  char *path = write_temp(full_file, strlen(full_file));
  struct station_config *c = NULL;
  struct st_detail detail = {{0}};
  char expected[128];
  (void)state;

  assert_int_equal(config_load(path, &c, &detail), ST_OK);
  assert_string_equal(c->source_path, path);
  snprintf(expected, sizeof expected, "%.*s/local-ca.pem", (int)(strrchr(path, '/') - path), path);
  assert_string_equal(c->ca_certificate, expected);
  assert_int_equal(c->serial_ports[0].baud, 921600);
  config_free(c);
  remove_temp(path);
}

static void test_load_missing_file(void **state)
{
  struct station_config *c = (struct station_config *)(uintptr_t)1;
  struct st_detail detail = {{0}};
  (void)state;

  assert_int_equal(config_load("/nonexistent/station/station.yaml", &c, &detail), ST_E_CONFIG);
  assert_null(c);
  assert_string_equal(detail.text, "/nonexistent/station/station.yaml: cannot read the configuration: "
                                   "No such file or directory");
  assert_int_equal(config_load("/tmp", &c, &detail), ST_E_CONFIG);
  assert_string_equal(detail.text, "/tmp: cannot read the configuration: not a regular file");
}

static void test_load_file_too_large(void **state)
{
  size_t len = 64 * 1024 + 1;
  char *text = malloc(len);
  char *path;
  struct station_config *c = NULL;
  struct st_detail detail = {{0}};
  (void)state;

  assert_non_null(text);
  memset(text, '#', len);
  path = write_temp(text, len);
  assert_int_equal(config_load(path, &c, &detail), ST_E_CONFIG);
  assert_null(c);
  assert_non_null(strstr(detail.text, "larger than 65536 bytes"));
  assert_memory_equal(detail.text, path, strlen(path));
  remove_temp(path);
  free(text);
}

static void test_buffer_size_limit(void **state)
{
  static const char head[] = "factory: a\n" HSM_OK TAIL_OK;
  size_t len = 64 * 1024;
  char *text = malloc(len + 1);
  struct station_config *c = NULL;
  struct st_detail detail = {{0}};
  (void)state;

  assert_non_null(text);
  memset(text, '#', len + 1);           /* the rest is one long comment */
  memcpy(text, head, strlen(head));
  assert_int_equal(config_load_buffer("station.yaml", text, len, &c, &detail), ST_OK);
  config_free(c);
  assert_int_equal(config_load_buffer("station.yaml", text, len + 1, &c, &detail), ST_E_CONFIG);
  assert_null(c);
  assert_string_equal(detail.text, "station.yaml: the file is larger than 65536 bytes (64 KiB), "
                                   "the most a configuration may be");
  free(text);
}

static void test_default_path(void **state)
{
  char explicit_path[] = "/opt/s.yaml";
  (void)state;

  setenv("STATION_CONFIG", "/from/env.yaml", 1);
  assert_ptr_equal(config_default_path(explicit_path), explicit_path);
  assert_string_equal(config_default_path(NULL), "/from/env.yaml");
  setenv("STATION_CONFIG", "", 1);
  assert_string_equal(config_default_path(NULL), "/etc/station/station.yaml");
  unsetenv("STATION_CONFIG");
  assert_string_equal(config_default_path(NULL), "/etc/station/station.yaml");
  config_free(NULL);
}

static void test_unknown_keys(void **state)
{
  (void)state;
  expect_message("factory: a\nfactroy: b\n",
                 "station.yaml:2:1: unknown key \"factroy\" at top level (expected one of: factory, "
                 "hsm, ca, profile, journal, gateway, intake, console)");
  expect_message("factory: a\nhsm:\n  modul: /m.so\n" TAIL_OK,
                 "station.yaml:3:3: unknown key \"modul\" in hsm (expected one of: module, token, "
                 "key, pin, journal_key, sessions, sign_timeout)");
  expect_error("factory: a\n" HSM_OK TAIL_OK "intake:\n  serial:\n    - port: /dev/ttyS0\n"
               "      speed: 9600\n",
               "station.yaml:8:7: ", "unknown key \"speed\" in intake.serial[0]");
  expect_error("factory: a\n? [x]\n: y\n", "station.yaml:2:3: ", "expected a key name at top level");
}

static void test_wrong_types(void **state)
{
  (void)state;
  expect_message("factory: [a, b]\n" HSM_OK TAIL_OK,
                 "station.yaml:1:10: factory: expected a string, got a sequence");
  expect_error("factory: a\nhsm: softhsm\n" TAIL_OK, "station.yaml:2:6: ",
               "hsm: expected a mapping with keys module, token");
  expect_error("factory: a\n" HSM_OK "profile:\n  - validity_days\n" TAIL_OK, "station.yaml:4:3: ",
               "profile: expected a mapping");
  expect_error("factory: a\n" HSM_OK "intake: {usb: {a: b}}\n" TAIL_OK, "station.yaml:3:15: ",
               "intake.usb: expected a sequence of paths, got a mapping");
  expect_error("factory: a\n" HSM_OK "intake:\n  serial: [/dev/ttyS0]\n" TAIL_OK,
               "station.yaml:4:12: ", "intake.serial[0]: expected a mapping with keys port, baud");
  expect_error("- factory: a\n", "station.yaml:1:1: ", "expected a mapping at top level");
  expect_error("factory: a\nhsm: {module: {x: y}, token: t, key: k, pin: prompt}\n" TAIL_OK,
               "station.yaml:2:15: ", "hsm.module: expected a string, got a mapping");
}

static void test_missing_keys(void **state)
{
  (void)state;
  expect_message("factory: a\n" HSM_OK CA_OK,
                 "station.yaml:1:1: missing required key \"journal\" (a mapping with path)");
  expect_error("# comment\n\nhsm: {}\n" TAIL_OK, "station.yaml:3:1: ", "missing required key \"factory\"");
  expect_message("factory: a\nhsm:\n  module: /m.so\n  token: t\n  pin: prompt\n" TAIL_OK,
                 "station.yaml:3:3: missing required key \"key\" in hsm (the label of the local CA "
                 "key on the token)");
  expect_error("factory: a\n" HSM_OK "ca:\n  root: r.pem\n" JOURNAL_OK, "station.yaml:4:3: ",
               "missing required key \"certificate\" in ca");
  expect_error("factory: a\n" HSM_OK CA_OK "journal: {}\n", "station.yaml:4:10: ",
               "missing required key \"path\" in journal");
  expect_error("factory: a\n" HSM_OK "intake:\n  serial:\n    - baud: 9600\n" TAIL_OK,
               "station.yaml:5:7: ", "missing required key \"port\" in intake.serial[0]");
}

static void test_empty_strings(void **state)
{
  (void)state;
  expect_error("factory: a\nhsm: {module: m.so, token: '', key: k, pin: prompt}\n" TAIL_OK,
               "station.yaml:2:28: ", "hsm.token: expected a non-empty string, got \"\"");
  expect_error("factory:\n" HSM_OK TAIL_OK, "station.yaml:1:9: ",
               "factory: expected a non-empty string, got nothing");
  expect_error("factory: a\n" HSM_OK "ca: {certificate: \"c\\tx\", root: r}\n" JOURNAL_OK,
               "station.yaml:3:19: ", "expected a string without control characters, got \"c\\x09x\"");
}

static void test_factory_name(void **state)
{
  (void)state;
  expect_message("factory: acme factory\n" HSM_OK TAIL_OK,
                 "station.yaml:1:10: factory: expected 1 to 64 characters from A-Z a-z 0-9 . _ -, "
                 "got \"acme factory\"");
  expect_error("factory: "
               "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n" HSM_OK TAIL_OK,
               "station.yaml:1:10: ", "expected 1 to 64 characters");
  expect_error("factory: a\nhsm: {module: m.so, token: 123456789012345678901234567890123, key: k, "
               "pin: prompt}\n" TAIL_OK,
               "station.yaml:2:28: ", "hsm.token: expected a token label of at most 32 bytes");
}

static void test_pin_sources(void **state)
{
  (void)state;
  expect_message("factory: a\nhsm:\n  module: /m.so\n  token: t\n  key: k\n  pin: 1234\n" TAIL_OK,
                 "station.yaml:6:8: hsm.pin: expected prompt, env:NAME or file:PATH, got \"1234\"");
  expect_error("factory: a\nhsm: {module: m.so, token: t, key: k, pin: env:1PIN}\n" TAIL_OK,
               "station.yaml:2:44: ", "expected env:NAME with NAME a variable name");
  expect_error("factory: a\nhsm: {module: m.so, token: t, key: k, pin: \"env:\"}\n" TAIL_OK,
               "station.yaml:2:44: ", "expected env:NAME");
  expect_error("factory: a\nhsm: {module: m.so, token: t, key: k, pin: \"file:\"}\n" TAIL_OK,
               "station.yaml:2:44: ", "expected file:PATH with a non-empty PATH");
  expect_error("factory: a\nhsm: {module: m.so, token: t, key: k, pin: Prompt}\n" TAIL_OK,
               "station.yaml:2:44: ", "expected prompt, env:NAME or file:PATH");
}

static void test_enums(void **state)
{
  (void)state;
  expect_message("factory: a\n" HSM_OK "profile:\n  production: yes\n" TAIL_OK,
                 "station.yaml:4:15: profile.production: expected forbid, allow or require, got \"yes\"");
  expect_error("factory: a\n" HSM_OK "profile: {reissue: always}\n" TAIL_OK, "station.yaml:3:20: ",
               "profile.reissue: expected refuse or allow, got \"always\"");
  expect_error("factory: a\n" HSM_OK "profile: {production: [allow]}\n" TAIL_OK, "station.yaml:3:23: ",
               "expected forbid, allow or require, got a sequence");
}

static void test_integers(void **state)
{
  (void)state;
  expect_message("factory: a\n" HSM_OK "profile:\n  validity_days: 36501\n" TAIL_OK,
                 "station.yaml:4:18: profile.validity_days: expected an integer from 1 to 36500, "
                 "got \"36501\"");
  expect_error("factory: a\n" HSM_OK "profile: {validity_days: 0}\n" TAIL_OK, "station.yaml:3:26: ",
               "from 1 to 36500");
  expect_error("factory: a\n" HSM_OK "profile: {validity_days: ten}\n" TAIL_OK, "station.yaml:3:26: ",
               "expected an integer");
  expect_error("factory: a\n" HSM_OK "profile: {validity_days: +5}\n" TAIL_OK, "station.yaml:3:26: ",
               "expected an integer");
  expect_error("factory: a\n" HSM_OK "profile: {validity_days: -5}\n" TAIL_OK, "station.yaml:3:26: ",
               "expected an integer");
  expect_error("factory: a\n" HSM_OK "profile: {validity_days: 0x10}\n" TAIL_OK, "station.yaml:3:26: ",
               "expected an integer");
  expect_error("factory: a\n" HSM_OK "profile: {validity_days: 0100}\n" TAIL_OK, "station.yaml:3:26: ",
               "expected an integer");
  expect_error("factory: a\n" HSM_OK "profile: {validity_days: 99999999999999999999999}\n" TAIL_OK,
               "station.yaml:3:26: ", "from 1 to 36500");
  expect_error("factory: a\n" HSM_OK "profile: {validity_days: \"30\"}\n" TAIL_OK,
               "station.yaml:3:26: ", "written without quotes");
  expect_error("factory: a\nhsm: {module: m.so, token: t, key: k, pin: prompt, sessions: 65}\n" TAIL_OK,
               "station.yaml:2:62: ", "hsm.sessions: expected an integer from 1 to 64");
}

static void test_serial_baud(void **state)
{
  (void)state;
  expect_error("factory: a\n" HSM_OK "intake:\n  serial:\n    - {port: /dev/ttyS0, baud: 12345}\n" TAIL_OK,
               "station.yaml:5:32: ", "intake.serial[0].baud: expected a standard rate (1200, 2400, 4800");
  expect_error("factory: a\n" HSM_OK "intake:\n  serial:\n    - {port: /dev/ttyS0, baud: 1800}\n" TAIL_OK,
               "station.yaml:5:32: ", "got \"1800\"");
  expect_error("factory: a\n" HSM_OK "intake:\n  serial:\n    - {port: /dev/ttyS0, baud: fast}\n" TAIL_OK,
               "station.yaml:5:32: ", "expected a standard rate");
  expect_error("factory: a\n" HSM_OK "intake:\n  serial:\n    - {port: /dev/ttyS0, baud: 8000000}\n" TAIL_OK,
               "station.yaml:5:32: ", "got \"8000000\"");
  expect_error("factory: a\n" HSM_OK "intake:\n  serial:\n    - port: /dev/ttyS0\n    - port: /dev/ttyS0\n"
               TAIL_OK,
               "station.yaml:6:13: ", "intake.serial[1].port: expected each port once");
}

static void test_gateway(void **state)
{
  struct station_config *c;
  struct st_detail detail;
  (void)state;
  /* absent: nothing to tell boards */
  assert_int_equal(load_text("factory: a\n" HSM_OK TAIL_OK, &c, &detail), ST_OK);
  assert_null(c->gateway_certificate);
  assert_null(c->gateway_url);
  config_free(c);
  /* the certificate alone: a path; the URL comes from it at start */
  assert_int_equal(load_text("factory: a\n" HSM_OK TAIL_OK "gateway: {certificate: /etc/station/tls-crt}\n", &c,
                             &detail), ST_OK);
  assert_string_equal(c->gateway_certificate, "/etc/station/tls-crt");
  assert_null(c->gateway_url);
  config_free(c);
  assert_int_equal(load_text("factory: a\n" HSM_OK TAIL_OK
                             "gateway:\n  certificate: /t.pem\n  url: https://gw.acme.example:443/api\n", &c,
                             &detail), ST_OK);
  assert_string_equal(c->gateway_url, "https://gw.acme.example:443/api");
  config_free(c);
  expect_error("factory: a\ngateway: {url: https://gw}\n" HSM_OK TAIL_OK, "station.yaml:2:10: ",
               "missing required key \"certificate\" in gateway");
  expect_error("factory: a\ngateway: {certificate: /t.pem, port: 8443}\n" HSM_OK TAIL_OK, "station.yaml:2:32: ",
               "unknown key \"port\"");
  expect_error("factory: a\ngateway: {certificate: /t.pem, url: http://gw}\n" HSM_OK TAIL_OK,
               "station.yaml:2:37: ", "gateway.url: expected https://HOST[:PORT]");
  expect_error("factory: a\ngateway: {certificate: /t.pem, url: https://gw/}\n" HSM_OK TAIL_OK,
               "station.yaml:2:37: ", "no '/' at the end");
  expect_error("factory: a\ngateway: {certificate: /t.pem, url: \"https://gw\\\"x\"}\n" HSM_OK TAIL_OK,
               "station.yaml:2:37: ", "gateway.url: expected");
  expect_error("factory: a\ngateway: {certificate: /t.pem, url: \"https://g w\"}\n" HSM_OK TAIL_OK,
               "station.yaml:2:37: ", "gateway.url: expected");
  expect_error("factory: a\ngateway: {certificate: /t.pem, url: https://}\n" HSM_OK TAIL_OK,
               "station.yaml:2:37: ", "gateway.url: expected");
  expect_error("factory: a\ngateway: /t.pem\n" HSM_OK TAIL_OK, "station.yaml:2:10: ", "gateway");
}

static void test_duplicate_keys(void **state)
{
  (void)state;
  expect_message("factory: a\nhsm:\n  module: /m.so\n  token: t\n  token: u\n" TAIL_OK,
                 "station.yaml:5:3: duplicate key \"token\" in hsm (first given at line 4, column 3)");
  expect_error("factory: a\nfactory: b\n", "station.yaml:2:1: ", "duplicate key \"factory\" at top level");
}

static void test_yaml_syntax(void **state)
{
  (void)state;
  expect_error("factory: a\nhsm:\n\tmodule: /m.so\n", "station.yaml:3:1: ",
               "found character that cannot start any token");
  expect_error("factory: [a, b\n", "station.yaml:2:1: ", "did not find expected ',' or ']'");
  expect_error("factory: a\n  token: b\n", "station.yaml:2:8: ", "invalid YAML");
  expect_error("factory: \"a\x01\"\n", "station.yaml:1:12: ", "control characters are not allowed");
}

static void test_aliases_anchors_tags(void **state)
{
  (void)state;
  expect_message("factory: &f a\n" HSM_OK TAIL_OK,
                 "station.yaml:1:10: anchors and aliases are not allowed (found anchor &f); write the "
                 "value out");
  expect_error("factory: a\njournal: *j\n", "station.yaml:2:10: ", "found alias *j");
  expect_error("factory: !!str a\n", "station.yaml:1:10: ", "tags are not allowed");
}

static void test_documents(void **state)
{
  (void)state;
  expect_message("", "station.yaml:1:1: empty file: expected a mapping with factory, hsm, ca and journal");
  expect_error("# nothing but a comment\n\n", "station.yaml:1:1: ", "empty file");
  expect_error("---\n", "station.yaml:2:1: ", "expected a mapping at top level");
  expect_error("factory: a\n" HSM_OK TAIL_OK "---\nfactory: b\n", "station.yaml:5:1: ",
               "expected exactly one document");
  expect_error("factory: [[[[[[[[[[[[[[[[[[a]]]]]]]]]]]]]]]]]]\n", "station.yaml:1:25: ", "nesting deeper");
}

/* console.shifts: the default three shifts, a list read in minutes, and every
 * kind of bad list refused where it is. */
static void test_console_shifts(void **state)
{
  struct station_config *c;
  struct st_detail detail;
  (void)state;
  assert_int_equal(load_text("factory: f\n" HSM_OK TAIL_OK, &c, &detail), ST_OK);
  assert_int_equal(c->shift_count, 3);
  assert_int_equal(c->shift_starts[0], 6 * 60);
  assert_int_equal(c->shift_starts[1], 14 * 60);
  assert_int_equal(c->shift_starts[2], 22 * 60);
  config_free(c);
  assert_int_equal(load_text("factory: f\nconsole:\n  shifts: [\"00:00\", \"07:30\", \"23:59\"]\n" HSM_OK TAIL_OK,
                             &c, &detail),
                   ST_OK);
  assert_int_equal(c->shift_count, 3);
  assert_int_equal(c->shift_starts[0], 0);
  assert_int_equal(c->shift_starts[1], 7 * 60 + 30);
  assert_int_equal(c->shift_starts[2], 23 * 60 + 59);
  config_free(c);
  expect_error("factory: f\nconsole:\n  shifts: [\"14:00\", \"06:00\"]\n" HSM_OK TAIL_OK, "station.yaml:3:21: ",
               "console.shifts[1]: expected a time after the one before it");
  expect_error("factory: f\nconsole:\n  shifts: [\"24:00\"]\n" HSM_OK TAIL_OK, "station.yaml:3:12: ",
               "from 00:00 to 23:59");
  expect_error("factory: f\nconsole:\n  shifts: [\"6:00\"]\n" HSM_OK TAIL_OK, "station.yaml:3:12: ", "\"HH:MM\"");
  expect_error("factory: f\nconsole:\n  shifts: [\"06:00x\"]\n" HSM_OK TAIL_OK, "station.yaml:3:12: ", "\"HH:MM\"");
  expect_error("factory: f\nconsole:\n  shifts: []\n" HSM_OK TAIL_OK, "station.yaml:3:11: ", "1 to 24 times");
  expect_error("factory: f\nconsole:\n  shifts: 06:00\n" HSM_OK TAIL_OK, "station.yaml:3:11: ", "console.shifts");
  expect_error("factory: f\nconsole:\n  shift: [\"06:00\"]\n" HSM_OK TAIL_OK, "station.yaml:3:3: ",
               "unknown key \"shift\"");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_full_file),
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_prompt_block_usb_and_empty_lists),
      cmocka_unit_test(test_relative_file_name_uses_current_directory),
      cmocka_unit_test(test_load_file),
      cmocka_unit_test(test_load_missing_file),
      cmocka_unit_test(test_load_file_too_large),
      cmocka_unit_test(test_buffer_size_limit),
      cmocka_unit_test(test_default_path),
      cmocka_unit_test(test_unknown_keys),
      cmocka_unit_test(test_wrong_types),
      cmocka_unit_test(test_missing_keys),
      cmocka_unit_test(test_empty_strings),
      cmocka_unit_test(test_factory_name),
      cmocka_unit_test(test_pin_sources),
      cmocka_unit_test(test_enums),
      cmocka_unit_test(test_integers),
      cmocka_unit_test(test_serial_baud),
      cmocka_unit_test(test_gateway),
      cmocka_unit_test(test_duplicate_keys),
      cmocka_unit_test(test_yaml_syntax),
      cmocka_unit_test(test_aliases_anchors_tags),
      cmocka_unit_test(test_documents),
      cmocka_unit_test(test_console_shifts),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
