/*
 * cmd_audit.c - `station audit trust|import|check|find|report`: the
 * auditor's side, on a factory-wide SQLite record (auditdb.h,
 * docs/audit-database.md). No configuration, token or PIN is used.
 *
 *   audit trust  --db DB --name NAME KEY.pem   register a station's journal key
 *   audit import --db DB EXPORT...             verify and import jsonl exports
 *   audit check  --db DB                       findings, one per line
 *   audit find   --db DB DEVICE|SERIAL|KEY-SHA256|CERT.pem
 *   audit report --db DB --format csv|jsonl    one row per station
 *
 * Exit statuses: 0 success (check: clean; find: found); 1 an export refused
 * or in conflict (import), findings (check), nothing found (find); 2 usage, or
 * a file that is not an audit database; 3 a database or system fault
 * (a locked database included).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "auditdb.h"
#include "cli.h"
#include "log.h"

static int cli_audit_usage(void)
{
  fprintf(stderr, "usage: station audit trust --db DB --name NAME KEY.pem\n"
                  "       station audit import --db DB EXPORT...\n"
                  "       station audit check --db DB\n"
                  "       station audit find --db DB DEVICE|SERIAL|KEY-SHA256|CERT.pem\n"
                  "       station audit report --db DB --format csv|jsonl\n");
  return 2;
}

static int cli_audit_open(const char *path, int create, struct auditdb **db)
{
  struct st_detail detail = {""};
  int r = auditdb_open(path, create, db, &detail);
  if (r != 0)
    cli_fail(r, &detail);
  return r;
}

static int cli_audit_trust(const char *path, const char *name, const char *key)
{
  struct auditdb *db = NULL;
  struct st_detail detail = {""};
  int r = cli_audit_open(path, 1, &db);
  if (r != 0)
    return cli_exit_status(r);
  r = auditdb_trust(db, name, key, &detail);
  if (r == 1)
    printf("station \"%s\" registered with the journal key in %s\n", name, key);
  else if (r == 0)
    printf("station \"%s\" was registered with this key before; nothing changed\n", name);
  else
    cli_fail(r, &detail);
  auditdb_close(db);
  return r >= 0 ? 0 : cli_exit_status(r);
}

static int cli_audit_import(const char *path, char **files, int n)
{
  struct auditdb *db = NULL;
  int r = cli_audit_open(path, 1, &db), status = 0;
  if (r != 0)
    return cli_exit_status(r);
  for (int i = 0; i < n; i++) {
    struct auditdb_import_result res;
    struct st_detail detail = {""};
    char range[96];
    r = auditdb_import(db, files[i], &res, &detail);
    if (r == 0 && res.has_records)
      snprintf(range, sizeof range, "records %lld-%lld of %lld%s", (long long)res.first, (long long)res.last,
               (long long)res.journal_last, res.complete ? " (complete)" : "");
    else
      snprintf(range, sizeof range, "no records (journal at %lld)", (long long)res.journal_last);
    if (r == 0 && res.already) {
      printf("%s: imported before (station %s, %s%s); nothing changed\n", files[i], res.station, range,
             res.conflict ? ", kept out of the record: in conflict" : "");
    } else if (r == 0 && res.conflict) {
      printf("%s: CONFLICT: station %s, %s: %s; this export and the ones it contradicts are kept out of the "
             "record\n", files[i], res.station, range, res.conflict_text[0] ? res.conflict_text : "see audit check");
      status = status ? status : 1;
    } else if (r == 0) {
      printf("%s: imported: station %s, %s, %llu rows (%llu new)\n", files[i], res.station, range,
             (unsigned long long)res.rows, (unsigned long long)res.new_rows);
    } else if (cli_check_status(r) == 1) {
      printf("%s: REFUSED: %s\nreason: %s\n", files[i], detail.text, st_error_name(r));
      status = status ? status : 1;
    } else {
      cli_fail(r, &detail);
      status = cli_exit_status(r);
      break;
    }
  }
  auditdb_close(db);
  return status;
}

static int cli_audit_check(const char *path)
{
  struct auditdb *db = NULL;
  struct st_detail detail = {""};
  uint64_t findings = 0, stations = 0;
  int r = cli_audit_open(path, 0, &db);
  if (r != 0)
    return cli_exit_status(r);
  r = auditdb_check(db, stdout, &findings, &stations, &detail);
  auditdb_close(db);
  if (r != 0)
    return cli_fail(r, &detail);
  st_info("audit check: %llu stations, %llu findings", (unsigned long long)stations, (unsigned long long)findings);
  return findings > 0 ? 1 : 0;
}

static int cli_audit_find(const char *path, const char *query)
{
  struct auditdb *db = NULL;
  struct st_detail detail = {""};
  uint64_t found = 0;
  int r = cli_audit_open(path, 0, &db);
  if (r != 0)
    return cli_exit_status(r);
  r = auditdb_find(db, query, stdout, &found, &detail);
  auditdb_close(db);
  if (r != 0)
    return cli_fail(r, &detail);
  if (found == 0)
    printf("no record of %s\n", query);
  return found > 0 ? 0 : 1;
}

static int cli_audit_report(const char *path, const char *format)
{
  struct auditdb *db = NULL;
  struct st_detail detail = {""};
  int jsonl = strcmp(format, "jsonl") == 0, r;
  if (!jsonl && strcmp(format, "csv") != 0) {
    fprintf(stderr, "station: --format is csv or jsonl\n");
    return 2;
  }
  if ((r = cli_audit_open(path, 0, &db)) != 0)
    return cli_exit_status(r);
  r = auditdb_report(db, jsonl, stdout, &detail);
  auditdb_close(db);
  return r != 0 ? cli_fail(r, &detail) : 0;
}

int cli_audit(struct cli *cli)
{
  static const struct option options[] = {
    {"db", required_argument, NULL, 'd'},
    {"name", required_argument, NULL, 'n'},
    {"format", required_argument, NULL, 'f'},
    {NULL, 0, NULL, 0},
  };
  const char *db = NULL, *name = NULL, *format = NULL, *verb;
  int o, bad = 0, rest;

  if (cli->argc < 2)
    return cli_audit_usage();
  verb = cli->argv[1];
  optind = 0;
  while ((o = getopt_long(cli->argc - 1, cli->argv + 1, "", options, NULL)) != -1) {
    switch (o) {
    case 'd': db = optarg; break;
    case 'n': name = optarg; break;
    case 'f': format = optarg; break;
    default: bad = 1; break;
    }
  }
  rest = cli->argc - 1 - optind;
  if (bad || db == NULL)
    return cli_audit_usage();
  if (strcmp(verb, "trust") == 0 && name != NULL && format == NULL && rest == 1)
    return cli_audit_trust(db, name, cli->argv[1 + optind]);
  if (strcmp(verb, "import") == 0 && name == NULL && format == NULL && rest >= 1)
    return cli_audit_import(db, cli->argv + 1 + optind, rest);
  if (strcmp(verb, "check") == 0 && name == NULL && format == NULL && rest == 0)
    return cli_audit_check(db);
  if (strcmp(verb, "find") == 0 && name == NULL && format == NULL && rest == 1)
    return cli_audit_find(db, cli->argv[1 + optind]);
  if (strcmp(verb, "report") == 0 && name == NULL && format != NULL && rest == 0)
    return cli_audit_report(db, format);
  return cli_audit_usage();
}
