#!/usr/bin/env bash
# End-to-end: batches on real USB-stick file systems. Sticks come formatted
# exFAT or FAT32; each case here makes a real on-disk image with mkfs.exfat or
# mkfs.vfat -F 32 and mounts it through FUSE (exfat-fuse on a loop device,
# fusefat on the image file), the way a station PC without those kernel
# modules reads a stick. On each file system:
#   - a batch with good and bad CSRs, a name that differs from another only
#     by case (one file on a FAT/exFAT stick: name-clash, nothing lost), a DER
#     file with an upper-case extension; the certificates verify;
#   - no temporary file is left, the image checks clean (fsck -n) and, after
#     unmounting and mounting again, everything written is still there;
#   - a re-run signs nothing new (C_Sign counted by tests/pkcs11 slow_token);
#   - a nearly full stick: the batch stops with a message that says the stick
#     is full and what to do; every certificate on it is the journal's; the
#     same CSRs on a bigger stick get the journal's certificates back without
#     a new signature. (fusefat answers a write on a full file system with
#     EPERM where the kernel's vfat says ENOSPC, so on FAT32 the message is the
#     one for a failing stick, which says the same thing to do.)
#   usage: test_stick_fs.sh path/to/station
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/crash_lib.sh"
[ "$(id -u)" = 0 ] || skip "loop devices and FUSE mounts need root"
for tool in mkfs.exfat mkfs.vfat mount.exfat-fuse fusefat fusermount losetup fsck.exfat fsck.vfat; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is missing (bash packaging/install-deps.sh --test installs it)"; exit 1; }
done
crash_setup

MOUNTED=()
# unmount_all: at exit, every stick still mounted is unmounted (and its loop device freed).
unmount_all() {
  local m
  for m in ${MOUNTED[@]+"${MOUNTED[@]}"}; do unmount_stick "$m" 2>/dev/null || true; done
}
AT_EXIT_HOOKS+=(unmount_all)

# make_image FS FILE MIB: a new file system of MIB MiB in FILE (fs: exfat or fat32).
make_image() {
  truncate -s "$3M" "$2"
  case $1 in
    exfat) mkfs.exfat -L STATION "$2" >/dev/null ;;
    fat32) mkfs.vfat -F 32 "$2" >/dev/null ;;
  esac
}

# mount_stick FS FILE DIR: mounts the image at DIR through FUSE.
mount_stick() {
  mkdir -p "$3"
  case $1 in
    exfat)
      local loop
      loop=$(losetup -f --show "$2") || return 1
      echo "$loop" >"$3.loop"
      mount.exfat-fuse "$loop" "$3" >"$3.mount.log" 2>&1 || return 1
      ;;
    fat32) fusefat -o rw+ "$2" "$3" >"$3.mount.log" 2>&1 || return 1 ;;
  esac
  MOUNTED+=("$3")
  mountpoint -q "$3"
}

# unmount_stick DIR: unmounts (waiting for the FUSE daemon to write back) and frees the loop device.
unmount_stick() {
  fusermount -u "$1" || return 1
  for _ in $(seq 1 50); do mountpoint -q "$1" || break; sleep 0.1; done
  if [ -f "$1.loop" ]; then
    losetup -d "$(cat "$1.loop")"
    rm -f "$1.loop"
  fi
}

# fsck_image FS FILE: the image checks clean, read-only.
fsck_image() {
  case $1 in
    exfat) fsck.exfat -n "$2" ;;
    fat32) fsck.vfat -n "$2" ;;
  esac
}

signatures() { grep -c . "$WORK/signatures" || true; }
issued_in_journal() { awk '$3 == "issued"' "$JOURNAL_LOG" | wc -l; }
# token_records: journal records signed by the journal key in the token (checkpoints: seals)
token_records() { [ -f "$JOURNAL_LOG" ] || { echo 0; return; }; awk '$3 == "checkpoint"' "$JOURNAL_LOG" | wc -l; }

for FS in exfat fat32; do
  IMG=$WORK/$FS.img
  S=$WORK/$FS
  make_image "$FS" "$IMG" 64
  check "$FS: a real $FS image mounts through FUSE" mount_stick "$FS" "$IMG" "$S"
  mkdir -p "$S/csr"
  for i in 1 2 3 4; do
    make_key "$WORK/$FS-k$i.key"
    make_csr "$S/csr/good$i.csr" "$WORK/$FS-k$i.key" "$(device_subject "$(uuid)")"
  done
  make_key "$WORK/$FS-der.key"
  make_csr "$WORK/$FS-der.csr" "$WORK/$FS-der.key" "$(device_subject "$(uuid)")" -outform DER
  cp "$WORK/$FS-der.csr" "$S/csr/GOOD5.DER"
  make_key "$WORK/$FS-case1.key"; make_key "$WORK/$FS-case2.key"
  make_csr "$S/csr/Board.csr" "$WORK/$FS-case1.key" "$(device_subject "$(uuid)")"
  make_csr "$S/csr/board.pem" "$WORK/$FS-case2.key" "$(device_subject "$(uuid)")"
  make_key "$WORK/$FS-wf.key"
  make_csr "$S/csr/wrong-factory.csr" "$WORK/$FS-wf.key" "/CN=$(uuid)/OU=other-factory"
  printf 'not a CSR at all\n' >"$S/csr/garbage.csr"

  : >"$WORK/signatures"
  signed_records=$(token_records)
  check "$FS: the batch exits 1 (some refused)" status_to 1 "$WORK/$FS.out" "$STATION" sign "$S"
  check "$FS: 6 issued, 3 refused" grep -q 'issued 6 (new 6, issued before 0), refused 3' "$WORK/$FS.out"
  check "$FS: six certificates, each verifies as a client certificate" certs_verify "$S/certs" 6
  for n in good1 good2 good3 good4 GOOD5 Board; do
    check "$FS: certs/$n.pem is for its CSR's key" \
      sh -c "[ \"\$(openssl x509 -in '$S/certs/$n.pem' -noout -pubkey)\" = \"\$(openssl req -in '$S/csr/$n.$( [ $n = GOOD5 ] && echo DER || echo csr)' -inform $( [ $n = GOOD5 ] && echo DER || echo PEM) -noout -pubkey)\" ]"
  done
  check "$FS: the name differing only by case is refused (name-clash), naming the other file" \
    sh -c "grep -q '^name-clash' '$S/rejected/board.pem.txt' && grep -q 'csr/Board.csr' '$S/rejected/board.pem.txt'"
  check "$FS: wrong factory refused with its reason" grep -q '^wrong-factory' "$S/rejected/wrong-factory.txt"
  check "$FS: garbage refused with its reason" grep -q '^not-a-csr' "$S/rejected/garbage.txt"
  check "$FS: the refused files get no certificate" \
    sh -c "[ ! -e '$S/certs/wrong-factory.pem' ] && [ ! -e '$S/certs/garbage.pem' ]"
  check "$FS: every certificate on the stick is the journal's" stick_in_journal "$S"
  check "$FS: no temporary or stray file left" no_stray_files "$S"
  check "$FS: one signature per new certificate, +1 key proof at login, + the journal's own records ($(signatures))" \
    test "$(signatures)" = $((7 + $(token_records) - signed_records))

  check "$FS: unmounts cleanly" unmount_stick "$S"
  check "$FS: the image checks clean (fsck -n)" fsck_image "$FS" "$IMG"
  check "$FS: mounts again" mount_stick "$FS" "$IMG" "$S"
  check "$FS: after a remount the six certificates are still there and verify" certs_verify "$S/certs" 6
  check "$FS: after a remount the three notes are still there" test "$(ls "$S/rejected" | wc -l)" = 3

  : >"$WORK/signatures"
  signed_records=$(token_records)
  issued_before=$(issued_in_journal)
  check "$FS: a re-run exits 1 again (the same refusals)" status_to 1 "$WORK/$FS-rerun.out" "$STATION" sign "$S"
  check "$FS: a re-run signs nothing new" grep -q 'issued 6 (new 0, issued before 6)' "$WORK/$FS-rerun.out"
  check "$FS: a re-run makes no signature but the key proof and the journal's own records" \
    test "$(signatures)" = $((1 + $(token_records) - signed_records))
  check "$FS: a re-run journals no new issuance" test "$(issued_in_journal)" = "$issued_before"
  check "$FS: a re-run leaves the same six certificates" certs_verify "$S/certs" 6
  check "$FS: no temporary file after the re-run" no_stray_files "$S"
  check "$FS: unmounts after the re-run" unmount_stick "$S"
  check "$FS: the image still checks clean" fsck_image "$FS" "$IMG"
done

# --- a nearly full stick, on each file system: room for a few certificates only
for FS in exfat fat32; do
  case $FS in exfat) SIZE=8 ;; fat32) SIZE=34 ;; esac
  IMG=$WORK/$FS-full.img
  S=$WORK/$FS-full
  make_image "$FS" "$IMG" "$SIZE"
  check "$FS nearly full: mounts" mount_stick "$FS" "$IMG" "$S"
  mkdir -p "$S/csr"
  crash_stick "$S" 60
  # a spacer keeps a little room while the rest is filled; removing it leaves room for a few certificates
  head -c 6144 /dev/zero >"$S/spacer"
  dd if=/dev/zero of="$S/fill" bs=1M >/dev/null 2>&1 || true
  dd if=/dev/zero of="$S/fill2" bs=4k >/dev/null 2>&1 || true
  rm -f "$S/spacer"
  sync
  : >"$WORK/signatures"
  check "$FS nearly full: the batch stops with exit 3" status_to 3 "$WORK/$FS-full.out" "$STATION" sign "$S"
  if [ "$FS" = exfat ]; then
    check "$FS nearly full: the message says the stick is full (no-space) and names it" \
      grep -q "(no-space).*stick $S" "$WORK/$FS-full.out"
  else
    # fusefat answers a write on a full FAT with EPERM, not ENOSPC as the
    # kernel's vfat does, so the station can only say the stick failed
    check "$FS nearly full: the message names the stick, says it failed and to sign it again" \
      grep -q "stick $S failed or was pulled out.*sign it again" "$WORK/$FS-full.out"
  fi
  check "$FS nearly full: the message says what to do and that certificates come back without new signatures" \
    grep -q "delivered, without new signatures" "$WORK/$FS-full.out"
  on_stick=$(ls "$S/certs" 2>/dev/null | grep -c '\.pem$' || true)
  journaled=$(awk -v p="batch:$S/csr/" '$3 == "issued" && index($4, p) == 1' "$JOURNAL_LOG" | wc -l)
  check "$FS nearly full: the certificates are journaled, not all reached the stick ($on_stick of $journaled)" \
    sh -c "[ $journaled -gt 0 ] && [ $on_stick -lt $journaled ]"
  check "$FS nearly full: every certificate on it is the journal's" stick_in_journal "$S"
  [ "$on_stick" = 0 ] || check "$FS nearly full: those on it verify" certs_verify "$S/certs" "$on_stick"
  check "$FS nearly full: journal verify passes" "$STATION" -q journal verify

  # the same CSRs on a bigger stick
  BIG=$WORK/$FS-big
  make_image "$FS" "$BIG.img" 64
  check "$FS bigger stick: mounts" mount_stick "$FS" "$BIG.img" "$BIG"
  cp -r "$S/csr" "$BIG/csr"
  check "$FS nearly full: unmounts" unmount_stick "$S"
  : >"$WORK/signatures"
  signed_records=$(token_records)
  check "$FS bigger stick: the batch completes (exit 0)" status_to 0 "$WORK/$FS-big.out" "$STATION" sign "$BIG"
  check "$FS bigger stick: every certificate is new 0, all from the journal" \
    grep -q "issued 60 (new [0-9]*, issued before [0-9]*)" "$WORK/$FS-big.out"
  new_now=$(sed -n 's/.*issued 60 (new \([0-9]*\),.*/\1/p' "$WORK/$FS-big.out")
  check "$FS bigger stick: only what the full stick never journaled is signed now ($new_now new, $journaled journaled before)" \
    test "$new_now" = $((60 - journaled))
  check "$FS bigger stick: signatures = key proof + the new ones + the journal's own records" \
    test "$(signatures)" = $((1 + new_now + $(token_records) - signed_records))
  check "$FS bigger stick: sixty certificates, all verify" certs_verify "$BIG/certs" 60
  check "$FS bigger stick: every certificate is the journal's" stick_in_journal "$BIG"
  check "$FS bigger stick: no stray file" no_stray_files "$BIG"
  check "$FS bigger stick: unmounts" unmount_stick "$BIG"
  check "$FS bigger stick: the image checks clean" fsck_image "$FS" "$BIG.img"
done
finish
