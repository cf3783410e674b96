#!/usr/bin/env bash
# Installs what tern needs to build and test on Debian 12 (run as root, or with sudo present).
# Installs only what is missing, so a second run is quick. Usage: scripts/setup.sh [extra packages...]
set -euo pipefail

PACKAGES=(
  g++ cmake ninja-build ccache pkg-config git
  libxbyak-dev nlohmann-json3-dev libboost-program-options-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  llvm-14-dev libzstd-dev libpcre2-dev
  python3
)
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
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
