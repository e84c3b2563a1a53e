/* cmd_console.c - `station console`: the ncurses operator console. Loads the
 * configuration, builds the service (service.h) and hands the terminal to
 * console_run; the PIN is asked on screen (hsm.pin: prompt) or read from its
 * configured source by the service. */
#include <stdio.h>

#include "cli.h"
#include "console.h"
#include "service.h"

int cli_console(struct cli *cli)
{
  int r = ST_E_USAGE;
  struct station_config *cfg = NULL;
  struct service *svc = NULL;
  struct st_detail detail = {""};

  if (cli->argc != 1) {
    fprintf(stderr, "usage: station console\n");
    goto out;
  }
  r = cli_load_config(cli, &cfg);
  if (r != ST_OK)
    goto out;
  r = service_new(cfg, NULL, &svc, &detail);
  if (r == ST_OK)
    r = console_run(svc, &detail);
  if (r != ST_OK)
    cli_fail(r, &detail);
out:
  service_free(svc);
  config_free(cfg);
  return cli_exit_status(r);
}
