/* cmd_serial.c - `station serial [--block-timeout MS] [PORT[@BAUD]...]`: headless
 * serial provisioning of a row of fixtures until SIGINT or SIGTERM. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "baud_rates.h"
#include "engine.h"
#include "log.h"
#include "serial_port.h"
#include "serial_server.h"

#define CLI_SERIAL_USAGE "usage: station serial [--block-timeout MS] [PORT[@BAUD]...]\n"

/* The write end of the self-pipe the signal handler pokes. */
static int cli_serial_stop_write = -1;

static void cli_serial_on_signal(int sig)
{
  int saved = errno;
  char byte = (char)sig;
  if (write(cli_serial_stop_write, &byte, 1) < 0) {
    /* the pipe is full: a stop is already pending */
  }
  errno = saved;
}


/* The headless port sink: comings and goings at info level, the rest for -v. */
static void cli_serial_print_port(void *arg, const struct serial_event *ev)
{
  char port[600], text[1100];
  (void)arg;
  st_printable(port, sizeof port, ev->port);
  st_printable(text, sizeof text, ev->text);
  switch (ev->kind) {
  case SERIAL_EVENT_OPENED: st_info("port %s: open", port); break;
  case SERIAL_EVENT_LOST: st_warn("port %s: lost: %s; trying again every second", port, text); break;
  case SERIAL_EVENT_RECEIVING: st_debug("port %s: receiving a CSR", port); break;
  case SERIAL_EVENT_QUEUED: st_debug("port %s: request queued", port); break;
  case SERIAL_EVENT_ANSWERED:
    st_debug("port %s: answered %s %s", port, ev->code == ST_OK ? "OK" : "ERR",
             ev->code == ST_OK ? ev->serial_hex : st_error_name(ev->code));
    break;
  case SERIAL_EVENT_DROPPED: st_warn("port %s: answer not delivered: %s", port, text); break;
  }
}

/* Parses "PATH[@BAUD]" into SPEC (PATH points into ARG, which is cut at '@'). */
static int cli_serial_parse_port(char *arg, struct serial_port_spec *spec)
{
  int r = ST_OK;
  char *at = strrchr(arg, '@'), *end = NULL;
  unsigned long baud;
  spec->path = arg;
  spec->baud = SERIAL_DEFAULT_BAUD;
  if (at == NULL)
    goto out;
  errno = 0;
  baud = strtoul(at + 1, &end, 10);
  if (at[1] == '\0' || *end != '\0' || errno != 0 || baud > 0xffffffffUL || !serial_baud_supported((unsigned)baud)) {
    fprintf(stderr, "station: error: %s: the baud after '@' must be one of %s\n", arg, BAUD_RATES_TEXT);
    r = ST_E_SERIAL_BAUD;
    goto out;
  }
  *at = '\0';
  spec->baud = (unsigned)baud;
out:
  return r;
}

/* The self-pipe and the handlers for SIGINT and SIGTERM. Returns 0 and the read end. */
static int cli_serial_signals(int pipe_fds[2])
{
  int r = ST_E_INTERNAL;
  struct sigaction sa;
  if (pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) != 0)
    goto out;
  cli_serial_stop_write = pipe_fds[1];
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = cli_serial_on_signal;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0)
    goto out;
  signal(SIGPIPE, SIG_IGN);
  r = ST_OK;
out:
  return r;
}

int cli_serial(struct cli *cli)
{
  static const struct option options[] = {{"block-timeout", required_argument, NULL, 't'}, {NULL, 0, NULL, 0}};
  struct station_config *cfg = NULL;
  struct engine *engine = NULL;
  struct serial_server *server = NULL;
  struct serial_port_spec *specs = NULL;
  struct serial_server_options server_options = {0, 0, 0};
  struct engine_sink request_sink = {cli_print_engine_event, NULL};
  struct serial_sink port_sink = {cli_serial_print_port, NULL};
  struct st_detail detail = {""};
  int r = ST_E_USAGE, opt, stop_pipe[2] = {-1, -1};
  size_t n = 0;
  char *end = NULL;

  optind = 1;
  while ((opt = getopt_long(cli->argc, cli->argv, "", options, NULL)) != -1) {
    unsigned long ms;
    if (opt != 't')
      goto usage;
    errno = 0;
    ms = strtoul(optarg, &end, 10);
    if (*optarg == '\0' || *end != '\0' || errno != 0 || ms < 100 || ms > 600000)
      goto usage;
    server_options.block_timeout_ms = (uint32_t)ms;
  }
  r = cli_load_config(cli, &cfg);
  if (r != ST_OK)
    goto out;
  n = optind < cli->argc ? (size_t)(cli->argc - optind) : cfg->serial_port_count;
  specs = calloc(n > 0 ? n : 1, sizeof *specs);
  r = specs == NULL ? ST_E_NO_MEMORY : ST_OK;
  for (size_t i = 0; r == ST_OK && i < n; i++) {
    if (optind < cli->argc)
      r = cli_serial_parse_port(cli->argv[optind + (int)i], &specs[i]);
    else
      specs[i] = (struct serial_port_spec){cfg->serial_ports[i].port, cfg->serial_ports[i].baud};
  }
  if (r == ST_OK && n == 0) {
    fprintf(stderr, "station: error: no serial port: name some (PORT[@BAUD]) or list them under intake.serial\n");
    r = ST_E_USAGE;
  }
  if (r != ST_OK)
    goto out;
  r = engine_open(cfg, &engine, &detail);
  if (r == ST_OK)
    r = engine_add_sink(engine, &request_sink);
  if (r == ST_OK)
    r = serial_server_new(engine, specs, n, &server_options, &server, &detail);
  if (r == ST_OK)
    r = serial_server_add_sink(server, &port_sink);
  if (r == ST_OK && (r = cli_login(cfg, engine, &detail)) == ST_E_PIN_SOURCE)
    goto out;
  if (r == ST_OK)
    r = cli_serial_signals(stop_pipe);
  if (r == ST_OK) {
    st_info("serving %zu serial port%s; stop with SIGINT or SIGTERM", n, n == 1 ? "" : "s");
    if (engine_gateway_url(engine) != NULL)
      st_info("boards are told their device gateway: %s", engine_gateway_url(engine));
    else
      st_info("no gateway configured (gateway.certificate): boards get no gateway for their sota.toml");
    r = serial_server_run(server, stop_pipe[0], &detail);
  }
  if (r == ST_OK)
    st_info("stopped");
  else
    cli_fail(r, &detail);
  goto out;
usage:
  fprintf(stderr, CLI_SERIAL_USAGE "  --block-timeout MS  refuse a CSR block idle this long (100..600000, default 5000)\n");
  r = ST_E_USAGE;
out:
  serial_server_free(server);
  engine_close(engine);
  config_free(cfg);
  free(specs);
  cli_serial_stop_write = -1;
  if (stop_pipe[0] >= 0)
    close(stop_pipe[0]);
  if (stop_pipe[1] >= 0)
    close(stop_pipe[1]);
  return cli_exit_status(r);
}
