# lib.sh - shared by the end-to-end tests: a fresh SoftHSM token, a factory PKI
# made with the station's own key ceremony, device CSRs of every kind, and a
# tiny check/report harness. Source it; it sets -eu and makes $WORK.
#
#   STATION      the station binary under test (first argument of every test)
#   WORK         a fresh directory, removed at exit unless KEEP_WORK=1
set -eu
STATION=${1:?usage: test.sh path/to/station}
STATION=$(cd "$(dirname "$STATION")" && pwd)/$(basename "$STATION")
SOFTHSM_MODULE=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
FACTORY=acme-factory
TEST_PIN=7319
WORK=$(mktemp -d "${TMPDIR:-/tmp}/station-e2e.XXXXXX")
[ "${KEEP_WORK:-0}" = 1 ] || trap 'rm -rf "$WORK"' EXIT
PASSED=0
FAILED=0

# check DESCRIPTION COMMAND...: runs COMMAND, counts a pass or a failure.
check() {
  local what=$1; shift
  if "$@" >"$WORK/.check.out" 2>&1; then
    PASSED=$((PASSED + 1)); echo "ok   - $what"
  else
    FAILED=$((FAILED + 1)); echo "FAIL - $what"; sed 's/^/       /' "$WORK/.check.out" | head -20
  fi
}

# expect_status N COMMAND...: true when COMMAND exits with status N.
expect_status() {
  local want=$1; shift
  local got=0
  "$@" || got=$?
  [ "$got" = "$want" ] || { echo "exit status $got, expected $want"; return 1; }
}

# finish: prints the summary line and exits non-zero on any failure.
finish() {
  echo "$PASSED passed, $FAILED failed"
  [ "$FAILED" = 0 ]
}

uuid() { cat /proc/sys/kernel/random/uuid; }

# make_token DIR LABEL: a fresh SoftHSM token store in DIR with one token (user PIN $TEST_PIN).
make_token() {
  mkdir -p "$1/tokens"
  cat >"$1/softhsm2.conf" <<CONF
directories.tokendir = $1/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
CONF
  export SOFTHSM2_CONF=$1/softhsm2.conf
  softhsm2-util --init-token --free --label "$2" --pin "$TEST_PIN" --so-pin 12345678 >/dev/null
}

# write_config FILE [EXTRA YAML for profile:]: the station configuration used by the tests.
write_config() {
  local file=$1; shift
  cat >"$file" <<YAML
factory: $FACTORY
hsm:
  module: $SOFTHSM_MODULE
  token: station
  key: local-ca
  pin: env:STATION_TEST_PIN
ca:
  certificate: $WORK/pki/local-ca.pem
  root: $WORK/pki/factory_ca.pem
profile:
  validity_days: ${VALIDITY_DAYS:-7300}
  production: ${PRODUCTION:-forbid}
  reissue: ${REISSUE:-refuse}
journal:
  path: $WORK/journal
YAML
}

# make_pki: token + factory root + local CA key made by `station ca init` and
# certified by `station ca certify`; exports STATION_CONFIG.
make_pki() {
  mkdir -p "$WORK/pki"
  make_token "$WORK/pki" station
  export STATION_TEST_PIN=$TEST_PIN
  write_config "$WORK/station.yaml"
  export STATION_CONFIG=$WORK/station.yaml
  openssl ecparam -genkey -name prime256v1 -out "$WORK/pki/factory_ca.key" 2>/dev/null
  openssl req -new -x509 -key "$WORK/pki/factory_ca.key" -days 7300 -subj "/CN=Factory-CA/OU=$FACTORY" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$WORK/pki/factory_ca.pem" 2>/dev/null
  "$STATION" -q ca init --cn fio-0123456789abcdef --out "$WORK/pki/local-ca.csr"
  "$STATION" -q ca certify --csr "$WORK/pki/local-ca.csr" --root-cert "$WORK/pki/factory_ca.pem" \
    --root-key "$WORK/pki/factory_ca.key" --out "$WORK/pki/local-ca.pem"
  cat "$WORK/pki/local-ca.pem" "$WORK/pki/factory_ca.pem" >"$WORK/pki/ca-bundle.pem"
}

# make_key FILE [CURVE]: an EC key (default P-256).
make_key() {
  openssl ecparam -genkey -name "${2:-prime256v1}" -noout -out "$1" 2>/dev/null
}

# make_csr OUT KEY SUBJECT [openssl req options...]: a CSR signed with SHA-256 unless told otherwise.
make_csr() {
  local out=$1 key=$2 subject=$3; shift 3
  openssl req -new -key "$key" -subj "$subject" -sha256 "$@" -out "$out" 2>/dev/null
}

# device_subject UUID: the subject a device CSR carries.
device_subject() { echo "/CN=$1/OU=$FACTORY"; }

# verify_device_cert CERT: the checks a device gateway makes.
verify_device_cert() {
  openssl verify -x509_strict -purpose sslclient -CAfile "$WORK/pki/factory_ca.pem" \
    -untrusted "$WORK/pki/local-ca.pem" "$1"
}
