/* xbuf.c - a growing text buffer with CSV and JSON quoting (see xbuf.h). */
#include "xbuf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

int xb_reserve(struct xbuf *b, size_t more)
{
  size_t want, cap;
  char *grown;
  if (more > SIZE_MAX - 1 - b->len)
    return ST_E_NO_MEMORY;
  if (b->max != 0 && b->len + more > b->max)
    return ST_E_TOO_LARGE;
  want = b->len + more + 1;
  if (want <= b->cap)
    return ST_OK;
  cap = b->cap ? b->cap : 4096;
  while (cap < want)
    cap = cap > SIZE_MAX / 2 ? want : cap * 2;
  if ((grown = realloc(b->data, cap)) == NULL)
    return ST_E_NO_MEMORY;
  b->data = grown;
  b->cap = cap;
  return ST_OK;
}

void xb_free(struct xbuf *b)
{
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
  b->failed = 0;
}

void xb_put(struct xbuf *b, const void *p, size_t n)
{
  if (b->failed)
    return;
  if (xb_reserve(b, n) != ST_OK) {
    b->failed = 1;
    return;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
}

void xb_str(struct xbuf *b, const char *s)
{
  xb_put(b, s, strlen(s));
}

void xb_printf(struct xbuf *b, const char *fmt, ...)
{
  char small[256], *big = NULL;
  va_list ap;
  int n;
  va_start(ap, fmt);
  n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) {
    b->failed = 1;
    return;
  }
  if ((size_t)n < sizeof small) {
    xb_put(b, small, (size_t)n);
    return;
  }
  va_start(ap, fmt);
  n = vasprintf(&big, fmt, ap);
  va_end(ap);
  if (n < 0) {
    b->failed = 1;
    return;
  }
  xb_put(b, big, (size_t)n);
  free(big);
}

void xb_csv(struct xbuf *b, const char *s)
{
  if (s == NULL)
    return;
  if (strpbrk(s, ",\"\r\n") == NULL) {
    xb_str(b, s);
    return;
  }
  xb_put(b, "\"", 1);
  for (const char *p = s; *p != '\0'; p++)
    xb_put(b, *p == '"' ? "\"\"" : p, *p == '"' ? 2 : 1);
  xb_put(b, "\"", 1);
}

/* The length of a valid UTF-8 sequence at P (at most N bytes), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
  size_t want = p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 && p[0] < 0xe0 ? 2 : 0;
  uint32_t cp;
  if (want == 0 || p[0] > 0xf4 || n < want)
    return 0;
  for (size_t i = 1; i < want; i++)
    if ((p[i] & 0xc0) != 0x80)
      return 0;
  cp = want == 2 ? (uint32_t)(p[0] & 0x1f) << 6 | (p[1] & 0x3f)
     : want == 3 ? (uint32_t)(p[0] & 0x0f) << 12 | (uint32_t)(p[1] & 0x3f) << 6 | (p[2] & 0x3f)
                 : (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3f) << 12 |
                       (uint32_t)(p[2] & 0x3f) << 6 | (p[3] & 0x3f);
  if ((want == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (want == 4 && (cp < 0x10000 || cp > 0x10ffff)))
    return 0;
  return want;
}

void xb_json(struct xbuf *b, const char *s)
{
  const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");
  size_t n = strlen((const char *)p);
  char esc[8];
  xb_put(b, "\"", 1);
  for (size_t i = 0; i < n;) {
    size_t u = p[i] >= 0x80 ? utf8_len(p + i, n - i) : 0;
    if (p[i] == '"' || p[i] == '\\') {
      esc[0] = '\\';
      esc[1] = (char)p[i];
      xb_put(b, esc, 2);
      i++;
    } else if (p[i] == '\n') {
      xb_put(b, "\\n", 2);
      i++;
    } else if (p[i] < 0x20 || p[i] == 0x7f || (p[i] >= 0x80 && u == 0)) {
      snprintf(esc, sizeof esc, "\\u%04x", p[i]);
      xb_put(b, esc, 6);
      i++;
    } else {
      u = u ? u : 1;
      xb_put(b, p + i, u);
      i += u;
    }
  }
  xb_put(b, "\"", 1);
}

void *st_array_grow(void *items, size_t *cap, size_t count, size_t size, size_t first, size_t max)
{
  size_t want;
  void *grown;
  if (count < *cap)
    return items;
  if (*cap > SIZE_MAX / 2 / size)
    return NULL;
  want = *cap ? *cap * 2 : first;
  if ((max != 0 && want > max) || (grown = realloc(items, want * size)) == NULL)
    return NULL;
  *cap = want;
  return grown;
}

void xb_truncate(struct xbuf *b, size_t len)
{
  if (len < b->len) {
    b->len = len;
    b->data[len] = '\0';
  }
}
