#!/usr/bin/env bash
# End-to-end: the key ceremony on a fresh token (ca init, ca certify with a key
# file and with a key in a second PKCS#11 token, ca show), the key never
# extractable, and the station's refusals around the HSM: a wrong PIN, a
# missing module, a missing token, a key that does not match the certificate.
# STATION_TEST_BACKEND=tpm2 runs it all on tpm2-pkcs11 over a software TPM.
. "$(dirname "$0")/lib.sh"
make_pki
P=$WORK/pki
check "ca init wrote a CSR whose signature verifies" openssl req -in "$P/local-ca.csr" -noout -verify
check "the CSR subject is CN=fio-..., OU=factory" sh -c "openssl req -in '$P/local-ca.csr' -noout -subject -nameopt RFC2253 | grep -qx 'subject=OU=$FACTORY,CN=fio-0123456789abcdef'"
check "the CSR asks for the local-CA profile" sh -c "openssl req -in '$P/local-ca.csr' -noout -text | grep -A1 'Basic Constraints: critical' | grep -q 'CA:TRUE, pathlen:0'"
pkcs11-tool --module "$PKCS11_MODULE" --token-label station --login --pin $TEST_PIN --list-objects --type privkey \
  2>/dev/null | grep -A4 'label: *local-ca' >"$WORK/key.attrs"
check "the CA key was generated in the token, sensitive and never extractable" \
  grep -qx ' *Access: *sensitive, always sensitive, never extractable, local' "$WORK/key.attrs"
check "the CA key can sign and do nothing else" grep -qx ' *Usage: *sign' "$WORK/key.attrs"
check "ca init refuses to overwrite an existing key (exit 2)" expect_status 2 "$STATION" -q ca init --cn fio-0123456789abcdef --out "$WORK/again.csr"
check "ca init refuses a CN that is not fio-<id>" expect_status 2 "$STATION" -q ca init --cn root --out "$WORK/x.csr"

openssl x509 -in "$P/local-ca.pem" -noout -text >"$WORK/ca.text"
check "local CA: basicConstraints critical CA:TRUE pathlen:0" sh -c "grep -A1 'Basic Constraints: critical' '$WORK/ca.text' | grep -q 'CA:TRUE, pathlen:0'"
check "local CA: keyUsage critical keyCertSign only" sh -c "grep -A1 'Key Usage: critical' '$WORK/ca.text' | tail -1 | grep -qx ' *Certificate Sign'"
check "local CA: SKI present" grep -q "Subject Key Identifier" "$WORK/ca.text"
check "local CA: AKI is the root's SKI" sh -c "[ \"\$(openssl x509 -in '$P/local-ca.pem' -noout -ext authorityKeyIdentifier | tail -1 | tr -d ' ' | sed 's/keyid://')\" = \"\$(openssl x509 -in '$P/factory_ca.pem' -noout -ext subjectKeyIdentifier | tail -1 | tr -d ' ')\" ]"
check "local CA: ecdsa-with-SHA256, P-256" sh -c "grep -q 'ecdsa-with-SHA256' '$WORK/ca.text' && grep -q 'P-256' '$WORK/ca.text'"
check "local CA: 10 years" sh -c "nb=\$(date -d \"\$(openssl x509 -in '$P/local-ca.pem' -noout -startdate | cut -d= -f2)\" +%s); na=\$(date -d \"\$(openssl x509 -in '$P/local-ca.pem' -noout -enddate | cut -d= -f2)\" +%s); [ \$((na - nb)) = \$((3650 * 86400)) ]"
check "local CA verifies against the root (x509_strict)" openssl verify -x509_strict -CAfile "$P/factory_ca.pem" "$P/local-ca.pem"
check "ca show: healthy, exit 0" "$STATION" ca show
"$STATION" ca show >"$WORK/show.out" 2>&1 || true
check "ca show names the token and key state" sh -c "grep -q 'station' '$WORK/show.out' && grep -q 'not extractable' '$WORK/show.out' && grep -q 'key-match' '$WORK/show.out'"
check "ca show: no PIN in its output" sh -c "! grep -q $TEST_PIN '$WORK/show.out'"
check "selftest: healthy" "$STATION" selftest

# certify with a root key held in another PKCS#11 token
ROOT_MODULE=$PKCS11_MODULE
ROOT_QUERY=
if [ "$BACKEND" = tpm2 ]; then
  # openssl's pkcs11 engine cannot drive tpm2-pkcs11 in the openssl process
  # (tss2-esys fails "Error in parameter encryption" on login), so the root
  # certificate cannot be self-signed by a TPM key here: the factory root is on
  # a SoftHSM token, another kind of token, named with module-path= in the URI.
  echo "note: tpm2 backend: the factory-root token is a SoftHSM token (openssl's pkcs11 engine cannot use tpm2-pkcs11)"
  ROOT_MODULE=$SOFTHSM_MODULE
  ROOT_QUERY="module-path=$SOFTHSM_MODULE&"
  mkdir -p "$WORK/root-token/tokens"
  printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$WORK/root-token/tokens" \
    >"$WORK/root-token/softhsm2.conf"
  export SOFTHSM2_CONF=$WORK/root-token/softhsm2.conf
  softhsm2-util --init-token --free --label factory-root --pin 4321 --so-pin 87654321 >/dev/null
else
  init_token factory-root 4321 87654321
fi
pkcs11-tool --module "$ROOT_MODULE" --token-label factory-root --login --pin 4321 \
  --keypairgen --key-type EC:prime256v1 --label root --id 07 >/dev/null 2>&1
# the root certificate is self-signed by that token key (openssl's pkcs11 engine, test tooling only)
PKCS11_MODULE_PATH=$ROOT_MODULE openssl req -new -x509 -engine pkcs11 -keyform engine \
  -key "pkcs11:token=factory-root;object=root;type=private;pin-value=4321" -subj "/CN=Token-Root/OU=$FACTORY" \
  -days 3650 -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" \
  -out "$WORK/token-root.pem" >"$WORK/token-root.log" 2>&1 || { cat "$WORK/token-root.log"; exit 1; }
echo 4321 >"$WORK/root.pin"; chmod 600 "$WORK/root.pin"
check "ca certify with a pkcs11: URI root key" "$STATION" -q ca certify --csr "$P/local-ca.csr" \
  --root-cert "$WORK/token-root.pem" --root-key "pkcs11:token=factory-root;object=root?${ROOT_QUERY}pin-source=file:$WORK/root.pin" \
  --out "$WORK/local-ca-2.pem"
check "it verifies against the token-held root (x509_strict)" openssl verify -x509_strict -CAfile "$WORK/token-root.pem" "$WORK/local-ca-2.pem"
check "pin-value in a URI is refused (no PIN in argv)" expect_status 2 "$STATION" -q ca certify --csr "$P/local-ca.csr" \
  --root-cert "$WORK/token-root.pem" --root-key "pkcs11:token=factory-root;object=root?${ROOT_QUERY}pin-value=4321" --out "$WORK/x.pem"
check "certify refuses a CSR from another factory" expect_status 1 "$STATION" -q ca certify --csr "$P/local-ca.csr" \
  --root-cert "$P/factory_ca.pem" --root-key "$P/factory_ca.key" --factory other --out "$WORK/x.pem"
check "certify refuses a root key that is not the root's" sh -c "openssl ecparam -genkey -name prime256v1 -out '$WORK/other.key' 2>/dev/null; ! '$STATION' -q ca certify --csr '$P/local-ca.csr' --root-cert '$P/factory_ca.pem' --root-key '$WORK/other.key' --out '$WORK/x.pem'"

# faults named clearly
B=$WORK/stick; mkdir -p "$B/csr"; make_key "$WORK/d.key"; make_csr "$B/csr/d.csr" "$WORK/d.key" "$(device_subject "$(uuid)")"
STATION_TEST_PIN=9999 "$STATION" sign "$B" >"$WORK/wrongpin.out" 2>&1 || echo "status $?" >>"$WORK/wrongpin.out"
check "wrong PIN: exit 3, hsm-pin named" sh -c "grep -q 'status 3' '$WORK/wrongpin.out' && grep -q 'hsm-pin' '$WORK/wrongpin.out'"
check "wrong PIN: the PIN is not printed" sh -c "! grep -q 9999 '$WORK/wrongpin.out'"
check "wrong PIN: nothing issued" test ! -e "$B/certs/d.pem"
sed "s|module: .*|module: /nonexistent/libpkcs11.so|" "$WORK/station.yaml" >"$WORK/nomodule.yaml"
"$STATION" -c "$WORK/nomodule.yaml" sign "$B" >"$WORK/nomodule.out" 2>&1 || echo "status $?" >>"$WORK/nomodule.out"
check "missing module: exit 3, path named" sh -c "grep -q 'status 3' '$WORK/nomodule.out' && grep -q '/nonexistent/libpkcs11.so' '$WORK/nomodule.out'"
sed "s|token: station|token: nosuchtoken|" "$WORK/station.yaml" >"$WORK/notoken.yaml"
"$STATION" -c "$WORK/notoken.yaml" sign "$B" >"$WORK/notoken.out" 2>&1 || echo "status $?" >>"$WORK/notoken.out"
check "missing token: exit 3, label named" sh -c "grep -q 'status 3' '$WORK/notoken.out' && grep -q 'nosuchtoken' '$WORK/notoken.out'"
sed "s|key: local-ca|key: nosuchkey|" "$WORK/station.yaml" >"$WORK/nokey.yaml"
"$STATION" -c "$WORK/nokey.yaml" sign "$B" >"$WORK/nokey.out" 2>&1 || echo "status $?" >>"$WORK/nokey.out"
check "missing key: exit 3, label named" sh -c "grep -q 'status 3' '$WORK/nokey.out' && grep -q 'nosuchkey' '$WORK/nokey.out'"
# a CA certificate for another key: the station refuses to run
pkcs11-tool --module "$PKCS11_MODULE" --token-label station --login --pin $TEST_PIN \
  --keypairgen --key-type EC:prime256v1 --label other-key --id 09 >/dev/null 2>&1
sed "s|key: local-ca|key: other-key|" "$WORK/station.yaml" >"$WORK/mismatch.yaml"
"$STATION" -c "$WORK/mismatch.yaml" sign "$B" >"$WORK/mismatch.out" 2>&1 || echo "status $?" >>"$WORK/mismatch.out"
check "key differing from the CA certificate: exit 3, ca-key-mismatch" sh -c "grep -q 'status 3' '$WORK/mismatch.out' && grep -q 'ca-key-mismatch' '$WORK/mismatch.out'"
check "and nothing was issued" test ! -e "$B/certs/d.pem"
check "the right key then signs" "$STATION" -q sign "$B"
finish
