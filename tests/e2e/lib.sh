# lib.sh - shared by the end-to-end tests: a fresh SoftHSM token, a factory PKI
# made with the station's own key ceremony, device CSRs of every kind, and a
# tiny check/report harness. Source it; it sets -eu and makes $WORK.
#
#   STATION      the station binary under test (first argument of every test)
#   WORK         a fresh directory, removed at exit unless KEEP_WORK=1
#   STATION_TEST_BACKEND  softhsm (default) or tpm2: the PKCS#11 token the tests
#                run on. tpm2 is tpm2-pkcs11 on a software TPM (swtpm) behind
#                the tpm2-abrmd resource manager on a private D-Bus, all started
#                per test and stopped at exit; where that stack cannot run, the
#                test says why and exits 77 (CTest: skipped).
#   PKCS11_MODULE the module of that backend, for pkcs11-tool and the configuration
set -eu
# Debian's own interpreters and tools first (install-deps.sh --test installs
# them): a version manager's shim earlier on PATH, such as pyenv's python3,
# runs a dozen shell scripts for every call (0.35 s against 0.03 s here),
# which over the suite's few hundred python3 calls costs minutes of CPU.
export PATH=/usr/bin:/bin:$PATH
STATION=${1:?usage: test.sh path/to/station}
STATION=$(cd "$(dirname "$STATION")" && pwd)/$(basename "$STATION")
SOFTHSM_MODULE=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
TPM2_MODULE=${TPM2_MODULE:-/usr/lib/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)/pkcs11/libtpm2_pkcs11.so}
BACKEND=${STATION_TEST_BACKEND:-softhsm}
case $BACKEND in
  softhsm) PKCS11_MODULE=$SOFTHSM_MODULE ;;
  tpm2) PKCS11_MODULE=$TPM2_MODULE ;;
  *) echo "lib.sh: STATION_TEST_BACKEND must be softhsm or tpm2, not \"$BACKEND\"" >&2; exit 2 ;;
esac
FACTORY=acme-factory
TEST_PIN=7319
# the tests run as root in CI; the station refuses root unless told (test_privilege.sh checks that)
export STATION_ALLOW_ROOT=1
WORK=$(mktemp -d "${TMPDIR:-/tmp}/station-e2e.XXXXXX")
# at_exit: stops what the test started (at_exit_hooks), then removes $WORK.
AT_EXIT_HOOKS=()
at_exit() {
  local hook
  for hook in ${AT_EXIT_HOOKS[@]+"${AT_EXIT_HOOKS[@]}"}; do $hook || true; done
  [ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$WORK"
}
trap at_exit EXIT
. "$(dirname "${BASH_SOURCE[0]}")/check.sh"

uuid() { cat /proc/sys/kernel/random/uuid; }

# skip REASON: this test cannot run here; CTest counts exit 77 as skipped.
skip() {
  echo "SKIP: $*"
  exit 77
}

# make_token DIR LABEL: a fresh token store in DIR with one token (user PIN
# $TEST_PIN), on the backend STATION_TEST_BACKEND names.
make_token() {
  case $BACKEND in
    softhsm) make_softhsm_token "$@" ;;
    tpm2) tpm2_start "$1"; init_token "$2" "$TEST_PIN" 12345678 ;;
  esac
}

# init_token LABEL PIN SO-PIN: one more token in the store make_token made.
init_token() {
  case $BACKEND in
    softhsm) softhsm2-util --init-token --free --label "$1" --pin "$2" --so-pin "$3" >/dev/null ;;
    tpm2) tpm2_init_token "$@" ;;
  esac
}

# make_softhsm_token DIR LABEL: a fresh SoftHSM token store in DIR with one token.
make_softhsm_token() {
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
  module: $PKCS11_MODULE
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

# no_crash_report FILE: true when FILE (a station's stderr) holds no sanitizer
# report and no crash.
no_crash_report() {
  ! grep -qi -e 'AddressSanitizer' -e 'LeakSanitizer' -e 'runtime error' -e 'Segmentation' "$1"
}

# certs_verify DIR [N]: every certificate DIR/*.pem verifies as verify_device_cert
# checks one (openssl run on 200 files at a time); with N, there are exactly N.
certs_verify() {
  local total ok
  total=$(find "$1" -maxdepth 1 -name '*.pem' | wc -l)
  ok=$(find "$1" -maxdepth 1 -name '*.pem' -print0 | xargs -0 -r -n 200 openssl verify -x509_strict \
    -purpose sslclient -CAfile "$WORK/pki/factory_ca.pem" -untrusted "$WORK/pki/local-ca.pem" 2>&1 |
    grep -c ': OK$' || true)
  [ "$ok" = "$total" ] || { echo "$ok of $total certificates in $1 verify"; return 1; }
  [ -z "${2:-}" ] || [ "$total" = "$2" ] || { echo "$total certificates in $1, expected $2"; return 1; }
}

# --- the tpm2 backend: tpm2-pkcs11 on swtpm, the way a station PC's TPM is
# reached. A real TPM is shared through a resource manager (the kernel's
# /dev/tpmrm0), which flushes each client's transient objects when it goes; a
# bare swtpm has only three object slots and keeps whatever a process left, so
# the tests put tpm2-abrmd (on a private D-Bus session bus) in front of it.

# tpm2_start DIR: swtpm + D-Bus + tpm2-abrmd under DIR/tpm, a tpm2-pkcs11 store
# in DIR/tpm/store; exports TPM2_PKCS11_TCTI, TPM2_PKCS11_STORE and
# DBUS_SESSION_BUS_ADDRESS for every command run after it. Stopped at exit.
tpm2_start() {
  local t=$1/tpm tool
  for tool in swtpm tpm2-abrmd dbus-daemon pkcs11-tool; do
    command -v "$tool" >/dev/null || skip "tpm2 backend: $tool is not installed (bash packaging/install-deps.sh --test installs it)"
  done
  [ -e "$TPM2_MODULE" ] || skip "tpm2 backend: no tpm2-pkcs11 module at $TPM2_MODULE (package libtpm2-pkcs11-1)"
  ls /usr/lib/*/libtss2-tcti-tabrmd.so.0 >/dev/null 2>&1 ||
    skip "tpm2 backend: no tabrmd TCTI (package libtss2-tcti-tabrmd0)"
  mkdir -p "$t/state" "$t/store"
  chmod 700 "$t"
  TPM2_DIR=$t
  AT_EXIT_HOOKS+=(tpm2_stop)
  if ! swtpm socket --tpm2 --tpmstate dir="$t/state" --server type=unixio,path="$t/swtpm.sock" \
      --ctrl type=unixio,path="$t/swtpm.sock.ctrl" --flags not-need-init,startup-clear \
      --pid file="$t/swtpm.pid" --log file="$t/swtpm.log" --daemon >"$t/swtpm.out" 2>&1; then
    skip "tpm2 backend: swtpm cannot run here: $(cat "$t/swtpm.out" "$t/swtpm.log" 2>/dev/null | tail -3)"
  fi
  dbus-daemon --session --address="unix:path=$t/bus.sock" --fork --print-pid=1 >"$t/dbus.pid" 2>"$t/dbus.log" </dev/null ||
    skip "tpm2 backend: dbus-daemon cannot run here: $(tail -3 "$t/dbus.log")"
  export DBUS_SESSION_BUS_ADDRESS=unix:path=$t/bus.sock
  local name=com.intel.tss2.Tabrmd.station$$
  local root_flag=
  [ "$(id -u)" != 0 ] || root_flag=--allow-root
  tpm2-abrmd --session $root_flag --tcti="swtpm:path=$t/swtpm.sock" --dbus-name=$name --flush-all \
    </dev/null >"$t/abrmd.log" 2>&1 &
  echo $! >"$t/abrmd.pid"
  export TPM2_PKCS11_TCTI="tabrmd:bus_name=$name,bus_type=session"
  export TPM2_PKCS11_STORE=$t/store
  export TPM2TOOLS_TCTI=$TPM2_PKCS11_TCTI
  # the broker is up once the module sees the TPM's slot through it
  local i
  for i in $(seq 1 50); do
    pkcs11-tool --module "$TPM2_MODULE" -L 2>/dev/null | grep -q 'Slot 0' && break
    kill -0 "$(cat "$t/abrmd.pid")" 2>/dev/null || skip "tpm2 backend: tpm2-abrmd cannot run here: $(tail -3 "$t/abrmd.log")"
    sleep 0.1
  done
  [ "$i" -lt 50 ] || skip "tpm2 backend: tpm2-pkcs11 sees no TPM through tpm2-abrmd after 5 s: $(tail -3 "$t/abrmd.log")"
  # Processes started below never outlive the test, even if it is killed.
  ( exec </dev/null >/dev/null 2>&1; while kill -0 $$ 2>/dev/null; do sleep 1; done; TPM2_DIR=$t tpm2_stop ) &
}

# tpm2_stop: stops tpm2-abrmd, swtpm and the D-Bus of tpm2_start.
tpm2_stop() {
  local p
  for p in abrmd swtpm dbus; do
    [ -s "$TPM2_DIR/$p.pid" ] && kill "$(cat "$TPM2_DIR/$p.pid")" 2>/dev/null
  done
  return 0
}

# tpm2_init_token LABEL PIN SO-PIN: initialises the store's free slot (the
# module always offers one) through PKCS#11 itself: C_InitToken, C_InitPIN.
tpm2_init_token() {
  local slot
  slot=$(pkcs11-tool --module "$TPM2_MODULE" -L 2>/dev/null |
    awk '/^Slot [0-9]+ \(0x[0-9a-f]+\)/ {s = $3} /token state: *uninitialized/ {gsub(/[():]/, "", s); print s; exit}')
  [ -n "$slot" ] || { echo "tpm2_init_token: no free slot" >&2; return 1; }
  pkcs11-tool --module "$TPM2_MODULE" --slot "$slot" --init-token --label "$1" --so-pin "$3" >/dev/null
  pkcs11-tool --module "$TPM2_MODULE" --token-label "$1" --login --login-type so --so-pin "$3" \
    --init-pin --pin "$2" >/dev/null
}
