#!/usr/bin/env bash
# demo.sh - the station's main job on a built-in default, from a fresh clone:
#   1. installs what is missing and builds the station (Release, ./build);
#   2. makes a demo SoftHSM token and a demo factory PKI under ./demo:
#      a factory root (software, as a factory's offline root would be), and the
#      local CA key generated inside the token by `station ca init`, certified
#      by `station ca certify`;
#   3. writes a demo USB stick (./demo/stick/csr) with device CSRs, a few of
#      them bad on purpose, and signs it with `station sign`;
#   4. shows what came out: the summary, one certificate checked with openssl,
#      the rejection notes, and `station journal verify`.
# Run it again to start over. DEMO_DEVICES=N sets the number of good CSRs.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEMO=$ROOT/demo
N=${DEMO_DEVICES:-24}
FACTORY=demo-factory

bash "$ROOT/packaging/install-deps.sh"
cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$ROOT/build" -j "$(nproc)" >/dev/null
STATION=$ROOT/build/bin/station

rm -rf "$DEMO"
mkdir -p "$DEMO/tokens" "$DEMO/pki" "$DEMO/stick/csr" "$DEMO/device-keys"
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
