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
  // which vary between VMs of one machine class. x86: arch-vendor-f<family>m<model>-brand-isa;
  // aarch64: aarch64-<implementer>-<part>-isa, e.g. aarch64-arm-0xd0c-neondot.
  std::string cpu_id() const;
  // Coarser key for the "same ISA class" fallback: arch + best ISA.
  std::string isa_class() const;
  // Best kernel ISA the hardware offers (ignores TERN_MAX_ISA).
  Isa best_isa() const;
  // Whether kernels for `isa` may run: the hardware has it and TERN_MAX_ISA allows it.
  bool supports(Isa isa) const;
  friend bool operator==(const CpuInfo&, const CpuInfo&) = default;
};

// aarch64 detection from its inputs, pure so that tests feed it made-up values on any arch.
// Bits of the auxiliary vector words AT_HWCAP / AT_HWCAP2 (Linux arch/arm64 uapi asm/hwcap.h).
namespace arm_hwcap {
inline constexpr uint64_t asimd = uint64_t{1} << 1;     // AT_HWCAP: Advanced SIMD (NEON)
inline constexpr uint64_t cpuid = uint64_t{1} << 11;    // AT_HWCAP: MRS of the ID registers is emulated
inline constexpr uint64_t asimddp = uint64_t{1} << 20;  // AT_HWCAP: SDOT / UDOT
inline constexpr uint64_t sve = uint64_t{1} << 22;      // AT_HWCAP
inline constexpr uint64_t i8mm = uint64_t{1} << 13;     // AT_HWCAP2: SMMLA / USDOT
}  // namespace arm_hwcap

// neon, dotprod, i8mm and sve from AT_HWCAP / AT_HWCAP2.
CpuFeatures arm_features(uint64_t hwcap, uint64_t hwcap2);

// What an aarch64 Linux CPU is: features from the hwcaps; implementer, part and revision (as
// family, model, stepping) from /proc/cpuinfo's first "CPU implementer" / "CPU part" /
// "CPU revision" lines, else from `midr` (MIDR_EL1 read with MRS; qemu-user shows the host's
// /proc/cpuinfo, with none of those lines). Vendor and brand are names for implementer and part
// where tern knows them. No caches or core count.
CpuInfo arm_cpu_info(uint64_t hwcap, uint64_t hwcap2, const std::string& proc_cpuinfo,
                     std::optional<uint64_t> midr);

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
