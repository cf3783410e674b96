#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test (ctest). This is what CI runs.
# Then the aarch64 stage (TERN_ARM=0 skips it): scripts/arm-test.sh cross-builds the runtime, the
# CLI and the unit tests in build-arm64/ and runs them under qemu-aarch64, golden logits included.
# Then the sanitizer stages (TERN_SANITIZERS=0 skips them):
#   - every unit test again under ASan+UBSan, built in build-asan/;
#   - the thread pool and model-with-threads tests under TSan, built in build-tsan/;
#   - each libFuzzer target for TERN_FUZZ_SECONDS (default 30) s, built with clang in build-fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
ARM=${TERN_ARM:-1}
# One apt-get run for both builds when the aarch64 stage is on.
if [ "$ARM" = 0 ]; then ./scripts/setup.sh; else ./scripts/setup.sh --arm; fi
./scripts/build.sh
(cd "${TERN_BUILD_DIR:-build}" && ctest --output-on-failure -j "$(nproc)" --timeout 600)
stage() { echo "== $1 ($(date +%T))"; }

# aarch64: cross-built with Debian's g++-aarch64-linux-gnu, run under qemu-user. Builds only
# tern and the unit test binary (no x86 JIT, LLVM or benchmarks); prints its own wall time.
if [ "$ARM" != 0 ]; then
  stage "aarch64 cross build and tests under qemu (build-arm64)"
  ./scripts/arm-test.sh
fi

[ "${TERN_SANITIZERS:-1}" = 0 ] && exit 0
JOBS=${TERN_JOBS:-$(nproc)}

# ASan+UBSan (TERN_SANITIZE=ON) over the whole tree, then every unit test. JIT-emitted kernels
# are not instrumented (no compiler sees them); everything around them is. No benchmarks (CI
# never runs them); -g1 gives reports line numbers. TERN_ASAN_CTEST_ARGS adds ctest arguments
# (e.g. -E REGEX to leave out tests).
stage "ASan+UBSan build (build-asan)"
TERN_BUILD_DIR=build-asan ./scripts/build.sh -DTERN_SANITIZE=ON -DTERN_BUILD_BENCH=OFF \
  -DCMAKE_C_FLAGS=-g1 -DCMAKE_CXX_FLAGS=-g1
stage "ASan+UBSan unit tests"
(
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  # shellcheck disable=SC2086  # TERN_ASAN_CTEST_ARGS is split into arguments on purpose
  cd build-asan && ctest --output-on-failure -j "$(nproc)" --timeout 900 ${TERN_ASAN_CTEST_ARGS:-}
)

# TSan: only the threaded tests, from a binary of just those (tern_tsan_tests), so this third
# build compiles the runtime and the x86 JIT, not the CLI, tuner or LLVM parts.
stage "TSan build (build-tsan)"
cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=Release -DTERN_SANITIZE=thread -DTERN_BUILD_BENCH=OFF \
  -DCMAKE_C_FLAGS=-g1 -DCMAKE_CXX_FLAGS=-g1 >/dev/null
cmake --build build-tsan -j "$JOBS" --target tern_tsan_tests
stage "TSan tests"
# TSan needs the fixed memory layout; a kernel with high mmap randomisation breaks it unless
# ASLR is off for the process (setarch -R), where that is allowed.
norandom=()
setarch "$(uname -m)" -R true 2>/dev/null && norandom=(setarch "$(uname -m)" -R)
TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1} \
  "${norandom[@]}" build-tsan/tern_tsan_tests --gtest_filter='ThreadPool*:ModelKernels*'

stage "fuzz smoke runs"
./scripts/fuzz.sh all "${TERN_FUZZ_SECONDS:-30}"
stage "done"
