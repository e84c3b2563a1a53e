#!/usr/bin/env python3
"""line_relay.py - a stretch of line between a board's script and the cable
to the station, for the serial enroll tests. Test code, not installed.

    line_relay.py TTY [--junk] [--kmsg N] [--inject FILE] -- COMMAND...

Opens TTY (the board end of the cable), makes a new pseudo-terminal and runs
COMMAND with BOARD_TTY naming its slave; relays bytes both ways until COMMAND
exits, then exits with its status. What a real line adds, on demand:
  --junk       after the board's first CSR has gone by, binary junk (NULs,
               0xff, escape sequences, a partial "STATION" word) is written to
               the board before anything from the station
  --kmsg N     a kernel log line (as printk writes it to a console UART) is
               put inside each of the board's first N CSRs, after their third line
  --inject F   after the board's first CSR has gone by, the bytes of F (a
               recorded answer to another request) reach the board first
"""
import os
import pty
import select
import subprocess
import sys
import termios
import tty

JUNK = b"\x00\x00\xff\xfe\x1b[0m\x07 \xc3\x28 STATI\x00ON\r\n\xff\x00garbage\rSTATION\n"
KMSG = b"[   42.137291] usb 1-1: new high-speed USB device number 3 using ehci-platform\r\n"
END = b"-----END CERTIFICATE REQUEST-----"


def main():
    args = sys.argv[1:]
    cut = args.index("--")
    opts, command = args[:cut], args[cut + 1:]
    line = opts.pop(0)
    junk, kmsg, inject = False, 0, b""
    while opts:
        o = opts.pop(0)
        if o == "--junk":
            junk = True
        elif o == "--kmsg":
            kmsg = int(opts.pop(0))
        elif o == "--inject":
            with open(opts.pop(0), "rb") as f:
                inject = f.read()
    cable = os.open(line, os.O_RDWR | os.O_NOCTTY)
    tty.setraw(cable)
    master, slave = pty.openpty()
    tty.setraw(slave)
    name = os.ttyname(slave)
    child = subprocess.Popen(command, env=dict(os.environ, BOARD_TTY=name))
    window = b""       # the last bytes from the board, to see an END line
    hold = b""         # board bytes held until the kernel line goes in
    injected = False   # the kernel line is in the CSR in progress
    csrs_seen = 0
    held = []          # station bytes held until the first CSR has gone by
    while child.poll() is None:
        ready, _, _ = select.select([master, cable], [], [], 0.05)
        if master in ready:
            try:
                data = os.read(master, 4096)
            except OSError:
                data = b""
            if csrs_seen < kmsg and not injected:
                hold += data
                if hold.count(b"\n") >= 3:
                    cut = 0
                    for _ in range(3):
                        cut = hold.index(b"\n", cut) + 1
                    os.write(cable, hold[:cut] + KMSG + hold[cut:])
                    hold, injected = b"", True
            else:
                os.write(cable, data)
            window = (window + data)[-128:]
            if END in window:
                window = b""
                csrs_seen += 1
                injected = False
                if csrs_seen == 1:
                    if junk:
                        os.write(master, JUNK)
                    if inject:
                        os.write(master, inject)
                    for h in held:
                        os.write(master, h)
                    held = []
        if cable in ready:
            try:
                data = os.read(cable, 4096)
            except OSError:
                data = b""
            if csrs_seen == 0 and (junk or inject):
                held.append(data)
            else:
                os.write(master, data)
    # what is still on its way to the board is of no use once the script is gone
    sys.exit(child.returncode)


if __name__ == "__main__":
    main()
