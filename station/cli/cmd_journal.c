/* cmd_journal.c - `station journal verify`. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "journal.h"
#include "log.h"

static int cli_journal_verify(struct cli *cli)
{
  int r, status;
  struct station_config *cfg = NULL;
  struct journal_verify_report report;
  struct st_detail detail = {""};

  memset(&report, 0, sizeof report);
  r = cli_load_config(cli, &cfg);
  if (r != ST_OK)
    goto out;
  r = journal_verify(cfg->journal_path, &report, &detail);
  if (r == ST_OK) {
    printf("journal %s: intact: %" PRIu64 " records (%" PRIu64 " issued, %" PRIu64 " refused)%s\n",
           cfg->journal_path, report.records, report.issued, report.refused,
           report.torn_tail ? "; the last record is torn (an interrupted write; cut at the next start)" : "");
  } else if (r == ST_E_JOURNAL_CORRUPT) {
    printf("journal %s: NOT intact: %s\n", cfg->journal_path, detail.text);
    printf("records before the first bad one: %" PRIu64 "\n", report.records);
  } else {
    cli_fail(r, &detail);
  }
out:
  status = r == ST_E_JOURNAL_CORRUPT ? 1 : cli_exit_status(r);
  config_free(cfg);
  return status;
}

int cli_journal(struct cli *cli)
{
  if (cli->argc == 2 && strcmp(cli->argv[1], "verify") == 0)
    return cli_journal_verify(cli);
  fprintf(stderr, "usage: station journal verify\n");
  return 2;
}
