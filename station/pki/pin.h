/*
 * pin.h - obtaining the HSM PIN from its configured source.
 *
 * Sources: "prompt" asks on the controlling terminal with echo off (OpenSSL's
 * UI); "env:NAME" reads an environment variable; "file:PATH" reads the first
 * line of a regular file that is not readable or writable by others (mode
 * o-rwx; a group-readable file draws a warning). The PIN lives in a
 * locked (mlock) buffer, is wiped with OPENSSL_cleanse when freed, and is
 * never logged.
 */
#ifndef STATION_PIN_H
#define STATION_PIN_H

#include "config.h"

struct st_detail;

/* The largest PIN accepted, in bytes. */
#define PIN_MAX 128

struct pin {
  char value[PIN_MAX + 1];   /* NUL-terminated */
  int locked;                /* 1 when mlock succeeded */
};

/* Reads the PIN of source KIND/REF (REF: env name or file path; NULL for
 * prompt) into *OUT, asking with PROMPT_TEXT for the prompt source.
 * Returns 0, or ST_E_PIN_SOURCE with DETAIL saying what is wrong (never the PIN). */
int pin_obtain(enum config_pin_kind kind, const char *ref, const char *prompt_text, struct pin *out,
               struct st_detail *detail);

/* Parses a pin-source text ("prompt", "env:NAME", "file:PATH" or a bare path)
 * into KIND and a pointer to the reference inside TEXT. Returns 0 or ST_E_USAGE. */
int pin_parse_source(const char *text, enum config_pin_kind *kind, const char **ref);

/* Wipes and unlocks P; NULL is fine. */
void pin_wipe(struct pin *p);

#endif
