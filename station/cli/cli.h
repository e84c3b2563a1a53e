/*
 * cli.h - what the `station` commands share: global options, loading the
 * configuration, obtaining the PIN, and turning codes into exit statuses.
 *
 * Exit statuses (station(1), docs/batch-signing.md): 0 success; 1 some requests refused (sign) or a
 * check failed (verify, show); 2 usage or configuration error; 3 HSM, CA,
 * journal or system fault.
 */
#ifndef STATION_CLI_H
#define STATION_CLI_H

#include "config.h"
#include "error.h"
#include "pin.h"

struct cli {
  const char *config_path;     /* -c FILE, or NULL for the default */
  int argc;                    /* the command's own arguments, argv[0] = command */
  char **argv;
};

/* A subcommand: NAME, the handler returning an exit status, one-line HELP. */
struct cli_command {
  const char *name;
  int (*run)(struct cli *cli);
  const char *usage;
  const char *help;
};

/* Exit status for CODE by its class. */
int cli_exit_status(int code);

/* The exit status of a check (journal verify, an export's verification or
 * import): 1 when the check found the journal or the export wrong
 * (ST_CLASS_CHECK_FAILED), else as cli_exit_status. */
int cli_check_status(int code);

/* Prints "station: error: <sentence>: <detail>" and returns the exit status of CODE. */
int cli_fail(int code, const struct st_detail *detail);

/* Loads the configuration (cli->config_path, $STATION_CONFIG, or the default)
 * and checks the permissions of the files it trusts (cli_check_trusted).
 * Returns 0 and *OUT, or prints the error and returns ST_E_CONFIG or
 * ST_E_PERMISSIONS (then *OUT is NULL). */
int cli_load_config(const struct cli *cli, struct station_config **out);

/* Obtains the HSM PIN from the configured source into a new *PIN (the
 * caller frees it with pin_free). Returns 0, or prints and returns
 * ST_E_PIN_SOURCE (or pin_obtain's other codes) with *PIN NULL. */
int cli_obtain_pin(const struct station_config *cfg, struct pin **pin);

/* privilege.c: notes whether the station runs as root without ALLOW_ROOT
 * (--allow-root) or STATION_ALLOW_ROOT=1; cli_check_trusted then refuses
 * (ST_E_ROOT) when the configuration or the journal belongs to another user,
 * and warns otherwise. Returns 0. */
int cli_check_root(int allow_root);

/* privilege.c: the configuration file and the journal may not be writable by
 * group or others (and the configuration must belong to root or the user
 * running the station); a journal others can read draws a warning. Prints
 * the fix. Returns 0 or ST_E_PERMISSIONS. */
int cli_check_trusted(const struct station_config *cfg);

struct engine;
struct engine_event;

/* Obtains the PIN from its configured source and logs ENGINE in; the PIN is
 * wiped before returning. Returns 0, ST_E_PIN_SOURCE (already printed), or the
 * engine's login error with DETAIL (for the caller to print). */
int cli_login(const struct station_config *cfg, struct engine *engine, struct st_detail *detail);

/* The headless engine sink: one line per decided request on stderr (issued,
 * issued before, refused with its reason), text from outside made printable.
 * ARG is unused. */
void cli_print_engine_event(void *arg, const struct engine_event *ev);

/* The commands. */
int cli_ca(struct cli *cli);
int cli_sign(struct cli *cli);
int cli_serial(struct cli *cli);
int cli_journal(struct cli *cli);
int cli_selftest(struct cli *cli);
int cli_console(struct cli *cli);
int cli_audit(struct cli *cli);

#endif
