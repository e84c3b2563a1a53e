#!/usr/bin/env bash
# journal-open-bench.sh - what the journal's length costs, on one throwaway
# SoftHSM token (times are wall-clock seconds of one run; peak RSS from
# /usr/bin/time):
#   batch   a one-CSR `station sign` on an empty journal, and after S records
#           (the journal index written by the run that made them)
#   export  `station journal export --format jsonl` of those S records: time
#           and peak RSS
#   open    a one-CSR `station sign` on a journal of N records: the first one
#           without an index (the whole journal read, the index written), the
#           next with it
#   verify  `station journal verify` of the N records: records/s, peak RSS
# The records are made by tests/bench/make_journal (synthetic issued records
# with checkpoints signed by the journal key in the token: a valid journal).
# The last lines are one summary block, with uptime's load.
#
# usage: tests/bench/journal-open-bench.sh [-n N] [-s S] [--build DIR] [--tmpfs]
#   -n N      records for the open and verify figures (default 1000000; about
#             1 KB each on disk)
#   -s S      records for the batch and export figures (default 30000)
#   --tmpfs   work on /dev/shm (TMPDIR=DIR chooses another place)
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
N=1000000 S=30000 BUILD=$ROOT/build
while [ $# -gt 0 ]; do
  case $1 in
    -n) N=$2; shift 2 ;;
    -s) S=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    --tmpfs) export TMPDIR=/dev/shm; shift ;;
    *) echo "usage: $0 [-n N] [-s S] [--build DIR] [--tmpfs]" >&2; exit 2 ;;
  esac
done
STATION=$BUILD/bin/station
export STATION_ALLOW_ROOT=1
[ -x "$STATION" ] && [ -x "$BUILD/tests/bench/make_journal" ] && [ -x "$BUILD/tests/bench/make_csrs" ] || {
  echo "build first: cmake -S $ROOT -B $BUILD -DCMAKE_BUILD_TYPE=Release && cmake --build $BUILD" >&2; exit 2; }
command -v /usr/bin/time >/dev/null || { echo "needs /usr/bin/time (package time)" >&2; exit 2; }
SOFTHSM=/usr/lib/softhsm/libsofthsm2.so
W=$(mktemp -d "${TMPDIR:-/tmp}/journal-bench.XXXXXX")
if [ -n "${BENCH_KEEP:-}" ]; then echo "work directory kept: $W"; else trap 'rm -rf "$W"' EXIT; fi
mkdir -p "$W/tokens" "$W/ca" "$W/csrs"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$W" >"$W/softhsm2.conf"
export SOFTHSM2_CONF=$W/softhsm2.conf BENCH_PIN=4711
softhsm2-util --init-token --free --label station --pin "$BENCH_PIN" --so-pin 12345678 >/dev/null
openssl ecparam -genkey -name prime256v1 -noout -out "$W/ca/root.key" 2>/dev/null
openssl req -new -x509 -key "$W/ca/root.key" -days 3650 -subj "/CN=Bench-Root/OU=bench-factory" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" -out "$W/ca/root.pem" 2>/dev/null
config() { # config NAME: a station configuration with journal NAME
  cat >"$W/$1.yaml" <<YAML
factory: bench-factory
hsm: {module: $SOFTHSM, token: station, key: local-ca, pin: "env:BENCH_PIN"}
ca: {certificate: $W/ca/local-ca.pem, root: $W/ca/root.pem}
journal: {path: $W/$1}
YAML
}
config empty
"$STATION" -q -c "$W/empty.yaml" ca init --cn fio-bench --out "$W/ca/local-ca.csr" >/dev/null
"$STATION" -q -c "$W/empty.yaml" ca certify --csr "$W/ca/local-ca.csr" --root-cert "$W/ca/root.pem" \
  --root-key "$W/ca/root.key" --out "$W/ca/local-ca.pem"
"$BUILD/tests/bench/make_csrs" "$W/csrs" 4 bench-factory

# one_csr NAME K: `station sign` of CSR number K on journal NAME; "seconds rssKiB" into $W/NAME.K.time
one_csr() {
  local d=$W/stick-$1-$2
  mkdir -p "$d/csr"
  cp "$(ls "$W"/csrs/*.csr | sed -n "${2}p")" "$d/csr/"
  /usr/bin/time -f "%e %M" -o "$W/$1.$2.time" "$STATION" -q -c "$W/$1.yaml" sign "$d" >"$d.out"
  grep -q "new 1," "$d.out" || { echo "station did not issue the CSR: $(cat "$d.out")" >&2; exit 1; }
}
# make NAME COUNT: journal NAME begun by `journal init`, then COUNT records
make() {
  config "$1"
  "$STATION" -q -c "$W/$1.yaml" journal init >/dev/null
  "$BUILD/tests/bench/make_journal" "$W/$1/journal.log" "$2" 64 "$W/cert.der" "$SOFTHSM" station \
    station-journal BENCH_PIN >/dev/null
}
field() { cut -d' ' -f"$2" <"$W/$1.time"; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

# an empty journal (begun by `journal init`), one CSR; its certificate is every synthetic record's
"$STATION" -q -c "$W/empty.yaml" journal init >/dev/null
one_csr empty 1
openssl x509 -in "$(ls "$W"/stick-empty-1/certs/*.pem | head -1)" -outform DER -out "$W/cert.der"
one_csr empty 2

make small "$S"
one_csr small 1 # writes the index (the records came from outside a station run)
one_csr small 2
/usr/bin/time -f "%e %M" -o "$W/export.time" "$STATION" -q -c "$W/small.yaml" journal export --format jsonl \
  --out "$W/export.jsonl" >/dev/null
rows=$(wc -l <"$W/export.jsonl")

make big "$N"
size=$(stat -c %s "$W/big/journal.log")
/usr/bin/time -f "%e %M" -o "$W/verify.time" "$STATION" -q -c "$W/big.yaml" journal verify >"$W/verify.out"
grep -q "intact" "$W/verify.out" || { echo "journal verify: $(cat "$W/verify.out")" >&2; exit 1; }
one_csr big 1 # no index yet: reads the whole journal, writes the index
one_csr big 2 # with the index
one_csr big 3
records=$(sed -n 's/.*intact: \([0-9]*\) records.*/\1/p' "$W/verify.out" | head -1)

echo "---- journal-open-bench ($(uptime | sed 's/.*load average/load average/'); ${TMPDIR:-/tmp}) ----"
printf 'one-CSR batch, empty journal:        %s s   peak RSS %s MiB\n' "$(field empty.2 1)" "$(mib "$(field empty.2 2)")"
printf 'one-CSR batch after %7d records: %s s   peak RSS %s MiB   (difference %s s)\n' "$S" "$(field small.2 1)" \
  "$(mib "$(field small.2 2)")" "$(awk -v a="$(field small.2 1)" -v b="$(field empty.2 1)" 'BEGIN {printf "%.2f", a - b}')"
printf 'export jsonl of %d records (%d rows): %s s   peak RSS %s MiB\n' "$S" "$rows" "$(field export 1)" \
  "$(mib "$(field export 2)")"
printf 'journal of %d records (%d MB):\n' "$records" "$((size / 1000000))"
printf '  one-CSR batch, no index yet:       %s s   peak RSS %s MiB (reads it all, writes the index)\n' \
  "$(field big.1 1)" "$(mib "$(field big.1 2)")"
printf '  one-CSR batch with the index:      %s s, %s s   peak RSS %s MiB\n' "$(field big.2 1)" "$(field big.3 1)" \
  "$(mib "$(field big.3 2)")"
printf '  journal verify:                    %s s = %s records/s   peak RSS %s MiB\n' "$(field verify 1)" \
  "$(awk -v n="$records" -v s="$(field verify 1)" 'BEGIN {printf "%.0f", n / s}')" "$(mib "$(field verify 2)")"
