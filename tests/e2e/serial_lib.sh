# serial_lib.sh - shared by the serial end-to-end tests, after lib.sh:
# the board simulator (second argument of every serial test) and helpers.
BOARD_SIM=${2:?usage: test_serial*.sh path/to/station path/to/board_sim}
PORTS=$WORK/ports
mkdir -p "$PORTS"

# run_sim DESCRIPTION SIM-OPTIONS... -- STATION-ARGS...: runs the simulated
# boards against the station; every "ok"/"FAIL" line they print counts.
run_sim() {
  local what=$1 line; shift
  "$BOARD_SIM" --factory "$FACTORY" --root "$WORK/pki/factory_ca.pem" --dir "$PORTS" "$@" \
    >"$WORK/sim.out" 2>&1 || true
  while IFS= read -r line; do
    case $line in
      "ok   - "*) PASSED=$((PASSED + 1)); echo "ok   - $what: ${line#ok   - }" ;;
      "FAIL - "*) FAILED=$((FAILED + 1)); echo "FAIL - $what: ${line#FAIL - }" ;;
      *) echo "       $line" ;;
    esac
  done <"$WORK/sim.out"
  if grep -q "^FAIL - " "$WORK/sim.out" && [ -s "$PORTS/station.log" ]; then
    echo "       the station's stderr ($PORTS/station.log), last 40 lines:"
    tail -n 40 "$PORTS/station.log" | sed 's/^/       | /'
  fi
}

# journal_count EVENT PORT [REASON]: records of EVENT whose source is serial:PORT.
journal_count() {
  awk -v ev="$1" -v src="serial:$2" -v why="${3:-}" \
    '$3 == ev && $4 == src && (why == "" || $9 == why) {n++} END {print n + 0}' "$WORK/journal/journal.log"
}
