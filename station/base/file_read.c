/* file_read.c - a whole small file into memory (file_read.h). */
#include "file_read.h"

#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "syscalls.h"

int st_file_read(const char *path, size_t max, char **data, size_t *len, struct st_detail *detail)
{
  int r = ST_E_IO, fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  struct stat sb;
  char *buf = NULL;
  ssize_t got;

  *data = NULL;
  if (fd < 0 || fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size > (uint64_t)max) {
    st_detail_set(detail, "cannot read %s: %s", path,
                  fd < 0 ? strerror(errno) : !S_ISREG(sb.st_mode) ? "not a regular file" : "larger than it can be");
    goto out;
  }
  r = ST_E_NO_MEMORY;
  if ((buf = malloc((size_t)sb.st_size + 1)) == NULL)
    goto out;
  r = ST_E_IO;
  got = st_read_full(fd, buf, (size_t)sb.st_size);
  if (got != (ssize_t)sb.st_size) {
    st_detail_set(detail, "cannot read %s: %s", path, got < 0 ? strerror(errno) : "it shrank while read");
    goto out;
  }
  buf[got] = '\0';
  *data = buf;
  *len = (size_t)got;
  buf = NULL;
  r = 0;
out:
  free(buf);
  if (fd >= 0)
    close(fd);
  return r;
}
