#!/usr/bin/env bash
# End-to-end: what matters stays findable in the console at 80x24. A wrong
# PIN early, then a stick of 5000 CSRs with 3 refusals (another factory): at
# the end the event log (500 lines) no longer holds the wrong PIN, but the
# problem list (Tab) holds it, the 3 refusals and the batch; a refusal cut at
# the screen's edge opens whole (Up, Enter); Esc closes; a device id, a file
# name and a serial are looked up in the journal (/), and the answer stays
# until a key. F1 opens the help naming the installed guide, F10 asks to quit.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/console_lib.sh"
MAKE_CSRS=$(dirname "$STATION")/../tests/bench/make_csrs
[ -x "$MAKE_CSRS" ] || { echo "make_csrs not built at $MAKE_CSRS"; exit 1; }
make_pki
MEDIA=$WORK/media
mkdir -p "$MEDIA" "$WORK/prep/big/csr" "$WORK/prep/bad"
sed 's/^  pin: env:STATION_TEST_PIN$/  pin: prompt/' "$WORK/station.yaml" >"$WORK/console.yaml"
printf 'intake:\n  usb: [%s]\n' "$MEDIA" >>"$WORK/console.yaml"
"$MAKE_CSRS" "$WORK/prep/big/csr" 4997 "$FACTORY"
"$MAKE_CSRS" "$WORK/prep/bad" 3 other-factory
for f in "$WORK/prep/bad"/*.csr; do mv "$f" "$WORK/prep/big/csr/other-$(basename "$f")"; done

start_console 80 24 TERM=tmux-256color
check "the PIN prompt comes up" wait_for "Unlock the station"
check "no key bar under the PIN prompt" sh -c "! tmux -S '$TMUX_SOCK' capture-pane -p -t console | grep -q 'F10/q quit'"
keys 0000 Enter
check "a wrong PIN is refused" wait_for "The HSM refused the PIN. (hsm-pin)"
keys "$TEST_PIN" Enter
check "the right PIN logs in" wait_for "station: logged in"
check "the key bar is back with F1 and F10" wait_for "F1 help  F10/q quit"
mv "$WORK/prep/big" "$MEDIA/big"
check "the stick is seen: 5000 CSRs, 3 refused" wait_for "5000 CSRs, 3 will be refused" 60
keys s
wait_for "Sign 5000 CSRs" >/dev/null
keys y
check "the batch finishes" wait_for "issued 4997 (new 4997, before 0), refused 3" 240
check "a large red banner says it is done with 3 refused" wait_for "DONE, 3 REFUSED  $MEDIA/big: safe to remove"
check "the terminal's bell rang" test "$(T display-message -p -t console '#{window_bell_flag}')" = 1
[ -z "${CONSOLE_CAPTURE:-}" ] || screen >"$CONSOLE_CAPTURE.banner"
keys End
check "a key takes the banner down" gone_from "DONE, 3 REFUSED"
check "the event log no longer holds the wrong PIN" sh -c "! tmux -S '$TMUX_SOCK' capture-pane -p -t console | grep -q 'login failed'"
keys Home
check "Home: the oldest line kept is a certificate, the login is gone from the event log" \
  sh -c "sleep 0.3; ! tmux -S '$TMUX_SOCK' capture-pane -p -t console | grep -q 'login failed'"
keys Tab
check "Tab: the problem list, with its count" wait_for "Problems and actions this shift:"
check "the wrong PIN is in it" wait_for "login failed: The HSM refused the PIN."
check "refusal 1 of 3 is in it" wait_for "refused  csr/other-000000.csr: wrong-factory"
check "refusal 2 of 3 is in it" wait_for "refused  csr/other-000001.csr: wrong-factory"
check "refusal 3 of 3 is in it" wait_for "refused  csr/other-000002.csr: wrong-factory"
check "the batch's start is in it" wait_for "signing stick $MEDIA/big"
check "the batch's outcome is in it" wait_for "batch done: $MEDIA/big: issued 4997"
[ -z "${CONSOLE_CAPTURE:-}" ] || screen >"$CONSOLE_CAPTURE.problems"
check "a refusal line is cut at 80 columns" sh -c "! tmux -S '$TMUX_SOCK' capture-pane -p -t console | grep -q 'signs for factory'"
keys Up
keys Enter
check "Enter opens the selected line whole" wait_for "(Esc closes)"
keys Escape
check "Esc closes it" gone_from "(Esc closes)"
# the third refusal, whole: Up from the newest line (batch done) is refusal 3
keys Escape
keys End
keys Up
keys Up
keys Enter
check "a refusal opened whole shows its full sentence" wait_for "signs for factory \"$FACTORY\""
[ -z "${CONSOLE_CAPTURE:-}" ] || screen >"$CONSOLE_CAPTURE.line"
keys Escape
keys Tab
check "Tab: back to the events" wait_for "Events (Tab: problems"

DEVICE=$(awk '$3 == "issued" {print $5; exit}' "$WORK/journal/journal.log")
SERIAL=$(openssl x509 -in "$(grep -l . "$MEDIA"/big/certs/*.pem | head -1)" -noout -serial | sed 's/serial=//' | tr A-F a-f)
keys /
check "/ opens the lookup" wait_for "Look up in the journal"
keys "$DEVICE" Enter
check "a device id: its record is found" wait_for "$DEVICE: 1 journal records"
check "with its serial" wait_for "issued  $DEVICE"
check "the answer stays up" sh -c "sleep 1.5; tmux -S '$TMUX_SOCK' capture-pane -p -t console | grep -qF '$DEVICE: 1 journal records'"
[ -z "${CONSOLE_CAPTURE:-}" ] || screen >"$CONSOLE_CAPTURE.lookup"
keys x
check "until a key" gone_from "$DEVICE: 1 journal records"
keys / other-000001 Enter
check "a file name: the refusal is found" wait_for "other-000001: 1 journal records"
check "with its reason" wait_for "wrong-factory"
keys x
keys / "$SERIAL" Enter
check "a serial: its record is found" wait_for "1 journal records"
keys x
keys / no-such-board Enter
check "an unknown name: nothing matches" wait_for "nothing in the journal matches"
keys x

keys F1
check "F1 opens the help" wait_for "Keys (any key closes this help)"
check "the help names the installed guide" wait_for "/usr/share/doc/station/docs/operator-guide.md"
keys Escape
check "Esc closes the help" gone_from "Keys (any key closes this help)"
keys F10
check "F10 asks to quit" wait_for "Quit the station console?"
keys Escape
check "Esc keeps it running" gone_from "Quit the station console?"
keys F10
wait_for "Quit the station console?" >/dev/null
keys y
check "quit: exit status 0" test "$(console_status)" = 0
T kill-session -t console 2>/dev/null || true
start_console 80 24 TERM=dumb
check "TERM=dumb: the console ends with an error status" test "$(console_status)" = 2
check "TERM=dumb: a clear sentence on stderr" grep -q 'cannot place text on the screen, so the console cannot be shown' "$WORK/console.err"
check "the guide is where the package installs it" \
  grep -q 'docs/ DESTINATION ${STATION_DOCDIR}/docs' "$(dirname "$0")/../../packaging/CPack.cmake"
check "no sanitizer report or crash" no_crash_report "$WORK/console.err"
check "the PIN is in no output" sh -c "! grep -qF '$TEST_PIN' '$WORK/console.err'"
finish
