#!/usr/bin/env bash
# audit-bench.sh - the factory audit database (station audit) at scale: S
# stations, N records in all, one complete jsonl export per station, and
#   import  `station audit import` of every export (verify + insert), and a
#           re-import of them all (verify only, nothing written)
#   size    the database file after import (WAL checkpointed)
#   check   `station audit check` over the whole record
#   find    `station audit find` by device id, serial, key hash and certificate
#   report  `station audit report --format csv`
# Times are wall-clock seconds (best of one run; this is a benchmark, not a test).
#
# usage: tests/bench/audit-bench.sh [--stations S] [-n N] [--real] [--build DIR] [--keep DIR]
#   default   synthetic stations (tests/bench/synth_export.py): the exports are
#             written and signed with openssl exactly as `journal export`
#             writes them, 1,000,000 records in seconds
#   --real    real stations: a SoftHSM token, local CA and journal each, N/S
#             CSRs made by make_csrs and signed with `station sign`, exported
#             with `station journal export` (about 4k records/s to make)
#   --keep    work in DIR and keep it; exports already there are used again
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
S=10 N=1000000 REAL=0 BUILD=$ROOT/build KEEP=
while [ $# -gt 0 ]; do
  case $1 in
    --stations) S=$2; shift 2 ;;
    -n) N=$2; shift 2 ;;
    --real) REAL=1; shift ;;
    --build) BUILD=$2; shift 2 ;;
    --keep) KEEP=$2; shift 2 ;;
    *) echo "usage: $0 [--stations S] [-n N] [--real] [--build DIR] [--keep DIR]" >&2; exit 2 ;;
  esac
done
STATION=$BUILD/bin/station
export STATION_ALLOW_ROOT=1
[ -x "$STATION" ] && [ -x "$BUILD/tests/bench/make_csrs" ] || {
  echo "build first: cmake -S $ROOT -B $BUILD && cmake --build $BUILD" >&2; exit 2; }
if [ -n "$KEEP" ]; then
  W=$KEEP
  mkdir -p "$W"
  rm -f "$W"/audit.db*
else
  W=$(mktemp -d "${TMPDIR:-/tmp}/audit-bench.XXXXXX")
  trap 'rm -rf "$W"' EXIT
fi
PER=$((N / S))
DB=$W/audit.db
FACTORY=acme-factory
mkdir -p "$W/ex"

secs() { # secs COMMAND...: runs it, prints its wall time in seconds to fd 3
  local t0 t1
  t0=$(date +%s.%N)
  "$@"
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l | xargs printf '%.2f\n' >&3
}

[ -s "$W/root.pem" ] || openssl ecparam -genkey -name prime256v1 -out "$W/root.key" 2>/dev/null
[ -s "$W/root.pem" ] || openssl req -new -x509 -key "$W/root.key" -days 7300 -subj "/CN=Factory-CA/OU=$FACTORY" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out "$W/root.pem" 2>/dev/null
t_make0=$(date +%s)
if [ -s "$W/ex/s$S.jsonl.manifest.json.sig" ]; then
  KIND="stations of an earlier run (exports in $W)"
elif [ "$REAL" = 1 ]; then
  export STATION_TEST_PIN=7319
  for i in $(seq 1 "$S"); do
    d=$W/s$i
    mkdir -p "$d/tokens" "$d/stick/csr"
    printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$d" >"$d/softhsm2.conf"
    export SOFTHSM2_CONF=$d/softhsm2.conf STATION_CONFIG=$d/station.yaml
    softhsm2-util --init-token --free --label station --pin 7319 --so-pin 12345678 >/dev/null
    cat >"$d/station.yaml" <<YAML
factory: $FACTORY
hsm: {module: /usr/lib/softhsm/libsofthsm2.so, token: station, key: local-ca, pin: "env:STATION_TEST_PIN"}
ca: {certificate: $d/local-ca.pem, root: $W/root.pem}
profile: {validity_days: 7300, production: forbid, reissue: refuse}
journal: {path: $d/journal}
YAML
    "$STATION" -q ca init --cn "fio-$(printf '%016x' "$i")" --out "$d/ca.csr" >/dev/null
    "$STATION" -q ca certify --csr "$d/ca.csr" --root-cert "$W/root.pem" --root-key "$W/root.key" --out "$d/local-ca.pem"
    "$STATION" -q journal key >"$d/key.pem"
    "$BUILD/tests/bench/make_csrs" "$d/stick/csr" "$PER" "$FACTORY"
    "$STATION" -q sign "$d/stick" >/dev/null
    "$STATION" -q journal export --format jsonl --out "$W/ex/s$i.jsonl" >/dev/null
    rm -rf "$d/stick"
  done
  KIND="real stations (SoftHSM, station sign, journal export)"
else
  # one device certificate of the station's size as every row's certificate text
  openssl ecparam -genkey -name prime256v1 -out "$W/dev.key" 2>/dev/null
  openssl req -new -key "$W/dev.key" -subj "/CN=6f1c2d3e-4a5b-4c6d-8e7f-0123456789ab/OU=$FACTORY" -out "$W/dev.csr"
  openssl x509 -req -in "$W/dev.csr" -CA "$W/root.pem" -CAkey "$W/root.key" -days 7300 -set_serial 0x4f1a9c2207e15b38 \
    -extfile <(printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n') \
    -out "$W/dev.pem" 2>/dev/null
  for i in $(seq 1 "$S"); do
    d=$W/s$i
    mkdir -p "$d"
    openssl ecparam -genkey -name prime256v1 -noout -out "$d/key" 2>/dev/null
    openssl pkey -in "$d/key" -pubout -out "$d/key.pem"
    python3 "$ROOT/tests/bench/synth_export.py" "$d/key" "$W/dev.pem" "$W/ex/s$i.jsonl" 1 "$PER" "$PER" \
      "$(openssl rand -hex 32)" "CN=fio-$(printf '%016x' "$i"),OU=$FACTORY" "$(openssl rand -hex 32)" "$i" &
    [ $((i % 2)) = 0 ] && wait
  done
  wait
  KIND="synthetic stations (synth_export.py, signed by openssl)"
fi
t_make=$(( $(date +%s) - t_make0 ))
for i in $(seq 1 "$S"); do "$STATION" -q audit trust --db "$DB" --name "line-$i" "$W/s$i/key.pem" >/dev/null; done

exec 3>"$W/times"
secs "$STATION" -q audit import --db "$DB" "$W"/ex/s*.jsonl >/dev/null
secs "$STATION" -q audit import --db "$DB" "$W"/ex/s*.jsonl >/dev/null
sqlite3 "$DB" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
secs sh -c "'$STATION' -q audit check --db '$DB' >/dev/null || true"
# a device, its serial, its key hash and its certificate, from the middle of station 5's export
row=$(sed -n "$((PER / 2 + 1))p" "$W/ex/s$(( (S + 1) / 2 )).jsonl")
dev=$(echo "$row" | sed 's/.*"device":"\([^"]*\)".*/\1/')
ser=$(echo "$row" | sed 's/.*"serial":"\([^"]*\)".*/\1/')
key=$(echo "$row" | sed 's/.*"key_sha256":"\([^"]*\)".*/\1/')
echo "$row" | python3 -c 'import json,sys; sys.stdout.write(json.loads(sys.stdin.read())["certificate"])' >"$W/find.pem"
secs "$STATION" -q audit find --db "$DB" "$dev" >"$W/find.out"
secs "$STATION" -q audit find --db "$DB" "$ser" >/dev/null
secs "$STATION" -q audit find --db "$DB" "$key" >/dev/null
secs sh -c "'$STATION' -q audit find --db '$DB' '$W/find.pem' >/dev/null || true" # synthetic rows share one certificate that names none of them
secs "$STATION" -q audit report --db "$DB" --format csv >"$W/report.csv"
exec 3>&-
mapfile -t T <"$W/times"
records=$(sqlite3 "$DB" 'SELECT count(*) FROM record')
size=$(stat -c %s "$DB")
grep -q '^issued: station line-' "$W/find.out" || { echo "find did not find the device" >&2; exit 1; }
[ "$(wc -l <"$W/report.csv")" = $((S + 1)) ] || { echo "report has not one row per station" >&2; exit 1; }
echo "audit-bench: $S $KIND, $records records in the record (exports made in ${t_make} s)"
echo "  exports:        $(du -cb "$W"/ex/s*.jsonl | tail -1 | cut -f1 | awk '{printf "%.0f MB", $1/1e6}')"
echo "  import:         ${T[0]} s ($(echo "$records / ${T[0]}" | bc) records/s)"
echo "  re-import:      ${T[1]} s (verified, nothing written)"
echo "  database:       $(awk -v s="$size" 'BEGIN {printf "%.0f MB", s/1e6}') ($(echo "$size / $records" | bc) bytes/record)"
echo "  check:          ${T[2]} s"
echo "  find device:    ${T[3]} s;  serial ${T[4]} s;  key ${T[5]} s;  certificate ${T[6]} s"
echo "  report:         ${T[7]} s"
