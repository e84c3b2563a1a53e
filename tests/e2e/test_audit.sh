#!/usr/bin/env bash
# End-to-end: the journal that proves itself. Two batches signed by the real
# binary on a fresh SoftHSM token; `station journal verify` passes, and each way
# of tampering with the journal (changed byte, deleted line, swapped lines,
# inserted line, cut tail, older copy restored, records rewritten with their
# chain recomputed, journal replaced) is caught with its reason and exit 1.
# Signed exports (csv, jsonl, pem, index) verify with plain openssl and with
# `journal verify --export`, a changed export fails both, and the export's
# counts equal what the batches issued and refused (every record listed, checkpoints
# too). Each export's signed manifest is checked with openssl, sha256sum and sed
# alone (complete and filtered exports), a manifest moved next to another export
# fails, and so do a changed manifest and rows that disagree with it. A checkpoint
# is checked with openssl alone, as docs/auditor-guide.md tells an auditor to.
. "$(dirname "$0")/lib.sh"
make_pki
J=$WORK/journal/journal.log
K=$WORK/keys
mkdir -p "$K" "$WORK/out"

# batch DIR GOOD: GOOD good CSRs and three refused ones
batch() {
  mkdir -p "$1/csr"
  for i in $(seq 1 "$2"); do
    make_key "$K/$(basename "$1")-$i.key"
    make_csr "$1/csr/good$i.csr" "$K/$(basename "$1")-$i.key" "$(device_subject "$(uuid)")"
  done
  echo "this is not a csr" >"$1/csr/garbage.csr"
  make_csr "$1/csr/other-factory.csr" "$K/$(basename "$1")-1.key" "/CN=$(uuid)/OU=other-factory"
  make_csr "$1/csr/cn-not-uuid.csr" "$K/$(basename "$1")-1.key" "/CN=board-17/OU=$FACTORY"
}

# summary OUTPUT FIELD: a count from the line `station sign` prints
summary() { sed -n 's/^issued [0-9]* (new \([0-9]*\), issued before [0-9]*), refused \([0-9]*\),.*/\1 \2/p' "$1" | cut -d' ' -f"$2"; }

batch "$WORK/b1" 5
batch "$WORK/b2" 4
check "batch 1 signs with refusals (exit 1)" expect_status 1 "$STATION" -q sign "$WORK/b1"
check "journal verify passes after batch 1" "$STATION" journal verify
check "the batch ended in a signed checkpoint" sh -c "tail -1 '$J' | awk '\$3 == \"checkpoint\"' | grep -q ."
cp "$J" "$WORK/journal.after-batch1"
check "batch 2 signs with refusals (exit 1)" expect_status 1 sh -c "'$STATION' -q sign '$WORK/b2' >'$WORK/b2.out'"
ISSUED=$((5 + 4))
REFUSED=$((3 + 3))
check "batch 2 says 4 issued and 3 refused" test "$(summary "$WORK/b2.out" 1) $(summary "$WORK/b2.out" 2)" = "4 3"
check "journal verify passes after batch 2" "$STATION" journal verify
check "verify reports the counts and the head" sh -c "'$STATION' journal verify | grep -q 'intact: .* ($ISSUED issued, $REFUSED refused, [0-9]* checkpoints'"

# --- the journal key, and a checkpoint checked with openssl alone
check "journal key prints a P-256 public key" sh -c "'$STATION' journal key >'$WORK/key.pem' && openssl pkey -pubin -in '$WORK/key.pem' -noout -text | grep -q 'prime256v1\\|P-256'"
check "the journal key is not the CA key" bash -c "! cmp -s '$WORK/key.pem' <(openssl x509 -in '$WORK/pki/local-ca.pem' -pubkey -noout)"
checkpoint_with_openssl() {
  local genesis cp seq prev_chain keyid
  genesis=$(head -1 "$J" | cut -d' ' -f3)
  cp=$(awk '$3 == "checkpoint"' "$J" | tail -1)
  seq=$(echo "$cp" | cut -d' ' -f1)
  prev_chain=$(awk -v n=$((seq - 1)) '$1 == n {print $12}' "$J")
  printf 'station-journal checkpoint 1 %s %s %s\n' "$genesis" $((seq - 1)) "$prev_chain" >"$WORK/cp.msg"
  echo "$cp" | cut -d' ' -f11 | base64 -d >"$WORK/cp.sig"
  keyid=$(openssl pkey -pubin -in "$WORK/key.pem" -outform DER | sha256sum | cut -d' ' -f1)
  [ "$keyid" = "$(echo "$cp" | cut -d' ' -f7)" ] || { echo "key id differs"; return 1; }
  openssl dgst -sha256 -verify "$WORK/key.pem" -signature "$WORK/cp.sig" "$WORK/cp.msg"
}
check "the last checkpoint verifies with openssl alone" checkpoint_with_openssl
check "the chain recomputes with openssl alone" sh -c "
  prev=\$(head -1 '$J' | tr -d '\n' | openssl dgst -sha256 -r | cut -d' ' -f1)
  tail -n +2 '$J' | while IFS= read -r line; do
    body=\${line% *}; stored=\${line##* }
    prev=\$( (printf '%s' \"\$prev\" | xxd -r -p; printf '%s' \"\$body\") | openssl dgst -sha256 -r | cut -d' ' -f1)
    [ \"\$prev\" = \"\$stored\" ] || { echo \"mismatch: \$line\"; exit 1; }
  done"

# --- exports
for f in csv jsonl pem index; do
  check "export --format $f" "$STATION" -q journal export --format $f --out "$WORK/out/export.$f"
  check "export.$f verifies with openssl dgst" openssl dgst -sha256 -verify "$WORK/key.pem" -signature "$WORK/out/export.$f.sig" "$WORK/out/export.$f"
  check "export.$f verifies offline with journal verify --export --key" sh -c "cd / && env -u STATION_CONFIG -u STATION_TEST_PIN '$STATION' journal verify --export '$WORK/out/export.$f' --key '$WORK/key.pem'"
done
check "csv has the header row" sh -c "head -1 '$WORK/out/export.csv' | grep -q '^seq,time,event,source,device,serial,reason'"
check "csv counts equal the batches: $ISSUED issued" test "$(grep -c '^[0-9]*,[^,]*,issued,' "$WORK/out/export.csv")" = $ISSUED
check "csv counts equal the batches: $REFUSED refused" test "$(grep -c '^[0-9]*,[^,]*,refused,' "$WORK/out/export.csv")" = $REFUSED
RECORDS=$(($(wc -l <"$J") - 1))
CHECKPOINTS=$(awk '$3 == "checkpoint"' "$J" | wc -l)
# the other events (journal-init, handed-back), in the order the journal first holds them, with their counts
OTHER_EVENTS=$(awk 'NR > 1 && $3 != "issued" && $3 != "refused" && $3 != "checkpoint" {
  if (!($3 in n)) order[++k] = $3; n[$3]++ } END { for (i = 1; i <= k; i++) printf "%s %d\n", order[i], n[order[i]] }' "$J")
OTHER_TEXT=$(printf '%s\n' "$OTHER_EVENTS" | awk 'NF == 2 { printf ", %s %d", $1, $2 }')
OTHER_JSON=$(printf '%s\n' "$OTHER_EVENTS" | awk 'NF == 2 { printf ",\"%s\":%d", $1, $2 }')
check "csv lists every record of the journal, checkpoints too ($RECORDS)" test "$(($(wc -l <"$WORK/out/export.csv") - 1))" = $RECORDS
check "csv seq runs 1..$RECORDS without a hole" sh -c "tail -n +2 '$WORK/out/export.csv' | cut -d, -f1 | tr '\n' ' ' | grep -qx '$(seq -s ' ' 1 $RECORDS) '"
check "csv checkpoint rows: $CHECKPOINTS" test "$(grep -c '^[0-9]*,[^,]*,checkpoint,' "$WORK/out/export.csv")" = "$CHECKPOINTS"
check "csv chain column is the journal's chain of each record" sh -c "[ \"\$(tail -n +2 '$WORK/out/export.csv' | awk -F, '{print \$1, \$NF}')\" = \"\$(tail -n +2 '$J' | awk '{print \$1, \$12}')\" ]"
check "jsonl counts equal the batches" sh -c "[ \$(grep -c '\"event\":\"issued\"' '$WORK/out/export.jsonl') = $ISSUED ] && [ \$(grep -c '\"event\":\"refused\"' '$WORK/out/export.jsonl') = $REFUSED ]"
check "jsonl lines are JSON with the certificate" python3 -c "
import json, sys
rows = [json.loads(l) for l in open('$WORK/out/export.jsonl')]
assert all(r['certificate'].startswith('-----BEGIN CERTIFICATE-----') for r in rows if r['event'] == 'issued')
assert all(r['certificate'] == '' and r['reason'] for r in rows if r['event'] == 'refused')"
check "offline verify reports the counts" sh -c "'$STATION' journal verify --export '$WORK/out/export.csv' --key '$WORK/key.pem' | grep -qx 'rows: $RECORDS (issued $ISSUED, refused $REFUSED, checkpoint $CHECKPOINTS$OTHER_TEXT)'"
check "pem holds every issued certificate" test "$(grep -c 'BEGIN CERTIFICATE' "$WORK/out/export.pem")" = $ISSUED
check "pem certificates verify against the PKI" sh -c "openssl crl2pkcs7 -nocrl -certfile '$WORK/out/export.pem' | openssl pkcs7 -print_certs | awk '/BEGIN/{n++} {print > \"$WORK/out/c\" n \".pem\"}' && for c in '$WORK'/out/c[0-9]*.pem; do openssl verify -CAfile '$WORK/pki/factory_ca.pem' -untrusted '$WORK/pki/local-ca.pem' \"\$c\" >/dev/null || exit 1; done"
check "index has one V line per issued certificate" test "$(grep -c '^V	' "$WORK/out/export.index")" = $ISSUED
check "index serials are the certificates' serials" sh -c "for c in '$WORK'/b1/certs/good1.pem '$WORK'/b2/certs/good2.pem; do s=\$(openssl x509 -in \"\$c\" -noout -serial | cut -d= -f2); grep -q \"	\$s	unknown	/CN=\" '$WORK/out/export.index' || exit 1; done"
mkdir -p "$WORK/ca"
cp "$WORK/out/export.index" "$WORK/ca/index.txt"
printf '[ca]\ndefault_ca = x\n[x]\ndatabase = %s\n' "$WORK/ca/index.txt" >"$WORK/ca/ca.cnf"
check "openssl ca reads the index (-status)" sh -c "openssl ca -config '$WORK/ca/ca.cnf' -status \$(head -1 '$WORK/ca/index.txt' | cut -f4) 2>&1 | grep -q '=Valid'"
check "--source selects batch 2 only" sh -c "'$STATION' -q journal export --format csv --source 'batch:$WORK/b2/' --out '$WORK/out/b2.csv' && [ \$((\$(wc -l <'$WORK/out/b2.csv') - 1)) = 7 ]"
check "--since in the future selects nothing" sh -c "'$STATION' -q journal export --format jsonl --since 2999-01-01T00:00:00Z --out '$WORK/out/none.jsonl' && [ ! -s '$WORK/out/none.jsonl' ]"
check "--until before the batches selects nothing" sh -c "'$STATION' -q journal export --format csv --until 2001-01-01T00:00:00+02:00 --out '$WORK/out/none.csv' && [ \$(wc -l <'$WORK/out/none.csv') = 1 ]"
check "a bad --since is a usage error" expect_status 2 "$STATION" journal export --format csv --since yesterday --out "$WORK/out/x.csv"
check "no temporary export files left" sh -c "! ls -a '$WORK/out' | grep -q station-tmp"
cp "$WORK/out/export.csv" "$WORK/out/changed.csv"
cp "$WORK/out/export.csv.sig" "$WORK/out/changed.csv.sig"
sed -i '2s/^[0-9]*,/7777,/' "$WORK/out/changed.csv"
check "a changed export fails openssl dgst" expect_status 1 openssl dgst -sha256 -verify "$WORK/key.pem" -signature "$WORK/out/changed.csv.sig" "$WORK/out/changed.csv"
check "a changed export fails journal verify --export (exit 1)" expect_status 1 "$STATION" journal verify --export "$WORK/out/changed.csv" --key "$WORK/key.pem"
check "... with the reason export-signature" sh -c "'$STATION' journal verify --export '$WORK/out/changed.csv' --key '$WORK/key.pem' | grep -q '^reason: export-signature'"
check "journal verify --export works with the token's key too" "$STATION" journal verify --export "$WORK/out/export.jsonl"

# --- manifests, checked with openssl, sha256sum and sed alone (docs/auditor-guide.md)
# mf KEY FILE: the value of KEY in a manifest (one key a line), quotes stripped
mf() { sed -n -e "s/^ *\"$1\": \"\(.*\)\",\{0,1\}\$/\1/p" -e "s/^ *\"$1\": \([^\",]*\),\{0,1\}\$/\1/p" "$2"; }
FPR=$(openssl pkey -pubin -in "$WORK/key.pem" -outform DER | sha256sum | cut -d' ' -f1)
LAST=$(tail -1 "$J" | cut -d' ' -f1)
for x in export.csv export.jsonl export.pem export.index b2.csv none.jsonl; do
  M=$WORK/out/$x.manifest.json
  check "$x: the manifest's signature verifies with openssl dgst" openssl dgst -sha256 -verify "$WORK/key.pem" -signature "$M.sig" "$M"
  check "$x: sha256sum of the export is the manifest's export.sha256" test "$(sha256sum "$WORK/out/$x" | cut -d' ' -f1)" = "$(mf sha256 "$M")"
  check "$x: the manifest names the journal key the auditor holds" test "$(mf journal_key_sha256 "$M")" = "$FPR"
  check "$x: journal_last is the journal's last record ($LAST)" test "$(mf journal_last "$M")" = "$LAST"
done
M=$WORK/out/export.csv.manifest.json
check "complete export: complete true, records 1..$LAST, chain of record $LAST" test \
  "$(mf complete "$M") $(mf first "$M") $(mf last "$M") $(mf chain "$M")" = "true 1 $LAST $(tail -1 "$J" | cut -d' ' -f12)"
check "complete export: counts by event" sh -c "sed -n '/\"counts\"/,/}/p' '$M' | tr -d ' \n' | grep -qx '\"counts\":{\"issued\":$ISSUED,\"refused\":$REFUSED,\"checkpoint\":$CHECKPOINTS$OTHER_JSON}'"
check "complete export: the station's factory, local CA hash and genesis" test \
  "$(mf factory "$M") $(mf local_ca_sha256 "$M") $(mf journal_genesis "$M")" = \
  "$FACTORY $(openssl x509 -in "$WORK/pki/local-ca.pem" -outform DER | sha256sum | cut -d' ' -f1) $(head -1 "$J" | cut -d' ' -f3)"
check "complete export: the local CA subject as openssl prints it (RFC 2253)" test \
  "$(mf local_ca_subject "$M")" = "$(openssl x509 -in "$WORK/pki/local-ca.pem" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')"
M=$WORK/out/b2.csv.manifest.json
check "filtered export: complete false, the source filter as given" test "$(mf complete "$M") $(mf source "$M") $(mf since "$M")" = "false batch:$WORK/b2/ null"
check "filtered export: first and last are its first and last rows" test "$(mf first "$M") $(mf last "$M")" = \
  "$(sed -n 2p "$WORK/out/b2.csv" | cut -d, -f1) $(tail -1 "$WORK/out/b2.csv" | cut -d, -f1)"
check "filtered export: verify --export prints the scope" sh -c "'$STATION' journal verify --export '$WORK/out/b2.csv' --key '$WORK/key.pem' >'$WORK/scope.out' && grep -q '^scope: NOT complete; filters: since -, until -, source batch:$WORK/b2/\$' '$WORK/scope.out' && grep -q '^records: [0-9]* to [0-9]* of $LAST, ' '$WORK/scope.out' && grep -qx 'rows: 7 (issued 4, refused 3)' '$WORK/scope.out'"
check "complete export: verify --export says complete" sh -c "'$STATION' journal verify --export '$WORK/out/export.jsonl' --key '$WORK/key.pem' | grep -qx 'scope: complete (every record from 1 to $LAST)'"
check "no matching record: first, last and chain are null" test "$(mf first "$WORK/out/none.jsonl.manifest.json") $(mf chain "$WORK/out/none.jsonl.manifest.json")" = "null null"
# a certificate found on a device, checked against the complete export as docs/auditor-guide.md says
DEV=$WORK/b2/certs/good3.pem
SERIAL=$(openssl x509 -in "$DEV" -noout -serial | cut -d= -f2 | tr A-F a-f)
KEYHASH=$(openssl x509 -in "$DEV" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1)
CN=$(openssl x509 -in "$DEV" -noout -subject -nameopt RFC2253 | sed 's/^subject=//' | tr ',' '\n' | sed -n 's/^CN=//p')
check "device certificate: exactly one row has its serial: issued, its CN, its key hash" \
  test "$(awk -F, -v s="$SERIAL" '$6 == s {print $3, $5, $9}' "$WORK/out/export.csv")" = "issued $CN $KEYHASH"
check "device certificate: a serial the station never issued has no row" \
  test -z "$(awk -F, '$6 == "7f00000000000000000000000000000000"' "$WORK/out/export.csv")"
# a manifest moved next to another export
mkdir -p "$WORK/moved"
cp "$WORK/out/b2.csv" "$WORK/out/b2.csv.sig" "$WORK/moved/"
cp "$WORK/out/export.csv.manifest.json" "$WORK/moved/b2.csv.manifest.json"
cp "$WORK/out/export.csv.manifest.json.sig" "$WORK/moved/b2.csv.manifest.json.sig"
check "moved manifest: its own signature still verifies (openssl)" openssl dgst -sha256 -verify "$WORK/key.pem" -signature "$WORK/moved/b2.csv.manifest.json.sig" "$WORK/moved/b2.csv.manifest.json"
check "moved manifest: sha256sum of the export differs from the manifest's" test "$(sha256sum "$WORK/moved/b2.csv" | cut -d' ' -f1)" != "$(mf sha256 "$WORK/moved/b2.csv.manifest.json")"
check "moved manifest: verify --export exits 1" expect_status 1 "$STATION" journal verify --export "$WORK/moved/b2.csv" --key "$WORK/key.pem"
check "moved manifest: the reason is export-manifest" sh -c "'$STATION' journal verify --export '$WORK/moved/b2.csv' --key '$WORK/key.pem' | grep -q '^reason: export-manifest\$'"
rm "$WORK/moved/b2.csv.manifest.json" "$WORK/moved/b2.csv.manifest.json.sig"
check "no manifest: verify --export exits 1 with export-manifest" sh -c "'$STATION' journal verify --export '$WORK/moved/b2.csv' --key '$WORK/key.pem' | grep -q '^reason: export-manifest\$'"
cp "$WORK/out/export.csv.manifest.json" "$WORK/moved/export.csv.manifest.json"
cp "$WORK/out/export.csv" "$WORK/out/export.csv.sig" "$WORK/out/export.csv.manifest.json.sig" "$WORK/moved/"
sed -i 's/"complete": true/"complete": false/' "$WORK/moved/export.csv.manifest.json"
check "changed manifest: openssl dgst fails" expect_status 1 openssl dgst -sha256 -verify "$WORK/key.pem" -signature "$WORK/moved/export.csv.manifest.json.sig" "$WORK/moved/export.csv.manifest.json"
check "changed manifest: verify --export fails with export-signature" sh -c "'$STATION' journal verify --export '$WORK/moved/export.csv' --key '$WORK/key.pem' | grep -q '^reason: export-signature\$'"
# rows that disagree with the manifest, both signed by a key of the test's own (as if the journal key had signed them)
make_key "$WORK/fake.key"
openssl pkey -in "$WORK/fake.key" -pubout -out "$WORK/fake.pem" 2>/dev/null
FAKE=$(openssl pkey -pubin -in "$WORK/fake.pem" -outform DER | sha256sum | cut -d' ' -f1)
sed '5d' "$WORK/out/export.csv" >"$WORK/moved/export.csv"
sed -e "s/$FPR/$FAKE/" -e "s/\"sha256\": \"[0-9a-f]*\"/\"sha256\": \"$(sha256sum "$WORK/moved/export.csv" | cut -d' ' -f1)\"/" \
  "$WORK/out/export.csv.manifest.json" >"$WORK/moved/export.csv.manifest.json"
for f in export.csv export.csv.manifest.json; do openssl dgst -sha256 -sign "$WORK/fake.key" -out "$WORK/moved/$f.sig" "$WORK/moved/$f"; done
check "a row removed (signatures and hash made good): verify --export exits 1" expect_status 1 "$STATION" journal verify --export "$WORK/moved/export.csv" --key "$WORK/fake.pem"
check "... with export-invalid, naming the counts" sh -c "'$STATION' journal verify --export '$WORK/moved/export.csv' --key '$WORK/fake.pem' | grep -q '^reason: export-invalid\$'"
check "the untouched export with the wrong key: export-signature" sh -c "'$STATION' journal verify --export '$WORK/out/export.csv' --key '$WORK/fake.pem' | grep -q '^reason: export-signature\$'"

# --- tampering: each case on a fresh copy of the good journal
cp "$J" "$WORK/journal.good"
LINES=$(wc -l <"$J")
# tampered NAME REASON TEXT PYTHON: applies PYTHON to the lines L, expects exit 1, REASON and TEXT
tampered() {
  local name=$1 reason=$2 text=$3 code=$4
  cp "$WORK/journal.good" "$J"
  python3 -c "
import sys
L = open('$J', 'rb').read().split(b'\n')[:-1]
$code
open('$J', 'wb').write(b''.join(l + b'\n' for l in L))"
  check "$name: journal verify exits 1" expect_status 1 "$STATION" journal verify
  check "$name: the reason is $reason" sh -c "'$STATION' journal verify | grep -q '^reason: $reason\$'"
  check "$name: the sentence says \"$text\"" sh -c "'$STATION' journal verify | grep -q '$text'"
}
tampered "changed byte" journal-corrupt "record 4 (line 5).*chain hash mismatch" \
  "l = bytearray(L[4]); l[40] = ord('0') if l[40] != ord('0') else ord('1'); L[4] = bytes(l)"
tampered "deleted line" journal-corrupt "record 4 is missing, so a record was removed" "del L[4]"
tampered "swapped lines" journal-corrupt "records were reordered" "L[3], L[4] = L[4], L[3]"
tampered "inserted line (a copy)" journal-corrupt "copied in" "L.insert(5, L[4])"
tampered "inserted line (an old record)" journal-corrupt "an old record was inserted" "L.insert(7, L[2])"
tampered "cut tail (last 3 records, a checkpoint among them)" journal-truncated "its tail was cut" "del L[-3:]"
tampered "cut tail (only the last checkpoint)" journal-truncated "its tail was cut" "del L[-1:]"
tampered "records rewritten, chain recomputed" checkpoint-invalid "signature does not verify" "
import hashlib
l = L[3].split(b' '); l[4] = b'00000000-0000-4000-8000-000000000000'; L[3] = b' '.join(l)
prev = hashlib.sha256(L[0]).digest()
for i in range(1, len(L)):
    body = L[i].rsplit(b' ', 1)[0]
    prev = hashlib.sha256(prev + body).digest()
    L[i] = body + b' ' + prev.hex().encode()"
cp "$WORK/journal.after-batch1" "$J"
check "older copy restored: journal verify exits 1" expect_status 1 "$STATION" journal verify
check "older copy restored: the reason is journal-rolled-back" sh -c "'$STATION' journal verify | grep -q '^reason: journal-rolled-back$'"
check "older copy restored: the sentence says so" sh -c "'$STATION' journal verify | grep -q 'an older copy of the journal was restored'"
check "older copy restored: signing refuses (exit 3)" expect_status 3 "$STATION" -q sign "$WORK/b2"
check "older copy restored: export refuses (exit 1)" expect_status 1 "$STATION" -q journal export --format csv --out "$WORK/out/old.csv"
check "older copy restored: nothing signed on top" cmp "$J" "$WORK/journal.after-batch1"
mv "$J" "$WORK/journal.moved"
check "journal gone: signing refuses (exit 3), no new journal started" expect_status 3 "$STATION" -q sign "$WORK/b2"
check "journal gone: nothing left in its place" test ! -e "$J"
check "journal gone: journal verify exits 1" expect_status 1 "$STATION" journal verify
check "journal gone: the reason is journal-missing" sh -c "'$STATION' journal verify | grep -q '^reason: journal-missing$'"
python3 -c "
import hashlib, os
g = os.urandom(32).hex()
h = ('station-journal 1 ' + g).encode()
open('$J', 'wb').write(h + b'\n')"
check "journal replaced by another: signing refuses (exit 3)" expect_status 3 "$STATION" -q sign "$WORK/b2"
check "journal replaced: journal verify exits 1" expect_status 1 "$STATION" journal verify
check "journal replaced: the reason is journal-replaced" sh -c "'$STATION' journal verify | grep -q '^reason: journal-replaced$'"
cp "$WORK/journal.good" "$J"
check "the untouched journal passes again" "$STATION" journal verify
check "and signing goes on (batch 1 again: its refusals again, exit 1)" expect_status 1 "$STATION" -q sign "$WORK/b1"
check "the journal still verifies after that" "$STATION" journal verify

# --- a checkpoint at least every 256 records: 300 refusals in one batch
mkdir -p "$WORK/b3/csr"
for i in $(seq 1 300); do echo "junk $i" >"$WORK/b3/csr/junk$i.csr"; done
BEFORE=$(awk '$3 == "checkpoint"' "$J" | wc -l)
check "300 refusals in one batch (exit 1)" expect_status 1 "$STATION" -q sign "$WORK/b3"
check "two checkpoints more: one after 256 records, one at the end" test $(($(awk '$3 == "checkpoint"' "$J" | wc -l) - BEFORE)) = 2
check "never more than 256 records without a checkpoint" awk '$3 == "checkpoint" {if ($1 - last - 1 > 256) exit 1; last = $1} END {if (NR - 1 - last > 256) exit 1}' "$J"
check "the journal verifies after the big batch" "$STATION" journal verify

# --- one head per journal location: a second journal path on the same token
sed "s|path: $WORK/journal\$|path: $WORK/journal-bench|" "$WORK/station.yaml" >"$WORK/second.yaml"
mkdir -p "$WORK/b4/csr"; make_key "$WORK/b4.key"; make_csr "$WORK/b4/csr/d.csr" "$WORK/b4.key" "$(device_subject "$(uuid)")"
check "a second journal path on the same token: no journal without journal init (exit 3)" \
  expect_status 3 "$STATION" -q -c "$WORK/second.yaml" sign "$WORK/b4"
check "journal init begins it" sh -c "'$STATION' -c '$WORK/second.yaml' journal init | grep -q '^journal key: sha256:[0-9a-f]\{64\}\$'"
check "a second journal path on the same token signs" "$STATION" -q -c "$WORK/second.yaml" sign "$WORK/b4"
check "the second journal verifies against its own head" "$STATION" -c "$WORK/second.yaml" journal verify
check "the first journal still verifies against its head" "$STATION" journal verify
finish
