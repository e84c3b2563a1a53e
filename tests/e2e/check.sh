# check.sh - the tiny harness every end-to-end script shares. Source it after
# setting WORK (a scratch directory). Each script ends with `finish`, which
# prints "N passed, M failed" and fails when anything failed.
PASSED=0
FAILED=0

# check DESCRIPTION COMMAND...: runs COMMAND, counts a pass or a failure.
check() {
  local what=$1; shift
  if "$@" >"$WORK/.check.out" 2>&1; then
    PASSED=$((PASSED + 1)); echo "ok   - $what"
  else
    FAILED=$((FAILED + 1)); echo "FAIL - $what"; sed 's/^/       /' "$WORK/.check.out" | head -20
  fi
}

# expect_status N COMMAND...: true when COMMAND exits with status N.
expect_status() {
  local want=$1; shift
  local got=0
  "$@" || got=$?
  [ "$got" = "$want" ] || { echo "exit status $got, expected $want"; return 1; }
}

# status_to N FILE COMMAND...: COMMAND exits with N; its output goes to FILE.
status_to() {
  local want=$1 out=$2; shift 2
  expect_status "$want" "$@" >"$out" 2>&1
}

# finish: prints the summary line and exits non-zero on any failure.
finish() {
  echo "$PASSED passed, $FAILED failed"
  [ "$FAILED" = 0 ]
}
