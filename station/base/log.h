/*
 * log.h - the station's diagnostic log, on stderr.
 *
 * Lines look like "station: warning: the CA key is extractable". The level
 * threshold is set once at start (--verbose, --quiet). Secrets (the PIN, key
 * material) are never passed to these functions.
 */
#ifndef STATION_LOG_H
#define STATION_LOG_H

#include <stddef.h>

enum st_log_level { ST_LOG_DEBUG, ST_LOG_INFO, ST_LOG_WARNING, ST_LOG_ERROR };

/* Sets the lowest level that is printed (default ST_LOG_INFO). */
void st_log_set_level(enum st_log_level level);

/* Prints one line at LEVEL, printf-style; a '\n' is added. Thread-safe. */
void st_log(enum st_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Copies IN into OUT (CAP bytes, always NUL-terminated) for one line on a
 * terminal: bytes outside printable ASCII, and '\\', become \\xNN. For file
 * names and other text from outside (a stick can hold a name with a newline or
 * an escape sequence). Returns OUT. */
char *st_printable(char *out, size_t cap, const char *in);

/* As st_printable, but well-formed UTF-8 stays as it is ("Müller.csr"), so
 * that a UTF-8 terminal shows it as text: only bytes that are not part of a
 * well-formed sequence (stray, overlong, surrogate or past U+10FFFF), C0 and
 * C1 controls, DEL, '\\', and the bidirectional controls that could make
 * text read otherwise than it is (U+202A..U+202E, U+2066..U+2069) become
 * \\xNN. A character that does not fit whole is left out. Returns OUT. */
char *st_printable_utf8(char *out, size_t cap, const char *in);

#define st_debug(...) st_log(ST_LOG_DEBUG, __VA_ARGS__)
#define st_info(...) st_log(ST_LOG_INFO, __VA_ARGS__)
#define st_warn(...) st_log(ST_LOG_WARNING, __VA_ARGS__)
#define st_error(...) st_log(ST_LOG_ERROR, __VA_ARGS__)

#endif
