// Which kernel runs a ternary matmul of a given shape on this CPU. The model
// asks once per weight tensor at load; the answer fixes the packed layout.
// Order (DESIGN.md): tuned cache -> shipped results -> a linked kernel library
// (`tern gen`, best ISA first) -> compiled-in defaults -> reference (no provider
// can build any candidate).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "runtime/core/kernel_desc.h"
#include "runtime/dispatch/kernel_registry.h"
#include "runtime/dispatch/tuning_cache.h"

namespace tern {

// The compiled-in default config for a problem (family mad; the tuner's baseline
// and what `tern gen` compiles when it has no tuned record).
KernelDesc default_kernel(Op op, uint32_t n, uint32_t k, uint32_t m, Isa isa, Backend backend = Backend::xbyak);

// Kernel ISAs from the most to the least capable, x86 then ARM.
inline constexpr Isa kIsaPreference[] = {Isa::avx512vnni, Isa::avxvnni, Isa::avx2, Isa::i8mm, Isa::neondot, Isa::neon};

struct KernelChoice {
  KernelDesc gemv;    // m = 1 (decode)
  KernelDesc gemm;    // m > 1 (prefill), same packed layout as gemv
  std::string source; // "defaults (avx2 xbyak)", "tuned (file)", "kernel library (neondot)"
};

// The prefill size whose tuned gemm config the model packs for.
inline constexpr uint32_t kPrefillBucket = 128;

// Tuned records first (cache may be null), then the compiled-in defaults.
// Empty when no registered provider can run a candidate: callers use the reference.
std::optional<KernelChoice> choose_kernels(uint32_t n, uint32_t k, int threads, const TuningCache* cache = nullptr,
                                           KernelRegistry& registry = kernel_registry());

// A gemm config with gemv's packed layout (same family, ISA, tile and K block),
// the largest token block the registry accepts. Empty if none.
std::optional<KernelDesc> gemm_for_layout(const KernelDesc& gemv, KernelRegistry& registry = kernel_registry());

}  // namespace tern
