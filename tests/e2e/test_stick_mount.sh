#!/usr/bin/env bash
# End-to-end: sticks mount themselves (packaging/stick/station-stick-mount,
# packaging/udev/61-station-stick.rules, packaging/polkit/50-station-stick.rules).
#   - the helper mounts real exFAT and FAT32 images on loop devices under an
#     intake root: the options in /proc/self/mounts (nosuid,nodev,noexec), the
#     owner (the user daemon standing in for `station`), the mode bits (nothing for
#     group or others), a program on the stick cannot run, the owner can write
#     and another user cannot read;
#   - it refuses a device without a file system and ones with a file system
#     outside the allow list (minix, ext4), with a sentence on stderr and
#     exit status 1, and mounts nothing;
#   - names: a label with "/", "..", UTF-8 and control characters becomes one
#     safe directory name; two sticks with the same label get NAME and NAME-2;
#     the same device again is not mounted twice; no label: the UUID;
#   - --dry-run prints the systemd-mount command (kernel drivers: vfat with
#     uid/gid/fmask/dmask, exfat likewise) and mounts nothing;
#   - eject: the stick is flushed, unmounted and its directory removed; what
#     was written is on the image (fsck clean, read back); a directory outside
#     the root or not mounted is refused;
#   - the udev rule, under `udevadm test` on a loop device: no parse error (a
#     broken copy does give one), no RUN for a non-USB disk, RUN of the helper
#     with the device node once the device is USB (a test rule sets
#     ID_BUS=usb as udev's usb_id does for a stick), none for a USB disk
#     without a file system;
#   - the polkit rule, evaluated by node with a stand-in of polkit's objects:
#     station may stop media-station-<name>.mount and power off a drive, and
#     nothing else; other users get polkit's defaults.
# This container has no systemd as PID 1, so the helper's real path here is
# mount(8) and FUSE (exfat-fuse, fusefat: the kernel has no vfat/exfat here);
# the systemd-mount command line is checked with --dry-run.
#   usage: test_stick_mount.sh path/to/station
. "$(dirname "$0")/lib.sh"
ROOTDIR=$(cd "$(dirname "$0")/../.." && pwd)
HELPER=$ROOTDIR/packaging/stick/station-stick-mount
RULE=$ROOTDIR/packaging/udev/61-station-stick.rules
POLKIT=$ROOTDIR/packaging/polkit/50-station-stick.rules
[ "$(id -u)" = 0 ] || { echo "FAIL: loop devices and mounts need root"; exit 1; }
for tool in mkfs.exfat mkfs.vfat mkfs.minix mkfs.ext4 mount.exfat-fuse fusefat losetup fsck.exfat fsck.vfat \
  udevadm node runuser findmnt blkid; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is missing (bash packaging/install-deps.sh --test installs it)"; exit 1; }
done

MEDIA=$WORK/media
chmod 0755 "$WORK"   # the station user and another user reach the intake root; the sticks' own modes decide
# two unprivileged users every Debian system has: daemon stands for `station`, nobody for anyone else
STICK_USER=daemon
OTHER_USER=nobody
UID_S=$(id -u "$STICK_USER"); GID_S=$(id -g "$STICK_USER")
LOOPS=()
RUN_RULES=()
cleanup() {
  local m l f
  for m in $(findmnt -rn -o TARGET | grep "^$MEDIA/" | sort -r); do umount "$m" 2>/dev/null || umount -l "$m" || true; done
  for l in ${LOOPS[@]+"${LOOPS[@]}"}; do losetup -d "$l" 2>/dev/null || true; done
  for f in ${RUN_RULES[@]+"${RUN_RULES[@]}"}; do rm -f "$f"; done
}
AT_EXIT_HOOKS+=(cleanup)

# image FS FILE [LABEL]: a 40 MiB image (exfat, fat32, minix, ext4, none) with LABEL
image() {
  truncate -s 40M "$2"
  case $1 in
    exfat) mkfs.exfat ${3+-L "$3"} "$2" >/dev/null ;;
    fat32) mkfs.vfat -F 32 ${3+-n "$3"} "$2" >/dev/null 2>&1 ;;
    minix) mkfs.minix "$2" >/dev/null ;;
    ext4) mkfs.ext4 -q -F "$2" ;;
    none) ;;
  esac
}
# loop FILE: attaches FILE; LOOP is the loop device
loop() {
  LOOP=$(losetup -f --show "$1")
  LOOPS+=("$LOOP")
}
helper() { "$HELPER" --root "$MEDIA" --user "$STICK_USER" "$@"; }
mount_count() { findmnt -rn -o TARGET | grep -c "^$MEDIA/" || true; }
opts_of() { findmnt -n -o VFS-OPTIONS --mountpoint "$1"; }
has_opts() {
  local o
  for o in nosuid nodev noexec; do
    case ",$(opts_of "$1")," in *",$o,"*) ;; *) echo "$1 lacks $o: $(opts_of "$1")"; return 1 ;; esac
  done
}
# no_group_other PATH: the mode gives nothing to group or others
no_group_other() { [ $(( 8#$(stat -c %a "$1") & 8#077 )) = 0 ] || { stat -c '%a %n' "$1"; return 1; }; }

# --- mounting exFAT and FAT32
for FS in exfat fat32; do
  image "$FS" "$WORK/$FS.img" "ST$FS"
  loop "$WORK/$FS.img"; dev=$LOOP
  check "$FS: the helper mounts the stick (exit 0, prints its directory)" \
    status_to 0 "$WORK/$FS.mount" helper "$dev"
  dir=$MEDIA/ST$FS
  check "$FS: mounted at <root>/<label>" sh -c "grep -qx '$dir' '$WORK/$FS.mount' && mountpoint -q '$dir'"
  check "$FS: the mount's source is the device" test "$(findmnt -n -o SOURCE --mountpoint "$dir")" = "$dev"
  check "$FS: nosuid,nodev,noexec in /proc/self/mounts" has_opts "$dir"
  check "$FS: the stick's root belongs to the station user" test "$(stat -c %u:%g "$dir")" = "$UID_S:$GID_S"
  check "$FS: the station user writes a file and a directory" \
    runuser -u "$STICK_USER" -- sh -c "mkdir '$dir/csr' && echo hello >'$dir/csr/a.csr'"
  check "$FS: they belong to the station user" \
    sh -c "[ \"\$(stat -c %u:%g '$dir/csr' '$dir/csr/a.csr' | sort -u)\" = '$UID_S:$GID_S' ]"
  check "$FS: no permission for group or others on the root, a directory and a file" \
    bash -c "$(declare -f no_group_other); no_group_other '$dir' && no_group_other '$dir/csr' && no_group_other '$dir/csr/a.csr'"
  check "$FS: another user cannot read the stick" \
    sh -c "! runuser -u $OTHER_USER -- cat '$dir/csr/a.csr' 2>/dev/null && runuser -u $OTHER_USER -- cat '$dir/csr/a.csr' 2>&1 | grep -q 'Permission denied'"
  cp /bin/true "$dir/prog"
  chmod 0700 "$dir/prog" 2>/dev/null || true
  check "$FS: a program on the stick cannot run (noexec)" \
    sh -c "! '$dir/prog' 2>'$WORK/$FS.exec' && grep -q 'Permission denied' '$WORK/$FS.exec'"
  rm -f "$dir/prog"
  check "$FS: the same device again: exit 0, the same directory, not mounted twice" \
    sh -c "[ \"\$('$HELPER' --root '$MEDIA' --user '$STICK_USER' '$dev')\" = '$dir' ] && [ \$(findmnt -rn -o TARGET --source '$dev' | wc -l) = 1 ]"
done
check "two sticks mounted, one mount each" test "$(mount_count)" = 2

# --- eject
check "eject --dry-run prints the systemd-mount command that unmounts" \
  sh -c "[ \"\$('$HELPER' --root '$MEDIA' --dry-run --eject '$MEDIA/STexfat')\" = 'systemd-mount --umount $MEDIA/STexfat' ] && mountpoint -q '$MEDIA/STexfat'"
for FS in exfat fat32; do
  dir=$MEDIA/ST$FS
  check "$FS: eject says the stick may be pulled out" status_to 0 "$WORK/$FS.eject" "$HELPER" --root "$MEDIA" --eject "$dir"
  check "$FS: eject's sentence names the stick" grep -q "^ST$FS: unmounted.*pull it out" "$WORK/$FS.eject"
  check "$FS: after eject: not mounted, its directory gone" sh -c "! mountpoint -q '$dir' && [ ! -e '$dir' ]"
done
check "the exFAT image checks clean after eject (fsck -n)" fsck.exfat -n "$WORK/exfat.img"
check "the FAT32 image checks clean after eject (fsck -n)" fsck.vfat -n "$WORK/fat32.img"
check "what was written before eject is on the image (mounted again)" \
  sh -c "'$HELPER' --root '$MEDIA' --user '$STICK_USER' '${LOOPS[0]}' >/dev/null && [ \"\$(cat '$MEDIA/STexfat/csr/a.csr')\" = hello ]"
check "eject of a directory outside the root is refused (exit 1)" \
  status_to 1 "$WORK/eject-out" "$HELPER" --root "$MEDIA" --eject "$WORK"
check "... saying it is not a stick under the root" grep -q "not a stick under $MEDIA" "$WORK/eject-out"
mkdir -p "$MEDIA/empty"
check "eject of a directory not mounted is refused (exit 1), saying so" \
  sh -c "! '$HELPER' --root '$MEDIA' --eject '$MEDIA/empty' 2>'$WORK/eject-nm'; [ \$? = 0 ] && grep -q 'not mounted' '$WORK/eject-nm'"
rmdir "$MEDIA/empty"
"$HELPER" --root "$MEDIA" --eject "$MEDIA/STexfat" >/dev/null

# --- refusals
image none "$WORK/none.img"
image minix "$WORK/minix.img"
image ext4 "$WORK/ext4.img"
before=$(mount_count)
loop "$WORK/none.img"; none_dev=$LOOP
loop "$WORK/minix.img"; minix_dev=$LOOP
loop "$WORK/ext4.img"; ext4_dev=$LOOP
check "a device without a file system is refused (exit 1)" status_to 1 "$WORK/none.out" helper "$none_dev"
check "... saying it carries no file system" grep -q 'carries no file system.*format the stick FAT32 or exFAT' "$WORK/none.out"
check "a minix file system is refused (exit 1)" status_to 1 "$WORK/minix.out" helper "$minix_dev"
check "... naming it and the allowed ones" grep -q 'carries the file system minix, which the station does not mount (only FAT32 and exFAT' "$WORK/minix.out"
check "an ext4 file system is refused (exit 1), naming it" \
  sh -c "! '$HELPER' --root '$MEDIA' --user '$STICK_USER' '$ext4_dev' 2>'$WORK/ext4.out'; grep -q 'file system ext4, which the station does not mount' '$WORK/ext4.out'"
check "a file that is no block device is refused (exit 1)" \
  sh -c "! '$HELPER' --root '$MEDIA' --user '$STICK_USER' '$WORK/none.img' 2>'$WORK/nb.out'; grep -q 'is not a block device' '$WORK/nb.out'"
check "the refusals mounted nothing and made no directory" \
  sh -c "[ $(mount_count) = $before ] && [ -z \"\$(ls -A '$MEDIA')\" ]"
check "an unknown user is refused (exit 1)" \
  sh -c "! '$HELPER' --root '$MEDIA' --user no-such-user-x '${LOOPS[0]}' 2>'$WORK/nu.out'; grep -q 'the user no-such-user-x does not exist' '$WORK/nu.out'"
check "a bad option is a usage error (exit 2)" expect_status 2 "$HELPER" --frobnicate /dev/null

# --- names
image exfat "$WORK/evil.img" "$(printf '../..\303\234b/x\tz')"
loop "$WORK/evil.img"; evil=$LOOP
check "a label with '/', '..', UTF-8 and a tab mounts (exit 0)" status_to 0 "$WORK/evil.out" helper "$evil"
name=$(basename "$(cat "$WORK/evil.out")")
check "... under one safe name directly under the root ($name)" \
  sh -c "[ \"\$(dirname \"\$(cat '$WORK/evil.out')\")\" = '$MEDIA' ] && mountpoint -q '$MEDIA/$name' &&
         printf '%s' '$name' | LC_ALL=C grep -qx '[A-Za-z0-9_][A-Za-z0-9._-]*' && ! printf '%s' '$name' | grep -q '\\.\\.'"
image fat32 "$WORK/twin1.img" TWIN
image fat32 "$WORK/twin2.img" TWIN
loop "$WORK/twin1.img"; t1=$LOOP; loop "$WORK/twin2.img"; t2=$LOOP
check "two sticks with the same label: the first at TWIN" sh -c "[ \"\$('$HELPER' --root '$MEDIA' --user '$STICK_USER' '$t1')\" = '$MEDIA/TWIN' ]"
check "... the second at TWIN-2, both mounted from their own device" \
  sh -c "[ \"\$('$HELPER' --root '$MEDIA' --user '$STICK_USER' '$t2')\" = '$MEDIA/TWIN-2' ] &&
         [ \"\$(findmnt -n -o SOURCE --mountpoint '$MEDIA/TWIN')\" = '$t1' ] && [ \"\$(findmnt -n -o SOURCE --mountpoint '$MEDIA/TWIN-2')\" = '$t2' ]"
image fat32 "$WORK/nolabel.img"
loop "$WORK/nolabel.img"; nl=$LOOP
uuid_fs=$(blkid -p -o value -s UUID "$nl")
check "no label: named after the file system's UUID ($uuid_fs)" \
  sh -c "[ \"\$('$HELPER' --root '$MEDIA' --user '$STICK_USER' '$nl')\" = '$MEDIA/$uuid_fs' ]"
"$HELPER" --root "$MEDIA" --eject "$MEDIA/TWIN" >/dev/null
check "an empty directory left a moment ago is not reused (a mount may be in progress): TWIN-3" \
  sh -c "mkdir '$MEDIA/TWIN' && [ \"\$('$HELPER' --root '$MEDIA' --user '$STICK_USER' '$t1')\" = '$MEDIA/TWIN-3' ]"
"$HELPER" --root "$MEDIA" --eject "$MEDIA/TWIN-3" >/dev/null
check "an empty directory left long ago is reused: TWIN again" \
  sh -c "touch -d '-1 minute' '$MEDIA/TWIN' && [ \"\$('$HELPER' --root '$MEDIA' --user '$STICK_USER' '$t1')\" = '$MEDIA/TWIN' ]"

# --- the command for systemd, with the kernel's drivers
image fat32 "$WORK/dry.img" DRY
loop "$WORK/dry.img"; dry=$LOOP
check "--dry-run (vfat, kernel driver) prints the systemd-mount command" \
  status_to 0 "$WORK/dry-vfat" helper --dry-run --driver kernel "$dry"
check "... --no-block --automount=no --collect --fsck=no, type vfat, nosuid,nodev,noexec, owner and masks, bound to the device, at <root>/DRY" \
  grep -qx "systemd-mount --no-block --automount=no --collect --fsck=no --no-ask-password --type=vfat --options=nosuid,nodev,noexec,uid=$UID_S,gid=$GID_S,fmask=0177,dmask=0077,flush,utf8,x-systemd.device-bound --description=station stick DRY $dry $MEDIA/DRY" "$WORK/dry-vfat"
image exfat "$WORK/dryx.img" DRYX
loop "$WORK/dryx.img"; dryx=$LOOP
check "--dry-run (exfat, kernel driver): type exfat with the same options" \
  sh -c "'$HELPER' --root '$MEDIA' --user '$STICK_USER' --dry-run --driver kernel '$dryx' | grep -qx 'systemd-mount .* --type=exfat --options=nosuid,nodev,noexec,uid=$UID_S,gid=$GID_S,fmask=0177,dmask=0077,iocharset=utf8,x-systemd.device-bound .* $dryx $MEDIA/DRYX'"
check "--dry-run mounted nothing and made no directory" \
  sh -c "! mountpoint -q '$MEDIA/DRY' && [ ! -e '$MEDIA/DRY' ] && [ ! -e '$MEDIA/DRYX' ]"
check "--dry-run still refuses a minix device (exit 1)" expect_status 1 helper --dry-run "$minix_dev"

# --- the udev rule under udevadm test (reads /run/udev/rules.d: the rule and a stand-in for usb_id go there)
mkdir -p /run/udev/rules.d
tag=$$
rule_copy=/run/udev/rules.d/61-station-stick-test$tag.rules
cp "$RULE" "$rule_copy"; RUN_RULES+=("$rule_copy")
# udevtest DEV OUT: udevadm test of an add event on DEV (output in OUT), then a remove event to undo its links
udevtest() {
  udevadm test --action=add "/sys/class/block/${1#/dev/}" >"$2" 2>&1 || true
  udevadm test --action=remove "/sys/class/block/${1#/dev/}" >/dev/null 2>&1 || true
}
usbdev=$dry
udevtest "$usbdev" "$WORK/udev-plain"
check "udevadm read the rule" grep -q "Reading rules file: $rule_copy" "$WORK/udev-plain"
check "the rule parses without an error or warning" sh -c "! grep -F '$rule_copy:' '$WORK/udev-plain' | grep -qiE 'invalid|ignor|error|unknown|fail'"
check "a non-USB disk with a file system: the rule runs nothing (udevadm test ran: ID_FS_USAGE=filesystem)" \
  sh -c "grep -qx 'ID_FS_USAGE=filesystem' '$WORK/udev-plain' && ! grep -q 'station-stick-mount' '$WORK/udev-plain'"
printf 'SUBSYSTEM=="block", KERNEL=="%s", ENV{ID_BUS}="usb"\n' "${usbdev#/dev/}" >"/run/udev/rules.d/59-station-usb-test$tag.rules"
RUN_RULES+=("/run/udev/rules.d/59-station-usb-test$tag.rules")
udevtest "$usbdev" "$WORK/udev-usb"
check "a USB disk with a file system: the rule runs the helper with its device node" \
  grep -qx "run: '/usr/lib/station/station-stick-mount $usbdev'" "$WORK/udev-usb"
nodev=$none_dev
printf 'SUBSYSTEM=="block", KERNEL=="%s", ENV{ID_BUS}="usb"\n' "${nodev#/dev/}" >>"/run/udev/rules.d/59-station-usb-test$tag.rules"
udevtest "$nodev" "$WORK/udev-nofs"
check "a USB disk without a file system: the rule runs nothing" \
  sh -c "grep -qx 'ID_BUS=usb' '$WORK/udev-nofs' && ! grep -q 'station-stick-mount' '$WORK/udev-nofs'"
sed 's/^ENV{ID_BUS}!="usb"/ENV{ID_BUS}!"usb"/' "$RULE" >"$rule_copy"
udevtest "$usbdev" "$WORK/udev-broken"
check "the parse check can fail: a broken copy of the rule gets an error from udevadm" \
  sh -c "grep -F '$rule_copy:' '$WORK/udev-broken' | grep -qiE 'invalid|ignor|error'"
rm -f "$rule_copy"

# --- the polkit rule, evaluated with node
# polkit_says USER ACTION [UNIT VERB]: what the rule answers (yes, or not-handled)
polkit_says() {
  node -e '
    const fs = require("fs");
    const rules = [];
    const polkit = { Result: { YES: "yes", NO: "no", NOT_HANDLED: "not-handled" }, addRule: (f) => rules.push(f) };
    new Function("polkit", fs.readFileSync(process.argv[1], "utf8"))(polkit);
    const [user, id, unit, verb] = process.argv.slice(2);
    const details = { unit: unit, verb: verb };
    const action = { id: id, lookup: (k) => details[k] };
    let r = "not-handled";
    for (const f of rules) { const x = f(action, { user: user }); if (x !== undefined && x !== "not-handled") { r = x; break; } }
    console.log(r);' "$POLKIT" "$@"
}
MU=org.freedesktop.systemd1.manage-units
check "polkit: station may stop media-station-STICK.mount" test "$(polkit_says station $MU media-station-STICK.mount stop)" = yes
check "polkit: station may stop a stick whose name has a dash (\\x2d)" test "$(polkit_says station $MU 'media-station-my\x2dstick.mount' stop)" = yes
check "polkit: station may not start it" test "$(polkit_says station $MU media-station-STICK.mount start)" = not-handled
check "polkit: station may not stop a mount deeper down (media-station-a-b.mount)" test "$(polkit_says station $MU media-station-a-b.mount stop)" = not-handled
check "polkit: station may not stop the intake root's own mount" test "$(polkit_says station $MU media-station.mount stop)" = not-handled
check "polkit: station may not stop another unit" test "$(polkit_says station $MU station-serial.service stop)" = not-handled
check "polkit: station may not stop a mount beside the root (media-stationx.mount)" test "$(polkit_says station $MU media-stationx.mount stop)" = not-handled
check "polkit: station may power off a drive through udisks2" \
  test "$(polkit_says station org.freedesktop.udisks2.power-off-drive-other-seat)" = yes
check "polkit: station gets nothing else (udisks2 mount, filesystem-mount)" \
  test "$(polkit_says station org.freedesktop.udisks2.filesystem-mount-other-seat)" = not-handled
check "polkit: another user gets nothing from this rule" test "$(polkit_says operator $MU media-station-STICK.mount stop)" = not-handled

finish
