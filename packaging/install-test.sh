#!/usr/bin/env bash
# install-test.sh DEB - installs the station's package into a fresh Debian 12
# root and runs it there, as a factory IT person would on a new station PC:
#   1. a fresh root: a debootstrap --variant=minbase bookworm, built once and
#      kept as a tarball in $STATION_TEST_CACHE (default
#      /var/cache/station-tests), unpacked anew for every run;
#   2. `apt-get install ./station_*.deb` in it (chroot): the Depends must pull
#      in every library the program needs from Debian's archive;
#   3. what postinst made: the system user in its groups, its home
#      /var/lib/station (0750), the conffile;
#   4. the key ceremony on a SoftHSM token in that root, as the station user
#      with the installed /etc/station/station.yaml, then `station selftest`,
#      a signed CSR and `station journal verify`;
#   5. remove and purge: the program and conffile go, the journal stays.
# Needs root (debootstrap, chroot) and Debian's archive (apt's own mirror, as in
# /etc/apt/sources.list*). Where either is missing it says so and exits 77.
# Prints "N passed, M failed"; exits non-zero on any failure.
set -eu
DEB=$(cd "$(dirname "${1:?usage: install-test.sh station_VERSION_ARCH.deb}")" && pwd)/$(basename "$1")
CACHE=${STATION_TEST_CACHE:-/var/cache/station-tests}
SUITE=bookworm
MIRROR=${STATION_TEST_MIRROR:-http://deb.debian.org/debian}
skip() { echo "SKIP: install test: $*"; exit 77; }

[ "$(id -u)" = 0 ] || skip "needs root for debootstrap and chroot (run as root, or: sudo $0 $*)"
command -v debootstrap >/dev/null || skip "debootstrap is not installed (bash packaging/install-deps.sh --test)"
[ -f "$DEB" ] || { echo "install-test: no package $DEB" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/station-install.XXXXXX")
R=$WORK/root
cleanup() { [ "${KEEP_WORK:-0}" = 1 ] || rm -rf --one-file-system "$WORK"; }
trap cleanup EXIT
. "$(dirname "$0")/../tests/e2e/check.sh"
in_root() { chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }

# --- 1. a fresh Debian root
BASE=$CACHE/$SUITE-minbase.tar
if [ ! -s "$BASE" ]; then
  echo "install-test: making a fresh $SUITE root with debootstrap (once; kept in $BASE)"
  mkdir -p "$CACHE"
  B=$WORK/base
  if ! debootstrap --variant=minbase "$SUITE" "$B" "$MIRROR" >"$WORK/debootstrap.log" 2>&1; then
    tail -5 "$WORK/debootstrap.log"
    skip "debootstrap $SUITE from $MIRROR failed (no archive reachable?)"
  fi
  chroot "$B" apt-get update -qq >"$WORK/update.log" 2>&1 || { tail -5 "$WORK/update.log"; skip "apt-get update in the new root failed"; }
  chroot "$B" apt-get clean
  tar -C "$B" -cf "$BASE.tmp" . && mv "$BASE.tmp" "$BASE"
  rm -rf --one-file-system "$B"
fi
mkdir -p "$R"
tar -C "$R" -xf "$BASE"
echo "install-test: fresh $SUITE root in $R (from $BASE)"

# --- 2. the package, its Depends resolved by apt from the archive. SoftHSM
# comes first, as on a station PC that uses it: postinst then puts the user in
# its group.
cp "$DEB" "$R/tmp/"
if ! in_root apt-get install -y -qq --no-install-recommends softhsm2 openssl >"$WORK/apt1.log" 2>&1; then
  in_root apt-get update -qq >/dev/null 2>&1 || { tail -5 "$WORK/apt1.log"; skip "apt cannot reach Debian's archive from the root"; }
  in_root apt-get install -y -qq --no-install-recommends softhsm2 openssl >"$WORK/apt1.log" 2>&1 ||
    { tail -5 "$WORK/apt1.log"; skip "apt cannot install softhsm2 in the root"; }
fi
check "apt-get install ./$(basename "$DEB") resolves its Depends in a fresh root" \
  in_root apt-get install -y --no-install-recommends "/tmp/$(basename "$DEB")"
check "the package is installed" sh -c "chroot '$R' dpkg-query -W -f='\${Status}' station | grep -qx 'install ok installed'"
check "station --version runs with the libraries the Depends brought" sh -c "chroot '$R' /usr/bin/station --version | grep -q '^station '"
check "ldd finds every library" sh -c "! chroot '$R' ldd /usr/bin/station | grep -q 'not found'"
check "man pages station(1) and station.yaml(5)" sh -c "[ -s '$R/usr/share/man/man1/station.1.gz' ] && [ -s '$R/usr/share/man/man5/station.yaml.5.gz' ]"

# --- 3. what postinst made
check "system user station, home /var/lib/station, no login shell" \
  sh -c "grep -q '^station:x:[0-9]*:[0-9]*:[^:]*:/var/lib/station:/usr/sbin/nologin\$' '$R/etc/passwd'"
check "the user is a system user (uid < 1000)" sh -c "[ \$(awk -F: '\$1 == \"station\" {print \$3}' '$R/etc/passwd') -lt 1000 ]"
check "station is in dialout (serial adapters) and softhsm (the token store)" \
  sh -c "grep -q '^dialout:.*[:,]station\\(,\\|\$\\)' '$R/etc/group' && grep -q '^softhsm:.*[:,]station\\(,\\|\$\\)' '$R/etc/group'"
check "/var/lib/station is station's, mode 0750" \
  sh -c "[ \"\$(chroot '$R' stat -c '%U:%G %a' /var/lib/station)\" = 'station:station 750' ]"
check "/etc/station/station.yaml is a conffile" \
  sh -c "chroot '$R' dpkg-query -W -f='\${Conffiles}' station | grep -q '/etc/station/station.yaml'"
check "units and udev rule installed" sh -c "[ -f '$R/lib/systemd/system/station-serial.service' ] && [ -f '$R/lib/systemd/system/station-console@.service' ] && [ -f '$R/lib/udev/rules.d/60-station-serial.rules' ]"
check "the stick rule, its helper (executable) and the polkit rule installed" sh -c "[ -f '$R/lib/udev/rules.d/61-station-stick.rules' ] && [ -x '$R/usr/lib/station/station-stick-mount' ] && [ -f '$R/usr/share/polkit-1/rules.d/50-station-stick.rules' ]"
check "installing again (dpkg -i over itself) keeps everything" in_root dpkg -i "/tmp/$(basename "$DEB")"

# --- 4. the key ceremony and selftest in the root, as the station user
ST_UID=$(awk -F: '$1 == "station" {print $3}' "$R/etc/passwd")
ST_GID=$(awk -F: '$1 == "station" {print $4}' "$R/etc/passwd")
ST_GROUPS=$(awk -F: -v u=station '$4 ~ "(^|,)" u "(,|$)" {printf "%s%s", s, $3; s = ","}' "$R/etc/group")
as_station() {
  chroot --userspec="$ST_UID:$ST_GID" --groups="$ST_GROUPS" "$R" \
    env -i PATH=/usr/bin:/bin HOME=/var/lib/station LANG=C.UTF-8 "$@"
}
openssl ecparam -genkey -name prime256v1 -noout -out "$WORK/factory_ca.key" 2>/dev/null
openssl req -new -x509 -key "$WORK/factory_ca.key" -days 7300 -subj "/CN=Factory-CA/OU=acme-factory" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out "$R/etc/station/factory_ca.pem" 2>/dev/null
check "the station user initialises a SoftHSM token in the default store" \
  as_station softhsm2-util --init-token --free --label station --pin 7319 --so-pin 12345678
printf '7319\n' >"$R/etc/station/pin"
chroot "$R" chown station:station /etc/station/pin
chmod 0400 "$R/etc/station/pin"
check "ca init with the installed configuration (no -c)" \
  as_station station ca init --cn fio-0123456789abcdef --out /var/lib/station/local-ca.csr
cp "$WORK/factory_ca.key" "$R/root/factory_ca.key"
check "ca certify by the factory root" in_root station --allow-root ca certify --csr /var/lib/station/local-ca.csr \
  --root-cert /etc/station/factory_ca.pem --root-key /root/factory_ca.key --out /etc/station/local-ca.pem
rm -f "$R/root/factory_ca.key"
check "ca show: healthy" as_station station ca show
as_station station selftest >"$WORK/selftest.out" 2>&1 || true
sed 's/^/    /' "$WORK/selftest.out"
check "station selftest: healthy, as the station user" sh -c "grep -q '^selftest: healthy' '$WORK/selftest.out'"
mkdir -p "$R/var/lib/station/stick/csr"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$WORK/device.key" \
  -subj "/CN=$(cat /proc/sys/kernel/random/uuid)/OU=acme-factory" -out "$R/var/lib/station/stick/csr/board.csr" 2>/dev/null
chroot "$R" chown -R station:station /var/lib/station/stick
check "station sign issues a device certificate" as_station station -q sign /var/lib/station/stick
check "it verifies against the factory root" openssl verify -CAfile "$R/etc/station/factory_ca.pem" \
  -untrusted "$R/etc/station/local-ca.pem" "$R/var/lib/station/stick/certs/board.pem"
check "journal verify: intact" as_station station journal verify
check "root without --allow-root is refused on the installed station (exit 2)" \
  sh -c "chroot '$R' env -i PATH=/usr/bin:/bin station journal verify >'$WORK/root.out' 2>&1; [ \$? = 2 ] && grep -q running-as-root '$WORK/root.out'"
check "the journal the station laid out is station's, mode 0700" \
  sh -c "[ \"\$(chroot '$R' stat -c '%U:%G %a' /var/lib/station/journal)\" = 'station:station 700' ]"
check "the journal's files are the station user's only" \
  sh -c "[ -z \"\$(find '$R/var/lib/station/journal' -perm /077 -o ! -user $ST_UID)\" ]"

# --- 5. remove and purge
check "dpkg --remove" in_root dpkg --remove station
check "the program is gone, the configuration stays" sh -c "[ ! -e '$R/usr/bin/station' ] && [ -f '$R/etc/station/station.yaml' ]"
check "dpkg --purge" in_root dpkg --purge station
check "purge removes the conffile" test ! -e "$R/etc/station/station.yaml"
check "purge keeps the journal (a record, archived by hand)" test -s "$R/var/lib/station/journal/journal.log"
check "purge keeps the user (files still belong to it)" grep -q '^station:' "$R/etc/passwd"

finish
