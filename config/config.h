/*
 * config.h - the station's configuration: one YAML file read into one struct.
 *
 * The file's keys are those of docs/configuration.md. An unknown key, a value
 * of the wrong type, a value out of range or a missing required key is an
 * error naming FILE:LINE:COLUMN and what was expected there. This module is the only one that sees libyaml.
 *
 * Relative paths in the file are taken relative to the directory holding the
 * file, and are stored in the struct already resolved to that directory.
 */
#ifndef STATION_CONFIG_H
#define STATION_CONFIG_H

#include <stddef.h>

#include "pin.h"

struct st_detail;

enum config_production { CONFIG_PRODUCTION_FORBID, CONFIG_PRODUCTION_ALLOW, CONFIG_PRODUCTION_REQUIRE };
enum config_reissue { CONFIG_REISSUE_REFUSE, CONFIG_REISSUE_ALLOW };

/* The most shifts a day (console.shifts). */
#define CONFIG_SHIFTS_MAX 24

struct config_serial_port {
  char *port;          /* device path, e.g. /dev/ttyUSB0 */
  unsigned baud;       /* default 115200 */
};

/* Every string is owned by the struct (freed by config_free) and non-NULL
 * unless said otherwise. */
struct station_config {
  char *source_path;            /* the file this was read from */
  char *factory;                /* required: the OU of the local CA and of every device */
  /* hsm: */
  char *hsm_module;             /* required: path of the PKCS#11 module */
  char *hsm_token;              /* required: token label */
  char *hsm_key;                /* required: label of the local CA private key */
  enum pin_source pin_kind;     /* required (hsm.pin) */
  char *pin_ref;                /* env var name or file path; NULL for prompt */
  char *hsm_journal_key;        /* default "station-journal" */
  unsigned hsm_sessions;        /* default 1, 1..64 */
  unsigned hsm_sign_timeout;    /* seconds the token may go without finishing a signature; default 30, 1..3600 */
  /* ca: */
  char *ca_certificate;         /* required: local CA certificate (PEM) */
  char *ca_root;                /* required: factory root certificate (PEM) */
  /* profile: */
  unsigned validity_days;       /* default 7300, 1..36500 */
  enum config_production production;   /* default forbid */
  enum config_reissue reissue;         /* default refuse */
  /* journal: */
  char *journal_path;           /* required */
  /* gateway: (optional; both NULL when the section is absent) */
  char *gateway_certificate;    /* the device gateway's TLS server certificate (tls-crt) */
  char *gateway_url;            /* NULL: https://<first DNS name of the certificate>:8443 */
  /* intake: */
  char **usb_roots;             /* may be NULL when usb_root_count is 0 */
  size_t usb_root_count;
  struct config_serial_port *serial_ports; /* may be NULL when serial_port_count is 0 */
  size_t serial_port_count;
  /* console: */
  unsigned shift_starts[CONFIG_SHIFTS_MAX];  /* console.shifts: minutes after local midnight, increasing */
  size_t shift_count;                        /* default 3: 06:00, 14:00, 22:00 */
};

/* Reads and checks the YAML file at PATH (at most 64 KiB).
 * Returns 0 and a new config in *OUT (caller frees with config_free), or
 * ST_E_CONFIG with DETAIL holding "PATH:LINE:COLUMN: what was expected"
 * (or "PATH: reason" when the file cannot be read at all). */
int config_load(const char *path, struct station_config **out, struct st_detail *detail);

/* Same as config_load, from a buffer already in memory; NAME is used in
 * messages and to resolve relative paths (its directory). For tests and fuzzing. */
int config_load_buffer(const char *name, const char *text, size_t len,
                       struct station_config **out, struct st_detail *detail);

/* Picks the configuration file: EXPLICIT when not NULL, else $STATION_CONFIG
 * when set and non-empty, else /etc/station/station.yaml. Static or caller
 * storage; never NULL. */
const char *config_default_path(const char *explicit_path);

/* Frees C and everything it owns; NULL is fine. */
void config_free(struct station_config *c);

#endif
