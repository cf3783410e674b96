#!/usr/bin/env bash
# Builds build/kernel_tests: the mad and lut kernel tests as one static binary that
# runs on any x86-64 Linux without tern's packages, to check ISAs this machine lacks
# (AVX-VNNI, AVX-512) on another one. Needs a configured build (scripts/build.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
B=${TERN_BUILD_DIR:-build}
cmake --build "$B" --target tern_tuner tern_jit_x86 >/dev/null
g++ -static -O2 -std=c++20 -ffp-contract=off -I. -DTERN_TEST_DATA_DIR='"/nonexistent"' -DTERN_BINARY='"/bin/false"' \
  tests/unit/test_mad_kernels.cpp tests/unit/test_lut_kernels.cpp \
  "$B"/tuner/libtern_tuner.a "$B"/jit/x86/libtern_jit_x86.a "$B"/runtime/libtern_dispatch.a \
  "$B"/runtime/libtern_threads.a "$B"/runtime/libtern_ref.a "$B"/runtime/libtern_core.a \
  -lgtest_main -lgtest -lpthread -o "$B"/kernel_tests 2> >(grep -v -e getaddrinfo -e 'in function' >&2)
echo "$B/kernel_tests: copy it to the other machine and run it"
