// Kernel benchmarks (Google Benchmark; built by default, never run in CI).
//   ./build/tests/bench/tern_bench_kernels [--benchmark_filter=...]
// For each family's default config at the BitNet b1.58 2B4T shapes, m = 1, 8, 128,
// weights hot (one packed copy, stays in cache when it fits) and cold (copies
// rotated through a footprint of 4 x L3). Counters: GOPS (2 m K N / s), weight
// GB/s, and both as a share of two probes measured in the same process: the
// read bandwidth of a buffer far larger than L3 and the int8 multiply-add peak.
#include <benchmark/benchmark.h>

#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <vector>

#include <xbyak/xbyak.h>

#include "jit/x86/xbyak_provider.h"
#include "runtime/core/cpu_info.h"
#include "runtime/core/layout.h"
#include "runtime/dispatch/kernel_registry.h"
#include "runtime/ref/packers.h"
#include "tuner/search_space.h"

namespace tern {
namespace {

// ---- probes ----

// GB/s reading a 512 MiB buffer with 32-byte loads (median of 5 passes).
__attribute__((target("avx2"))) double probe_read_bandwidth() {
  static double result = 0;
  if (result) return result;
  const size_t bytes = size_t(512) << 20;
  std::vector<uint8_t> buf(bytes, 1);
  std::vector<double> runs;
  for (int r = 0; r < 5; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
    for (size_t i = 0; i < bytes; i += 128) {
      s0 = _mm256_add_epi64(s0, _mm256_load_si256(reinterpret_cast<const __m256i*>(buf.data() + i)));
      s1 = _mm256_add_epi64(s1, _mm256_load_si256(reinterpret_cast<const __m256i*>(buf.data() + i + 32)));
      s2 = _mm256_add_epi64(s2, _mm256_load_si256(reinterpret_cast<const __m256i*>(buf.data() + i + 64)));
      s3 = _mm256_add_epi64(s3, _mm256_load_si256(reinterpret_cast<const __m256i*>(buf.data() + i + 96)));
    }
    benchmark::DoNotOptimize(_mm256_add_epi64(_mm256_add_epi64(s0, s1), _mm256_add_epi64(s2, s3)));
    runs.push_back(static_cast<double>(bytes) / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / 1e9);
  }
  std::nth_element(runs.begin(), runs.begin() + 2, runs.end());
  return result = runs[2];
}

// Int8 multiply-add peak in GOPS (2 ops per MAC): 12 independent chains of
// vpmaddubsw + vpmaddwd + vpaddd on 32-byte registers, as the AVX2 mad kernel uses.
struct MacLoop : Xbyak::CodeGenerator {
  explicit MacLoop(uint64_t iters) {
    using namespace Xbyak;
    mov(rax, iters);
    vpcmpeqb(ymm15, ymm15, ymm15);
    L("loop");
    for (int i = 0; i < 6; ++i) {
      vpmaddubsw(Ymm(i), ymm15, ymm15);
      vpmaddwd(Ymm(i), Ymm(i), ymm15);
      vpaddd(Ymm(6 + i), Ymm(6 + i), Ymm(i));
    }
    dec(rax);
    jnz("loop");
    vzeroupper();
    ret();
  }
};

double probe_int8_peak() {
  static double result = 0;
  if (result) return result;
  const uint64_t iters = 50'000'000;
  MacLoop loop(iters);
  auto fn = loop.getCode<void (*)()>();
  std::vector<double> runs;
  for (int r = 0; r < 5; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    runs.push_back(static_cast<double>(iters) * 6 * 32 * 2 / s / 1e9);  // 32 MACs per vpmaddubsw
  }
  std::nth_element(runs.begin(), runs.begin() + 2, runs.end());
  return result = runs[2];
}

// ---- kernels ----

struct Shape {
  uint32_t k, n;
};
constexpr Shape kShapes[] = {{2560, 2560}, {2560, 640}, {2560, 6912}, {6912, 2560}};

void run_kernel(benchmark::State& state, Isa isa, bool cold) {
  const Shape shape = kShapes[state.range(0)];
  const uint32_t m = static_cast<uint32_t>(state.range(1));
  if (!host_cpu().supports(isa)) {
    state.SkipWithError("ISA not supported here");
    return;
  }
  kernel_registry().add(jit::make_xbyak_provider());
  tuner::Problem p{m == 1 ? Op::gemv : Op::gemm, shape.n, shape.k, m, isa, Backend::xbyak};
  KernelDesc d = tuner::default_config(p);
  if (const char* name = std::getenv("TERN_BENCH_KERNEL")) {
    d = parse_name(name);
    d.n = shape.n, d.k = shape.k, d.m = m, d.op = p.op;
  }
  const PackedLayout l = layout_of(d);
  Kernel kernel = kernel_registry().get(d);

  std::mt19937_64 rng(1);
  std::vector<int8_t> trits(size_t(shape.n) * shape.k);
  for (auto& t : trits) t = static_cast<int8_t>(rng() % 3) - 1;
  const size_t copies = cold ? std::max<size_t>(2, 4 * host_cpu().l3_bytes / l.total_bytes + 1) : 1;
  std::vector<std::vector<uint8_t>> packed(copies, std::vector<uint8_t>(l.total_bytes));
  ref::pack_mad(l, trits.data(), packed[0].data());
  for (size_t c = 1; c < copies; ++c) packed[c] = packed[0];

  std::vector<int8_t> act(size_t(m) * l.k_padded);
  for (auto& a : act) a = static_cast<int8_t>(rng() % 255) - 127;
  std::vector<int32_t> sums(m, 0);
  std::vector<float> scales(m, 1.0f), out(size_t(m) * shape.n);
  KernelArgs args{};
  args.act = act.data();
  args.act_scale = scales.data();
  args.act_sum = sums.data();
  args.out = out.data();
  args.out_stride = shape.n;
  args.m = m;
  args.n = shape.n;
  args.row_end = shape.n;
  args.w_scale = 1.0f;
  size_t next = 0;
  for (auto _ : state) {
    args.weights = packed[next].data();
    next = (next + 1) % copies;
    kernel(args);
    benchmark::ClobberMemory();
  }
  const double iters = static_cast<double>(state.iterations());
  state.counters["GOPS"] = benchmark::Counter(2.0 * m * shape.k * shape.n * iters / 1e9, benchmark::Counter::kIsRate);
  state.counters["wGB/s"] = benchmark::Counter(static_cast<double>(l.total_bytes) * iters / 1e9, benchmark::Counter::kIsRate);
  state.counters["bw_GB/s"] = probe_read_bandwidth();
  state.counters["int8_GOPS"] = probe_int8_peak();
  state.SetLabel(to_name(d));
}

void shapes_and_m(benchmark::internal::Benchmark* b) {
  for (int s = 0; s < 4; ++s)
    for (int m : {1, 8, 128}) b->Args({s, m});
  b->ArgNames({"shape", "m"})->Unit(benchmark::kMicrosecond)->UseRealTime();
}

#define TERN_KERNEL_BENCH(isa)                                                                      \
  void BM_mad_##isa##_hot(benchmark::State& s) { run_kernel(s, Isa::isa, false); }                  \
  void BM_mad_##isa##_cold(benchmark::State& s) { run_kernel(s, Isa::isa, true); }                  \
  BENCHMARK(BM_mad_##isa##_hot)->Apply(shapes_and_m);                                               \
  BENCHMARK(BM_mad_##isa##_cold)->Apply(shapes_and_m);
TERN_KERNEL_BENCH(avx2)
TERN_KERNEL_BENCH(avxvnni)
TERN_KERNEL_BENCH(avx512vnni)

}  // namespace
}  // namespace tern

BENCHMARK_MAIN();
