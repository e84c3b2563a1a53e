#!/usr/bin/env bash
# run-all.sh - installs what is missing, builds, and runs every test under CTest:
# the cmocka unit tests and the end-to-end tests on fresh SoftHSM tokens, then
# the unit tests again in a build with AddressSanitizer and UBSan.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
bash "$ROOT/packaging/install-deps.sh" --test
JOBS=$(nproc)

cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$ROOT/build" -j "$JOBS" >/dev/null
ctest --test-dir "$ROOT/build" --output-on-failure -j "$JOBS"

cmake -S "$ROOT" -B "$ROOT/build-asan" -DCMAKE_BUILD_TYPE=Debug -DSTATION_SANITIZE=ON >/dev/null
cmake --build "$ROOT/build-asan" -j "$JOBS" >/dev/null
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir "$ROOT/build-asan" --output-on-failure -j "$JOBS"

# libFuzzer targets (CSR intake and policy, serial line parser, YAML loader,
# journal reader), a minute each, two at a time on two processors; tests/fuzz/run.sh 3600 for a nightly run.
bash "$ROOT/tests/fuzz/run.sh" "${STATION_FUZZ_SECONDS:-60}"
