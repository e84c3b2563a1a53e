# console_lib.sh - driving `station console` in tmux for the e2e tests (after
# lib.sh). The console runs in a tmux session named "console" on a private
# socket, killed when the test exits; the tests read its screen and type keys.
#   T ARGS...            tmux on the test's socket
#   screen               what the console shows now
#   wait_for TEXT [S]    true once TEXT is on the screen (S seconds, default
#                        $CONSOLE_WAIT_S or 20); prints the screen when not
#   gone_from TEXT [S]   true once TEXT is no longer on the screen (default 10 s)
#   keys KEYS...         types KEYS (tmux send-keys)
#   make_stick NAME N    a stick of N good CSRs made under $WORK/prep, then
#                        moved to $MEDIA/NAME (what a mount looks like)
#   start_console COLUMNS ROWS [NAME=VALUE...]
#                        `station -c $WORK/console.yaml console` in a COLUMNS x
#                        ROWS window, with SOFTHSM2_CONF and the given
#                        environment (values without spaces or quotes); its
#                        stderr in $WORK/console.err, its exit status in
#                        $WORK/console.status
#   quit_console         q, then y once the console asks
#   console_status [S]   waits (S seconds, default 10) for the console to end;
#                        prints its exit status
command -v tmux >/dev/null || skip "tmux is not installed (bash packaging/install-deps.sh --test installs it)"
TMUX_SOCK=$WORK/tmux.sock
T() { tmux -S "$TMUX_SOCK" "$@"; }
stop_tmux() { T kill-server 2>/dev/null || true; }
AT_EXIT_HOOKS+=(stop_tmux)
screen() { T capture-pane -p -t console 2>/dev/null; }
wait_for() {
  local i s=${2:-${CONSOLE_WAIT_S:-20}}
  for i in $(seq 1 $((s * 10))); do
    screen | grep -qF -- "$1" && return 0
    sleep 0.1
  done
  echo "not on the screen after $s s: $1"; screen
  return 1
}
gone_from() {
  local i s=${2:-10}
  for i in $(seq 1 $((s * 10))); do
    screen | grep -qF -- "$1" || return 0
    sleep 0.1
  done
  echo "still on the screen after $s s: $1"; screen
  return 1
}
keys() { T send-keys -t console "$@"; }
make_stick() {
  local dir=$WORK/prep/$1 i
  mkdir -p "$dir/csr"
  for i in $(seq 1 "$2"); do
    make_key "$WORK/prep/$1-$i.key"
    make_csr "$dir/csr/board-$i.csr" "$WORK/prep/$1-$i.key" "$(device_subject "$(uuid)")"
  done
  mv "$dir" "$MEDIA/$1"
}
start_console() {
  local columns=$1 rows=$2; shift 2
  rm -f "$WORK/console.status"
  T -f /dev/null new-session -d -s console -x "$columns" -y "$rows" \
    "env SOFTHSM2_CONF=$SOFTHSM2_CONF $* '$STATION' -c '$WORK/console.yaml' console 2>'$WORK/console.err'; \
     echo \$? >'$WORK/console.status'; sleep 60"
}
quit_console() {
  keys q
  wait_for "Quit the station console?" >/dev/null
  keys y
}
console_status() {
  local i
  for i in $(seq 1 $((${1:-10} * 10))); do [ -s "$WORK/console.status" ] && break; sleep 0.1; done
  cat "$WORK/console.status" 2>/dev/null
}
