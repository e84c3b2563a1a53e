/*
 * cli.h - what the `station` commands share: global options, loading the
 * configuration, obtaining the PIN, and turning codes into exit statuses.
 *
 * Exit statuses (interface.md): 0 success; 1 some requests refused (sign) or a
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

/* Prints "station: error: <sentence>: <detail>" and returns the exit status of CODE. */
int cli_fail(int code, const struct st_detail *detail);

/* Loads the configuration (cli->config_path, $STATION_CONFIG, or the default).
 * Returns 0 and *OUT, or prints the error and returns ST_E_CONFIG. */
int cli_load_config(const struct cli *cli, struct station_config **out);

/* Obtains the HSM PIN from the configured source. Returns 0 or prints and
 * returns ST_E_PIN_SOURCE. */
int cli_obtain_pin(const struct station_config *cfg, struct pin *pin);

/* The commands. */
int cli_ca(struct cli *cli);
int cli_sign(struct cli *cli);
int cli_serial(struct cli *cli);
int cli_journal(struct cli *cli);
int cli_selftest(struct cli *cli);
int cli_console(struct cli *cli);

#endif
