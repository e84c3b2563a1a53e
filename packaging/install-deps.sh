#!/usr/bin/env bash
# install-deps.sh - installs the Debian 12 packages the station needs to build,
# run its demo and run its tests. Installs only what is missing; needs root
# (or sudo) only when something is missing.
set -eu
PACKAGES=(
  build-essential cmake pkg-config          # toolchain
  libssl-dev libp11-dev libyaml-dev libncurses-dev   # the station's libraries
  openssl softhsm2 opensc                   # a software token and its tools
  libcmocka-dev libengine-pkcs11-openssl libp11-kit-dev curl python3 tmux procps time clang libclang-rt-14-dev   # the tests
  libfuse3-dev fuse3                        # the tests: a USB stick pulled out mid-batch (tests/stick/)
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
