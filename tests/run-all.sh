#!/usr/bin/env bash
# run-all.sh - installs what is missing (the station's packages and the test
# set: packaging/install-deps.sh --test), builds, and runs every test under
# CTest: the cmocka unit tests and the end-to-end tests (fresh SoftHSM tokens,
# the tpm2 backend on a software TPM, real exFAT and FAT32 stick images, the
# .deb and its install into a fresh Debian root), then the unit and end-to-end
# tests again in a build with AddressSanitizer and UBSan, then each libFuzzer
# target for 20 s (STATION_FUZZ_SECONDS).
#
# Skipped tests: CTest counts a test that exits 77 as skipped. Under CI
# (CI=true) or with STATION_REQUIRE_ALL=1 a skipped test fails the run, named
# with its reason; otherwise the summary line counts them and says why.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
bash "$ROOT/packaging/install-deps.sh" --test
JOBS=$(nproc)
REQUIRE_ALL=
if [ "${CI:-}" = true ] || [ "${STATION_REQUIRE_ALL:-0}" = 1 ]; then
  REQUIRE_ALL=--require-all
fi
START=$SECONDS
failed=0

# run_ctest BUILD JOBS [ENV...]: every test of one build tree, JOBS at once;
# its JUnit report (BUILD/ctest-junit.xml) is read for skips afterwards.
run_ctest() {
  local build=$1 jobs=$2; shift 2
  rm -f "$build/ctest-junit.xml"
  env "$@" ctest --test-dir "$build" --output-on-failure -j "$jobs" \
    --output-junit "$build/ctest-junit.xml" --test-output-size-passed 65536 || failed=1
}

cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$ROOT/build" -j "$JOBS" >/dev/null
# One job more than processors: many end-to-end tests spend their time waiting
# (slow_token's delays, a board's timeout, tmux redraws), so a third test keeps
# two cores busy (here: Release tests 243 s instead of about 300 s at -j2, the
# sanitizer build's 288 s instead of 339 s).
run_ctest "$ROOT/build" $((JOBS + 1))
echo "run-all: Release build and tests: $((SECONDS - START)) s"

cmake -S "$ROOT" -B "$ROOT/build-asan" -DCMAKE_BUILD_TYPE=Debug -DSTATION_SANITIZE=ON >/dev/null
cmake --build "$ROOT/build-asan" -j "$JOBS" >/dev/null
run_ctest "$ROOT/build-asan" $((JOBS + 1)) ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
echo "run-all: ASan/UBSan build and tests: $((SECONDS - START)) s"

# libFuzzer targets (CSR intake and policy, serial line parser, YAML loader,
# journal reader, export readers), 20 s each, as many at once as processors:
# a smoke run that keeps the whole run under 15 minutes on 2 cores;
# tests/fuzz/run.sh 3600 for a nightly run.
bash "$ROOT/tests/fuzz/run.sh" "${STATION_FUZZ_SECONDS:-20}" || failed=1
echo "run-all: fuzzing: $((SECONDS - START)) s"

python3 "$ROOT/tests/ctest_skips.py" $REQUIRE_ALL "$ROOT/build/ctest-junit.xml" "$ROOT/build-asan/ctest-junit.xml" ||
  failed=1
if [ "$failed" != 0 ]; then
  echo "run-all: FAILED after $((SECONDS - START)) s (see above)"
  exit 1
fi
echo "run-all: every test passed in $((SECONDS - START)) s"
