#!/usr/bin/env bash
# End-to-end: upgrades lose nothing (docs/journal-format.md, "Sealed commits").
# tests/e2e/fixtures/prev-release/ is a journal and its SoftHSM token written
# by the release before sealed commits (tests/e2e/fixtures/make-prev-release.sh
# tells how): records 1-2 issued by a batch, 3 the batch's checkpoint, 4-5
# issued over a serial line and released, after which that station was
# killed: no checkpoint covers 4-5, the head on the token names record 5.
#   1. as it is: journal verify passes (the head vouches for 4-5); the first
#      start seals 4-5 once (record 6, a checkpoint covering 1 to 5), cuts
#      nothing; the two boards asking again get their certificates from the
#      journal, no new certificate signed;
#   2. with a record appended by hand after 5 (a self-signed certificate, the
#      chain recomputed): verify fails naming record 6 only (journal-unsealed);
#      the first start seals 4-5 and cuts 6 alone, keeping it beside the
#      journal; the forged certificate is never given out.
. "$(dirname "$0")/lib.sh"
FIX=$(cd "$(dirname "$0")/fixtures/prev-release" && pwd)
FORGE=(python3 "$(dirname "$0")/journal_forge.py")
export STATION_TEST_PIN=7319
# the fixture's journal.path: the head's label on the token depends on it, so
# the journal goes exactly there, one test at a time
JPATH=/tmp/station-upgrade-fixture/journal
exec 9>/tmp/station-upgrade-fixture.lock
flock 9
rm_jpath() { rm -rf "$(dirname "$JPATH")"; }
AT_EXIT_HOOKS+=(rm_jpath)

# station_copy DIR: a copy of the fixture in DIR, its token and configuration in use
station_copy() {
  rm -rf "$1"
  cp -r "$FIX" "$1"
  rm -rf "$(dirname "$JPATH")"
  mkdir -p "$(dirname "$JPATH")"
  mv "$1/journal" "$JPATH"
  chmod 700 "$JPATH"
  chmod 600 "$JPATH/journal.log"
  cat >"$1/softhsm2.conf" <<CONF
directories.tokendir = $1/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
CONF
  export SOFTHSM2_CONF=$1/softhsm2.conf STATION_CONFIG=$1/station.yaml
  mkdir -p "$1/again/csr"
  cp "$1"/csr/*.csr "$1/again/csr/"
}
field() { awk -v s="$2" '$1 == s {print $'"$3"'}' "$1"; } # LOG SEQ N: field N of record SEQ

# --- 1. the previous release's journal, as it is
S=$WORK/st
station_copy "$S"
cd "$S"
J=$JPATH/journal.log
check "the fixture ends with two records after its last checkpoint" sh -c "
  [ \"\$(cut -d' ' -f3 '$J' | tail -n 3 | tr '\n' ' ')\" = 'checkpoint issued issued ' ]"
check "journal verify passes: the head on the token vouches for them" "$STATION" journal verify
check "... and says the head is record 5" sh -c "'$STATION' journal verify | grep -q 'head on the token: record 5'"
status=0
"$STATION" sign again >"$WORK/up.out" 2>&1 || status=$?
check "the upgraded station signs the boards' CSRs again: exit 0" test "$status" = 0
check "its start sealed records 4 to 5 once" grep -q 'sealed records 4 to 5, which the head on the token vouches for' "$WORK/up.out"
check "... and cut nothing" sh -c "! grep -q 'cut ' '$WORK/up.out' && ! ls '$JPATH'/journal.log.unsealed-* 2>/dev/null"
check "record 6 is that seal, a checkpoint covering records 1 to 5" sh -c "
  [ \"\$(awk '\$1 == 6 {print \$3, \$10}' '$J')\" = 'checkpoint covers%20records%201%20to%205' ]"
check "both boards got their certificates back from the journal (no new signature)" sh -c "
  [ \$(grep -c 'no new signature' '$WORK/up.out') = 2 ] && [ \$(awk '\$3 == \"issued\"' '$J' | wc -l) = 4 ]"
for n in 4 5; do
  check "the certificate given back for record $n is record $n's" sh -c "
    for c in again/certs/*.pem; do
      [ \"\$(openssl x509 -in \$c -outform DER | base64 -w0)\" = '$(field "$J" $n 11)' ] && exit 0
    done; exit 1"
done
check "journal verify passes after the upgrade" "$STATION" journal verify

# --- 2. the same, with a record added by hand after the head
S=$WORK/st2
station_copy "$S"
cd "$S"
J=$JPATH/journal.log
openssl ecparam -genkey -name prime256v1 -noout -out "$WORK/x.key" 2>/dev/null
openssl req -new -key "$WORK/x.key" -subj "/CN=$(uuid)/OU=acme-factory" -sha256 -out again/csr/x.csr 2>/dev/null
openssl req -x509 -new -key "$WORK/x.key" -subj "$(openssl req -in again/csr/x.csr -noout -subject -nameopt compat | sed 's/^subject=//')" \
  -days 30 -out "$WORK/x-self.pem" 2>/dev/null
FSEQ=$("${FORGE[@]}" append-issued "$J" again/csr/x.csr "$WORK/x-self.pem" "batch:$S/again/csr/x.csr")
check "the forged record is record 6" test "$FSEQ" = 6
check "journal verify fails (exit 1): journal-unsealed" sh -c "! '$STATION' journal verify >'$WORK/v.out'; grep -q '^reason: journal-unsealed$' '$WORK/v.out'"
check "... naming record 6 alone" grep -q 'record 6 (line 7) is covered by no seal' "$WORK/v.out"
status=0
"$STATION" sign again >"$WORK/up2.out" 2>&1 || status=$?
check "the upgraded station signs: exit 0" test "$status" = 0
check "its start cut record 6 alone" grep -q 'cut 1 record (6 to 6)' "$WORK/up2.out"
check "... and sealed records 4 to 5" grep -q 'sealed records 4 to 5' "$WORK/up2.out"
check "the cut line is kept beside the journal" sh -c "grep -qF '$(openssl x509 -in "$WORK/x-self.pem" -outform DER | base64 -w0)' '$J'.unsealed-*"
check "the forged certificate was not given out" sh -c "! cmp -s '$WORK/x-self.pem' again/certs/x.pem"
check "x got a certificate the CA signed" openssl verify -CAfile pki/factory_ca.pem -untrusted pki/local-ca.pem again/certs/x.pem
check "records 4 and 5 are still there, issued" sh -c "[ '$(field "$J" 4 3) $(field "$J" 5 3)' = 'issued issued' ]"
check "journal verify passes" "$STATION" journal verify
cd /
finish
