#!/usr/bin/env bash
# End-to-end: full disks, on small tmpfs mounts (needs root
# and mount(2); skipped, exit 77, where they cannot be made: the same paths
# are covered through the system-call seam by unit.test_crash_seam and
# unit.test_journal).
#  - The journal's disk fills up mid-batch: the batch stops at once with exit
#    3 and a no-space message naming the journal; nothing is on the stick
#    that the journal lacks; the journal verifies; with space back, a run
#    completes and signs only what was never journaled.
#  - The stick fills up mid-batch: the batch stops with exit 3 and a
#    no-space message naming the stick; the journal holds the certificates;
#    with space back, they are delivered without new signatures.
# The long-running servers on a full journal disk: test_full_disk_server.sh
# (`station serial`) and test_console_journal.sh (the console's alert).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/crash_lib.sh"
. "$(dirname "$0")/disk_lib.sh"
count() { grep -c . "$1" 2>/dev/null || true; }
checkpoints() { grep -c ' checkpoint ' "$JOURNAL_LOG" || true; }

small_tmpfs "$WORK/journal" 400k
crash_setup
N=600

# --- the journal's disk fills up (each record is about 1 KiB: the second group of 256 does not fit)
B=$WORK/stick1
crash_stick "$B" $N
check "journal disk full: the batch stops with exit 3" status_to 3 "$WORK/jfull.out" "$STATION" sign "$B"
check "journal disk full: the message says no-space and names the journal" \
  grep -q "(no-space).*$WORK/journal" "$WORK/jfull.out"
journaled=$(issued_count)
check "journal disk full: some records made it ($journaled), not all" sh -c "[ $journaled -gt 0 ] && [ $journaled -lt $N ]"
check "journal disk full: nothing on the stick that the journal lacks" stick_in_journal "$B"
check "journal disk full: no more certificates on the stick than durable records" \
  sh -c "[ \$(ls '$B/certs' | wc -l) -le $journaled ]"
check "journal disk full: journal verify passes" "$STATION" -q journal verify
check "journal disk full: a run on a still-full disk stops again, nothing new released" \
  sh -c "! '$STATION' -q sign '$B' >/dev/null 2>&1 && [ \$(ls '$B/certs' | wc -l) -le $(issued_count) ]"
mount -o remount,size=8m "$WORK/journal"
: >"$WORK/signatures"
before=$(issued_count)
cp_before=$(checkpoints)
index_before=$(index_id)
check "journal disk with space again: the batch completes" sh -c "'$STATION' -q sign '$B' >'$WORK/jback.out'"
check "journal disk with space again: new $((N - before)), issued before $before" \
  grep -q "issued $N (new $((N - before)), issued before $before)" "$WORK/jback.out"
# the journal key also signs the journal's index file when the run writes it (1024 records or more)
index_written=$([ "$(index_id)" != "$index_before" ] && echo 1 || echo 0)
check "journal disk with space again: signed only what was never journaled" \
  test "$(count "$WORK/signatures")" = $((1 + N - before + $(checkpoints) - cp_before + index_written))
check "journal disk: every CSR issued exactly once in the journal" issued_once
check "journal disk: the stick matches the journal" stick_in_journal "$B"
check "journal disk: journal verify passes" "$STATION" -q journal verify

# --- the stick fills up: room for about 100 certificates after the CSRs
S=$WORK/stick2
small_tmpfs "$S" 4m
crash_stick "$S" 300
avail=$(df -k --output=avail "$S" | tail -1)
dd if=/dev/zero of="$S/ballast" bs=1k count=$((avail - 400)) 2>/dev/null
: >"$WORK/signatures"
check "stick full: the batch stops with exit 3" status_to 3 "$WORK/sfull.out" "$STATION" sign "$S"
check "stick full: the message says no-space and names the stick" grep -q "(no-space).*stick $S" "$WORK/sfull.out"
check "stick full: the message says the certificates come back" grep -q "delivered, without new signatures" "$WORK/sfull.out"
check "stick full: nothing on the stick that the journal lacks" stick_in_journal "$S"
on_stick=$(ls "$S/certs" | wc -l)
from_stick=$(awk -v p="batch:$S/csr/" '$3 == "issued" && index($4, p) == 1' "$JOURNAL_LOG" | wc -l)
check "stick full: more journaled ($from_stick) than delivered ($on_stick)" test "$from_stick" -gt "$on_stick"
check "stick full: journal verify passes" "$STATION" -q journal verify
rm -f "$S/ballast"
: >"$WORK/signatures"
cp_before=$(checkpoints)
check "stick with space again: the batch completes" sh -c "'$STATION' -q sign '$S' >'$WORK/sback.out'"
check "stick with space again: the $from_stick journaled certificates come back (issued before $from_stick)" \
  grep -q "issued 300 (new $((300 - from_stick)), issued before $from_stick)" "$WORK/sback.out"
check "stick with space again: no new signature for them" \
  test "$(count "$WORK/signatures")" = $((1 + 300 - from_stick + $(checkpoints) - cp_before))
check "stick: all 300 certificates on the stick" sh -c "[ \$(ls '$S/certs' | wc -l) = 300 ]"
check "stick: every CSR issued exactly once in the journal" issued_once
check "stick: the stick matches the journal" stick_in_journal "$S"
finish
