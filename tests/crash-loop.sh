#!/usr/bin/env bash
# crash-loop.sh - the long crash-consistency run (issue 7, item 1), for nightly
# use; tests/e2e/test_crash.sh is its bounded form in the suite.
#
#   bash tests/crash-loop.sh BUILD_TREE [BATCH_KILLS] [CSRS] [SERIAL_KILLS]
#
# 1. A batch of CSRS (default 5000) SIGKILLed BATCH_KILLS times (default 100)
#    at random moments, restarted each time; after every kill the stick holds
#    only journaled certificates and no CSR is issued twice; then a full run,
#    counted against the journal (exactly once each, stick = journal, the
#    final run signs only what was not durable).
# 2. The serial server with four simulated boards SIGKILLed SERIAL_KILLS
#    times (default 30) at random moments; after every kill the journal
#    verifies and no CSR is issued twice; a last run serves every board.
# Prints "N passed, M failed"; exits non-zero on any failure.
set -u
TREE=$(cd "${1:?usage: crash-loop.sh BUILD_TREE [BATCH_KILLS] [CSRS] [SERIAL_KILLS]}" && pwd)
export CRASH_KILLS=${2:-100} CRASH_CSRS=${3:-5000}
SERIAL_KILLS=${4:-30}
HERE=$(cd "$(dirname "$0")" && pwd)
status=0

echo "crash-loop: batch of $CRASH_CSRS CSRs, $CRASH_KILLS SIGKILLs"
bash "$HERE/e2e/test_crash.sh" "$TREE/bin/station" || status=1

echo "crash-loop: serial server, $SERIAL_KILLS SIGKILLs"
# shellcheck source=e2e/lib.sh
set -- "$TREE/bin/station" "$TREE/tests/board_sim"
. "$HERE/e2e/lib.sh"
. "$HERE/e2e/serial_lib.sh"
. "$HERE/e2e/crash_lib.sh"
set +e
crash_setup
boards=(--board bench --board bench --board bench --board bench)
consistent=0
for k in $(seq 1 "$SERIAL_KILLS"); do
  "$BOARD_SIM" --factory "$FACTORY" --root "$WORK/pki/factory_ca.pem" --dir "$PORTS" --bench 50 "${boards[@]}" \
    -- "$STATION" -q serial >"$WORK/sim-$k.out" 2>&1 &
  sim=$!
  sleep "0.$(printf '%03d' "$(random_ms 1000)")"
  station_pid=$(pgrep -P "$sim" | head -1)
  [ -n "$station_pid" ] && kill -KILL "$station_pid" 2>/dev/null
  timeout 5 tail --pid="$sim" -f /dev/null # the boards wait for answers that will not come
  kill -TERM "$sim" 2>/dev/null
  wait "$sim" 2>/dev/null
  if "$STATION" -q journal verify >"$WORK/verify.out" 2>&1 && issued_once >>"$WORK/verify.out" 2>&1; then
    consistent=$((consistent + 1))
  else
    echo "after serial kill $k:"; sed 's/^/       /' "$WORK/verify.out" | head -5
  fi
done
check "after each of $SERIAL_KILLS SIGKILLs of the serial server: the journal verifies, none issued twice" \
  test "$consistent" = "$SERIAL_KILLS"
run_sim "a last serial run after the kills" --board csr,csr --board csr,resend -- "$STATION" serial
check "journal verify passes at the end" "$STATION" -q journal verify
check "every CSR issued exactly once in the journal" issued_once
finish || status=1
exit "$status"
