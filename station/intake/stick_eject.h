/*
 * stick_eject.h - ejecting a USB stick: its writes flushed, unmounted and,
 * where the system can, powered off, through the mount helper the package
 * installs (packaging/stick/station-stick-mount, run as
 * `station-stick-mount --root ROOT --eject PATH`), which goes through
 * systemd-mount and polkit for the unprivileged station user
 * (docs/threat-model.md says why).
 *
 * The helper is /usr/lib/station/station-stick-mount, or the program
 * $STATION_STICK_HELPER names (a build tree, a test).
 */
#ifndef STATION_STICK_EJECT_H
#define STATION_STICK_EJECT_H

#include <stddef.h>

/* Ejects the stick mounted at PATH (a directory directly under an intake
 * root). Blocks until the helper has finished (a flush and an unmount: up to
 * a few seconds on a slow stick). On success returns ST_OK and puts the
 * helper's sentence for the operator in ANSWER ("NAME: unmounted: pull it
 * out"); otherwise ST_E_STICK_EJECT with the helper's own reason in ANSWER.
 * The caller makes sure nothing is written to the stick meanwhile. */
int stick_eject(const char *path, char *answer, size_t answer_cap);

#endif
