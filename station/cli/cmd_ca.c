/* cmd_ca.c - `station ca init|certify|show`: the local CA key ceremony. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ceremony.h"
#include "cli.h"
#include "log.h"

static int cli_ca_init(struct cli *cli)
{
  static const struct option options[] = {
    {"cn", required_argument, NULL, 'n'}, {"out", required_argument, NULL, 'o'}, {NULL, 0, NULL, 0}};
  const char *cn = NULL, *out_path = NULL;
  struct station_config *cfg = NULL;
  struct pin *pin = NULL;
  struct st_detail detail = {""};
  int r = ST_E_USAGE, opt;

  optind = 1;
  while ((opt = getopt_long(cli->argc, cli->argv, "", options, NULL)) != -1) {
    if (opt == 'n')
      cn = optarg;
    else if (opt == 'o')
      out_path = optarg;
    else
      goto out;
  }
  if (cn == NULL || out_path == NULL || optind != cli->argc) {
    fprintf(stderr, "usage: station ca init --cn fio-<user-id> --out local-ca.csr\n");
    goto out;
  }
  r = cli_load_config(cli, &cfg);
  if (r == ST_OK)
    r = cli_obtain_pin(cfg, &pin);
  if (r != ST_OK)
    goto out;
  r = ceremony_init(cfg, pin_value(pin), cn, out_path, stdout, &detail);
  if (r != ST_OK)
    cli_fail(r, &detail);
out:
  pin_free(pin);
  config_free(cfg);
  return cli_exit_status(r);
}

static int cli_ca_certify(struct cli *cli)
{
  static const struct option options[] = {
    {"csr", required_argument, NULL, 'r'},     {"root-cert", required_argument, NULL, 'c'},
    {"root-key", required_argument, NULL, 'k'}, {"out", required_argument, NULL, 'o'},
    {"days", required_argument, NULL, 'd'},     {"factory", required_argument, NULL, 'f'},
    {NULL, 0, NULL, 0}};
  struct ceremony_certify_args args = {NULL, NULL, NULL, NULL, NULL, 3650, NULL};
  struct station_config *cfg = NULL;
  struct st_detail detail = {""};
  int r = ST_E_USAGE, opt;
  char *end = NULL;

  optind = 1;
  while ((opt = getopt_long(cli->argc, cli->argv, "", options, NULL)) != -1) {
    switch (opt) {
    case 'r': args.csr_path = optarg; break;
    case 'c': args.root_cert_path = optarg; break;
    case 'k': args.root_key = optarg; break;
    case 'o': args.out_path = optarg; break;
    case 'f': args.factory = optarg; break;
    case 'd':
      args.days = (unsigned)strtoul(optarg, &end, 10);
      if (*end != '\0' || args.days == 0 || args.days > 36500)
        goto usage;
      break;
    default: goto usage;
    }
  }
  if (args.csr_path == NULL || args.root_cert_path == NULL || args.root_key == NULL || args.out_path == NULL ||
      optind != cli->argc)
    goto usage;
  /* The configuration is optional here: the root may live on another machine. */
  if (cli->config_path != NULL || getenv("STATION_CONFIG") != NULL) {
    r = cli_load_config(cli, &cfg);
    if (r != ST_OK)
      goto out;
    args.default_module = cfg->hsm_module;
    if (args.factory == NULL)
      args.factory = cfg->factory;
  }
  r = ceremony_certify(&args, &detail);
  if (r != ST_OK)
    cli_fail(r, &detail);
  else
    st_info("local CA certificate written to %s", args.out_path);
  goto out;
usage:
  fprintf(stderr, "usage: station ca certify --csr F --root-cert F --root-key F|pkcs11:URI --out F [--days N] "
                  "[--factory NAME]\n");
  r = ST_E_USAGE;
out:
  config_free(cfg);
  return cli_exit_status(r);
}

static int cli_ca_show(struct cli *cli)
{
  struct station_config *cfg = NULL;
  struct pin *pin = NULL;
  struct st_detail detail = {""};
  int r, status;

  r = cli_load_config(cli, &cfg);
  if (r == ST_OK)
    r = cli_obtain_pin(cfg, &pin);
  status = cli_exit_status(r);
  if (r == ST_OK)
    status = ceremony_show(cfg, pin_value(pin), stdout, &detail) == ST_OK ? 0 : 1; /* unhealthy: 1 */
  pin_free(pin);
  config_free(cfg);
  return status;
}

int cli_ca(struct cli *cli)
{
  int status = 2;
  if (cli->argc >= 2 && strcmp(cli->argv[1], "init") == 0) {
    cli->argc--, cli->argv++;
    status = cli_ca_init(cli);
  } else if (cli->argc >= 2 && strcmp(cli->argv[1], "certify") == 0) {
    cli->argc--, cli->argv++;
    status = cli_ca_certify(cli);
  } else if (cli->argc == 2 && strcmp(cli->argv[1], "show") == 0) {
    status = cli_ca_show(cli);
  } else {
    fprintf(stderr, "usage: station ca init|certify|show (see station --help)\n");
  }
  return status;
}
