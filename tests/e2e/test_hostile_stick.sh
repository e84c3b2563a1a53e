#!/usr/bin/env bash
# End-to-end: a hostile stick. 3000 junk files beside a few
# good CSRs, a 100 MB sparse file, deep directories, symbolic-link loops and
# links out of the stick, names with newlines and invalid UTF-8, a FIFO, a
# file that grows and is replaced while it is read, and links planted where
# the outputs go. The station must finish in bounded time without crashing,
# issue the good CSRs, and write nothing outside the stick's certs/ and
# rejected/ (a link there is replaced, never followed).
. "$(dirname "$0")/lib.sh"
make_pki
B=$WORK/stick
OUT=$WORK/outside # what links on the stick point at: must stay untouched
mkdir -p "$B/csr" "$B/certs" "$B/rejected" "$OUT"
echo "victim" >"$OUT/victim"
echo "victim2" >"$OUT/victim2"

# the good CSRs, two of them under hostile names
GOOD=(good1 good2 good3 $'new\nline' $'bad\xff\xfeutf8')
for i in "${!GOOD[@]}"; do
  make_key "$WORK/k$i.key"
  make_csr "$B/csr/${GOOD[$i]}.csr" "$WORK/k$i.key" "$(device_subject "$(uuid)")"
done
# 3000 junk files
head -c 3000000 /dev/urandom >"$WORK/junk"
for i in $(seq -w 1 3000); do
  dd if="$WORK/junk" of="$B/csr/junk$i.csr" bs=1 skip=$((10#$i * 997)) count=$((10#$i % 900 + 1)) 2>/dev/null
done
truncate -s 100M "$B/csr/huge.csr"
mkdir -p "$B/csr/deep.csr"
d=$B/csr/deep.csr; for _ in $(seq 1 100); do d=$d/d; done; mkdir -p "$d"; cp "$B/csr/good1.csr" "$d/x.csr"
d=$B/deep; for _ in $(seq 1 100); do d=$d/d; done; mkdir -p "$d"
ln -s loop.csr "$B/csr/loop.csr"
ln -s ping.csr "$B/csr/pong.csr"; ln -s pong.csr "$B/csr/ping.csr"
ln -s /etc/passwd "$B/csr/passwd.csr"
ln -s "$OUT/victim" "$B/csr/outside.csr"
ln -s .. "$B/csr/up.csr"
mkfifo "$B/csr/fifo.csr"
: >"$B/csr/empty.csr"
touch "$B/csr/.hidden.csr" "$B/csr/no-extension" "$B/csr/$(printf 'x%.0s' $(seq 1 250)).csr"
# links planted where outputs go: they are replaced by the new file, their targets untouched
ln -s "$OUT/victim" "$B/rejected/junk0001.txt"
ln -s "$OUT/victim2" "$B/certs/good2.pem"
# a file that grows, and is replaced, while the station reads
touch "$WORK/grow.on"
(
  while [ -e "$WORK/grow.on" ]; do
    head -c 3000 /dev/urandom >>"$B/csr/growing.csr"
    [ "$(stat -c %s "$B/csr/growing.csr")" -lt 100000 ] ||
      { head -c 100 /dev/urandom >"$B/csr/growing.tmp"; mv "$B/csr/growing.tmp" "$B/csr/growing.csr"; }
  done
) &
GROWER=$!
stop_grower() { rm -f "$WORK/grow.on"; kill "$GROWER" 2>/dev/null || true; wait "$GROWER" 2>/dev/null || true; }
AT_EXIT_HOOKS+=(stop_grower)

(cd "$B" && find . -path ./certs -prune -o -path ./rejected -prune -o -print | LC_ALL=C sort) >"$WORK/before.list"
outside_before=$(cd "$OUT" && sha256sum victim victim2)

start=$(date +%s)
status=0
timeout 120 "$STATION" -q sign "$B" >"$WORK/sign.out" 2>"$WORK/sign.err" || status=$?
took=$(( $(date +%s) - start ))
stop_grower
echo "       the batch took $took s, exit status $status"
check "the batch ends in bounded time, without a crash: exit 1 (some refused), not a timeout or a signal" \
  test "$status" = 1
check "no sanitizer or crash report" no_crash_report "$WORK/sign.err"
for name in "${GOOD[@]}"; do
  check "good CSR \"$(printf '%q' "$name")\" issued, its certificate verifies" verify_device_cert "$B/certs/$name.pem"
done
check "the link planted at certs/good2.pem was replaced by a regular file" test -f "$B/certs/good2.pem" -a ! -L "$B/certs/good2.pem"
check "the link planted at rejected/junk0001.txt was replaced by the note" \
  sh -c "[ ! -L '$B/rejected/junk0001.txt' ] && grep -q '^not-a-csr\\|^too-large\\|^csr-' '$B/rejected/junk0001.txt'"
check "nothing outside the stick was changed" sh -c "[ \"\$(cd '$OUT' && sha256sum victim victim2)\" = '$outside_before' ]"
(cd "$B" && find . -path ./certs -prune -o -path ./rejected -prune -o -print | LC_ALL=C sort) >"$WORK/after.list"
grep -av '^\./csr/growing' "$WORK/before.list" >"$WORK/before.cmp"
grep -av '^\./csr/growing' "$WORK/after.list" >"$WORK/after.cmp"
check "nothing written on the stick outside certs/ and rejected/" diff "$WORK/before.cmp" "$WORK/after.cmp"
check "certs/ holds only the .pem of the good CSRs" \
  test "$(find "$B/certs" -mindepth 1 -name '*.pem' -printf . | wc -c)" = "${#GOOD[@]}"
check "rejected/ holds only regular .txt notes" sh -c "[ -z \"\$(find '$B/rejected' -mindepth 1 ! -type f -o -mindepth 1 ! -name '*.txt')\" ]"
check "3000 junk files refused with a note each" test "$(ls "$B/rejected" | grep -c '^junk')" = 3000
check "the 100 MB file refused as too-large" grep -q '^too-large' "$B/rejected/huge.txt"
check "the FIFO refused, not opened for reading" grep -q '^not-a-regular-file' "$B/rejected/fifo.txt"
check "the link loop refused, not followed" grep -q '^not-a-regular-file' "$B/rejected/loop.txt"
check "the link out of the stick refused, not followed" grep -q '^not-a-regular-file' "$B/rejected/passwd.txt"
check "the directory refused" grep -q '^not-a-regular-file' "$B/rejected/deep.txt"
check "the temporary files are gone" sh -c "[ -z \"\$(find '$B' -name '.station-tmp-*')\" ]"
check "journal verify passes" "$STATION" -q journal verify
check "a second run ends too and signs nothing new" \
  sh -c "timeout 120 '$STATION' sign '$B' 2>/dev/null | grep -q 'new 0'"

# outputs that are links to outside: refused, nothing followed
C=$WORK/stick2; mkdir -p "$C/csr"; cp "$B/csr/good1.csr" "$C/csr/"
ln -s "$OUT" "$C/certs"
check "certs/ a link out of the stick: a fault (exit 3), not followed" \
  sh -c "timeout 60 '$STATION' -q sign '$C' >/dev/null 2>&1; [ \$? = 3 ]"
check "certs/ a link: nothing written at its target" test "$(ls "$OUT" | wc -l)" = 2
finish
