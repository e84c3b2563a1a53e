#!/usr/bin/env bash
# End-to-end: the factory-wide audit record (station audit, docs/audit-database.md).
# Three real stations, each with its own SoftHSM token, local CA (certified by
# the one factory root) and journal, sign batches; one device (the same CSR)
# is signed at two of them. Their signed jsonl exports are imported into one
# SQLite database: overlapping exports agree, a re-import changes nothing, a
# tampered export, a cut one, a manifest of another export, an unregistered
# key, a file that is not an audit database and a locked database are each
# refused with their reason and leave the database as it was. `audit check`
# names the doubly issued device (device and key), the gap and the break left
# by an export missing from the middle; `audit find` names both stations for
# that device, by id, serial, key hash and certificate; `audit report` has one
# row per station with counts equal to what the batches issued. A station
# restored from a backup (journal and token) that signs on gives two signed
# histories of one journal: the conflict is found, stored and reported, and
# both exports are kept out. The database is read with the sqlite3 CLI as well.
. "$(dirname "$0")/lib.sh"
command -v sqlite3 >/dev/null || { echo "FAIL - the sqlite3 CLI is not installed (bash packaging/install-deps.sh --test)"; exit 1; }
K=$WORK/keys
DB=$WORK/audit.db
mkdir -p "$K" "$WORK/pki" "$WORK/ex"

# The factory root every station's local CA is certified by.
openssl ecparam -genkey -name prime256v1 -out "$WORK/pki/factory_ca.key" 2>/dev/null
openssl req -new -x509 -key "$WORK/pki/factory_ca.key" -days 7300 -subj "/CN=Factory-CA/OU=$FACTORY" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out "$WORK/pki/factory_ca.pem" 2>/dev/null
export STATION_TEST_PIN=$TEST_PIN

# at NAME COMMAND...: runs the station binary as station NAME (its token, its configuration).
at() {
  local n=$1; shift
  SOFTHSM2_CONF=$WORK/$n/softhsm2.conf STATION_CONFIG=$WORK/$n/station.yaml "$STATION" "$@"
}

# make_station NAME CN: a token, a configuration and a local CA made by the key ceremony.
make_station() {
  local d=$WORK/$1
  mkdir -p "$d/tokens"
  printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' \
    "$d" >"$d/softhsm2.conf"
  SOFTHSM2_CONF=$d/softhsm2.conf softhsm2-util --init-token --free --label station --pin "$TEST_PIN" \
    --so-pin 12345678 >/dev/null
  cat >"$d/station.yaml" <<YAML
factory: $FACTORY
hsm:
  module: $SOFTHSM_MODULE
  token: station
  key: local-ca
  pin: env:STATION_TEST_PIN
ca:
  certificate: $d/local-ca.pem
  root: $WORK/pki/factory_ca.pem
profile:
  validity_days: 7300
  production: forbid
  reissue: refuse
journal:
  path: $d/journal
YAML
  at "$1" -q ca init --cn "$2" --out "$d/local-ca.csr"
  at "$1" -q ca certify --csr "$d/local-ca.csr" --root-cert "$WORK/pki/factory_ca.pem" \
    --root-key "$WORK/pki/factory_ca.key" --out "$d/local-ca.pem"
  at "$1" -q journal init
  at "$1" journal key >"$d/journal-key.pem"
}

# batch DIR N [EXTRA CSR FILE]: N good CSRs, one refused (another factory), and the extra one.
batch() {
  mkdir -p "$1/csr"
  for i in $(seq 1 "$2"); do
    make_key "$K/$(basename "$1")-$i.key"
    make_csr "$1/csr/good$i.csr" "$K/$(basename "$1")-$i.key" "$(device_subject "$(uuid)")"
  done
  make_csr "$1/csr/other-factory.csr" "$K/$(basename "$1")-1.key" "/CN=$(uuid)/OU=other-factory"
  [ -z "${3:-}" ] || cp "$3" "$1/csr/"
}

# export NAME OUT [FILTERS...]: a signed jsonl export of station NAME's journal.
export_at() {
  local n=$1 out=$2; shift 2
  at "$n" -q journal export --format jsonl --out "$out" "$@"
}

# db_state: the database's content, for "nothing changed" (every table, in order).
db_state() { sqlite3 "$DB" .dump | sha256sum | cut -d' ' -f1; }

# now: the time, for --since/--until
now() { date -u +%Y-%m-%dT%H:%M:%S.%3NZ; }

make_station a fio-000000000000000a
make_station b fio-000000000000000b
make_station c fio-000000000000000c

# The device signed at two stations: one CSR, carried to line a and line b.
DEV=$(uuid)
make_key "$K/dev.key"
make_csr "$WORK/dev.csr" "$K/dev.key" "$(device_subject "$DEV")"

# Station a: batch 1, complete export 1; batch 2 (with the device), complete export 2.
batch "$WORK/a1" 3
batch "$WORK/a2" 2 "$WORK/dev.csr"
check "station a signs batch 1 (exit 1: one refused)" expect_status 1 at a -q sign "$WORK/a1"
check "station a exports after batch 1" export_at a "$WORK/ex/a1.jsonl"
check "station a signs batch 2 with the device" expect_status 1 at a -q sign "$WORK/a2"
check "station a exports after batch 2" export_at a "$WORK/ex/a2.jsonl"
# batch 3: the same device id with a new key, refused (device-already-certified)
mkdir -p "$WORK/a3/csr"
make_key "$K/dev2.key"
make_csr "$WORK/a3/csr/dev2.csr" "$K/dev2.key" "$(device_subject "$DEV")"
check "station a refuses the device with a new key (exit 1)" expect_status 1 at a -q sign "$WORK/a3"
check "station a exports after batch 3" export_at a "$WORK/ex/a3.jsonl"
# Station b: one batch with the same device CSR.
batch "$WORK/b1" 2 "$WORK/dev.csr"
check "station b signs the same device again" expect_status 1 at b -q sign "$WORK/b1"
check "station b exports" export_at b "$WORK/ex/b1.jsonl"
# Station c: three batches, exported as three windows of time; the middle one is never imported.
batch "$WORK/c1" 2
batch "$WORK/c2" 2
batch "$WORK/c3" 2
at c -q sign "$WORK/c1" || true
sleep 0.05; T1=$(now); sleep 0.05
at c -q sign "$WORK/c2" || true
sleep 0.05; T2=$(now); sleep 0.05
at c -q sign "$WORK/c3" || true
check "station c exports up to T1" export_at c "$WORK/ex/c1.jsonl" --until "$T1"
check "station c exports T1..T2 (never imported)" export_at c "$WORK/ex/c2.jsonl" --since "$T1" --until "$T2"
check "station c exports from T2" export_at c "$WORK/ex/c3.jsonl" --since "$T2"
check "the middle export of c holds records" test "$(wc -l <"$WORK/ex/c2.jsonl")" -ge 3
C2_FIRST=$(head -1 "$WORK/ex/c2.jsonl" | sed 's/^{"seq":\([0-9]*\),.*/\1/')
C2_LAST=$(tail -1 "$WORK/ex/c2.jsonl" | sed 's/^{"seq":\([0-9]*\),.*/\1/')

# --- trust
check "trust station-a" at a audit trust --db "$DB" --name station-a "$WORK/a/journal-key.pem"
check "trust station-b" at b audit trust --db "$DB" --name station-b "$WORK/b/journal-key.pem"
check "trusting station-a again changes nothing (exit 0)" sh -c "'$STATION' audit trust --db '$DB' --name station-a '$WORK/a/journal-key.pem' | grep -q 'nothing changed'"
check "a key already registered under another name is refused (exit 2)" expect_status 2 "$STATION" audit trust --db "$DB" --name line-9 "$WORK/a/journal-key.pem"
check "the sqlite3 CLI reads the database: application_id STAD" test "$(sqlite3 "$DB" 'PRAGMA application_id')" = 1398030660
check "the database is in WAL mode" test "$(sqlite3 "$DB" 'PRAGMA journal_mode')" = wal

# --- an export of a station not yet registered
S0=$(db_state)
check "an export of an unregistered key is refused (exit 1)" expect_status 1 "$STATION" audit import --db "$DB" "$WORK/ex/c1.jsonl"
check "... with the reason export-unknown-key" sh -c "'$STATION' audit import --db '$DB' '$WORK/ex/c1.jsonl' | grep -qx 'reason: export-unknown-key'"
check "... and the database unchanged" test "$(db_state)" = "$S0"
check "trust station-c" "$STATION" audit trust --db "$DB" --name station-c "$WORK/c/journal-key.pem"

# --- imports
check "import a1, a2, a3, b1, c1, c3 (exit 0)" sh -c "'$STATION' audit import --db '$DB' '$WORK/ex/a1.jsonl' '$WORK/ex/a2.jsonl' '$WORK/ex/a3.jsonl' '$WORK/ex/b1.jsonl' '$WORK/ex/c1.jsonl' '$WORK/ex/c3.jsonl' >'$WORK/import.out'"
check "a1 imported complete" grep -q "a1.jsonl: imported: station station-a, records 1-[0-9]* of [0-9]* (complete)" "$WORK/import.out"
check "a2 overlaps a1 and agrees: only batch 2's records are new" sh -c "grep -q 'a2.jsonl: imported: station station-a, .*rows ([0-9]* new)' '$WORK/import.out' && [ \"\$(sed -n 's/^.*a2.jsonl: .*, \([0-9]*\) rows (\([0-9]*\) new)/\2/p' '$WORK/import.out')\" = \$(( \$(wc -l <'$WORK/ex/a2.jsonl') - \$(wc -l <'$WORK/ex/a1.jsonl') )) ]"
check "every record of a3 and b1 is in the record (sqlite3)" test "$(sqlite3 "$DB" "SELECT count(*) FROM record r JOIN station s ON s.id = r.station_id WHERE s.name IN ('station-a','station-b')")" = $(( $(wc -l <"$WORK/ex/a3.jsonl") + $(wc -l <"$WORK/ex/b1.jsonl") ))
check "the chain of each row is the journal's (sqlite3 vs station a's journal)" sh -c "[ \"\$(sqlite3 -separator ' ' '$DB' \"SELECT seq, chain FROM record r JOIN station s ON s.id = r.station_id WHERE s.name = 'station-a' ORDER BY seq\")\" = \"\$(tail -n +2 '$WORK/a/journal/journal.log' | awk '{print \$1, \$12}' | head -n \$(wc -l <'$WORK/ex/a3.jsonl'))\" ]"
check "the issued view lists the device at both stations (sqlite3)" test "$(sqlite3 "$DB" "SELECT group_concat(station, ' ') FROM (SELECT station FROM issued WHERE device = '$DEV' ORDER BY station)")" = "station-a station-b"

# --- a re-import changes nothing
S1=$(db_state)
check "re-importing a2 and b1 exits 0" sh -c "'$STATION' audit import --db '$DB' '$WORK/ex/a2.jsonl' '$WORK/ex/b1.jsonl' >'$WORK/reimport.out'"
check "... says imported before, nothing changed" test "$(grep -c 'imported before .*nothing changed' "$WORK/reimport.out")" = 2
check "... and the database is byte for byte the same content" test "$(db_state)" = "$S1"

# --- bad input: each refused with its reason, the database unchanged
bad_copy() { # bad_copy SRC NAME: the export and its three companions under NAME
  for e in "" .sig .manifest.json .manifest.json.sig; do cp "$WORK/ex/$1$e" "$WORK/ex/$2$e"; done
}
refused() { # refused FILE REASON: import exits 1 with REASON, the database unchanged
  local before out
  before=$(db_state)
  out=$("$STATION" audit import --db "$DB" "$1" 2>&1) && { echo "exit 0: $out"; return 1; }
  echo "$out" | grep -qx "reason: $2" || { echo "$out"; return 1; }
  [ "$(db_state)" = "$before" ] || { echo "the database changed"; return 1; }
}
bad_copy b1.jsonl tampered.jsonl
sed -i "0,/\"device\":\"$DEV\"/s//\"device\":\"$(uuid)\"/" "$WORK/ex/tampered.jsonl"
check "the tampered copy differs from b1" sh -c "! cmp -s '$WORK/ex/tampered.jsonl' '$WORK/ex/b1.jsonl'"
check "a tampered export is refused: export-signature" refused "$WORK/ex/tampered.jsonl" export-signature
check "... and the message says it was changed" sh -c "'$STATION' audit import --db '$DB' '$WORK/ex/tampered.jsonl' | grep -q 'changed or cut after it was signed'"
bad_copy a2.jsonl cut.jsonl
head -c $(( $(stat -c %s "$WORK/ex/a2.jsonl") / 2 )) "$WORK/ex/a2.jsonl" >"$WORK/ex/cut.jsonl"
check "a truncated export is refused: export-signature" refused "$WORK/ex/cut.jsonl" export-signature
bad_copy a1.jsonl moved.jsonl
cp "$WORK/ex/a2.jsonl.manifest.json" "$WORK/ex/moved.jsonl.manifest.json"
cp "$WORK/ex/a2.jsonl.manifest.json.sig" "$WORK/ex/moved.jsonl.manifest.json.sig"
check "a manifest of another export is refused: export-manifest" refused "$WORK/ex/moved.jsonl" export-manifest
check "... saying it belongs to another export" sh -c "'$STATION' audit import --db '$DB' '$WORK/ex/moved.jsonl' | grep -q 'belongs to another export'"
bad_copy a1.jsonl editedmf.jsonl
sed -i 's/"journal_last": \([0-9]*\)/"journal_last": 9\1/' "$WORK/ex/editedmf.jsonl.manifest.json"
check "an edited manifest is refused: export-signature" refused "$WORK/ex/editedmf.jsonl" export-signature
rm "$WORK/ex/editedmf.jsonl.manifest.json"
check "a missing manifest is refused: export-manifest" refused "$WORK/ex/editedmf.jsonl" export-manifest

# A file that is not an audit database, and another program's SQLite database.
echo "just some text" >"$WORK/notes.txt"
sqlite3 "$WORK/other.db" "CREATE TABLE t (x); INSERT INTO t VALUES (1);"
for f in notes.txt other.db; do
  before=$(sha256sum "$WORK/$f")
  check "$f: import exits 2 (not an audit database)" expect_status 2 "$STATION" audit import --db "$WORK/$f" "$WORK/ex/a1.jsonl"
  check "$f: the reason is audit-db-foreign" sh -c "'$STATION' audit check --db '$WORK/$f' 2>&1 | grep -q '(audit-db-foreign)'"
  check "$f: left unchanged, no WAL beside it" sh -c "[ \"\$(sha256sum '$WORK/$f')\" = '$before' ] && [ ! -e '$WORK/$f-wal' ]"
done

# A locked database: another process holds the write lock.
S2=$(db_state)
mkfifo "$WORK/lock.fifo"
sqlite3 "$DB" <"$WORK/lock.fifo" >/dev/null 2>&1 &
LOCKER=$!
exec 9>"$WORK/lock.fifo"
echo "BEGIN IMMEDIATE; INSERT INTO local_ca (sha256, subject, factory) VALUES ('x', 'y', 'z');" >&9
for i in $(seq 1 50); do
  sqlite3 -cmd '.timeout 0' "$DB" 'BEGIN IMMEDIATE; ROLLBACK;' >/dev/null 2>&1 || break
  sleep 0.1
done
check "the other process holds the write lock" test "$i" -lt 50
check "import on a locked database exits 3" expect_status 3 "$STATION" audit import --db "$DB" "$WORK/ex/c3.jsonl"
check "... with the reason audit-db-locked" sh -c "'$STATION' audit import --db '$DB' '$WORK/ex/c3.jsonl' 2>&1 | grep -q '(audit-db-locked)'"
echo "ROLLBACK;" >&9
exec 9>&-
wait "$LOCKER" || true
check "... and the database is unchanged" test "$(db_state)" = "$S2"

# --- check: the doubly issued device, its key, the gap and the break of station c
check "check exits 1 with findings" expect_status 1 sh -c "'$STATION' audit check --db '$DB' >'$WORK/check.out'"
check "device-issued-twice names the device and both stations" grep -q "^device-issued-twice: device $DEV: station station-a record [0-9]* (serial [0-9a-f]*, local CA .*); station station-b record [0-9]* " "$WORK/check.out"
check "key-issued-twice names the device's key and both stations" grep -q "^key-issued-twice: key sha256:$(openssl pkey -in "$K/dev.key" -pubout -outform DER | sha256sum | cut -d' ' -f1): station station-a record .*; station station-b record .*device $DEV" "$WORK/check.out"
check "the gap is the missing export's records of station c" grep -qx "gap: station station-c: records $C2_FIRST-$C2_LAST of 1-[0-9]* are in no imported export" "$WORK/check.out"
check "the break in continuity is named for station c" grep -q "^continuity: station station-c: records 1-$((C2_FIRST - 1)) (c1.jsonl) and $((C2_LAST + 1))-[0-9]* (c3.jsonl) share no record" "$WORK/check.out"
check "no finding for stations a and b but the device's" test "$(grep -v -e '^device-issued-twice' -e '^key-issued-twice' "$WORK/check.out" | grep -c -e 'station-a' -e 'station-b')" = 0
check "exactly four findings" test "$(wc -l <"$WORK/check.out")" = 4

# --- find: the device by id, serial, key and certificate
SERIAL_A=$(openssl x509 -in "$WORK/a2/certs/dev.pem" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f')
KEYHASH=$(openssl pkey -in "$K/dev.key" -pubout -outform DER | sha256sum | cut -d' ' -f1)
check "find DEVICE exits 0" sh -c "'$STATION' audit find --db '$DB' '$DEV' >'$WORK/find.out'"
check "find names both stations as issuers" sh -c "grep -q '^issued: station station-a, record' '$WORK/find.out' && grep -q '^issued: station station-b, record' '$WORK/find.out'"
check "find gives the source (the stick file) of each" test "$(grep -c "source batch:$WORK/[ab][12]/csr/dev.csr" "$WORK/find.out")" = 2
check "find prints station a's certificate exactly" sh -c "awk '/^issued: station station-a/{p=1; next} /^(issued|refused):/{p=0} p' '$WORK/find.out' | cmp - '$WORK/a2/certs/dev.pem'"
check "find SERIAL (upper case, colons) finds station a's certificate" sh -c "'$STATION' audit find --db '$DB' \$(echo '$SERIAL_A' | tr a-f A-F | sed 's/../&:/g; s/:\$//') | grep -q '^issued: station station-a, .*serial $SERIAL_A'"
check "find KEY-SHA256 names both stations" test "$("$STATION" audit find --db "$DB" "$KEYHASH" | grep -c '^issued: station station-[ab],')" = 2
check "find CERT.pem (station b's) names both stations" test "$("$STATION" audit find --db "$DB" "$WORK/b1/certs/dev.pem" | grep -c '^issued: station station-[ab],')" = 2
check "find DEVICE shows station a's refusal of its new key, with the reason" grep -q "^refused: station station-a, record [0-9]*, .*source batch:$WORK/a3/csr/dev2.csr, device $DEV, key sha256:[0-9a-f]*, reason device-already-certified: " "$WORK/find.out"
check "find of an unknown device exits 1" expect_status 1 "$STATION" audit find --db "$DB" "$(uuid)"

# --- report
check "report --format csv" sh -c "'$STATION' audit report --db '$DB' --format csv >'$WORK/report.csv'"
check "report csv: a header and one row per station" test "$(cut -d, -f1 "$WORK/report.csv" | tr '\n' ' ')" = "station station-a station-b station-c "
ISSUED_A=$(ls "$WORK/a1/certs" "$WORK/a2/certs" | grep -c '\.pem$')
CA_A=$(openssl x509 -in "$WORK/a/local-ca.pem" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')
check "report csv: station a's local CA ($CA_A), issued ($ISSUED_A) and refused (3)" sh -c "grep '^station-a,' '$WORK/report.csv' | python3 -c 'import csv,sys; r=next(csv.reader(sys.stdin)); sys.exit(0 if r[1]==\"$CA_A\" and r[3]==\"$ISSUED_A\" and r[4]==\"3\" else 1)'"
check "report csv: station c's gap" sh -c "grep -q '^station-c,.*,$C2_FIRST-$C2_LAST,0\$' '$WORK/report.csv'"
check "report --format jsonl: three JSON rows with the fields" python3 -c "
import json
rows = [json.loads(l) for l in open('/dev/stdin')]
assert [r['station'] for r in rows] == ['station-a', 'station-b', 'station-c'], rows
keys = ['station', 'local_ca', 'records_covered', 'issued', 'refused', 'first_time', 'last_time', 'gaps', 'conflicts']
assert all(list(r) == keys for r in rows), rows
a = rows[0]
assert a['issued'] == $ISSUED_A and a['refused'] == 3 and a['gaps'] == [] and a['conflicts'] == 0, a
assert rows[2]['gaps'] == ['$C2_FIRST-$C2_LAST'], rows[2]
" < <("$STATION" audit report --db "$DB" --format jsonl)

# --- a station restored from a backup (journal and token both) that signs on:
# two histories of one journal, each signed by its key. The later export
# contradicts the earlier one: both are kept out, the conflict is stored and
# reported, and what the first export of b vouches for stays in the record.
cp -a "$WORK/b/journal" "$WORK/b-journal.bak"
cp -a "$WORK/b/tokens" "$WORK/b-tokens.bak"
batch "$WORK/b2" 2
check "station b signs batch 2" expect_status 1 at b -q sign "$WORK/b2"
check "station b exports after batch 2" export_at b "$WORK/ex/b2.jsonl"
rm -rf "$WORK/b/journal" "$WORK/b/tokens"
mv "$WORK/b-journal.bak" "$WORK/b/journal"
mv "$WORK/b-tokens.bak" "$WORK/b/tokens"
batch "$WORK/b3" 2
check "station b, restored, signs other devices" expect_status 1 at b -q sign "$WORK/b3"
check "station b exports the other history" export_at b "$WORK/ex/b3.jsonl"
B1_LAST=$(wc -l <"$WORK/ex/b1.jsonl")
check "import b2 (it extends b1)" sh -c "'$STATION' audit import --db '$DB' '$WORK/ex/b2.jsonl' | grep -q 'b2.jsonl: imported: station station-b'"
check "import b3: CONFLICT, exit 1" expect_status 1 sh -c "'$STATION' audit import --db '$DB' '$WORK/ex/b3.jsonl' >'$WORK/conflict.out'"
check "... naming the first record that differs and the export it contradicts" grep -q "^.*b3.jsonl: CONFLICT: station station-b, .*record $((B1_LAST + 1)) differs from export b2.jsonl" "$WORK/conflict.out"
check "b2 and b3 are kept out, b1 stays (sqlite3)" test "$(sqlite3 "$DB" "SELECT group_concat(file || '=' || status, ' ') FROM (SELECT file, status FROM export WHERE file LIKE 'b%' ORDER BY file)")" = "b1.jsonl=accepted b2.jsonl=conflict b3.jsonl=conflict"
check "station b's record is b1's records again" test "$(sqlite3 "$DB" "SELECT count(*) || ' ' || max(seq) FROM record r JOIN station s ON s.id = r.station_id WHERE s.name = 'station-b'")" = "$B1_LAST $B1_LAST"
check "check reports the conflict" sh -c "'$STATION' audit check --db '$DB' | grep -q '^conflict: station station-b: exports b3.jsonl and b2.jsonl disagree on record $((B1_LAST + 1)) .*both are kept out of the record\$'"
check "check reports station b's records after b1 as a gap" sh -c "'$STATION' audit check --db '$DB' | grep -q '^gap: station station-b: records $((B1_LAST + 1))-[0-9]* of 1-[0-9]* are in no imported export\$'"
check "find still names both stations for the device" test "$("$STATION" audit find --db "$DB" "$DEV" | grep -c '^issued: station station-[ab],')" = 2
check "report: station b has one conflict row or more" sh -c "'$STATION' audit report --db '$DB' --format csv | grep -q '^station-b,.*,[1-9][0-9]*\$'"
finish
