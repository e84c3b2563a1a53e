#!/usr/bin/env bash
# End-to-end: the token really pulled out and put back.
# tests/pkcs11 slow_token in front of SoftHSM plays a USB token: "unplugged"
# in its control file takes the token out of its slot (no token listed, new
# sessions refused, every open session dead for good), "ok" puts it back.
#   (a) `station serial`: while the token is out every request is answered at
#       once with STATION ERR naming the token (a retry in the back-off too; a
#       policy refusal is still journaled); once it is back the station logs
#       in again by itself and boards get certificates. Every certificate
#       verifies with openssl, no CSR is signed twice (C_Sign counted), the
#       journal head on the token catches up, `journal verify` passes, and the
#       PIN is in no output.
#   (b) `station sign DIR` with the token pulled out in the middle of a slow
#       batch: exit 3 naming the token, nothing on the stick, nothing of the
#       group that faulted journaled (its seal needs the token); the re-run
#       with the token back signs only what was never journaled.
#   (c) the token comes back but hangs in C_Login: the re-login is under the
#       watchdog (hsm.sign_timeout), boards get hsm-timeout, the station signs
#       nothing more, and SIGTERM still stops it at once. The refusal answered
#       meanwhile was journaled without a seal: verify names it
#       (journal-unsealed) and the next start cuts it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serial_lib.sh"
SLOW=$(dirname "$STATION")/../tests/libslow_token.so
[ -f "$SLOW" ] || { echo "slow_token module not built at $SLOW"; exit 1; }
TEST_PIN=unplug-pin-5077   # a PIN no serial number or UUID can hold by chance
make_pki
C=$WORK/control
export SLOW_TOKEN_MODULE=$SOFTHSM_MODULE SLOW_TOKEN_CONTROL=$C
export SLOW_TOKEN_COUNT=$WORK/signatures SLOW_TOKEN_LOGINS=$WORK/logins
sed -e "s|module: .*|module: $SLOW|" -e "s|  pin: env:STATION_TEST_PIN|  pin: env:STATION_TEST_PIN\n  sign_timeout: 2|" \
  "$WORK/station.yaml" >"$WORK/slow.yaml"
export STATION_CONFIG=$WORK/slow.yaml
J=$WORK/journal/journal.log
P=$PORTS/ttyBOARD0
echo ok >"$C"

count() { [ -s "$1" ] && grep -c . "$1" || echo 0; }
records() { awk -v ev="$1" '$3 == ev' "$J" | wc -l; }

# issued_once: no CSR hash appears in two issued records of the journal.
issued_once() {
  [ -z "$(awk '$3 == "issued" {print $6}' "$J" | sort | uniq -d)" ]
}

# journal_certs_verify: every issued certificate in the journal verifies with
# openssl up to the factory root.
journal_certs_verify() {
  local n=0 body
  for body in $(awk '$3 == "issued" {print $11}' "$J"); do
    n=$((n + 1))
    printf '%s' "$body" | openssl base64 -d -A | openssl x509 -inform DER -out "$WORK/j$n.pem" &&
      verify_device_cert "$WORK/j$n.pem" >/dev/null || { echo "issued certificate $n does not verify"; return 1; }
  done
  [ "$n" -gt 0 ]
}

# head_current: `journal verify` finds the head on the token at the journal's last record.
head_current() {
  "$STATION" journal verify >"$WORK/verify.out" 2>&1 || { cat "$WORK/verify.out"; return 1; }
  grep -q "head on the token: record $(tail -1 "$J" | cut -d' ' -f1);" "$WORK/verify.out" ||
    { cat "$WORK/verify.out"; return 1; }
}

# ---- (a) the serial server: pulled out, put back ----
: >"$WORK/signatures"
: >"$WORK/logins"
# the back-off after the first fault is 1 s; the try after it finds the token
# still out (the next back-off 2 s); then the token is put back
run_sim "token pulled out and put back" --wait 3 --board \
  "csr,sh:echo unplugged >$C,err:hsm:token station,err:hsm:token station,sleep:1100,err:hsm:not in its slot,wrong-factory,sh:echo ok >$C,sleep:2100,csr,csr,resend" \
  -- "$STATION" serial
check "the station said the token was gone and logged in again by itself" \
  sh -c "grep -q 'token station is not in its slot' '$PORTS/station.log' && grep -q 'token station is back' '$PORTS/station.log'"
check "the request inside the back-off did not touch the token" grep -q 'logs in again in' "$PORTS/station.log"
check "two C_Login calls: the first login and the one after the token came back ($(count "$WORK/logins"))" \
  test "$(count "$WORK/logins")" = 2
check "three certificates and the refusal journaled for the port, no record of the token's faults" \
  sh -c "[ $(journal_count issued "$P") = 3 ] && [ $(journal_count refused "$P") = 1 ] && [ $(journal_count refused "$P" wrong-factory) = 1 ]"
# the key proofs at the two logins, the certificates, the checkpoint at close
check "no CSR signed twice ($(count "$WORK/signatures") signatures = 2 proofs + $(records issued) certificates + $(records checkpoint) checkpoints)" \
  test "$(count "$WORK/signatures")" = $((2 + $(records issued) + $(records checkpoint)))
check "every CSR issued once in the journal" issued_once
check "every certificate in the journal verifies with openssl" journal_certs_verify
check "the journal head on the token caught up with the journal, journal verify passes" head_current
check "the PIN is in no output" sh -c "! grep -rqF -- '$TEST_PIN' '$PORTS/station.log' '$WORK/sim.out' '$WORK/verify.out'"

# ---- (b) a batch: pulled out in the middle ----
N=30
B=$WORK/stick
mkdir -p "$B/csr"
for i in $(seq -w 1 $N); do
  make_key "$WORK/b$i.key"
  make_csr "$B/csr/d$i.csr" "$WORK/b$i.key" "$(device_subject "$(uuid)")"
done
journaled_from() { awk -v p="batch:$B/csr/" '$3 == "issued" && index($4, p) == 1' "$J" | wc -l; }
: >"$WORK/signatures"
echo ok >"$C"
SLOW_TOKEN_DELAY_MS=40 "$STATION" -c "$WORK/slow.yaml" sign "$B" >"$WORK/batch.out" 2>&1 &
BATCH=$!
# pull the token out once the batch has made a few signatures
for _ in $(seq 1 200); do
  [ "$(count "$WORK/signatures")" -ge 6 ] && break
  sleep 0.05
done
echo unplugged >"$C"
status=0
wait $BATCH || status=$?
check "batch with the token pulled out: exit 3 (got $status)" test "$status" = 3
check "batch: the message names the token" grep -q 'token station' "$WORK/batch.out"
JOURNALED=$(journaled_from)
check "batch: nothing of the group that faulted was journaled: its seal needs the token ($JOURNALED of $N)" \
  test "$JOURNALED" = 0
check "batch: nothing on the stick that is not journaled (the group that faulted released nothing)" \
  test "$(ls "$B/certs" 2>/dev/null | wc -l)" = 0
check "batch: journal verify passes with the token back" sh -c "echo ok >'$C' && '$STATION' journal verify >/dev/null"
: >"$WORK/signatures"
before=$(records checkpoint)
check "batch: the re-run with the token back completes" "$STATION" -q -c "$WORK/slow.yaml" sign "$B"
got=$(count "$WORK/signatures")
check "batch: the re-run signs only what was never journaled ($got = 1 proof + $((N - JOURNALED)) + $(($(records checkpoint) - before)) checkpoints)" \
  test "$got" = $((1 + N - JOURNALED + $(records checkpoint) - before))
check "batch: all $N certificates on the stick" test "$(ls "$B/certs" | wc -l)" = $N
check "batch: every certificate on the stick verifies with openssl" \
  sh -c "for f in '$B'/certs/*.pem; do openssl verify -x509_strict -purpose sslclient -CAfile '$WORK/pki/factory_ca.pem' -untrusted '$WORK/pki/local-ca.pem' \"\$f\" >/dev/null || exit 1; done"
check "batch: every CSR issued once in the journal" issued_once
check "batch: the PIN is in no output" sh -c "! grep -qF -- '$TEST_PIN' '$WORK/batch.out'"

# ---- (c) put back, but C_Login hangs: the watchdog gives up on the re-login ----
echo ok >"$C"
: >"$WORK/logins"
start=$(date +%s)
run_sim "the token hangs in C_Login" --wait 8 --stop-ms 3000 --board \
  "csr,sh:echo unplugged >$C,err:hsm:token station,sh:echo login-hang >$C,sleep:1100,err:hsm-timeout:did not finish logging in again,err:hsm-timeout:stopped answering,wrong-factory" \
  -- "$STATION" serial
took=$(( $(date +%s) - start ))
echo ok >"$C"
check "the station said it signs nothing more until restarted" \
  grep -q 'did not finish logging in again within 2 s; the station signs nothing more until restarted' "$PORTS/station.log"
check "the hung C_Login was the only login after the first ($(count "$WORK/logins"))" test "$(count "$WORK/logins")" = 2
check "the whole hang case was bounded ($took s)" test "$took" -lt 30
# the refusal answered while the token hung was journaled without a seal: not trusted, cut at the next start
check "journal verify after the hang: the refusal made without the token is unsealed (exit 1)" sh -c "
  ! '$STATION' journal verify >'$WORK/hang-verify.out' && grep -q '^reason: journal-unsealed\$' '$WORK/hang-verify.out'"
mkdir -p "$WORK/empty/csr"
check "the next start cuts it and says so" sh -c "'$STATION' sign '$WORK/empty' 2>&1 | grep -q 'cut 1 record'"
check "journal verify passes after that" "$STATION" journal verify
check "every certificate in the journal verifies with openssl" journal_certs_verify
check "the PIN is in no output" sh -c "! grep -rqF -- '$TEST_PIN' '$PORTS/station.log' '$WORK/sim.out'"
finish
