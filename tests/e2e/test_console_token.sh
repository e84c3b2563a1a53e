#!/usr/bin/env bash
# End-to-end: the console's Token line when the token is pulled out and put
# back. `station console` in tmux, its token tests/pkcs11 slow_token
# in front of SoftHSM. A stick is signed; the token is pulled out ("unplugged");
# the next stick's batch stops and the status panel's Token line turns to
# "FAILED (hsm) - check it is plugged in; the station logs in again by itself",
# the event log names the fault; the token is put back and, after the
# back-off, a stick is signed again: the Token line says "logged in", the log
# says the token is back, the certificates verify, the journal verifies.
# Skipped (77) without tmux.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serial_lib.sh"
. "$(dirname "$0")/console_lib.sh"
SLOW=$(dirname "$STATION")/../tests/libslow_token.so
[ -f "$SLOW" ] || { echo "slow_token module not built at $SLOW"; exit 1; }
make_pki
C=$WORK/control
echo ok >"$C"
MEDIA=$WORK/media
mkdir -p "$MEDIA" "$WORK/prep"
sed -e "s|module: .*|module: $SLOW|" "$WORK/station.yaml" >"$WORK/console.yaml"
cat >>"$WORK/console.yaml" <<YAML
intake:
  usb: [$MEDIA]
YAML
sign_stick() { # NAME COUNT: s, then y at the confirmation
  keys s
  wait_for "Sign $2 CSRs" >/dev/null
  keys y
}

start_console 120 32 TERM=tmux-256color SLOW_TOKEN_MODULE=$SOFTHSM_MODULE SLOW_TOKEN_CONTROL=$C \
  STATION_TEST_PIN=$TEST_PIN
check "the console logs in through the test token" wait_for "station: logged in"
make_stick stick1 2
check "a first stick is seen" wait_for "2 CSRs, 0 will be refused"
sign_stick stick1 2
check "it is signed" wait_for "issued 2 (new 2, before 0)"

echo unplugged >"$C"
make_stick stick2 3
check "a second stick is seen" wait_for "3 CSRs, 0 will be refused"
sign_stick stick2 3
check "the batch stops on the token" wait_for "batch stopped"
check "the Token line says the token failed and what to do" \
  wait_for "station: FAILED (hsm) - check it is plugged in; the station logs in again by itself"
check "the event log names the token's fault" wait_for "token station failed (hsm)"
check "nothing of the stopped batch is on the stick" test "$(ls "$MEDIA/stick2/certs" 2>/dev/null | wc -l)" = 0
[ -z "${CONSOLE_CAPTURE:-}" ] || screen >"$CONSOLE_CAPTURE.token"

echo ok >"$C"
sleep 1.2 # the first back-off: 1 s
sign_stick stick2 3
check "the token back: the stick signs" wait_for "issued 3 (new 3, before 0)"
check "the event log says the token is back" wait_for "token station is back"
check "the Token line says logged in again" wait_for "station: logged in"
check "its three certificates verify with openssl" certs_verify "$MEDIA/stick2/certs" 3
quit_console
check "q then y quits with exit status 0" test "$(console_status)" = 0
check "no sanitizer report or crash on the console's stderr" no_crash_report "$WORK/console.err"
check "the PIN is in no output" sh -c "! grep -qF '$TEST_PIN' '$WORK/console.err'"
check "the journal verifies" env SLOW_TOKEN_MODULE="$SOFTHSM_MODULE" "$STATION" -c "$WORK/console.yaml" journal verify
finish
