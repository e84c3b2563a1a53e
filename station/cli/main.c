/* main.c - the `station` program: global options and dispatch to a command. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "cli.h"
#include "log.h"

static const struct cli_command cli_commands[] = {
  {"ca", cli_ca, "ca init --cn fio-<user-id> --out local-ca.csr\n"
                 "  ca certify --csr F --root-cert F --root-key F|pkcs11:URI --out F [--days N] [--factory NAME]\n"
                 "  ca show",
   "the local CA key ceremony and its health report"},
  {"sign", cli_sign, "sign DIR", "sign the batch in DIR/csr/ into DIR/certs/ and DIR/rejected/"},
  {"serial", cli_serial, "serial [--block-timeout MS] [PORT[@BAUD]...]",
   "serve boards on serial ports (default: intake.serial) until SIGINT/SIGTERM; see docs/line-protocol.md"},
  {"journal", cli_journal, "journal verify [--export FILE [--key PEM]]\n"
                           "  journal export --format csv|jsonl|pem|index --out FILE [--since T] [--until T] [--source S]\n"
                           "  journal key\n"
                           "  journal init",
   "check the journal (chain, seals, head on the token), or a signed export and its\n"
   "      manifest offline (both signatures, the file's hash, the rows; prints the scope);\n"
   "      write a signed export (FILE, FILE.sig, FILE.manifest.json, FILE.manifest.json.sig);\n"
   "      print the journal-signing public key;\n"
   "      begin a new journal where journal.path holds none (first use, or replacing a lost one)"},
  {"audit", cli_audit, "audit trust --db DB --name NAME KEY.pem\n"
                       "  audit import --db DB EXPORT...\n"
                       "  audit check --db DB\n"
                       "  audit find --db DB DEVICE|SERIAL|KEY-SHA256|CERT.pem\n"
                       "  audit report --db DB --format csv|jsonl",
   "the factory-wide audit record (SQLite): register stations' journal keys, import their signed\n"
   "      jsonl exports, check coverage, gaps, continuity and cross-station conflicts (exit 1 on findings),\n"
   "      find a device, serial, key or certificate, one report row per station; see docs/audit-database.md"},
  {"console", cli_console, "console",
   "the operator console (ncurses): PIN, status, serial ports, every USB stick (s/y signs), problems, lookups; see /usr/share/doc/station/docs/operator-guide.md"},
  {"selftest", cli_selftest, "selftest", "check the HSM, the CA key and chain, a test signature and the journal"},
};

static void cli_usage(FILE *out)
{
  fprintf(out, "usage: station [-c FILE] [-v|-q] COMMAND [ARGS]\n\n"
               "The factory's offline signing station: signs device CSRs with the local CA key held in an HSM.\n\n"
               "options:\n"
               "  -c, --config FILE  configuration (default $STATION_CONFIG, else /etc/station/station.yaml)\n"
               "  -v, --verbose      more messages;  -q, --quiet  errors and warnings only\n"
               "  --allow-root       run as root deliberately (also STATION_ALLOW_ROOT=1); otherwise refused\n"
               "                     on a station's own files, warned about on a bench\n"
               "  -h, --help         this help;      -V, --version\n\ncommands:\n");
  for (size_t i = 0; i < sizeof cli_commands / sizeof cli_commands[0]; i++)
    fprintf(out, "  %s\n      %s\n", cli_commands[i].usage, cli_commands[i].help);
  fprintf(out, "\nexit status: 0 success, 1 refusals or a failed check, 2 usage or configuration, 3 HSM/CA/journal fault\n"
               "documentation: docs/ (configuration.md, journal-format.md, audit-database.md, key-ceremony.md, certificate-profile.md, line-protocol.md, board-enrollment.md, operator-guide.md)\n");
}

int main(int argc, char **argv)
{
  static const struct option options[] = {
    {"config", required_argument, NULL, 'c'}, {"verbose", no_argument, NULL, 'v'},
    {"quiet", no_argument, NULL, 'q'},        {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},      {"allow-root", no_argument, NULL, 'R'},
    {NULL, 0, NULL, 0},
  };
  struct cli cli = {NULL, 0, NULL};
  int opt, status = 2, allow_root = 0;

  /* No core dumps and no ptrace peeking: the process holds a PIN. */
  prctl(PR_SET_DUMPABLE, 0);
  while ((opt = getopt_long(argc, argv, "+c:vqhV", options, NULL)) != -1) {
    switch (opt) {
    case 'c': cli.config_path = optarg; break;
    case 'v': st_log_set_level(ST_LOG_DEBUG); break;
    case 'q': st_log_set_level(ST_LOG_WARNING); break;
    case 'h': cli_usage(stdout); return 0;
    case 'V': printf("station %s\n", STATION_VERSION); return 0;
    case 'R': allow_root = 1; break;
    default: cli_usage(stderr); return 2;
    }
  }
  if (optind >= argc) {
    cli_usage(stderr);
    return 2;
  }
  if (strcmp(argv[optind], "help") != 0 && cli_check_root(allow_root) != 0)
    return 2; /* least privilege: privilege.c */
  cli.argc = argc - optind;
  cli.argv = argv + optind;
  for (size_t i = 0; i < sizeof cli_commands / sizeof cli_commands[0]; i++)
    if (strcmp(cli.argv[0], cli_commands[i].name) == 0)
      status = cli_commands[i].run(&cli);
  if (status == 2 && strcmp(cli.argv[0], "help") == 0) {
    cli_usage(stdout);
    status = 0;
  } else if (status == 2) {
    int known = 0;
    for (size_t i = 0; i < sizeof cli_commands / sizeof cli_commands[0]; i++)
      known |= strcmp(cli.argv[0], cli_commands[i].name) == 0;
    if (!known)
      fprintf(stderr, "station: unknown command \"%s\"; see station --help\n", cli.argv[0]);
  }
  return status;
}
