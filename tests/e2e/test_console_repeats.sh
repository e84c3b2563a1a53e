#!/usr/bin/env bash
# End-to-end: a stick signed again counts its refusals as repeats, not as new
# refusals, in the console's shift counters, both from the journal at start
# and live. `station sign` signs a stick (4 good CSRs, 2 of another factory)
# twice (a fresh copy the second time): the journal holds 4 refusals of 2
# CSRs. `station console` (tmux) then says 2 refused this shift (+2 repeated)
# of 4 in total; a third copy signed from the console brings the repeats to
# 4 and the total to 6, and a new bad CSR counts as a new refusal.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/console_lib.sh"
MAKE_CSRS=$(dirname "$STATION")/../tests/bench/make_csrs
[ -x "$MAKE_CSRS" ] || { echo "make_csrs not built at $MAKE_CSRS"; exit 1; }
make_pki
MEDIA=$WORK/media
mkdir -p "$MEDIA" "$WORK/prep/master/csr" "$WORK/prep/bad"
cp "$WORK/station.yaml" "$WORK/console.yaml"
printf 'intake:\n  usb: [%s]\n' "$MEDIA" >>"$WORK/console.yaml"
"$MAKE_CSRS" "$WORK/prep/master/csr" 4 "$FACTORY"
"$MAKE_CSRS" "$WORK/prep/bad" 2 other-factory
for f in "$WORK/prep/bad"/*.csr; do mv "$f" "$WORK/prep/master/csr/other-$(basename "$f")"; done
copy_stick() { rm -rf "$WORK/prep/$1" && cp -r "$WORK/prep/master" "$WORK/prep/$1"; }

copy_stick first
check "the first signing: 4 issued, 2 refused" status_to 1 "$WORK/first.out" timeout 120 "$STATION" sign "$WORK/prep/first"
copy_stick second
check "the same stick again: 4 handed back, the 2 refused again" \
  status_to 1 "$WORK/second.out" timeout 120 "$STATION" sign "$WORK/prep/second"
check "the journal holds 4 refusals" test "$(awk '$3 == "refused"' "$WORK/journal/journal.log" | wc -l)" = 4

start_console 120 36 TERM=tmux-256color STATION_TEST_PIN=$TEST_PIN
check "the console logs in" wait_for "station: logged in"
check "from the journal: 2 refusals of the shift, 2 of them repeats, 4 in total" \
  wait_for "refused 2 this shift (+2 repeated), 4 total"
copy_stick third
mv "$WORK/prep/third" "$MEDIA/third"
check "the third copy is listed with its refusals" wait_for "$MEDIA/third: 6 CSRs, 2 will be refused"
keys s
check "s asks to sign it" wait_for "Sign 6 CSRs from $MEDIA/third"
keys y
check "the batch finishes" wait_for "safe to remove"
check "live: the 2 refusals count as repeats" wait_for "refused 2 this shift (+4 repeated), 6 total"
mkdir -p "$WORK/prep/fourth/csr"
"$MAKE_CSRS" "$WORK/prep/fourth/csr" 1 other-factory
mv "$WORK/prep/fourth" "$MEDIA/fourth"
check "a stick with a new bad CSR is listed" wait_for "$MEDIA/fourth: 1 CSRs, 1 will be refused"
keys s
wait_for "Sign 1 CSRs from $MEDIA/fourth" >/dev/null || wait_for "Which stick to sign?" >/dev/null
if screen | grep -q "Which stick to sign?"; then
  keys "$(screen | sed -n "s|.*\([0-9]\) $MEDIA/fourth.*|\1|p" | head -1)"
  wait_for "Sign 1 CSRs from $MEDIA/fourth" >/dev/null
fi
keys y
check "a new refusal counts as new" wait_for "refused 3 this shift (+4 repeated), 7 total"
quit_console
check "quit: exit status 0" test "$(console_status)" = 0
finish
