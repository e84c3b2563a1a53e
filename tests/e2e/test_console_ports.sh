#!/usr/bin/env bash
# End-to-end: the console never takes over someone's terminal through a
# stale pty link. Two configured ports: ttyBOARD0 is a link to the pty of a
# shell running in another tmux session (what a demo's board link becomes
# once the demo is gone and a new terminal gets that pty), ttyBOARD1 a link to
# a pty a board simulator holds (no session on it). The console:
#   - refuses ttyBOARD0 with a sentence in its event log naming the link, the
#     pty and why; the shell's terminal settings are unchanged (stty);
#   - opens ttyBOARD1 as usual;
#   - opens the shell's /dev/pts/N when the configuration names it itself
#     (this run was given it).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/console_lib.sh"
make_pki
PORTS=$WORK/ports
mkdir -p "$PORTS"

# the other terminal: a shell in its own tmux session (its pty is that shell's controlling terminal)
T -f /dev/null new-session -d -s victim -x 80 -y 24 "bash --norc --noprofile"
VICTIM_TTY=$(T display-message -p -t victim '#{pane_tty}')
check "the other session's shell runs on a pty ($VICTIM_TTY)" sh -c "case '$VICTIM_TTY' in /dev/pts/*) [ -c '$VICTIM_TTY' ] ;; *) exit 1 ;; esac"
ln -s "$VICTIM_TTY" "$PORTS/ttyBOARD0"
stty -a -F "$VICTIM_TTY" >"$WORK/stty.before"
# a board's pty: held open by a process that is no session's terminal
python3 -c '
import os, pty, sys, time
m, s = pty.openpty()
os.symlink(os.ttyname(s), sys.argv[1])
time.sleep(120)' "$PORTS/ttyBOARD1" &
HOLDER=$!
stop_holder() { kill "$HOLDER" 2>/dev/null || true; }
AT_EXIT_HOOKS+=(stop_holder)
for _ in $(seq 1 50); do [ -L "$PORTS/ttyBOARD1" ] && break; sleep 0.1; done

cp "$WORK/station.yaml" "$WORK/console.yaml"
cat >>"$WORK/console.yaml" <<YAML
intake:
  serial:
    - port: $PORTS/ttyBOARD0
    - port: $PORTS/ttyBOARD1
YAML
start_console 200 40 TERM=tmux-256color STATION_TEST_PIN=$TEST_PIN
check "the console logs in" wait_for "station: logged in"
check "the board's pty link is opened" wait_for "port $PORTS/ttyBOARD1 open"
check "the link to the shell's terminal is refused, with why, in the event log" \
  wait_for "port $PORTS/ttyBOARD0 lost: not opened: it is a link to $VICTIM_TTY, the terminal of a running session"
check "... and never reported open" sh -c "! tmux -S '$TMUX_SOCK' capture-pane -p -t console | grep -qF 'port $PORTS/ttyBOARD0 open'"
stty -a -F "$VICTIM_TTY" >"$WORK/stty.after"
check "the shell's terminal settings are unchanged" cmp "$WORK/stty.before" "$WORK/stty.after"
quit_console
check "the console quits (exit 0)" test "$(console_status)" = 0
T kill-session -t console 2>/dev/null || true

# a configuration that names that pty itself, not through a link: opened (this run was given it)
cp "$WORK/station.yaml" "$WORK/console.yaml"
printf 'intake:\n  serial:\n    - port: %s\n' "$VICTIM_TTY" >>"$WORK/console.yaml"
start_console 200 40 TERM=tmux-256color STATION_TEST_PIN=$TEST_PIN
check "the same pty named by the configuration itself is opened" wait_for "port $VICTIM_TTY open"
quit_console
check "the console quits again (exit 0)" test "$(console_status)" = 0
finish
