#!/usr/bin/env bash
# End-to-end: a slow token (tests/pkcs11 slow_token in front of SoftHSM, 30 ms
# per signature, as a USB HSM) with hsm.sessions: 4. Every CSR is signed exactly
# once (the module counts C_Sign calls), every certificate verifies, serials
# are distinct, and a re-run signs nothing. (How fast is the benchmark's
# business: tests/bench/throughput.sh --slow-ms 20 --sessions 4.)
. "$(dirname "$0")/lib.sh"
SLOW=$(dirname "$STATION")/../tests/libslow_token.so
[ -f "$SLOW" ] || { echo "slow_token module not built at $SLOW"; exit 1; }
make_pki
export SLOW_TOKEN_MODULE=$SOFTHSM_MODULE SLOW_TOKEN_DELAY_MS=30 SLOW_TOKEN_COUNT=$WORK/signatures
sed -e "s|module: .*|module: $SLOW|" -e "s|  pin: env:STATION_TEST_PIN|  pin: env:STATION_TEST_PIN\n  sessions: 4|" \
  "$WORK/station.yaml" >"$WORK/slow.yaml"
B=$WORK/stick; mkdir -p "$B/csr"
for i in $(seq -w 1 24); do
  make_key "$WORK/k$i.key"
  make_csr "$B/csr/d$i.csr" "$WORK/k$i.key" "$(device_subject "$(uuid)")"
done
cp "$B/csr/d01.csr" "$B/csr/d01-copy.csr"
: >"$WORK/signatures"
check "24 CSRs (and a copy) signed through 4 sessions on a slow token" "$STATION" -q -c "$WORK/slow.yaml" sign "$B"
# besides the 24 certificates the token signs the key proof at login (one)
# and each checkpoint of the journal
SIGNATURES=$(grep -c . "$WORK/signatures")
CHECKPOINTS=$(grep -c ' checkpoint ' "$WORK/journal/journal.log")
check "every CSR signed exactly once ($SIGNATURES signatures: 24 + login proof + $CHECKPOINTS checkpoints)" \
  test "$SIGNATURES" = $((24 + 1 + CHECKPOINTS))
for f in "$B"/certs/*.pem; do
  verify_device_cert "$f" >/dev/null || { echo "$f does not verify"; FAILED=$((FAILED + 1)); }
done
check "all 25 certificates on the stick verify" test "$(ls "$B"/certs | wc -l)" = 25
check "the copy got the same certificate" cmp "$B/certs/d01.pem" "$B/certs/d01-copy.pem"
check "issued serials are distinct" sh -c "[ -z \"\$(awk '\$3 == \"issued\" {print \$8}' '$WORK/journal/journal.log' | sort | uniq -d)\" ]"
: >"$WORK/signatures"
CP_BEFORE=$(grep -c ' checkpoint ' "$WORK/journal/journal.log")
HB_BEFORE=$(grep -c ' handed-back ' "$WORK/journal/journal.log" || true)
check "a re-run signs no certificate (only the login proof and the seal of the hand-back records)" sh -c "'$STATION' -q -c '$WORK/slow.yaml' sign '$B' && [ \$(grep -c . '$WORK/signatures' || true) = \$((1 + \$(grep -c ' checkpoint ' '$WORK/journal/journal.log') - $CP_BEFORE)) ]"
check "... and journals every hand-back" test $(($(grep -c ' handed-back ' "$WORK/journal/journal.log") - HB_BEFORE)) = 25
check "journal verify passes" "$STATION" -c "$WORK/slow.yaml" journal verify
finish
