// Kernel benchmarks (Google Benchmark; built by default, never run in CI).
//   ./build/tests/bench/tern_bench_kernels [--benchmark_filter=...]
// For each family's default config at the BitNet b1.58 2B4T shapes, m = 1, 8, 128,
// weights hot (one packed copy, stays in cache when it fits) and cold (copies
// rotated through a footprint of 4 x L3). Counters: GOPS (2 m K N / s), weight
// GB/s, and both as a share of two probes measured in the same process: the
// read bandwidth of a buffer far larger than L3 and the int8 multiply-add peak.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <random>
#include <vector>

#include "jit/x86/xbyak_provider.h"
#include "runtime/core/cpu_info.h"
#include "runtime/core/layout.h"
#include "runtime/dispatch/kernel_registry.h"
#include "runtime/ref/packers.h"
#include "tuner/probes.h"
#include "tuner/search_space.h"

namespace tern {
namespace {

// ---- kernels ----

struct Shape {
  uint32_t k, n;
};
constexpr Shape kShapes[] = {{2560, 2560}, {2560, 640}, {2560, 6912}, {6912, 2560}};

// The config a family is benchmarked with: mad's compiled-in default; for lut,
// g = 4 (the fastest decode variant measured here) with two vectors of rows.
KernelDesc bench_config(Family family, const tuner::Problem& p) {
  if (family == Family::mad) return tuner::default_config(p);
  KernelDesc d = tuner::base_desc(p, Family::lut);
  d.lut_group = 4;
  d.lut_entry = DType::i8;
  d.n_tile = static_cast<uint16_t>(2 * vector_bytes(p.isa));
  d.k_block = 1024;
  d.unroll = 1;
  d.m_tile = static_cast<uint8_t>(p.op == Op::gemv ? 1 : 4);
  if (kernel_registry().unsupported_reason(d).empty()) return d;
  for (const KernelDesc& c : tuner::enumerate(tuner::family_space(Family::lut, p.op), tuner::base_desc(p, Family::lut)))
    if (kernel_registry().unsupported_reason(c).empty()) return c;
  return d;
}

void run_kernel(benchmark::State& state, Family family, Isa isa, bool cold) {
  const Shape shape = kShapes[state.range(0)];
  const uint32_t m = static_cast<uint32_t>(state.range(1));
  if (!host_cpu().supports(isa)) {
    state.SkipWithError("ISA not supported here");
    return;
  }
  kernel_registry().add(jit::make_xbyak_provider());
  tuner::Problem p{m == 1 ? Op::gemv : Op::gemm, shape.n, shape.k, m, isa, Backend::xbyak};
  KernelDesc d = bench_config(family, p);
  if (const char* name = std::getenv("TERN_BENCH_KERNEL")) {
    d = parse_name(name);
    d.n = shape.n, d.k = shape.k, d.m = m, d.op = p.op;
  }
  if (const std::string why = kernel_registry().unsupported_reason(d); !why.empty()) {
    state.SkipWithError(why.c_str());
    return;
  }
  const PackedLayout l = layout_of(d);
  Kernel kernel = kernel_registry().get(d);

  std::mt19937_64 rng(1);
  std::vector<int8_t> trits(size_t(shape.n) * shape.k);
  for (auto& t : trits) t = static_cast<int8_t>(rng() % 3) - 1;
  const size_t copies = cold ? std::max<size_t>(2, 4 * host_cpu().l3_bytes / l.total_bytes + 1) : 1;
  std::vector<std::vector<uint8_t>> packed(copies, std::vector<uint8_t>(l.total_bytes));
  ref::pack_trits(l, trits.data(), packed[0].data());
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
  state.counters["bw_GB/s"] = tuner::read_bandwidth_gbs();
  state.counters["int8_GOPS"] = tuner::int8_peak_gops();
  state.SetLabel(to_name(d));
}

void shapes_and_m(benchmark::internal::Benchmark* b) {
  for (int s = 0; s < 4; ++s)
    for (int m : {1, 8, 128}) b->Args({s, m});
  b->ArgNames({"shape", "m"})->Unit(benchmark::kMicrosecond)->UseRealTime();
}

#define TERN_KERNEL_BENCH(family, isa)                                                                   \
  void BM_##family##_##isa##_hot(benchmark::State& s) { run_kernel(s, Family::family, Isa::isa, false); } \
  void BM_##family##_##isa##_cold(benchmark::State& s) { run_kernel(s, Family::family, Isa::isa, true); } \
  BENCHMARK(BM_##family##_##isa##_hot)->Apply(shapes_and_m);                                             \
  BENCHMARK(BM_##family##_##isa##_cold)->Apply(shapes_and_m);
TERN_KERNEL_BENCH(mad, avx2)
TERN_KERNEL_BENCH(mad, avxvnni)
TERN_KERNEL_BENCH(mad, avx512vnni)
TERN_KERNEL_BENCH(lut, avx2)
TERN_KERNEL_BENCH(lut, avx512vnni)

}  // namespace
}  // namespace tern

BENCHMARK_MAIN();
