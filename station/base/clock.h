/*
 * clock.h - the station's two clocks, in milliseconds.
 *
 * st_mono_ms is for intervals, deadlines and back-offs: it never jumps when
 * the wall clock is set. st_wall_ms is for what is written down or shown
 * (journal times, shift starts, the console's log): milliseconds since the
 * Unix epoch, UTC.
 */
#ifndef STATION_CLOCK_H
#define STATION_CLOCK_H

#include <stdint.h>

/* Milliseconds on CLOCK_MONOTONIC: only differences mean anything. */
int64_t st_mono_ms(void);

/* Milliseconds since 1970-01-01T00:00:00Z (CLOCK_REALTIME). */
int64_t st_wall_ms(void);

#endif
