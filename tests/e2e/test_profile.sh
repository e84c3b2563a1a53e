#!/usr/bin/env bash
# End-to-end: the device certificate profile, field by field and byte by byte,
# as openssl reads what the station wrote; validity capping; the production
# marker rules; reissue allowed by configuration.
. "$(dirname "$0")/lib.sh"
VALIDITY_DAYS=365 make_pki
B=$WORK/stick; mkdir -p "$B/csr"
ID=$(uuid)
make_key "$WORK/dev.key"
make_csr "$B/csr/dev.csr" "$WORK/dev.key" "$(device_subject "$ID")"
"$STATION" -q sign "$B" >/dev/null
C=$B/certs/dev.pem
openssl x509 -in "$C" -noout -text >"$WORK/text"

# DER pieces via asn1parse: subject, issuer and key bytes
der_of() { # FILE KIND(req|x509) WHAT(subject|issuer|pubkey)
  case "$2-$3" in
    x509-subject) openssl x509 -in "$1" -noout -subject -nameopt RFC2253,dump_der,dump_all ;;
    x509-issuer)  openssl x509 -in "$1" -noout -issuer -nameopt RFC2253,dump_der,dump_all | sed 's/^issuer/subject/' ;;
    req-subject)  openssl req -in "$1" -noout -subject -nameopt RFC2253,dump_der,dump_all ;;
    x509-pubkey)  openssl x509 -in "$1" -noout -pubkey ;;
    req-pubkey)   openssl req -in "$1" -noout -pubkey ;;
  esac
}
check "verifies as a TLS client certificate (x509_strict)" verify_device_cert "$C"
check "version 3" grep -q "Version: 3 (0x2)" "$WORK/text"
check "ecdsa-with-SHA256" sh -c "grep -c 'Signature Algorithm: ecdsa-with-SHA256' '$WORK/text' | grep -q 2"
check "subject is the CSR's, byte for byte" sh -c "[ \"\$(openssl x509 -in '$C' -noout -subject -nameopt RFC2253,dump_der,dump_all)\" = \"\$(openssl req -in '$B/csr/dev.csr' -noout -subject -nameopt RFC2253,dump_der,dump_all)\" ]"
check "issuer is the local CA's subject, byte for byte" sh -c "[ \"\$(openssl x509 -in '$C' -noout -issuer -nameopt RFC2253,dump_der,dump_all | cut -d= -f2-)\" = \"\$(openssl x509 -in '$WORK/pki/local-ca.pem' -noout -subject -nameopt RFC2253,dump_der,dump_all | cut -d= -f2-)\" ]"
check "public key is the CSR's" sh -c "[ \"\$(openssl x509 -in '$C' -noout -pubkey)\" = \"\$(openssl req -in '$B/csr/dev.csr' -noout -pubkey)\" ]"
check "P-256 named curve" grep -q "NIST CURVE: P-256" "$WORK/text"
check "keyUsage critical, digitalSignature only" sh -c "grep -A1 'X509v3 Key Usage: critical' '$WORK/text' | tail -1 | grep -qx ' *Digital Signature'"
check "extendedKeyUsage critical, clientAuth only" sh -c "grep -A1 'X509v3 Extended Key Usage: critical' '$WORK/text' | tail -1 | grep -qx ' *TLS Web Client Authentication'"
CA_SKI=$(openssl x509 -in "$WORK/pki/local-ca.pem" -noout -ext subjectKeyIdentifier | tail -1 | tr -d ' ')
AKI=$(openssl x509 -in "$C" -noout -ext authorityKeyIdentifier | tail -1 | tr -d ' ' | sed 's/^keyid://')
check "authorityKeyIdentifier is the CA's SKI ($CA_SKI)" test "$AKI" = "$CA_SKI"
check "has a subjectKeyIdentifier" grep -q "X509v3 Subject Key Identifier" "$WORK/text"
check "exactly four extensions" sh -c "[ \$(grep -c '^ *X509v3 [A-Z].*:' '$WORK/text') = 4 ]"
check "no basicConstraints (not a CA)" sh -c "! grep -q 'Basic Constraints' '$WORK/text'"
SERIAL=$(openssl x509 -in "$C" -noout -serial | cut -d= -f2)
check "serial has 16 octets and is positive" sh -c "[ ${#SERIAL} = 32 ] && case $SERIAL in [0-7]*) true;; *) false;; esac"
NB=$(date -d "$(openssl x509 -in "$C" -noout -startdate | cut -d= -f2)" +%s)
NA=$(date -d "$(openssl x509 -in "$C" -noout -enddate | cut -d= -f2)" +%s)
NOW=$(date +%s)
check "notBefore a few minutes back (clock skew)" sh -c "[ $NB -le $NOW ] && [ $NB -ge $((NOW - 400)) ]"
check "notAfter = now + 365 days" sh -c "d=$((NA - NOW - 365 * 86400)); [ \$d -ge -120 ] && [ \$d -le 120 ]"
check "serial and device in the journal" grep -q "$(echo "$SERIAL" | tr A-F a-f)" "$WORK/journal/journal.log"

# validity capped at the CA's notAfter
VALIDITY_DAYS=36500 write_config "$WORK/long.yaml"
ID2=$(uuid); make_key "$WORK/d2.key"; mkdir -p "$WORK/b2/csr"
make_csr "$WORK/b2/csr/d2.csr" "$WORK/d2.key" "$(device_subject "$ID2")"
"$STATION" -q -c "$WORK/long.yaml" sign "$WORK/b2" >/dev/null
check "validity never past the CA's notAfter" sh -c "[ \"\$(openssl x509 -in '$WORK/b2/certs/d2.pem' -noout -enddate)\" = \"\$(openssl x509 -in '$WORK/pki/local-ca.pem' -noout -enddate)\" ]"

# production marker: require
PRODUCTION=require write_config "$WORK/prod.yaml"
mkdir -p "$WORK/b3/csr"; make_key "$WORK/p.key"; make_key "$WORK/np.key"
make_csr "$WORK/b3/csr/prod.csr" "$WORK/p.key" "/CN=$(uuid)/OU=$FACTORY/businessCategory=production"
make_csr "$WORK/b3/csr/plain.csr" "$WORK/np.key" "$(device_subject "$(uuid)")"
check "production: require exits 1 for the plain CSR" expect_status 1 "$STATION" -q -c "$WORK/prod.yaml" sign "$WORK/b3"
check "production CSR issued with businessCategory kept" sh -c "openssl x509 -in '$WORK/b3/certs/prod.pem' -noout -subject | grep -q 'businessCategory = production'"
check "plain CSR refused as production-required" grep -q "^production-required " "$WORK/b3/rejected/plain.txt"

# reissue: allow lets a device get a certificate for a new key
REISSUE=allow write_config "$WORK/reissue.yaml"
mkdir -p "$WORK/b4/csr"; make_key "$WORK/new.key"
make_csr "$WORK/b4/csr/again.csr" "$WORK/new.key" "$(device_subject "$ID")"
check "reissue refused by default" expect_status 1 "$STATION" -q sign "$WORK/b4"
rm -rf "$WORK/b4/rejected"
check "reissue allowed by configuration" expect_status 0 "$STATION" -q -c "$WORK/reissue.yaml" sign "$WORK/b4"
check "the reissued certificate verifies" verify_device_cert "$WORK/b4/certs/again.pem"
finish
