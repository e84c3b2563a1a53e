/*
 * privilege.c - least privilege for every command (see cli.h).
 *
 * Root: the station runs as its own user (the package makes "station" and
 * gives it /var/lib/station/journal). As root, unless told to with the global
 * option --allow-root or STATION_ALLOW_ROOT=1, it refuses (ST_E_ROOT, exit 2)
 * on a station provisioned for its own user: when the configuration or the
 * journal belongs to another user (root would sign with that station's key
 * and leave root-owned files in its journal). Where everything already
 * belongs to root (a lab bench, a test container, a first try of the demo) it
 * runs and warns, once, that it should not.
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

/* Set by cli_check_root when running as root without being told to: the
 * decision waits for the configuration (cli_check_trusted). */
static int cli_root_unconfirmed;

int cli_check_root(int allow_root)
{
  const char *env = getenv("STATION_ALLOW_ROOT");
  cli_root_unconfirmed = geteuid() == 0 && !allow_root && !(env != NULL && strcmp(env, "1") == 0);
  return ST_OK;
}

/* As root without --allow-root: refuses when the configuration or the journal
 * belongs to another user, else warns. */
static int cli_check_root_against(const struct station_config *cfg, struct st_detail *detail)
{
  int r = ST_OK;
  struct stat st;
  const char *owned = NULL;
  if (!cli_root_unconfirmed)
    return r;
  if (stat(cfg->source_path, &st) == 0 && st.st_uid != 0)
    owned = cfg->source_path;
  else if (stat(cfg->journal_path, &st) == 0 && st.st_uid != 0)
    owned = cfg->journal_path;
  if (owned != NULL) {
    st_detail_set(detail, "%s belongs to uid %u: this station runs as its own user, so run it as that user "
                  "(sudo -u station station ...), or pass --allow-root to run as root deliberately",
                  owned, (unsigned)st.st_uid);
    return ST_E_ROOT;
  }
  st_warn("running as root: a station should run as its own user (the package makes \"station\"); "
          "pass --allow-root to say this is deliberate");
  cli_root_unconfirmed = 0;
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
    return r; /* missing: made by the station (or refused later with its own message) */
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
  return r;
}

int cli_check_trusted(const struct station_config *cfg)
{
  int r;
  struct stat st;
  char log_path[4096];
  struct st_detail detail = {""};

  r = cli_check_root_against(cfg, &detail);
  if (r == ST_OK)
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
