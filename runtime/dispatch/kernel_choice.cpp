#include "runtime/dispatch/kernel_choice.h"

#include <algorithm>

#include "runtime/core/cpu_info.h"
#include "runtime/core/layout.h"

namespace tern {

KernelDesc default_kernel(Op op, uint32_t n, uint32_t k, uint32_t m, Isa isa, Backend backend) {
  KernelDesc d;
  d.op = op;
  d.family = Family::mad;
  d.isa = isa;
  d.backend = backend;
  d.n = n;
  d.k = k;
  d.m = m;
  d.n_tile = 8;
  d.unroll = isa == Isa::avx2 ? 2 : 4;
  d.m_tile = op == Op::gemv ? 1 : static_cast<uint8_t>(std::clamp<uint32_t>(m, 1, isa == Isa::avx2 ? 2 : 3));
  if (isa == Isa::i8mm && op == Op::gemm) d.m_tile = m >= 4 ? 4 : m >= 2 ? 2 : 1;  // smmla takes tokens in pairs
  d.accumulators = 1;
  // K blocks of 4 groups keep each block's rows adjacent in memory, so a tile
  // streams linearly: with cold weights that runs at the read bandwidth, where
  // whole-K rows reach about a quarter of it (measured, 2560x2560).
  const uint32_t group = 4 * vector_bytes(isa);
  const uint32_t k_padded = (k + group - 1) / group * group;
  d.k_block = static_cast<uint16_t>(std::min(4 * group, std::max(group, k_padded)));
  return d;
}

std::optional<KernelDesc> gemm_for_layout(const KernelDesc& gemv, KernelRegistry& registry) {
  for (uint8_t m_tile : {4, 3, 2, 1})
    for (uint8_t unroll : {gemv.unroll, uint8_t{1}, uint8_t{2}, uint8_t{4}}) {
      KernelDesc d = gemv;
      d.op = Op::gemm;
      d.m = kPrefillBucket;
      d.m_tile = m_tile;
      d.unroll = unroll;
      if (registry.unsupported_reason(d).empty()) return d;
    }
  return std::nullopt;
}

namespace {

// The kernels of fixed libraries (aot) for this shape: the most capable ISA the
// CPU runs, its gemv and a gemm with the same packed layout (the largest m_tile).
std::optional<KernelChoice> from_library(uint32_t n, uint32_t k, KernelRegistry& registry, const CpuInfo& cpu) {
  const std::vector<KernelDesc> offered = registry.offered();
  if (offered.empty()) return std::nullopt;
  for (Isa isa : kIsaPreference) {
    if (!cpu.supports(isa)) continue;
    for (const KernelDesc& gemv : offered) {
      if (gemv.op != Op::gemv || gemv.isa != isa || gemv.n != n || gemv.k != k) continue;
      if (!registry.unsupported_reason(gemv, cpu).empty()) continue;
      std::optional<KernelDesc> gemm;
      for (const KernelDesc& d : offered)
        if (d.op == Op::gemm && d.n == n && d.k == k && d.isa == isa && d.backend == gemv.backend &&
            d.family == gemv.family && d.n_tile == gemv.n_tile && d.k_block == gemv.k_block &&
            registry.unsupported_reason(d, cpu).empty() && (!gemm || d.m_tile > gemm->m_tile))
          gemm = d;
      if (!gemm) continue;
      return KernelChoice{gemv, *gemm, "kernel library (" + std::string(to_string(isa)) + ")"};
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<KernelChoice> choose_kernels(uint32_t n, uint32_t k, int threads, const TuningCache* cache,
                                           KernelRegistry& registry) {
  const CpuInfo& cpu = host_cpu();
  if (cache) {
    if (auto pair = cache->find_pair(n, k, kPrefillBucket, static_cast<uint32_t>(threads))) {
      KernelChoice c;
      c.gemv = pair->gemv.desc;
      std::optional<KernelDesc> gemm = pair->gemm ? pair->gemm : gemm_for_layout(c.gemv, registry);
      if (gemm && registry.unsupported_reason(c.gemv, cpu).empty() && registry.unsupported_reason(*gemm, cpu).empty()) {
        c.gemm = *gemm;
        c.source = "tuned (" + pair->gemv.file + ")";
        return c;
      }
    }
  }
  if (std::optional<KernelChoice> c = from_library(n, k, registry, cpu)) return c;
  for (Isa isa : kIsaPreference) {
    if (!cpu.supports(isa)) continue;
    KernelChoice c;
    c.gemv = default_kernel(Op::gemv, n, k, 1, isa);
    c.gemm = default_kernel(Op::gemm, n, k, 8, isa);
    if (!registry.unsupported_reason(c.gemv, cpu).empty() || !registry.unsupported_reason(c.gemm, cpu).empty())
      continue;
    c.source = "defaults (" + std::string(to_string(isa)) + " " + std::string(to_string(c.gemv.backend)) + ")";
    return c;
  }
  return std::nullopt;
}

}  // namespace tern
