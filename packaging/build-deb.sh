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
  command -v "$tool" >/dev/null || { echo "build-deb: $tool is missing (bash packaging/install-deps.sh --test)" >&2; exit 2; }
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
  command -v lintian >/dev/null || { echo "build-deb: lintian is missing (bash packaging/install-deps.sh --test)" >&2; exit 2; }
  # Every tag down to pedantic notes is shown; only an error (E:) fails the build.
  status=0
  lintian -I --pedantic "$DEB" >"$BUILD/lintian.txt" 2>&1 || status=$?
  grep -v '^running with root privileges' "$BUILD/lintian.txt" >"$BUILD/lintian.out" || true
  echo "lintian $(basename "$DEB"): $(grep -c '^E:' "$BUILD/lintian.out") errors, $(grep -c '^W:' "$BUILD/lintian.out") warnings"
  sed 's/^/  /' "$BUILD/lintian.out"
  [ "$status" = 0 ] || { echo "build-deb: lintian failed (status $status): errors above" >&2; exit 1; }
fi
echo "$DEB"
