/*
 * journal_space.c - room for the journal on its file system (see journal.h).
 *
 * After a commit failed for want of space, the engine waits until the file
 * system holding the log has room again before it signs anything more. The
 * room is what statvfs reports as available to the station (f_bavail, which
 * leaves out the blocks reserved for root), asked through the st_sys seam so
 * that a test can make a disk look full. The operator is told which file
 * system to free space on: the mount point, found by walking up from the
 * log's directory while the device stays the same.
 */
#include "journal_internal.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "error.h"
#include "syscalls.h"

/* "12.0 KiB", "3.4 MiB" into OUT. */
static void journal_bytes_text(char *out, size_t cap, uint64_t n)
{
  if (n < 1024)
    snprintf(out, cap, "%llu bytes", (unsigned long long)n);
  else if (n < 1024 * 1024)
    snprintf(out, cap, "%.1f KiB", (double)n / 1024.0);
  else if (n < UINT64_C(1024) * 1024 * 1024)
    snprintf(out, cap, "%.1f MiB", (double)n / (1024.0 * 1024.0));
  else
    snprintf(out, cap, "%.1f GiB", (double)n / (1024.0 * 1024.0 * 1024.0));
}

int journal_room(const struct journal *j, uint64_t need, struct st_detail *detail)
{
  const char *log = journal_log_path(j);
  struct statvfs vfs;
  uint64_t avail;
  char fs[PATH_MAX], have_text[32], need_text[32];

  if (st_sys.statvfs(log, &vfs) < 0) {
    st_detail_set(detail, "cannot ask the file system of journal %s for its free space: %s", log, strerror(errno));
    return ST_E_JOURNAL;
  }
  avail = (uint64_t)vfs.f_bavail * (uint64_t)(vfs.f_frsize ? vfs.f_frsize : vfs.f_bsize);
  if (avail < need) {
    journal_filesystem(log, fs, sizeof fs);
    journal_bytes_text(have_text, sizeof have_text, avail);
    journal_bytes_text(need_text, sizeof need_text, need);
    st_detail_set(detail, "the file system %s holding journal %s has %s free; the station needs %s", fs, log,
                  have_text, need_text);
    return ST_E_NO_SPACE;
  }
  return 0;
}

void journal_filesystem(const char *path, char *out, size_t cap)
{
  char *real = realpath(path, NULL), *dir = NULL, *up = NULL;
  struct stat here, above;

  if (real == NULL || (dir = strdup(dirname(real))) == NULL || stat(dir, &here) < 0) {
    char *copy = strdup(path);
    snprintf(out, cap, "%s", copy != NULL ? dirname(copy) : path);
    free(copy);
    goto out;
  }
  while (strcmp(dir, "/") != 0) {
    char *copy = strdup(dir);
    free(up);
    up = copy != NULL ? strdup(dirname(copy)) : NULL;
    free(copy);
    if (up == NULL || stat(up, &above) < 0 || above.st_dev != here.st_dev)
      break;
    free(dir);
    dir = up;
    up = NULL;
  }
  snprintf(out, cap, "%s", dir);
out:
  free(up);
  free(dir);
  free(real);
}
