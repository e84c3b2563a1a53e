#!/usr/bin/env bash
# End-to-end: locking the console during a batch. `station console` in tmux,
# its token tests/pkcs11 slow_token in front of SoftHSM (15 ms per signature),
# a stick of 1000 CSRs. l at about 20%: the console says it locks after the
# batch in progress; the batch finishes (every certificate on the stick),
# then the console locks (PIN prompt); no warning or error is logged on the
# way (no head that cannot be written to the token), and the journal
# verifies. The PIN unlocks.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/console_lib.sh"
MAKE_CSRS=$(dirname "$STATION")/../tests/bench/make_csrs
SLOW=$(dirname "$STATION")/../tests/libslow_token.so
[ -x "$MAKE_CSRS" ] || { echo "make_csrs not built at $MAKE_CSRS"; exit 1; }
[ -f "$SLOW" ] || { echo "slow_token module not built at $SLOW"; exit 1; }
make_pki
N=1000
MEDIA=$WORK/media
mkdir -p "$MEDIA" "$WORK/prep/big/csr"
sed -e "s|module: .*|module: $SLOW|" -e 's/^  pin: env:STATION_TEST_PIN$/  pin: prompt/' "$WORK/station.yaml" >"$WORK/console.yaml"
printf 'intake:\n  usb: [%s]\n' "$MEDIA" >>"$WORK/console.yaml"
"$MAKE_CSRS" "$WORK/prep/big/csr" "$N" "$FACTORY"
certs() { ls "$MEDIA/big/certs" 2>/dev/null | wc -l; }

start_console 100 30 TERM=tmux-256color SLOW_TOKEN_MODULE=$SOFTHSM_MODULE SLOW_TOKEN_DELAY_MS=15
check "the PIN prompt comes up" wait_for "Unlock the station"
keys "$TEST_PIN" Enter
check "the PIN logs in" wait_for "station: logged in"
mv "$WORK/prep/big" "$MEDIA/big"
check "the stick is seen" wait_for "$N CSRs, 0 will be refused" 60
keys s
wait_for "Sign $N CSRs" >/dev/null
keys y
for i in $(seq 1 600); do [ "$(certs)" -lt $((N / 5)) ] || break; sleep 0.1; done
check "the batch is under way" test "$(certs)" -ge $((N / 5)) -a "$(certs)" -lt "$N"
keys l
check "l during a batch: the console locks after it" wait_for "locking after the batch in progress"
check "the batch goes on to the end" wait_for "issued $N (new $N, before 0), refused 0" 120
check "every certificate is on the stick" test "$(certs)" = "$N"
check "then the console locks: the PIN prompt" wait_for "Unlock the station"
check "the Token line says LOCKED" wait_for "LOCKED (not logged in)"
keys Tab
check "the problem list names the lock" wait_for "locked: logged out of token station"
check "no warning or error was logged (no head write to a locked token)" \
  sh -c "! tmux -S '$TMUX_SOCK' capture-pane -p -t console | grep -E 'warning|error:|C_CreateObject'"
keys "$TEST_PIN" Enter
check "the PIN unlocks" wait_for "station: logged in"
quit_console
check "quit: exit status 0" test "$(console_status)" = 0
check "no warning on stderr either" sh -c "! grep -iE 'warning|C_CreateObject' '$WORK/console.err'"
check "no sanitizer report or crash" no_crash_report "$WORK/console.err"
sed 's/^  pin: prompt$/  pin: env:STATION_TEST_PIN/' "$WORK/console.yaml" >"$WORK/verify.yaml"
check "the journal verifies" env SLOW_TOKEN_MODULE="$SOFTHSM_MODULE" "$STATION" -c "$WORK/verify.yaml" journal verify
finish
