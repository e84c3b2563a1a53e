#!/usr/bin/env bash
# run.sh - builds the libFuzzer targets with clang (ASan + UBSan) and runs each
# for a bounded time on a copy of its seed corpus (tests/fuzz/seeds/<target>).
#   tests/fuzz/run.sh [SECONDS_EACH] [TARGET...]     default 45 s, every target
# CI runs it briefly; a nightly run gives it hours: tests/fuzz/run.sh 3600.
# A crash stops the run with the fuzzer's report and a crash-* file to turn
# into a regression test (put the input under tests/fuzz/regressions/<target>/:
# every file there is replayed first, and must pass).
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SECONDS_EACH=${1:-45}
shift || true
TARGETS=${*:-csr line_parser config journal}
BUILD=$ROOT/build-fuzz
CC=clang cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Debug -DSTATION_FUZZ=ON -DSTATION_TESTS=OFF >/dev/null
for t in $TARGETS; do
  cmake --build "$BUILD" -j "$(nproc)" --target "fuzz_$t" >/dev/null
done
for t in $TARGETS; do
  corpus=$BUILD/corpus/$t
  mkdir -p "$corpus"
  cp "$ROOT/tests/fuzz/seeds/$t/"* "$corpus/" 2>/dev/null || true
  if [ -d "$ROOT/tests/fuzz/regressions/$t" ]; then
    "$BUILD/fuzz/fuzz_$t" "$ROOT/tests/fuzz/regressions/$t"/* >/dev/null 2>&1 ||
      { echo "fuzz_$t: a regression input fails again"; exit 1; }
  fi
  echo "fuzz_$t: ${SECONDS_EACH}s"
  (cd "$BUILD" && "$BUILD/fuzz/fuzz_$t" -max_total_time="$SECONDS_EACH" -max_len=20000 -timeout=10 \
     -print_final_stats=1 "$corpus" 2>"$BUILD/fuzz_$t.log") ||
    { tail -40 "$BUILD/fuzz_$t.log"; echo "fuzz_$t: FAILED (see $BUILD/fuzz_$t.log and the crash-* file)"; exit 1; }
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$BUILD/fuzz_$t.log" | tr '\n' ' '; echo
done
echo "fuzzing: every target ran clean"
