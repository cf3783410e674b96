#!/usr/bin/env bash
# Installs what tern needs to build and test on Debian 12 (run as root, or with sudo present).
# Installs only what is missing, so a second run is quick.
# Usage: scripts/setup.sh [--arm] [extra packages...]
#   --arm  also the aarch64 cross build (scripts/arm-test.sh): the cross compiler, qemu-user and the
#          arm64 builds of the libraries the runtime, CLI and tests link (Debian multiarch)
set -euo pipefail

ARM=0
if [ "${1:-}" = "--arm" ]; then ARM=1; shift; fi

PACKAGES=(
  g++ cmake ninja-build ccache pkg-config git
  libxbyak-dev nlohmann-json3-dev libboost-program-options-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  llvm-14-dev libzstd-dev libpcre2-dev
  python3
)
# Multi-Arch: same packages, so the arm64 ones sit beside the amd64 ones (same versions);
# the cross compiler searches /usr/lib/aarch64-linux-gnu and /usr/include/aarch64-linux-gnu.
ARM_PACKAGES=(
  g++-aarch64-linux-gnu qemu-user
  libboost-program-options-dev:arm64 libpcre2-dev:arm64 libgtest-dev:arm64
)
[ "$ARM" = 1 ] && PACKAGES+=("${ARM_PACKAGES[@]}")
PACKAGES+=("$@")

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
if [ "$ARM" = 1 ] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
  echo "setup: adding the arm64 architecture (dpkg multiarch)"
  $SUDO dpkg --add-architecture arm64
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
