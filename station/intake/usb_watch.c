/* usb_watch.c - sticks under the intake roots (see usb_watch.h). */
#include "usb_watch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "xbuf.h"

#define USB_WATCH_MASK (IN_CREATE | IN_MOVED_TO | IN_ATTRIB | IN_DELETE | IN_MOVED_FROM | IN_ONLYDIR)

struct usb_stick {
  char *path;
  struct timespec csr_mtime;   /* of csr/, to notice files still arriving */
  int seen;                    /* found by the current scan */
};

struct usb_watch {
  char *const *roots;
  size_t root_count;
  int *watches;                /* per root: inotify watch descriptor, or -1 */
  int inotify_fd;
  struct usb_stick *sticks;
  size_t stick_count, stick_cap;
};

int usb_watch_new(char *const *roots, size_t n, struct usb_watch **out)
{
  int r = ST_E_NO_MEMORY;
  struct usb_watch *w = calloc(1, sizeof *w);
  if (w == NULL || (w->watches = calloc(n > 0 ? n : 1, sizeof *w->watches)) == NULL)
    goto out;
  w->roots = roots;
  w->root_count = n;
  w->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  for (size_t i = 0; i < n; i++)
    w->watches[i] = -1;
  *out = w;
  w = NULL;
  r = ST_OK;
out:
  usb_watch_free(w);
  return r;
}

int usb_watch_fd(const struct usb_watch *w)
{
  return w->inotify_fd;
}

/* Drops pending inotify events: a scan looks at everything anyway. */
static void usb_watch_drain(struct usb_watch *w)
{
  char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
  if (w->inotify_fd < 0)
    return;
  while (read(w->inotify_fd, buf, sizeof buf) > 0) {
  }
}

static struct usb_stick *usb_watch_find(struct usb_watch *w, const char *path)
{
  for (size_t i = 0; i < w->stick_count; i++)
    if (strcmp(w->sticks[i].path, path) == 0)
      return &w->sticks[i];
  return NULL;
}

/* Notes the stick at PATH (csr/ modified at MTIME) as seen; reports it when new or changed. */
static int usb_watch_note(struct usb_watch *w, const char *path, struct timespec mtime, usb_watch_fn fn, void *arg)
{
  int r = ST_E_NO_MEMORY;
  struct usb_stick *s = usb_watch_find(w, path), *grown;
  if (s != NULL) {
    int changed = s->csr_mtime.tv_sec != mtime.tv_sec || s->csr_mtime.tv_nsec != mtime.tv_nsec;
    s->seen = 1;
    s->csr_mtime = mtime;
    if (changed)
      fn(arg, USB_STICK_CHANGED, path);
    return ST_OK;
  }
  if ((grown = st_array_grow(w->sticks, &w->stick_cap, w->stick_count, sizeof *grown, 8, 0)) == NULL)
    return r;
  w->sticks = grown;
  s = &w->sticks[w->stick_count];
  if ((s->path = strdup(path)) == NULL)
    return r;
  s->csr_mtime = mtime;
  s->seen = 1;
  w->stick_count++;
  fn(arg, USB_STICK_ARRIVED, path);
  return ST_OK;
}

/* Looks at root I: every directory under it holding a csr/ directory. */
static int usb_watch_scan_root(struct usb_watch *w, size_t i, usb_watch_fn fn, void *arg)
{
  int r = ST_OK;
  int fd = open(w->roots[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
  struct dirent *ent;
  char path[PATH_MAX];

  if (d == NULL) {
    if (fd >= 0)
      close(fd);
    return r;
  }
  if (w->watches[i] < 0 && w->inotify_fd >= 0)
    w->watches[i] = inotify_add_watch(w->inotify_fd, w->roots[i], USB_WATCH_MASK);
  while (r == ST_OK && (ent = readdir(d)) != NULL) {
    struct stat st, csr;
    if (ent->d_name[0] == '.' || fstatat(fd, ent->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode))
      continue;
    if (snprintf(path, sizeof path, "%s/csr", ent->d_name) >= (int)sizeof path ||
        fstatat(fd, path, &csr, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(csr.st_mode))
      continue;
    if (snprintf(path, sizeof path, "%s/%s", w->roots[i], ent->d_name) >= (int)sizeof path)
      continue;
    r = usb_watch_note(w, path, csr.st_mtim, fn, arg);
  }
  closedir(d);
  return r;
}

int usb_watch_scan(struct usb_watch *w, usb_watch_fn fn, void *arg)
{
  int r = ST_OK;
  usb_watch_drain(w);
  for (size_t i = 0; i < w->stick_count; i++)
    w->sticks[i].seen = 0;
  for (size_t i = 0; i < w->root_count && r == ST_OK; i++)
    r = usb_watch_scan_root(w, i, fn, arg);
  for (size_t i = 0; r == ST_OK && i < w->stick_count;) {
    if (w->sticks[i].seen) {
      i++;
      continue;
    }
    fn(arg, USB_STICK_GONE, w->sticks[i].path);
    free(w->sticks[i].path);
    w->sticks[i] = w->sticks[--w->stick_count];
  }
  return r;
}

void usb_watch_free(struct usb_watch *w)
{
  if (w == NULL)
    return;
  if (w->inotify_fd >= 0)
    close(w->inotify_fd);
  for (size_t i = 0; i < w->stick_count; i++)
    free(w->sticks[i].path);
  free(w->sticks);
  free(w->watches);
  free(w);
}
