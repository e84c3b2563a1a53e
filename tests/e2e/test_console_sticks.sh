#!/usr/bin/env bash
# End-to-end: every stick under the intake roots in the console's USB panel.
# `station console` in tmux, its token tests/pkcs11 slow_token in front of
# SoftHSM (15 ms per signature) so that a batch lasts long enough to insert
# a stick meanwhile. Two sticks in: both listed with their state, s asks
# which one; a third arrives during the batch: listed while the first is
# signed, s queues it, it is signed after the first; the one left waiting
# is signed alone (one stick: no question). After a restart the journal
# knows them: "signed before, nothing new". A stick removed leaves the list.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/console_lib.sh"
MAKE_CSRS=$(dirname "$STATION")/../tests/bench/make_csrs
SLOW=$(dirname "$STATION")/../tests/libslow_token.so
[ -x "$MAKE_CSRS" ] || { echo "make_csrs not built at $MAKE_CSRS"; exit 1; }
[ -f "$SLOW" ] || { echo "slow_token module not built at $SLOW"; exit 1; }
make_pki
MEDIA=$WORK/media
mkdir -p "$MEDIA" "$WORK/prep"
sed -e "s|module: .*|module: $SLOW|" "$WORK/station.yaml" >"$WORK/console.yaml"
printf 'intake:\n  usb: [%s]\n' "$MEDIA" >>"$WORK/console.yaml"
ENV="TERM=tmux-256color STATION_TEST_PIN=$TEST_PIN SLOW_TOKEN_MODULE=$SOFTHSM_MODULE SLOW_TOKEN_DELAY_MS=15"

# stick NAME N [BAD]: N good CSRs (and BAD of another factory), moved under the root.
stick() {
  mkdir -p "$WORK/prep/$1/csr"
  "$MAKE_CSRS" "$WORK/prep/$1/csr" "$2" "$FACTORY"
  [ -z "${3:-}" ] || { mkdir -p "$WORK/prep/$1/bad" && "$MAKE_CSRS" "$WORK/prep/$1/bad" "$3" other-factory; }
  [ -z "${3:-}" ] || for f in "$WORK/prep/$1/bad"/*.csr; do mv "$f" "$WORK/prep/$1/csr/other-$(basename "$f")"; done
  rm -rf "$WORK/prep/$1/bad"
  mv "$WORK/prep/$1" "$MEDIA/$1"
}
certs() { ls "$MEDIA/$1/certs" 2>/dev/null | wc -l; }

start_console 120 36 $ENV
check "the console logs in" wait_for "station: logged in"
check "no stick: the panel says it waits for one" wait_for "no stick: waiting for a stick"
stick one 700
check "stick one is listed with its count" wait_for "$MEDIA/one: 700 CSRs, 0 will be refused"
stick two 4 1
check "stick two is listed too, with its refusal" wait_for "$MEDIA/two: 5 CSRs, 1 will be refused: wrong-factory 1"
check "stick one is still listed" wait_for "$MEDIA/one: 700 CSRs"
[ -z "${CONSOLE_CAPTURE:-}" ] || screen >"$CONSOLE_CAPTURE.sticks"
keys s
check "two sticks wait: s asks which" wait_for "Which stick to sign?"
check "the chooser lists stick one" wait_for "1 $MEDIA/one"
check "the chooser lists stick two" wait_for "2 $MEDIA/two"
[ -z "${CONSOLE_CAPTURE:-}" ] || screen >"$CONSOLE_CAPTURE.choose"
keys Escape
check "Esc closes the chooser" gone_from "Which stick to sign?"
keys s
wait_for "Which stick to sign?" >/dev/null
keys 1
check "choosing 1 asks to sign stick one" wait_for "Sign 700 CSRs from $MEDIA/one"
keys y
check "stick one is being signed" wait_for "$MEDIA/one: signing"
stick three 3
check "a stick inserted during the batch is listed" wait_for "$MEDIA/three: 3 CSRs, 0 will be refused"
check "while stick one is still being signed" sh -c "tmux -S '$TMUX_SOCK' capture-pane -p -t console | grep -qF '$MEDIA/one: signing'"
keys s
check "s during the batch asks which of the two waiting" wait_for "Which stick to sign?"
check "the chooser offers stick two" wait_for "1 $MEDIA/two"
check "and stick three" wait_for "2 $MEDIA/three"
check "not the stick being signed" sh -c "! tmux -S '$TMUX_SOCK' capture-pane -p -t console | grep -qF '$MEDIA/one  '"
keys 2
check "choosing 2 asks for stick three, saying it is queued" wait_for "this stick is queued after it"
keys y
check "stick three is shown queued" wait_for "$MEDIA/three: queued: signed after the batch in progress"
check "the queue is said in the answer line" wait_for "stick $MEDIA/three queued"
check "stick one finishes: safe to remove" wait_for "$MEDIA/one: safe to remove" 60
check "stick three is signed after it: safe to remove" wait_for "$MEDIA/three: safe to remove" 30
check "stick one: all 700 certificates" test "$(certs one)" = 700
check "stick three: 3 certificates" test "$(certs three)" = 3
check "stick two was not touched" test ! -e "$MEDIA/two/certs"
check "stick two still waits" wait_for "$MEDIA/two: 5 CSRs, 1 will be refused"
keys s
check "one stick waits: s asks for it at once" wait_for "Sign 5 CSRs from $MEDIA/two"
keys y
check "stick two: safe to remove" wait_for "$MEDIA/two: safe to remove"
check "stick two: 4 certificates, 1 refusal note" test "$(certs two)-$(ls "$MEDIA/two/rejected" | wc -l)" = 4-1
keys s
check "nothing waits: s says so, and the answer stays" wait_for "s: no stick waits to be signed"
quit_console
check "quit: exit status 0" test "$(console_status)" = 0
T kill-session -t console 2>/dev/null || true

# a restart: the journal knows every stick, and the shift's counters come from it
printf 'console:\n  shifts: ["00:00"]\n' >>"$WORK/console.yaml"
start_console 120 36 $ENV
check "after a restart: the shift's counters come from the journal" \
  wait_for "issued 707 this shift, 707 total   refused 1 this shift, 1 total   (shift since 00:00)"

check "after a restart: stick one is signed before" wait_for "$MEDIA/one: signed before, nothing new: 700 CSRs"
check "after a restart: stick two is signed before (its refusal still foreseen)" \
  wait_for "$MEDIA/two: signed before, nothing new: 5 CSRs, 1 will be refused"
check "after a restart: stick three is signed before" wait_for "$MEDIA/three: signed before, nothing new: 3 CSRs"
rm -rf "$MEDIA/one"
check "a stick removed: the log says so" wait_for "stick $MEDIA/one removed"
check "a stick removed: it leaves the list" gone_from " $MEDIA/one: signed before"
keys s
check "s asks which of the two signed-before sticks" wait_for "Which stick to sign?"
check "the chooser offers stick three" wait_for " $MEDIA/three"
keys "$(screen | grep -o "[1-9] $MEDIA/three" | cut -c1)"
check "signing a stick signed before says nothing new is signed" wait_for "Signed before: its certificates come back"
keys y
check "it is done at once: safe to remove" wait_for "$MEDIA/three: safe to remove"
check "handed back, no new signature" wait_for "issued 3 (new 0, before 3)"
quit_console
check "quit: exit status 0" test "$(console_status)" = 0
check "no sanitizer report or crash" no_crash_report "$WORK/console.err"
check "the journal verifies" env SLOW_TOKEN_MODULE="$SOFTHSM_MODULE" "$STATION" -c "$WORK/console.yaml" journal verify

# UTF-8 names show as text on a UTF-8 terminal; only bytes that are not UTF-8 are escaped
T kill-session -t console 2>/dev/null || true
start_console 120 36 $ENV LANG=C.UTF-8 LC_ALL=C.UTF-8
check "UTF-8: the console logs in" wait_for "station: logged in"
stick "größe" 1
mkdir -p "$WORK/prep/bad/csr"; mv "$WORK/prep/bad" "$MEDIA/bad$(printf '\377')x"
check "UTF-8: a stick named größe shows as text" wait_for "$MEDIA/größe: 1 CSRs, 0 will be refused"
check "UTF-8: a name with a byte that is not UTF-8 shows it escaped" wait_for "$MEDIA/bad\\xffx:"
keys q
wait_for "Quit the station console?" >/dev/null
keys y
check "UTF-8: quit, exit status 0" test "$(console_status)" = 0
rm -rf "$MEDIA/bad$(printf '\377')x"

# console.shifts is checked like every key
cp "$WORK/console.yaml" "$WORK/bad.yaml"
printf '  shifts: ["14:00", "06:00"]\n' >"$WORK/shifts.tail"
sed -i '$d' "$WORK/bad.yaml"; cat "$WORK/shifts.tail" >>"$WORK/bad.yaml"
check "console.shifts out of order: refused with file:line:column" \
  sh -c "! '$STATION' -c '$WORK/bad.yaml' journal verify 2>'$WORK/bad.err' && grep -q 'bad.yaml:[0-9]*:[0-9]*: console.shifts\[1\]: expected a time after the one before it' '$WORK/bad.err'"
sed -i '$d' "$WORK/bad.yaml"; printf '  shifts: ["25:00"]\n' >>"$WORK/bad.yaml"
check "console.shifts 25:00: refused" \
  sh -c "! '$STATION' -c '$WORK/bad.yaml' journal verify 2>'$WORK/bad.err' && grep -q 'expected a local time \"HH:MM\" from 00:00 to 23:59' '$WORK/bad.err'"
finish
