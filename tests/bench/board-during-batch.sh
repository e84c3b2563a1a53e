#!/usr/bin/env bash
# board-during-batch.sh - how long a board waits while a large stick is
# signing (not part of ctest).
#
#   bash tests/bench/board-during-batch.sh BUILD_TREE [STICK_CSRS] [REQUESTS] [PACE_MS]
#
# Makes a throwaway SoftHSM token and factory PKI (tests/e2e/lib.sh), starts
# `station console` in tmux (tests/e2e/console_lib.sh) with one serial port
# and one intake root, and measures a simulated board on the port
# (tests/e2e/board_sim.c --bench: REQUESTS CSRs, default 200, each after a
# pause of 0..2*PACE_MS ms, default 20) twice: with the station idle, then
# while a stick of STICK_CSRS CSRs (default 20000, tests/bench/make_csrs) is
# signing. One loop owns the engine (station/service/service.h): a board's
# request waits at most for the one batch group (256 CSRs, one commit) being
# signed when it arrives, then its own turn. Prints the latency of each run
# (from the last CSR byte written to the STATION OK line read: median, p99,
# max), the group size and the time one group takes during the run, and
# checks that the batch was still signing when the board's last answer came.
# The token and the journal live under $TMPDIR (default /tmp).
set -eu
TREE=$(cd "${1:?usage: board-during-batch.sh BUILD_TREE [STICK_CSRS] [REQUESTS] [PACE_MS]}" && pwd)
STICK=${2:-20000}
REQUESTS=${3:-200}
PACE=${4:-20}
GROUP=256 # BATCH_GROUP, station/intake/batch.c
set -- "$TREE/bin/station" "$TREE/tests/board_sim"
. "$(dirname "$0")/../e2e/lib.sh"
. "$(dirname "$0")/../e2e/serial_lib.sh"
. "$(dirname "$0")/../e2e/console_lib.sh"
make_pki
MEDIA=$WORK/media
mkdir -p "$MEDIA" "$WORK/prep/big/csr"
cp "$WORK/station.yaml" "$WORK/console.yaml"
cat >>"$WORK/console.yaml" <<YAML
intake:
  usb: [$MEDIA]
  serial:
    - port: $PORTS/ttyBOARD0
YAML
"$TREE/tests/bench/make_csrs" "$WORK/prep/big/csr" "$STICK" "$FACTORY"
echo "board-during-batch: stick of $STICK CSRs (groups of $GROUP), board: $REQUESTS requests paced 0..$((2 * PACE)) ms," \
  "journal in ${TMPDIR:-/tmp}, SoftHSM $(softhsm2-util --version), $(nproc) CPUs; $(uptime)"

start_console 120 40 TERM=tmux-256color STATION_TEST_PIN=$TEST_PIN
wait_for "logged in" 30 >/dev/null || { echo "board-during-batch: the console did not log in"; exit 1; }

# bench_board LABEL: the board's latency line (board_sim --bench), prefixed with LABEL
bench_board() {
  "$BOARD_SIM" --factory "$FACTORY" --root "$WORK/pki/factory_ca.pem" --dir "$PORTS" --port-args no --wait 30 \
    --bench "$REQUESTS" --pace "$PACE" --board bench -- /bin/sh -c 'trap "exit 0" TERM; while :; do sleep 0.1; done' \
    >"$WORK/sim-$1.out" 2>&1 || true
  rm -f "$PORTS/ttyBOARD0"
  if ! grep -q '^bench:' "$WORK/sim-$1.out"; then
    echo "board-during-batch: $1: the board got no answers:"; cat "$WORK/sim-$1.out"; exit 1
  fi
  echo "$1: $(grep '^bench:' "$WORK/sim-$1.out")"
}

bench_board idle
issued_batch() { awk '$3 == "issued" && $4 ~ /^batch:/' "$WORK/journal/journal.log" | wc -l; }

mv "$WORK/prep/big" "$MEDIA/big"
wait_for "$STICK CSRs" 120 >/dev/null
keys s
wait_for "Sign $STICK CSRs" >/dev/null
keys y
until [ "$(issued_batch)" -ge "$GROUP" ]; do sleep 0.05; done
t0=$(date +%s.%N); n0=$(issued_batch)
bench_board during-batch
t1=$(date +%s.%N); n1=$(issued_batch)
if [ "$n1" -ge "$STICK" ]; then
  echo "board-during-batch: the batch ended before the board's last answer: make the stick larger"; exit 1
fi
awk -v n="$((n1 - n0))" -v t0="$t0" -v t1="$t1" -v g="$GROUP" 'BEGIN {
  printf "during the board run the batch signed %d CSRs in %.1f s: %.0f certs/s, one group of %d in %.1f ms\n",
         n, t1 - t0, n / (t1 - t0), g, 1000 * g * (t1 - t0) / n }'
# the batch's group commits while the board ran: each ends with its seal
# (a checkpoint record); the gap between two is one step of the loop
awk -v n0="$n0" -v n1="$n1" '
  { split(substr($2, 12, 12), t, ":"); ms = (t[1] * 3600 + t[2] * 60 + t[3]) * 1000 }
  $3 == "issued" && $4 ~ /^batch:/ { batch++ }
  $3 == "checkpoint" && last ~ /^batch:/ && batch > n0 && batch <= n1 { if (prev) print ms - prev; prev = ms }
  { last = $4 }' "$WORK/journal/journal.log" | sort -n | awk '{ gap[NR] = $1 } END {
  if (NR > 0) printf "batch group commits during the board run: %d, %.0f ms apart (median), at most %.0f ms apart\n",
                     NR + 1, gap[int((NR + 1) / 2)], gap[NR] }'
wait_for "safe to remove" 600 >/dev/null
echo "board-during-batch: the batch finished: $(issued_batch) of $STICK issued"
"$STATION" -c "$WORK/console.yaml" journal verify >/dev/null && echo "board-during-batch: journal verifies"
