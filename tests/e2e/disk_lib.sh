# disk_lib.sh - small disks for the full-disk tests, after lib.sh: tmpfs
# mounts of a given size (needs root and mount(2); a test that cannot make
# one is skipped, exit 77), unmounted at exit, and filling one up.
[ "$(id -u)" = 0 ] || skip "mounting a small tmpfs needs root"
MOUNTS=()
unmount_all() {
  local m
  for m in ${MOUNTS[@]+"${MOUNTS[@]}"}; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
  return 0
}
AT_EXIT_HOOKS+=(unmount_all)

# small_tmpfs DIR SIZE: a tmpfs of SIZE at DIR (mode 0700).
small_tmpfs() {
  mkdir -p "$1"
  mount -t tmpfs -o "size=$2,mode=0700" station-test "$1" 2>"$WORK/mount.err" ||
    skip "cannot mount a tmpfs here: $(cat "$WORK/mount.err")"
  MOUNTS+=("$1")
}

# fill_up DIR: fills the file system of DIR to its last byte (DIR/ballast).
fill_up() {
  dd if=/dev/zero of="$1/ballast" bs=64k 2>/dev/null || true
  [ -s "$1/ballast" ]
}
