#!/usr/bin/env bash
# End-to-end: the operator console (`station console`) driven in tmux as an
# operator would: the PIN typed at its prompt (a wrong one first), the status
# panel, a stick moved under an intake root and its batch count, s/y signing
# it (certificates on the stick checked with openssl, "safe to remove"), a
# simulated board on a pty served while the console runs, l lock and unlock,
# ? help, e export (csv + .sig checked with openssl), a board while locked
# (shown "locked" in normal colour, not as a fault), a resize, a monochrome
# terminal, q/y quit with exit status 0.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serial_lib.sh"
. "$(dirname "$0")/console_lib.sh"
make_pki
MEDIA=$WORK/media
mkdir -p "$MEDIA" "$WORK/prep"
sed 's/^  pin: env:STATION_TEST_PIN$/  pin: prompt/' "$WORK/station.yaml" >"$WORK/console.yaml"
cat >>"$WORK/console.yaml" <<YAML
intake:
  usb: [$MEDIA]
  serial:
    - port: $PORTS/ttyBOARD0
YAML
# a stick prepared elsewhere with good and bad CSRs (console_lib's make_stick has only good ones)
make_stick() {
  local dir=$WORK/prep/$1 i; shift
  mkdir -p "$dir/csr"
  for i in $(seq 1 "$1"); do
    make_key "$WORK/prep/k$i.key"
    make_csr "$dir/csr/board-$i.csr" "$WORK/prep/k$i.key" "$(device_subject "$(uuid)")"
  done
  make_key "$WORK/prep/bad.key"
  make_csr "$dir/csr/other.csr" "$WORK/prep/bad.key" "/CN=$(uuid)/OU=other-factory"
  echo "not a CSR" >"$dir/csr/junk.csr"
}

start_console 100 30 TERM=tmux-256color
check "the PIN prompt comes up" wait_for "Unlock the station: PIN of HSM token \"station\""
check "nothing is signed before login" test "$(awk '$3 == "issued"' "$WORK/journal/journal.log" 2>/dev/null | wc -l)" = 0
keys 0000 Enter
check "a wrong PIN: the refusal is shown" wait_for "The HSM refused the PIN. (hsm-pin)"
check "a wrong PIN: asked again" wait_for "Wrong PIN: type it again"
check "a wrong PIN: the token's detail, not the PIN" wait_for "token station refused the PIN"
[ -z "${CONSOLE_CAPTURE:-}" ] || screen >"$CONSOLE_CAPTURE.pin"
check "the PIN is never shown" sh -c "! tmux -S '$TMUX_SOCK' capture-pane -p -t console | grep -q 0000"
keys "$TEST_PIN" Enter
check "the right PIN logs in" wait_for "station: logged in"
check "status: factory" wait_for "factory $FACTORY"
check "status: CA CN and expiry" wait_for "fio-0123456789abcdef  expires $(openssl x509 -in "$WORK/pki/local-ca.pem" -noout -enddate | sed 's/notAfter=//' | xargs -I{} date -u -d {} +%Y-%m-%d)"
check "status: the CA key matches" wait_for "key matches"
check "status: journal records and last verify" wait_for "records  last verify"
check "status: counters" wait_for "issued 0 this shift, 0 total"
check "ports panel: the configured port" wait_for "$PORTS/ttyBOARD0"
check "ports panel: the port is in error while no board is there" wait_for "error"

make_stick stick1 5
mv "$WORK/prep/stick1" "$MEDIA/stick1"
check "a stick moved under the root is seen, with its count and predicted refusals" \
  wait_for "7 CSRs, 2 will be refused"
check "the refusal reasons are named before signing" wait_for "wrong-factory 1"
check "nothing written on the stick before s" test ! -e "$MEDIA/stick1/certs"
keys s
check "s asks for confirmation" wait_for "Sign 7 CSRs from $MEDIA/stick1"
keys y
check "the batch finishes: safe to remove" wait_for "safe to remove"
check "the summary: issued 5, refused 2" wait_for "issued 5 (new 5, before 0), refused 2"
check "five certificates on the stick" test "$(ls "$MEDIA/stick1/certs" | wc -l)" = 5
check "each verifies as a client certificate to the factory root" \
  sh -c "for f in '$MEDIA'/stick1/certs/*.pem; do openssl verify -x509_strict -purpose sslclient -CAfile '$WORK/pki/factory_ca.pem' -untrusted '$WORK/pki/local-ca.pem' \"\$f\" || exit 1; done"
check "two rejection notes" test "$(ls "$MEDIA/stick1/rejected" | wc -l)" = 2
check "the event log shows a refusal with its reason" wait_for "refused  csr/other.csr: wrong-factory"
check "counters after the batch" wait_for "issued 5 this shift, 5 total   refused 2 this shift, 2 total"

# a board on a pty while the console runs
"$BOARD_SIM" --factory "$FACTORY" --root "$WORK/pki/factory_ca.pem" --dir "$PORTS" --port-args no \
  --board sleep:1500,csr -- /bin/sh -c 'trap "exit 0" TERM; while :; do sleep 0.1; done' >"$WORK/sim.out" 2>&1 || true
# the pty is gone: its name may go to another program's pty, which the console must not open
rm -f "$PORTS/ttyBOARD0"
check "the board got its certificate" grep -q "^ok   - " "$WORK/sim.out"
check "the board saw no failure" sh -c "! grep -q '^FAIL' '$WORK/sim.out'"
check "the port's answer shows live: OK and the serial first" \
  wait_for "OK  $(awk '$3 == "issued" && $4 ~ /^serial:/ {print $8 "  last"}' "$WORK/journal/journal.log" | tail -1)"
check "the serial issue is in the event log" wait_for "ttyBOARD0"
check "the board's certificate counts in the shift" wait_for "issued 6 this shift"

keys '?'
check "? shows every key" wait_for "Keys (any key closes this help)"
check "help names the lock key" wait_for "lock: log out of the token"
keys x
check "any key closes the help" gone_from "Keys (any key closes this help)"

keys e
check "e exports the journal to the stick" wait_for "journal exported"
CSV=$(ls "$MEDIA"/stick1/station-journal-*.csv 2>/dev/null | head -1)
check "the export and its .sig are on the stick" test -s "$CSV" -a -s "$CSV.sig"
STATION_TEST_PIN=$TEST_PIN "$STATION" journal key >"$WORK/journal-key.pem" 2>/dev/null || true
check "the export's signature verifies with openssl" \
  openssl dgst -sha256 -verify "$WORK/journal-key.pem" -signature "$CSV.sig" "$CSV"
check "the export lists the batch" test "$(grep -c ',issued,' "$CSV")" -ge 6
check "the export's manifest verifies with openssl" \
  openssl dgst -sha256 -verify "$WORK/journal-key.pem" -signature "$CSV.manifest.json.sig" "$CSV.manifest.json"
check "the manifest names the export's SHA-256" grep -q "\"sha256\": \"$(sha256sum "$CSV" | cut -d' ' -f1)\"" "$CSV.manifest.json"
check "journal verify --export accepts the console's export (complete)" \
  sh -c "'$STATION' journal verify --export '$CSV' --key '$WORK/journal-key.pem' | grep -q '^scope: complete'"

keys l
check "l locks: the PIN prompt is back" wait_for "Unlock the station"
check "locked: the status says so" wait_for "LOCKED"
"$BOARD_SIM" --factory "$FACTORY" --root "$WORK/pki/factory_ca.pem" --dir "$PORTS" --port-args no --wait 10 \
  --board sleep:1500,csr -- /bin/sh -c 'trap "exit 0" TERM; while :; do sleep 0.1; done' >"$WORK/sim-locked.out" 2>&1 || true
rm -f "$PORTS/ttyBOARD0"
check "locked: a board's new CSR is answered hsm-pin, nothing signed" grep -q "hsm-pin" "$WORK/sim-locked.out"
keys "$TEST_PIN" Enter
check "the PIN unlocks" wait_for "station: logged in"
# locked_line: the event-log line of the board's request while locked, with its colours (tmux capture-pane -e)
locked_line() { T capture-pane -p -e -t console | grep -F 'hsm-pin' | grep -F 'locked: '; }
T resize-window -t console -x 200 -y 50
check "locked: the board's request is shown as locked in the event log" \
  wait_for "locked: $PORTS/ttyBOARD0: answered hsm-pin; the board asks again after unlock"
check "... in normal colour, not bold or red like a fault" \
  sh -c "$(declare -f locked_line T); TMUX_SOCK='$TMUX_SOCK'; l=\$(locked_line) && [ -n \"\$l\" ] && ! printf '%s' \"\$l\" | grep -qE \$'\\e\\\\[([0-9;]*;)?(1|31|91)(;[0-9;]*)?m'"

T resize-window -t console -x 80 -y 24
check "after a resize to 80x24 the key line shows" wait_for "q quit"
check "... within 24 lines" test "$(tmux -S "$TMUX_SOCK" capture-pane -p -t console | wc -l)" -le 24
for t in 'Token' 'Serial ports' 'USB batch' 'Events'; do
  check "80x24: the $t panel still shows" wait_for "$t"
done
# CONSOLE_CAPTURE=FILE: keeps the 80x24 main screen (and FILE.pin the PIN prompt; docs/operator-guide.md)
[ -z "${CONSOLE_CAPTURE:-}" ] || screen >"$CONSOLE_CAPTURE"
T resize-window -t console -x 30 -y 8
check "a terminal too small says so" wait_for "Terminal too small"
T resize-window -t console -x 120 -y 40
check "after a resize to 120x40 too" wait_for "Events"

keys q
check "q asks for confirmation" wait_for "Quit the station console?"
keys n
check "any other key keeps it running" gone_from "Quit the station console?"
quit_console
check "q then y quits with exit status 0" test "$(console_status)" = 0
check "no sanitizer report or crash on the console's stderr" no_crash_report "$WORK/console.err"
check "the journal verifies after the console" env STATION_TEST_PIN=$TEST_PIN "$STATION" journal verify
T kill-session -t console 2>/dev/null || true

# monochrome: a terminal without colours
start_console 100 30 TERM=vt100
check "monochrome terminal: the PIN prompt comes up" wait_for "Unlock the station"
check "monochrome terminal: no colours used" wait_for "console started; monochrome"
keys Escape
check "Esc at the PIN prompt asks to quit" wait_for "Quit the station console?"
keys y
check "monochrome: quits with exit status 0" test "$(console_status)" = 0
finish
