#!/usr/bin/env bash
# End-to-end: a real mutual-TLS handshake, as the device gateway does it.
# openssl s_server holds a server certificate from the factory root and trusts
# the local CA for clients; curl presents an issued certificate and its key.
. "$(dirname "$0")/lib.sh"
make_pki
B=$WORK/stick; mkdir -p "$B/csr"
make_key "$WORK/dev.key"
make_csr "$B/csr/dev.csr" "$WORK/dev.key" "$(device_subject "$(uuid)")"
"$STATION" -q sign "$B" >/dev/null
# the gateway's server certificate (tls-crt), signed by the factory root
openssl ecparam -genkey -name prime256v1 -noout -out "$WORK/gw.key" 2>/dev/null
openssl req -new -key "$WORK/gw.key" -subj "/CN=localhost" -out "$WORK/gw.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n' >"$WORK/gw.ext"
openssl x509 -req -in "$WORK/gw.csr" -CA "$WORK/pki/factory_ca.pem" -CAkey "$WORK/pki/factory_ca.key" \
  -CAcreateserial -days 30 -extfile "$WORK/gw.ext" -out "$WORK/gw.pem" 2>/dev/null
# a device certificate from a CA the gateway does not trust
openssl ecparam -genkey -name prime256v1 -noout -out "$WORK/rogue-ca.key" 2>/dev/null
openssl req -new -x509 -key "$WORK/rogue-ca.key" -subj "/CN=rogue/OU=$FACTORY" -days 30 -out "$WORK/rogue-ca.pem"
openssl x509 -req -in "$B/csr/dev.csr" -CA "$WORK/rogue-ca.pem" -CAkey "$WORK/rogue-ca.key" -CAcreateserial \
  -days 30 -out "$WORK/rogue.pem" 2>/dev/null

# the gateway on a port the kernel says is free (another test may take it
# between the look and the bind: then a new port, up to three times)
SERVER=""
trap 'kill $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in 1 2 3; do
  PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  openssl s_server -quiet -accept "127.0.0.1:$PORT" -cert "$WORK/gw.pem" -key "$WORK/gw.key" \
    -CAfile "$WORK/pki/ca-bundle.pem" -Verify 2 -verify_return_error -www >"$WORK/server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break 2
    kill -0 "$SERVER" 2>/dev/null || break
    sleep 0.1
  done
  kill "$SERVER" 2>/dev/null
done
check "curl with the issued certificate completes the mutual-TLS handshake" \
  curl -sS --fail --max-time 10 --cacert "$WORK/pki/factory_ca.pem" --cert "$B/certs/dev.pem" --key "$WORK/dev.key" \
  --resolve "localhost:$PORT:127.0.0.1" "https://localhost:$PORT/"
check "the same with the chain (client.chained)" sh -c "cat '$B/certs/dev.pem' '$WORK/pki/local-ca.pem' >'$WORK/chained.pem' && curl -sS --fail --max-time 10 --cacert '$WORK/pki/factory_ca.pem' --cert '$WORK/chained.pem' --key '$WORK/dev.key' --resolve 'localhost:$PORT:127.0.0.1' 'https://localhost:$PORT/' >/dev/null"
check "a certificate from an untrusted CA is turned away" sh -c "! curl -sS --max-time 10 --cacert '$WORK/pki/factory_ca.pem' --cert '$WORK/rogue.pem' --key '$WORK/dev.key' --resolve 'localhost:$PORT:127.0.0.1' 'https://localhost:$PORT/' >/dev/null 2>&1"
check "no client certificate is turned away" sh -c "! curl -sS --max-time 10 --cacert '$WORK/pki/factory_ca.pem' --resolve 'localhost:$PORT:127.0.0.1' 'https://localhost:$PORT/' >/dev/null 2>&1"
finish
