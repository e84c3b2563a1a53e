#!/usr/bin/env bash
# End-to-end: a batch of good, bad and odd inputs signed by the real binary on a
# fresh SoftHSM token; every certificate checked with openssl; every refusal
# with its reason; a re-run issuing nothing new; the journal verified and a
# flipped byte caught.
. "$(dirname "$0")/lib.sh"
make_pki
B=$WORK/stick
mkdir -p "$B/csr" "$WORK/keys"
K=$WORK/keys

# --- good CSRs: PEM, DER, upper-case UUID, a CSR asking for CA powers, a byte-identical copy
for i in 1 2 3; do
  make_key "$K/good$i.key"
  make_csr "$B/csr/good$i.csr" "$K/good$i.key" "$(device_subject "$(uuid)")"
done
make_key "$K/der.key"
make_csr "$WORK/der.pem" "$K/der.key" "$(device_subject "$(uuid)")"
openssl req -in "$WORK/der.pem" -outform DER -out "$B/csr/der-form.der"
make_key "$K/upper.key"
UPPER=$(uuid | tr a-f A-F)
make_csr "$B/csr/upper.pem" "$K/upper.key" "$(device_subject "$UPPER")"
make_key "$K/wantsca.key"
make_csr "$B/csr/wants-ca.csr" "$K/wantsca.key" "$(device_subject "$(uuid)")" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign"
cp "$B/csr/good1.csr" "$B/csr/copy-of-good1.csr"

# --- bad CSRs, one per refusal reason
echo "this is not a csr" >"$B/csr/garbage.csr"
cat "$B/csr/good2.csr" "$B/csr/good3.csr" >"$B/csr/two.csr"
make_key "$K/tampered.key"
make_csr "$WORK/t.pem" "$K/tampered.key" "$(device_subject 11111111-2222-3333-4444-555555555555)"
openssl req -in "$WORK/t.pem" -outform DER -out "$WORK/t.der"
python3 - "$WORK/t.der" "$B/csr/tampered.der" <<'PY'
import sys
data = open(sys.argv[1], "rb").read()
i = data.find(b"11111111-2222")
open(sys.argv[2], "wb").write(data[:i] + b"9" + data[i + 1:])
PY
openssl genrsa -out "$K/rsa.key" 2048 2>/dev/null
make_csr "$B/csr/rsa.csr" "$K/rsa.key" "$(device_subject "$(uuid)")"
make_key "$K/p384.key" secp384r1
make_csr "$B/csr/p384.csr" "$K/p384.key" "$(device_subject "$(uuid)")"
openssl ecparam -name prime256v1 -param_enc explicit -genkey -noout -out "$K/explicit.key" 2>/dev/null
make_csr "$B/csr/explicit.csr" "$K/explicit.key" "$(device_subject "$(uuid)")"
make_key "$K/sha384.key"
openssl req -new -key "$K/sha384.key" -subj "$(device_subject "$(uuid)")" -sha384 -out "$B/csr/sha384.csr"
make_key "$K/cn.key"
make_csr "$B/csr/cn-not-uuid.csr" "$K/cn.key" "/CN=board-17/OU=$FACTORY"
make_csr "$B/csr/two-cn.csr" "$K/cn.key" "/CN=$(uuid)/CN=$(uuid)/OU=$FACTORY"
make_csr "$B/csr/no-ou.csr" "$K/cn.key" "/CN=$(uuid)"
make_csr "$B/csr/other-factory.csr" "$K/cn.key" "/CN=$(uuid)/OU=other-factory"
make_csr "$B/csr/two-ou.csr" "$K/cn.key" "/CN=$(uuid)/OU=$FACTORY/OU=$FACTORY"
make_csr "$B/csr/extra-o.csr" "$K/cn.key" "/CN=$(uuid)/OU=$FACTORY/O=Acme"
make_csr "$B/csr/production.csr" "$K/cn.key" "/CN=$(uuid)/OU=$FACTORY/businessCategory=production"
# same key as good1 under another device id: a cloned board
make_csr "$B/csr/zz-clone.csr" "$K/good1.key" "$(device_subject "$(uuid)")"
# good2's device id with a new key
GOOD2_ID=$(openssl req -in "$B/csr/good2.csr" -noout -subject -nameopt multiline | awk '/commonName/ {print $3}')
make_key "$K/newkey.key"
make_csr "$B/csr/zz-newkey.csr" "$K/newkey.key" "$(device_subject "$GOOD2_ID")"
head -c 20000 /dev/urandom >"$B/csr/huge.csr"
: >"$B/csr/empty.csr"

# --- file-system oddities
ln -s /etc/passwd "$B/csr/link.csr"
mkfifo "$B/csr/fifo.csr"
mkdir "$B/csr/subdir.csr"
cp "$B/csr/good3.csr" "$B/csr/.hidden.csr"
cp "$B/csr/good3.csr" "$B/csr/notes.txt"
cp "$B/csr/good3.csr" "$B/csr/good3.pem"   # gives certs/good3.pem too: a name clash

# --- good1 and good2 issued by an earlier batch: the clone and the new key
# above then meet earlier issuance (key-reused, device-already-certified);
# clones inside one batch are e2e.trust's
mkdir -p "$WORK/earlier/csr"
cp "$B/csr/good1.csr" "$B/csr/good2.csr" "$WORK/earlier/csr/"
check "the earlier batch issues good1 and good2" "$STATION" -q sign "$WORK/earlier"

# --- the run
check "batch with refusals exits 1" expect_status 1 timeout 120 "$STATION" sign "$B"
"$STATION" -q sign "$B" >"$WORK/rerun.out" 2>&1 || true

for n in good1 good2 good3 der-form upper wants-ca copy-of-good1; do
  check "$n issued and verifies as a client certificate" verify_device_cert "$B/certs/$n.pem"
  check "$n has no rejection note" test ! -e "$B/rejected/$n.txt"
done
check "byte-identical copy got the same certificate" cmp "$B/certs/good1.pem" "$B/certs/copy-of-good1.pem"
check "the CSR asking for CA powers got none" sh -c "! openssl x509 -in '$B/certs/wants-ca.pem' -noout -text | grep -q 'CA:TRUE'"
check "upper-case UUID kept as sent" sh -c "openssl x509 -in '$B/certs/upper.pem' -noout -subject | grep -q '$UPPER'"

refused() { # NAME REASON
  check "$1 refused as $2" sh -c "head -1 '$B/rejected/$1.txt' | grep -q '^$2 '"
  check "$1 has no certificate" test ! -e "$B/certs/$1.pem"
}
refused garbage not-a-csr
refused empty not-a-csr
refused two multiple-csrs
refused tampered csr-signature-invalid
refused rsa wrong-key-type
refused p384 wrong-key-type
refused explicit wrong-key-type
refused sha384 wrong-signature-algorithm
refused cn-not-uuid bad-common-name
refused two-cn bad-common-name
refused no-ou wrong-factory
refused other-factory wrong-factory
refused two-ou wrong-factory
refused extra-o unexpected-subject-attribute
refused production production-forbidden
refused zz-clone key-reused
refused zz-newkey device-already-certified
refused huge too-large
refused link not-a-regular-file
refused fifo not-a-regular-file
refused subdir not-a-regular-file
check "notes.txt refused for its name" sh -c "head -1 '$B/rejected/notes.txt.txt' | grep -q '^bad-file-name '"
check "good3.pem refused as a name clash, its note under its full name" sh -c "grep -q '^name-clash ' '$B/rejected/good3.pem.txt'"
check "good3.csr still issued" verify_device_cert "$B/certs/good3.pem"
check "hidden file ignored" sh -c "! ls -a '$B/certs' '$B/rejected' | grep -q hidden"
check "symlink target untouched and not copied" sh -c "! grep -rq root: '$B/certs' '$B/rejected'"
check "no temporary files left" sh -c "! ls -a '$B/certs' '$B/rejected' | grep -q station-tmp"

# --- the re-run issued nothing new
check "re-run reports nothing new" grep -q "issued 7 (new 0, issued before 7)" "$WORK/rerun.out"
ISSUED=$(grep -c ' issued ' "$WORK/journal/journal.log" || true)
check "journal holds 6 issued records (copy and re-run signed nothing)" test "$ISSUED" = 6

# --- every certificate has a distinct serial, and the journal verifies
check "issued serials are distinct" sh -c "[ -z \"\$(awk '\$3 == \"issued\" {print \$8}' '$WORK/journal/journal.log' | sort | uniq -d)\" ]"
check "six distinct certificates on the stick" sh -c "[ \$(cat '$B'/certs/*.pem | openssl crl2pkcs7 -nocrl -certfile /dev/stdin | openssl pkcs7 -print_certs -noout | grep -c subject) = 7 ] && [ \$(md5sum '$B'/certs/*.pem | cut -d' ' -f1 | sort -u | wc -l) = 6 ]"
check "journal verify passes" "$STATION" journal verify
cp "$WORK/journal/journal.log" "$WORK/journal.bak"
python3 - "$WORK/journal/journal.log" <<'PY'
import sys
p = sys.argv[1]
lines = open(p, "rb").read().split(b"\n")
line = bytearray(lines[3])
line[40] = ord("0") if line[40] != ord("0") else ord("1")
lines[3] = bytes(line)
open(p, "wb").write(b"\n".join(lines))
PY
check "a flipped byte fails journal verify with status 1" expect_status 1 "$STATION" journal verify
check "the bad record is named" sh -c "'$STATION' journal verify | grep -q 'record 3'"
check "signing refuses to run on a tampered journal (exit 3)" expect_status 3 "$STATION" sign "$B"
cp "$WORK/journal.bak" "$WORK/journal/journal.log"
check "restored journal verifies" "$STATION" journal verify

# a refused file replaced by a good CSR: issued, and its stale note goes
make_key "$K/fixed.key"
make_csr "$B/csr/garbage.csr" "$K/fixed.key" "$(device_subject "$(uuid)")"
"$STATION" -q sign "$B" >/dev/null 2>&1 || true
check "the fixed CSR is issued" verify_device_cert "$B/certs/garbage.pem"
check "its stale rejection note is gone" test ! -e "$B/rejected/garbage.txt"
finish
