#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang-14 in build-fuzz/ and runs one or all
# of them for SECONDS each. Exits non-zero when a target finds a crash, a sanitizer report,
# a violated property, a timeout or an out-of-memory; the input that did it is saved under
# build-fuzz/artifacts/TARGET/ and shown with the command that reproduces it.
#
#   scripts/fuzz.sh all 30                  # each target for 30 s (what CI runs)
#   scripts/fuzz.sh fuzz_gguf 600 -jobs=2   # extra arguments go to libFuzzer
#   build-fuzz/tests/fuzz/fuzz_gguf CRASH_FILE   # reproduce one finding
#
# Seeds come from tests/fuzz/corpus/TARGET/ (read only); inputs found along the way go to
# build-fuzz/corpus/TARGET/ and are reused by the next run. Environment: TERN_FUZZ_BUILD_DIR
# (default build-fuzz), TERN_JOBS (build parallelism, default nproc).
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=(fuzz_gguf fuzz_tokenizer fuzz_cache_json fuzz_kernel_name)
usage() { echo "usage: scripts/fuzz.sh TARGET|all [SECONDS=60] [libFuzzer args...]; targets: ${TARGETS[*]}" >&2; exit 2; }
[ $# -ge 1 ] || usage
which=$1
seconds=${2:-60}
shift $(( $# >= 2 ? 2 : 1 ))
[[ $seconds =~ ^[0-9]+$ && $seconds -gt 0 ]] || usage
if [ "$which" = all ]; then
  run=("${TARGETS[@]}")
else
  [[ " ${TARGETS[*]} " == *" $which "* ]] || usage
  run=("$which")
fi

# clang-14 and its runtime libraries (libclang_rt.fuzzer, asan, ubsan) on top of the usual set.
./scripts/setup.sh clang-14 libclang-rt-14-dev

BUILD_DIR=${TERN_FUZZ_BUILD_DIR:-build-fuzz}
JOBS=${TERN_JOBS:-$(nproc)}
# -O1 -g and no NDEBUG: asserts stay on, stacks stay readable. No LLVM, tests or benchmarks:
# the targets link only runtime libraries.
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Fuzz \
  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
  -DCMAKE_C_FLAGS_FUZZ="-O1 -g" -DCMAKE_CXX_FLAGS_FUZZ="-O1 -g" \
  -DTERN_FUZZ=ON -DTERN_WITH_LLVM=OFF -DTERN_BUILD_TESTS=OFF -DTERN_BUILD_BENCH=OFF >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS" --target "${run[@]}"

# ASan: no leak check in the parent of a crash report either; UBSan: stack traces.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=()
for t in "${run[@]}"; do
  corpus="$BUILD_DIR/corpus/$t"
  artifacts="$BUILD_DIR/artifacts/$t"
  log="$BUILD_DIR/$t.log"
  mkdir -p "$corpus" "$artifacts"
  seeds=()
  [ -d "tests/fuzz/corpus/$t" ] && seeds=("tests/fuzz/corpus/$t")
  dict=()
  [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
  echo "fuzz: $t for ${seconds}s (log: $log)"
  # fuzz_cache_json writes its inputs to files: keep them here (libFuzzer's exit skips the
  # target's own clean-up) and remove them afterwards.
  tmp="$(cd "$BUILD_DIR" && pwd)/tmp/$t"
  rm -rf "$tmp" && mkdir -p "$tmp"
  set +e
  TMPDIR="$tmp" "$BUILD_DIR/tests/fuzz/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "${dict[@]}" "$@" \
    "$corpus" "${seeds[@]}" >"$log" 2>&1
  rc=$?
  set -e
  rm -rf "$tmp"
  # The last status line and the final stats: executions, coverage (cov), features (ft).
  { grep -E '^#[0-9]+' "$log" || true; } | tail -n 1
  { grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" || true; } | tr '\n' ' '
  echo
  if [ $rc -ne 0 ]; then
    echo "fuzz: $t FAILED (exit $rc); the report:" >&2
    grep -E -A 30 'ERROR: (AddressSanitizer|libFuzzer|LeakSanitizer)|runtime error:|fuzz property violated|==ERROR' "$log" | head -n 60 >&2 || tail -n 40 "$log" >&2
    grep -E 'Test unit written to' "$log" >&2 || true
    failed+=("$t")
  fi
done

if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz: findings in ${failed[*]} (inputs under $BUILD_DIR/artifacts/; rerun a binary on one to reproduce)" >&2
  exit 1
fi
echo "fuzz: no findings (${run[*]}, ${seconds}s each)"
