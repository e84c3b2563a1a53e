#!/usr/bin/env bash
# End-to-end: `station serial` with its journal on a small tmpfs that fills
# up while two boards are served on ptys, then gets room again, all without
# a restart, in the long-running server. Signatures are
# counted by tests/pkcs11 slow_token in front of SoftHSM.
#  - board 0 gets a certificate, waits for board 1's, fills the disk, then
#    sends CSRs until one is answered no-space (the commit of its group
#    failed; its signature was made and never released); board 1 then sends
#    two new CSRs, each answered at once with no-space, no signature made;
#  - the answer names the journal, the file system to free and that nothing
#    was released; the station's log says signing stopped;
#  - board 1 frees the space; the station resumes by itself within a few
#    seconds; both boards ask again: board 0's CSR of the failed group and
#    board 1's last refused CSR are each signed once and issued; a resend is
#    handed back from the journal; new CSRs are issued;
#  - the journal holds a no-space refusal for each of the three requests
#    turned away (journaled when it could be written again), no CSR issued
#    twice; C_Sign: the login's key proof, one per issued certificate, one
#    per checkpoint (the seal of every commit), and the two wasted on the
#    failed group (its certificate and its seal, never written), nothing more;
#  - every issued certificate verifies with openssl; `station journal
#    verify` passes; the server stops on SIGTERM with exit status 0.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serial_lib.sh"
. "$(dirname "$0")/crash_lib.sh"
. "$(dirname "$0")/disk_lib.sh"
small_tmpfs "$WORK/journal" 3m
crash_setup
LOG=$WORK/journal/journal.log
count() { grep -c . "$1" 2>/dev/null || true; }

# The boards' own steps (board_sim run:PATH runs `sh PATH`).
cat >"$WORK/fill.sh" <<SH
dd if=/dev/zero of='$WORK/journal/ballast' bs=64k 2>/dev/null
[ -s '$WORK/journal/ballast' ]
SH
cat >"$WORK/stopped.sh" <<SH
grep -c . '$WORK/signatures' >'$WORK/count.stopped'
: >'$WORK/stopped'
SH
cat >"$WORK/free.sh" <<SH
grep -c . '$WORK/signatures' >'$WORK/count.freed'
rm -f '$WORK/journal/ballast'
for i in \$(seq 1 100); do
  grep -q 'signing resumed' '$PORTS/station.log' && exit 0
  sleep 0.1
done
echo 'the station did not resume within 10 s' >&2
exit 1
SH

start=$(date +%s)
run_sim "journal disk full" --wait 20 \
  --board "csr,wait:$WORK/ready,run:$WORK/fill.sh,csr-until:no-space,run:$WORK/stopped.sh,wait:$WORK/resumed,resend,resend,csr" \
  --board "csr,touch:$WORK/ready,wait:$WORK/stopped,err:no-space,err:no-space,run:$WORK/free.sh,touch:$WORK/resumed,resend,csr" \
  -- "$STATION" serial
check "the whole run took under 40 s ($(( $(date +%s) - start )) s)" test $(( $(date +%s) - start )) -lt 40

P=$PORTS/ttyBOARD
check "the answer names the problem: the journal disk is full, the journal, nothing released" \
  grep -q "STATION ERR no-space the journal disk is full: .*$LOG.*nothing was released" "$WORK/sim.out"
check "the answer names the file system to free" grep -q "signing resumes once there is room on $WORK/journal" "$WORK/sim.out"
check "the requests while stopped were answered at once (each under 2 s, in fact a few ms)" \
  sh -c "grep -o 'answered no-space in [0-9]* ms' '$WORK/sim.out' | awk '{n++; if (\$4 >= 2000) bad++} END {exit !(n == 3 && !bad)}'"
check "the station's log says signing stopped, naming the journal" \
  grep -q "journal: signing stopped (no-space): the journal disk is full: .*$LOG" "$PORTS/station.log"
check "the station's log says it resumed without a restart" grep -q "can be written again after .* signing resumed" "$PORTS/station.log"
check "the server stayed up: one process served the whole run" test "$(grep -c 'serving 2 serial ports' "$PORTS/station.log")" = 1
check "no sanitizer report or crash in the station's log" no_crash_report "$PORTS/station.log"

# the journal
refused_nospace() { awk '$3 == "refused" && $9 == "no-space"' "$LOG"; }
check "three no-space refusals journaled once it could be written again (one of board 0, two of board 1)" \
  sh -c "[ \$(awk -v s='serial:${P}0' '\$3 == \"refused\" && \$9 == \"no-space\" && \$4 == s' '$LOG' | wc -l) = 1 ] &&
         [ \$(awk -v s='serial:${P}1' '\$3 == \"refused\" && \$9 == \"no-space\" && \$4 == s' '$LOG' | wc -l) = 2 ]"
check "no CSR issued twice" issued_once
retried=$(refused_nospace | awk '{print $6}' | while read -r h; do
  awk -v h="$h" '$3 == "issued" && $6 == h' "$LOG"; done | wc -l)
check "the two CSRs asked for again after the stop were issued, once each ($retried)" test "$retried" = 2
first_nospace=$(awk '$3 == "refused" && $9 == "no-space" {print NR; exit}' "$LOG")
before=$(awk -v n="$first_nospace" 'NR < n && $3 == "issued"' "$LOG" | wc -l)
issued=$(awk '$3 == "issued"' "$LOG" | wc -l)
checkpoints=$(grep -c ' checkpoint ' "$LOG" || true)
check "$issued certificates issued in all: $before before the stop, 4 after (2 asked again, 2 new)" sh -c "[ $before -ge 2 ] && [ $issued = $((before + 4)) ]"

# signatures: 1 key proof at login + issued + checkpoints + the two of the failed group (certificate, seal)
seals_before=$(awk -v n="$first_nospace" 'NR < n && $3 == "checkpoint"' "$LOG" | wc -l)
check "no signature while stopped ($(cat "$WORK/count.stopped") at the stop, $(cat "$WORK/count.freed") when freed)" \
  test "$(cat "$WORK/count.stopped")" = "$(cat "$WORK/count.freed")"
check "at the stop: the key proof, the $before certificates, their $seals_before seals, and the failed group's two signatures" \
  test "$(cat "$WORK/count.stopped")" = $((1 + before + seals_before + 2))
check "in all $(count "$WORK/signatures") signatures = 1 + $issued issued + $checkpoints checkpoints + 2 never released" \
  test "$(count "$WORK/signatures")" = $((1 + issued + checkpoints + 2))

# every certificate the journal issued verifies, and the journal with it
mkdir -p "$WORK/certs"
awk '$3 == "issued" {print $1, $11}' "$LOG" | while read -r seq b64; do
  { echo "-----BEGIN CERTIFICATE-----"; echo "$b64" | fold -w 64; echo "-----END CERTIFICATE-----"; } >"$WORK/certs/$seq.pem"
done
check "every issued certificate verifies with openssl up to the factory root" certs_verify "$WORK/certs" "$issued"
check "journal verify passes (chain, checkpoints, head on the token)" "$STATION" journal verify
finish
