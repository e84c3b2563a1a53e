/*
 * xbuf.h - a growing text buffer for the files the station writes whole
 * (exports, manifests), with the CSV and JSON quoting they use.
 *
 * A failed append (out of memory) sets `failed`, which is sticky: later
 * appends do nothing, so a writer appends freely and checks once at the end.
 * The data is kept NUL-terminated when not empty. Do not depend on anything
 * but the three public fields.
 */
#ifndef STATION_XBUF_H
#define STATION_XBUF_H

#include <stddef.h>

struct xbuf {
  char *data;                  /* owned; free() it */
  size_t len, cap;
  int failed;
};

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

#endif
