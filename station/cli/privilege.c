/*
 * privilege.c - least privilege for every command (see cli.h).
 *
 * Root: the station runs as its own user (the package makes "station"); as
 * root it refuses (ST_E_ROOT, exit 2) unless told to with the global option
 * --allow-root or STATION_ALLOW_ROOT=1 (a lab, a test container).
 *
 * The files it trusts (docs/threat-model.md):
 *   the configuration   refused when its group or others may write it, or
 *                       when it belongs to neither root nor the user running
 *                       the station: whoever can change it chooses the
 *                       module the PIN is given to;
 *   the journal         its directory and journal.log refused when group or
 *                       others may write them (the station makes them 0700
 *                       and 0600); a warning when others may read them (the
 *                       journal holds no secret, but a record of production);
 *   the PIN file        refused when others may read it (pin.c).
 * Each refusal says the chmod or chown that fixes it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"

int cli_check_root(int allow_root)
{
  int r = ST_OK;
  const char *env = getenv("STATION_ALLOW_ROOT");
  struct st_detail detail = {""};
  if (geteuid() != 0 || allow_root || (env != NULL && strcmp(env, "1") == 0))
    goto out;
  st_detail_set(&detail, "it holds the CA key's PIN and reads sticks from anywhere; the package makes the user "
                "\"station\": sudo -u station station ...");
  r = ST_E_ROOT;
  cli_fail(r, &detail);
out:
  return r;
}

/* Refuses the file or directory PATH (WHAT names it) when group or others
 * may write it or, with CHECK_OWNER, when it belongs to neither root nor us;
 * warns when others may read it and WARN_READ is set. A missing PATH is fine. */
static int cli_check_path(const char *what, const char *path, int check_owner, int warn_read,
                          struct st_detail *detail)
{
  int r = ST_OK;
  struct stat st;
  unsigned mode;
  if (stat(path, &st) != 0)
    goto out; /* missing: made by the station (or refused later with its own message) */
  mode = (unsigned)(st.st_mode & 07777);
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    st_detail_set(detail, "%s %s has mode %04o: its group or others can change it; run chmod go-w %s", what, path,
                  mode, path);
    r = ST_E_PERMISSIONS;
  } else if (check_owner && st.st_uid != 0 && st.st_uid != geteuid()) {
    st_detail_set(detail, "%s %s belongs to uid %u, neither root nor the station's user (uid %u); run chown root %s",
                  what, path, (unsigned)st.st_uid, (unsigned)geteuid(), path);
    r = ST_E_PERMISSIONS;
  } else if (warn_read && (st.st_mode & S_IROTH)) {
    st_warn("%s %s has mode %04o: others can read it; chmod o-rwx %s is safer", what, path, mode, path);
  }
out:
  return r;
}

int cli_check_trusted(const struct station_config *cfg)
{
  int r;
  struct stat st;
  char log_path[4096];
  struct st_detail detail = {""};

  r = cli_check_path("the configuration", cfg->source_path, 1, 0, &detail);
  if (r == ST_OK)
    r = cli_check_path("the journal", cfg->journal_path, 0, 1, &detail);
  if (r == ST_OK && stat(cfg->journal_path, &st) == 0 && S_ISDIR(st.st_mode)) {
    snprintf(log_path, sizeof log_path, "%s/journal.log", cfg->journal_path);
    r = cli_check_path("the journal", log_path, 0, 1, &detail);
  }
  if (r != ST_OK)
    cli_fail(r, &detail);
  return r;
}
