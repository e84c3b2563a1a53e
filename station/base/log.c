/* log.c - stderr log lines (see log.h). */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static enum st_log_level st_log_threshold = ST_LOG_INFO;
static pthread_mutex_t st_log_lock = PTHREAD_MUTEX_INITIALIZER;

void st_log_set_level(enum st_log_level level)
{
  st_log_threshold = level;
}

void st_log(enum st_log_level level, const char *fmt, ...)
{
  static const char *const prefixes[] = {"debug: ", "", "warning: ", "error: "};
  va_list ap;
  if (level < st_log_threshold)
    return;
  va_start(ap, fmt);
  pthread_mutex_lock(&st_log_lock);
  fprintf(stderr, "station: %s", prefixes[level]);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  pthread_mutex_unlock(&st_log_lock);
  va_end(ap);
}

char *st_printable(char *out, size_t cap, const char *in)
{
  size_t n = 0;
  for (const unsigned char *p = (const unsigned char *)in; *p != '\0' && n + 5 < cap; p++) {
    if (*p >= 0x20 && *p < 0x7f && *p != '\\')
      out[n++] = (char)*p;
    else
      n += (size_t)snprintf(out + n, cap - n, "\\x%02x", *p);
  }
  if (cap > 0)
    out[n] = '\0';
  return out;
}

/* The length of the well-formed UTF-8 sequence of a character from U+00A0 at
 * P (not a bidirectional control), or 0. */
static size_t st_utf8_char(const unsigned char *p)
{
  unsigned cp;
  size_t len;
  if (p[0] >= 0xc2 && p[0] <= 0xdf) {
    len = 2;
    cp = p[0] & 0x1fu;
  } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
    len = 3;
    cp = p[0] & 0x0fu;
  } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
    len = 4;
    cp = p[0] & 0x07u;
  } else {
    return 0;
  }
  for (size_t i = 1; i < len; i++) {
    if ((p[i] & 0xc0) != 0x80) /* also stops at the NUL */
      return 0;
    cp = (cp << 6) | (p[i] & 0x3fu);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff) ||
      cp < 0xa0 || (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069))
    return 0;
  return len;
}

char *st_printable_utf8(char *out, size_t cap, const char *in)
{
  size_t n = 0;
  const unsigned char *p = (const unsigned char *)in;
  while (*p != '\0' && n + 5 < cap) {
    size_t len = *p >= 0x80 ? st_utf8_char(p) : 0;
    if (len > 0) {
      memcpy(out + n, p, len);
      n += len;
      p += len;
    } else if (*p >= 0x20 && *p < 0x7f && *p != '\\') {
      out[n++] = (char)*p++;
    } else {
      n += (size_t)snprintf(out + n, cap - n, "\\x%02x", *p++);
    }
  }
  if (cap > 0)
    out[n] = '\0';
  return out;
}
