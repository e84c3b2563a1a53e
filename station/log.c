/* log.c - stderr log lines (see log.h). */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

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
