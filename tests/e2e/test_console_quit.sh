#!/usr/bin/env bash
# End-to-end: quitting the console while it writes a stick. `station console`
# in tmux, its token tests/pkcs11 slow_token in front of SoftHSM (10 ms per
# signature, as a USB HSM), sticks of 800 CSRs made by tests/bench make_csrs.
#   (A) q at about 20% of a batch: the console asks, saying how many
#       certificates are still to write; y finishes the batch: the console
#       stays on screen ("finishing: N certificates to write"), then shows the
#       stick's "safe to remove"; the terminal comes back only once every
#       certificate is on the stick, and nothing on the stick changes after.
#   (B) q then g at about 20% (TERM=vt100, monochrome): the batch stops after
#       its group; the console says how many CSRs were left and that the stick
#       is safe to remove before it leaves; `station sign` then signs the rest,
#       with no CSR signed twice.
#   (C) SIGTERM during a batch (systemd stopping the kiosk): the same stop
#       after the group, exit status 0.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/console_lib.sh"
MAKE_CSRS=$(dirname "$STATION")/../tests/bench/make_csrs
SLOW=$(dirname "$STATION")/../tests/libslow_token.so
[ -x "$MAKE_CSRS" ] || { echo "make_csrs not built at $MAKE_CSRS"; exit 1; }
[ -f "$SLOW" ] || { echo "slow_token module not built at $SLOW"; exit 1; }
make_pki
N=800
MEDIA=$WORK/media
mkdir -p "$MEDIA" "$WORK/prep"
sed -e "s|module: .*|module: $SLOW|" "$WORK/station.yaml" >"$WORK/console.yaml"
printf 'intake:\n  usb: [%s]\n' "$MEDIA" >>"$WORK/console.yaml"
: >"$WORK/signatures"
ENV="TERM=tmux-256color STATION_TEST_PIN=$TEST_PIN SLOW_TOKEN_MODULE=$SOFTHSM_MODULE SLOW_TOKEN_DELAY_MS=10 \
SLOW_TOKEN_COUNT=$WORK/signatures"

# big_stick NAME: a stick of $N good CSRs, moved under the intake root.
big_stick() {
  mkdir -p "$WORK/prep/$1/csr"
  "$MAKE_CSRS" "$WORK/prep/$1/csr" "$N" "$FACTORY"
  mv "$WORK/prep/$1" "$MEDIA/$1"
}
# certs NAME: certificates on the stick.
certs() { ls "$MEDIA/$1/certs" 2>/dev/null | wc -l; }
# listing NAME: every file on the stick with its size and modification time.
listing() { find "$MEDIA/$1" -printf '%P %s %T@\n' | sort; }
# at_percent P NAME: waits (60 s) until P% of the stick's certificates are on it.
at_percent() {
  local i
  for i in $(seq 1 600); do [ "$(certs "$2")" -lt $(($N * $1 / 100)) ] || return 0; sleep 0.1; done
  echo "the batch did not reach $1%"; screen; return 1
}
# ui_gone S: true once the console's screen is gone from the terminal (the
# shell has it back); at that moment the stick's listing goes to $WORK/at-exit.
ui_gone() {
  local i
  for i in $(seq 1 $(($1 * 20))); do
    if ! screen | grep -q "STATION .* factory"; then listing "$STICK" >"$WORK/at-exit"; return 0; fi
    sleep 0.05
  done
  echo "the console is still on screen after $1 s"; screen; return 1
}
sign_big() {
  check "$1: the stick is seen with its $N CSRs" wait_for "$STICK: $N CSRs, 0 will be refused" 60
  keys s
  check "$1: s asks to sign it" wait_for "Sign $N CSRs"
  keys y
  check "$1: the batch is at 20%" at_percent 20 "$STICK"
}

# --- (A) q, y at 20%: finish the batch, then leave
STICK=stickA
start_console 100 30 $ENV
check "A: the console logs in" wait_for "station: logged in"
big_stick stickA
sign_big A
keys q
check "A: q asks, saying how many certificates are still to write" wait_for "Quit the station console? finishing:"
check "A: y finishes the batch, g stops after this group" wait_for "y: finish the batch, then quit   g: stop after this group?"
keys y
check "A: the console stays: finishing, do not remove the stick" wait_for "Quitting: finishing:"
check "A: still running while certificates are written" test ! -e "$WORK/console.status"
check "A: the batch was not finished when y was pressed" test "$(certs stickA)" -lt "$N"
check "A: the stick's safe to remove is shown before the console leaves" wait_for "stickA: safe to remove" 60
check "A: and that it closes" wait_for "All written. The console closes"
[ -z "${CONSOLE_CAPTURE:-}" ] || screen >"$CONSOLE_CAPTURE.quit"
check "A: the terminal comes back" ui_gone 20
check "A: then every certificate is on the stick ($N)" sh -c "test \$(grep -c '^certs/.*\\.pem ' '$WORK/at-exit') = $N"
check "A: exit status 0" test "$(console_status 20)" = 0
listing stickA >"$WORK/after-exit"
check "A: nothing on the stick changed after the console left" cmp "$WORK/at-exit" "$WORK/after-exit"
check "A: no temporary file left on the stick" sh -c "! grep -q '\\.tmp' '$WORK/after-exit'"
check "A: no sanitizer report or crash" no_crash_report "$WORK/console.err"
T kill-session -t console 2>/dev/null || true

# --- (B) q, g at 20% on a monochrome terminal: stop after this group
STICK=stickB
rm -rf "$MEDIA/stickA" # pulled out
start_console 80 24 ${ENV/TERM=tmux-256color/TERM=vt100}
check "B: the console logs in" wait_for "station: logged in"
big_stick stickB
sign_big B
keys q
check "B: q offers to stop after this group" wait_for "g: stop after this group?"
keys g
check "B: the console stays and says it stops after this group" wait_for "Quitting: stopping after this group"
check "B: it says the stick is safe to remove and how many CSRs were left" wait_for "CSRs left" 30
[ -z "${CONSOLE_CAPTURE:-}" ] || screen >"$CONSOLE_CAPTURE.stop"
check "B: the terminal comes back" ui_gone 20
check "B: exit status 0" test "$(console_status 20)" = 0
done_b=$(grep -c '^certs/.*\.pem ' "$WORK/at-exit" || true)
echo "       B: $done_b of $N certificates on the stick when the console left"
check "B: the batch stopped part-way ($done_b of $N)" test "$done_b" -gt 0 -a "$done_b" -lt "$N"
check "B: a whole number of groups (256) was written" test $((done_b % 256)) = 0
listing stickB >"$WORK/after-exit"
check "B: nothing on the stick changed after the console left" cmp "$WORK/at-exit" "$WORK/after-exit"
check "B: the journal holds exactly what is on the stick" \
  test "$(awk -v d="$MEDIA/stickB/" '$3 == "issued" && index($4, d)' "$WORK/journal/journal.log" | wc -l)" = "$done_b"
check "B: station sign signs the rest" env SLOW_TOKEN_MODULE=$SOFTHSM_MODULE "$STATION" -q -c "$WORK/console.yaml" \
  sign "$MEDIA/stickB"
check "B: then all $N certificates are on the stick" test "$(certs stickB)" = "$N"
check "B: no CSR signed twice" test "$(awk '$3 == "issued" {print $6}' "$WORK/journal/journal.log" | sort | uniq -d | wc -l)" = 0
T kill-session -t console 2>/dev/null || true

# --- (C) SIGTERM during a batch
STICK=stickC
rm -rf "$MEDIA/stickB"
start_console 100 30 $ENV
check "C: the console logs in" wait_for "station: logged in"
big_stick stickC
sign_big C
PANE=$(T list-panes -t console -F '#{pane_pid}')
PID=$(pgrep -P "$PANE" -x station)
kill -TERM "$PID"
check "C: SIGTERM: the console stays until the group is written" wait_for "Quitting: stopping after this group"
check "C: the terminal comes back" ui_gone 30
check "C: exit status 0" test "$(console_status 20)" = 0
done_c=$(grep -c '^certs/.*\.pem ' "$WORK/at-exit" || true)
check "C: the batch stopped at a group boundary ($done_c of $N)" test $((done_c % 256)) = 0 -a "$done_c" -lt "$N"
listing stickC >"$WORK/after-exit"
check "C: nothing on the stick changed after the console left" cmp "$WORK/at-exit" "$WORK/after-exit"
check "the journal verifies" env SLOW_TOKEN_MODULE="$SOFTHSM_MODULE" "$STATION" -c "$WORK/console.yaml" journal verify
check "the PIN is in no output" sh -c "! grep -qF '$TEST_PIN' '$WORK/console.err'"
finish
