#!/usr/bin/env bash
# End-to-end: token faults. The station signs through
# tests/pkcs11 slow_token in front of SoftHSM, whose C_Sign is told by a
# control file to fail, report the device removed, report the session closed,
# return a corrupted signature, or hang. For each: the batch stops with exit 3
# and a message naming the fault; nothing unverified is on the stick; what was
# journaled before the fault is delivered; the journal verifies; and a run
# after the fault is cleared completes without any CSR issued twice (C_Sign
# is counted). Then: a wrong PIN is one C_Login attempt and a clear message;
# a missing module and a missing token are named.
. "$(dirname "$0")/lib.sh"
SLOW=$(dirname "$STATION")/../tests/libslow_token.so
[ -f "$SLOW" ] || { echo "slow_token module not built at $SLOW"; exit 1; }
make_pki
export SLOW_TOKEN_MODULE=$SOFTHSM_MODULE SLOW_TOKEN_CONTROL=$WORK/control
export SLOW_TOKEN_COUNT=$WORK/signatures SLOW_TOKEN_LOGINS=$WORK/logins
sed -e "s|module: .*|module: $SLOW|" -e "s|  pin: env:STATION_TEST_PIN|  pin: env:STATION_TEST_PIN\n  sign_timeout: 2|" \
  "$WORK/station.yaml" >"$WORK/slow.yaml"
CFG=$WORK/slow.yaml
N=6

# new_stick NAME: a stick with $N fresh device CSRs.
new_stick() {
  local b=$WORK/$1 i
  mkdir -p "$b/csr"
  for i in $(seq 1 $N); do
    make_key "$WORK/$1-k$i.key"
    make_csr "$b/csr/d$i.csr" "$WORK/$1-k$i.key" "$(device_subject "$(uuid)")"
  done
}

# issued_once: no CSR hash appears in two issued records of the journal.
issued_once() {
  [ -z "$(awk '$3 == "issued" {print $6}' "$WORK/journal/journal.log" | sort | uniq -d)" ]
}

# stick_matches_journal DIR: every certificate on the stick is an issued record's.
stick_matches_journal() {
  local f body
  for f in "$1"/certs/*.pem; do
    [ -e "$f" ] || continue
    body=$(grep -v -- '-----' "$f" | tr -d '\n')
    awk -v c="$body" '$3 == "issued" && $11 == c {found = 1} END {exit !found}' "$WORK/journal/journal.log" ||
      { echo "$f is not in the journal"; return 1; }
  done
}


count() { [ -f "$1" ] && grep -c . "$1" || echo 0; }
checkpoints() { grep -c ' checkpoint ' "$WORK/journal/journal.log" || true; }

# journaled_from DIR: issued records whose source is on the stick DIR.
journaled_from() { awk -v p="batch:$1/csr/" '$3 == "issued" && index($4, p) == 1' "$WORK/journal/journal.log" | wc -l; }

# fault_case WORD SKIP JOURNALED MESSAGE: C_Sign does WORD after SKIP good
# signatures (the first is the login's key proof). The batch releases nothing
# of a group that faulted, and the requests decided before the fault are not
# journaled either (JOURNALED 0): a commit is durable only with its seal, a
# signature by the journal key in the token that just failed. They are
# signed again on the re-run.
fault_case() {
  local word=$1 skip=$2 journaled=$3 message=$4 b=$WORK/$1 before after got
  new_stick "$word"
  echo "$word $skip" >"$WORK/control"
  : >"$WORK/signatures"
  check "$word: the batch stops with exit 3" status_to 3 "$WORK/$word.out" timeout 60 "$STATION" -q -c "$CFG" sign "$b"
  check "$word: the message says what failed ($message)" grep -q -- "$message" "$WORK/$word.out"
  check "$word: nothing released from the group that faulted" test "$(ls "$b/certs" | wc -l)" = 0
  check "$word: the $journaled requests signed before the fault are journaled" test "$(journaled_from "$b")" = "$journaled"
  check "$word: journal verify passes" "$STATION" -q -c "$CFG" journal verify
  echo ok >"$WORK/control"
  : >"$WORK/signatures"
  before=$(checkpoints)
  check "$word: a run after the fault is cleared completes" "$STATION" -q -c "$CFG" sign "$b"
  after=$(checkpoints)
  got=$(count "$WORK/signatures")
  # the login's key proof, the certificates not journaled before, the checkpoints
  check "$word: the re-run signs only what was not journaled ($got = 1 + $((N - journaled)) + $((after - before)))" \
    test "$got" = $((1 + N - journaled + after - before))
  check "$word: all $N certificates on the stick, each verifies" sh -c "[ \$(ls '$b/certs' | wc -l) = $N ]"
  check "$word: every certificate verifies" certs_verify "$b/certs"
  check "$word: every CSR issued exactly once in the journal" issued_once
  check "$word: the stick matches the journal" stick_matches_journal "$b"
}

fault_case fail 4 0 "signing the certificate failed"
fault_case removed 4 0 "signing the certificate failed"
fault_case session-closed 4 0 "signing the certificate failed"
# a wrong signature: the whole group is held back (nothing released, nothing journaled)
fault_case corrupt 4 0 "does not verify"
# a hang: the watchdog (hsm.sign_timeout 2 s) fails the group, the station exits
start=$(date +%s)
fault_case hang 4 0 "hsm-timeout"
check "hang: bounded (the whole case took $(( $(date +%s) - start )) s)" test $(( $(date +%s) - start )) -lt 60
echo ok >"$WORK/control"

# A wrong PIN: exit 3, the token named, one C_Login attempt per run, never a loop.
new_stick pin
: >"$WORK/logins"
check "wrong PIN: exit 3" status_to 3 "$WORK/pin.out" env STATION_TEST_PIN=999999 "$STATION" -c "$CFG" sign "$WORK/pin"
check "wrong PIN: the message names the token and the refused PIN" grep -q 'token station refused the PIN' "$WORK/pin.out"
check "wrong PIN: exactly one C_Login attempt ($(count "$WORK/logins"))" test "$(count "$WORK/logins")" = 1
check "wrong PIN: the PIN is not in the output" sh -c "! grep -q 999999 '$WORK/pin.out'"
check "wrong PIN: nothing signed" test "$(ls "$WORK/pin/certs" 2>/dev/null | wc -l)" = 0
check "right PIN afterwards: the token is not locked, the batch completes" "$STATION" -q -c "$CFG" sign "$WORK/pin"

# A missing module, a missing token: named.
sed -e "s|module: .*|module: $WORK/no-such-module.so|" "$CFG" >"$WORK/nomodule.yaml"
check "missing module: exit 3" status_to 3 "$WORK/nomodule.out" "$STATION" -c "$WORK/nomodule.yaml" sign "$WORK/pin"
check "missing module: the message names it" grep -q "$WORK/no-such-module.so" "$WORK/nomodule.out"
check "missing module: the station's sentence alone (no loader noise, no batch summary: nothing ran)" \
  test "$(cat "$WORK/nomodule.out")" = "station: error: The PKCS#11 module could not be loaded. (hsm-module): cannot load PKCS#11 module $WORK/no-such-module.so: no such file"
sed -e "s|token: station|token: not-plugged-in|" "$CFG" >"$WORK/notoken.yaml"
check "missing token: exit 3" status_to 3 "$WORK/notoken.out" "$STATION" -c "$WORK/notoken.yaml" sign "$WORK/pin"
check "missing token: the message names it and the tokens seen" \
  grep -q 'no token labelled "not-plugged-in".*tokens seen: "station"' "$WORK/notoken.out"
finish
