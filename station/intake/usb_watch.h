/*
 * usb_watch.h - noticing USB sticks as they are mounted under the intake roots.
 *
 * A stick is a directory directly under one of the intake.usb roots that
 * holds a csr/ directory (symbolic links are not followed). The watch keeps
 * the set of sticks present and reports what changed at each scan: a stick
 * that appeared, one whose csr/ changed (files still being copied), one that
 * went away.
 *
 * Wake-ups: an inotify watch on each root (IN_CREATE, IN_MOVED_TO, IN_ATTRIB
 * for arrivals, IN_DELETE, IN_MOVED_FROM for removals) makes usb_watch_fd()
 * readable; the caller also scans once a second, which catches what inotify
 * cannot see (a csr/ made inside a new directory, a root that appears later,
 * file systems without inotify). A scan reads only directory entries.
 *
 * Not thread-safe: one thread owns a watch.
 */
#ifndef STATION_USB_WATCH_H
#define STATION_USB_WATCH_H

#include <stddef.h>

struct usb_watch;

/* What a scan found about one stick. */
enum usb_change {
  USB_STICK_ARRIVED,   /* a new stick */
  USB_STICK_CHANGED,   /* csr/ of a known stick was modified */
  USB_STICK_GONE,      /* the stick (or its csr/) is no longer there */
};

/* Called by usb_watch_scan for each change; PATH ("<root>/<name>") is valid during the call. */
typedef void (*usb_watch_fn)(void *arg, enum usb_change change, const char *path);

/* Watches the N directories ROOTS (borrowed; they must outlive the watch;
 * missing roots are fine and are looked at again at each scan). Sticks
 * present at start are reported by the first scan. Returns 0 and *OUT, or
 * ST_E_NO_MEMORY. */
int usb_watch_new(char *const *roots, size_t n, struct usb_watch **out);

/* The inotify descriptor (readable when a root changed), or -1 when inotify
 * is not available: then only the periodic scan finds sticks. */
int usb_watch_fd(const struct usb_watch *w);

/* Drains the inotify descriptor, looks at every root, and calls FN for each
 * stick that arrived, changed or went. Returns 0 or ST_E_NO_MEMORY. */
int usb_watch_scan(struct usb_watch *w, usb_watch_fn fn, void *arg);

/* Frees W and its descriptors; NULL is fine. */
void usb_watch_free(struct usb_watch *w);

#endif
