#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test (ctest). This is what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh
cd "${TERN_BUILD_DIR:-build}"
ctest --output-on-failure -j "$(nproc)" --timeout 600
