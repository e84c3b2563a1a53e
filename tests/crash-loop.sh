#!/usr/bin/env bash
# crash-loop.sh - the long crash-consistency run, for nightly
# use; tests/e2e/test_crash.sh and test_crash_serial.sh are its bounded forms
# in the suite.
#
#   bash tests/crash-loop.sh BUILD_TREE [BATCH_KILLS] [CSRS] [SERIAL_KILLS]
#
# 1. A batch of CSRS (default 5000) SIGKILLed BATCH_KILLS times (default 100)
#    at random moments, restarted each time; after every kill the stick holds
#    only journaled certificates and no CSR is issued twice; then a full run,
#    counted against the journal (exactly once each, stick = journal, the
#    final run signs only what was not durable).
# 2. tests/e2e/test_crash_serial.sh with SERIAL_KILLS kills (default 30): the
#    serial server SIGKILLed at random moments while boards (the real board
#    script) enroll; after every kill the journal verifies, no CSR or board is
#    issued twice, every installed certificate is the journal's; a last run
#    enrolls every board, re-signing nothing a killed server made durable.
# Prints "N passed, M failed" per part; exits non-zero on any failure.
set -u
TREE=$(cd "${1:?usage: crash-loop.sh BUILD_TREE [BATCH_KILLS] [CSRS] [SERIAL_KILLS]}" && pwd)
export CRASH_KILLS=${2:-100} CRASH_CSRS=${3:-5000}
SERIAL_KILLS=${4:-30}
HERE=$(cd "$(dirname "$0")" && pwd)
status=0

echo "crash-loop: batch of $CRASH_CSRS CSRs, $CRASH_KILLS SIGKILLs"
bash "$HERE/e2e/test_crash.sh" "$TREE/bin/station" || status=1

echo "crash-loop: serial server, $SERIAL_KILLS SIGKILLs"
CRASH_SERIAL_KILLS=$SERIAL_KILLS bash "$HERE/e2e/test_crash_serial.sh" "$TREE/bin/station" "$TREE/tests/board_sim" ||
  status=1
exit "$status"
