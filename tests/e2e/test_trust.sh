#!/usr/bin/env bash
# End-to-end: what an auditor relies on beyond the journal's own checks.
#   - Clones inside one batch: one key under two device ids, one device id with
#     two keys, neither issued before: every request of the clone is refused
#     (key-cloned, device-cloned), each note naming the other file; a
#     byte-identical CSR under two names is still signed once.
#   - Clones inside one serial turn: two boards sending one copied key while
#     the station signs for a third board: both refused, each naming the other port.
#   - Refused records keep the device id the CSR named (policy refusals and
#     refusals against earlier issuance), in the journal and in the export.
#   - The journal key's fingerprint printed by `ca show`, `selftest` and
#     `ca init` is what openssl computes from `station journal key`.
#   - `ca show` says the token is a software token and what that does not
#     protect against.
#   - A journal.log that is a symbolic link is refused by `journal verify`; a
#     stick whose csr/ is a symbolic link is told so.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serial_lib.sh"
make_pki
K=$WORK/keys
mkdir -p "$K"
J=$WORK/journal/journal.log

# --- clones in one batch
B=$WORK/stick
mkdir -p "$B/csr"
U1=$(uuid) U2=$(uuid) U3=$(uuid) U4=$(uuid) U5=$(uuid)
make_key "$K/copied.key"
make_csr "$B/csr/board-a.csr" "$K/copied.key" "$(device_subject "$U1")"
make_csr "$B/csr/board-b.csr" "$K/copied.key" "$(device_subject "$U2")"
make_csr "$B/csr/board-c.csr" "$K/copied.key" "$(device_subject "$U3")"
cp "$B/csr/board-a.csr" "$B/csr/board-a-again.csr"
make_key "$K/d1.key"
make_key "$K/d2.key"
make_csr "$B/csr/twin-1.csr" "$K/d1.key" "$(device_subject "$U4")"
make_csr "$B/csr/twin-2.csr" "$K/d2.key" "$(device_subject "$U4")"
make_key "$K/good.key"
make_csr "$B/csr/good.csr" "$K/good.key" "$(device_subject "$U5")"
cp "$B/csr/good.csr" "$B/csr/good-copy.csr"
check "a batch with clones: exit 1 (refusals)" expect_status 1 "$STATION" -q sign "$B"
# refused_naming NAME REASON OTHER: NAME has no certificate, its note gives REASON and names OTHER
refused_naming() {
  check "$1 refused as $2" sh -c "head -1 '$B/rejected/$1.txt' | grep -q '^$2 '"
  check "$1's note names $3" grep -q "^detail: .*csr/$3\\.csr" "$B/rejected/$1.txt"
  check "$1 has no certificate" test ! -e "$B/certs/$1.pem"
}
refused_naming board-a key-cloned board-b
refused_naming board-b key-cloned board-a
refused_naming board-c key-cloned board-a
refused_naming board-a-again key-cloned board-b   # a copy of board-a: its refusal, word for word
refused_naming twin-1 device-cloned twin-2
refused_naming twin-2 device-cloned twin-1
check "the key-cloned note says neither is signed" grep -q "a copied key; neither request is signed" "$B/rejected/board-b.txt"
check "the device-cloned note names the device" grep -q "device $U4 is also in" "$B/rejected/twin-1.txt"
check "byte-identical CSRs under two names: both issued" test -s "$B/certs/good.pem" -a -s "$B/certs/good-copy.pem"
check "... with one certificate (one signature)" cmp "$B/certs/good.pem" "$B/certs/good-copy.pem"
check "... that verifies" verify_device_cert "$B/certs/good.pem"
check "the journal holds one issued record (good) and no certificate for a clone" \
  test "$(awk '$3 == "issued"' "$J" | wc -l)" = 1
check "every clone's refusal record carries its device id" sh -c "
  for pair in board-a:$U1 board-b:$U2 board-c:$U3 twin-1:$U4 twin-2:$U4; do
    awk -v f=\"/csr/\${pair%%:*}.csr\" -v d=\"\${pair#*:}\" '\$3 == \"refused\" && index(\$4, f) && \$5 == d {n++} END {exit n != 1}' '$J' || exit 1
  done"
check "signing the stick again refuses the clones again, issues nothing new" expect_status 1 "$STATION" -q sign "$B"
check "... and the journal still holds one issued record" test "$(awk '$3 == "issued"' "$J" | wc -l)" = 1

# --- refused records keep the device id the CSR named
R=$WORK/refusals
mkdir -p "$R/csr"
W1=$(uuid) W2=$(uuid) W3=$(uuid) W4=$(uuid)
make_key "$K/w.key"
make_csr "$R/csr/other-factory.csr" "$K/w.key" "/CN=$W1/OU=other-factory"
make_csr "$R/csr/production.csr" "$K/w.key" "/CN=$W2/OU=$FACTORY/businessCategory=production"
make_key "$K/w384.key"
openssl req -new -key "$K/w384.key" -subj "$(device_subject "$W3")" -sha384 -out "$R/csr/sha384.csr"
make_csr "$R/csr/key-reused.csr" "$K/good.key" "$(device_subject "$W4")"           # good's key, issued above
make_key "$K/new.key"
make_csr "$R/csr/device-known.csr" "$K/new.key" "$(device_subject "$U5")"          # good's device, a new key
make_csr "$R/csr/cn-not-uuid.csr" "$K/w.key" "/CN=board-17/OU=$FACTORY"
check "a batch of refusals: exit 1" expect_status 1 "$STATION" -q sign "$R"
check "export for the refusals" "$STATION" -q journal export --format csv --source "batch:$R/" --out "$WORK/refusals.csv"
# device_of NAME: the device column of NAME's row in the export
device_of() { awk -F, -v f="/csr/$1.csr" 'index($4, f) {print $5}' "$WORK/refusals.csv"; }
reason_of() { awk -F, -v f="/csr/$1.csr" 'index($4, f) {print $7}' "$WORK/refusals.csv"; }
for pair in other-factory:$W1:wrong-factory production:$W2:production-forbidden sha384:$W3:wrong-signature-algorithm \
  key-reused:$W4:key-reused device-known:$U5:device-already-certified; do
  name=${pair%%:*} rest=${pair#*:}
  check "$name: refused as ${rest#*:}, its row carries device ${rest%%:*}" \
    test "$(reason_of "$name") $(device_of "$name")" = "${rest#*:} ${rest%%:*}"
done
check "a CN that is no UUID names no device" test "$(reason_of cn-not-uuid):$(device_of cn-not-uuid)" = "bad-common-name:"
check "refused rows carry the key's hash too" sh -c "[ \"\$(awk -F, -v f=/csr/other-factory.csr 'index(\$4, f) {print \$9}' '$WORK/refusals.csv')\" = \"\$(openssl pkey -in '$K/w.key' -pubout -outform DER | sha256sum | cut -d' ' -f1)\" ]"

# --- the journal key's fingerprint
"$STATION" journal key >"$WORK/journal-key.pem"
FPR=$(openssl pkey -pubin -in "$WORK/journal-key.pem" -outform DER | sha256sum | cut -d' ' -f1)
check "the fingerprint is 64 hex digits" sh -c "echo '$FPR' | grep -qx '[0-9a-f]\{64\}'"
check "ca show prints the journal key's fingerprint" sh -c "'$STATION' ca show | grep -qx 'journal key: sha256:$FPR'"
check "selftest prints it" sh -c "'$STATION' selftest | grep -qx 'journal key: sha256:$FPR'"
sed -e 's/key: local-ca$/key: second-ca/' "$WORK/station.yaml" >"$WORK/second.yaml"
check "ca init (a second CA key on the token) prints it" \
  sh -c "'$STATION' -q -c '$WORK/second.yaml' ca init --cn fio-second --out '$WORK/second.csr' | grep -qx 'journal key: sha256:$FPR'"
check "the manifest names the same key" sh -c "'$STATION' -q journal export --format csv --out '$WORK/all.csv' && grep -q '\"journal_key_sha256\": \"$FPR\"' '$WORK/all.csv.manifest.json'"

# --- a software token says what it does not protect against
"$STATION" ca show >"$WORK/show.out"
check "ca show: the token is a software token (SoftHSM)" grep -q '^token-kind   warn a software token (SoftHSM' "$WORK/show.out"
check "ca show: copies of journal and token directory roll back together" grep -q 'rolls both back undetected' "$WORK/show.out"
check "ca show: carry signed exports off the station" grep -q 'Carry signed exports off the station regularly' "$WORK/show.out"
check "selftest says so too" sh -c "'$STATION' selftest | grep -q '^token-kind   warn a software token'"

# --- links where the station wants files
check "journal verify passes on the real file" "$STATION" journal verify
mv "$J" "$WORK/elsewhere.log"
ln -s "$WORK/elsewhere.log" "$J"
check "journal.log a symbolic link: journal verify fails (exit 3)" expect_status 3 "$STATION" journal verify
check "... saying it is a symbolic link" sh -c "'$STATION' journal verify 2>&1 | grep -q 'journal.log: it is a symbolic link'"
check "... and sign refuses it too (exit 3)" expect_status 3 "$STATION" sign "$R"
rm "$J"
mv "$WORK/elsewhere.log" "$J"
check "the real file back: journal verify passes" "$STATION" journal verify
mkdir -p "$WORK/linked/real" "$WORK/linked/stick"
cp "$B/csr/good.csr" "$WORK/linked/real/"
ln -s "$WORK/linked/real" "$WORK/linked/stick/csr"
check "a stick whose csr/ is a symbolic link: exit 2" expect_status 2 "$STATION" sign "$WORK/linked/stick"
check "... told so" sh -c "'$STATION' sign '$WORK/linked/stick' 2>&1 | grep -q 'csr is a symbolic link, not a directory'"
check "... nothing written on it" test ! -e "$WORK/linked/stick/certs"

# --- clones in one serial turn: boards 1 and 2 send one copied key while the
# station signs for board 0 through a slow token (400 ms a signature)
SLOW=$(dirname "$STATION")/../tests/libslow_token.so
check "the slow_token module is built" test -f "$SLOW"
sed -e "s|module: .*|module: $SLOW|" "$WORK/station.yaml" >"$WORK/slow.yaml"
make_key "$K/serial-copied.key"
make_csr "$WORK/serial-1.csr" "$K/serial-copied.key" "$(device_subject "$(uuid)")"
make_csr "$WORK/serial-2.csr" "$K/serial-copied.key" "$(device_subject "$(uuid)")"
MARK=$WORK/board0-sent
SLOW_TOKEN_MODULE=$SOFTHSM_MODULE SLOW_TOKEN_DELAY_MS=400 run_sim "clones in one serial turn" \
  --board "touch:$MARK,csr" \
  --board "wait:$MARK,sleep:150,file-err:$WORK/serial-1.csr:key-cloned:ttyBOARD2" \
  --board "wait:$MARK,sleep:150,file-err:$WORK/serial-2.csr:key-cloned:ttyBOARD1" \
  -- "$STATION" -c "$WORK/slow.yaml" serial
P=$PORTS/ttyBOARD
check "serial: board 0 issued" test "$(journal_count issued "${P}0")" = 1
check "serial: boards 1 and 2 journaled as key-cloned" \
  test "$(journal_count refused "${P}1" key-cloned) $(journal_count refused "${P}2" key-cloned)" = "1 1"
check "serial: nothing issued for the copied key" sh -c "! awk '\$3 == \"issued\" && (\$4 == \"serial:${P}1\" || \$4 == \"serial:${P}2\")' '$J' | grep -q ."
check "the journal verifies at the end" "$STATION" journal verify
finish
