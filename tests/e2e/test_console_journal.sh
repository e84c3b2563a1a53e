#!/usr/bin/env bash
# End-to-end: the console's journal alert. `station console`
# in tmux with its journal on a small tmpfs: a stick is signed; the disk is
# filled; the next stick's batch stops with no-space and the alert comes up
# in the status panel ("JOURNAL DISK FULL -- signing stopped. Free space on
# <the journal's file system>; the station resumes by itself", with the
# engine's sentence under it); a board asking meanwhile is answered at once
# STATION ERR no-space; the space is freed and, without a key pressed or a
# restart, the alert goes away; the stick is signed again and its
# certificates verify with openssl; the journal verifies; q/y quits with 0.
# Needs root (the tmpfs) and tmux; skipped (77) without them.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serial_lib.sh"
. "$(dirname "$0")/disk_lib.sh"
. "$(dirname "$0")/console_lib.sh"
small_tmpfs "$WORK/journal" 3m
make_pki
MEDIA=$WORK/media
mkdir -p "$MEDIA" "$WORK/prep"
cp "$WORK/station.yaml" "$WORK/console.yaml"
cat >>"$WORK/console.yaml" <<YAML
intake:
  usb: [$MEDIA]
  serial:
    - port: $PORTS/ttyBOARD0
YAML
# 120 columns: the alert's headline fits on one line (below 80 it takes two)
start_console 120 32 TERM=tmux-256color STATION_TEST_PIN=$TEST_PIN
check "the console logs in" wait_for "station: logged in"
make_stick stick1 2
check "a first stick is seen" wait_for "2 CSRs, 0 will be refused"
keys s
wait_for "Sign 2 CSRs" >/dev/null
keys y
check "it is signed" wait_for "issued 2 (new 2, before 0)"
check "no alert while the journal can be written" gone_from "JOURNAL DISK FULL" 1

fill_up "$WORK/journal"
make_stick stick2 6
check "a second stick is seen" wait_for "6 CSRs, 0 will be refused"
keys s
wait_for "Sign 6 CSRs" >/dev/null
keys y
check "the batch stops: the disk is full" wait_for "batch stopped: The disk is full. (no-space)"
check "the alert comes up: JOURNAL DISK FULL, signing stopped" wait_for "JOURNAL DISK FULL"
check "the alert says what to do: free space on the journal's file system; it resumes by itself" \
  wait_for "signing stopped. Free space on $WORK/journal; the station resumes by itself"
check "the alert carries the engine's sentence naming the journal" wait_for "the journal disk is full: cannot write journal $WORK/journal/journal.log"
check "the status's journal line says it cannot be written" wait_for "CANNOT BE WRITTEN: signing stopped (no-space)"
check "the counts leave out the group that was never committed" wait_for "issued 2 this shift, 2 total"
check "nothing of the stopped batch is on the stick" test "$(ls "$MEDIA/stick2/certs" 2>/dev/null | wc -l)" = 0
[ -z "${CONSOLE_CAPTURE:-}" ] || screen >"$CONSOLE_CAPTURE.journal"

# a board meanwhile: answered at once, naming the problem
"$BOARD_SIM" --factory "$FACTORY" --root "$WORK/pki/factory_ca.pem" --dir "$PORTS" --port-args no --wait 20 \
  --board sleep:1500,err:no-space -- /bin/sh -c 'trap "exit 0" TERM; while :; do sleep 0.1; done' \
  >"$WORK/sim.out" 2>&1 || true
rm -f "$PORTS/ttyBOARD0"
check "a board meanwhile is answered STATION ERR no-space with the sentence" \
  grep -q "err:no-space: answered no-space in .* ms: STATION ERR no-space the journal disk is full" "$WORK/sim.out"
check "the alert is still up" wait_for "JOURNAL DISK FULL" 1

rm -f "$WORK/journal/ballast"
check "space freed: the alert goes away by itself (the station tries every 2 s)" gone_from "JOURNAL DISK FULL" 20
check "the event log says signing resumed" wait_for "signing resumed"
[ -z "${CONSOLE_CAPTURE:-}" ] || screen >"$CONSOLE_CAPTURE.resumed"
keys s
wait_for "Sign 6 CSRs" >/dev/null
keys y
check "the stick signs now" wait_for "issued 6 (new 6, before 0)"
check "its six certificates verify with openssl" certs_verify "$MEDIA/stick2/certs" 6
quit_console
check "q then y quits with exit status 0" test "$(console_status)" = 0
check "no sanitizer report or crash on the console's stderr" no_crash_report "$WORK/console.err"
check "the journal holds the refusals of the stopped batch and of the board (7 no-space)" \
  test "$(awk '$3 == "refused" && $9 == "no-space"' "$WORK/journal/journal.log" | wc -l)" = 7
check "the journal verifies" "$STATION" journal verify
finish
