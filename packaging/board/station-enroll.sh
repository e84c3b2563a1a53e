#!/bin/sh
# station-enroll.sh - board side of the station's serial line protocol
# (docs/line-protocol.md, docs/board-enrollment.md). POSIX sh, the openssl CLI
# and the usual coreutils or busybox tools, as found on a manufacturing image;
# pkcs11-tool as well for a key in a secure element (--pkcs11-uri).
#
# Leaves in --out (default /var/sota) what factory-registration-ref and
# lmp-device-register leave a device: pkey.pem (or the key and the certificate
# in the board's token), client.pem, client.chained, root.crt and sota.toml,
# so that aktualizr-lite can reach the factory's device gateway.
#
# The exchange: the line is set raw and what waits on it is read and dropped;
# the CSR is written once; then the answers are read from the line without a
# background process (dd, one chunk at a time, a tenth of a second at most
# each) until one names this request (its Request-SHA256 line is the SHA-256
# of the CSR file sent). Answers to other requests are skipped. A request the
# station could not read (not-a-csr, too-large or timeout: the line or kernel
# messages on a console garbled it) is sent again, up to --attempts times.
# Every byte read goes through tr before any other tool sees it, so binary
# junk on the line cannot upset grep or awk.
#
# Exit status: 0 enrolled; 1 usage or local failure; 2 the station refused
# (its reason on stderr); 3 no answer in time; 4 the answer failed a check
# (nothing installed); 5 each attempt arrived garbled at the station; 6 OUT
# already holds a registration (sota.toml or sql.db; --force to enroll again).
set -eu

PROG=station-enroll
TTY=
BAUD=115200
FACTORY=
UUID=
OUT=/var/sota
PRODUCTION=0
PKCS11_URI=
PKCS11_MODULE=${PKCS11_MODULE_PATH:-}
TIMEOUT=30
ATTEMPTS=3
EXPECT_ROOT=
HWID=
TAGS=
GATEWAY=
SET_CLOCK=0
FORCE=0
START_DAEMON=0
# the ids lmp-device-register gives the key and the certificate in the token
P11_CERT_ID=03
P11_CERT_LABEL=client
# skew between the board's clock and the station's that earns a warning (s)
CLOCK_SKEW_WARN=300

usage() {
  cat >&2 <<USAGE
usage: $PROG --tty DEV --factory NAME [--uuid UUID] [--out DIR] [--production]
             [--pkcs11-uri URI [--pkcs11-module PATH]] [--baud N] [--timeout SECONDS]
             [--attempts N] [--expect-root FILE] [--hwid ID] [--tags TAGS] [--gateway URL]
             [--set-clock] [--force] [--start-daemon]
  --tty DEV           the serial line to the station (set raw when it is a tty)
  --factory NAME      the factory name: the OU of the CSR
  --uuid UUID         the device id (default: OUT/device-id kept from an earlier run, else
                      /etc/machine-id as a UUID, else a random one, then kept in OUT/device-id)
  --out DIR           where the files go (default /var/sota)
  --production        ask for a production certificate (businessCategory=production)
  --pkcs11-uri URI    the device key is in the board's token (a secure element), e.g.
                      pkcs11:token=aktualizr;id=%01;type=private?pin-value=1234; the
                      certificate is stored there too (id $P11_CERT_ID, label "$P11_CERT_LABEL")
  --pkcs11-module P   the token's PKCS#11 module (default \$PKCS11_MODULE_PATH)
  --baud N            line speed (default 115200)
  --timeout SECONDS   how long to wait for the answer (default 30)
  --attempts N        how many times a garbled request is sent (default 3)
  --expect-root FILE  the root the device already trusts: the answer's root must be this one
  --hwid ID           the hardware id for sota.toml (default LMP_MACHINE in /etc/os-release,
                      else the host name)
  --tags TAGS         aktualizr-lite's tags (default LMP_FACTORY_TAG in /etc/os-release)
  --gateway URL       the device gateway, instead of the one the station names
  --set-clock         set the board's clock from the station's time in the answer
  --force             enroll again although OUT holds a registration (the kept key and id are used)
  --start-daemon      start aktualizr-lite once enrolled, when it is installed
USAGE
  exit 1
}

die() {
  echo "$PROG: $*" >&2
  exit "${STATUS:-1}"
}

note() {
  echo "$PROG: $*" >&2
}

while [ $# -gt 0 ]; do
  case $1 in
    --tty) [ $# -ge 2 ] || usage; TTY=$2; shift 2 ;;
    --factory) [ $# -ge 2 ] || usage; FACTORY=$2; shift 2 ;;
    --uuid) [ $# -ge 2 ] || usage; UUID=$2; shift 2 ;;
    --out) [ $# -ge 2 ] || usage; OUT=$2; shift 2 ;;
    --pkcs11-uri) [ $# -ge 2 ] || usage; PKCS11_URI=$2; shift 2 ;;
    --pkcs11-module) [ $# -ge 2 ] || usage; PKCS11_MODULE=$2; shift 2 ;;
    --baud) [ $# -ge 2 ] || usage; BAUD=$2; shift 2 ;;
    --timeout) [ $# -ge 2 ] || usage; TIMEOUT=$2; shift 2 ;;
    --attempts) [ $# -ge 2 ] || usage; ATTEMPTS=$2; shift 2 ;;
    --expect-root) [ $# -ge 2 ] || usage; EXPECT_ROOT=$2; shift 2 ;;
    --hwid) [ $# -ge 2 ] || usage; HWID=$2; shift 2 ;;
    --tags) [ $# -ge 2 ] || usage; TAGS=$2; shift 2 ;;
    --gateway) [ $# -ge 2 ] || usage; GATEWAY=$2; shift 2 ;;
    --production) PRODUCTION=1; shift ;;
    --set-clock) SET_CLOCK=1; shift ;;
    --force) FORCE=1; shift ;;
    --start-daemon) START_DAEMON=1; shift ;;
    -h|--help) usage ;;
    *) echo "$PROG: unknown option $1" >&2; usage ;;
  esac
done
[ -n "$TTY" ] && [ -n "$FACTORY" ] || usage
case $TIMEOUT in ''|*[!0-9]*) die "--timeout takes whole seconds" ;; esac
case $ATTEMPTS in ''|*[!0-9]*|0) die "--attempts takes a number from 1" ;; esac
case $BAUD in ''|*[!0-9]*) die "--baud takes a number" ;; esac
case $OUT in /*) ;; *) OUT=$(pwd)/$OUT ;; esac
case $GATEWAY in ''|https://?*) ;; *) die "--gateway takes an https:// URL" ;; esac
case $GATEWAY in *[!A-Za-z0-9._~:/?#@!\$\&\(\)*+,\;=%-]*) die "--gateway: \"$GATEWAY\" is not a URL" ;; esac

# os_release KEY: the value of KEY in /etc/os-release (quotes removed), or nothing.
os_release() {
  [ -r /etc/os-release ] || return 0
  sed -n "s/^$1=//p" /etc/os-release | head -n 1 | tr -d "\"'"
}
[ -n "$HWID" ] || HWID=$(os_release LMP_MACHINE)
[ -n "$HWID" ] || HWID=$(uname -n)
[ -n "$TAGS" ] || TAGS=$(os_release LMP_FACTORY_TAG)

# toml_string TEXT: TEXT (without control characters: checked before) as a TOML basic string.
toml_string() {
  printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"
}

# The output directory: its parents get the usual modes, the files their own.
umask 022
mkdir -p "$OUT" || die "cannot make $OUT"
if [ "$FORCE" = 0 ] && { [ -e "$OUT/sota.toml" ] || [ -e "$OUT/sql.db" ]; }; then
  STATUS=6 die "$OUT already holds a registration ($( [ -e "$OUT/sota.toml" ] && echo sota.toml || echo sql.db)); --force enrolls again with the kept key"
fi
# what a run killed outright left behind
rm -rf "$OUT"/.enroll.* 2>/dev/null || true
rm -f "$OUT"/.*.tmp 2>/dev/null || true
umask 077
WORK=$(mktemp -d "$OUT/.enroll.XXXXXX") || die "cannot make a work directory in $OUT"
TTY_SAVED=
cleanup() {
  [ -z "$TTY_SAVED" ] || stty "$TTY_SAVED" <&3 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# install_file SRC NAME MODE: puts SRC at OUT/NAME with MODE atomically (same
# directory, then rename).
install_file() {
  cp "$1" "$OUT/.$2.tmp" && chmod "$3" "$OUT/.$2.tmp" && mv -f "$OUT/.$2.tmp" "$OUT/$2" ||
    die "cannot install $OUT/$2"
}

# --- the device id: --uuid, else the one kept next to the key, else
# /etc/machine-id as a UUID, else a random one, kept before any key is made
is_uuid() {
  printf '%s' "$1" | grep -Eq '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
}
if [ -z "$UUID" ] && [ -s "$OUT/device-id" ]; then
  UUID=$(head -n 1 "$OUT/device-id" | tr -d '\r\n')
  is_uuid "$UUID" || die "$OUT/device-id does not hold a UUID"
fi
if [ -z "$UUID" ]; then
  if [ -r /etc/machine-id ] && id=$(tr -d '\n' </etc/machine-id) && \
     printf '%s' "$id" | grep -Eq '^[0-9a-f]{32}$'; then
    UUID=$(printf '%s' "$id" | sed 's/^\(.\{8\}\)\(.\{4\}\)\(.\{4\}\)\(.\{4\}\)\(.\{12\}\)$/\1-\2-\3-\4-\5/')
  else
    UUID=$(cat /proc/sys/kernel/random/uuid)
    printf '%s\n' "$UUID" >"$WORK/device-id"
    install_file "$WORK/device-id" device-id 644
    sync 2>/dev/null || true
    note "no machine id: device id $UUID made and kept in $OUT/device-id"
  fi
fi
is_uuid "$UUID" || die "the device id \"$UUID\" is not a UUID"

# --- the key and the CSR
SUBJECT="/CN=$UUID/OU=$FACTORY"
[ "$PRODUCTION" = 0 ] || SUBJECT="$SUBJECT/businessCategory=production"
if [ -n "$PKCS11_URI" ]; then
  # uri_attr NAME: the value of NAME in the URI's path or query, percent escapes kept
  uri_attr() {
    printf '%s' "${PKCS11_URI#pkcs11:}" | tr ';?&' '\n\n\n' | sed -n "s/^$1=//p" | head -n 1
  }
  # pct_hex TEXT: the bytes of a percent-encoded TEXT as hex (the PKCS#11 id)
  pct_hex() {
    printf '%s' "$1" | awk '{
      hex = "0123456789abcdef"; out = ""
      for (i = 1; i <= length($0); i++) {
        c = substr($0, i, 1)
        if (c == "%") { out = out tolower(substr($0, i + 1, 2)); i += 2 }
        else {
          for (n = 32; n < 127; n++) if (sprintf("%c", n) == c) break
          out = out substr(hex, int(n / 16) + 1, 1) substr(hex, n % 16 + 1, 1)
        }
      }
      print out }'
  }
  case $PKCS11_URI in pkcs11:*) ;; *) die "--pkcs11-uri takes a pkcs11: URI" ;; esac
  [ -n "$PKCS11_MODULE" ] || PKCS11_MODULE=$(uri_attr module-path)
  [ -n "$PKCS11_MODULE" ] || die "--pkcs11-uri needs the token's module: --pkcs11-module or PKCS11_MODULE_PATH"
  export PKCS11_MODULE_PATH="$PKCS11_MODULE"
  P11_TOKEN=$(uri_attr token)
  P11_PIN=$(uri_attr pin-value)
  P11_KEY_ID=$(uri_attr id)
  P11_KEY_LABEL=$(uri_attr object)
  [ -n "$P11_TOKEN" ] || die "--pkcs11-uri must name the token (token=...)"
  [ -n "$P11_PIN" ] || die "--pkcs11-uri must carry the PIN (pin-value=...): sota.toml's [p11] pass needs it"
  command -v pkcs11-tool >/dev/null || die "pkcs11-tool is needed to store the certificate in the token"
  # p11 ARGS...: pkcs11-tool on the board's token, logged in
  p11() {
    pkcs11-tool --module "$PKCS11_MODULE" --token-label "$P11_TOKEN" --login --pin "$P11_PIN" "$@"
  }
  if [ -n "$P11_KEY_ID" ]; then
    P11_KEY_ID=$(pct_hex "$P11_KEY_ID")
  elif [ -n "$P11_KEY_LABEL" ]; then
    P11_KEY_ID=$(p11 --list-objects --type privkey 2>/dev/null | awk -v want="$P11_KEY_LABEL" '
      /^[A-Za-z].*Object/ { label = "" }
      $1 == "label:" { sub(/^[ \t]*label:[ \t]*/, ""); label = $0 }
      $1 == "ID:" && label == want { print $2; exit }')
  fi
  [ -n "$P11_KEY_ID" ] || die "cannot find the id of the key $PKCS11_URI names (give id=... in the URI)"
  openssl req -new -engine pkcs11 -keyform engine -key "$PKCS11_URI" -subj "$SUBJECT" -sha256 \
    -out "$WORK/csr.pem" 2>"$WORK/openssl.err" || { cat "$WORK/openssl.err" >&2; die "cannot make the CSR with $PKCS11_URI"; }
  openssl req -in "$WORK/csr.pem" -noout -pubkey >"$WORK/key.pub" || die "cannot read the CSR's key"
  # the public key object with that id must be the key that signed the CSR: aktualizr finds it by id
  p11 --read-object --type pubkey --id "$P11_KEY_ID" -o "$WORK/token.pub.der" >/dev/null 2>&1 &&
    openssl pkey -pubin -inform DER -in "$WORK/token.pub.der" -pubout -out "$WORK/token.pub" 2>/dev/null &&
    cmp -s "$WORK/token.pub" "$WORK/key.pub" ||
    die "the token's public key with id $P11_KEY_ID is not the key of $PKCS11_URI"
else
  if [ ! -s "$OUT/pkey.pem" ]; then
    # a key kept from an earlier attempt is reused: the station then hands back the same certificate
    openssl ecparam -genkey -name prime256v1 -noout -out "$WORK/pkey.pem" 2>/dev/null || die "cannot make a P-256 key"
    install_file "$WORK/pkey.pem" pkey.pem 600
    sync 2>/dev/null || true
  fi
  openssl req -new -key "$OUT/pkey.pem" -subj "$SUBJECT" -sha256 -out "$WORK/csr.pem" 2>"$WORK/openssl.err" ||
    { cat "$WORK/openssl.err" >&2; die "cannot make the CSR"; }
  openssl pkey -in "$OUT/pkey.pem" -pubout -out "$WORK/key.pub" 2>/dev/null || die "cannot read $OUT/pkey.pem"
fi
# the name the station gives this request: the SHA-256 of the CSR as sent
REQUEST=$(openssl dgst -sha256 -r "$WORK/csr.pem" | awk '{print $1}')
case $REQUEST in *[!0-9a-f]*|'') die "cannot hash the CSR" ;; esac

# --- the line: held open on fd 3 for the whole exchange; raw 8N1 at BAUD when
# it is a terminal, reads returning after a tenth of a second at most
[ -e "$TTY" ] || die "$TTY does not exist"
exec 3<>"$TTY" || die "cannot open $TTY"
if stty -g <&3 >/dev/null 2>&1; then
  TTY_SAVED=$(stty -g <&3)
  stty raw -echo -echonl -icrnl -inlcr -igncr -ixon -ixoff -opost cs8 -parenb -cstopb clocal \
    min 0 time 1 "$BAUD" <&3 || die "cannot set $TTY to raw $BAUD baud"
fi
# read_chunk: appends what the line has (up to 4 KiB, waiting 0.1 s at most) to the raw answer
read_chunk() {
  dd bs=4096 count=1 <&3 >>"$WORK/raw" 2>/dev/null || true
}
# flush: drops what waits on the line (at most 256 chunks: a chattering line cannot hold us)
: >"$WORK/raw"
i=0
while [ "$i" -lt 256 ]; do
  before=$(wc -c <"$WORK/raw")
  read_chunk
  [ "$(wc -c <"$WORK/raw")" != "$before" ] || break
  i=$((i + 1))
done
: >"$WORK/raw"

# answers: one line per complete answer in the raw bytes read so far:
#   <index> <verdict OK|ERR> <request or -> <station time or -> <gateway or -> <rest of verdict>
# and, for answer <index>, its certificates as WORK/a<index>.<n>.pem.
answers() {
  tr -d '\r' <"$WORK/raw" | tr -c '\n -~' '?' >"$WORK/clean"
  awk -v dir="$WORK" -v complete="$(wc -l <"$WORK/clean")" '
    NR > complete { exit }
    /^-----BEGIN CERTIFICATE-----$/ { n++; inside = 1; pem = "" }
    inside { pem = pem $0 "\n" }
    /^-----END CERTIFICATE-----$/ && inside { inside = 0; certs[n] = pem }
    /^Request-SHA256: [0-9a-f]+$/ { request = $2 }
    /^Time: [0-9]+ / { when = $2 }
    /^Gateway: https:\/\/[^ ]+$/ { gateway = $2 }
    /^STATION (OK|ERR) / {
      a++
      print a, $2, (request == "" ? "-" : request), (when == "" ? "-" : when), (gateway == "" ? "-" : gateway), substr($0, length($1 $2) + 3)
      first = n > 3 ? n - 2 : 1
      for (i = first; i <= n; i++) { f = dir "/a" a "." (i - first + 1) ".pem"; printf "%s", certs[i] > f; close(f) }
      n = 0; inside = 0; request = ""; when = ""; gateway = ""; delete certs
    }' "$WORK/clean"
}

send() {
  cat "$WORK/csr.pem" >&3 || die "cannot write to $TTY"
}

# --- the exchange
send
attempt=1
seen=0
deadline=$(( $(date +%s) + TIMEOUT ))
size=0
OURS=
while [ -z "$OURS" ]; do
  read_chunk
  now_size=$(wc -c <"$WORK/raw")
  if [ "$now_size" != "$size" ]; then
    size=$now_size
    answers >"$WORK/answers"
    while read -r idx verdict req when gw rest; do
      [ "$idx" -gt "$seen" ] || continue
      seen=$idx
      code=${rest%% *}
      garbled=0
      if [ "$verdict" = ERR ]; then
        case $code in not-a-csr|too-large|timeout) [ "$req" = "$REQUEST" ] || garbled=1 ;; esac
      fi
      if [ "$garbled" = 1 ]; then
        if [ "$attempt" -ge "$ATTEMPTS" ]; then
          STATUS=5 die "the station could not read the request $attempt times ($code: ${rest#* }); is the line clean? On a console UART stop the getty and quiet the kernel (dmesg -n 1)"
        fi
        attempt=$((attempt + 1))
        note "the station got a garbled request ($code); sending it again (attempt $attempt of $ATTEMPTS)"
        send
        deadline=$(( $(date +%s) + TIMEOUT ))
      elif [ "$req" = "$REQUEST" ] || [ "$req" = - ]; then
        OURS="$idx $verdict $req $when $gw $rest"
        break
      else
        note "skipped an answer to another request ($verdict $code)"
      fi
    done <"$WORK/answers"
  fi
  [ -n "$OURS" ] && break
  if [ "$(date +%s)" -ge "$deadline" ]; then
    STATUS=3 die "no answer from the station on $TTY within $TIMEOUT s"
  fi
done
set -f
set -- $OURS
set +f
IDX=$1 VERDICT=$2 STATION_TIME=$4 STATION_GATEWAY=$5
shift 5
REST=$*
[ "$VERDICT" = OK ] || STATUS=2 die "the station refused: $REST"
SERIAL=${REST%% *}

# --- the board's clock: the certificates are checked without it; it is
# reported, and set from the station's when asked
if [ "$STATION_TIME" != - ]; then
  board_time=$(date +%s)
  skew=$((board_time - STATION_TIME))
  station_when=$(date -u -d "@$STATION_TIME" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || echo "$STATION_TIME")
  if [ "$SET_CLOCK" = 1 ]; then
    if date -u -s "@$STATION_TIME" >/dev/null 2>&1; then
      note "board clock set to the station's time, $station_when (it was $skew s off)"
      skew=0
    else
      note "warning: could not set the board's clock to the station's time, $station_when"
    fi
  fi
  if [ "$skew" -gt "$CLOCK_SKEW_WARN" ] || [ "$skew" -lt "-$CLOCK_SKEW_WARN" ]; then
    note "warning: this board's clock ($(date -u +%Y-%m-%dT%H:%M:%SZ)) is $skew s off the station's ($station_when); set it (--set-clock, NTP or the RTC) before the board connects to its gateway: TLS checks certificate dates against it"
  fi
fi

# --- the three certificates: device, local CA, root
for i in 1 2 3; do
  [ -s "$WORK/a$IDX.$i.pem" ] || STATUS=4 die "the answer does not hold three certificates"
done
mv "$WORK/a$IDX.1.pem" "$WORK/client.pem"
mv "$WORK/a$IDX.2.pem" "$WORK/local-ca.pem"
mv "$WORK/a$IDX.3.pem" "$WORK/root.crt"

# --- the checks: our key, our id, the chain (at any board clock), the serial, the root we expect
openssl x509 -in "$WORK/client.pem" -noout -pubkey >"$WORK/cert.pub" 2>/dev/null ||
  STATUS=4 die "the certificate does not parse"
cmp -s "$WORK/cert.pub" "$WORK/key.pub" || STATUS=4 die "the certificate is not for this device's key"
openssl x509 -in "$WORK/client.pem" -noout -subject -nameopt RFC2253 | grep -q "CN=$UUID" ||
  STATUS=4 die "the certificate is not for device $UUID"
openssl verify -no_check_time -CAfile "$WORK/root.crt" -untrusted "$WORK/local-ca.pem" "$WORK/client.pem" \
  >"$WORK/verify.out" 2>&1 ||
  { cat "$WORK/verify.out" >&2; STATUS=4 die "the certificate does not chain to the root it came with"; }
CERT_SERIAL=$(openssl x509 -in "$WORK/client.pem" -noout -serial | sed 's/^serial=//; s/^0*//' | tr 'A-F' 'a-f')
[ "$CERT_SERIAL" = "$(printf '%s' "$SERIAL" | sed 's/^0*//' | tr 'A-F' 'a-f')" ] ||
  STATUS=4 die "the serial on the STATION OK line ($SERIAL) is not the certificate's"
if [ -n "$EXPECT_ROOT" ]; then
  [ "$(openssl x509 -in "$EXPECT_ROOT" -noout -fingerprint -sha256)" = \
    "$(openssl x509 -in "$WORK/root.crt" -noout -fingerprint -sha256)" ] ||
    STATUS=4 die "the root in the answer is not $EXPECT_ROOT"
fi

# --- sota.toml, as factory-registration-ref writes it (lmp-device-register's
# [p11] section for a key in the token)
[ -n "$GATEWAY" ] || { [ "$STATION_GATEWAY" = - ] || GATEWAY=$STATION_GATEWAY; }
for value in "$GATEWAY" "$HWID" "$TAGS" "$OUT" "$PKCS11_MODULE" "${P11_PIN:-}" "${P11_TOKEN:-}"; do
  case $value in *[[:cntrl:]]*) die "\"$value\" holds a control character and cannot go into sota.toml" ;; esac
done
if [ -n "$GATEWAY" ]; then
  {
    echo "[tls]"
    echo "server = $(toml_string "$GATEWAY")"
    echo 'ca_source = "file"'
    if [ -n "$PKCS11_URI" ]; then
      echo 'pkey_source = "pkcs11"'
      echo 'cert_source = "pkcs11"'
    else
      echo 'pkey_source = "file"'
      echo 'cert_source = "file"'
    fi
    echo
    echo "[provision]"
    echo "server = $(toml_string "$GATEWAY")"
    echo "primary_ecu_hardware_id = $(toml_string "$HWID")"
    echo
    echo "[uptane]"
    echo "repo_server = $(toml_string "$GATEWAY/repo")"
    echo 'key_source = "file"'
    echo
    echo "[pacman]"
    echo 'type = "ostree+compose_apps"'
    echo "ostree_server = $(toml_string "$GATEWAY/treehub")"
    echo "compose_apps_root = $(toml_string "$OUT/compose-apps")"
    if [ -n "$TAGS" ]; then echo "tags = $(toml_string "$TAGS")"; else echo "# tags is not set"; fi
    echo
    echo "[storage]"
    echo 'type = "sqlite"'
    echo "path = $(toml_string "$OUT/")"
    echo
    echo "[import]"
    echo "tls_cacert_path = $(toml_string "$OUT/root.crt")"
    if [ -n "$PKCS11_URI" ]; then
      echo "# tls_pkey_path is not set"
      echo "# tls_clientcert_path is not set"
      echo
      echo "[p11]"
      echo "module = $(toml_string "$PKCS11_MODULE")"
      echo "pass = $(toml_string "$P11_PIN")"
      echo "label = $(toml_string "$P11_TOKEN")"
      echo "tls_pkey_id = $(toml_string "$P11_KEY_ID")"
      echo "tls_clientcert_id = $(toml_string "$P11_CERT_ID")"
    else
      echo "tls_pkey_path = $(toml_string "$OUT/pkey.pem")"
      echo "tls_clientcert_path = $(toml_string "$OUT/client.pem")"
    fi
  } >"$WORK/sota.toml"
fi

# --- install, each file atomically; the certificate into the token first
# when the key is there; sota.toml last, as the mark of a finished enrollment
if [ -n "$PKCS11_URI" ]; then
  openssl x509 -in "$WORK/client.pem" -outform DER -out "$WORK/client.der" || die "cannot convert the certificate"
  # a certificate an earlier, unfinished run left under that id is replaced
  p11 --delete-object --type cert --id "$P11_CERT_ID" >/dev/null 2>&1 || true
  p11 --write-object "$WORK/client.der" --type cert --id "$P11_CERT_ID" --label "$P11_CERT_LABEL" \
    >"$WORK/p11.out" 2>&1 || { cat "$WORK/p11.out" >&2; die "cannot store the certificate in token $P11_TOKEN"; }
  p11 --read-object --type cert --id "$P11_CERT_ID" -o "$WORK/token-cert.der" >/dev/null 2>&1 &&
    cmp -s "$WORK/token-cert.der" "$WORK/client.der" ||
    die "the certificate read back from token $P11_TOKEN is not the one stored"
fi
cat "$WORK/client.pem" "$WORK/local-ca.pem" >"$WORK/client.chained"
install_file "$WORK/client.pem" client.pem 644
install_file "$WORK/client.chained" client.chained 644
install_file "$WORK/root.crt" root.crt 644
if [ -s "$WORK/sota.toml" ]; then
  # it holds the token's PIN when the key is in the token
  if [ -n "$PKCS11_URI" ]; then install_file "$WORK/sota.toml" sota.toml 600; else install_file "$WORK/sota.toml" sota.toml 644; fi
fi
sync 2>/dev/null || true
if [ -s "$WORK/sota.toml" ]; then
  echo "$PROG: enrolled $UUID: certificate $SERIAL in $OUT, gateway $GATEWAY"
else
  echo "$PROG: enrolled $UUID: certificate $SERIAL in $OUT"
  note "warning: the station names no device gateway (gateway.certificate is not configured there) and --gateway was not given: no sota.toml was written, aktualizr-lite will not start"
fi

if [ "$START_DAEMON" = 1 ]; then
  if command -v systemctl >/dev/null && systemctl cat aktualizr-lite.service >/dev/null 2>&1; then
    systemctl start aktualizr-lite || note "warning: could not start aktualizr-lite"
  else
    note "aktualizr-lite is not installed here: not started"
  fi
fi
exit 0
