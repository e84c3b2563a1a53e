#!/usr/bin/env bash
# End-to-end: the board-side enroll script (packaging/board/station-enroll.sh,
# run by dash, as on a board's image) against the real station over a pty
# "null-modem cable"; its outputs verified with openssl: the certificate is for
# the board's key and id and chains to the root, the files are where a device
# expects them; a refusal gives the station's reason and a non-zero status; a
# production certificate; a retry with the kept key gets the same certificate;
# a key on a PKCS#11 token of the board.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serial_lib.sh"
ENROLL=$(cd "$(dirname "$0")/../../packaging/board" && pwd)/station-enroll.sh
SH=$(command -v dash || echo /bin/sh)
PRODUCTION=allow make_pki
U0=$(uuid) U1=$(uuid) U2=$(uuid) U3=$(uuid)
ROOT=$WORK/pki/factory_ca.pem

# enroll_cmd NAME ARGS...: the command a cable runs; output in $WORK/NAME.out, status in $WORK/NAME.status
enroll_cmd() {
  local name=$1; shift
  echo "$SH '$ENROLL' --tty \"\$BOARD_TTY\" --timeout 20 $* >'$WORK/$name.out' 2>&1; echo \$? >'$WORK/$name.status'"
}

# a token for the board's own key (PKCS#11), next to the station's
softhsm2-util --init-token --free --label board --pin 1111 --so-pin 22222222 >/dev/null
pkcs11-tool --module "$SOFTHSM_MODULE" --token-label board --login --pin 1111 --keypairgen \
  --key-type EC:prime256v1 --label devkey --id 01 >/dev/null 2>&1
export PKCS11_MODULE_PATH=$SOFTHSM_MODULE

run_sim "four boards enroll at once" \
  --cable "$(enroll_cmd dev0 --factory "$FACTORY" --uuid "$U0" --out "$WORK/dev0" --expect-root "$ROOT")" \
  --cable "$(enroll_cmd dev1 --factory other-factory --uuid "$U1" --out "$WORK/dev1")" \
  --cable "$(enroll_cmd dev2 --factory "$FACTORY" --uuid "$U2" --out "$WORK/dev2" --production)" \
  --cable "$(enroll_cmd dev3 --factory "$FACTORY" --uuid "$U3" --out "$WORK/dev3" \
             --pkcs11-uri "'pkcs11:token=board;object=devkey;type=private?pin-value=1111'")" \
  -- "$STATION" serial

D=$WORK/dev0
check "enroll exits 0" grep -qx 0 "$WORK/dev0.status"
check "it says what it installed" grep -q "enrolled $U0" "$WORK/dev0.out"
check "client.pem verifies as a client certificate to the factory root" verify_device_cert "$D/client.pem"
check "client.pem is for the board's key" \
  cmp <(openssl x509 -in "$D/client.pem" -noout -pubkey) <(openssl pkey -in "$D/pkey.pem" -pubout)
check "client.pem names the board's id and factory" \
  sh -c "openssl x509 -in '$D/client.pem' -noout -subject -nameopt RFC2253 | grep -q 'OU=$FACTORY,CN=$U0'"
check "root.crt is the factory root" cmp "$D/root.crt" "$ROOT"
check "client.chained is the certificate then the local CA" \
  cmp "$D/client.chained" <(cat "$D/client.pem" "$WORK/pki/local-ca.pem")
check "the chained file verifies with the root alone" \
  openssl verify -CAfile "$D/root.crt" -untrusted "$D/client.chained" "$D/client.pem"
check "the key is private to its owner (0600)" test "$(stat -c %a "$D/pkey.pem")" = 600
check "no temporary files left" sh -c "! ls -A '$D' | grep -q '^\\.'"

check "wrong factory: exit 2" grep -qx 2 "$WORK/dev1.status"
check "wrong factory: the station's reason shown" grep -q "refused: wrong-factory .*other-factory" "$WORK/dev1.out"
check "wrong factory: nothing installed" test ! -e "$WORK/dev1/client.pem"

check "production: exit 0" grep -qx 0 "$WORK/dev2.status"
check "production: the certificate carries businessCategory=production" \
  sh -c "openssl x509 -in '$WORK/dev2/client.pem' -noout -subject -nameopt RFC2253 | grep -q 'businessCategory=production'"
check "production: verifies" verify_device_cert "$WORK/dev2/client.pem"

check "pkcs11 key: exit 0" grep -qx 0 "$WORK/dev3.status"
check "pkcs11 key: no key file made" test ! -e "$WORK/dev3/pkey.pem"
check "pkcs11 key: the certificate is for the token's key" \
  cmp <(openssl x509 -in "$WORK/dev3/client.pem" -noout -pubkey) \
      <(pkcs11-tool --module "$SOFTHSM_MODULE" --token-label board --read-object --type pubkey --label devkey 2>/dev/null |
        openssl pkey -pubin -inform DER -pubout)
check "pkcs11 key: verifies" verify_device_cert "$WORK/dev3/client.pem"

# --- a retry (the board lost power before saving the answer): same key, same certificate
cp "$D/client.pem" "$WORK/first.pem"
rm "$D/client.pem" "$D/root.crt" "$D/client.chained"
run_sim "a retry with the kept key" \
  --cable "$(enroll_cmd retry --factory "$FACTORY" --uuid "$U0" --out "$D")" -- "$STATION" serial
check "retry: exit 0" grep -qx 0 "$WORK/retry.status"
check "retry: the same certificate as the first time" cmp "$D/client.pem" "$WORK/first.pem"
check "retry: no second certificate journaled" \
  test "$(awk -v d="$U0" '$3 == "issued" && $5 == d' "$WORK/journal/journal.log" | wc -l)" = 1

# --- no station on the line: a timeout, exit 3
run_sim "nobody answers" --port-args no \
  --cable "$(enroll_cmd silent --factory "$FACTORY" --out "$WORK/dev4" --timeout 1)" \
  -- /bin/sh -c 'trap "exit 0" TERM; while :; do sleep 0.1; done'
check "no answer: exit 3 after the timeout" grep -qx 3 "$WORK/silent.status"
check "usage: no --tty is exit 1" expect_status 1 "$SH" "$ENROLL" --factory "$FACTORY"
finish
