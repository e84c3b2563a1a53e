/* test_usb_watch.c - sticks under intake roots: one moved in (what the
 * outside check does), one made in place with csr/ added later, files still
 * arriving, a directory without csr/, a symlink, a hidden directory, a root
 * that appears later, a stick removed; inotify wakes the watcher. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <poll.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "usb_watch.h"

struct seen {
  int arrived, changed, gone;
  char last[512];
};

static void on_change(void *arg, enum usb_change change, const char *path)
{
  struct seen *s = arg;
  if (change == USB_STICK_ARRIVED)
    s->arrived++;
  else if (change == USB_STICK_CHANGED)
    s->changed++;
  else
    s->gone++;
  snprintf(s->last, sizeof s->last, "%s", path);
}

/* Runs a shell command (printf-style), which must succeed. */
#define RUN(...)                                  \
  do {                                            \
    char cmd_[2048];                              \
    snprintf(cmd_, sizeof cmd_, __VA_ARGS__);     \
    assert_int_equal(system(cmd_), 0);            \
  } while (0)

static void test_sticks_come_and_go(void **state)
{
  char base[] = "/tmp/usb-watch.XXXXXX", root[600], other[600];
  char *roots[2];
  struct usb_watch *w = NULL;
  struct seen s;
  (void)state;
  assert_non_null(mkdtemp(base));
  snprintf(root, sizeof root, "%s/media", base);
  snprintf(other, sizeof other, "%s/later", base);
  roots[0] = root;
  roots[1] = other;
  RUN("mkdir -p %s/media %s/prep/stick/csr", base, base);
  assert_int_equal(usb_watch_new(roots, 2, &w), ST_OK);
  memset(&s, 0, sizeof s);
  assert_int_equal(usb_watch_scan(w, on_change, &s), ST_OK);
  assert_int_equal(s.arrived + s.changed + s.gone, 0);

  /* moved in: inotify wakes the watcher, the scan reports it once */
  RUN("mv %s/prep/stick %s/media/stick", base, base);
  if (usb_watch_fd(w) >= 0) {
    struct pollfd p = {usb_watch_fd(w), POLLIN, 0};
    assert_int_equal(poll(&p, 1, 2000), 1);
  }
  assert_int_equal(usb_watch_scan(w, on_change, &s), ST_OK);
  assert_int_equal(s.arrived, 1);
  assert_non_null(strstr(s.last, "/media/stick"));
  assert_int_equal(usb_watch_scan(w, on_change, &s), ST_OK);
  assert_int_equal(s.arrived, 1);

  /* not sticks: no csr/, a symlink to a stick, a hidden directory */
  RUN("mkdir %s/media/plain %s/media/.hidden %s/media/.hidden/csr && ln -s %s/media/stick %s/media/link", base, base, base, base, base);
  assert_int_equal(usb_watch_scan(w, on_change, &s), ST_OK);
  assert_int_equal(s.arrived, 1);

  /* csr/ made inside an existing directory: found by the scan */
  RUN("mkdir %s/media/plain/csr", base);
  assert_int_equal(usb_watch_scan(w, on_change, &s), ST_OK);
  assert_int_equal(s.arrived, 2);

  /* files still arriving in csr/: changed (mtime granularity permitting) */
  usleep(20000);
  RUN("touch %s/media/stick/csr/a.csr", base);
  assert_int_equal(usb_watch_scan(w, on_change, &s), ST_OK);
  assert_int_equal(s.changed, 1);

  /* a root that did not exist at start */
  RUN("mkdir -p %s/later/s2/csr", base);
  assert_int_equal(usb_watch_scan(w, on_change, &s), ST_OK);
  assert_int_equal(s.arrived, 3);

  /* removed */
  RUN("rm -rf %s/media/stick", base);
  assert_int_equal(usb_watch_scan(w, on_change, &s), ST_OK);
  assert_int_equal(s.gone, 1);
  assert_non_null(strstr(s.last, "/media/stick"));

  usb_watch_free(w);
  RUN("rm -rf %s", base);
}

int main(void)
{
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_sticks_come_and_go)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
