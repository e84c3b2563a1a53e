#!/usr/bin/env bash
# End-to-end: least privilege. Root is refused on a station
# provisioned for its own user unless told (--allow-root, STATION_ALLOW_ROOT=1),
# and warned about on a bench where root owns everything; a configuration or journal others can
# change is refused with the command that fixes it; a journal others can read
# draws a warning; a PIN file others or its group can read, or that an ACL
# entry opens to another user, is refused with the chmod or setfacl that fixes
# it; the PIN is never in
# the output, the journal, an export or argv, and the running station holds
# it in locked memory (VmLck) and is not dumpable.
. "$(dirname "$0")/lib.sh"
TEST_PIN=S3cr3t-PIN-xyzzy # distinctive, so that a grep cannot meet it by chance
make_pki
B=$WORK/stick; mkdir -p "$B/csr"
for i in 1 2 3; do
  make_key "$WORK/k$i.key"
  make_csr "$B/csr/d$i.csr" "$WORK/k$i.key" "$(device_subject "$(uuid)")"
done

# --- root
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
  # a station provisioned for its own user: its journal belongs to that user
  mkdir -p "$WORK/journal"
  chown nobody "$WORK/journal"
  check "as root on a station's own files: exit 2" status_to 2 "$WORK/root.out" env -u STATION_ALLOW_ROOT "$STATION" sign "$B"
  check "as root: the message says why and what to do" \
    sh -c "grep -q 'running-as-root' '$WORK/root.out' && grep -q -- '--allow-root' '$WORK/root.out' && grep -q 'sudo -u station' '$WORK/root.out'"
  check "as root: nothing was signed" test ! -e "$B/certs"
  chown root "$WORK/journal"
  check "as root on root's own files (a bench): runs, with a warning" \
    sh -c "env -u STATION_ALLOW_ROOT '$STATION' sign '$B' >'$WORK/bench.out' 2>&1; grep -q 'warning: running as root' '$WORK/bench.out'"
  check "as root with --allow-root: runs (its summary), no warning" \
    sh -c "env -u STATION_ALLOW_ROOT '$STATION' --allow-root sign '$B' >'$WORK/allowed.out' 2>&1; grep -q 'issued' '$WORK/allowed.out' && ! grep -q 'running as root' '$WORK/allowed.out'"
  check "as root with STATION_ALLOW_ROOT=1: runs" env STATION_ALLOW_ROOT=1 "$STATION" -q sign "$B"
  check "--help needs no permission" env -u STATION_ALLOW_ROOT "$STATION" --help
else
  check "as a plain user: runs without permission" env -u STATION_ALLOW_ROOT "$STATION" -q sign "$B"
fi

# --- the configuration
chmod 664 "$WORK/station.yaml"
check "a group-writable configuration: exit 2" status_to 2 "$WORK/cfg.out" "$STATION" sign "$B"
check "a group-writable configuration: the message says chmod go-w" \
  grep -q "insecure-permissions.*mode 0664.*chmod go-w $WORK/station.yaml" "$WORK/cfg.out"
chmod 646 "$WORK/station.yaml"
check "a world-writable configuration: exit 2" status_to 2 "$WORK/cfg.out" "$STATION" sign "$B"
chmod 644 "$WORK/station.yaml"
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
  chown nobody "$WORK/station.yaml"
  check "a configuration another user owns: exit 2 with the chown to run" \
    sh -c "'$STATION' sign '$B' >'$WORK/own.out' 2>&1; [ \$? = 2 ] && grep -q 'chown root' '$WORK/own.out'"
  chown root "$WORK/station.yaml"
fi
check "with the configuration fixed the batch runs" "$STATION" -q sign "$B"

# --- the journal
chmod 777 "$WORK/journal"
check "a journal directory others can write: exit 2" status_to 2 "$WORK/jdir.out" "$STATION" journal verify
check "a journal directory others can write: the message says chmod go-w" grep -q "chmod go-w $WORK/journal" "$WORK/jdir.out"
chmod 755 "$WORK/journal"
check "a journal directory others can read: a warning, and it runs" \
  sh -c "'$STATION' journal verify 2>&1 | grep -q 'warning: the journal $WORK/journal has mode 0755: others can read it'"
chmod 700 "$WORK/journal"
chmod 666 "$WORK/journal/journal.log"
check "a journal log others can write: exit 2" status_to 2 "$WORK/jlog.out" "$STATION" journal verify
chmod 600 "$WORK/journal/journal.log"

# --- the PIN file
printf '%s\n' "$TEST_PIN" >"$WORK/pin"
chmod 644 "$WORK/pin"
sed -e "s|pin: env:STATION_TEST_PIN|pin: file:$WORK/pin|" "$WORK/station.yaml" >"$WORK/pinfile.yaml"
check "a PIN file others can read: exit 2 with the chmod to run" \
  sh -c "'$STATION' -c '$WORK/pinfile.yaml' sign '$B' >'$WORK/pin.out' 2>&1; [ \$? = 2 ] && grep -q 'chmod 600' '$WORK/pin.out'"
chmod 640 "$WORK/pin"
check "a PIN file its group can read: exit 2 with the chmod to run" \
  sh -c "'$STATION' -c '$WORK/pinfile.yaml' sign '$B' >'$WORK/pin.out' 2>&1; [ \$? = 2 ] && grep -q 'mode 0640: its group may read or change it; only its owner may; run chmod 600 $WORK/pin' '$WORK/pin.out'"
chmod 600 "$WORK/pin"
setfacl -m u:nobody:r "$WORK/pin"
check "the ACL gives user nobody read access (getfacl)" sh -c "getfacl -p '$WORK/pin' 2>/dev/null | grep -qx 'user:nobody:r--'"
check "a PIN file with an ACL entry for another user: exit 2 with the setfacl to run" \
  sh -c "'$STATION' -c '$WORK/pinfile.yaml' sign '$B' >'$WORK/pin.out' 2>&1; [ \$? = 2 ] && grep -q 'access control list entry giving user $(id -u nobody) r access beyond its owner; run setfacl -b $WORK/pin' '$WORK/pin.out'"
chmod 600 "$WORK/pin" # the mask drops to ---: the entry stays but grants nothing
check "... after chmod 600 the masked-out entry grants nothing: the PIN file is taken" \
  env -u STATION_TEST_PIN "$STATION" -q -c "$WORK/pinfile.yaml" sign "$B"
setfacl -m u:nobody:r "$WORK/pin"
setfacl -b "$WORK/pin"
check "a PIN file of mode 0600 is taken" env -u STATION_TEST_PIN "$STATION" -q -c "$WORK/pinfile.yaml" sign "$B"

# --- the PIN never leaves: output, journal, export, argv; locked memory while running
# Each command must have run and said what it does, so that the absence of the
# PIN in its output means something.
check "verbose sign ran (exit 0, its summary) with the PIN from the environment" \
  status_to 0 "$WORK/sign.out" "$STATION" -v sign "$B"
check "verbose sign: its summary says the three certificates came back from the journal" \
  grep -q 'issued 3 (new 0, issued before 3)' "$WORK/sign.out"
check "verbose selftest ran: healthy" status_to 0 "$WORK/selftest.out" "$STATION" -v selftest
check "verbose selftest said so" grep -q 'selftest: healthy' "$WORK/selftest.out"
check "verbose export ran and wrote the export and its signature" \
  sh -c "'$STATION' -v journal export --format csv --out '$WORK/export.csv' >'$WORK/export.out' 2>&1 &&
         [ -s '$WORK/export.csv' ] && [ -s '$WORK/export.csv.sig' ]"
check "a wrong PIN: exit 3 and the token's refusal named" \
  status_to 3 "$WORK/wrongpin.out" env STATION_TEST_PIN=wrong-PIN-plugh "$STATION" -v sign "$B"
check "a wrong PIN: the message says the token refused the PIN" grep -q 'refused the PIN' "$WORK/wrongpin.out"
cat "$WORK/sign.out" "$WORK/selftest.out" "$WORK/export.out" "$WORK/wrongpin.out" >"$WORK/all.out"
check "the PIN is in no output (verbose sign, selftest, export, a wrong PIN)" \
  sh -c "! grep -q -e '$TEST_PIN' -e wrong-PIN-plugh '$WORK/all.out'"
check "the PIN is not in the journal or the export" \
  sh -c "! grep -rq '$TEST_PIN' '$WORK/journal' '$WORK/export.csv' '$WORK/export.csv.sig'"
SLOW=$(dirname "$STATION")/../tests/libslow_token.so
check "the slow test token is built ($SLOW)" test -f "$SLOW"
if [ -f "$SLOW" ]; then
  sed -e "s|module: .*|module: $SLOW|" "$WORK/station.yaml" >"$WORK/slow.yaml"
  mkdir -p "$WORK/slow/csr"
  for i in $(seq 1 40); do
    make_key "$WORK/s$i.key"
    make_csr "$WORK/slow/csr/s$i.csr" "$WORK/s$i.key" "$(device_subject "$(uuid)")"
  done
  SLOW_TOKEN_MODULE=$SOFTHSM_MODULE SLOW_TOKEN_DELAY_MS=100 "$STATION" -q -c "$WORK/slow.yaml" sign "$WORK/slow" >/dev/null &
  pid=$!
  vmlck= cmdline=
  for _ in $(seq 1 40); do
    sleep 0.1
    [ -n "$cmdline" ] || cmdline=$( (tr '\0' ' ' <"/proc/$pid/cmdline") 2>/dev/null || true)
    vmlck=$(awk '/^VmLck/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
    [ "${vmlck:-0}" -gt 0 ] && break
  done
  wait "$pid" || true
  if grep -aq __asan_init "$STATION"; then
    echo "       (AddressSanitizer makes mlock a no-op: VmLck ${vmlck:-?} kB not judged in this build)"
  else
    check "while signing, the PIN is held in locked memory (VmLck ${vmlck:-?} kB)" test "${vmlck:-0}" -gt 0
  fi
  check "while signing, argv holds no PIN ($cmdline)" sh -c "[ -n '$cmdline' ] && ! echo '$cmdline' | grep -q '$TEST_PIN'"
fi
finish
