/* clock.c - the monotonic and the wall clock in milliseconds (clock.h). */
#include "clock.h"

#include <time.h>

static int64_t st_clock_ms(clockid_t id)
{
  struct timespec ts;
  clock_gettime(id, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t st_mono_ms(void)
{
  return st_clock_ms(CLOCK_MONOTONIC);
}

int64_t st_wall_ms(void)
{
  return st_clock_ms(CLOCK_REALTIME);
}
