#!/usr/bin/env bash
# End-to-end: sealed commits, checked hand-backs, no silent new journal
# (docs/journal-format.md, "Sealed commits"; docs/threat-model.md). The attacks
# are made as someone with the station user's file access and no PIN would
# make them (tests/e2e/journal_forge.py edits journal.log, the chain
# recomputed), except where said:
#   1. every commit ends with its seal: after a batch the journal's last
#      record is a checkpoint, and verify passes;
#   2. a forged tail: an `issued` record appended for a new CSR, holding a
#      self-signed certificate for that CSR's key. verify fails
#      (journal-unsealed) naming it; export refuses; `station sign` on a stick
#      with that CSR cuts it at start (saying so, the line kept in
#      journal.log.unsealed-*), never gives the forged certificate out, signs
#      the CSR properly; no seal covers the forged record, a re-run hands the
#      CA's certificate back and journals the hand-back;
#   3. the journal deleted: signing refuses (exit 3, journal-missing, saying to
#      run `station journal init`) and leaves no journal in its place;
#      `journal init` begins one whose first record names the lost head and
#      prints the journal key's fingerprint; the same with the head deleted
#      too (pkcs11-tool, with the PIN); init refuses an existing journal;
#   4. a certificate replaced in an issued record, the chain recomputed: the
#      seals no longer verify and signing refuses (checkpoint-invalid), nothing
#      released; then, as an insider holding the PIN would, every later seal
#      signed again with the journal key (pkcs11-tool) and the head deleted:
#      the seal now checks out, and the hand-back itself is caught
#      (journal-corrupt naming the record), nothing released.
. "$(dirname "$0")/lib.sh"
make_pki
J=$WORK/journal/journal.log
FORGE=(python3 "$(dirname "$0")/journal_forge.py")
P11=(pkcs11-tool --module "$PKCS11_MODULE" --token-label station --login --pin "$TEST_PIN")
K=$WORK/keys
mkdir -p "$K"

# stick DIR NAME...: a stick with one fresh device CSR per NAME (keys in $K)
stick() {
  local dir=$1 name; shift
  mkdir -p "$dir/csr"
  for name in "$@"; do
    make_key "$K/$name.key"
    make_csr "$dir/csr/$name.csr" "$K/$name.key" "$(device_subject "$(uuid)")"
  done
}
# self_signed CSR KEY OUT: a certificate for CSR's subject and key that the CA never signed
self_signed() {
  openssl req -x509 -new -key "$2" -subj "$(openssl req -in "$1" -noout -subject -nameopt compat | sed 's/^subject=//')" \
    -days 30 -out "$3" 2>/dev/null
}
b64der() { openssl x509 -in "$1" -outform DER | base64 -w0; }
csr_hash() { openssl req -in "$1" -outform DER | sha256sum | cut -c1-64; }
verify_reason() { "$STATION" journal verify | grep -q "^reason: $1\$"; }
last_event() { tail -1 "$J" | cut -d' ' -f3; }

# --- 1. every commit ends with its seal
stick "$WORK/b1" a1 a2 a3
check "batch 1 signs (exit 0)" "$STATION" -q sign "$WORK/b1"
check "the journal ends with a seal (a checkpoint)" test "$(last_event)" = checkpoint
check "every issued record is followed by a checkpoint before the end" awk '
  $3 == "issued" {open = 1} $3 == "checkpoint" {open = 0} END {exit open}' "$J"
check "journal verify passes" "$STATION" journal verify

# --- 2. the forged tail
stick "$WORK/bx" x
self_signed "$WORK/bx/csr/x.csr" "$K/x.key" "$WORK/x-self.pem"
FSEQ=$("${FORGE[@]}" append-issued "$J" "$WORK/bx/csr/x.csr" "$WORK/x-self.pem" "batch:$WORK/bx/csr/x.csr")
check "the forged record's chain is right (the chain alone cannot tell)" sh -c "
  prev=\$(head -1 '$J' | tr -d '\n' | openssl dgst -sha256 -r | cut -d' ' -f1)
  tail -n +2 '$J' | while IFS= read -r line; do
    prev=\$( (printf '%s' \"\$prev\" | xxd -r -p; printf '%s' \"\${line% *}\") | openssl dgst -sha256 -r | cut -d' ' -f1)
    [ \"\$prev\" = \"\${line##* }\" ] || exit 1
  done"
check "forged tail: journal verify exits 1" expect_status 1 "$STATION" journal verify
check "forged tail: the reason is journal-unsealed" verify_reason journal-unsealed
check "forged tail: verify names record $FSEQ" sh -c "'$STATION' journal verify | grep -q 'record $FSEQ (line $((FSEQ + 1))) is covered by no seal'"
check "forged tail: export refuses (exit 1)" expect_status 1 "$STATION" -q journal export --format csv --out "$WORK/x.csv"
status=0
"$STATION" sign "$WORK/bx" >"$WORK/bx.out" 2>&1 || status=$?
check "sign on a stick holding that CSR: exit 0" test "$status" = 0
check "the start cut the forged record and said how many" grep -q "cut 1 record ($FSEQ to $FSEQ)" "$WORK/bx.out"
check "the station did not hand anything back" sh -c "grep -q '^station: issued .*x.csr' '$WORK/bx.out' && ! grep -q 'no new signature' '$WORK/bx.out'"
check "the certificate given out is not the self-signed one" sh -c "! cmp -s '$WORK/x-self.pem' '$WORK/bx/certs/x.pem'"
check "it is the CA's certificate for that CSR's key" sh -c "verify_device_cert() { openssl verify -x509_strict -purpose sslclient -CAfile '$WORK/pki/factory_ca.pem' -untrusted '$WORK/pki/local-ca.pem' \"\$1\"; }
  verify_device_cert '$WORK/bx/certs/x.pem' >/dev/null &&
  [ \"\$(openssl x509 -in '$WORK/bx/certs/x.pem' -noout -pubkey)\" = \"\$(openssl pkey -in '$K/x.key' -pubout)\" ]"
check "the forged line is kept beside the journal" sh -c "grep -qF '$(b64der "$WORK/x-self.pem")' '$J'.unsealed-*"
check "the forged certificate is gone from the journal" sh -c "! grep -qF '$(b64der "$WORK/x-self.pem")' '$J'"
check "record $FSEQ is now the CSR's issued record, with the CA's certificate, and sealed" sh -c "
  awk '\$1 == $FSEQ && \$3 == \"issued\"' '$J' | grep -qF '$(b64der "$WORK/bx/certs/x.pem" 2>/dev/null)' &&
  awk '\$1 == $((FSEQ + 1))' '$J' | grep -q ' checkpoint '"
check "journal verify passes" "$STATION" journal verify
cp "$WORK/bx/certs/x.pem" "$WORK/x-ca.pem"
rm -f "$WORK/bx/certs/x.pem"
"$STATION" sign "$WORK/bx" >"$WORK/bx2.out" 2>&1 || true
check "a re-run hands the CA's certificate back" cmp "$WORK/x-ca.pem" "$WORK/bx/certs/x.pem"
check "... and the hand-back is journaled" sh -c "awk '\$3 == \"handed-back\" && \$6 == \"$(csr_hash "$WORK/bx/csr/x.csr")\"' '$J' | grep -q ."
check "an export never lists the forged certificate's serial" sh -c "
  '$STATION' -q journal export --format csv --out '$WORK/x.csv' &&
  ! grep -qi \"\$(openssl x509 -in '$WORK/x-self.pem' -noout -serial | cut -d= -f2)\" '$WORK/x.csv'"

# --- 3. the journal deleted; then the journal and the head
KEYFP=$("$STATION" journal key | openssl pkey -pubin -outform DER | sha256sum | cut -c1-64)
LAST=$(tail -1 "$J" | cut -d' ' -f1)
rm "$J"
status=0
"$STATION" sign "$WORK/b1" >"$WORK/gone.out" 2>&1 || status=$?
check "journal deleted: signing refuses (exit 3)" test "$status" = 3
check "... with journal-missing, naming the lost head" grep -q "(journal-missing).*head of a journal (record $LAST" "$WORK/gone.out"
check "... and saying what to do" grep -q 'station journal init' "$WORK/gone.out"
check "... no journal started in its place" test ! -e "$J"
check "journal verify: exit 1, journal-missing" sh -c "! '$STATION' journal verify >'$WORK/v.out'; grep -q '^reason: journal-missing$' '$WORK/v.out'"
check "journal init: exit 0" sh -c "'$STATION' journal init >'$WORK/init.out'"
check "journal init prints the journal key's fingerprint" grep -qx "journal key: sha256:$KEYFP" "$WORK/init.out"
check "the first record is journal-init, naming the lost head" sh -c "sed -n 2p '$J' | awk '\$3 == \"journal-init\"' | grep -q 'replaces%20a%20lost%20journal.*record%20$LAST%20'"
check "... and it is sealed" sh -c "sed -n 3p '$J' | grep -q ' checkpoint '"
check "signing works on the new journal" "$STATION" -q sign "$WORK/b1"
check "journal verify passes" "$STATION" journal verify
check "journal init refuses a journal that has records (exit 2)" expect_status 2 "$STATION" journal init
rm "$J"
HEADS=$("${P11[@]}" --list-objects --type data 2>/dev/null | sed -n "s/^ *label: *'\(station-journal-head-[0-9a-f]*#[01]\)' *\$/\1/p")
check "the token holds the head (two slots)" test "$(echo "$HEADS" | wc -l)" = 2
for h in $HEADS; do "${P11[@]}" --delete-object --type data --label "$h" >/dev/null 2>&1; done
status=0
"$STATION" sign "$WORK/b1" >"$WORK/gone2.out" 2>&1 || status=$?
check "journal and head deleted: signing refuses (exit 3)" test "$status" = 3
check "... because the token holds the journal key" grep -q "(journal-missing).*already holds the journal key" "$WORK/gone2.out"
check "... no journal started in its place" test ! -e "$J"
check "journal init: exit 0, the fingerprint printed" sh -c "'$STATION' journal init | grep -qx 'journal key: sha256:$KEYFP'"
check "the first record says why" sh -c "sed -n 2p '$J' | grep -q ' journal-init .*already%20holds%20the%20journal%20key'"
check "journal verify passes" "$STATION" journal verify

# --- 4. a certificate replaced in the journal, the chain recomputed
stick "$WORK/b4" y
check "batch 4 signs (exit 0)" "$STATION" -q sign "$WORK/b4"
check "then one more batch, so that seals follow y's record" "$STATION" -q sign "$WORK/b1"
cp "$WORK/b4/certs/y.pem" "$WORK/y-ca.pem"
self_signed "$WORK/b4/csr/y.csr" "$K/y.key" "$WORK/y-self.pem"
YSEQ=$("${FORGE[@]}" seq-of "$J" issued 6 "$(csr_hash "$WORK/b4/csr/y.csr")")
"${FORGE[@]}" replace-cert "$J" "$YSEQ" "$WORK/y-self.pem" >"$WORK/seals"
rm "$WORK/b4/certs/y.pem"
status=0
"$STATION" sign "$WORK/b4" >"$WORK/y.out" 2>&1 || status=$?
check "certificate replaced: signing refuses (exit 3)" test "$status" = 3
check "... checkpoint-invalid: the last seal no longer verifies" grep -q "(checkpoint-invalid)" "$WORK/y.out"
check "... nothing released" test ! -e "$WORK/b4/certs/y.pem"
check "journal verify: exit 1, checkpoint-invalid" sh -c "! '$STATION' journal verify >'$WORK/v.out'; grep -q '^reason: checkpoint-invalid$' '$WORK/v.out'"
# an insider holding the PIN signs every later seal again and removes the head
# (pkcs11-tool --sign picks its key by --id: it ignores --label)
JKID=$("${P11[@]}" --list-objects --type privkey 2>/dev/null | awk '/label:/ {l = $2} /ID:/ && l == "station-journal" {print $2; exit}')
check "the journal key's id on the token" test -n "$JKID"
for cp in $(cat "$WORK/seals"); do
  "${FORGE[@]}" message "$J" "$cp" | openssl dgst -sha256 -binary >"$WORK/seal.hash"
  "${P11[@]}" --sign --mechanism ECDSA --id "$JKID" --signature-format openssl \
    --input-file "$WORK/seal.hash" --output-file "$WORK/seal.sig" >/dev/null 2>&1
  "${FORGE[@]}" resign "$J" "$cp" "$WORK/seal.sig"
done
HEADS=$("${P11[@]}" --list-objects --type data 2>/dev/null | sed -n "s/^ *label: *'\(station-journal-head-[0-9a-f]*#[01]\)' *\$/\1/p")
for h in $HEADS; do "${P11[@]}" --delete-object --type data --label "$h" >/dev/null 2>&1; done
check "the seals signed again verify: the chain and seals check out" sh -c "! '$STATION' journal verify >'$WORK/v.out'; grep -q '^reason: journal-head$' '$WORK/v.out'"
status=0
"$STATION" sign "$WORK/b4" >"$WORK/y2.out" 2>&1 || status=$?
check "the hand-back of the replaced certificate is a fault (exit 3)" test "$status" = 3
check "... journal-corrupt, naming the record" grep -q "(journal-corrupt).*journal record $YSEQ (line $((YSEQ + 1))): the certificate it holds does not verify with the local CA's key" "$WORK/y2.out"
check "... nothing released" test ! -e "$WORK/b4/certs/y.pem"
check "... nothing journaled for it" sh -c "! grep -q ' handed-back .*$(csr_hash "$WORK/b4/csr/y.csr")' '$J'"
finish
