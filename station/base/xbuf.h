/*
 * xbuf.h - the station's one growable byte buffer (in the manner of OpenSSH's
 * sshbuf): the journal's pending lines, the files the station writes whole
 * (exports, manifests) with the CSV and JSON quoting they use, and text
 * built piece by piece.
 *
 * Zero-initialised is empty, with no cap but memory; set `max` to cap it.
 * Two ways to write: xb_reserve makes room and the caller writes into
 * data + len itself (and moves len), checking each return; or the xb_put
 * family appends, and a failed append (out of memory, past max) sets
 * `failed`, which is sticky: later appends do nothing, so a writer appends
 * freely and checks once at the end. The data is kept NUL-terminated by the
 * appends when not empty. Do not depend on more than the fields say: data
 * holds cap bytes, len of them used; only xbuf.c changes data and cap.
 */
#ifndef STATION_XBUF_H
#define STATION_XBUF_H

#include <stddef.h>

struct xbuf {
  char *data;                  /* owned; xb_free() it */
  size_t len, cap;
  int failed;                  /* an append failed (sticky) */
  size_t max;                  /* the most bytes len may reach; 0: no cap */
};

/* Makes room for MORE bytes after len, and a NUL after them. Returns 0,
 * ST_E_TOO_LARGE (len + MORE past max; B unchanged) or ST_E_NO_MEMORY.
 * Leaves `failed` alone: a later reserve may succeed. */
int xb_reserve(struct xbuf *b, size_t more);

/* Frees the bytes and makes B empty (max kept). */
void xb_free(struct xbuf *b);

/* Appends N bytes of P. */
void xb_put(struct xbuf *b, const void *p, size_t n);

/* Appends the string S. */
void xb_str(struct xbuf *b, const char *s);

/* Appends printf-style text. */
void xb_printf(struct xbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends S as a CSV field (RFC 4180): in double quotes, each quote doubled,
 * when it holds a comma, a double quote, CR or LF; as is otherwise; NULL is
 * the empty field. */
void xb_csv(struct xbuf *b, const char *s);

/* Appends S as a JSON string, quotes included (NULL is ""). '"' and '\\' are
 * escaped, LF is \n, other control bytes and DEL are \u00XX, and each byte
 * that is not part of valid UTF-8 is \u00XX too (read as Latin-1). */
void xb_json(struct xbuf *b, const char *s);

/* Cuts B back to LEN bytes (LEN <= b->len). */
void xb_truncate(struct xbuf *b, size_t len);

/* The one way an array of the station grows: ITEMS holds *CAP elements of
 * SIZE bytes, COUNT of them used. Returns ITEMS when there is room for one
 * more, else the array moved to twice the room (FIRST elements at first, at
 * most MAX; 0: no cap) with *CAP updated; NULL when out of memory, past MAX
 * or on an overflow (ITEMS and *CAP are then unchanged and still valid). */
void *st_array_grow(void *items, size_t *cap, size_t count, size_t size, size_t first, size_t max);

#endif
