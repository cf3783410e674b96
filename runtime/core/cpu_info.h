// What this CPU is and can do: the fingerprint that keys the tuning cache.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "runtime/core/kernel_desc.h"

namespace tern {

// ISA feature bits, listed once: X(field, "spelling in tern info / JSON").
#define TERN_CPU_FEATURES(X)                                                            \
  X(sse42, "sse4.2") X(avx, "avx") X(avx2, "avx2") X(fma, "fma") X(f16c, "f16c")        \
  X(avx512f, "avx512f") X(avx512bw, "avx512bw") X(avx512vl, "avx512vl")                 \
  X(avx512vnni, "avx512vnni") X(avxvnni, "avx-vnni") X(amx_tile, "amx-tile")            \
  X(amx_int8, "amx-int8") X(neon, "neon") X(dotprod, "dotprod") X(i8mm, "i8mm") X(sve, "sve")

struct CpuFeatures {
#define TERN_FEATURE_FIELD(f, s) bool f = false;
  TERN_CPU_FEATURES(TERN_FEATURE_FIELD)
#undef TERN_FEATURE_FIELD
  friend bool operator==(const CpuFeatures&, const CpuFeatures&) = default;
};

struct CpuInfo {
  std::string arch;    // "x86_64", "aarch64"
  std::string vendor;  // "amd", "intel", "arm", ...
  uint32_t family = 0, model = 0, stepping = 0;  // x86 display values; ARM: implementer, part, revision
  std::string brand;
  CpuFeatures features;
  uint64_t l1d_bytes = 0, l2_bytes = 0, l3_bytes = 0;
  uint32_t cores = 0;  // logical CPUs online

  // Stable cache key: same CPU model and ISA -> same id; no cache sizes or core counts,
  // which vary between VMs of one machine class.
  std::string cpu_id() const;
  // Coarser key for the "same ISA class" fallback: arch + best ISA.
  std::string isa_class() const;
  // Best kernel ISA the hardware offers (ignores TERN_MAX_ISA).
  Isa best_isa() const;
  // Whether kernels for `isa` may run: the hardware has it and TERN_MAX_ISA allows it.
  bool supports(Isa isa) const;
  friend bool operator==(const CpuInfo&, const CpuInfo&) = default;
};

// Read once per process and cached. Throws tern::Error when TERN_MAX_ISA names an unknown ISA.
const CpuInfo& host_cpu();
// Detection without the cache (for tests).
CpuInfo detect_cpu();

// The cap set by TERN_MAX_ISA (unset: none). Throws tern::Error on an unknown name.
std::optional<Isa> max_isa_from_env();
// The ISAs each one includes: avx512vnni implies avxvnni-class work is possible via avx2, etc.
bool isa_within(Isa isa, Isa cap);

void to_json(nlohmann::json& j, const CpuInfo& c);
void from_json(const nlohmann::json& j, CpuInfo& c);

std::string default_cache_dir();

}  // namespace tern
