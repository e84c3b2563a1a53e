#!/usr/bin/env bash
# build-deb.sh [BUILD_DIR] - builds the station's Debian package the way a
# release is built: a Release build with Debian's hardening flags
# (dpkg-buildflags: fortify, stack protector, PIE, full RELRO, bind-now), the
# tests left out, `cpack -G DEB`, then lintian, which must report no error
# (warnings and notes are printed). The .deb's path is the last line printed.
#
#   BUILD_DIR   default build-deb/ in the source tree; reused when it exists
#   LINTIAN=0   skip lintian (it is slow on a busy machine)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build-deb}
for tool in cmake cpack dpkg-buildflags dpkg-shlibdeps; do
  command -v "$tool" >/dev/null || { echo "build-deb: $tool is missing (bash packaging/install-deps.sh)" >&2; exit 2; }
done

export DEB_BUILD_MAINT_OPTIONS=hardening=+all
CPPFLAGS=$(dpkg-buildflags --get CPPFLAGS)
CFLAGS=$(dpkg-buildflags --get CFLAGS)
LDFLAGS=$(dpkg-buildflags --get LDFLAGS)
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DSTATION_TESTS=OFF -DSTATION_SANITIZE=OFF \
  -DCMAKE_C_FLAGS="$CPPFLAGS $CFLAGS" -DCMAKE_EXE_LINKER_FLAGS="$LDFLAGS" >/dev/null
cmake --build "$BUILD" -j "$(nproc)" >/dev/null
rm -f "$BUILD"/station_*.deb
(cd "$BUILD" && cpack -G DEB >/dev/null)
DEB=$(ls "$BUILD"/station_*.deb)

if [ "${LINTIAN:-1}" != 0 ]; then
  command -v lintian >/dev/null || { echo "build-deb: lintian is missing (bash packaging/install-deps.sh)" >&2; exit 2; }
  echo "lintian $(basename "$DEB"):"
  # --fail-on error: exit non-zero on an error only; warnings and notes are shown.
  lintian --fail-on error --info --pedantic --display-experimental "$DEB" 2>&1 |
    grep -v -e '^running with root privileges' -e '^N:' | sed 's/^/  /' || true
  lintian --fail-on error "$DEB" >/dev/null 2>&1 || { echo "build-deb: lintian reports errors" >&2; exit 1; }
fi
echo "$DEB"
