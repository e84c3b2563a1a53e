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
