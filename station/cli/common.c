/* common.c - configuration, PIN and exit statuses for every command (see cli.h). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "engine.h"
#include "log.h"

int cli_exit_status(int code)
{
  switch (st_error_class_of(code)) {
  case ST_CLASS_OK: return 0;
  case ST_CLASS_REFUSAL: return 1;
  case ST_CLASS_USAGE: return 2;
  default: return 3;
  }
}

int cli_check_status(int code)
{
  return st_error_has(code, ST_CLASS_CHECK_FAILED) ? 1 : cli_exit_status(code);
}

int cli_fail(int code, const struct st_detail *detail)
{
  if (detail != NULL && detail->text[0] != '\0')
    st_error("%s (%s): %s", st_error_sentence(code), st_error_name(code), detail->text);
  else
    st_error("%s (%s)", st_error_sentence(code), st_error_name(code));
  return cli_exit_status(code);
}

int cli_load_config(const struct cli *cli, struct station_config **out)
{
  struct st_detail detail = {""};
  int r = config_load(config_default_path(cli->config_path), out, &detail);
  if (r != ST_OK) {
    st_error("%s", detail.text);
  } else if ((r = cli_check_trusted(*out)) != ST_OK) { /* least privilege */
    config_free(*out);
    *out = NULL;
  }
  return r;
}

int cli_obtain_pin(const struct station_config *cfg, struct pin **pin)
{
  struct st_detail detail = {""};
  char prompt[96];
  int r;
  snprintf(prompt, sizeof prompt, "PIN of HSM token \"%.40s\": ", cfg->hsm_token);
  r = pin_obtain(cfg->pin_kind, cfg->pin_ref, prompt, pin, &detail);
  if (r != ST_OK)
    st_error("%s", detail.text);
  return r;
}

/* The headless engine sink (see cli.h). */
void cli_print_engine_event(void *arg, const struct engine_event *ev)
{
  char source[600], detail[1100];
  (void)arg;
  st_printable(source, sizeof source, ev->source);
  st_printable(detail, sizeof detail, ev->detail[0] ? ev->detail : st_error_sentence(ev->code));
  switch (ev->kind) {
  case ENGINE_EVENT_ISSUED:
    st_info("issued %s: device %s, serial %s (journal record %llu)", source, ev->device, ev->serial_hex,
            (unsigned long long)ev->seq);
    break;
  case ENGINE_EVENT_REDELIVERED:
    st_info("issued before %s: device %s, serial %s (no new signature)", source, ev->device, ev->serial_hex);
    break;
  case ENGINE_EVENT_REFUSED:
    st_info("refused %s: %s: %s (journal record %llu)", source, st_error_name(ev->code), detail,
            (unsigned long long)ev->seq);
    break;
  case ENGINE_EVENT_JOURNAL_STOPPED:
    st_error("journal: signing stopped (%s): %s", st_error_name(ev->code), detail);
    break;
  case ENGINE_EVENT_JOURNAL_RESUMED:
    st_info("journal: %s", detail);
    break;
  case ENGINE_EVENT_TOKEN_FAULT:
  case ENGINE_EVENT_TOKEN_BACK:
    break; /* the engine logs the token's faults and its return itself */
  }
}

int cli_login(const struct station_config *cfg, struct engine *engine, struct st_detail *detail)
{
  struct pin *pin = NULL;
  int r;
  r = cli_obtain_pin(cfg, &pin);
  if (r == ST_OK)
    r = engine_login(engine, pin_value(pin), detail);
  else
    st_detail_set(detail, "no PIN");
  pin_free(pin);
  return r;
}
