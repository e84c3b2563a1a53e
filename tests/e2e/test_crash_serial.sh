#!/usr/bin/env bash
# End-to-end: crash consistency of serial sessions, bounded
# for the suite; tests/crash-loop.sh runs it with many more kills.
#
# A line of boards (new ones every round), each running the real board-side
# script (packaging/board/station-enroll.sh, under dash) over a pty
# "null-modem cable", with its own id and a key it keeps between attempts. The serial
# server is SIGKILLed at random moments while they enroll (CRASH_SERIAL_KILLS
# times, default 6); the boards that got no answer try again with the next
# server. After every kill: the journal verifies, no CSR and no board is issued
# twice, and every certificate a board installed is the journal's. Then a last
# server runs to the end: every board is enrolled with a certificate for its
# key that verifies to the root; a board whose certificate a killed server had
# journaled (but never delivered) gets that very certificate, and the last
# server signs only what no killed server had made durable (C_Sign counted).
# The same for a board that hangs up before reading its answer, the server
# killed right after journaling it (deterministic, not left to chance).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serial_lib.sh"
. "$(dirname "$0")/crash_lib.sh"
KILLS=${CRASH_SERIAL_KILLS:-6}
NEW_PER_ROUND=${CRASH_SERIAL_BOARDS:-4}
# a USB token's pace, so that kills land while boards wait for certificates
export SLOW_TOKEN_DELAY_MS=${SLOW_TOKEN_DELAY_MS:-80}
ENROLL=$(cd "$(dirname "$0")/../../packaging/board" && pwd)/station-enroll.sh
SH=$(command -v dash || echo /bin/sh)
crash_setup

# the line: boards 1..BOARDS, each with its id and its own directory
declare -a ID
BOARDS=0
# add_boards N: N new boards come down the line.
add_boards() {
  local k
  for k in $(seq 1 "$1"); do
    BOARDS=$((BOARDS + 1))
    ID[$BOARDS]=$(uuid)
    mkdir -p "$WORK/board$BOARDS"
  done
}

# cables TIMEOUT: a --cable option (NUL-separated) for every board not
# enrolled yet. The script uses the board's own directory, so a retry reuses
# its key; its status goes to board<i>/status, its words to board<i>/out. A
# board marked "mute" only sends the request it has ready, once.
cables() {
  local i d
  for i in $(seq 1 "$BOARDS"); do
    d=$WORK/board$i
    [ -s "$d/client.pem" ] && continue
    if [ -e "$d/mute" ]; then
      # sends its CSR, never reads the answer, hangs up after a while
      rm "$d/mute"
      printf '%s\0' --cable "stty raw -echo <\"\$BOARD_TTY\"; cat '$d/request.pem' >\"\$BOARD_TTY\"; sleep 2"
      continue
    fi
    printf '%s\0' --cable "$SH '$ENROLL' --tty \"\$BOARD_TTY\" --timeout $1 --factory $FACTORY --uuid ${ID[$i]} \
--out '$d' >'$d/out' 2>&1; echo \$? >'$d/status'"
  done
}

# enrolled: how many boards of the line hold a certificate.
enrolled() {
  local i n=0
  for i in $(seq 1 "$BOARDS"); do [ -s "$WORK/board$i/client.pem" ] && n=$((n + 1)); done
  echo "$n"
}

# issued_once_per_board: no board id in two issued records.
issued_once_per_board() {
  local dup
  dup=$(awk '$3 == "issued" && NF == 12 {print $5}' "$JOURNAL_LOG" | sort | uniq -d | head -3)
  [ -z "$dup" ] || { echo "boards issued twice: $dup"; return 1; }
}

# journaled_cert ID: the base64 DER of the issued record for board ID, if any.
journaled_cert() { awk -v d="$1" '$3 == "issued" && NF == 12 && $5 == d {print $11}' "$JOURNAL_LOG"; }

# pem_body FILE: the base64 lines of a PEM certificate, joined.
pem_body() { sed '/-----/d' "$1" | tr -d '\n'; }

# consistent: what must hold after any kill.
consistent() {
  "$STATION" -q journal verify && issued_once && issued_once_per_board &&
    certs_in_journal $(ls "$WORK"/board*/client.pem 2>/dev/null)
}

# one_round TIMEOUT KILL: the boards not enrolled yet against a new server.
# KILL 0: it runs to the end; a number of ms: it is SIGKILLed that long after
# it was started; id:ID: it is SIGKILLed as soon as board ID's certificate is
# journaled (within 10 s).
one_round() {
  local sim station= n=0
  local -a opts
  mapfile -d '' opts < <(cables "$1")
  "$BOARD_SIM" --factory "$FACTORY" --root "$WORK/pki/factory_ca.pem" --dir "$PORTS" "${opts[@]}" \
    -- "$STATION" serial >"$WORK/sim.out" 2>&1 &
  sim=$!
  case $2 in
    0) ;;
    id:*)
      while [ -z "$(journaled_cert "${2#id:}")" ] && [ "$n" -lt 1000 ]; do sleep 0.01; n=$((n + 1)); done ;;
    *) sleep "$(printf '%d.%03d' $(($2 / 1000)) $(($2 % 1000)))" ;;
  esac
  if [ "$2" != 0 ]; then
    station=$(pgrep -P "$sim" -x "$(basename "$STATION")" | head -1)
    [ -n "$station" ] && kill -KILL "$station" 2>/dev/null
  fi
  wait "$sim" 2>/dev/null || true
}

# signatures: C_Sign calls so far; checkpoints: checkpoint records so far.
signatures() { wc -l <"$WORK/signatures"; }
checkpoints() { awk '$3 == "checkpoint"' "$JOURNAL_LOG" | wc -l; }

# how long a round of new boards takes here, from the server's start to the
# last board's end (its status file written); the kills fall in its first two
# thirds, where the sessions are (the rest is the boards checking and saving)
add_boards "$NEW_PER_ROUND"
t0=$(date +%s%3N)
one_round 20 0
ROUND_MS=$(($(stat -c %.3Y "$WORK"/board*/status | tr -d . | sort -n | tail -1) - t0))
check "timing round: $NEW_PER_ROUND boards enrolled in ${ROUND_MS} ms" test "$(enrolled)" = "$NEW_PER_ROUND"

# a board sends its request and does not read the answer; the server is
# killed as soon as the certificate is journaled; the board's script, with the
# key it kept, then gets that certificate from the next server, unsigned again
add_boards 1
M=$BOARDS
openssl ecparam -genkey -name prime256v1 -noout -out "$WORK/board$M/pkey.pem"
openssl req -new -key "$WORK/board$M/pkey.pem" -subj "/CN=${ID[$M]}/OU=$FACTORY" -sha256 -out "$WORK/board$M/request.pem"
touch "$WORK/board$M/mute"
one_round 2 "id:${ID[$M]}"
MUTE_CERT=$(journaled_cert "${ID[$M]}")
check "a board that did not read its answer: journaled, the server killed, nothing installed" \
  test -n "$MUTE_CERT" -a ! -e "$WORK/board$M/client.pem"
signatures_before=$(signatures) checkpoints_before=$(checkpoints)
one_round 20 0
check "that board's script, with its kept key, gets the journaled certificate from the next server" \
  test "$(cat "$WORK/board$M/status")" = 0 -a "$(pem_body "$WORK/board$M/client.pem")" = "$MUTE_CERT"
check "... with no new signature ($(($(signatures) - signatures_before)) = 1 key proof + $(($(checkpoints) - checkpoints_before)) checkpoints)" \
  test $(($(signatures) - signatures_before)) = $((1 + $(checkpoints) - checkpoints_before))

# each round: new boards join those a killed server left without an answer
good=0
for k in $(seq 1 "$KILLS"); do
  add_boards "$NEW_PER_ROUND"
  ms=$((1 + $(random_ms $((ROUND_MS * 2 / 3)))))
  before=$(enrolled)
  one_round 2 "$ms"
  if consistent >"$WORK/consistent.out" 2>&1; then
    good=$((good + 1))
  else
    echo "after serial kill $k (at $ms ms):"; sed 's/^/       /' "$WORK/consistent.out" | head -5
  fi
  echo "       kill $k at $ms ms: $(($(enrolled) - before)) more boards enrolled ($(enrolled) of $BOARDS), $(issued_count) issued in the journal"
done
check "after each of $KILLS SIGKILLs of the serial server: the journal verifies, no CSR or board issued twice, every installed certificate is the journal's" \
  test "$good" = "$KILLS"

# what the killed servers made durable, before the last one runs (with new
# boards too, so that it signs as well)
add_boards "$NEW_PER_ROUND"
declare -A BEFORE
journaled_not_delivered=0
for i in $(seq 1 "$BOARDS"); do
  BEFORE[$i]=$(journaled_cert "${ID[$i]}")
  [ -n "${BEFORE[$i]}" ] && [ ! -s "$WORK/board$i/client.pem" ] && journaled_not_delivered=$((journaled_not_delivered + 1))
done
echo "       before the last run: $(enrolled) of $BOARDS boards enrolled, $journaled_not_delivered journaled but never delivered"
signatures_before=$(signatures) checkpoints_before=$(checkpoints)
issued_before=$(issued_count)

one_round 20 0
bad= resigned=
for i in $(seq 1 "$BOARDS"); do
  d=$WORK/board$i
  if [ ! -s "$d/client.pem" ]; then
    bad="$bad board$i:no-certificate(status $(cat "$d/status" 2>/dev/null))"
  elif ! verify_device_cert "$d/client.pem" >/dev/null 2>&1; then
    bad="$bad board$i:does-not-verify"
  elif ! cmp -s <(openssl x509 -in "$d/client.pem" -noout -pubkey) <(openssl pkey -in "$d/pkey.pem" -pubout); then
    bad="$bad board$i:not-its-key"
  elif [ "$(pem_body "$d/client.pem")" != "$(journaled_cert "${ID[$i]}")" ]; then
    bad="$bad board$i:not-its-journal-record"
  fi
  if [ -n "${BEFORE[$i]}" ] && [ "$(journaled_cert "${ID[$i]}")" != "${BEFORE[$i]}" ]; then
    resigned="$resigned board$i"
  fi
done
check "after the last run every board holds a certificate for its key, verifying to the root, its journal record${bad:+ -$bad}" \
  test -z "$bad"
check "every board a killed server had journaled kept that certificate, none signed again${resigned:+ -$resigned}" \
  test -z "$resigned"
check "journal verify passes at the end" "$STATION" -q journal verify
check "every CSR issued once in the journal" issued_once
check "every board issued once in the journal" issued_once_per_board
issued_last=$(($(issued_count) - issued_before))
checkpoints_last=$(($(checkpoints) - checkpoints_before))
signatures_last=$(($(signatures) - signatures_before))
check "the last run signed only what was never durable ($signatures_last signatures = 1 key proof + $issued_last certificates + $checkpoints_last checkpoints)" \
  test "$signatures_last" = $((1 + issued_last + checkpoints_last))
finish
