#!/usr/bin/env bash
# The aarch64 build, tested on this x86-64 machine under qemu-user:
#   0. generates the aarch64 kernel library with the host's `tern gen` (LLVM): NEON, NEON dotprod and
#      i8mm kernels of the tiny golden models' shapes plus two shapes with odd tails, for a Neoverse N2,
#      and a few more configs by name: mad (odd token tiles for i8mm's token pairs, two accumulator
#      sets, K blocks that do not divide K, prefetch) and lut (tbl lookups; g = 2, 3, 4);
#   1. cross-configures build-arm64/ (cmake/aarch64-linux-gnu.cmake) with that library linked in
#      (-DTERN_AOT_DIR) and builds `tern` and the unit test binary only (no benchmarks, no x86 JIT,
#      no LLVM at run time);
#   2. runs the unit tests under qemu-aarch64 (its default CPU, "max": NEON, dotprod, i8mm, SVE);
#   3. runs the cross-built `tern eval` on the tiny golden models and checks its logits against
#      llama.cpp's / bitnet.cpp's with the thresholds of tests/unit/test_model.cpp (ModelGolden);
#   4. checks CPU detection: `tern info --json` under -cpu max, cortex-a76 and cortex-a53;
#   5. runs the ISA-dependent unit tests again as a Cortex-A53 (no dotprod: the NEON-only paths), then proves the
#      gating is real: a dotprod kernel called directly dies of SIGILL there (and an i8mm one on a
#      Cortex-A76), while the dispatcher, which knows what the CPU lacks, picks the library's dotprod
#      kernels on the A76 and its NEON ones on the A53, with logits identical to the i8mm run.
# Environment: TERN_ARM_BUILD_DIR (default build-arm64), TERN_JOBS (build parallelism, default 2),
# TERN_HOST_TERN (the host's tern with LLVM, for `tern gen`; default build/cli/tern).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
BUILD_DIR=${TERN_ARM_BUILD_DIR:-build-arm64}
JOBS=${TERN_JOBS:-2}
SYSROOT=/usr/aarch64-linux-gnu
QEMU=(qemu-aarch64 -L "$SYSROOT")
TERN="$BUILD_DIR/cli/tern"
stage() { echo "== arm: $1 ($(date +%T))"; }

./scripts/setup.sh --arm

stage "aarch64 kernel library (tern gen on the host)"
HOST_TERN=${TERN_HOST_TERN:-build/cli/tern}
[ -x "$HOST_TERN" ] || { echo "arm: $HOST_TERN is missing: build the host first (scripts/build.sh)" >&2; exit 1; }
AOT_DIR="$PWD/$BUILD_DIR-kernels"
# (Shapes of the default kernels only: every shape in the library needs a gemv and gemm pair.)
extra=(
  tern_gemm_t2_i8f32_mad_n8k256u2t3__i8mm_aot_N37K300M7
  tern_gemm_t2_i8f32_mad_n4k128u2t2a2__i8mm_aot_N64K1000M7
  tern_gemv_t2_i8f32_mad_n2k384u2p4__i8mm_aot_N64K1000M1
  tern_gemm_t2_i8f32_mad_n4k256u4t2a2__neondot_aot_N64K1000M7
  tern_gemv_t2_i8f32_mad_n6k384u3__neon_aot_N37K300M1
  tern_gemv_t2_i8f32_lut_n32k256u1g2ei16__neon_aot_N37K300M1
  tern_gemm_t2_i8f32_lut_n64k264u1t2g3ei16__neondot_aot_N64K1000M7
  tern_gemv_t2_i8f32_lut_n32k512u1g4__i8mm_aot_N64K1000M1
  tern_gemm_t2_i8f32_lut_n32k256u1t3g4__neon_aot_N37K300M7
  tern_gemv_t2_i8f32_lut_n64k1008u2g3ei16__neondot_aot_N37K300M1
)
"$HOST_TERN" gen --target aarch64-linux-gnu --cpu neoverse-n2 -m tests/data/tiny-bitnet-tq2_0.gguf \
  --shapes 300x37,1000x64 "${extra[@]/#/--kernel=}" -o "$AOT_DIR"

stage "cross build ($BUILD_DIR)"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release --no-warn-unused-cli \
  -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DTERN_AOT_DIR="$AOT_DIR" >/dev/null
# (The static link of the tests warns that gtest's streaming listener, unused, calls getaddrinfo.)
cmake --build "$BUILD_DIR" -j "$JOBS" --target tern tern_unit_tests

stage "unit tests under qemu-aarch64 (cpu max)"
(cd "$BUILD_DIR" && ctest --output-on-failure -j "$(nproc)" --timeout 600)

stage "tern eval vs the golden logits"
golden=$(mktemp -d)
trap 'rm -rf "$golden"' EXIT
eval_golden() {  # MODEL OUT [tern eval options]
  local m=$1 out=$2 tokens
  shift 2
  tokens=$(python3 -c 'import json, sys; print(",".join(map(str, json.load(open(sys.argv[1]))["tokens"])))' \
    "tests/data/tiny-bitnet-$m.json")
  "${QEMU[@]}" "$TERN" eval -m "tests/data/tiny-bitnet-$m.gguf" --tokens "$tokens" --logits "$out" -t 2 "$@" \
    >"$golden/log" 2>&1 || { cat "$golden/log" >&2; exit 1; }
  cp "$golden/log" "$golden/$(basename "$out" .f32).log"
}
for m in f16 tq2_0 tq1_0 tq2_0-embf16 i2_s; do eval_golden "$m" "$golden/$m.f32"; done
eval_golden f16 "$golden/f16-float.f32" --float-acts
python3 - "$golden" <<'EOF'
# The comparison of tests/unit/test_model.cpp, row by row over [48][1024] logits:
#   int8 activations ("different but sane", every golden model): cos >= 0.999, max|diff| <= 0.5,
#   top-1 >= 85 %; float activations on the F16 file ("tight"): cos >= 0.99999, max|diff| <= 0.02,
#   no argmax flip where the reference's top two differ by more than 0.01, at most one near-tie flip.
import array, math, sys

out, V = sys.argv[1], 1024

def floats(path):
    a = array.array("f")
    with open(path, "rb") as f:
        a.frombytes(f.read())
    if sys.byteorder != "little":
        a.byteswap()
    return a

def argmax(v):  # the lowest id wins a tie, as in the golden runs
    best = 0
    for i in range(1, len(v)):
        if v[i] > v[best]:
            best = i
    return best

def compare(ours, ref):
    assert len(ours) == len(ref) == 48 * V, (len(ours), len(ref))
    cos_min, max_diff, top1, clear_flips = 1.0, 0.0, 0, 0
    for r in range(len(ref) // V):
        x, y = ours[r * V:(r + 1) * V], ref[r * V:(r + 1) * V]
        xy = sum(a * b for a, b in zip(x, y))
        xx, yy = sum(a * a for a in x), sum(b * b for b in y)
        cos_min = min(cos_min, xy / math.sqrt(xx * yy))
        max_diff = max(max_diff, max(abs(a - b) for a, b in zip(x, y)))
        ax, ay = argmax(x), argmax(y)
        top1 += ax == ay
        clear_flips += ax != ay and y[ay] - y[ax] > 0.01
    return cos_min, max_diff, top1, clear_flips, len(ref) // V

failed = False
def check(name, ours, ref, tight):
    global failed
    cos_min, max_diff, top1, clear_flips, rows = compare(floats(ours), floats(ref))
    if tight:
        ok = cos_min >= 0.99999 and max_diff <= 0.02 and clear_flips == 0 and top1 + 1 >= rows
    else:
        ok = cos_min >= 0.999 and max_diff <= 0.5 and top1 * 100 >= rows * 85
    failed |= not ok
    print(f"  {name:<26} cos min {cos_min:.7f}  max|diff| {max_diff:.4f}  top-1 {top1}/{rows}  "
          f"{'ok' if ok else 'FAILED (' + ('tight' if tight else 'sane') + ' thresholds)'}")

for m in ["f16", "tq2_0", "tq1_0", "tq2_0-embf16", "i2_s"]:
    check(m + " (int8 acts)", f"{out}/{m}.f32", f"tests/data/tiny-bitnet-{m}.logits.f32", False)
check("f16 (float acts)", f"{out}/f16-float.f32", "tests/data/tiny-bitnet-f16.logits.f32", True)
sys.exit(1 if failed else 0)
EOF
# The ternary projections ran on the library's i8mm kernels (qemu's default CPU has i8mm).
for m in tq2_0 tq1_0 i2_s; do
  grep -q "kernel library (i8mm)" "$golden/$m.log" ||
    { echo "arm: tern eval on $m did not use the library's i8mm kernels:" >&2; cat "$golden/$m.log" >&2; exit 1; }
done
echo "  $(grep -o 'kernels:.*' "$golden/tq2_0.log")"

stage "CPU detection under three qemu CPUs"
# cpu, then the expected dotprod, i8mm and best ISA.
while read -r cpu dotprod i8mm best; do
  info=$("${QEMU[@]}" -cpu "$cpu" "$TERN" info --json)
  got=$(python3 -c 'import json, sys; j = json.load(sys.stdin); i = j["cpu"]["isa"]
print(str(i["neon"]).lower(), str(i["dotprod"]).lower(), str(i["i8mm"]).lower(), j["best_isa"], j["cpu"]["cpu_id"])' \
    <<<"$info")
  echo "  -cpu $cpu: neon dotprod i8mm best cpu-id = $got"
  [[ "$got" == "true $dotprod $i8mm $best "* ]] || { echo "arm: -cpu $cpu: expected neon true, dotprod $dotprod, i8mm $i8mm, best $best" >&2; exit 1; }
done <<'EOF'
max true true i8mm
cortex-a76 true false neondot
cortex-a53 false false neon
EOF
usable=$(TERN_MAX_ISA=neon "${QEMU[@]}" "$TERN" info --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["usable_isa"])')
[ "$usable" = neon ] || { echo "arm: TERN_MAX_ISA=neon gave usable ISA $usable" >&2; exit 1; }
echo "  TERN_MAX_ISA=neon (cpu max): usable ISA neon"

stage "unit tests under qemu-aarch64 -cpu cortex-a53 (no dotprod)"
# qemu-user reads QEMU_CPU; the tests' own runs of tern (qemu-aarch64 ... tern) inherit it.
# Only the suites whose path depends on the CPU's ISA (kernel choice, detection, the model on the
# library's NEON kernels): the rest run the same generic code as under -cpu max.
(cd "$BUILD_DIR" && QEMU_CPU=cortex-a53 ctest --output-on-failure -j "$(nproc)" --timeout 600 \
  -R 'AotLibrary|CpuInfo|Model|Golden|RunBench|Cli\.')

stage "feature gating: a dotprod kernel on a Cortex-A53, an i8mm kernel on a Cortex-A76"
# Called directly (TERN_AOT_FORCE_ISA bypasses the provider's check), the kernel must trap...
while read -r isa cpu; do
  set +e
  TERN_AOT_FORCE_ISA=$isa "${QEMU[@]}" -cpu "$cpu" "$BUILD_DIR/tests/tern_unit_tests" \
    --gtest_filter='AotLibrary.ForcedRunOfAKernelTheCpuLacks' >"$golden/forced.log" 2>&1
  rc=$?
  set -e
  [ "$rc" -eq 132 ] || { echo "arm: a kernel of $isa on a $cpu exited $rc, expected SIGILL (132)" >&2
                         cat "$golden/forced.log" >&2; exit 1; }
  echo "  a kernel of $isa called directly on $cpu: SIGILL, as it must"
done <<'EOF'
neondot cortex-a53
i8mm cortex-a76
EOF
# ...while the dispatcher, told by the CPU (or by TERN_MAX_ISA) what it lacks, picks what it has.
tokens=$(python3 -c 'import json, sys; print(",".join(map(str, json.load(open(sys.argv[1]))["tokens"])))' \
  tests/data/tiny-bitnet-tq2_0.json)
while read -r how isa; do
  if [ "${how%%=*}" = TERN_MAX_ISA ]; then
    env "$how" "${QEMU[@]}" "$TERN" eval -m tests/data/tiny-bitnet-tq2_0.gguf --tokens "$tokens" \
      --logits "$golden/$isa.f32" -t 2 >"$golden/$isa.log" 2>&1
  else
    "${QEMU[@]}" -cpu "$how" "$TERN" eval -m tests/data/tiny-bitnet-tq2_0.gguf --tokens "$tokens" \
      --logits "$golden/$isa.f32" -t 2 >"$golden/$isa.log" 2>&1
  fi
  grep -q "kernel library ($isa)" "$golden/$isa.log" ||
    { echo "arm: with $how the dispatcher did not pick the $isa kernels:" >&2; cat "$golden/$isa.log" >&2; exit 1; }
  # Every kernel is exact, so the logits are the same bit for bit.
  cmp -s "$golden/$isa.f32" "$golden/tq2_0.f32" ||
    { echo "arm: $isa and i8mm kernels gave different logits" >&2; exit 1; }
  echo "  $how: $(grep -o 'kernels:.*' "$golden/$isa.log"); logits identical to the i8mm run"
done <<'EOF'
cortex-a76 neondot
TERN_MAX_ISA=neondot neondot
cortex-a53 neon
TERN_MAX_ISA=neon neon
EOF

echo "== arm: passed in $(($(date +%s) - start)) s"
