#!/usr/bin/env bash
# End-to-end: the journal's index file (docs/journal-format.md, "The index
# file"), on a real token:
#   1. a batch of 1100 CSRs leaves journal.log.index (0600) beside the log,
#      and its signature (by the journal key) verifies with openssl and the
#      key `station journal key` prints;
#   2. a restart opens through it: a CSR of that batch is handed back ("issued
#      before"), none signed twice, nothing said about the index;
#   3. an index changed after it was signed is not used: the station says so
#      and reads the whole journal, the duplicate is still found, the index
#      is written anew (signature verifies again); journal verify passes;
#   4. a stale index (an older copy, before more records were sealed) is used
#      with the records after it: duplicates of both parts found;
#   5. the index of another journal (genesis differs) is not used.
. "$(dirname "$0")/lib.sh"
MAKE_CSRS=$(dirname "$STATION")/../tests/bench/make_csrs
[ -x "$MAKE_CSRS" ] || { echo "make_csrs not built at $MAKE_CSRS"; exit 1; }
make_pki
J=$WORK/journal/journal.log
IX=$J.index

# index_signature_ok: the index's trailer signature over its message, checked with openssl alone
index_signature_ok() {
  python3 - "$IX" "$WORK" <<'PY'
import hashlib, struct, sys
data = open(sys.argv[1], 'rb').read()
size = 320 + struct.unpack_from('<Q', data, 192)[0] * 40 + sum(struct.unpack_from('<4Q', data, 200)) * 4
(n,) = struct.unpack_from('<I', data, size)
assert size + 4 + n == len(data), "sizes"
genesis, seq, chain = data[32:64].hex(), struct.unpack_from('<Q', data, 64)[0], data[120:152].hex()
msg = 'station-journal-index 1 %s %d %s %s\n' % (genesis, seq, chain, hashlib.sha256(data[:size]).hexdigest())
open(sys.argv[2] + '/ix.msg', 'w').write(msg)
open(sys.argv[2] + '/ix.sig', 'wb').write(data[size + 4:])
PY
  openssl dgst -sha256 -verify "$WORK/journal-key.pem" -signature "$WORK/ix.sig" "$WORK/ix.msg"
}
# one STICK N: a stick holding CSR number N of the first batch
one() { mkdir -p "$WORK/$1/csr"; cp "$(ls "$WORK/b1/csr"/*.csr | sed -n "${2}p")" "$WORK/$1/csr/"; }
index_seq() { python3 -c 'import struct,sys; print(struct.unpack_from("<Q", open(sys.argv[1],"rb").read(), 64)[0])' "$IX"; }

# --- 1. a batch leaves the index
mkdir -p "$WORK/b1/csr" "$WORK/b4/csr"
"$MAKE_CSRS" "$WORK/b1/csr" 1100 "$FACTORY"
check "a batch of 1100 signs (exit 0)" "$STATION" -q sign "$WORK/b1"
"$STATION" -q journal key >"$WORK/journal-key.pem"
check "journal.log.index is beside the log, mode 0600" test "$(stat -c %a "$IX" 2>/dev/null)" = 600
check "it covers the journal up to its last checkpoint" test "$(index_seq)" = "$(tail -1 "$J" | cut -d' ' -f1)"
check "its signature verifies with the journal key (openssl)" index_signature_ok

# --- 2. a restart uses it
one s2 17
check "a CSR of the batch, after a restart: handed back, not signed again" \
  sh -c "'$STATION' sign '$WORK/s2' >'$WORK/s2.out' 2>'$WORK/s2.err' && grep -q 'new 0, issued before 1' '$WORK/s2.out'"
check "nothing said about the index" sh -c "! grep -q index '$WORK/s2.err'"
check "one issued record for that CSR" test "$(grep -c " issued .*000016.csr " "$J")" = 1

# --- 3. a changed index is not used
cp "$IX" "$WORK/index.good"
# one byte of an entry flipped (an XOR, so the byte always changes)
python3 -c 'import sys; p, at = sys.argv[1], int(sys.argv[2]); d = bytearray(open(p, "rb").read()); d[at] ^= 0xff; open(p, "wb").write(d)' \
  "$IX" $((320 + 40 * 7 + 29))
check "the changed index differs from the one the station wrote" sh -c "! cmp -s '$IX' '$WORK/index.good'"
one s3 18
check "with a changed index: the CSR is still handed back" \
  sh -c "'$STATION' sign '$WORK/s3' >'$WORK/s3.out' 2>'$WORK/s3.err' && grep -q 'new 0, issued before 1' '$WORK/s3.out'"
check "the station says the index is not used and why" \
  grep -q "index .* is not used: its signature does not verify with the journal key" "$WORK/s3.err"
check "the index is written anew and verifies" index_signature_ok
check "journal verify passes" "$STATION" journal verify

# --- 4. a stale index: the older copy, then more records sealed
"$MAKE_CSRS" "$WORK/b4/csr" 20 "$FACTORY"
for f in "$WORK"/b4/csr/*.csr; do mv "$f" "${f%.csr}-b4.csr"; done
check "a second batch signs" "$STATION" -q sign "$WORK/b4"
cp "$WORK/index.good" "$IX"
mkdir -p "$WORK/s4/csr"
cp "$(ls "$WORK/b1/csr"/*.csr | sed -n 19p)" "$(ls "$WORK/b4/csr"/*.csr | sed -n 3p)" "$WORK/s4/csr/"
check "with a stale index: CSRs of both batches handed back" \
  sh -c "'$STATION' sign '$WORK/s4' >'$WORK/s4.out' 2>'$WORK/s4.err' && grep -q 'new 0, issued before 2' '$WORK/s4.out'"
check "a stale index is used without a word" sh -c "! grep -q index '$WORK/s4.err'"

# --- 5. the index of another journal
mkdir -p "$WORK/other"
sed "s|path: $WORK/journal|path: $WORK/other|" "$WORK/station.yaml" >"$WORK/other.yaml"
"$STATION" -q -c "$WORK/other.yaml" journal init >/dev/null
cp "$WORK/index.good" "$WORK/other/journal.log.index"
one s5 20
check "another journal's index: not used, said why, the CSR signed there (a new journal)" \
  sh -c "'$STATION' -c '$WORK/other.yaml' sign '$WORK/s5' >'$WORK/s5.out' 2>'$WORK/s5.err' &&
         grep -q 'new 1' '$WORK/s5.out' && grep -q 'index .* is not used: the journal.s header is not the one' '$WORK/s5.err'"
finish
