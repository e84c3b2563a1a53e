/*
 * file_read.h - reading a whole small file into memory, with a cap.
 */
#ifndef STATION_FILE_READ_H
#define STATION_FILE_READ_H

#include <stddef.h>

struct st_detail;

/* Reads the whole of regular file PATH, at most MAX bytes, into *DATA
 * (NUL-terminated, the caller frees) and its length into *LEN. Returns 0,
 * ST_E_IO (cannot open, not a regular file, over MAX, a read error or the
 * file shrank while read; DETAIL names PATH and why) or ST_E_NO_MEMORY. */
int st_file_read(const char *path, size_t max, char **data, size_t *len, struct st_detail *detail);

#endif
