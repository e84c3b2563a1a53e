#!/usr/bin/env bash
# End-to-end: the Debian package. Builds it with packaging/build-deb.sh (a
# Release build with Debian's hardening flags in BUILD/package-build, kept
# between runs; cpack -G DEB; lintian, which must report no error), then checks
# its control fields (Depends covers every library the program links), its
# file list, its maintainer scripts and its systemd units. The .deb is left at
# BUILD/package-build/ for e2e.package_install (packaging/install-test.sh).
#   usage: test_package.sh path/to/station   (BUILD is that binary's build tree)
set -eu
STATION=$(cd "$(dirname "${1:?usage: test_package.sh path/to/station}")" && pwd)/$(basename "$1")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(dirname "$(dirname "$STATION")")/package-build
WORK=$(mktemp -d "${TMPDIR:-/tmp}/station-package.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
. "$(dirname "$0")/check.sh"
for tool in cpack dpkg-deb dpkg-shlibdeps lintian; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed (bash packaging/install-deps.sh --test)"; exit 77; }
done

if ! bash "$ROOT/packaging/build-deb.sh" "$BUILD" >"$WORK/build.out" 2>&1; then
  cat "$WORK/build.out"
  echo "0 passed, 1 failed"
  exit 1
fi
grep -v '^CPackDeb:' "$WORK/build.out"
DEB=$(tail -1 "$WORK/build.out")
PASSED=$((PASSED + 1)); echo "ok   - build-deb.sh built $(basename "$DEB") and lintian reports no error"

dpkg-deb -f "$DEB" Package Version Architecture Depends Recommends Section Priority Maintainer >"$WORK/control"
sed 's/^/    /' "$WORK/control"
DEPENDS=$(sed -n 's/^Depends: //p' "$WORK/control")
check "Package: station, Section: admin, Priority: optional" \
  sh -c "grep -qx 'Package: station' '$WORK/control' && grep -qx 'Section: admin' '$WORK/control' && grep -qx 'Priority: optional' '$WORK/control'"
for dep in 'libssl3' 'libp11-3' 'libyaml-0-2' 'libncursesw6' 'libc6' 'adduser'; do
  check "Depends names $dep" sh -c "echo '$DEPENDS' | tr ',' '\n' | grep -q '^ *$dep\\( \\|\$\\)'"
done
check "Recommends a token: softhsm2 | opensc | libtpm2-pkcs11-1" grep -q '^Recommends: softhsm2 | opensc | libtpm2-pkcs11-1' "$WORK/control"
check "Recommends polkitd (the console's eject)" sh -c "grep '^Recommends:' '$WORK/control' | tr ',' '\n' | grep -qx ' *polkitd'"

# every library the packaged program links is provided by a package Depends names
dpkg-deb -x "$DEB" "$WORK/x"
needed_packages() {
  local lib path pkg
  for lib in $(objdump -p "$WORK/x/usr/bin/station" | awk '/NEEDED/ {print $2}'); do
    path=$(ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64|x86_64|64bit/ {print $NF; exit}')
    [ -n "$path" ] || path=$(ldconfig -p | awk -v l="$lib" '$1 == l {print $NF; exit}')
    pkg=$(dpkg -S "$path" 2>/dev/null | head -1 | cut -d: -f1)
    [ -n "$pkg" ] || pkg=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -1 | cut -d: -f1)
    echo "${pkg:-?$lib}"
  done
}
check "Depends covers every library /usr/bin/station links" sh -c "
  for p in \$(bash -c '$(declare -f needed_packages); WORK=$WORK; needed_packages'); do
    echo '$DEPENDS' | tr ',' '\n' | grep -q \"^ *\$p\\( \\|\$\\)\" || { echo \"\$p is linked but not in Depends\"; exit 1; }
  done"

dpkg-deb -c "$DEB" | awk '{print $NF}' | sed 's|^\./|/|' | grep -v '/$' | sort >"$WORK/files"
echo "    files:"; sed 's/^/      /' "$WORK/files"
for f in /usr/bin/station /usr/share/man/man1/station.1.gz /usr/share/man/man5/station.yaml.5.gz \
  /etc/station/station.yaml /usr/share/doc/station/copyright /usr/share/doc/station/changelog.Debian.gz \
  /usr/share/doc/station/examples/station.yaml /lib/systemd/system/station-serial.service \
  /lib/systemd/system/station-console@.service /lib/udev/rules.d/60-station-serial.rules \
  /lib/udev/rules.d/61-station-stick.rules /usr/lib/station/station-stick-mount \
  /usr/share/polkit-1/rules.d/50-station-stick.rules; do
  check "ships $f" grep -qx "$f" "$WORK/files"
done
check "nothing outside /usr, /etc, /lib" sh -c "! grep -v -e '^/usr/' -e '^/etc/' -e '^/lib/' '$WORK/files'"
check "the program is stripped, PIE, full RELRO" sh -c "file '$WORK/x/usr/bin/station' | grep -q 'pie executable.*stripped' && ! file '$WORK/x/usr/bin/station' | grep -q 'not stripped' && readelf -d '$WORK/x/usr/bin/station' | grep -q 'BIND_NOW\\|FLAGS.*NOW'"
check "the man pages render without warnings" sh -c "for m in '$WORK/x/usr/share/man/man1/station.1.gz' '$WORK/x/usr/share/man/man5/station.yaml.5.gz'; do zcat \"\$m\" | groff -man -Tutf8 -ww -z 2>&1 | grep -v 'cannot adjust' | grep . && exit 1; done; exit 0"
check "station --help matches the man page's commands" sh -c "for c in 'ca init' 'ca certify' 'ca show' 'sign' 'serial' 'journal verify' 'journal export' 'journal key' 'selftest'; do '$STATION' --help | grep -q \"\$c\" || { echo \"help lacks \$c\"; exit 1; }; zcat '$WORK/x/usr/share/man/man1/station.1.gz' | sed 's/\\\\-/-/g; s/\\\\f[BIRP]//g' | grep -q \"\$c\" || { echo \"man page lacks \$c\"; exit 1; }; done"

dpkg-deb -e "$DEB" "$WORK/control.d"
check "conffiles lists /etc/station/station.yaml" grep -qx /etc/station/station.yaml "$WORK/control.d/conffiles"
for s in postinst prerm postrm; do
  check "$s is a valid POSIX sh script, mode 0755" sh -c "sh -n '$WORK/control.d/$s' && [ \$(stat -c %a '$WORK/control.d/$s') = 755 ]"
done
check "postinst never deletes anything" sh -c "! grep -E '(^|[^a-z])(rm|rmdir|deluser|delgroup)( |\$)' '$WORK/control.d/postinst'"

# the systemd units: systemd-analyze verify with the packaged program in place
if command -v systemd-analyze >/dev/null; then
  mkdir -p "$WORK/units"
  for u in station-serial.service station-console@.service; do
    sed "s|/usr/bin/station |$WORK/x/usr/bin/station |" "$WORK/x/lib/systemd/system/$u" >"$WORK/units/$u"
  done
  cp "$WORK/units/station-console@.service" "$WORK/units/station-console@tty1.service"
  check "systemd-analyze verify: the units are valid" sh -c "cd '$WORK/units' && systemd-analyze verify --man=no ./station-serial.service ./station-console@tty1.service 2>&1 | tee /dev/stderr | { ! grep -v -e 'man station' -e '^\$' | grep -q .; }"
  score=$(cd "$WORK/units" && systemd-analyze security --offline=true ./station-serial.service 2>/dev/null | sed -n 's/.*Overall exposure level for station-serial.service: \([0-9.]*\).*/\1/p')
  echo "    systemd-analyze security station-serial.service: exposure ${score:-?} (0 is best, 10 worst)"
  check "station-serial.service exposure at most 2.0 (systemd-analyze security)" awk -v s="${score:-10}" 'BEGIN {exit !(s <= 2.0)}'
else
  echo "note: systemd-analyze is not installed: the units are not verified here"
fi
for u in station-serial.service station-console@.service; do
  check "$u: air-gapped and sandboxed (PrivateNetwork, ProtectSystem=strict, DevicePolicy=closed)" sh -c "
    f='$WORK/x/lib/systemd/system/$u'
    grep -qx 'PrivateNetwork=yes' \"\$f\" && grep -qx 'ProtectSystem=strict' \"\$f\" && grep -qx 'DevicePolicy=closed' \"\$f\" &&
    grep -qx 'User=station' \"\$f\" && grep -qx 'NoNewPrivileges=yes' \"\$f\" && grep -qx 'CapabilityBoundingSet=' \"\$f\""
done
check "udev rule gives station the USB serial adapters" grep -q 'GROUP="station", MODE="0660"' "$WORK/x/lib/udev/rules.d/60-station-serial.rules"
STICK_RULE=$WORK/x/lib/udev/rules.d/61-station-stick.rules
check "the stick rule matches USB block devices with a file system, on add" \
  sh -c "grep -qx 'ACTION!=\"add\", GOTO=\"station_stick_end\"' '$STICK_RULE' && grep -qx 'SUBSYSTEM!=\"block\", GOTO=\"station_stick_end\"' '$STICK_RULE' &&
         grep -qx 'ENV{ID_BUS}!=\"usb\", GOTO=\"station_stick_end\"' '$STICK_RULE' && grep -qx 'ENV{ID_FS_USAGE}!=\"filesystem\", GOTO=\"station_stick_end\"' '$STICK_RULE'"
helper_run=$(sed -n 's/^RUN{program}+="\([^ "]*\) \$devnode"$/\1/p' "$STICK_RULE")
check "the stick rule runs the packaged helper ($helper_run), which is an executable POSIX sh script" \
  sh -c "[ '$helper_run' = /usr/lib/station/station-stick-mount ] && [ \$(stat -c %a '$WORK/x$helper_run') = 755 ] && head -1 '$WORK/x$helper_run' | grep -qx '#!/bin/sh' && sh -n '$WORK/x$helper_run'"
check "the packaged helper mounts through systemd-mount with nosuid,nodev,noexec (--dry-run on a loop device)" sh -c "
  truncate -s 40M '$WORK/stick.img' && mkfs.vfat -F 32 -n PKG '$WORK/stick.img' >/dev/null && l=\$(losetup -f --show '$WORK/stick.img') || exit 1
  out=\$('$WORK/x$helper_run' --dry-run --root /media/station --user root --driver kernel \"\$l\"); rc=\$?; losetup -d \"\$l\"; echo \"\$out\"
  [ \$rc = 0 ] && echo \"\$out\" | grep -q '^systemd-mount --no-block --automount=no --collect .*--type=vfat --options=nosuid,nodev,noexec,uid=0,gid=0,.* /media/station/PKG\$'"
check "the polkit rule names the station user and only media-station-*.mount stops" \
  sh -c "grep -q 'subject.user !== \"station\"' '$WORK/x/usr/share/polkit-1/rules.d/50-station-stick.rules' && grep -qF '/^media-station-[^-\\/]+\\.mount\$/' '$WORK/x/usr/share/polkit-1/rules.d/50-station-stick.rules'"

finish
