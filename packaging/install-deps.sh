#!/usr/bin/env bash
# install-deps.sh - installs the Debian 12 packages the station needs.
#
#   bash packaging/install-deps.sh          build the station and run its demo
#   bash packaging/install-deps.sh --test   the same, plus everything the test
#                                           suite uses (tests/run-all.sh calls this)
#   bash packaging/install-deps.sh --list [--test]
#                                           print the package names, one a line,
#                                           and install nothing
#
# The two sets are kept apart: RUNTIME_BUILD is what a build machine and the
# demo need; TEST adds the second PKCS#11 backend (tpm2-pkcs11 on swtpm), the
# package tools and the fresh Debian root of the install test, real USB-stick
# file systems (exFAT and FAT32 through FUSE), and the test drivers. A test that
# finds one of these missing fails under CI (tests/run-all.sh), so every
# package a test uses belongs here.
#
# Installs only what is missing; needs root (or sudo) only then.
set -eu

RUNTIME_BUILD=(
  build-essential cmake pkg-config                     # toolchain
  libssl-dev libp11-dev libp11-kit-dev libyaml-dev libncurses-dev libsqlite3-dev   # the station's libraries
  openssl softhsm2 opensc                              # the demo's software token and its tools
)
TEST=(
  libcmocka-dev                                        # unit tests
  libengine-pkcs11-openssl                             # openssl ca on the token (benchmarks, ceremony tests)
  curl python3 tmux procps time dash busybox acl sqlite3   # e2e drivers: console in tmux, board shells, ACL'd PIN files
  clang libclang-rt-14-dev                             # libFuzzer targets, sanitizer runtime
  libfuse3-dev fuse3                                   # a USB stick pulled out mid-batch (tests/stick/)
  exfat-fuse exfatprogs fusefat dosfstools             # real exFAT and FAT32 stick images
  swtpm swtpm-tools tpm2-abrmd libtpm2-pkcs11-1 libtss2-tcti-tabrmd0 dbus   # the tpm2 backend on a software TPM
  debootstrap lintian dpkg-dev fakeroot                # the .deb, lintian, its install into a fresh Debian root
  nginx-light faketime                                 # boards: a real mutual-TLS gateway, a board clock behind
  udev                                                 # udevadm: the stick-mount rule's syntax and matches
  nodejs                                               # evaluates the polkit rule (packaging/polkit/) in e2e.stick_mount
)

want_test=0
list_only=0
for arg in "$@"; do
  case "$arg" in
    --test) want_test=1 ;;
    --list) list_only=1 ;;
    *) echo "install-deps: unknown option $arg (--test, --list)" >&2; exit 2 ;;
  esac
done

packages=("${RUNTIME_BUILD[@]}")
[ "$want_test" = 1 ] && packages+=("${TEST[@]}")

if [ "$list_only" = 1 ]; then
  printf '%s\n' "${packages[@]}"
  exit 0
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
