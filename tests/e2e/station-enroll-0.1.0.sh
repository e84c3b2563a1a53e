#!/bin/sh
# station-enroll-0.1.0.sh - the board script as release 0.1.0 shipped it
# (packaging/board/station-enroll.sh then), kept unchanged below this comment
# for tests/e2e/test_board_gateway.sh: boards running it must still enroll
# with a station whose answers carry header lines.
#
# station-enroll.sh - board side of the station's serial line protocol
# (docs/line-protocol.md, docs/board-enrollment.md). POSIX sh and the openssl
# CLI only, as found on a board's manufacturing image.
#
# Makes (or reuses) the device key, builds the CSR (CN=<uuid>, OU=<factory>,
# businessCategory=production when asked), sends it on the tty, waits for
# STATION OK / STATION ERR, checks that the certificate matches the key and
# chains to the root it came with, and installs client.pem, client.chained and
# root.crt in the output directory, each one atomically.
#
# Exit status: 0 enrolled; 1 usage or local failure; 2 the station refused
# (its reason on stderr); 3 no answer in time; 4 the answer failed a check.
set -eu

PROG=station-enroll
TTY=
BAUD=115200
FACTORY=
UUID=
OUT=/var/sota
PRODUCTION=0
PKCS11_URI=
TIMEOUT=30
EXPECT_ROOT=

usage() {
  cat >&2 <<USAGE
usage: $PROG --tty DEV --factory NAME [--uuid UUID] [--out DIR] [--production]
             [--pkcs11-uri URI] [--baud N] [--timeout SECONDS] [--expect-root FILE]
  --tty DEV          the serial line to the station (set raw when it is a tty)
  --factory NAME     the factory name: the OU of the CSR
  --uuid UUID        the device id (default: /etc/machine-id as a UUID, else a random one)
  --out DIR          where pkey.pem, client.pem, client.chained and root.crt go (default /var/sota)
  --production       ask for a production certificate (businessCategory=production)
  --pkcs11-uri URI   the device key is on a PKCS#11 token (openssl pkcs11 engine); no pkey.pem is made
  --baud N           line speed (default 115200)
  --timeout SECONDS  how long to wait for the answer (default 30)
  --expect-root FILE the root the device already trusts: the answer's root must be this one
USAGE
  exit 1
}

die() {
  echo "$PROG: $*" >&2
  exit "${STATUS:-1}"
}

while [ $# -gt 0 ]; do
  case $1 in
    --tty) [ $# -ge 2 ] || usage; TTY=$2; shift 2 ;;
    --factory) [ $# -ge 2 ] || usage; FACTORY=$2; shift 2 ;;
    --uuid) [ $# -ge 2 ] || usage; UUID=$2; shift 2 ;;
    --out) [ $# -ge 2 ] || usage; OUT=$2; shift 2 ;;
    --pkcs11-uri) [ $# -ge 2 ] || usage; PKCS11_URI=$2; shift 2 ;;
    --baud) [ $# -ge 2 ] || usage; BAUD=$2; shift 2 ;;
    --timeout) [ $# -ge 2 ] || usage; TIMEOUT=$2; shift 2 ;;
    --expect-root) [ $# -ge 2 ] || usage; EXPECT_ROOT=$2; shift 2 ;;
    --production) PRODUCTION=1; shift ;;
    -h|--help) usage ;;
    *) echo "$PROG: unknown option $1" >&2; usage ;;
  esac
done
[ -n "$TTY" ] && [ -n "$FACTORY" ] || usage
case $TIMEOUT in ''|*[!0-9]*) die "--timeout takes whole seconds" ;; esac
case $BAUD in ''|*[!0-9]*) die "--baud takes a number" ;; esac

# The device id: /etc/machine-id (32 hex digits) written as a UUID, else a random UUID.
if [ -z "$UUID" ]; then
  if [ -r /etc/machine-id ] && id=$(tr -d '\n' </etc/machine-id) && \
     printf '%s' "$id" | grep -Eq '^[0-9a-f]{32}$'; then
    UUID=$(printf '%s' "$id" | sed 's/^\(.\{8\}\)\(.\{4\}\)\(.\{4\}\)\(.\{4\}\)\(.\{12\}\)$/\1-\2-\3-\4-\5/')
  else
    UUID=$(cat /proc/sys/kernel/random/uuid)
  fi
fi
printf '%s' "$UUID" | grep -Eq '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' ||
  die "the device id \"$UUID\" is not a UUID"

umask 077
mkdir -p "$OUT" || die "cannot make $OUT"
WORK=$(mktemp -d "$OUT/.enroll.XXXXXX") || die "cannot make a work directory in $OUT"
READER=
TTY_SAVED=
cleanup() {
  [ -z "$READER" ] || kill "$READER" 2>/dev/null || true
  [ -z "$TTY_SAVED" ] || stty "$TTY_SAVED" <"$TTY" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# install SRC NAME: puts SRC at OUT/NAME atomically (same directory, then rename).
install_file() {
  cp "$1" "$OUT/.$2.tmp" && chmod "$3" "$OUT/.$2.tmp" && mv -f "$OUT/.$2.tmp" "$OUT/$2" ||
    die "cannot install $OUT/$2"
}

# --- the key and the CSR
SUBJECT="/CN=$UUID/OU=$FACTORY"
[ "$PRODUCTION" = 0 ] || SUBJECT="$SUBJECT/businessCategory=production"
if [ -n "$PKCS11_URI" ]; then
  openssl req -new -engine pkcs11 -keyform engine -key "$PKCS11_URI" -subj "$SUBJECT" -sha256 \
    -out "$WORK/csr.pem" 2>"$WORK/openssl.err" || { cat "$WORK/openssl.err" >&2; die "cannot make the CSR with $PKCS11_URI"; }
  openssl req -in "$WORK/csr.pem" -noout -pubkey >"$WORK/key.pub" || die "cannot read the CSR's key"
else
  if [ ! -s "$OUT/pkey.pem" ]; then
    # a key kept from an earlier attempt is reused: the station then hands back the same certificate
    openssl ecparam -genkey -name prime256v1 -noout -out "$WORK/pkey.pem" 2>/dev/null || die "cannot make a P-256 key"
    install_file "$WORK/pkey.pem" pkey.pem 600
  fi
  openssl req -new -key "$OUT/pkey.pem" -subj "$SUBJECT" -sha256 -out "$WORK/csr.pem" 2>"$WORK/openssl.err" ||
    { cat "$WORK/openssl.err" >&2; die "cannot make the CSR"; }
  openssl pkey -in "$OUT/pkey.pem" -pubout -out "$WORK/key.pub" 2>/dev/null || die "cannot read $OUT/pkey.pem"
fi

# --- the line: raw, no echo, 8N1 at BAUD when it is a terminal
[ -e "$TTY" ] || die "$TTY does not exist"
if stty -g <"$TTY" >/dev/null 2>&1; then
  TTY_SAVED=$(stty -g <"$TTY")
  stty raw -echo -echonl -icrnl -inlcr -igncr -ixon -ixoff -opost cs8 -parenb -cstopb clocal \
    min 1 time 0 "$BAUD" <"$TTY" || die "cannot set $TTY to raw $BAUD baud"
fi

# --- the exchange: a reader in the background, then the CSR, then wait for the verdict
: >"$WORK/answer"
cat <"$TTY" >"$WORK/answer" &
READER=$!
cat "$WORK/csr.pem" >"$TTY" || die "cannot write to $TTY"
# complete: a verdict line, and the file ends with its LF (the verdict is the last thing sent)
answer_complete() {
  grep -Eq '^STATION (OK|ERR) ' "$WORK/answer" && [ "$(tail -c 1 "$WORK/answer" | od -An -c | tr -d ' ')" = '\n' ]
}
waited=0
ticks=0
while ! answer_complete; do
  if [ "$waited" -ge "$TIMEOUT" ]; then
    STATUS=3 die "no answer from the station on $TTY within $TIMEOUT s"
  fi
  # tenths of a second where sleep takes them (GNU, busybox), else whole seconds
  if sleep 0.1 2>/dev/null; then
    ticks=$((ticks + 1))
    [ "$ticks" -lt 10 ] || { ticks=0; waited=$((waited + 1)); }
  else
    sleep 1
    waited=$((waited + 1))
  fi
done
kill "$READER" 2>/dev/null || true
wait "$READER" 2>/dev/null || true
READER=
tr -d '\r' <"$WORK/answer" >"$WORK/answer.lf"
VERDICT=$(grep -E '^STATION (OK|ERR) ' "$WORK/answer.lf" | head -n 1)
case $VERDICT in
  "STATION ERR "*) STATUS=2 die "the station refused: ${VERDICT#STATION ERR }" ;;
esac
SERIAL=${VERDICT#STATION OK }

# --- the three certificates: device, local CA, root
awk -v dir="$WORK" '
  /^-----BEGIN CERTIFICATE-----$/ { n++; inside = 1 }
  inside && n <= 3 { print > (dir "/cert" n ".pem") }
  /^-----END CERTIFICATE-----$/ { inside = 0; close(dir "/cert" n ".pem") }
  /^STATION / { exit }' "$WORK/answer.lf"
for i in 1 2 3; do
  [ -s "$WORK/cert$i.pem" ] || STATUS=4 die "the answer does not hold three certificates"
done
mv "$WORK/cert1.pem" "$WORK/client.pem"
mv "$WORK/cert2.pem" "$WORK/local-ca.pem"
mv "$WORK/cert3.pem" "$WORK/root.crt"

# --- the checks: our key, our id, the chain, the serial, the root we expect
openssl x509 -in "$WORK/client.pem" -noout -pubkey >"$WORK/cert.pub" 2>/dev/null ||
  STATUS=4 die "the certificate does not parse"
cmp -s "$WORK/cert.pub" "$WORK/key.pub" || STATUS=4 die "the certificate is not for this device's key"
openssl x509 -in "$WORK/client.pem" -noout -subject -nameopt RFC2253 | grep -q "CN=$UUID" ||
  STATUS=4 die "the certificate is not for device $UUID"
openssl verify -CAfile "$WORK/root.crt" -untrusted "$WORK/local-ca.pem" "$WORK/client.pem" >"$WORK/verify.out" 2>&1 ||
  { cat "$WORK/verify.out" >&2; STATUS=4 die "the certificate does not chain to the root it came with"; }
CERT_SERIAL=$(openssl x509 -in "$WORK/client.pem" -noout -serial | sed 's/^serial=//; s/^0*//' | tr 'A-F' 'a-f')
[ "$CERT_SERIAL" = "$(printf '%s' "$SERIAL" | sed 's/^0*//' | tr 'A-F' 'a-f')" ] ||
  STATUS=4 die "the serial on the STATION OK line ($SERIAL) is not the certificate's"
if [ -n "$EXPECT_ROOT" ]; then
  [ "$(openssl x509 -in "$EXPECT_ROOT" -noout -fingerprint -sha256)" = \
    "$(openssl x509 -in "$WORK/root.crt" -noout -fingerprint -sha256)" ] ||
    STATUS=4 die "the root in the answer is not $EXPECT_ROOT"
fi

# --- install, each file atomically; the root last, as the mark of a finished enrollment
cat "$WORK/client.pem" "$WORK/local-ca.pem" >"$WORK/client.chained"
install_file "$WORK/client.pem" client.pem 644
install_file "$WORK/client.chained" client.chained 644
install_file "$WORK/root.crt" root.crt 644
sync 2>/dev/null || true
echo "$PROG: enrolled $UUID: certificate $SERIAL in $OUT"
