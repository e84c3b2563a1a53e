# crash_lib.sh - shared by tests/e2e/test_crash.sh and tests/crash-loop.sh,
# after lib.sh: a batch of many CSRs, SIGKILLs at random moments, and the
# checks that must hold after any of them. Every check reads the journal
# file itself (the format of docs/journal-format.md: field 3 the event,
# 4 the source, 6 the CSR hash, 11 the certificate in base64 DER).
MAKE_CSRS=$(dirname "$STATION")/../tests/bench/make_csrs
SLOW=$(dirname "$STATION")/../tests/libslow_token.so
[ -x "$MAKE_CSRS" ] || { echo "make_csrs not built at $MAKE_CSRS"; exit 1; }
[ -f "$SLOW" ] || { echo "slow_token module not built at $SLOW"; exit 1; }
JOURNAL_LOG=$WORK/journal/journal.log

# crash_setup: the PKI, a configuration signing through slow_token (which
# counts C_Sign and C_Login), exported as STATION_CONFIG.
crash_setup() {
  make_pki
  export SLOW_TOKEN_MODULE=$SOFTHSM_MODULE SLOW_TOKEN_COUNT=$WORK/signatures SLOW_TOKEN_LOGINS=$WORK/logins
  export SLOW_TOKEN_DELAY_MS=${SLOW_TOKEN_DELAY_MS:-0}
  sed -e "s|module: .*|module: $SLOW|" "$WORK/station.yaml" >"$WORK/crash.yaml"
  export STATION_CONFIG=$WORK/crash.yaml
  : >"$WORK/signatures"
  : >"$WORK/logins"
}

# index_id: the inode of the journal's index file ("none" without one). Each
# write of the index (journal.log.index, signed by the journal key: one more
# C_Sign) renames a new file into place, so a run wrote it when this changed.
index_id() { stat -c %i "$JOURNAL_LOG.index" 2>/dev/null || echo none; }
# index_written ID: 1 when the index was written since index_id said ID, else 0.
index_written() { [ "$(index_id)" != "$1" ] && echo 1 || echo 0; }

# crash_stick DIR N: a stick with N fresh device CSRs.
crash_stick() {
  mkdir -p "$1/csr"
  "$MAKE_CSRS" "$1/csr" "$2" "$FACTORY"
}

# random_ms MAX: a random number of milliseconds below MAX.
random_ms() { echo $(( (RANDOM * 32768 + RANDOM) % $1 )); }

# kill_after MS COMMAND...: starts COMMAND, SIGKILLs it after MS ms (if it is
# still running), waits for it. Prints its exit status (137: killed).
kill_after() {
  local ms=$1 pid status=0; shift
  "$@" >/dev/null 2>&1 &
  pid=$!
  sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" || status=$?
  echo "$status"
}

# issued_count: issued records in the journal (a torn last line is not one).
issued_count() { awk '$3 == "issued" && NF == 12' "$JOURNAL_LOG" | wc -l; }

# issued_once: no CSR hash in two issued records.
issued_once() {
  local dup
  dup=$(awk '$3 == "issued" && NF == 12 {print $6}' "$JOURNAL_LOG" | sort | uniq -d | head -3)
  [ -z "$dup" ] || { echo "CSRs issued twice: $dup"; return 1; }
}

# The awk program of the two checks below: the journal first, then PEM files;
# fails naming each certificate that is not, byte for byte, the certificate of
# an issued record (PEM body = the record's base64 DER).
IN_JOURNAL_AWK='
  FNR == NR { if ($3 == "issued" && NF == 12) known[$11] = 1; next }
  /-----BEGIN/ { body = ""; next }
  /-----END/ { if (!(body in known)) { print FILENAME " is not in the journal"; bad++ } next }
  { body = body $0 }
  END { exit bad > 0 }'

# certs_in_journal FILE...: every certificate in the PEM files is the journal's.
certs_in_journal() {
  [ $# -eq 0 ] || awk "$IN_JOURNAL_AWK" "$JOURNAL_LOG" "$@"
}

# stick_in_journal DIR: every certificate in DIR/certs is the journal's.
stick_in_journal() {
  [ -d "$1/certs" ] || return 0
  find "$1/certs" -name '*.pem' -print0 | xargs -0 -r awk "$IN_JOURNAL_AWK" "$JOURNAL_LOG"
}

# no_stray_files DIR: only csr/, certs/*.pem and rejected/*.txt on the stick,
# no temporary file left behind by a finished run.
no_stray_files() {
  local stray
  stray=$(cd "$1" && find . -mindepth 1 ! -path './csr' ! -path './csr/*' ! -path './certs' ! -path './rejected' \
    ! -path './certs/*.pem' ! -path './rejected/*.txt' | head -3)
  [ -z "$stray" ] || { echo "stray files: $stray"; return 1; }
}
