/* output.c - staged, atomically published output files (see output.h). */
#include "output.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "syscalls.h"
#include "xbuf.h"

#define OUTPUT_TMP_PREFIX ".station-tmp-"

struct output_item {
  int dirfd;
  char *name;          /* final name */
  char tmp[64];        /* temporary name; "" for an unlink */
};

struct output_group {
  struct output_item *items;
  size_t count, cap;
};

static unsigned long output_counter;

struct output_group *output_group_new(void)
{
  return calloc(1, sizeof(struct output_group));
}

size_t output_group_size(const struct output_group *g)
{
  return g->count;
}

static int output_errno_code(int err)
{
  return err == ENOSPC || err == EDQUOT ? ST_E_NO_SPACE : ST_E_IO;
}

static struct output_item *output_group_add(struct output_group *g, int dirfd, const char *name)
{
  struct output_item *item = NULL;
  struct output_item *grown = st_array_grow(g->items, &g->cap, g->count, sizeof *grown, 32, 0);
  if (grown == NULL)
    return NULL;
  g->items = grown;
  item = &g->items[g->count];
  memset(item, 0, sizeof *item);
  item->dirfd = dirfd;
  item->name = strdup(name);
  if (item->name == NULL)
    return NULL;
  g->count++;
  return item;
}

/* 1 when NAME in DIRFD is a regular file holding exactly DATA. */
static int output_same_content(int dirfd, const char *name, const void *data, size_t len)
{
  int same = 0;
  struct stat st;
  int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size == len && len <= 65536) {
    char *buf = malloc(len + 1);
    ssize_t n = buf != NULL ? pread(fd, buf, len + 1, 0) : -1;
    same = n == (ssize_t)len && memcmp(buf, data, len) == 0;
    free(buf);
  }
  if (fd >= 0)
    close(fd);
  return same;
}

int output_group_stage(struct output_group *g, int dirfd, const char *name, const void *data,
                       size_t len, int skip_if_same, struct st_detail *detail)
{
  int r = ST_E_NO_MEMORY;
  int fd = -1;
  struct output_item *item;

  if (skip_if_same && output_same_content(dirfd, name, data, len)) {
    r = ST_OK;
    goto out;
  }
  item = output_group_add(g, dirfd, name);
  if (item == NULL)
    goto out;
  snprintf(item->tmp, sizeof item->tmp, OUTPUT_TMP_PREFIX "%ld-%lu", (long)getpid(), ++output_counter);
  fd = openat(dirfd, item->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0 || st_write_all(fd, data, len) != 0) {
    r = output_errno_code(errno);
    st_detail_set(detail, "cannot write %s: %s", name, strerror(errno));
    goto out;
  }
  r = ST_OK;
out:
  if (fd >= 0 && close(fd) != 0 && r == ST_OK) {
    r = output_errno_code(errno);
    st_detail_set(detail, "cannot write %s: %s", name, strerror(errno));
  }
  return r;
}

int output_group_stage_fd(struct output_group *g, int dirfd, const char *name, int *fd, struct st_detail *detail)
{
  struct output_item *item = output_group_add(g, dirfd, name);
  *fd = -1;
  if (item == NULL)
    return ST_E_NO_MEMORY;
  snprintf(item->tmp, sizeof item->tmp, OUTPUT_TMP_PREFIX "%ld-%lu", (long)getpid(), ++output_counter);
  *fd = openat(dirfd, item->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (*fd < 0) {
    int r = output_errno_code(errno);
    st_detail_set(detail, "cannot write %s: %s", name, strerror(errno));
    free(item->name); /* not staged: the group forgets it */
    g->count--;
    return r;
  }
  return ST_OK;
}

int output_fd_write(int fd, const char *name, const void *data, size_t len, struct st_detail *detail)
{
  int r = ST_OK;
  if (st_write_all(fd, data, len) != 0) {
    r = output_errno_code(errno);
    st_detail_set(detail, "cannot write %s: %s", name, strerror(errno));
  }
  return r;
}

int output_group_unlink(struct output_group *g, int dirfd, const char *name)
{
  return output_group_add(g, dirfd, name) != NULL ? ST_OK : ST_E_NO_MEMORY;
}

/* Runs FN once for each distinct directory of G (by descriptor). */
static int output_each_dir(struct output_group *g, int (*fn)(int), const char *what, struct st_detail *detail)
{
  int r = ST_OK;
  for (size_t i = 0; i < g->count && r == ST_OK; i++) {
    int seen = 0;
    for (size_t j = 0; j < i && !seen; j++)
      seen = g->items[j].dirfd == g->items[i].dirfd;
    if (!seen && fn(g->items[i].dirfd) != 0) {
      r = output_errno_code(errno);
      st_detail_set(detail, "%s of an output directory failed: %s", what, strerror(errno));
    }
  }
  return r;
}

static int output_syncfs(int fd)
{
  return st_sys.syncfs(fd);
}

static int output_fsync(int fd)
{
  return st_sys.fsync(fd);
}

static void output_group_clear(struct output_group *g, int remove_tmp)
{
  for (size_t i = 0; i < g->count; i++) {
    if (remove_tmp && g->items[i].tmp[0] != '\0')
      unlinkat(g->items[i].dirfd, g->items[i].tmp, 0);
    free(g->items[i].name);
  }
  g->count = 0;
}

int output_group_publish(struct output_group *g, struct st_detail *detail)
{
  int r = output_each_dir(g, output_syncfs, "syncfs", detail);
  for (size_t i = 0; i < g->count && r == ST_OK; i++) {
    struct output_item *item = &g->items[i];
    if (item->tmp[0] == '\0') {
      if (unlinkat(item->dirfd, item->name, 0) != 0 && errno != ENOENT) {
        r = ST_E_IO;
        st_detail_set(detail, "cannot remove %s: %s", item->name, strerror(errno));
      }
    } else if (st_sys.renameat(item->dirfd, item->tmp, item->dirfd, item->name) != 0) {
      r = output_errno_code(errno);
      st_detail_set(detail, "cannot rename into %s: %s", item->name, strerror(errno));
    } else {
      item->tmp[0] = '\0';
    }
  }
  if (r == ST_OK)
    r = output_each_dir(g, output_fsync, "fsync", detail);
  output_group_clear(g, 1);
  return r;
}

void output_group_free(struct output_group *g)
{
  if (g == NULL)
    return;
  output_group_clear(g, 1);
  free(g->items);
  free(g);
}

void output_remove_stale(int dirfd)
{
  int fd = dup(dirfd);
  DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
  struct dirent *ent;
  if (d == NULL) {
    if (fd >= 0)
      close(fd);
    return;
  }
  rewinddir(d); /* a dup shares its offset with every other reader of the directory */
  while ((ent = readdir(d)) != NULL) {
    if (strncmp(ent->d_name, OUTPUT_TMP_PREFIX, sizeof OUTPUT_TMP_PREFIX - 1) == 0)
      unlinkat(dirfd, ent->d_name, 0);
  }
  closedir(d);
}

int output_write_file(int dirfd, const char *name, const void *data, size_t len, struct st_detail *detail)
{
  int r = ST_E_NO_MEMORY;
  struct output_group *g = output_group_new();
  if (g == NULL)
    goto out;
  r = output_group_stage(g, dirfd, name, data, len, 0, detail);
  if (r == ST_OK)
    r = output_group_publish(g, detail);
out:
  output_group_free(g);
  return r;
}

int output_write_path(const char *path, const void *data, size_t len, struct st_detail *detail)
{
  int r = ST_E_IO;
  char *copy = strdup(path);
  const char *slash = copy != NULL ? strrchr(copy, '/') : NULL;
  const char *name = slash != NULL ? slash + 1 : path;
  int dirfd = -1;

  if (copy == NULL) {
    r = ST_E_NO_MEMORY;
    goto out;
  }
  if (slash == copy)
    dirfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  else if (slash != NULL) {
    copy[slash - copy] = '\0';
    dirfd = open(copy, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  } else
    dirfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0 || name[0] == '\0') {
    st_detail_set(detail, "cannot write %s: its directory cannot be opened", path);
    goto out;
  }
  r = output_write_file(dirfd, name, data, len, detail);
out:
  if (dirfd >= 0)
    close(dirfd);
  free(copy);
  return r;
}
