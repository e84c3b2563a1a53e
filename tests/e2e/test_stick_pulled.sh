#!/usr/bin/env bash
# End-to-end: the USB stick is pulled out in the middle of `station sign`
# (reliability and security issue). The stick is a FUSE file system
# (tests/stick/stick_fs) over a directory on disk: once pulled, every
# operation on it fails with EIO, also on files and directories already open,
# and it is lazily unmounted (fusermount3 -u -z) as udisks does. Re-inserting
# it is mounting the same directory again. The token is slow (slow_token,
# SLOW_TOKEN_DELAY_MS per signature, counted) so that the pull lands mid-batch.
#
# Three pulls of `station sign`: (A) by the operator while the station signs
# (SIGUSR1 once 100 certificates are signed), (B) while the station reads the
# CSRs (after the 300th file opened), (C) while it writes the certificates out
# (after the 100th file created: temporary files are left behind). For each:
#  - the run stops with exit 3 (a fault that stopped the run), promptly, with
#    no crash and no sanitizer report;
#  - the message names the stick, says it failed or was pulled out, and that
#    the certificates come back on the next run without new signatures;
#  - the journal verifies; nothing on the stick is missing from the journal;
#    no CSR of the stick was journaled as refused (a pulled stick is not the
#    board's fault);
#  - re-inserted and signed again: exit 0, every CSR has exactly one
#    certificate (the right one: its journal record names the CSR), each
#    verifies with openssl against the test CA, the token signed exactly the
#    CSRs the journal lacked (C_Sign count = new certificates + the login's
#    key proof + the journal's checkpoints), and no temporary file is left.
# (D) the same pull while the operator console (tmux) signs the stick: the
# console stays up, says what happened and what to do, lets go of the stick,
# and signs it again when it is back, with the same checks.
# Needs root, /dev/fuse and fusermount3; skipped (exit 77) where a FUSE file
# system cannot be mounted.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/crash_lib.sh"
STICK_FS=$(dirname "$STATION")/../tests/stick_fs
[ "$(id -u)" = 0 ] || skip "mounting the FUSE stick needs root"
[ -x "$STICK_FS" ] || skip "tests/stick/stick_fs is not built (libfuse3-dev missing: bash packaging/install-deps.sh --test)"
[ -c /dev/fuse ] || skip "no /dev/fuse on this machine"
command -v fusermount3 >/dev/null || skip "fusermount3 is missing (package fuse3)"
command -v mountpoint >/dev/null || skip "mountpoint is missing (package util-linux)"

FS_PID=
FS_PIDS=()
MNTS=()
# stop_sticks: unmounts every stick still mounted and stops its stick_fs.
stop_sticks() {
  local m p
  for m in ${MNTS[@]+"${MNTS[@]}"}; do mountpoint -q "$m" && fusermount3 -u -z "$m" 2>/dev/null; done
  for p in ${FS_PIDS[@]+"${FS_PIDS[@]}"}; do kill "$p" 2>/dev/null; done
  return 0
}
AT_EXIT_HOOKS+=(stop_sticks)

# insert BACKING MOUNTPOINT [stick_fs options]: mounts the stick (FS_PID is
# its stick_fs); fails when it is not mounted within 5 s.
insert() {
  local back=$1 mnt=$2 i; shift 2
  mkdir -p "$mnt"
  # (in the sanitizer build, the leak report of a test double killed mid-flight is only noise and time)
  ASAN_OPTIONS=detect_leaks=0 "$STICK_FS" "$@" "$back" "$mnt" </dev/null >/dev/null 2>>"$WORK/stick_fs.log" &
  FS_PID=$!
  FS_PIDS+=("$FS_PID")
  MNTS+=("$mnt")
  for i in $(seq 1 100); do
    mountpoint -q "$mnt" && return 0
    kill -0 "$FS_PID" 2>/dev/null || break
    sleep 0.05
  done
  return 1
}

# gone MOUNTPOINT: true once the pulled stick is unmounted and its stick_fs has
# ended (the station let go of every descriptor), within 10 s.
gone() {
  local i
  for i in $(seq 1 200); do
    ! mountpoint -q "$1" && ! kill -0 "$FS_PID" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "still mounted or stick_fs still running: $(grep " $1 " /proc/mounts)"; return 1
}

count() { grep -c . "$1" 2>/dev/null || true; }
checkpoints() { grep -c " checkpoint " "$JOURNAL_LOG" 2>/dev/null || true; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# from_stick MOUNTPOINT EVENT: records of EVENT (issued, refused) for CSRs of that stick.
from_stick() { awk -v p="batch:$1/csr/" -v e="$2" '$3 == e && NF >= 4 && index($4, p) == 1' "$JOURNAL_LOG" | wc -l; }

# certs_match_csrs BACKING MOUNTPOINT: each certs/X.pem is the certificate of
# the journal's issued record for csr/X.csr.
certs_match_csrs() {
  find "$1/certs" -name '*.pem' -print0 | xargs -0 -r awk -v p="batch:$2/csr/" '
    FNR == NR { if ($3 == "issued" && NF == 12 && index($4, p) == 1) { n = substr($4, length(p) + 1); sub(/\.csr$/, "", n); cert[n] = $11 } next }
    FNR == 1 { name = FILENAME; sub(/.*\//, "", name); sub(/\.pem$/, "", name) }
    /-----BEGIN/ { body = ""; next }
    /-----END/ { if (cert[name] != body) { print FILENAME " is not the certificate issued for csr/" name ".csr"; bad++ } next }
    { body = body $0 }
    END { exit bad > 0 }' "$JOURNAL_LOG"
}

# keys_match BACKING K: for K certificates, the public key is the CSR's (openssl alone).
keys_match() {
  local f name
  for f in $(find "$1/certs" -name '*.pem' | sort | awk 'NR % 50 == 1' | head -n "$2"); do
    name=$(basename "$f" .pem)
    [ "$(openssl x509 -in "$f" -noout -pubkey)" = "$(openssl req -in "$1/csr/$name.csr" -noout -pubkey)" ] ||
      { echo "$f: not the key of csr/$name.csr"; return 1; }
  done
}

crash_setup
export SLOW_TOKEN_DELAY_MS=2
probe=$WORK/probe
mkdir -p "$probe.d"
insert "$probe.d" "$probe" || skip "a FUSE file system cannot be mounted here: $(tail -3 "$WORK/stick_fs.log")"
fusermount3 -u "$probe"

# pulled NAME N [stick_fs options] [-- how]: a stick of N CSRs at $WORK/NAME
# (backing $WORK/NAME.d) signed until it is pulled, then re-inserted and signed
# again, with every check above. With no pull option for stick_fs, the test
# pulls it (SIGUSR1) once 100 certificates are signed.
pulled() {
  local name=$1 n=$2 what=$3; shift 3
  local back=$WORK/$name.d mnt=$WORK/$name status=0 t_pull t_end i
  crash_stick "$back" "$n"
  insert "$back" "$mnt" "$@" || { check "$what: the stick is mounted" false; return; }
  : >"$WORK/signatures"
  local cp_before ix_before
  cp_before=$(checkpoints)
  ix_before=$(index_id) # a run that writes the journal's index signs it (one more signature)
  timeout 60 "$STATION" sign "$mnt" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  local pid=$!
  if [ $# = 0 ]; then
    for i in $(seq 1 3000); do
      [ "$(count "$WORK/signatures")" -lt 101 ] || break
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.02
    done
    kill -USR1 "$FS_PID"
  else
    while mountpoint -q "$mnt" && kill -0 "$pid" 2>/dev/null; do sleep 0.02; done
  fi
  t_pull=$(now_ms)
  wait "$pid" || status=$?
  t_end=$(now_ms)
  local journaled signed temps
  journaled=$(from_stick "$mnt" issued)
  signed=$(count "$WORK/signatures")
  temps=$(find "$back" -name '.station-tmp-*' | wc -l)
  echo "       $what: exit $status $((t_end - t_pull)) ms after the pull; $journaled certificates journaled," \
    "$(find "$back/certs" -name '*.pem' 2>/dev/null | wc -l) on the stick, $signed signatures, $temps temporary files left"
  [ "${1:-}" != --pull-after-creates ] ||
    check "$what: the pull left temporary files on the stick (the next run must remove them)" test "$temps" -gt 0
  check "$what: the run stops with exit 3 (a fault stopped it), not a crash or a time-out" test "$status" = 3
  # at most the group of 256 being signed is finished (2.6 s of signatures), then it stops
  check "$what: it ends promptly after the pull (within 15 s)" test $((t_end - t_pull)) -lt 15000
  check "$what: no sanitizer or crash report" no_crash_report "$WORK/$name.err"
  check "$what: the message names the stick and an I/O fault (io)" grep -q "(io).*stick $mnt" "$WORK/$name.err"
  check "$what: the message says the stick failed or was pulled out" grep -q "failed or was pulled out" "$WORK/$name.err"
  check "$what: the message says the certificates come back without new signatures" \
    grep -q "delivered, without new signatures, when the stick is back" "$WORK/$name.err"
  check "$what: the stick was pulled and is gone (unmounted, stick_fs ended)" gone "$mnt"
  check "$what: the pull landed mid-batch ($journaled of $n journaled)" test "$journaled" -lt "$n"
  check "$what: the summary counts the $journaled signed, none on the stick (the pull came before any rename)" \
    grep -q "^issued $journaled (new $journaled, issued before 0), refused 0, skipped 0 hidden; $journaled not written to the stick" \
    "$WORK/$name.out"
  check "$what: no CSR of the pulled stick journaled as refused" test "$(from_stick "$mnt" refused)" = 0
  check "$what: every signature is in the journal ($signed = $journaled + login proof + checkpoints)" \
    test "$signed" = $((journaled + 1 + $(checkpoints) - cp_before + $(index_written "$ix_before")))
  check "$what: no certificate of this run reached certs/ (the pull came before any rename)" \
    test "$(find "$back/certs" -name '*.pem' | wc -l)" = 0
  check "$what: nothing on the stick that the journal lacks" stick_in_journal "$back"
  check "$what: journal verify passes" "$STATION" -q journal verify

  # re-inserted: the rest is signed, the journaled certificates come back
  insert "$back" "$mnt" || { check "$what: the stick is mounted again" false; return; }
  : >"$WORK/signatures"
  cp_before=$(checkpoints)
  ix_before=$(index_id)
  status=0
  timeout 60 "$STATION" -q sign "$mnt" >"$WORK/$name.again" 2>"$WORK/$name.again.err" || status=$?
  check "$what, re-inserted: the run completes (exit 0)" test "$status" = 0
  check "$what, re-inserted: issued $n (new $((n - journaled)), issued before $journaled)" \
    grep -q "issued $n (new $((n - journaled)), issued before $journaled)" "$WORK/$name.again"
  check "$what, re-inserted: the token signed only what the journal lacked ($((n - journaled)) + login proof + checkpoints)" \
    test "$(count "$WORK/signatures")" = $((n - journaled + 1 + $(checkpoints) - cp_before + $(index_written "$ix_before")))
  check "$what: every CSR has its certificate on the stick ($n)" test "$(find "$back/certs" -name '*.pem' | wc -l)" = "$n"
  check "$what: each certificate is the one journaled for its CSR" certs_match_csrs "$back" "$mnt"
  check "$what: the certificates' keys are the CSRs' keys (a sample of 10, openssl alone)" keys_match "$back" 10
  check "$what: every certificate verifies with openssl against the test CA" certs_verify "$back/certs" "$n"
  check "$what: no temporary file left on the stick, nothing refused" no_stray_files "$back"
  check "$what: rejected/ is empty" test -z "$(ls -A "$back/rejected")"
  check "$what: no CSR issued twice in the journal" issued_once
  check "$what: journal verify passes" "$STATION" -q journal verify
  fusermount3 -u "$mnt"
}

pulled A 520 "pulled while signing"
pulled B 520 "pulled while reading CSRs" --pull-after-opens 300
pulled C 520 "pulled while writing certificates" --pull-after-creates 100

# --- (D) the operator console (station/service/service.c): the stick is pulled while
# the console signs it; the console stays up, says what happened and what to
# do, lets go of the stick, and signs it again when it is re-inserted.
if ! command -v tmux >/dev/null; then
  check "tmux is installed for the console part (bash packaging/install-deps.sh --test)" false
  finish
  exit
fi
MEDIA=$WORK/media
mkdir -p "$MEDIA"
cp "$WORK/crash.yaml" "$WORK/console.yaml"
printf 'intake:\n  usb: [%s]\n' "$MEDIA" >>"$WORK/console.yaml"
CONSOLE_WAIT_S=30
. "$(dirname "$0")/console_lib.sh"
D=$MEDIA/stickD
crash_stick "$WORK/D.d" 520
insert "$WORK/D.d" "$D" || check "console: the stick is mounted" false
: >"$WORK/signatures"
cp_before=$(checkpoints)
ix_before=$(index_id)
start_console 220 50 TERM=xterm-256color STATION_TEST_PIN=$STATION_TEST_PIN STATION_ALLOW_ROOT=1 \
  SLOW_TOKEN_MODULE=$SLOW_TOKEN_MODULE SLOW_TOKEN_DELAY_MS=$SLOW_TOKEN_DELAY_MS SLOW_TOKEN_COUNT=$WORK/signatures
check "console: logged in (PIN from the environment)" wait_for "station: logged in"
check "console: the stick is seen with its 520 CSRs" wait_for "520 CSRs, 0 will be refused"
keys s
check "console: s asks for confirmation" wait_for "Sign 520 CSRs from $D"
keys y
for i in $(seq 1 3000); do [ "$(count "$WORK/signatures")" -lt 101 ] || break; sleep 0.02; done
kill -USR1 "$FS_PID"
check "console: the batch stops with an I/O fault of the stick" \
  wait_for "batch stopped: A file system operation failed. (io): stick $D failed or was pulled out"
check "console: it says the certificates are in the journal and what to do" \
  wait_for "certificates in the journal, not on the stick: re-insert it and sign it again (no new signatures)"
check "console: the stick is seen gone" wait_for "stick $D removed"
[ -z "${CONSOLE_CAPTURE:-}" ] || screen >"$CONSOLE_CAPTURE.pulled"
check "console: the console lets go of the pulled stick (unmounted, stick_fs ended)" gone "$D"
check "console: still running" test ! -e "$WORK/console.status"
journaled=$(from_stick "$D" issued)
echo "       console: $journaled certificates journaled when the stick was pulled"
check "console: the pull landed mid-batch ($journaled of 520 journaled)" test "$journaled" -lt 520
check "console: no CSR of the pulled stick journaled as refused" test "$(from_stick "$D" refused)" = 0
insert "$WORK/D.d" "$D" || check "console: the stick is mounted again" false
check "console, re-inserted: the stick is seen again" wait_for "520 CSRs, 0 will be refused"
keys s
check "console, re-inserted: s asks for confirmation" wait_for "Sign 520 CSRs from $D"
keys y
check "console, re-inserted: the batch finishes, safe to remove" wait_for "$D: safe to remove"
check "console, re-inserted: issued 520 (new $((520 - journaled)), before $journaled)" \
  wait_for "issued 520 (new $((520 - journaled)), before $journaled), refused 0"
quit_console
check "console: quits with exit status 0" test "$(console_status 30)" = 0
check "console: no sanitizer or crash report" no_crash_report "$WORK/console.err"
check "console: the token signed each CSR once (520 + login proof + checkpoints)" \
  test "$(count "$WORK/signatures")" = $((520 + 1 + $(checkpoints) - cp_before + $(index_written "$ix_before")))
check "console: every CSR has its certificate on the stick (520)" test "$(find "$WORK/D.d/certs" -name '*.pem' | wc -l)" = 520
check "console: each certificate is the one journaled for its CSR" certs_match_csrs "$WORK/D.d" "$D"
check "console: every certificate verifies with openssl against the test CA" certs_verify "$WORK/D.d/certs" 520
check "console: no temporary file left on the stick, nothing refused" no_stray_files "$WORK/D.d"
check "console: no CSR issued twice in the journal" issued_once
check "console: journal verify passes" "$STATION" -q journal verify
finish
