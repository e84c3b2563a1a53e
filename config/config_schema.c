/*
 * config_schema.c - the keys of the station's configuration and their checks.
 *
 * The schema (docs/configuration.md is the prose version):
 *
 *   factory   string, required: 1..64 of [A-Za-z0-9._-] (it becomes an OU)
 *   hsm       mapping, required:
 *     module      string, required (a path when it holds a '/')
 *     token       string, required, at most 32 bytes (a PKCS#11 token label)
 *     key         string, required
 *     pin         string, required: prompt | env:NAME | file:PATH
 *     journal_key string, default "station-journal"
 *     sessions    integer 1..64, default 1
 *     sign_timeout integer 1..3600 (seconds), default 30
 *   ca        mapping, required: certificate, root (paths, required)
 *   profile   mapping, optional:
 *     validity_days integer 1..36500, default 7300
 *     production    forbid | allow | require, default forbid
 *     reissue       refuse | allow, default refuse
 *   journal   mapping, required: path (path, required)
 *   gateway   mapping, optional: the factory's device gateway, told to boards
 *     certificate path, required: its TLS server certificate (tls-crt)
 *     url         string, optional: https://HOST[:PORT][/PATH], no trailing
 *                 '/', printable ASCII without blanks, quotes or backslashes
 *   intake    mapping, optional:
 *     usb     sequence of paths
 *     serial  sequence of mappings: port (string, required), baud (one of
 *             the rates of baud_rates.h, default 115200)
 *   console   mapping, optional:
 *     shifts  sequence of 1..24 local times "HH:MM", increasing: when each
 *             shift starts (default ["06:00", "14:00", "22:00"])
 *
 * Each section has its table of keys (cfg_match_keys refuses unknown,
 * repeated and missing ones) and one function that reads the values.
 */
#include "config_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "baud_rates.h"
#include "config.h"
#include "error.h"

#define FACTORY_MAX_LENGTH 64
#define TOKEN_LABEL_MAX_LENGTH 32   /* CK_TOKEN_INFO.label is 32 bytes */
#define DEFAULT_JOURNAL_KEY "station-journal"
#define DEFAULT_SESSIONS 1
#define MAX_SESSIONS 64
#define DEFAULT_SIGN_TIMEOUT 30
#define MAX_SIGN_TIMEOUT 3600
#define DEFAULT_VALIDITY_DAYS 7300
#define MAX_VALIDITY_DAYS 36500
#define DEFAULT_BAUD 115200

/* The rates a serial port can be set to: the one list of baud_rates.h. */
#define STANDARD_BAUD_ENTRY(rate) rate,
static const unsigned standard_bauds[] = {BAUD_RATES(STANDARD_BAUD_ENTRY)};

enum { TOP_FACTORY, TOP_HSM, TOP_CA, TOP_PROFILE, TOP_JOURNAL, TOP_GATEWAY, TOP_INTAKE, TOP_CONSOLE, TOP_COUNT };
static const struct cfg_key top_keys[TOP_COUNT] = {
    [TOP_FACTORY] = {"factory", true, "a name of 1 to 64 characters from A-Z a-z 0-9 . _ -"},
    [TOP_HSM] = {"hsm", true, "a mapping with module, token, key and pin"},
    [TOP_CA] = {"ca", true, "a mapping with certificate and root"},
    [TOP_PROFILE] = {"profile", false, "a mapping with validity_days, production and reissue"},
    [TOP_JOURNAL] = {"journal", true, "a mapping with path"},
    [TOP_GATEWAY] = {"gateway", false, "a mapping with certificate and url"},
    [TOP_INTAKE] = {"intake", false, "a mapping with usb and serial"},
    [TOP_CONSOLE] = {"console", false, "a mapping with shifts"},
};

enum { CONSOLE_SHIFTS, CONSOLE_COUNT };
static const struct cfg_key console_keys[CONSOLE_COUNT] = {
    [CONSOLE_SHIFTS] = {"shifts", false, "a sequence of local times \"HH:MM\" when shifts start"},
};

enum { HSM_MODULE, HSM_TOKEN, HSM_KEY, HSM_PIN, HSM_JOURNAL_KEY, HSM_SESSIONS, HSM_SIGN_TIMEOUT, HSM_COUNT };
static const struct cfg_key hsm_keys[HSM_COUNT] = {
    [HSM_MODULE] = {"module", true, "the path of the PKCS#11 module"},
    [HSM_TOKEN] = {"token", true, "the label of the token"},
    [HSM_KEY] = {"key", true, "the label of the local CA key on the token"},
    [HSM_PIN] = {"pin", true, "prompt, env:NAME or file:PATH"},
    [HSM_JOURNAL_KEY] = {"journal_key", false, "the label of the journal-signing key"},
    [HSM_SESSIONS] = {"sessions", false, "an integer from 1 to 64"},
    [HSM_SIGN_TIMEOUT] = {"sign_timeout", false, "seconds, an integer from 1 to 3600"},
};

enum { CA_CERTIFICATE, CA_ROOT, CA_COUNT };
static const struct cfg_key ca_keys[CA_COUNT] = {
    [CA_CERTIFICATE] = {"certificate", true, "the path of the local CA certificate"},
    [CA_ROOT] = {"root", true, "the path of the factory root certificate"},
};

enum { PROFILE_VALIDITY_DAYS, PROFILE_PRODUCTION, PROFILE_REISSUE, PROFILE_COUNT };
static const struct cfg_key profile_keys[PROFILE_COUNT] = {
    [PROFILE_VALIDITY_DAYS] = {"validity_days", false, "an integer from 1 to 36500"},
    [PROFILE_PRODUCTION] = {"production", false, "forbid, allow or require"},
    [PROFILE_REISSUE] = {"reissue", false, "refuse or allow"},
};
static const char *const production_words[] = {
    [CONFIG_PRODUCTION_FORBID] = "forbid",
    [CONFIG_PRODUCTION_ALLOW] = "allow",
    [CONFIG_PRODUCTION_REQUIRE] = "require",
};
static const char *const reissue_words[] = {
    [CONFIG_REISSUE_REFUSE] = "refuse",
    [CONFIG_REISSUE_ALLOW] = "allow",
};

enum { JOURNAL_PATH, JOURNAL_COUNT };
static const struct cfg_key journal_keys[JOURNAL_COUNT] = {
    [JOURNAL_PATH] = {"path", true, "the path of the journal"},
};

enum { GATEWAY_CERTIFICATE, GATEWAY_URL, GATEWAY_COUNT };
static const struct cfg_key gateway_keys[GATEWAY_COUNT] = {
    [GATEWAY_CERTIFICATE] = {"certificate", true, "the path of the gateway's server certificate (tls-crt)"},
    [GATEWAY_URL] = {"url", false, "https://HOST[:PORT]"},
};
#define GATEWAY_URL_MAX 256

enum { INTAKE_USB, INTAKE_SERIAL, INTAKE_COUNT };
static const struct cfg_key intake_keys[INTAKE_COUNT] = {
    [INTAKE_USB] = {"usb", false, "a sequence of paths"},
    [INTAKE_SERIAL] = {"serial", false, "a sequence of mappings with port and baud"},
};

enum { SERIAL_PORT, SERIAL_BAUD, SERIAL_COUNT };
static const struct cfg_key serial_keys[SERIAL_COUNT] = {
    [SERIAL_PORT] = {"port", true, "the device path, e.g. /dev/ttyUSB0"},
    [SERIAL_BAUD] = {"baud", false, "a standard rate such as 115200"},
};

/* Whether S is a name an OU may carry here: 1..64 of [A-Za-z0-9._-]. */
static bool is_factory_name(const char *s)
{
  size_t len = strlen(s);
  bool ok = len >= 1 && len <= FACTORY_MAX_LENGTH;
  for (size_t i = 0; i < len && ok; i++)
    ok = (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
         (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' || s[i] == '-';
  return ok;
}

/* Whether S is a valid environment variable name: [A-Za-z_][A-Za-z0-9_]*. */
static bool is_env_name(const char *s)
{
  bool ok = s[0] != '\0' && !(s[0] >= '0' && s[0] <= '9');
  for (size_t i = 0; s[i] != '\0' && ok; i++)
    ok = (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
         (s[i] >= '0' && s[i] <= '9') || s[i] == '_';
  return ok;
}

/* Reads factory. */
static int schema_factory(const struct cfg_ctx *ctx, const struct cfg_node *node,
                          struct station_config *c)
{
  char got[CFG_DESCRIBE_SIZE];
  int r = cfg_get_string(ctx, node, "factory", &c->factory);

  if (r == 0 && !is_factory_name(c->factory))
    r = cfg_fail(ctx, node, "factory: expected 1 to %d characters from A-Z a-z 0-9 . _ -, got %s",
                 FACTORY_MAX_LENGTH, cfg_describe(node, got, sizeof got));
  return r;
}

/* Reads hsm.pin: prompt, env:NAME or file:PATH (the PIN itself is not read). */
static int schema_pin(const struct cfg_ctx *ctx, const struct cfg_node *node,
                      struct station_config *c)
{
  char got[CFG_DESCRIBE_SIZE];
  char *source = NULL;
  int r = cfg_get_string(ctx, node, "hsm.pin", &source);

  if (r != 0)
    goto out;
  if (strcmp(source, "prompt") == 0) {
    c->pin_kind = PIN_FROM_PROMPT;
  } else if (strncmp(source, "env:", 4) == 0) {
    c->pin_kind = PIN_FROM_ENV;
    if (!is_env_name(source + 4)) {
      r = cfg_fail(ctx, node, "hsm.pin: expected env:NAME with NAME a variable name "
                   "(letters, digits and _, not starting with a digit), got %s",
                   cfg_describe(node, got, sizeof got));
      goto out;
    }
    if ((c->pin_ref = strdup(source + 4)) == NULL) {
      r = cfg_fail_memory(ctx);
      goto out;
    }
  } else if (strncmp(source, "file:", 5) == 0) {
    c->pin_kind = PIN_FROM_FILE;
    if (source[5] == '\0') {
      r = cfg_fail(ctx, node, "hsm.pin: expected file:PATH with a non-empty PATH, got %s",
                   cfg_describe(node, got, sizeof got));
      goto out;
    }
    if ((c->pin_ref = cfg_resolve_path(ctx, source + 5)) == NULL) {
      r = cfg_fail_memory(ctx);
      goto out;
    }
  } else {
    r = cfg_fail(ctx, node, "hsm.pin: expected prompt, env:NAME or file:PATH, got %s",
                 cfg_describe(node, got, sizeof got));
    goto out;
  }
  r = 0;
out:
  free(source);
  return r;
}

/* Reads hsm.module: a path (resolved) when it holds a '/', else a bare library
 * name left for the dynamic loader's search. */
static int schema_module(const struct cfg_ctx *ctx, const struct cfg_node *node,
                         struct station_config *c)
{
  int r = cfg_get_string(ctx, node, "hsm.module", &c->hsm_module);
  char *resolved = NULL;

  if (r != 0 || strchr(c->hsm_module, '/') == NULL)
    return r;
  if ((resolved = cfg_resolve_path(ctx, c->hsm_module)) == NULL) {
    return cfg_fail_memory(ctx);
  }
  free(c->hsm_module);
  c->hsm_module = resolved;
  return r;
}

/* Reads the hsm section. */
static int schema_hsm(const struct cfg_ctx *ctx, const struct cfg_node *map, struct station_config *c)
{
  const struct cfg_node *v[HSM_COUNT];
  char got[CFG_DESCRIBE_SIZE];
  int r = cfg_match_keys(ctx, map, "hsm", hsm_keys, HSM_COUNT, v);

  if (r != 0 || (r = schema_module(ctx, v[HSM_MODULE], c)) != 0 ||
      (r = cfg_get_string(ctx, v[HSM_TOKEN], "hsm.token", &c->hsm_token)) != 0)
    return r;
  if (strlen(c->hsm_token) > TOKEN_LABEL_MAX_LENGTH) {
    r = cfg_fail(ctx, v[HSM_TOKEN], "hsm.token: expected a token label of at most %d bytes, got %s",
                 TOKEN_LABEL_MAX_LENGTH, cfg_describe(v[HSM_TOKEN], got, sizeof got));
    return r;
  }
  if ((r = cfg_get_string(ctx, v[HSM_KEY], "hsm.key", &c->hsm_key)) != 0 ||
      (r = schema_pin(ctx, v[HSM_PIN], c)) != 0)
    return r;
  if (v[HSM_JOURNAL_KEY] != NULL &&
      (r = cfg_get_string(ctx, v[HSM_JOURNAL_KEY], "hsm.journal_key", &c->hsm_journal_key)) != 0)
    return r;
  if (v[HSM_SESSIONS] != NULL &&
      (r = cfg_get_uint(ctx, v[HSM_SESSIONS], "hsm.sessions", 1, MAX_SESSIONS, &c->hsm_sessions)) != 0)
    return r;
  if (v[HSM_SIGN_TIMEOUT] != NULL &&
      (r = cfg_get_uint(ctx, v[HSM_SIGN_TIMEOUT], "hsm.sign_timeout", 1, MAX_SIGN_TIMEOUT, &c->hsm_sign_timeout)) != 0)
    return r;
  if (c->hsm_journal_key == NULL && (c->hsm_journal_key = strdup(DEFAULT_JOURNAL_KEY)) == NULL)
    r = cfg_fail_memory(ctx);
  return r;
}

/* Reads the ca section. */
static int schema_ca(const struct cfg_ctx *ctx, const struct cfg_node *map, struct station_config *c)
{
  const struct cfg_node *v[CA_COUNT];
  int r = cfg_match_keys(ctx, map, "ca", ca_keys, CA_COUNT, v);

  if (r == 0)
    r = cfg_get_path(ctx, v[CA_CERTIFICATE], "ca.certificate", &c->ca_certificate);
  if (r == 0)
    r = cfg_get_path(ctx, v[CA_ROOT], "ca.root", &c->ca_root);
  return r;
}

/* Reads the profile section (every key optional). */
static int schema_profile(const struct cfg_ctx *ctx, const struct cfg_node *map,
                          struct station_config *c)
{
  const struct cfg_node *v[PROFILE_COUNT];
  int production = (int)c->production, reissue = (int)c->reissue;
  int r = cfg_match_keys(ctx, map, "profile", profile_keys, PROFILE_COUNT, v);

  if (r == 0 && v[PROFILE_VALIDITY_DAYS] != NULL)
    r = cfg_get_uint(ctx, v[PROFILE_VALIDITY_DAYS], "profile.validity_days", 1, MAX_VALIDITY_DAYS,
                     &c->validity_days);
  if (r == 0 && v[PROFILE_PRODUCTION] != NULL)
    r = cfg_get_choice(ctx, v[PROFILE_PRODUCTION], "profile.production", production_words, 3,
                       "forbid, allow or require", &production);
  if (r == 0 && v[PROFILE_REISSUE] != NULL)
    r = cfg_get_choice(ctx, v[PROFILE_REISSUE], "profile.reissue", reissue_words, 2,
                       "refuse or allow", &reissue);
  c->production = (enum config_production)production;
  c->reissue = (enum config_reissue)reissue;
  return r;
}

/* Reads the journal section. */
static int schema_journal(const struct cfg_ctx *ctx, const struct cfg_node *map,
                          struct station_config *c)
{
  const struct cfg_node *v[JOURNAL_COUNT];
  int r = cfg_match_keys(ctx, map, "journal", journal_keys, JOURNAL_COUNT, v);

  if (r == 0)
    r = cfg_get_path(ctx, v[JOURNAL_PATH], "journal.path", &c->journal_path);
  return r;
}

/* Whether S is a URL the station can hand to a board as its gateway: it goes
 * on an answer line and into sota.toml as a TOML basic string, so it is
 * https://, has a host, holds printable ASCII without blanks, quotes or
 * backslashes, and does not end with '/' (paths such as /repo are appended). */
static bool is_gateway_url(const char *s)
{
  size_t len = strlen(s);
  bool ok = len > strlen("https://") && len <= GATEWAY_URL_MAX && strncmp(s, "https://", 8) == 0 &&
            s[8] != '/' && s[8] != ':' && s[len - 1] != '/';
  for (size_t i = 0; i < len && ok; i++)
    ok = s[i] > ' ' && s[i] < 0x7f && s[i] != '"' && s[i] != '\\' && s[i] != '\'';
  return ok;
}

/* Reads the gateway section. */
static int schema_gateway(const struct cfg_ctx *ctx, const struct cfg_node *map,
                          struct station_config *c)
{
  const struct cfg_node *v[GATEWAY_COUNT];
  char got[CFG_DESCRIBE_SIZE];
  int r = cfg_match_keys(ctx, map, "gateway", gateway_keys, GATEWAY_COUNT, v);

  if (r == 0)
    r = cfg_get_path(ctx, v[GATEWAY_CERTIFICATE], "gateway.certificate", &c->gateway_certificate);
  if (r == 0 && v[GATEWAY_URL] != NULL) {
    r = cfg_get_string(ctx, v[GATEWAY_URL], "gateway.url", &c->gateway_url);
    if (r == 0 && !is_gateway_url(c->gateway_url))
      r = cfg_fail(ctx, v[GATEWAY_URL], "gateway.url: expected https://HOST[:PORT] (at most %d characters, "
                   "no blanks, quotes or backslashes, no '/' at the end), got %s", GATEWAY_URL_MAX,
                   cfg_describe(v[GATEWAY_URL], got, sizeof got));
  }
  return r;
}

/* Reads intake.usb: a sequence of paths. */
static int schema_usb(const struct cfg_ctx *ctx, const struct cfg_node *seq, struct station_config *c)
{
  char path[64];
  int r = cfg_expect_sequence(ctx, seq, "intake.usb", "paths");

  if (r != 0 || seq->item_count == 0)
    return r;
  if ((c->usb_roots = calloc(seq->item_count, sizeof *c->usb_roots)) == NULL) {
    return cfg_fail_memory(ctx);
  }
  c->usb_root_count = seq->item_count;
  for (size_t i = 0; i < seq->item_count && r == 0; i++) {
    snprintf(path, sizeof path, "intake.usb[%zu]", i);
    r = cfg_get_path(ctx, seq->items[i], path, &c->usb_roots[i]);
  }
  return r;
}

/* Whether RATE is one of standard_bauds. */
static bool is_standard_baud(unsigned rate)
{
  bool found = false;
  for (size_t i = 0; i < sizeof standard_bauds / sizeof standard_bauds[0] && !found; i++)
    found = standard_bauds[i] == rate;
  return found;
}

/* Refuses the port of entry I of intake.serial when an earlier entry names it. */
static int schema_port_unique(const struct cfg_ctx *ctx, const struct cfg_node *node,
                              const struct station_config *c, size_t i)
{
  int r = 0;
  for (size_t j = 0; j < i && r == 0; j++) {
    if (strcmp(c->serial_ports[j].port, c->serial_ports[i].port) == 0)
      r = cfg_fail(ctx, node, "intake.serial[%zu].port: expected each port once, \"%.64s\" is "
                   "already intake.serial[%zu]", i, c->serial_ports[i].port, j);
  }
  return r;
}

/* Reads entry I of intake.serial: a mapping with port and baud. */
static int schema_serial_port(const struct cfg_ctx *ctx, const struct cfg_node *map,
                              struct station_config *c, size_t i)
{
  const struct cfg_node *v[SERIAL_COUNT];
  struct config_serial_port *entry = &c->serial_ports[i];
  char where[48], path[64], got[CFG_DESCRIBE_SIZE];
  int r;

  snprintf(where, sizeof where, "intake.serial[%zu]", i);
  entry->baud = DEFAULT_BAUD;
  if ((r = cfg_match_keys(ctx, map, where, serial_keys, SERIAL_COUNT, v)) != 0 ||
      (r = cfg_get_string(ctx, v[SERIAL_PORT], cfg_path_join(path, sizeof path, where, "port"),
                          &entry->port)) != 0 ||
      (r = schema_port_unique(ctx, v[SERIAL_PORT], c, i)) != 0 || v[SERIAL_BAUD] == NULL)
    return r;
  cfg_path_join(path, sizeof path, where, "baud");
  r = cfg_get_uint(ctx, v[SERIAL_BAUD], path, 1, 4000000, &entry->baud);
  if (r != 0 || !is_standard_baud(entry->baud))   /* one message, with the list of rates */
    r = cfg_fail(ctx, v[SERIAL_BAUD], "%s: expected a standard rate (%s), got %s", path,
                 BAUD_RATES_TEXT, cfg_describe(v[SERIAL_BAUD], got, sizeof got));
  return r;
}

/* Reads intake.serial: a sequence of mappings. */
static int schema_serial(const struct cfg_ctx *ctx, const struct cfg_node *seq,
                         struct station_config *c)
{
  int r = cfg_expect_sequence(ctx, seq, "intake.serial", "mappings with port and baud");

  if (r != 0 || seq->item_count == 0)
    return r;
  if ((c->serial_ports = calloc(seq->item_count, sizeof *c->serial_ports)) == NULL) {
    return cfg_fail_memory(ctx);
  }
  c->serial_port_count = seq->item_count;
  for (size_t i = 0; i < seq->item_count && r == 0; i++)
    r = schema_serial_port(ctx, seq->items[i], c, i);
  return r;
}

/* Reads the intake section. */
static int schema_intake(const struct cfg_ctx *ctx, const struct cfg_node *map,
                         struct station_config *c)
{
  const struct cfg_node *v[INTAKE_COUNT];
  int r = cfg_match_keys(ctx, map, "intake", intake_keys, INTAKE_COUNT, v);

  if (r == 0 && v[INTAKE_USB] != NULL)
    r = schema_usb(ctx, v[INTAKE_USB], c);
  if (r == 0 && v[INTAKE_SERIAL] != NULL)
    r = schema_serial(ctx, v[INTAKE_SERIAL], c);
  return r;
}

/* Reads console.shifts: 1..CONFIG_SHIFTS_MAX times "HH:MM", increasing. */
static int schema_shifts(const struct cfg_ctx *ctx, const struct cfg_node *seq, struct station_config *c)
{
  char path[64];
  int r = cfg_expect_sequence(ctx, seq, "console.shifts", "local times \"HH:MM\"");
  if (r == 0 && (seq->item_count == 0 || seq->item_count > CONFIG_SHIFTS_MAX))
    r = cfg_fail(ctx, seq, "console.shifts: expected 1 to %d times \"HH:MM\"", CONFIG_SHIFTS_MAX);
  for (size_t i = 0; r == 0 && i < seq->item_count; i++) {
    char *text = NULL;
    unsigned h = 0, m = 0;
    int n = 0;
    snprintf(path, sizeof path, "console.shifts[%zu]", i);
    r = cfg_get_string(ctx, seq->items[i], path, &text);
    if (r == 0 && (sscanf(text, "%2u:%2u%n", &h, &m, &n) != 2 || n != 5 || text[n] != '\0' || h > 23 || m > 59 ||
                   text[0] < '0' || text[0] > '9'))
      r = cfg_fail(ctx, seq->items[i], "%s: expected a local time \"HH:MM\" from 00:00 to 23:59", path);
    if (r == 0 && i > 0 && h * 60 + m <= c->shift_starts[i - 1])
      r = cfg_fail(ctx, seq->items[i], "%s: expected a time after the one before it (the shifts in the day's order)",
                   path);
    if (r == 0)
      c->shift_starts[c->shift_count++] = h * 60 + m;
    free(text);
  }
  return r;
}

/* Reads the console section. */
static int schema_console(const struct cfg_ctx *ctx, const struct cfg_node *map, struct station_config *c)
{
  const struct cfg_node *v[CONSOLE_COUNT];
  int r = cfg_match_keys(ctx, map, "console", console_keys, CONSOLE_COUNT, v);
  if (r == 0 && v[CONSOLE_SHIFTS] != NULL) {
    c->shift_count = 0;
    r = schema_shifts(ctx, v[CONSOLE_SHIFTS], c);
  }
  return r;
}

int cfg_schema_apply(const struct cfg_ctx *ctx, const struct cfg_node *root, struct station_config *c)
{
  const struct cfg_node *v[TOP_COUNT];
  int r = cfg_match_keys(ctx, root, NULL, top_keys, TOP_COUNT, v);

  c->hsm_sessions = DEFAULT_SESSIONS;
  c->hsm_sign_timeout = DEFAULT_SIGN_TIMEOUT;
  c->validity_days = DEFAULT_VALIDITY_DAYS;
  c->production = CONFIG_PRODUCTION_FORBID;
  c->reissue = CONFIG_REISSUE_REFUSE;
  c->shift_starts[0] = 6 * 60;
  c->shift_starts[1] = 14 * 60;
  c->shift_starts[2] = 22 * 60;
  c->shift_count = 3;
  if (r == 0)
    r = schema_factory(ctx, v[TOP_FACTORY], c);
  if (r == 0)
    r = schema_hsm(ctx, v[TOP_HSM], c);
  if (r == 0)
    r = schema_ca(ctx, v[TOP_CA], c);
  if (r == 0 && v[TOP_PROFILE] != NULL)
    r = schema_profile(ctx, v[TOP_PROFILE], c);
  if (r == 0)
    r = schema_journal(ctx, v[TOP_JOURNAL], c);
  if (r == 0 && v[TOP_GATEWAY] != NULL)
    r = schema_gateway(ctx, v[TOP_GATEWAY], c);
  if (r == 0 && v[TOP_INTAKE] != NULL)
    r = schema_intake(ctx, v[TOP_INTAKE], c);
  if (r == 0 && v[TOP_CONSOLE] != NULL)
    r = schema_console(ctx, v[TOP_CONSOLE], c);
  return r;
}
