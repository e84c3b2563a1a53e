#!/usr/bin/env bash
# run.sh - builds the libFuzzer targets with clang (ASan + UBSan) and runs each
# for a bounded time on a copy of its seed corpus (tests/fuzz/seeds/<target>).
#   tests/fuzz/run.sh [SECONDS_EACH] [TARGET...]     default 60 s, every target,
#                                                   as many at once as processors
# CI runs it briefly; a nightly run gives it hours: tests/fuzz/run.sh 3600.
# A crash stops the run with the fuzzer's report and a crash-* file to turn
# into a regression test (put the input under tests/fuzz/regressions/<target>/:
# every file there is replayed first, and must pass).
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SECONDS_EACH=${1:-60}
shift || true
TARGETS=${*:-csr line_parser config journal export export_row}
BUILD=$ROOT/build-fuzz
CC=clang cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Debug -DSTATION_FUZZ=ON -DSTATION_TESTS=OFF >/dev/null
for t in $TARGETS; do
  cmake --build "$BUILD" -j "$(nproc)" --target "fuzz_$t" >/dev/null
done
# fuzz_one TARGET: replays its regressions, then fuzzes it for SECONDS_EACH;
# the outcome goes to $BUILD/fuzz_TARGET.log (the summary line to .summary).
fuzz_one() {
  local t=$1 corpus=$BUILD/corpus/$1 log=$BUILD/fuzz_$1.log
  mkdir -p "$corpus"
  cp "$ROOT/tests/fuzz/seeds/$t/"* "$corpus/" 2>/dev/null || true
  if [ -d "$ROOT/tests/fuzz/regressions/$t" ] &&
     ! "$BUILD/fuzz/fuzz_$t" "$ROOT/tests/fuzz/regressions/$t"/* >"$log" 2>&1; then
    echo "fuzz_$t: a regression input fails again (see $log)" >"$log.summary"
    return 1
  fi
  if ! (cd "$BUILD" && "$BUILD/fuzz/fuzz_$t" -max_total_time="$SECONDS_EACH" -max_len=20000 -timeout=10 \
          -print_final_stats=1 "$corpus" 2>"$log"); then
    echo "fuzz_$t: FAILED (see $log and the crash-* file in $BUILD)" >"$log.summary"
    return 1
  fi
  echo "fuzz_$t: ${SECONDS_EACH}s $(grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$log" | tr '\n' ' ')" \
    >"$log.summary"
}

# As many targets at once as there are processors, so that a minute each
# costs CI a minute per processor's share, not a minute per target.
JOBS=$(nproc)
failed=0
running=0
echo "fuzzing ${SECONDS_EACH}s each, $JOBS at a time: $TARGETS"
for t in $TARGETS; do
  if [ "$running" -ge "$JOBS" ]; then
    wait -n || failed=1
    running=$((running - 1))
  fi
  fuzz_one "$t" &
  running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
  wait -n || failed=1
  running=$((running - 1))
done
for t in $TARGETS; do
  cat "$BUILD/fuzz_$t.log.summary"
  case $(cat "$BUILD/fuzz_$t.log.summary") in
    *FAILED*|*"fails again"*) tail -40 "$BUILD/fuzz_$t.log" ;;
  esac
done
[ "$failed" -eq 0 ] || exit 1
echo "fuzzing: every target ran clean"
