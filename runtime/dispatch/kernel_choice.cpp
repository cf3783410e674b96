#include "runtime/dispatch/kernel_choice.h"

#include <algorithm>

#include "runtime/core/cpu_info.h"
#include "runtime/core/layout.h"

namespace tern {

KernelDesc default_kernel(Op op, uint32_t n, uint32_t k, uint32_t m, Isa isa) {
  KernelDesc d;
  d.op = op;
  d.family = Family::mad;
  d.isa = isa;
  d.backend = Backend::xbyak;
  d.n = n;
  d.k = k;
  d.m = m;
  d.n_tile = 8;
  d.unroll = isa == Isa::avx2 ? 2 : 4;
  d.m_tile = op == Op::gemv ? 1 : static_cast<uint8_t>(std::clamp<uint32_t>(m, 1, isa == Isa::avx2 ? 2 : 3));
  d.accumulators = 1;
  // K blocks of 4 groups keep each block's rows adjacent in memory, so a tile
  // streams linearly: with cold weights that runs at the read bandwidth, where
  // whole-K rows reach about a quarter of it (measured, 2560x2560).
  const uint32_t group = 4 * vector_bytes(isa);
  const uint32_t k_padded = (k + group - 1) / group * group;
  d.k_block = static_cast<uint16_t>(std::min(4 * group, std::max(group, k_padded)));
  return d;
}

std::optional<KernelChoice> choose_kernels(uint32_t n, uint32_t k, int threads, KernelRegistry& registry) {
  (void)threads;  // tuned records are per thread count (tuning cache, upcoming)
  const CpuInfo& cpu = host_cpu();
  for (Isa isa : {Isa::avx512vnni, Isa::avxvnni, Isa::avx2}) {
    if (!cpu.supports(isa)) continue;
    KernelChoice c;
    c.gemv = default_kernel(Op::gemv, n, k, 1, isa);
    c.gemm = default_kernel(Op::gemm, n, k, 8, isa);
    if (!registry.unsupported_reason(c.gemv, cpu).empty() || !registry.unsupported_reason(c.gemm, cpu).empty())
      continue;
    c.source = "defaults";
    return c;
  }
  return std::nullopt;
}

}  // namespace tern
