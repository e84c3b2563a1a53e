#!/usr/bin/env bash
# demo.sh - the station's main job on a built-in default, from a fresh clone:
#   1. installs what is missing and builds the station (Release, ./build);
#   2. makes a demo SoftHSM token and a demo factory PKI under ./demo:
#      a factory root (software, as a factory's offline root would be), and the
#      local CA key generated inside the token by `station ca init`, certified
#      by `station ca certify`, and the journal begun by `station journal init`
#      (which prints the journal key's fingerprint);
#   3. writes a demo USB stick with device CSRs, a few of them bad on purpose;
#   4. on a terminal: starts the operator console (`station console`, PIN 1234
#      asked on screen) with demo boards on pseudo-terminals (tests/e2e/board_sim,
#      in the background, stopped when the console quits) and the demo stick
#      appearing under the intake root ./demo/media a few seconds later: press
#      s then y to sign it, ? for every key, q then y to quit;
#      without a terminal (CI): signs the stick headless with `station sign`
#      and shows what came out: the summary, one certificate checked with
#      openssl, the rejection notes, and `station journal verify`.
# Run it again to start over. DEMO_DEVICES=N sets the number of good CSRs;
# DEMO_HEADLESS=1 takes the headless path on a terminal too.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEMO=$ROOT/demo
N=${DEMO_DEVICES:-24}
FACTORY=demo-factory

bash "$ROOT/packaging/install-deps.sh"
BUILD=${DEMO_BUILD:-$ROOT/build}
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j "$(nproc)" >/dev/null
STATION=$BUILD/bin/station
export STATION_ALLOW_ROOT=1 # a demo on a lab machine, often as root; a station PC runs as the station user

rm -rf "$DEMO"
mkdir -p "$DEMO/tokens" "$DEMO/pki" "$DEMO/stick/csr" "$DEMO/device-keys" "$DEMO/media" "$DEMO/ports"
cat >"$DEMO/softhsm2.conf" <<CONF
directories.tokendir = $DEMO/tokens
objectstore.backend = file
log.level = ERROR
CONF
export SOFTHSM2_CONF=$DEMO/softhsm2.conf
softhsm2-util --init-token --free --label station --pin 1234 --so-pin 12345678 >/dev/null
printf '1234\n' >"$DEMO/pin"
chmod 600 "$DEMO/pin"
cat >"$DEMO/station.yaml" <<YAML
# Demo configuration (docs/configuration.md describes every key).
factory: $FACTORY
hsm:
  module: /usr/lib/softhsm/libsofthsm2.so
  token: station
  key: local-ca
  pin: file:pin
ca:
  certificate: pki/local-ca.pem
  root: pki/factory_ca.pem
profile:
  validity_days: 3650
  production: forbid
  reissue: refuse
journal:
  path: journal
intake:
  usb: [stick]
YAML
export STATION_CONFIG=$DEMO/station.yaml

echo "== key ceremony: local CA key generated inside the token, certified by the factory root"
openssl ecparam -genkey -name prime256v1 -noout -out "$DEMO/pki/factory_ca.key" 2>/dev/null
openssl req -new -x509 -key "$DEMO/pki/factory_ca.key" -days 7300 -subj "/CN=Factory-CA/OU=$FACTORY" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out "$DEMO/pki/factory_ca.pem" 2>/dev/null
"$STATION" ca init --cn fio-demo-operator --out "$DEMO/pki/local-ca.csr"
"$STATION" ca certify --csr "$DEMO/pki/local-ca.csr" --root-cert "$DEMO/pki/factory_ca.pem" \
  --root-key "$DEMO/pki/factory_ca.key" --out "$DEMO/pki/local-ca.pem"
"$STATION" ca show
"$STATION" journal init

echo "== a USB stick with $N device CSRs and a few bad ones"
for i in $(seq -w 1 "$N"); do
  id=$(cat /proc/sys/kernel/random/uuid)
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$DEMO/device-keys/board-$i.key" \
    -subj "/CN=$id/OU=$FACTORY" -out "$DEMO/stick/csr/board-$i.csr" 2>/dev/null
done
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout /dev/null \
  -subj "/CN=$(cat /proc/sys/kernel/random/uuid)/OU=another-factory" -out "$DEMO/stick/csr/wrong-factory.csr" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout /dev/null \
  -subj "/CN=board-without-uuid/OU=$FACTORY" -out "$DEMO/stick/csr/no-uuid.csr" 2>/dev/null
echo "not a CSR" >"$DEMO/stick/csr/truncated.csr"
cp "$DEMO/stick/csr/board-01.csr" "$DEMO/stick/csr/board-01-again.csr"

if [ -t 0 ] && [ -t 1 ] && [ "${DEMO_HEADLESS:-0}" != 1 ]; then
  # the console's configuration: the PIN asked on screen, a USB intake root, two demo boards
  sed "s/^  pin: file:pin\$/  pin: prompt/; s#^  usb: \[stick\]\$#  usb: [$DEMO/media]#" "$DEMO/station.yaml" >"$DEMO/console.yaml"
  cat >>"$DEMO/console.yaml" <<YAML
  serial:
    - port: $DEMO/ports/ttyBOARD0
    - port: $DEMO/ports/ttyBOARD1
YAML
  # demo boards: every few seconds a board asks for its certificate (one of them from the wrong factory)
  (
    while [ ! -e "$DEMO/.stop" ]; do
      "$BUILD/tests/board_sim" --factory "$FACTORY" --root "$DEMO/pki/factory_ca.pem" --dir "$DEMO/ports" \
        --port-args no --wait 10 --board sleep:6000,csr,sleep:9000,csr,sleep:7000,resend \
        --board sleep:11000,csr,sleep:8000,wrong-factory,sleep:5000,csr \
        -- /bin/sh -c 'while kill -0 $PPID 2>/dev/null && [ ! -e "$0/.stop" ]; do sleep 0.5; done' "$DEMO" \
        >>"$DEMO/boards.log" 2>&1 &
      echo $! >"$DEMO/.boards.pid"
      wait $! || true
    done
  ) &
  BOARDS=$!
  # the demo stick is "plugged in" (moved under the intake root) a few seconds after the console starts
  mv "$DEMO/stick" "$DEMO/stick-0001"
  ( sleep 5; [ -e "$DEMO/.stop" ] || mv "$DEMO/stick-0001" "$DEMO/media/stick-0001" ) &
  STICK=$!
  stop_demo() {
    touch "$DEMO/.stop"
    kill "$STICK" "$(cat "$DEMO/.boards.pid" 2>/dev/null)" 2>/dev/null || true
    wait "$BOARDS" 2>/dev/null || true
    # the boards' links point into /dev/pts: once the boards are gone, that pty may be someone else's terminal
    rm -f "$DEMO"/ports/ttyBOARD*
  }
  trap stop_demo EXIT
  echo "== the operator console: demo PIN 1234; a stick appears in a few seconds: s then y signs it, ? help, q then y quits"
  sleep 2
  status=0
  "$STATION" -c "$DEMO/console.yaml" console || status=$?
  echo "Demo files are in $DEMO (boards: $DEMO/boards.log; the signed stick: $DEMO/media/stick-0001)."
  echo "  export SOFTHSM2_CONF=$DEMO/softhsm2.conf STATION_CONFIG=$DEMO/console.yaml; $STATION console"
  exit $status
fi

echo "== no terminal: the headless path (station sign) instead of the console"
echo "== station sign demo/stick"
"$STATION" sign "$DEMO/stick" || true
echo "== again: nothing new is signed, certificates come back from the journal"
"$STATION" -q sign "$DEMO/stick" || true

echo "== what a device gateway checks, on board-01's certificate"
openssl verify -x509_strict -purpose sslclient -CAfile "$DEMO/pki/factory_ca.pem" -untrusted "$DEMO/pki/local-ca.pem" \
  "$DEMO/stick/certs/board-01.pem"
openssl x509 -in "$DEMO/stick/certs/board-01.pem" -noout -subject -issuer -dates -ext keyUsage,extendedKeyUsage
echo "== rejection notes"
head -n 1 "$DEMO"/stick/rejected/*.txt
echo "== the journal"
"$STATION" journal verify
echo
echo "Demo files are in $DEMO. Try:"
echo "  export SOFTHSM2_CONF=$DEMO/softhsm2.conf STATION_CONFIG=$DEMO/station.yaml"
echo "  $STATION ca show"
