/*
 * cmd_journal.c - `station journal verify|export|key`.
 *
 *   journal verify                      the chain, every checkpoint signature
 *                                       and the head on the token (PIN needed)
 *   journal verify --export FILE [--key PEM]
 *                                       FILE.sig, FILE.manifest.json.sig, the
 *                                       manifest against FILE and FILE's rows,
 *                                       offline when --key gives the journal
 *                                       public key; prints the export's scope
 *   journal export --format csv|jsonl|pem|index --out FILE
 *                  [--since T] [--until T] [--source S]
 *                                       FILE, FILE.sig, FILE.manifest.json and
 *                                       FILE.manifest.json.sig (export.h)
 *   journal key                         the journal public key, PEM
 *   journal init                        begins a journal where journal.path
 *                                       holds none (audit_establish); prints
 *                                       the journal key's fingerprint
 *
 * A check that fails prints "NOT intact" or "NOT valid", the reason's name
 * on a line "reason: <name>", and exits 1; a fault exits 3.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "audit.h"
#include "certificate.h"
#include "cli.h"
#include "encoding.h"
#include "engine.h"
#include "export.h"
#include "manifest.h"
#include "hsm.h"
#include "journal.h"
#include "log.h"

/* The token side of a journal command. */
struct cli_token {
  struct station_config *cfg;
  struct hsm *hsm;
  struct audit *audit;
};

static void cli_token_close(struct cli_token *t)
{
  audit_free(t->audit);
  hsm_close(t->hsm);
  config_free(t->cfg);
  memset(t, 0, sizeof *t);
}

/* Loads the configuration, logs in to the token and finds (or makes) the
 * journal key. Prints what went wrong. */
static int cli_token_open(struct cli *cli, struct cli_token *t)
{
  struct pin *pin = NULL;
  struct st_detail detail = {""};
  int r;
  memset(t, 0, sizeof *t);
  r = cli_load_config(cli, &t->cfg);
  if (r == ST_OK && (r = cli_obtain_pin(t->cfg, &pin)) != ST_OK)
    goto out;
  if (r == ST_OK)
    r = hsm_open(t->cfg->hsm_module, t->cfg->hsm_token, &t->hsm, &detail);
  if (r == ST_OK)
    r = hsm_login(t->hsm, pin_value(pin), &detail);
  if (r == ST_OK)
    r = audit_open(t->hsm, t->cfg->hsm_journal_key, t->cfg->journal_path, &t->audit, &detail);
  if (r != ST_OK && r != ST_E_CONFIG)
    cli_fail(r, &detail);
out:
  pin_free(pin);
  return r;
}

static int cli_journal_verify(struct cli *cli)
{
  struct cli_token t;
  struct audit_verify_report rep;
  struct journal_head head;
  struct st_detail detail = {""};
  const struct journal_verify_report *jr = &rep.journal;
  int r, found;

  memset(&rep, 0, sizeof rep);
  r = cli_token_open(cli, &t);
  if (r != ST_OK)
    goto out;
  r = found = audit_head_read(t.audit, &head, &detail);
  if (r >= 0)
    r = audit_verify(t.cfg->journal_path, audit_public_key(t.audit), found == 1 ? &head : NULL, NULL,
                     &rep, &detail);
  if (r == ST_OK) {
    printf("journal %s: intact: %" PRIu64 " records (%" PRIu64 " issued, %" PRIu64 " refused, %" PRIu64
           " checkpoints, every signature verifies)%s\n",
           t.cfg->journal_path, jr->records, jr->issued, jr->refused, jr->checkpoints,
           jr->torn_tail ? "; the last record is torn (an interrupted write; cut at the next start)" : "");
    printf("head on the token: record %" PRIu64 "%s; records after the last checkpoint: %" PRIu64 "\n",
           rep.head.seq, rep.head_behind > 0 ? " (behind the journal: a stop between writes)" : "",
           rep.unsigned_tail);
  } else if (cli_check_status(r) == 1) {
    printf("journal %s: NOT intact: %s\n", t.cfg->journal_path, detail.text);
    printf("reason: %s\n", st_error_name(r));
    printf("records before the first bad one: %" PRIu64 "\n", jr->records);
  } else {
    cli_fail(r, &detail);
  }
out:
  cli_token_close(&t);
  return cli_check_status(r);
}

/* Reads a PEM public key from PATH. */
static EVP_PKEY *cli_read_key(const char *path)
{
  FILE *f = fopen(path, "r");
  EVP_PKEY *k = f != NULL ? PEM_read_PUBKEY(f, NULL, NULL, NULL) : NULL;
  if (f != NULL)
    fclose(f);
  if (k == NULL)
    st_error("cannot read a PEM public key from %s", path);
  return k;
}

/* Prints the scope of a checked export: station, records, filters, counts. */
static void cli_print_scope(const char *file, const struct export_manifest *m)
{
  printf("export %s: valid: both signatures verify with the journal key sha256:%s; the manifest is this "
         "file's (sha256 %s)\n", file, m->key_sha256, m->sha256);
  printf("station: factory %s, local CA %s (sha256 %s), journal genesis %s\n", m->factory, m->ca_subject,
         m->ca_sha256, m->genesis);
  printf("format: %s, exported %s\n", export_format_name(m->format), m->time);
  if (m->has_range)
    printf("records: %" PRIu64 " to %" PRIu64 " of %" PRIu64 ", chain at %" PRIu64 " %s\n", m->first, m->last,
           m->journal_last, m->last, m->chain);
  else
    printf("records: none matched, of %" PRIu64 "\n", m->journal_last);
  if (m->complete)
    printf("scope: complete (every record from 1 to %" PRIu64 ")\n", m->journal_last);
  else
    printf("scope: NOT complete; filters: since %s, until %s, source %s\n", m->has_since ? m->since : "-",
           m->has_until ? m->until : "-", m->has_source ? m->source : "-");
  printf("rows: %" PRIu64, m->counts.rows);
  for (size_t i = 0; i < m->counts.events; i++)
    printf("%s%s %" PRIu64, i == 0 ? " (" : ", ", m->counts.event[i].name, m->counts.event[i].rows);
  printf("%s\n", m->counts.events > 0 ? ")" : "");
}

static int cli_journal_verify_export(struct cli *cli, const char *file, const char *key_path)
{
  struct cli_token t;
  struct export_manifest *m = malloc(sizeof *m);
  struct st_detail detail = {""};
  EVP_PKEY *key = NULL;
  int r = ST_E_NO_MEMORY;

  memset(&t, 0, sizeof t);
  if (m == NULL) {
    cli_fail(r, NULL);
    goto out;
  }
  r = ST_E_USAGE;
  if (key_path != NULL) {
    if ((key = cli_read_key(key_path)) == NULL)
      goto out;
  } else {
    if ((r = cli_token_open(cli, &t)) != ST_OK)
      goto out;
    key = audit_public_key(t.audit);
    EVP_PKEY_up_ref(key);
  }
  r = export_verify(file, key, m, NULL, &detail);
  if (r == ST_OK)
    cli_print_scope(file, m);
  else if (cli_check_status(r) == 1)
    printf("export %s: NOT valid: %s\nreason: %s\n", file, detail.text, st_error_name(r));
  else
    cli_fail(r, &detail);
out:
  EVP_PKEY_free(key);
  cli_token_close(&t);
  free(m);
  return cli_check_status(r);
}

static int cli_journal_export(struct cli_token *t, const struct export_options *opt, const char *out)
{
  struct export_counts c;
  struct export_station st = {t->cfg->factory, NULL};
  struct st_detail detail = {""};
  int r = cert_load_pem(t->cfg->ca_certificate, &st.ca_cert, &detail);
  if (r == ST_OK)
    r = export_write(t->cfg->journal_path, t->audit, &st, opt, out, &c, &detail);
  if (r == ST_OK)
    printf("exported %" PRIu64 " rows (%" PRIu64 " issued, %" PRIu64 " refused, %" PRIu64 " other) to %s, "
           "signed in %s.sig; its manifest is %s.manifest.json, signed in %s.manifest.json.sig\n",
           c.rows, c.issued, c.refused, c.rows - c.issued - c.refused, out, out, out, out);
  else if (cli_check_status(r) == 1)
    printf("journal %s: NOT intact, nothing exported: %s\nreason: %s\n", t->cfg->journal_path, detail.text,
           st_error_name(r));
  else
    cli_fail(r, &detail);
  X509_free(st.ca_cert);
  return r;
}

static int cli_journal_key(struct cli *cli)
{
  struct cli_token t;
  int r = cli_token_open(cli, &t);
  if (r == ST_OK && PEM_write_PUBKEY(stdout, audit_public_key(t.audit)) != 1) {
    r = ST_E_IO;
    cli_fail(r, NULL);
  }
  cli_token_close(&t);
  return cli_exit_status(r);
}

/* `station journal init`: a journal begins where journal.path holds none,
 * with a journal-init record saying why (engine_init_journal). */
static int cli_journal_init(struct cli *cli)
{
  struct station_config *cfg = NULL;
  struct engine *e = NULL;
  struct st_detail detail = {""};
  uint8_t id[32];
  char hex[65];
  int r = cli_load_config(cli, &cfg);
  if (r != ST_OK)
    goto out;
  r = engine_open(cfg, &e, &detail);
  if (r == ST_OK) {
    engine_init_journal(e);
    r = cli_login(cfg, e, &detail);
  }
  if (r == ST_OK)
    r = engine_journal_key_id(e, id);
  if (r != ST_OK) {
    if (r != ST_E_PIN_SOURCE)
      cli_fail(r, &detail);
    goto out;
  }
  st_hex_encode(hex, id, sizeof id);
  if (engine_init_reason(e)[0] == '\0') /* the journal the head names, empty: begun by an earlier run */
    st_info("journal %s: the journal was begun already and holds no records yet", cfg->journal_path);
  printf("journal key: sha256:%s\n", hex);
out:
  engine_close(e);
  config_free(cfg);
  return cli_exit_status(r);
}

static int cli_journal_usage(void)
{
  fprintf(stderr, "usage: station journal verify [--export FILE [--key PEM]]\n"
                  "       station journal export --format csv|jsonl|pem|index --out FILE [--since T] [--until T] [--source S]\n"
                  "       station journal key\n"
                  "       station journal init\n");
  return 2;
}

int cli_journal(struct cli *cli)
{
  static const struct option options[] = {
    {"export", required_argument, NULL, 'e'}, {"key", required_argument, NULL, 'k'},
    {"format", required_argument, NULL, 'f'}, {"out", required_argument, NULL, 'o'},
    {"since", required_argument, NULL, 's'},  {"until", required_argument, NULL, 'u'},
    {"source", required_argument, NULL, 'S'}, {NULL, 0, NULL, 0},
  };
  struct export_options opt = {EXPORT_CSV, 0, 0, 0, 0, NULL, NULL, NULL};
  const char *export_file = NULL, *key = NULL, *out = NULL, *format = NULL, *verb;
  struct cli_token t;
  int o, bad = 0, status;

  if (cli->argc < 2)
    return cli_journal_usage();
  verb = cli->argv[1];
  optind = 0;
  while ((o = getopt_long(cli->argc - 1, cli->argv + 1, "", options, NULL)) != -1) {
    switch (o) {
    case 'e': export_file = optarg; break;
    case 'k': key = optarg; break;
    case 'f': format = optarg; break;
    case 'o': out = optarg; break;
    case 's': opt.has_since = 1; opt.since_text = optarg; bad |= export_parse_time(optarg, &opt.since_ms) != 0; break;
    case 'u': opt.has_until = 1; opt.until_text = optarg; bad |= export_parse_time(optarg, &opt.until_ms) != 0; break;
    case 'S': opt.source = optarg; break;
    default: bad = 1; break;
    }
  }
  if (bad || optind != cli->argc - 1) {
    if (bad)
      fprintf(stderr, "station: --since and --until take an RFC 3339 time, e.g. 2024-06-11T11:28:13Z\n");
    return cli_journal_usage();
  }
  if (strcmp(verb, "verify") == 0 && format == NULL && out == NULL && (key == NULL || export_file != NULL))
    return export_file != NULL ? cli_journal_verify_export(cli, export_file, key) : cli_journal_verify(cli);
  if (strcmp(verb, "key") == 0 && export_file == NULL && key == NULL && format == NULL && out == NULL)
    return cli_journal_key(cli);
  if (strcmp(verb, "init") == 0 && export_file == NULL && key == NULL && format == NULL && out == NULL &&
      opt.source == NULL && !opt.has_since && !opt.has_until)
    return cli_journal_init(cli);
  if (strcmp(verb, "export") != 0 || out == NULL || format == NULL || export_file != NULL || key != NULL)
    return cli_journal_usage();
  if (export_parse_format(format, &opt.format) != ST_OK) {
    fprintf(stderr, "station: --format is csv, jsonl, pem or index\n");
    return 2;
  }
  status = cli_token_open(cli, &t);
  status = status != ST_OK ? cli_exit_status(status) : cli_check_status(cli_journal_export(&t, &opt, out));
  cli_token_close(&t);
  return status;
}
