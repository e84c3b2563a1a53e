#!/usr/bin/env bash
# End-to-end: boards leave the line ready to connect to the factory's device
# gateway. The real board script (packaging/board/station-enroll.sh) runs
# under dash and under busybox sh (with busybox's own tools first on PATH, as
# on a busybox image) against the real `station serial` over pseudo-terminal
# "null-modem cables", the station configured with the gateway's certificate.
# Every board's sota.toml is read with Python's tomllib, and every board then
# makes a real mutual-TLS connection to a gateway: nginx (ssl_verify_client on,
# the local CA and the root as client trust, a tls-crt from the factory root)
# accepts it using exactly the files sota.toml names, and answers with the
# client certificate's subject: the test checks the device id in its CN.
#
# Cases: a plain key; a key in a SoftHSM token as the board's secure element
# (certificate stored at id 03, label "client"; [p11]); a board two days behind
# (faketime); no machine id (the id kept next to the key, the retry gets the
# same certificate); an answer to another request waiting on the line; the
# script SIGKILLed mid-exchange, nothing of it left running, then run again
# (the killed request's answer skipped); junk before the answer; kernel log
# lines inside the CSR (retried, and its own exit status when it never gets
# through). And the station's start-up checks of the gateway certificate.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serial_lib.sh"
ENROLL=$(cd "$(dirname "$0")/../../packaging/board" && pwd)/station-enroll.sh
OLD_ENROLL=$(cd "$(dirname "$0")" && pwd)/station-enroll-0.1.0.sh
RELAY=$(cd "$(dirname "$0")" && pwd)/line_relay.py
SLOW=$(dirname "$STATION")/../tests/libslow_token.so
for tool in dash busybox nginx faketime curl pkcs11-tool unshare python3; do
  command -v "$tool" >/dev/null || { echo "FAIL - $tool is not installed (bash packaging/install-deps.sh --test)"; exit 1; }
done
python3 -c 'import tomllib' || { echo "FAIL - python3 has no tomllib (3.11 or later needed)"; exit 1; }
[ -f "$SLOW" ] || { echo "FAIL - slow_token module not built at $SLOW"; exit 1; }
make_pki
GW_NAME=gw.acme.test
export PKCS11_MODULE_PATH=$SOFTHSM_MODULE

# --- the gateway's server certificate (tls-crt), from the factory root
openssl ecparam -genkey -name prime256v1 -noout -out "$WORK/pki/tls-key" 2>/dev/null
openssl req -new -key "$WORK/pki/tls-key" -subj "/CN=$GW_NAME" -out "$WORK/tls.csr" 2>/dev/null
printf 'subjectAltName=DNS:%s,DNS:other.acme.test\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n' \
  "$GW_NAME" >"$WORK/tls.ext"
openssl x509 -req -in "$WORK/tls.csr" -CA "$WORK/pki/factory_ca.pem" -CAkey "$WORK/pki/factory_ca.key" \
  -CAcreateserial -days 30 -extfile "$WORK/tls.ext" -out "$WORK/pki/tls-crt" 2>/dev/null
printf '\ngateway:\n  certificate: %s\n' "$WORK/pki/tls-crt" >>"$WORK/station.yaml"

# --- the gateway: nginx on a free port of 127.0.0.1, in the foreground, all its files in $WORK/nginx
NGX=$WORK/nginx
mkdir -p "$NGX/logs" "$NGX/tmp"
GW_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$NGX/nginx.conf" <<CONF
daemon off;
master_process off;
pid $NGX/nginx.pid;
error_log $NGX/logs/error.log info;
events { worker_connections 64; }
http {
  access_log $NGX/logs/access.log;
  client_body_temp_path $NGX/tmp/body;
  proxy_temp_path $NGX/tmp/proxy;
  fastcgi_temp_path $NGX/tmp/fastcgi;
  uwsgi_temp_path $NGX/tmp/uwsgi;
  scgi_temp_path $NGX/tmp/scgi;
  server {
    listen 127.0.0.1:$GW_PORT ssl;
    server_name $GW_NAME;
    ssl_certificate $WORK/pki/tls-crt;
    ssl_certificate_key $WORK/pki/tls-key;
    ssl_client_certificate $WORK/pki/ca-bundle.pem;
    ssl_verify_client on;
    ssl_verify_depth 2;
    location / { default_type text/plain; return 200 "\$ssl_client_s_dn\n"; }
  }
}
CONF
nginx -p "$NGX" -c "$NGX/nginx.conf" -e "$NGX/logs/error.log" >"$NGX/stdout" 2>&1 &
NGINX_PID=$!
stop_nginx() { kill "$NGINX_PID" 2>/dev/null; wait "$NGINX_PID" 2>/dev/null; return 0; }
AT_EXIT_HOOKS+=(stop_nginx)
for _ in $(seq 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$GW_PORT") 2>/dev/null && break
  sleep 0.1
done
check "nginx, the test's gateway, listens on 127.0.0.1:$GW_PORT" \
  bash -c "(exec 3<>/dev/tcp/127.0.0.1/$GW_PORT) 2>/dev/null || { cat '$NGX/logs/error.log' '$NGX/stdout'; exit 1; }"

# --- busybox's tools first on PATH, as on a busybox image (openssl and pkcs11-tool stay the system's)
BB=$WORK/busybox-bin
mkdir -p "$BB"
for applet in awk cat chmod cmp cp date dd grep head mkdir mktemp mv od rm sed sleep stty sync tail tr uname wc; do
  ln -s "$(command -v busybox)" "$BB/$applet"
done

# sim DESCRIPTION SIM-OPTIONS... -- STATION-ARGS...: run_sim, keeping every station's stderr.
SIM_RUNS=0
sim() {
  : >"$PORTS/station.log"   # board_sim appends: each run's own lines only
  run_sim "$@"
  SIM_RUNS=$((SIM_RUNS + 1))
  cat "$PORTS/station.log" >>"$WORK/stations.log" 2>/dev/null || true
}

# toml FILE KEY.PATH: the value at KEY.PATH of FILE, parsed by tomllib ("" when absent).
toml() {
  python3 -c 'import sys, tomllib
v = tomllib.load(open(sys.argv[1], "rb"))
for k in sys.argv[2].split("."):
    v = v.get(k, "") if isinstance(v, dict) else ""
print(v)' "$1" "$2"
}

# cable NAME SHELL ARGS...: a --cable command running the script under SHELL
# ("dash" or "busybox") for board NAME; output in NAME.out, status in NAME.status.
cable() {
  local name=$1 shell=$2; shift 2
  case $shell in
    dash) echo "dash '$ENROLL' --tty \"\$BOARD_TTY\" --timeout 20 $* >'$WORK/$name.out' 2>&1; echo \$? >'$WORK/$name.status'" ;;
    busybox) echo "env PATH='$BB':\$PATH busybox sh '$ENROLL' --tty \"\$BOARD_TTY\" --timeout 20 $* >'$WORK/$name.out' 2>&1; echo \$? >'$WORK/$name.status'" ;;
  esac
}

# gateway_says DIR [CURL OPTIONS...]: connects to the gateway sota.toml in DIR
# names, with the certificate, key and root it names; prints what the gateway
# saw of the client. The gateway's URL is used as it is (name and port); curl
# is only told where that name and port are reached (--connect-to).
gateway_says() {
  local d=$1; shift
  local url host port
  url=$(toml "$d/sota.toml" tls.server)
  host=${url#https://}; host=${host%%[:/]*}
  port=${url#https://*:}; port=${port%%/*}
  curl -sS --fail --max-time 20 --connect-to "$host:$port:127.0.0.1:$GW_PORT" \
    --cacert "$(toml "$d/sota.toml" import.tls_cacert_path)" \
    --cert "$(toml "$d/sota.toml" import.tls_clientcert_path)" \
    --key "$(toml "$d/sota.toml" import.tls_pkey_path)" "$@" "$url/"
}

# gateway_sees_device DIR UUID: the gateway accepts the board of DIR and sees UUID as the CN.
gateway_sees_device() {
  local said
  said=$(gateway_says "$1") || return 1
  echo "gateway saw: $said"
  case ",$said," in *",CN=$2,"*) ;; *) return 1 ;; esac
}

# sota_toml_ok DIR: sota.toml in DIR parses and holds factory-registration-ref's sections and keys.
sota_toml_ok() {
  python3 - "$1" "https://$GW_NAME:8443" <<'PY'
import sys, tomllib
d, gw = sys.argv[1], sys.argv[2]
t = tomllib.load(open(d + "/sota.toml", "rb"))
want = {
    ("tls", "server"): gw, ("tls", "ca_source"): "file",
    ("provision", "server"): gw,
    ("uptane", "repo_server"): gw + "/repo", ("uptane", "key_source"): "file",
    ("pacman", "type"): "ostree+compose_apps", ("pacman", "ostree_server"): gw + "/treehub",
    ("storage", "type"): "sqlite", ("storage", "path"): d + "/",
    ("import", "tls_cacert_path"): d + "/root.crt",
}
bad = [f"{s}.{k} = {t.get(s, {}).get(k)!r}, expected {v!r}" for (s, k), v in want.items() if t.get(s, {}).get(k) != v]
if not t.get("provision", {}).get("primary_ecu_hardware_id"):
    bad.append("provision.primary_ecu_hardware_id is missing")
print("\n".join(bad) or "sections: " + ", ".join(t))
sys.exit(1 if bad else 0)
PY
}

# file_keys_ok DIR: the [tls] sources and [import] paths of a board whose key is a file.
file_keys_ok() {
  [ "$(toml "$1/sota.toml" tls.pkey_source)" = file ] && [ "$(toml "$1/sota.toml" tls.cert_source)" = file ] &&
    [ "$(toml "$1/sota.toml" import.tls_pkey_path)" = "$1/pkey.pem" ] &&
    [ "$(toml "$1/sota.toml" import.tls_clientcert_path)" = "$1/client.pem" ]
}

# modes_ok DIR: the files' modes (pkey.pem 0600, the certificates and sota.toml 0644, the
# directory and the parent the script made 0755).
modes_ok() {
  local got
  got=$(cd "$1" && stat -c '%n %a' .. . pkey.pem client.pem client.chained root.crt sota.toml | tr '\n' ' ')
  echo "$got"
  [ "$got" = ".. 755 . 755 pkey.pem 600 client.pem 644 client.chained 644 root.crt 644 sota.toml 644 " ]
}

# board_ok NAME DIR UUID: the common checks of a board enrolled with a key file.
board_ok() {
  local name=$1 d=$2 id=$3
  check "$name: exit 0" grep -qx 0 "$WORK/$name.status"
  check "$name: it names the gateway it wrote" grep -q "enrolled $id: certificate .* gateway https://$GW_NAME:8443" "$WORK/$name.out"
  check "$name: client.pem verifies as a client certificate to the factory root" verify_device_cert "$d/client.pem"
  check "$name: client.pem is for the board's key" \
    cmp <(openssl x509 -in "$d/client.pem" -noout -pubkey) <(openssl pkey -in "$d/pkey.pem" -pubout)
  check "$name: sota.toml parses (tomllib) with factory-registration-ref's sections and keys" sota_toml_ok "$d"
  check "$name: sota.toml names the key file, the certificate and the root" file_keys_ok "$d"
  check "$name: file modes" modes_ok "$d"
  check "$name: no temporary files left" sh -c "! ls -A '$d' | grep -q '^\\.'"
  check "$name: the gateway accepts the board (mutual TLS, the files sota.toml names) and sees CN=$id" \
    gateway_sees_device "$d" "$id"
}

# ============ the station refuses a gateway certificate a board would not accept
bad_gateway() {
  local what=$1 ext=$2 signer=$3 signer_key=$4
  printf '%s' "$ext" >"$WORK/bad.ext"
  openssl x509 -req -in "$WORK/tls.csr" -CA "$signer" -CAkey "$signer_key" -CAcreateserial -days 30 \
    -extfile "$WORK/bad.ext" -out "$WORK/bad-$what.pem" 2>/dev/null
  sed "s|certificate: $WORK/pki/tls-crt|certificate: $WORK/bad-$what.pem|" "$WORK/station.yaml" >"$WORK/bad-$what.yaml"
}
openssl req -new -x509 -key "$WORK/pki/tls-key" -subj "/CN=other-root" -days 30 -out "$WORK/other-root.pem" 2>/dev/null
bad_gateway no-server-auth $'subjectAltName=DNS:gw.acme.test\nextendedKeyUsage=clientAuth\n' \
  "$WORK/pki/factory_ca.pem" "$WORK/pki/factory_ca.key"
bad_gateway no-dns $'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' \
  "$WORK/pki/factory_ca.pem" "$WORK/pki/factory_ca.key"
bad_gateway other-root $'subjectAltName=DNS:gw.acme.test\nextendedKeyUsage=serverAuth\n' \
  "$WORK/other-root.pem" "$WORK/pki/tls-key"
for what in no-server-auth no-dns other-root; do
  "$STATION" -c "$WORK/bad-$what.yaml" serial /dev/null >"$WORK/bad-$what.out" 2>&1 && echo 0 >"$WORK/bad-$what.st" ||
    echo $? >"$WORK/bad-$what.st"
done
check "a gateway certificate without serverAuth: the station does not start (exit 2), says why" \
  sh -c "grep -qx 2 '$WORK/bad-no-server-auth.st' && grep -q 'gateway-certificate\|not for a TLS server' '$WORK/bad-no-server-auth.out' && grep -q 'lacks serverAuth' '$WORK/bad-no-server-auth.out'"
check "a gateway certificate without a DNS name: refused, gateway.url suggested" \
  sh -c "grep -qx 2 '$WORK/bad-no-dns.st' && grep -q 'no DNS subjectAltName.*set gateway.url' '$WORK/bad-no-dns.out'"
check "a gateway certificate from another root: refused" \
  sh -c "grep -qx 2 '$WORK/bad-other-root.st' && grep -q 'does not chain to the factory root' '$WORK/bad-other-root.out'"
sed "s|certificate: $WORK/bad-no-dns.pem|certificate: $WORK/bad-no-dns.pem\n  url: https://gw.acme.test:$GW_PORT|" \
  "$WORK/bad-no-dns.yaml" >"$WORK/url.yaml"

# ============ one line of boards at once: plain keys, keys in a token, a board two days behind
U_OLD=$(uuid) U_DASH=$(uuid) U_BB=$(uuid) U_P11D=$(uuid) U_P11B=$(uuid) U_LATE=$(uuid) U_LATEB=$(uuid)
# the boards' secure elements: one SoftHSM token "aktualizr" each, the key made as lmp-device-register does
# (label tls, id 01); one token store per board (each board has its own element)
for b in p11d p11b; do
  mkdir -p "$WORK/$b-se/tokens"
  printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$WORK/$b-se/tokens" \
    >"$WORK/$b-se/softhsm2.conf"
  SOFTHSM2_CONF=$WORK/$b-se/softhsm2.conf softhsm2-util --init-token --free --label aktualizr --pin 1111 \
    --so-pin 22222222 >/dev/null
  SOFTHSM2_CONF=$WORK/$b-se/softhsm2.conf pkcs11-tool --module "$SOFTHSM_MODULE" --token-label aktualizr --login \
    --pin 1111 --keypairgen --key-type EC:prime256v1 --label tls --id 01 >/dev/null 2>&1
done
P11_URI='pkcs11:token=aktualizr;id=%01;type=private?pin-value=1111'
# a date(1) that records the clock it is asked to set instead of setting it
# (this shared machine's clock is not the test's to change); any other use is the real date
mkdir -p "$WORK/clockbin"
cat >"$WORK/clockbin/date" <<SHIM
#!/bin/sh
for a in "\$@"; do case \$a in -s|--set*) echo "\$*" >>'$WORK/clock-set'; exit 0 ;; esac; done
exec $(command -v date) "\$@"
SHIM
chmod +x "$WORK/clockbin/date"

LINE_T0=$(date +%s)
sim "a line of boards" \
  --cable "dash '$OLD_ENROLL' --tty \"\$BOARD_TTY\" --timeout 20 --factory $FACTORY --uuid $U_OLD --out '$WORK/old' >'$WORK/old.out' 2>&1; echo \$? >'$WORK/old.status'" \
  --cable "dash '$OLD_ENROLL' --tty \"\$BOARD_TTY\" --timeout 20 --factory other-factory --out '$WORK/old-err' >'$WORK/old-err.out' 2>&1; echo \$? >'$WORK/old-err.status'" \
  --cable "$(cable dash dash --factory "$FACTORY" --uuid "$U_DASH" --out "$WORK/dash/sota")" \
  --cable "$(cable bb busybox --factory "$FACTORY" --uuid "$U_BB" --out "$WORK/bb/sota")" \
  --cable "SOFTHSM2_CONF='$WORK/p11d-se/softhsm2.conf' $(cable p11d dash --factory "$FACTORY" --uuid "$U_P11D" \
             --out "$WORK/p11d/sota" --pkcs11-uri "'$P11_URI'")" \
  --cable "SOFTHSM2_CONF='$WORK/p11b-se/softhsm2.conf' $(cable p11b busybox --factory "$FACTORY" --uuid "$U_P11B" \
             --out "$WORK/p11b/sota" --pkcs11-uri "'$P11_URI'")" \
  --cable "faketime -f -2d $(cable late busybox --factory "$FACTORY" --uuid "$U_LATE" --out "$WORK/late/sota")" \
  --cable "PATH='$WORK/clockbin':\$PATH faketime -f -2d $(cable lateb dash --factory "$FACTORY" --uuid "$U_LATEB" \
             --out "$WORK/lateb/sota" --set-clock)" \
  -- "$STATION" serial

LINE_T1=$(date +%s)
check "the station says which gateway it tells boards" \
  grep -q "boards are told their device gateway: https://$GW_NAME:8443" "$PORTS/station.log"

# the script of release 0.1.0 ignores the header lines
check "0.1.0 script: exit 0, its certificate verifies and is for its key" \
  sh -c "grep -qx 0 '$WORK/old.status' && grep -q 'enrolled $U_OLD' '$WORK/old.out' &&
    openssl verify -CAfile '$WORK/pki/factory_ca.pem' -untrusted '$WORK/pki/local-ca.pem' '$WORK/old/client.pem' &&
    [ \"\$(openssl x509 -in '$WORK/old/client.pem' -noout -pubkey)\" = \"\$(openssl pkey -in '$WORK/old/pkey.pem' -pubout)\" ]"
check "0.1.0 script: a refusal is exit 2 with the station's reason, no header line in it" \
  sh -c "grep -qx 2 '$WORK/old-err.status' && grep -q '^station-enroll: the station refused: wrong-factory the OU is \"other-factory\"' '$WORK/old-err.out' && ! grep -q 'Request-SHA256\|Time:' '$WORK/old-err.out'"
board_ok dash "$WORK/dash/sota" "$U_DASH"
board_ok bb "$WORK/bb/sota" "$U_BB"

# --- keys in the boards' secure elements
p11_ok() {
  local name=$1 d=$2 id=$3 conf=$4
  local t="SOFTHSM2_CONF=$conf pkcs11-tool --module $SOFTHSM_MODULE --token-label aktualizr --login --pin 1111"
  check "$name: exit 0" grep -qx 0 "$WORK/$name.status"
  check "$name: no key file" test ! -e "$d/pkey.pem"
  check "$name: sota.toml parses with factory-registration-ref's sections and keys" sota_toml_ok "$d"
  check "$name: sota.toml takes key and certificate from the token ([tls] pkcs11, [import] without their paths)" \
    sh -c "[ \"\$(python3 -c 'import sys, tomllib; t = tomllib.load(open(sys.argv[1], \"rb\")); print(t[\"tls\"][\"pkey_source\"], t[\"tls\"][\"cert_source\"], \"tls_pkey_path\" in t[\"import\"], \"tls_clientcert_path\" in t[\"import\"])' '$d/sota.toml')\" = 'pkcs11 pkcs11 False False' ]"
  check "$name: [p11] module, pass, label, tls_pkey_id 01, tls_clientcert_id 03 (lmp-device-register's ids)" \
    test "$(toml "$d/sota.toml" p11.module) $(toml "$d/sota.toml" p11.pass) $(toml "$d/sota.toml" p11.label) $(toml "$d/sota.toml" p11.tls_pkey_id) $(toml "$d/sota.toml" p11.tls_clientcert_id)" = \
      "$SOFTHSM_MODULE 1111 aktualizr 01 03"
  check "$name: sota.toml holds the token PIN: mode 0600" test "$(stat -c %a "$d/sota.toml")" = 600
  eval "$t --read-object --type cert --id 03 -o '$WORK/$name-token.der'" >/dev/null 2>&1 || true
  check "$name: the token holds the certificate at id 03 ..." \
    cmp "$WORK/$name-token.der" <(openssl x509 -in "$d/client.pem" -outform DER)
  check "$name: ... labelled \"client\"" \
    sh -c "$t --list-objects --type cert 2>/dev/null | grep -q 'label: *client'"
  check "$name: the certificate is for the token's key (id 01)" \
    cmp <(openssl x509 -in "$d/client.pem" -noout -pubkey) \
        <(eval "$t --read-object --type pubkey --id 01" 2>/dev/null | openssl pkey -pubin -inform DER -pubout)
  check "$name: it verifies to the factory root" verify_device_cert "$d/client.pem"
  # the gateway, with the certificate read out of the token and the key used inside it (pkcs11 engine)
  openssl x509 -inform DER -in "$WORK/$name-token.der" -out "$WORK/$name-token.pem"
  printf 'GET / HTTP/1.0\r\nHost: %s\r\n\r\n' "$GW_NAME" |
    SOFTHSM2_CONF=$conf timeout 20 openssl s_client -quiet -engine pkcs11 -keyform engine \
      -key "pkcs11:token=$(toml "$d/sota.toml" p11.label);id=%$(toml "$d/sota.toml" p11.tls_pkey_id);type=private?pin-value=$(toml "$d/sota.toml" p11.pass)" \
      -cert "$WORK/$name-token.pem" -CAfile "$(toml "$d/sota.toml" import.tls_cacert_path)" -verify_return_error \
      -servername "$GW_NAME" -verify_hostname "$GW_NAME" -connect "127.0.0.1:$GW_PORT" >"$WORK/$name-gw.out" 2>"$WORK/$name-gw.err" || true
  check "$name: the gateway accepts the board (key in the token, certificate from the token, root from sota.toml) and sees CN=$id" \
    sh -c "grep -q 'HTTP/1.1 200' '$WORK/$name-gw.out' && grep -q 'CN=$id' '$WORK/$name-gw.out' || cat '$WORK/$name-gw.out' '$WORK/$name-gw.err'"
}
p11_ok p11d "$WORK/p11d/sota" "$U_P11D" "$WORK/p11d-se/softhsm2.conf"
p11_ok p11b "$WORK/p11b/sota" "$U_P11B" "$WORK/p11b-se/softhsm2.conf"

# --- two days behind
board_ok late "$WORK/late/sota" "$U_LATE"
check "late: it warns that the board's clock is off the station's, and why it matters" \
  grep -q "warning: this board's clock .* is -17[0-9][0-9][0-9][0-9] s off the station's .*set it (--set-clock" "$WORK/late.out"
check "late: a board that keeps that clock is refused by the gateway (its certificate is not yet valid there)" \
  sh -c "! faketime -f -2d sh -c 'curl -sS --fail --max-time 20 --connect-to $GW_NAME:8443:127.0.0.1:$GW_PORT --cacert $WORK/late/sota/root.crt \
    --cert $WORK/late/sota/client.pem --key $WORK/late/sota/pkey.pem https://$GW_NAME:8443/' 2>'$WORK/late-curl.err' &&
    grep -qi 'not yet valid\|certificate' '$WORK/late-curl.err'"
board_ok lateb "$WORK/lateb/sota" "$U_LATEB"
check "lateb: --set-clock asks date to set the station's time (between the run's start and end)" \
  sh -c "t=\$(sed -n 's/^-u -s @\\([0-9]*\\)\$/\\1/p' '$WORK/clock-set'); [ -n \"\$t\" ] && [ \"\$t\" -ge $LINE_T0 ] && [ \"\$t\" -le $LINE_T1 ] || cat '$WORK/clock-set'"
check "lateb: it says it set the clock, and gives no skew warning" \
  sh -c "grep -q 'board clock set to the station' '$WORK/lateb.out' && ! grep -q 'warning: this board' '$WORK/lateb.out'"

# ============ no machine id: the random device id is kept next to the key; the retry gets the same certificate
: >"$WORK/empty-machine-id"
NOID="unshare -m sh -c 'mount --bind $WORK/empty-machine-id /etc/machine-id && \
  $(cable noid busybox --factory "$FACTORY" --out "$WORK/noid/sota" | sed "s/'/'\\\\''/g")'"
sim "no machine id" --cable "$NOID" -- "$STATION" serial
NOID_ID=$(cat "$WORK/noid/sota/device-id" 2>/dev/null || true)
check "no machine id: exit 0, the random id made is kept in device-id" \
  sh -c "grep -qx 0 '$WORK/noid.status' && grep -q 'no machine id: device id $NOID_ID made and kept' '$WORK/noid.out'"
board_ok noid "$WORK/noid/sota" "$NOID_ID"
cp "$WORK/noid/sota/client.pem" "$WORK/noid-first.pem"
# run again without --force: it stops before it touches the line (no station needed)
unshare -m sh -c "mount --bind '$WORK/empty-machine-id' /etc/machine-id && dash '$ENROLL' --tty /dev/null \
  --factory $FACTORY --out '$WORK/noid/sota' >'$WORK/noid2.out' 2>&1; echo \$? >'$WORK/noid2.status'"
check "no machine id, run again without --force: exit 6, the registration is kept" \
  sh -c "grep -qx 6 '$WORK/noid2.status' && grep -q 'already holds a registration' '$WORK/noid2.out' && cmp '$WORK/noid/sota/client.pem' '$WORK/noid-first.pem'"
NOID="unshare -m sh -c 'mount --bind $WORK/empty-machine-id /etc/machine-id && \
  $(cable noid3 dash --factory "$FACTORY" --out "$WORK/noid/sota" --force | sed "s/'/'\\\\''/g")'"
sim "no machine id, again with --force" --cable "$NOID" -- "$STATION" serial
check "no machine id, retried with --force: exit 0 with the same device id" \
  sh -c "grep -qx 0 '$WORK/noid3.status' && grep -q 'enrolled $NOID_ID' '$WORK/noid3.out'"
check "no machine id, retried: the same certificate" cmp "$WORK/noid/sota/client.pem" "$WORK/noid-first.pem"
check "no machine id, retried: one certificate issued for that device in the journal" \
  test "$(awk -v d="$NOID_ID" '$3 == "issued" && $5 == d' "$WORK/journal/journal.log" | wc -l)" = 1
check "no machine id, retried: the gateway accepts it as CN=$NOID_ID" gateway_sees_device "$WORK/noid/sota" "$NOID_ID"

# ============ a stale answer waiting on the line: another board's request was answered before the script ran
U_STALE=$(uuid) U_OTHER=$(uuid)
make_key "$WORK/other.key"
make_csr "$WORK/other.csr" "$WORK/other.key" "$(device_subject "$U_OTHER")"
STALE="exec 4<>\"\$BOARD_TTY\"; stty raw -echo <&4; cat '$WORK/other.csr' >&4; sleep 2; \
$(cable stale dash --factory "$FACTORY" --uuid "$U_STALE" --out "$WORK/stale/sota")"
sim "a stale answer on the line" --cable "$STALE" -- "$STATION" serial
check "stale: the other request was answered (its certificate journaled) before the script ran" \
  test "$(awk -v d="$U_OTHER" '$3 == "issued" && $5 == d' "$WORK/journal/journal.log" | wc -l)" = 1
board_ok stale "$WORK/stale/sota" "$U_STALE"

# ============ junk before the answer, and kernel log lines inside the CSR (a console UART)
U_JUNK=$(uuid) U_KMSG=$(uuid) U_KMSG3=$(uuid)
sim "a noisy line" \
  --cable "python3 '$RELAY' \"\$BOARD_TTY\" --junk -- sh -c \"$(cable junk dash --factory "$FACTORY" --uuid "$U_JUNK" --out "$WORK/junk/sota" | sed 's/["$\\]/\\&/g')\"" \
  --cable "python3 '$RELAY' \"\$BOARD_TTY\" --junk -- sh -c \"dash '$OLD_ENROLL' --tty \\\"\\\$BOARD_TTY\\\" --timeout 20 --factory $FACTORY --out '$WORK/oldjunk' >'$WORK/oldjunk.out' 2>&1; echo \\\$? >'$WORK/oldjunk.status'\"" \
  --cable "python3 '$RELAY' \"\$BOARD_TTY\" --kmsg 1 -- sh -c \"$(cable kmsg busybox --factory "$FACTORY" --uuid "$U_KMSG" --out "$WORK/kmsg/sota" | sed 's/["$\\]/\\&/g')\"" \
  --cable "python3 '$RELAY' \"\$BOARD_TTY\" --kmsg 9 -- sh -c \"$(cable kmsg3 dash --factory "$FACTORY" --uuid "$U_KMSG3" --out "$WORK/kmsg3/sota" | sed 's/["$\\]/\\&/g')\"" \
  -- "$STATION" serial
board_ok junk "$WORK/junk/sota" "$U_JUNK"
check "junk: the 0.1.0 script, GNU grep seeing the same junk, did not enroll (what the fix is for)" \
  sh -c "[ \"\$(cat '$WORK/oldjunk.status')\" -ne 0 ] && [ ! -e '$WORK/oldjunk/client.pem' ]"
board_ok kmsg "$WORK/kmsg/sota" "$U_KMSG"
check "kmsg: the garbled request was sent again (not-a-csr), then enrolled" \
  grep -q "the station got a garbled request (not-a-csr); sending it again (attempt 2 of 3)" "$WORK/kmsg.out"
check "kmsg every time: exit 5 after 3 attempts, with the advice for console UARTs" \
  sh -c "grep -qx 5 '$WORK/kmsg3.status' && grep -q 'could not read the request 3 times (not-a-csr.*dmesg -n 1' '$WORK/kmsg3.out'"
check "kmsg every time: nothing installed" test ! -e "$WORK/kmsg3/sota/client.pem"

# ============ the script SIGKILLed mid-exchange (the station's token is slow: the answer takes
# 5 s), nothing it started left running, then run again: the killed request's answer arrives
# during the second run and is skipped; the second run gets the same certificate
export SLOW_TOKEN_MODULE=$SOFTHSM_MODULE SLOW_TOKEN_DELAY_MS=5000
sed -e "s|module: .*|module: $SLOW|" "$WORK/station.yaml" >"$WORK/slow.yaml"
U_KILL=$(uuid)
KILL="setsid $(cable kill1 dash --factory "$FACTORY" --uuid "$U_KILL" --out "$WORK/kill/sota" | sed 's/; echo .*//') &
pid=\$!; i=0; while [ \$i -lt 200 ] && ! ls '$WORK/kill/sota'/.enroll.*/csr.pem >/dev/null 2>&1; do sleep 0.05; i=\$((i + 1)); done;
sleep 0.5; sid=\$(ps -o sid= -p \$pid | tr -d ' '); kill -KILL \$pid; sleep 0.4;
ps -eo sid=,stat=,pid=,args= | awk -v s=\"\$sid\" '\$1 == s && \$2 !~ /^Z/' >'$WORK/kill-left'; echo \"\$sid\" >'$WORK/kill-sid';
$(cable kill2 dash --factory "$FACTORY" --uuid "$U_KILL" --out "$WORK/kill/sota")"
sim "the script killed mid-exchange" --cable "$KILL" -- "$STATION" -c "$WORK/slow.yaml" serial
check "killed: the script had a session of its own, and nothing of it is left running" \
  sh -c "[ -s '$WORK/kill-sid' ] && [ ! -s '$WORK/kill-left' ] || cat '$WORK/kill-left'"
check "killed, run again: the killed request's answer was skipped" \
  grep -q "skipped an answer to another request (OK" "$WORK/kill2.out"
board_ok kill2 "$WORK/kill/sota" "$U_KILL"
check "killed, run again: one certificate issued for that device (the second request got it back)" \
  test "$(awk -v d="$U_KILL" '$3 == "issued" && $5 == d' "$WORK/journal/journal.log" | wc -l)" = 1

# ============ without a gateway configured: the certificates as before, no sota.toml, a warning
write_config "$WORK/nogw.yaml"
U_NOGW=$(uuid)
sim "no gateway configured" --cable "$(cable nogw dash --factory "$FACTORY" --uuid "$U_NOGW" --out "$WORK/nogw/sota")" \
  -- "$STATION" -c "$WORK/nogw.yaml" serial
check "no gateway: the station says so at start" grep -q "no gateway configured (gateway.certificate)" "$PORTS/station.log"
check "no gateway: exit 0, certificates installed" \
  sh -c "grep -qx 0 '$WORK/nogw.status' && [ -s '$WORK/nogw/sota/client.pem' ]"
check "no gateway: no sota.toml, and it says why" \
  sh -c "[ ! -e '$WORK/nogw/sota/sota.toml' ] && grep -q 'names no device gateway.*no sota.toml was written' '$WORK/nogw.out'"

# ============ gateway.url instead of the certificate's name (the port the test's nginx listens on)
U_URL=$(uuid)
sed "s|certificate: $WORK/pki/tls-crt|certificate: $WORK/pki/tls-crt\n  url: https://$GW_NAME:$GW_PORT|" \
  "$WORK/station.yaml" >"$WORK/withurl.yaml"
sim "gateway.url" --cable "$(cable url busybox --factory "$FACTORY" --uuid "$U_URL" --out "$WORK/url/sota")" \
  -- "$STATION" -c "$WORK/withurl.yaml" serial
check "gateway.url: sota.toml's server is the configured URL" \
  test "$(toml "$WORK/url/sota/sota.toml" tls.server)" = "https://$GW_NAME:$GW_PORT"
check "gateway.url: the gateway accepts the board (curl --resolve name:port:127.0.0.1, files from sota.toml)" \
  sh -c "curl -sS --fail --max-time 20 --resolve $GW_NAME:$GW_PORT:127.0.0.1 --cacert '$(toml "$WORK/url/sota/sota.toml" import.tls_cacert_path)' \
    --cert '$(toml "$WORK/url/sota/sota.toml" import.tls_clientcert_path)' --key '$(toml "$WORK/url/sota/sota.toml" import.tls_pkey_path)' \
    '$(toml "$WORK/url/sota/sota.toml" tls.server)/' | grep -q 'CN=$U_URL'"
mkdir -p "$WORK/empty-batch/csr"
check "a gateway certificate without a DNS name is fine with gateway.url (the station starts: sign exits 0)" \
  "$STATION" -q -c "$WORK/url.yaml" sign "$WORK/empty-batch"
check "every station run ($SIM_RUNS) served its boards and stopped, with no sanitizer report or crash" \
  sh -c "n=\$(grep -c '^station: stopped' '$WORK/stations.log'); [ \"\$n\" = $SIM_RUNS ] || echo \"\$n stopped\";
    [ \"\$n\" = $SIM_RUNS ] && ! grep -i -e AddressSanitizer -e LeakSanitizer -e 'runtime error' -e Segmentation '$WORK/stations.log'"
finish
