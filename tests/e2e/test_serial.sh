#!/usr/bin/env bash
# End-to-end: `station serial` serving seven simulated boards at once on
# pseudo-terminals, with boot noise, split writes and every line end; a
# refused CSR (wrong factory), half a CSR then silence (timeout), an oversized
# block, a block that is not a CSR, a board that sends its CSR again (same
# certificate, no new signature); every answer checked by the board (key,
# chain to the root); then the journal; then the ports of intake.serial.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serial_lib.sh"
make_pki

run_sim "seven boards at once" \
  --board noise,csr,noise,resend,noise,csr \
  --board noise,csr,resend,csr \
  --board csr,noise,csr,resend \
  --board noise,noise,csr,csr,csr \
  --board noise,wrong-factory,csr \
  --board noise,half,csr \
  --board huge,noise,garbage,csr \
  -- "$STATION" serial --block-timeout 700

P=$PORTS/ttyBOARD
check "board 0: two certificates journaled, the resend signed nothing" test "$(journal_count issued "${P}0")" = 2
check "board 3: three certificates journaled" test "$(journal_count issued "${P}3")" = 3
check "board 4: the wrong factory journaled as refused, source names the port" \
  test "$(journal_count refused "${P}4" wrong-factory)" = 1
check "board 5: the half CSR journaled as a timeout" test "$(journal_count refused "${P}5" timeout)" = 1
check "board 6: the oversized block journaled as too-large" test "$(journal_count refused "${P}6" too-large)" = 1
check "board 6: the garbage block journaled as not-a-csr" test "$(journal_count refused "${P}6" not-a-csr)" = 1
check "twelve certificates issued in all" test "$(awk '$3 == "issued"' "$WORK/journal/journal.log" | wc -l)" = 12
check "every request's record names its serial port as source" \
  sh -c "! awk '(\$3 == \"issued\" || \$3 == \"refused\") && \$4 !~ /^serial:/' '$WORK/journal/journal.log' | grep -q ."
check "resends logged as issued before (no new signature)" \
  test "$(grep -c 'issued before serial:' "$PORTS/station.log")" = 3
check "the station log names each port opened" test "$(grep -c ': open$' "$PORTS/station.log")" = 7
check "journal verify passes" "$STATION" journal verify

# --- the ports of intake.serial when none are named
cat >>"$WORK/station.yaml" <<YAML
intake:
  serial:
    - port: $PORTS/ttyBOARD0
      baud: 115200
    - port: $PORTS/ttyBOARD1
      baud: 9600
YAML
rm -f "$PORTS/station.log"
run_sim "ports from intake.serial" --port-args no --board noise,csr --board csr -- "$STATION" serial
check "both configured ports opened" test "$(grep -c ': open$' "$PORTS/station.log")" = 2

# --- usage errors
check "an unsupported baud is a usage error (exit 2)" expect_status 2 "$STATION" serial /dev/null@12345
check "a missing baud after @ is a usage error (exit 2)" expect_status 2 "$STATION" serial /dev/ttyX@
check "a too small block timeout is a usage error (exit 2)" expect_status 2 "$STATION" serial --block-timeout 5 /dev/null
write_config "$WORK/no-ports.yaml"
check "no port named and none configured: exit 2" expect_status 2 "$STATION" -c "$WORK/no-ports.yaml" serial
finish
