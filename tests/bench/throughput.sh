#!/usr/bin/env bash
# throughput.sh - the station's signing rate against the ceiling of its token,
# in one run on one throwaway SoftHSM token:
#   raw        C_Sign loop on the token (tests/bench/raw_sign): the ceiling
#   opensslca  `openssl ca -batch -infiles` with the libp11 engine, same token
#   verify     `openssl speed -seconds 3 ecdsap256` pinned to one core: ECDSA
#              P-256 verifications per second on one core
#   floor      tests/bench/floor on the same core and file system: the least
#              work a certificate needs besides its cryptography (read the
#              CSR file, decode its key, write the certificate atomically,
#              the journal's write and fdatasync once a group), and the bound
#              it puts on the ratio: crypto / (crypto + floor)
#   cores      the cores the station may use (nproc, or --cores)
#   station    `station sign` on a batch of N fresh CSRs, journal durable
# and prints certs/s, the CPU limit of the work, the ratios, and the station's
# peak RSS (/usr/bin/time). The CPU limit is what the cores can do when they
# do nothing but the cryptography each certificate needs: one token signature
# (1/raw s, on the token's own thread) and two P-256 verifications (the CSR's
# signature and the new certificate's, 1/verify s each):
#   limit = cores / (1/raw + 2/verify)   certificates/s
#   (with --slow-ms the token waits rather than computes: limit = min(raw, cores x verify / 2))
# The last lines are one summary block (the figures, the ratios, uptime's load).
#
# usage: tests/bench/throughput.sh [-n N] [--build DIR] [--slow-ms D] [--sessions S] [--no-openssl]
#                                  [--fresh-fs | --tmpfs] [--cores LIST]
#   --tmpfs       run everything on tmpfs (/dev/shm), so the file system is not
#                 what is measured (TMPDIR=DIR chooses another place)
#   --cores LIST  run the station once per count in LIST (e.g. 1,2), each under
#                 taskset on that many cores with a journal of its own, and
#                 print each rate against the limit for that many cores and
#                 the scaling from the first count to the last
#   --slow-ms D   put tests/pkcs11 slow_token in front of SoftHSM: D ms per C_Sign
#                 (a USB HSM), for the station and the raw ceiling
#   --sessions S  hsm.sessions for the station, threads for the raw ceiling
#   --fresh-fs    run everything (token, CSRs, journal, outputs) on a new ext4
#                 file system (a loop device; root only), as on a fresh stick.
#                 ext4 skips inodes freed in the last minutes when it allocates
#                 one (recently_deleted), and checks them again for every new
#                 file: right after a test suite or an earlier run cleaned up
#                 thousands of files, creating one costs 60-100 us of kernel
#                 time instead of 15. This measures the station, not that.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
N=6000 BUILD=$ROOT/build SLOW_MS=0 SESSIONS=1 OPENSSL_CA=1 FRESH_FS=0 CORES=
while [ $# -gt 0 ]; do
  case $1 in
    -n) N=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    --slow-ms) SLOW_MS=$2; shift 2 ;;
    --sessions) SESSIONS=$2; shift 2 ;;
    --no-openssl) OPENSSL_CA=0; shift ;;
    --fresh-fs) FRESH_FS=1; shift ;;
    --tmpfs) export TMPDIR=/dev/shm; shift ;;
    --cores) CORES=$2; shift 2 ;;
    *) echo "usage: $0 [-n N] [--build DIR] [--slow-ms D] [--sessions S] [--no-openssl] [--fresh-fs | --tmpfs]" \
         "[--cores LIST]" >&2; exit 2 ;;
  esac
done
STATION=$BUILD/bin/station
export STATION_ALLOW_ROOT=1 # a benchmark on a build machine, often as root
[ -x "$STATION" ] && [ -x "$BUILD/tests/bench/raw_sign" ] && [ -x "$BUILD/tests/bench/floor" ] || {
  echo "build first: cmake -S $ROOT -B $BUILD -DCMAKE_BUILD_TYPE=Release && cmake --build $BUILD" >&2; exit 2; }
NPROC=$(nproc)
[ -n "$CORES" ] || CORES=$NPROC
for c in ${CORES//,/ }; do
  case $c in ''|*[!0-9]*) echo "--cores: a list of core counts, such as 1,2" >&2; exit 2 ;; esac
  [ "$c" -ge 1 ] && [ "$c" -le "$NPROC" ] || { echo "--cores: $c is not between 1 and $NPROC" >&2; exit 2; }
done
command -v /usr/bin/time >/dev/null && command -v taskset >/dev/null || {
  echo "needs /usr/bin/time (package time) and taskset (util-linux)" >&2; exit 2; }
SOFTHSM=/usr/lib/softhsm/libsofthsm2.so
W=$(mktemp -d "${TMPDIR:-/tmp}/station-bench.XXXXXX")
if [ "$FRESH_FS" = 1 ]; then
  [ "$(id -u)" = 0 ] && command -v mkfs.ext4 >/dev/null || { echo "--fresh-fs: needs root and mkfs.ext4" >&2; exit 2; }
  truncate -s 2G "$W.img"
  mkfs.ext4 -q -F "$W.img"
  mount -o loop "$W.img" "$W"
  trap 'umount "$W"; rm -rf "$W" "$W.img"' EXIT
elif [ -n "${BENCH_KEEP:-}" ]; then
  echo "work directory kept: $W"
else
  trap 'rm -rf "$W"' EXIT
fi
mkdir -p "$W/tokens" "$W/stick/csr" "$W/ca/newcerts"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$W" >"$W/softhsm2.conf"
export SOFTHSM2_CONF=$W/softhsm2.conf BENCH_PIN=4711
softhsm2-util --init-token --free --label station --pin "$BENCH_PIN" --so-pin 12345678 >/dev/null
MODULE=$SOFTHSM
if [ "$SLOW_MS" != 0 ]; then
  MODULE=$BUILD/tests/libslow_token.so
  export SLOW_TOKEN_MODULE=$SOFTHSM SLOW_TOKEN_DELAY_MS=$SLOW_MS
fi
cat >"$W/station.yaml" <<YAML
factory: bench-factory
hsm:
  module: $MODULE
  token: station
  key: local-ca
  pin: env:BENCH_PIN
  sessions: $SESSIONS
ca:
  certificate: $W/ca/local-ca.pem
  root: $W/ca/root.pem
journal:
  path: journal
YAML
openssl ecparam -genkey -name prime256v1 -noout -out "$W/ca/root.key" 2>/dev/null
openssl req -new -x509 -key "$W/ca/root.key" -days 3650 -subj "/CN=Bench-Root/OU=bench-factory" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" -out "$W/ca/root.pem" 2>/dev/null
"$STATION" -q -c "$W/station.yaml" ca init --cn fio-bench --out "$W/ca/local-ca.csr"
"$STATION" -q -c "$W/station.yaml" ca certify --csr "$W/ca/local-ca.csr" --root-cert "$W/ca/root.pem" \
  --root-key "$W/ca/root.key" --out "$W/ca/local-ca.pem"
"$BUILD/tests/bench/make_csrs" "$W/stick/csr" "$N" bench-factory

if [ "$SLOW_MS" = 0 ]; then echo "token: SoftHSM"; else echo "token: SoftHSM behind slow_token, $SLOW_MS ms per C_Sign"; fi
echo "batch: $N CSRs; machine: $(nproc) cores; file system: $(df --output=fstype "$W" | tail -1)$([ "$FRESH_FS" = 1 ] && echo ", new")"
RAW=$("$BUILD/tests/bench/raw_sign" "$MODULE" station local-ca BENCH_PIN 3 "$SESSIONS" | awk '{print $2}')
printf '%-10s %9s certs/s\n' raw "$RAW"

OSSL=""
if [ "$OPENSSL_CA" = 1 ]; then
  : >"$W/ca/index.txt"; openssl rand -hex 16 >"$W/ca/serial"
  cat >"$W/ca/ca.cnf" <<CNF
openssl_conf = openssl_init
[openssl_init]
engines = engine_section
[engine_section]
pkcs11 = pkcs11_section
[pkcs11_section]
engine_id = pkcs11
MODULE_PATH = $MODULE
PIN = $BENCH_PIN
init = 0
[ca]
default_ca = local
[local]
dir = $W/ca
database = $W/ca/index.txt
new_certs_dir = $W/ca/newcerts
serial = $W/ca/serial
certificate = $W/ca/local-ca.pem
default_md = sha256
default_days = 3650
policy = pol
unique_subject = no
x509_extensions = dev
[pol]
commonName = supplied
organizationalUnitName = supplied
[dev]
keyUsage = critical,digitalSignature
extendedKeyUsage = critical,clientAuth
authorityKeyIdentifier = keyid
CNF
  t0=$(date +%s.%N)
  openssl ca -config "$W/ca/ca.cnf" -batch -engine pkcs11 -keyform engine \
    -keyfile "pkcs11:token=station;object=local-ca;type=private" -notext -out "$W/ca/out.pem" \
    -infiles "$W"/stick/csr/*.csr >/dev/null 2>&1
  t1=$(date +%s.%N)
  OSSL=$(awk -v n="$N" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", n / (b - a)}')
  printf '%-10s %9s certs/s\n' opensslca "$OSSL"
fi

# ECDSA P-256 verifications per second on one core. `openssl speed -mr` ends
# with "+F4:<n>:256:<sign/s>:<verify/s>"; the human-readable table is the
# fallback (its last column on the 256-bit nistp256 line).
verify_rate() {
  local out rate
  out=$(taskset -c 0 openssl speed -seconds 3 -mr ecdsap256 2>/dev/null || true)
  rate=$(printf '%s\n' "$out" | awk -F: '$1 == "+F4" && $3 == "256" {printf "%.0f", $5; exit}')
  [ -n "$rate" ] || rate=$(taskset -c 0 openssl speed -seconds 3 ecdsap256 2>/dev/null |
    awk '/nistp256/ {printf "%.0f", $NF; exit}')
  case $rate in ''|*[!0-9]*) echo "cannot read the verify rate from openssl speed" >&2; exit 1 ;; esac
  echo "$rate"
}
VERIFY=$(verify_rate)
printf '%-10s %9s verifications/s on one core (openssl speed ecdsap256)\n' verify "$VERIFY"
# The least work a certificate needs besides its cryptography, on this file
# system, pinned to the core openssl speed ran on (tests/bench/floor.c): a
# bound on the ratio to the CPU limit that any signer of files reaches here
if [ "$SLOW_MS" = 0 ]; then
  read -r FLOOR_FILES FLOOR_PARSE FLOOR_VERIFY < <(taskset -c 0 "$BUILD/tests/bench/floor" "$W/stick/csr" "$W/floor" |
    awk '{v[$1] = $2} END {print v["floor_files_us"], v["floor_parse_us"], v["floor_verify_us"]}')
  rm -rf "$W/floor"
  [ -n "${FLOOR_VERIFY:-}" ] || { echo "tests/bench/floor failed" >&2; exit 1; }
  printf '%-10s %9s us a certificate: files %s (read a CSR, write a certificate atomically, a group'"'"'s journal write and fdatasync), parse %s (PEM to a key); verify %s us there\n' \
    floor "$(awk -v f="$FLOOR_FILES" -v p="$FLOOR_PARSE" 'BEGIN {printf "%.1f", f + p}')" "$FLOOR_FILES" "$FLOOR_PARSE" "$FLOOR_VERIFY"
fi
# Behind slow_token the token's time is a wait, not CPU: the limit is then the
# token's rate or the cores' verifications, whichever is lower.
limit() {
  if [ "$SLOW_MS" = 0 ]; then awk -v c="$1" -v r="$RAW" -v v="$VERIFY" 'BEGIN {printf "%.0f", c / (1 / r + 2 / v)}'
  else awk -v c="$1" -v r="$RAW" -v v="$VERIFY" 'BEGIN {l = c * v / 2; printf "%.0f", r < l ? r : l}'; fi
}
if [ "$SLOW_MS" = 0 ]; then LIMIT_WHAT="the CPU limit"; LIMIT_HOW="%d / (1/raw + 2/verify)"
else LIMIT_WHAT="the token's limit"; LIMIT_HOW="min(raw, %d x verify / 2)"; fi

# One `station sign` of the whole batch on C cores, with a journal of its own
# (the first run begins the token's journal; later ones `journal init` theirs).
FIRST=1
station_run() {
  local c=$1 cpus d
  cpus=0-$((c - 1))
  d=$W/run$c
  mkdir -p "$d"
  cp -r "$W/stick" "$d/stick"
  sed "s|path: journal|path: $d/journal|" "$W/station.yaml" >"$d/station.yaml"
  if [ "$FIRST" = 0 ]; then "$STATION" -q -c "$d/station.yaml" journal init >/dev/null; fi
  FIRST=0
  /usr/bin/time -f "%e %M %U %S" -o "$d/time" taskset -c "$cpus" "$STATION" -q -c "$d/station.yaml" sign "$d/stick" \
    >"$d/sign.out"
  read -r secs rss_kb user_s sys_s <"$d/time"
  grep -q "new $N," "$d/sign.out" || { echo "station did not issue all $N: $(cat "$d/sign.out")" >&2; exit 1; }
  RATE[$c]=$(awk -v n="$N" -v s="$secs" 'BEGIN {printf "%.0f", n / s}')
  RSS[$c]=$(awk -v k="$rss_kb" 'BEGIN {printf "%.1f", k / 1024}')
  # CPU per certificate (user + system, every thread) and how busy the C cores were
  CPU_US[$c]=$(awk -v u="$user_s" -v y="$sys_s" -v n="$N" 'BEGIN {printf "%.0f", (u + y) * 1e6 / n}')
  BUSY[$c]=$(awk -v u="$user_s" -v y="$sys_s" -v s="$secs" -v c="$c" 'BEGIN {printf "%.0f", 100 * (u + y) / (s * c)}')
  printf '%-10s %9s certs/s   on %d core%s   peak RSS %s MiB   CPU %s us a certificate, cores %s %% busy\n' \
    station "${RATE[$c]}" "$c" "$([ "$c" = 1 ] || echo s)" "${RSS[$c]}" "${CPU_US[$c]}" "${BUSY[$c]}"
  rm -rf "$d/stick"
}
declare -A RATE RSS CPU_US BUSY
for c in ${CORES//,/ }; do station_run "$c"; done

echo "---- summary ($(uptime | sed 's/.*load average/load average/')) ----"
echo "raw C_Sign        $RAW/s ($SESSIONS session$([ "$SESSIONS" = 1 ] || echo s)); P-256 verify $VERIFY/s per core"
# The limit's cryptography per certificate, against the CPU the station spent on
# one: the ratio to the CPU limit is about (crypto / CPU) x busy share
if [ "$SLOW_MS" = 0 ]; then
  awk -v r="$RAW" -v v="$VERIFY" 'BEGIN {printf "cryptography: %.0f us a certificate (1/raw + 2/verify)\n", 1e6 * (1 / r + 2 / v)}'
  awk -v r="$RAW" -v v="$VERIFY" -v f="$FLOOR_FILES" -v p="$FLOOR_PARSE" 'BEGIN {c = 1e6 * (1 / r + 2 / v)
    printf "floor: %.0f us a certificate besides it (files %.0f, parse %.0f): with every core busy, no signer of files\n", f + p, f, p
    printf "       reaches more than %.2f x the CPU limit here (cryptography / (cryptography + floor))\n", c / (c + f + p)}'
fi
for c in ${CORES//,/ }; do
  L=$(limit "$c")
  awk -v c="$c" -v s="${RATE[$c]}" -v l="$L" -v r="$RAW" -v o="$OSSL" -v m="${RSS[$c]}" -v what="$LIMIT_WHAT" \
    -v how="$LIMIT_HOW" 'BEGIN {
    printf "%d core%s: station %d certs/s = %.2f x %s (%d/s = " how "), %.2f x raw",
      c, c == 1 ? " " : "s", s, s / l, what, l, c, s / r
    if (o != "") printf ", %.2f x openssl ca (%d/s)", s / o, o
    printf "; peak RSS %.1f MiB\n", m }'
  echo "        CPU ${CPU_US[$c]} us a certificate, the $c core$([ "$c" = 1 ] || echo s) ${BUSY[$c]} % busy"
done
set -- ${CORES//,/ }
if [ $# -gt 1 ]; then
  first=$1; eval "last=\${$#}"
  awk -v a="${RATE[$first]}" -v b="${RATE[$last]}" -v p="$first" -v q="$last" \
    'BEGIN {printf "scaling: %d -> %d cores: %.2f x\n", p, q, b / a}'
fi
