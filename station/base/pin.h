/*
 * pin.h - the HSM PIN: an opaque secret with its own copy, lock and wipe,
 * and obtaining it from its configured source.
 *
 * A struct pin lives in memory locked with mlock (when the system allows),
 * is wiped with OPENSSL_cleanse whenever it is cleared or freed, and is
 * never logged; pin_value lends its text to the one call that needs it (a
 * login). Every copy is a pin of its own: nothing outside pin.c sees or
 * locks the buffer.
 *
 * Sources: "prompt" asks on the controlling terminal with echo off (OpenSSL's
 * UI); "env:NAME" reads an environment variable; "file:PATH" reads the first
 * line of a regular file that is not readable or writable by others (mode
 * o-rwx, no ACL entry for another user or group).
 */
#ifndef STATION_PIN_H
#define STATION_PIN_H

#include <stddef.h>

struct st_detail;
struct pin;

/* The largest PIN accepted, in bytes. */
#define PIN_MAX 128

/* Where the PIN comes from (the configuration's hsm.pin). */
enum pin_source {
  PIN_FROM_PROMPT, /* ask on the terminal */
  PIN_FROM_ENV,    /* from an environment variable, named by the reference */
  PIN_FROM_FILE,   /* from a file (first line), the reference its path */
};

/* A new, empty PIN in locked memory. NULL when out of memory. Free with pin_free. */
struct pin *pin_new(void);

/* A new PIN holding what P holds, in locked memory of its own. NULL when out
 * of memory. */
struct pin *pin_copy(const struct pin *p);

/* Wipes P, unlocks and frees it; NULL is fine. */
void pin_free(struct pin *p);

/* The PIN as NUL-terminated text ("" when empty or P is NULL), lent: valid
 * until P is changed or freed; never log it. */
const char *pin_value(const struct pin *p);

/* The length of the PIN in bytes. */
size_t pin_length(const struct pin *p);

/* Makes P hold VALUE. Returns 0, or -1 (P emptied) when VALUE is longer
 * than PIN_MAX bytes. */
int pin_set(struct pin *p, const char *value);

/* Adds the byte C at the end (a PIN being typed). Returns 0, or -1 when P
 * holds PIN_MAX bytes already (nothing added). */
int pin_append(struct pin *p, char c);

/* Takes the last byte off (nothing when empty). */
void pin_chop(struct pin *p);

/* Wipes what P holds; P stays, empty and locked. */
void pin_clear(struct pin *p);

/* Reads the PIN of source KIND/REF (REF: env name or file path; NULL for
 * prompt) into a new *OUT, asking with PROMPT_TEXT for the prompt source.
 * Returns 0, or ST_E_PIN_SOURCE (or ST_E_PERMISSIONS for a PIN file others
 * may read), with DETAIL saying what is wrong (never the PIN), or
 * ST_E_NO_MEMORY; *OUT is NULL then. */
int pin_obtain(enum pin_source kind, const char *ref, const char *prompt_text, struct pin **out,
               struct st_detail *detail);

/* Parses a pin-source text ("prompt", "env:NAME", "file:PATH" or a bare path)
 * into KIND and a pointer to the reference inside TEXT. Returns 0 or ST_E_USAGE. */
int pin_parse_source(const char *text, enum pin_source *kind, const char **ref);

#endif
