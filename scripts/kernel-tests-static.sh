#!/usr/bin/env bash
# Builds, as static binaries that run on any x86-64 Linux without tern's packages, to
# check ISAs this machine lacks (AVX-VNNI, AVX-512) on another one:
#   build/kernel_tests  the Xbyak mad and lut kernel tests;
#   build/aot_tests     the x86 kernel library that `tern gen` compiles with LLVM for a
#                       Sapphire Rapids (AVX2, AVX-VNNI, AVX-512 VNNI; mad and lut), each
#                       kernel the CPU runs checked against the reference (test_aot_library).
# Needs a configured build (scripts/build.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
B=${TERN_BUILD_DIR:-build}
cmake --build "$B" --target tern_tuner tern_jit_x86 >/dev/null
g++ -static -O2 -std=c++20 -ffp-contract=off -I. -DTERN_TEST_DATA_DIR='"/nonexistent"' -DTERN_BINARY='"/bin/false"' \
  tests/unit/test_mad_kernels.cpp tests/unit/test_lut_kernels.cpp \
  "$B"/tuner/libtern_tuner.a "$B"/jit/x86/libtern_jit_x86.a "$B"/runtime/libtern_dispatch.a \
  "$B"/runtime/libtern_threads.a "$B"/runtime/libtern_ref.a "$B"/runtime/libtern_core.a \
  -lgtest_main -lgtest -lpthread -o "$B"/kernel_tests 2> >(grep -v -e getaddrinfo -e 'in function' >&2)
cmake --build "$B" --target tern_aot_x86_library tern_dispatch tern_ref tern_core tern_threads >/dev/null
g++ -static -O2 -std=c++20 -ffp-contract=off -I. -Itests/unit -I"$B"/tests/aot-x86 -DTERN_HAVE_AOT=1 \
  tests/unit/test_aot_library.cpp "$B"/tests/aot-x86/libtern_kernels.a \
  "$B"/runtime/libtern_dispatch.a "$B"/runtime/libtern_threads.a "$B"/runtime/libtern_ref.a "$B"/runtime/libtern_core.a \
  -lgtest_main -lgtest -lpthread -o "$B"/aot_tests 2> >(grep -v -e getaddrinfo -e 'in function' >&2)
echo "$B/kernel_tests, $B/aot_tests: copy them to the other machine and run them"
