/* cmd_serial.c - `station serial [--block-timeout MS] [PORT[@BAUD]...]`: headless
 * serial provisioning of a row of fixtures until SIGINT or SIGTERM. The
 * options make a headless service (service.h) that serves the ports; this
 * file prints its events as the station's log. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "baud_rates.h"
#include "engine.h"
#include "log.h"
#include "serial_port.h"
#include "service.h"

#define CLI_SERIAL_USAGE "usage: station serial [--block-timeout MS] [PORT[@BAUD]...]\n"

/* What the printer knows: the ports served, the gateway, and why the service stopped. */
struct cli_serial_run {
  size_t port_count;
  const char *gateway_url;
  struct st_detail detail;
};

/* A port's event: comings and goings at info level, the rest for -v. */
static void cli_serial_print_port(const struct service_event *ev)
{
  char port[600], text[1100];
  st_printable(port, sizeof port, ev->source);
  st_printable(text, sizeof text, ev->text);
  switch (ev->port_event) {
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

/* A request decided, or the journal stopped or back: the engine's event
 * again, for the log lines `station sign` prints too. */
static void cli_serial_print_engine(const struct service_event *ev)
{
  struct engine_event e = {(enum engine_event_kind)ev->request_kind, ev->source, ev->device, ev->serial_hex, ev->code,
                           ev->text, ev->seq, "", ev->records, ev->issued, ev->refused, NULL};
  if (ev->kind == SERVICE_EVENT_JOURNAL)
    e.kind = ev->code == ST_OK ? ENGINE_EVENT_JOURNAL_RESUMED : ENGINE_EVENT_JOURNAL_STOPPED;
  cli_print_engine_event(NULL, &e);
}

/* The event consumer of service_run: prints; returns non-zero (the code,
 * with run->detail) when the server cannot go on. The token's faults and
 * its return are logged by the engine itself. */
static int cli_serial_print(void *arg, const struct service_event *ev)
{
  struct cli_serial_run *run = arg;
  switch (ev->kind) {
  case SERVICE_EVENT_LOGIN:
    if (ev->code != ST_OK) {
      snprintf(run->detail.text, sizeof run->detail.text, "%s", ev->text);
      return ev->code;
    }
    st_info("serving %zu serial port%s; stop with SIGINT or SIGTERM", run->port_count, run->port_count == 1 ? "" : "s");
    if (run->gateway_url != NULL)
      st_info("boards are told their device gateway: %s", run->gateway_url);
    else
      st_info("no gateway configured (gateway.certificate): boards get no gateway for their sota.toml");
    break;
  case SERVICE_EVENT_PORT: cli_serial_print_port(ev); break;
  case SERVICE_EVENT_REQUEST:
  case SERVICE_EVENT_JOURNAL: cli_serial_print_engine(ev); break;
  case SERVICE_EVENT_FAULT:
    snprintf(run->detail.text, sizeof run->detail.text, "%s", ev->text);
    return ev->code;
  default: break;
  }
  return ST_OK;
}

/* Parses "PATH[@BAUD]" into SPEC (PATH points into ARG, which is cut at '@'). */
static int cli_serial_parse_port(char *arg, struct serial_port_spec *spec)
{
  char *at = strrchr(arg, '@'), *end = NULL;
  unsigned long baud;
  spec->path = arg;
  spec->baud = SERIAL_DEFAULT_BAUD;
  if (at == NULL)
    return ST_OK;
  errno = 0;
  baud = strtoul(at + 1, &end, 10);
  if (at[1] == '\0' || *end != '\0' || errno != 0 || baud > 0xffffffffUL || !serial_baud_supported((unsigned)baud)) {
    fprintf(stderr, "station: error: %s: the baud after '@' must be one of %s\n", arg, BAUD_RATES_TEXT);
    return ST_E_SERIAL_BAUD;
  }
  *at = '\0';
  spec->baud = (unsigned)baud;
  return ST_OK;
}

int cli_serial(struct cli *cli)
{
  static const struct option options[] = {{"block-timeout", required_argument, NULL, 't'}, {NULL, 0, NULL, 0}};
  static const int signals[] = {SIGINT, SIGTERM};
  struct station_config *cfg = NULL;
  struct service *service = NULL;
  struct serial_port_spec *specs = NULL;
  struct service_options service_options = {NULL, 0, 0, 1};
  struct cli_serial_run run = {0, NULL, {""}};
  struct pin *pin = NULL;
  int r = ST_E_USAGE, opt, stop_fd = -1;
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
    service_options.block_timeout_ms = (uint32_t)ms;
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
  service_options.ports = specs;
  service_options.port_count = run.port_count = n;
  r = service_new(cfg, &service_options, &service, &run.detail);
  if (r == ST_OK && (r = cli_obtain_pin(cfg, &pin)) == ST_E_PIN_SOURCE)
    goto out; /* said why */
  if (r != ST_OK && service != NULL)
    st_detail_set(&run.detail, "no PIN");
  if (r == ST_OK)
    r = service_login(service, pin_value(pin));
  pin_free(pin);
  pin = NULL;
  if (r == ST_OK)
    r = service_signals_open(signals, 2, &stop_fd);
  if (r == ST_OK) {
    run.gateway_url = service_info(service)->gateway_url;
    r = service_run(service, stop_fd, cli_serial_print, &run);
  }
  if (r == ST_OK)
    st_info("stopped");
  else
    cli_fail(r, &run.detail);
  goto out;
usage:
  fprintf(stderr, CLI_SERIAL_USAGE "  --block-timeout MS  refuse a CSR block idle this long (100..600000, default 5000)\n");
  r = ST_E_USAGE;
out:
  pin_free(pin);
  service_free(service);
  service_signals_close();
  config_free(cfg);
  free(specs);
  return cli_exit_status(r);
}
