/* cmd_selftest.c - `station selftest`: the CA health report and the journal check. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ceremony.h"
#include "cli.h"
#include "journal.h"

static int is_directory(const char *path)
{
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int cli_selftest(struct cli *cli)
{
  char log_path[4200];
  struct station_config *cfg = NULL;
  struct pin *pin = NULL;
  struct st_detail detail = {""};
  struct journal_verify_report report;
  int r, healthy = 0;

  memset(&report, 0, sizeof report);
  r = cli_load_config(cli, &cfg);
  if (r == ST_OK)
    r = cli_obtain_pin(cfg, &pin);
  if (r != ST_OK)
    goto out;
  healthy = ceremony_show(cfg, pin_value(pin), stdout, &detail) == ST_OK;
  snprintf(log_path, sizeof log_path, "%s/journal.log", cfg->journal_path);
  if (access(cfg->journal_path, F_OK) != 0 || (is_directory(cfg->journal_path) && access(log_path, F_OK) != 0)) {
    /* a station that has not decided any request yet has no journal */
    printf("%-12s %s no journal at %s yet: it is created with the first request\n", "journal", "ok  ",
           cfg->journal_path);
    r = ST_OK;
  } else {
    r = journal_verify(cfg->journal_path, &report, &detail);
    printf("%-12s %s %s\n", "journal", r == ST_OK ? "ok  " : "FAIL", r == ST_OK ? cfg->journal_path : detail.text);
  }
  healthy = healthy && r == ST_OK;
  printf("selftest: %s\n", healthy ? "healthy" : "NOT healthy");
out:
  pin_free(pin);
  config_free(cfg);
  return r != ST_OK && !healthy && st_error_class_of(r) == ST_CLASS_USAGE ? 2 : healthy ? 0 : 1;
}
