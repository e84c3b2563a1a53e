#!/usr/bin/env bash
# End-to-end: the console's eject key (x) on a real stick. An exFAT image on a
# loop device is mounted under the intake root by the package's mount helper
# (packaging/stick/station-stick-mount; here through mount(8) and exfat-fuse,
# as this container has no systemd as PID 1 and no kernel exFAT driver), and `station console` in tmux runs
# the same helper to eject (STATION_STICK_HELPER points at the source tree's).
# The token is tests/pkcs11 slow_token (15 ms a signature), so the batch lasts
# a few seconds:
#   - x during the batch is refused with a sentence naming the stick, and the
#     stick stays mounted;
#   - once the stick says "safe to remove", x unmounts it: the console says to
#     pull it out, the mount and its directory are gone, the panel drops it,
#     the image checks clean and holds every certificate, which verify;
#   - x with no stick says so; x on a stick directory that is not a mount
#     point says it was not ejected and why.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/console_lib.sh"
ROOTDIR=$(cd "$(dirname "$0")/../.." && pwd)
HELPER=$ROOTDIR/packaging/stick/station-stick-mount
MAKE_CSRS=$(dirname "$STATION")/../tests/bench/make_csrs
SLOW=$(dirname "$STATION")/../tests/libslow_token.so
[ -x "$MAKE_CSRS" ] || { echo "make_csrs not built at $MAKE_CSRS"; exit 1; }
[ -f "$SLOW" ] || { echo "slow_token module not built at $SLOW"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "FAIL: loop devices and mounts need root"; exit 1; }
for tool in mkfs.exfat mount.exfat-fuse losetup fsck.exfat findmnt; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is missing (bash packaging/install-deps.sh --test installs it)"; exit 1; }
done
make_pki
MEDIA=$WORK/media
mkdir -p "$MEDIA" "$WORK/prep"
LOOP=
cleanup_mounts() {
  local m
  for m in $(findmnt -rn -o TARGET | grep "^$MEDIA/\|^$WORK/check"); do umount "$m" 2>/dev/null || umount -l "$m" || true; done
  [ -z "$LOOP" ] || losetup -d "$LOOP" 2>/dev/null || true
}
AT_EXIT_HOOKS+=(cleanup_mounts)
sed -e "s|module: .*|module: $SLOW|" "$WORK/station.yaml" >"$WORK/console.yaml"
printf 'intake:\n  usb: [%s]\n' "$MEDIA" >>"$WORK/console.yaml"
ENV="TERM=tmux-256color STATION_TEST_PIN=$TEST_PIN SLOW_TOKEN_MODULE=$SOFTHSM_MODULE SLOW_TOKEN_DELAY_MS=15 STATION_STICK_HELPER=$HELPER"

truncate -s 64M "$WORK/stick.img"
mkfs.exfat -L EJECTME "$WORK/stick.img" >/dev/null
LOOP=$(losetup -f --show "$WORK/stick.img")
"$MAKE_CSRS" "$WORK/prep" 500 "$FACTORY"

start_console 120 30 $ENV
check "the console logs in" wait_for "station: logged in"
keys x
check "x with no stick says there is none" wait_for "x: no stick to eject"

check "the mount helper mounts the stick under the intake root" \
  sh -c "[ \"\$('$HELPER' --root '$MEDIA' --user root '$LOOP')\" = '$MEDIA/EJECTME' ]"
cp -r "$WORK/prep" "$MEDIA/EJECTME/csr.tmp" && mv "$MEDIA/EJECTME/csr.tmp" "$MEDIA/EJECTME/csr"
check "the stick is listed" wait_for "$MEDIA/EJECTME: 500 CSRs, 0 will be refused"
keys s
wait_for "Sign 500 CSRs from $MEDIA/EJECTME" >/dev/null
keys y
check "the stick is being signed" wait_for "$MEDIA/EJECTME: signing"
keys x
check "x during the batch is refused, naming the stick" \
  wait_for "x: not now: the station is writing to stick $MEDIA/EJECTME; eject it once"
check "... and the stick is still mounted" mountpoint -q "$MEDIA/EJECTME"
[ -z "${CONSOLE_CAPTURE:-}" ] || screen >"$CONSOLE_CAPTURE.eject-refused"
check "the batch ends: safe to remove" wait_for "$MEDIA/EJECTME: safe to remove" 60
keys x
check "x ejects it: the console says to pull it out" wait_for "x: EJECTME: unmounted: pull it out" 30
[ -z "${CONSOLE_CAPTURE:-}" ] || screen >"$CONSOLE_CAPTURE.ejected"
check "the stick is unmounted and its directory gone" sh -c "! mountpoint -q '$MEDIA/EJECTME' && [ ! -e '$MEDIA/EJECTME' ]"
check "the panel drops the stick" gone_from "$MEDIA/EJECTME: safe to remove" 10
check "the image checks clean (fsck -n)" fsck.exfat -n "$LOOP"
mkdir -p "$WORK/check"
mount.exfat-fuse -o ro "$LOOP" "$WORK/check" >/dev/null 2>&1
check "the image holds the 500 certificates, which verify" certs_verify "$WORK/check/certs" 500
umount "$WORK/check"

mkdir -p "$WORK/prep2/csr"
"$MAKE_CSRS" "$WORK/prep2/csr" 2 "$FACTORY"
mv "$WORK/prep2" "$MEDIA/plain"
check "a stick directory that is no mount point is listed" wait_for "$MEDIA/plain: 2 CSRs"
keys x
check "x on it says it was not ejected, and why" wait_for "x: $MEDIA/plain not ejected: $MEDIA/plain: not mounted"
check "the directory is left as it was" test -d "$MEDIA/plain/csr"
quit_console
check "the console quits (exit 0)" test "$(console_status)" = 0
finish
