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
command -v tmux >/dev/null || skip "tmux is not installed (bash packaging/install-deps.sh installs it)"
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
