// LM head benchmarks (Google Benchmark; built with the kernel benchmarks, never run in CI).
//   ./build/tests/bench/tern_bench_head [--benchmark_filter=...]
// The 2B4T head (128256 rows of 2560) in Q6_K, one token, one thread, on each
// path this CPU runs. Its 269 MB are far larger than L3, so every run reads the
// rows from DRAM: the counters are row GB/s and the read bandwidth probe of the
// same process (the decode roofline's share is their ratio).
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>
#include <vector>

#include "runtime/core/huge_pages.h"
#include "runtime/model/head_kernels.h"
#include "tuner/probes.h"

namespace tern {
namespace {

constexpr size_t kRows = 128256, kK = 2560, kRowBytes = kK / 256 * 210;

const LargeVector<uint8_t>& q6k_head() {
  static const LargeVector<uint8_t> bytes = [] {
    LargeVector<uint8_t> b(kRows * kRowBytes);
    std::mt19937_64 rng(1);
    for (size_t i = 0; i + 8 <= b.size(); i += 8) {
      const uint64_t v = rng();
      std::memcpy(&b[i], &v, 8);
    }
    for (size_t r = 0; r < kRows; ++r)
      for (size_t blk = 0; blk < kK / 256; ++blk) {
        const uint16_t d = 0x2000;  // a normal f16
        std::memcpy(&b[r * kRowBytes + blk * 210 + 208], &d, 2);
      }
    return b;
  }();
  return bytes;
}

// rows: kRows (from DRAM) or a few, which stay in cache: the kernel's compute bound.
void BM_head_q6k(benchmark::State& state, Isa isa, size_t rows_used) {
  if (!model::head_kernel_runs(isa)) {
    state.SkipWithError("this path does not run here");
    return;
  }
  const LargeVector<uint8_t>& rows = q6k_head();
  std::vector<float> x(kK), out(kRows);
  std::mt19937_64 rng(2);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (auto& v : x) v = nd(rng);
  model::HeadActs a;
  model::prepare_head_acts(GgmlType::Q6_K, x.data(), 1, kK, a);
  for (auto _ : state) {
    model::head_dot_rows_isa(isa, rows.data(), kRowBytes, a, 0, rows_used, out.data(), kRows);
    benchmark::ClobberMemory();
  }
  state.counters["GB/s"] =
      benchmark::Counter(static_cast<double>(rows_used * kRowBytes) * static_cast<double>(state.iterations()) / 1e9,
                         benchmark::Counter::kIsRate);
  state.counters["bw_GB/s"] = tuner::read_bandwidth_gbs();
}

BENCHMARK_CAPTURE(BM_head_q6k, scalar, Isa::scalar, kRows)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_head_q6k, avx2, Isa::avx2, kRows)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_head_q6k, avx512, Isa::avx512vnni, kRows)->Unit(benchmark::kMillisecond)->UseRealTime();
// 256 rows (538 KB) stay in L2.
BENCHMARK_CAPTURE(BM_head_q6k, avx2_hot, Isa::avx2, 256)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_head_q6k, avx512_hot, Isa::avx512vnni, 256)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace
}  // namespace tern

BENCHMARK_MAIN();
