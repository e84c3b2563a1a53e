#!/usr/bin/env bash
# End-to-end: the long-running serial server survives token faults.
# Through tests/pkcs11 slow_token, one C_Sign reports the session
# closed behind the station's back: that board is answered STATION ERR hsm and
# the server carries on; a request inside the back-off fails at once without
# touching the token; the next one after it logs in again (a second C_Login,
# counted), proves the CA key and is issued. Then a signature that never comes
# back: the watchdog (hsm.sign_timeout) answers hsm-timeout, the server signs
# nothing more but keeps answering, and stops cleanly. Nothing of a fault is
# journaled; the journal verifies (the refusal answered while the token hung
# has no seal: verify names it, and the next start cuts it).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serial_lib.sh"
SLOW=$(dirname "$STATION")/../tests/libslow_token.so
[ -f "$SLOW" ] || { echo "slow_token module not built at $SLOW"; exit 1; }
make_pki
export SLOW_TOKEN_MODULE=$SOFTHSM_MODULE SLOW_TOKEN_CONTROL=$WORK/control
export SLOW_TOKEN_COUNT=$WORK/signatures SLOW_TOKEN_LOGINS=$WORK/logins
sed -e "s|module: .*|module: $SLOW|" -e "s|  pin: env:STATION_TEST_PIN|  pin: env:STATION_TEST_PIN\n  sign_timeout: 1|" \
  "$WORK/station.yaml" >"$WORK/slow.yaml"
export STATION_CONFIG=$WORK/slow.yaml
P=$PORTS/ttyBOARD0

# the second C_Sign (the first certificate; the first is the key proof at login) fails
echo "session-closed 1 1" >"$WORK/control"
: >"$WORK/logins"
run_sim "session closed, then back" --board err:hsm,err:hsm,sleep:1300,csr,csr -- "$STATION" serial
check "the server logged in again after the back-off (2 C_Login calls)" test "$(grep -c . "$WORK/logins")" = 2
check "the station log says it logged in again and the token is back" \
  sh -c "grep -q 'logging in to token station again' '$PORTS/station.log' && grep -q 'token station is back' '$PORTS/station.log'"
check "the request inside the back-off did not touch the token" grep -q 'logs in again in' "$PORTS/station.log"
check "two certificates journaled after the fault, no record of the faults" \
  sh -c "[ $(journal_count issued "$P") = 2 ] && [ $(journal_count refused "$P") = 0 ]"
check "journal verify passes" "$STATION" journal verify

# the fourth C_Sign of the next run hangs (the key proof, the first certificate
# and its commit's seal came back): the watchdog answers, the server goes on
# answering (a refusal needs no signature)
echo "hang 3" >"$WORK/control"
run_sim "a signature that never comes back" --board csr,err:hsm-timeout,err:hsm-timeout,wrong-factory \
  -- "$STATION" serial
echo ok >"$WORK/control"
check "the server said it signs nothing more until restarted" grep -q 'signs nothing more until restarted' "$PORTS/station.log"
check "three certificates journaled for the port in all" test "$(journal_count issued "$P")" = 3
# the refusal answered while the token hung was journaled without a seal: not trusted, cut at the next start
check "journal verify after the hang: the refusal made without the token is unsealed (exit 1)" sh -c "
  ! '$STATION' journal verify >'$WORK/hang-verify.out' && grep -q '^reason: journal-unsealed\$' '$WORK/hang-verify.out'"
mkdir -p "$WORK/empty/csr"
check "the next start cuts it and says so" sh -c "'$STATION' sign '$WORK/empty' 2>&1 | grep -q 'cut 1 record'"
check "journal verify passes after that" "$STATION" journal verify
finish
