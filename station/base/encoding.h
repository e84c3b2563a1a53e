/*
 * encoding.h - the text encodings the station writes and reads back: lower-case
 * hex, base64, the journal's percent-encoding, and UTC timestamps.
 *
 * Encoders write into a buffer the caller sized with the matching *_len
 * function (the length excludes the terminating NUL, which is always written).
 * Decoders are strict: they accept exactly what the encoder produces and
 * nothing else (one spelling per value), so that text that was read back and
 * written again is byte for byte the same, which the journal's hash chain
 * relies on. They take (pointer, length) input, never need a NUL, do not
 * allocate, and return true when the input was valid; on false the output
 * buffer holds garbage.
 */
#ifndef STATION_ENCODING_H
#define STATION_ENCODING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Hex: two lower-case digits per byte. OUT holds 2 * LEN + 1 bytes. */
void st_hex_encode(char *out, const uint8_t *in, size_t len);

/* Decodes IN_LEN lower-case hex digits into IN_LEN / 2 bytes at OUT. False for
 * an odd length or any character outside [0-9a-f] (upper case included). */
bool st_hex_decode(uint8_t *out, const char *in, size_t in_len);

/* Base64 (RFC 4648, standard alphabet, '=' padding, no line breaks).
 * The encoded length of LEN bytes; SIZE_MAX when it would not fit a size_t. */
size_t st_base64_len(size_t len);

/* Encodes LEN bytes; OUT holds st_base64_len(LEN) + 1 bytes. */
void st_base64_encode(char *out, const uint8_t *in, size_t len);

/* Decodes IN; OUT holds IN_LEN / 4 * 3 bytes; *OUT_LEN gets the byte count.
 * False unless IN_LEN is a multiple of 4, every character is in the alphabet,
 * '=' appears only as the last one or two characters, and the bits the padding
 * leaves over are zero. An empty IN decodes to zero bytes. */
bool st_base64_decode(uint8_t *out, size_t *out_len, const char *in, size_t in_len);

/* Percent-encoding as the journal writes a free-text field (see journal.h):
 * every byte below 0x21 or above 0x7e, and '%', becomes %XX (upper-case hex);
 * a value that is exactly "-" becomes "%2D"; NULL or "" is written "-" (the
 * field has no value).
 * The encoded length of VALUE (NULL allowed). */
size_t st_pct_len(const char *value);

/* Encodes VALUE (NULL allowed); OUT holds st_pct_len(VALUE) + 1 bytes. */
void st_pct_encode(char *out, const char *value);

/* Decodes IN into OUT (IN_LEN + 1 bytes) as a NUL-terminated string; "-"
 * decodes to "" (no value). False for an empty IN, a byte that should have been
 * encoded, a '%' not followed by two upper-case hex digits, %00, or a %XX that
 * did not need encoding (only the whole value "%2D" may encode a plain byte). */
bool st_pct_decode(char *out, const char *in, size_t in_len);

/* UTC time as YYYY-MM-DDTHH:MM:SS.mmmZ: 24 characters. */
#define ST_TIME_LEN 24

/* The latest time that can be written: 9999-12-31T23:59:59.999Z. */
#define ST_TIME_MAX_MS INT64_C(253402300799999)

/* Formats MS (milliseconds since 1970-01-01T00:00:00Z) into OUT (ST_TIME_LEN + 1
 * bytes). False when MS is before 1970 or after ST_TIME_MAX_MS. */
bool st_time_format(char *out, int64_t ms);

/* Parses exactly ST_TIME_LEN characters of that form into *MS. False for any
 * other length or spelling, a year before 1970, or a field out of range
 * (month 01-12, the day within its month, hour 00-23, minute and second 00-59). */
bool st_time_parse(int64_t *ms, const char *in, size_t in_len);

/* Parses the NUL-terminated RFC 3339 date-time TEXT into *MS: YYYY-MM-DD, T
 * (or t or a space), HH:MM:SS, an optional fraction (milliseconds kept),
 * then Z (or z) or an offset +HH:MM/-HH:MM. A leap second (:60) counts as
 * :59. False for anything else or a year before 1970. The one time parser:
 * st_time_parse is this one on the journal's own spelling. */
bool st_time_parse_rfc3339(int64_t *ms, const char *text);

#endif
