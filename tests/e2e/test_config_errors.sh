#!/usr/bin/env bash
# End-to-end: configuration and usage errors exit with status 2 and say where
# and what; PIN sources; the batch layout; a missing journal lock holder.
. "$(dirname "$0")/lib.sh"
make_pki
B=$WORK/stick; mkdir -p "$B/csr"; make_key "$WORK/d.key"; make_csr "$B/csr/d.csr" "$WORK/d.key" "$(device_subject "$(uuid)")"

sed 's/^  token: station/  tokn: station/' "$WORK/station.yaml" >"$WORK/typo.yaml"
"$STATION" -c "$WORK/typo.yaml" sign "$B" >"$WORK/typo.out" 2>&1 || echo "status $?" >>"$WORK/typo.out"
check "unknown key: exit 2" grep -q "status 2" "$WORK/typo.out"
check "unknown key: file:line:column named" grep -q "typo.yaml:4:3: unknown key \"tokn\"" "$WORK/typo.out"
check "missing configuration file: exit 2" expect_status 2 "$STATION" -c "$WORK/nope.yaml" sign "$B"
check "no arguments: exit 2" expect_status 2 "$STATION"
check "unknown command: exit 2" expect_status 2 "$STATION" frobnicate
check "sign without DIR: exit 2" expect_status 2 "$STATION" sign
check "a directory without csr/: exit 2" sh -c "mkdir -p '$WORK/empty'; '$STATION' sign '$WORK/empty'; [ \$? = 2 ]"
check "--help lists the commands" sh -c "'$STATION' --help | grep -q 'sign DIR'"

# PIN from a file: refused when others can read it
echo $TEST_PIN >"$WORK/pin"; chmod 644 "$WORK/pin"
sed "s|pin: env:STATION_TEST_PIN|pin: file:$WORK/pin|" "$WORK/station.yaml" >"$WORK/pinfile.yaml"
"$STATION" -c "$WORK/pinfile.yaml" sign "$B" >"$WORK/pin.out" 2>&1 || echo "status $?" >>"$WORK/pin.out"
check "world-readable PIN file: exit 2 with a chmod hint" sh -c "grep -q 'status 2' '$WORK/pin.out' && grep -q 'chmod 600' '$WORK/pin.out'"
chmod 600 "$WORK/pin"
check "PIN file 0600 works" "$STATION" -q -c "$WORK/pinfile.yaml" sign "$B"
check "unset PIN variable: exit 2" sh -c "env -u STATION_TEST_PIN '$STATION' sign '$B'; [ \$? = 2 ]"
sed "s|pin: env:STATION_TEST_PIN|pin: prompt|" "$WORK/station.yaml" >"$WORK/prompt.yaml"
check "prompt without a terminal: exit 2, says so" sh -c "setsid '$STATION' -c '$WORK/prompt.yaml' sign '$B' </dev/null 2>&1 | grep -q 'no terminal'"

# one journal, one station process
exec 9>>"$WORK/journal/journal.log"
flock -n 9
"$STATION" sign "$B" >"$WORK/lock.out" 2>&1 || echo "status $?" >>"$WORK/lock.out"
check "a journal held by another process: exit 3, journal-locked" sh -c "grep -q 'status 3' '$WORK/lock.out' && grep -q 'journal-locked' '$WORK/lock.out'"
exec 9>&-
finish
