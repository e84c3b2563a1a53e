#!/usr/bin/env bash
# End-to-end: an adapter unplugged and plugged back (the pty pair closed and a
# new one put behind the same path) while other boards go on; a board whose
# answer was lost with the cable gets the same certificate when it asks again;
# a board that sends half a CSR and goes silent holds up nobody.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serial_lib.sh"
make_pki

run_sim "unplug and replug" \
  --board noise,csr,unplug,noise,csr,lost-answer,resend,csr \
  --board noise,csr,sleep:800,csr,sleep:800,csr \
  --board half,sleep:100,csr \
  --board csr,sleep:1500,noise,csr \
  -- "$STATION" serial --block-timeout 3000

P=$PORTS/ttyBOARD
LOG=$PORTS/station.log
check "the unplugged port was reported lost" grep -q "port ${P}0: lost" "$LOG"
check "and opened again" test "$(grep -c "port ${P}0: open" "$LOG")" -ge 3
check "no other port was lost" sh -c "! grep 'lost' '$LOG' | grep -v 'ttyBOARD0:'"
check "board 0: four certificates, the lost answer's request journaled once" \
  test "$(journal_count issued "${P}0")" = 4
check "board 0: the retry after the lost answer was handed back, not signed again" \
  grep -q "issued before serial:${P}0" "$LOG"
check "board 1 served throughout: three certificates" test "$(journal_count issued "${P}1")" = 3
check "board 2: the silent half CSR timed out" test "$(journal_count refused "${P}2" timeout)" = 1
check "board 3: two certificates while board 2 was silent" test "$(journal_count issued "${P}3")" = 2
check "journal verify passes" "$STATION" journal verify
finish
