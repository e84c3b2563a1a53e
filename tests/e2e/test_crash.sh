#!/usr/bin/env bash
# End-to-end: crash consistency, bounded for the suite.
# A batch of 1500 CSRs is SIGKILLed at random moments (CRASH_KILLS, default
# 8) and started again each time; after every kill, every certificate on the
# stick is one the journal holds. Then a full run completes: the journal
# verifies, every CSR is issued exactly once in the journal, every
# certificate on the stick is its journal record's, and the final run signs
# only what no earlier run made durable (C_Sign counted). A CSR signed by a
# run killed before its record was durable is signed again; that is allowed
# (nothing of it had left) and reported. tests/crash-loop.sh runs many more.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/crash_lib.sh"
CSRS=${CRASH_CSRS:-1500}
KILLS=${CRASH_KILLS:-8}
export SLOW_TOKEN_DELAY_MS=${SLOW_TOKEN_DELAY_MS:-2} # a USB token's pace, so that kills land mid-batch
crash_setup
B=$WORK/stick
crash_stick "$B" "$CSRS"

# how long one whole run takes here, to spread the kills over it
start=$(date +%s%N)
"$STATION" -q sign "$WORK/none" >/dev/null 2>&1 || true
login_ms=$(( ($(date +%s%N) - start) / 1000000 ))
consistent=0
for k in $(seq 1 "$KILLS"); do
  # somewhere in what is left of the run: the login, then ~3 ms per CSR still to sign
  ms=$(( login_ms / 2 + $(random_ms $(( login_ms + (CSRS - $(issued_count)) * 3 + 50 )) ) ))
  status=$(kill_after "$ms" "$STATION" -q sign "$B")
  if stick_in_journal "$B" >"$WORK/kill.out" 2>&1 && issued_once >>"$WORK/kill.out" 2>&1; then
    consistent=$((consistent + 1))
  else
    echo "after kill $k at $ms ms (status $status):"; sed 's/^/       /' "$WORK/kill.out" | head -5
  fi
  echo "       kill $k at $ms ms: status $status, $(issued_count) issued in the journal, $(ls "$B/certs" 2>/dev/null | wc -l) on the stick"
done
check "after each of $KILLS SIGKILLs: the stick holds only journaled certificates, none issued twice" \
  test "$consistent" = "$KILLS"
check "journal verify passes after the kills (a torn tail is reported, not fatal)" "$STATION" -q journal verify

before=$(issued_count)
# informational: signatures of runs killed before their records were durable (allowed: nothing of them left)
echo "       killed runs: $(grep -c . "$WORK/signatures" || true) C_Sign calls, $(grep -c . "$WORK/logins" || true) logins" \
  "(one key proof each), $before certificates durable, $(grep -c ' checkpoint ' "$JOURNAL_LOG" || true) checkpoints"
: >"$WORK/signatures"
checkpoints_before=$(grep -c ' checkpoint ' "$JOURNAL_LOG" || true)
index_before=$(index_id)
check "a full run completes" sh -c "'$STATION' sign '$B' >'$WORK/final.out' 2>'$WORK/final.err'"
checkpoints_after=$(grep -c ' checkpoint ' "$JOURNAL_LOG" || true)
index_written=$([ "$(index_id)" != "$index_before" ] && echo 1 || echo 0)
check "the final run reports new $((CSRS - before)), issued before $before" \
  grep -q "issued $CSRS (new $((CSRS - before)), issued before $before)" "$WORK/final.out"
signed=$(grep -c . "$WORK/signatures" || true)
check "the final run signed only what was not durable ($signed = 1 proof + $((CSRS - before)) + $((checkpoints_after - checkpoints_before)) checkpoints + $index_written index)" \
  test "$signed" = $((1 + CSRS - before + checkpoints_after - checkpoints_before + index_written))
check "journal verify passes" "$STATION" -q journal verify
check "$CSRS issued records in the journal" test "$(issued_count)" = "$CSRS"
check "every CSR issued exactly once in the journal" issued_once
check "$CSRS certificates on the stick" test "$(ls "$B/certs" | wc -l)" = "$CSRS"
check "every certificate on the stick is its journal record's" stick_in_journal "$B"
check "no temporary or stray file left on the stick" no_stray_files "$B"
check "a last run signs nothing and hands back $CSRS" \
  sh -c "'$STATION' sign '$B' 2>/dev/null | grep -q 'issued $CSRS (new 0, issued before $CSRS)'"
finish
