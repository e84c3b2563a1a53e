#!/usr/bin/env bash
# serial-bench.sh - the serial provisioning benchmark (not part of ctest).
#
#   bash tests/bench/serial-bench.sh BUILD_TREE [PORTS] [REQUESTS_PER_PORT] [PACE_MS]
#
# Makes a throwaway SoftHSM token and factory PKI (tests/e2e/lib.sh), starts
# `station serial` on PORTS pseudo-terminals (default 16), and has a simulated
# board on each (tests/e2e/board_sim.c, --bench) send REQUESTS_PER_PORT CSRs
# (default 200, made beforehand, one warm-up each) back to back. Reports the
# station-side latency of each request, from the last CSR byte written by the
# board to the "STATION OK" line read by it: median, p99, max; and boards per
# second over the whole run. PACE_MS (default 0: back to back, the station
# saturated) makes each board pause 0..2*PACE_MS ms before each request, as a
# row of fixtures does. The token and the journal live under $TMPDIR (default
# /tmp): TMPDIR=/dev/shm takes the disk's fdatasync out of the figures.
# SLOW_MS=D in the environment puts tests/pkcs11 slow_token in front of
# SoftHSM: D ms per C_Sign (a USB HSM), the certificate's and the seal's.
set -eu
TREE=$(cd "${1:?usage: serial-bench.sh BUILD_TREE [PORTS] [REQUESTS_PER_PORT]}" && pwd)
PORT_COUNT=${2:-16}
PER_PORT=${3:-200}
PACE=${4:-0}
set -- "$TREE/bin/station" "$TREE/tests/board_sim"
. "$(dirname "$0")/../e2e/lib.sh"
. "$(dirname "$0")/../e2e/serial_lib.sh"
make_pki
if [ "${SLOW_MS:-0}" -gt 0 ]; then
  export SLOW_TOKEN_MODULE=$SOFTHSM_MODULE SLOW_TOKEN_DELAY_MS=$SLOW_MS
  sed -i "s|module: .*|module: $TREE/tests/libslow_token.so|" "$WORK/station.yaml"
fi
boards=()
for _ in $(seq "$PORT_COUNT"); do boards+=(--board bench); done
echo "serial-bench: $PORT_COUNT ports, $PER_PORT requests each, pace ${PACE} ms, slow_token ${SLOW_MS:-0} ms, journal in ${TMPDIR:-/tmp}," \
  "SoftHSM $(softhsm2-util --version), $(nproc) CPUs"
"$BOARD_SIM" --factory "$FACTORY" --root "$WORK/pki/factory_ca.pem" --dir "$PORTS" --wait 60 \
  --bench "$PER_PORT" --pace "$PACE" "${boards[@]}" -- "$STATION" -q serial | grep -E '^(bench|FAIL)'
"$STATION" journal verify >/dev/null && echo "serial-bench: journal verifies"
