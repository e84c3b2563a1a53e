/* cmd_sign.c - `station sign DIR`: headless batch signing. */
#include <stdio.h>
#include <string.h>

#include "batch.h"
#include "cli.h"
#include "engine.h"
#include "log.h"


int cli_sign(struct cli *cli)
{
  int r;
  struct station_config *cfg = NULL;
  struct engine *engine = NULL;
  struct batch_summary summary;
  struct st_detail detail = {""};
  struct engine_sink sink = {cli_print_engine_event, NULL};

  memset(&summary, 0, sizeof summary);
  if (cli->argc != 2) {
    fprintf(stderr, "usage: station sign DIR\n");
    r = ST_E_USAGE;
    goto out;
  }
  r = cli_load_config(cli, &cfg);
  if (r != ST_OK)
    goto out;
  r = engine_open(cfg, &engine, &detail);
  if (r == ST_OK)
    r = engine_add_sink(engine, &sink);
  if (r == ST_OK && (r = cli_login(cfg, engine, &detail)) == ST_E_PIN_SOURCE)
    goto out;
  if (r == ST_OK) {
    /* the summary only for a batch that ran (even if it stopped part way):
     * a station that could not start has nothing to count */
    r = batch_sign_directory(engine, cli->argv[1], &summary, &detail);
    printf("issued %zu (new %zu, issued before %zu), refused %zu, skipped %zu hidden",
           summary.issued + summary.handed_back, summary.issued, summary.handed_back, summary.refused,
           summary.skipped);
    if (summary.unwritten > 0) /* the stick failed or was pulled out: these are in the journal */
      printf("; %zu not written to the stick (in the journal: sign it again)", summary.unwritten);
    printf("\n");
  }
  if (r != ST_OK)
    cli_fail(r, &detail);
out:
  engine_close(engine);
  config_free(cfg);
  return r != ST_OK ? cli_exit_status(r) : summary.refused > 0 ? 1 : 0;
}
