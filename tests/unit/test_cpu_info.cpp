#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "runtime/core/cpu_info.h"
#include "runtime/core/error.h"
#include "test_helpers.h"

namespace tern {
namespace {

using test::ScopedEnv;

TEST(CpuInfo, DetectsThisMachine) {
  CpuInfo c = detect_cpu();
  EXPECT_FALSE(c.arch.empty());
  EXPECT_GE(c.cores, 1u);
#if defined(__x86_64__)
  EXPECT_EQ(c.arch, "x86_64");
  EXPECT_TRUE(c.features.sse42);  // every x86-64 CPU tern can run on has it
  EXPECT_FALSE(c.features.neon);
  EXPECT_GT(c.family, 0u);
  EXPECT_TRUE(!c.features.avx2 || c.features.avx);  // AVX2 implies AVX
  EXPECT_TRUE(!c.features.avx512vnni || c.features.avx512f);
#elif defined(__aarch64__)
  EXPECT_EQ(c.arch, "aarch64");
  EXPECT_TRUE(c.features.neon);  // Advanced SIMD is part of every aarch64 Linux CPU
  EXPECT_FALSE(c.features.avx2);
  EXPECT_NE(c.best_isa(), Isa::scalar);
  EXPECT_TRUE(!c.features.i8mm || c.features.dotprod);  // i8mm implies dotprod
  EXPECT_EQ(c.cpu_id().rfind("aarch64-" + c.vendor + "-0x", 0), 0u) << c.cpu_id();
#endif
  EXPECT_GT(c.l1d_bytes, 0u);
  EXPECT_GT(c.l2_bytes, c.l1d_bytes);
}

TEST(CpuInfo, IdIsStableAndIgnoresCachesAndCores) {
  CpuInfo a = detect_cpu(), b = detect_cpu();
  EXPECT_EQ(a.cpu_id(), b.cpu_id());
  EXPECT_EQ(a, b);
  b.cores = 64;
  b.l3_bytes *= 4;
  EXPECT_EQ(a.cpu_id(), b.cpu_id());
  b.model += 1;
  EXPECT_NE(a.cpu_id(), b.cpu_id());
  for (char ch : a.cpu_id()) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_') << a.cpu_id();
}

TEST(CpuInfo, JsonRoundTrip) {
  CpuInfo a = detect_cpu();
  nlohmann::json j = a;
  EXPECT_EQ(j["cpu_id"], a.cpu_id());
  EXPECT_TRUE(j["isa"].contains("avx512vnni"));
  CpuInfo b = nlohmann::json::parse(j.dump()).get<CpuInfo>();
  EXPECT_EQ(a, b);
  j.erase("vendor");
  EXPECT_THROW(j.get<CpuInfo>(), Error);
}

TEST(CpuInfo, IsaOrderIsCumulativePerArch) {
  EXPECT_TRUE(isa_within(Isa::scalar, Isa::avx2));
  EXPECT_TRUE(isa_within(Isa::avx2, Isa::avx512vnni));
  EXPECT_TRUE(isa_within(Isa::avxvnni, Isa::avx512vnni));
  EXPECT_FALSE(isa_within(Isa::avx512vnni, Isa::avx2));
  EXPECT_FALSE(isa_within(Isa::neon, Isa::avx512vnni));
  EXPECT_TRUE(isa_within(Isa::neon, Isa::i8mm));
  EXPECT_FALSE(isa_within(Isa::neondot, Isa::neon));
}

TEST(CpuInfo, BestIsaFollowsFeatureBits) {
  CpuInfo c;
  c.arch = "x86_64";
  EXPECT_EQ(c.best_isa(), Isa::scalar);
  c.features.avx = c.features.avx2 = c.features.fma = true;
  EXPECT_EQ(c.best_isa(), Isa::avx2);
  c.features.avxvnni = true;
  EXPECT_EQ(c.best_isa(), Isa::avxvnni);
  c.features.avx512f = c.features.avx512bw = c.features.avx512vl = c.features.avx512vnni = true;
  EXPECT_EQ(c.best_isa(), Isa::avx512vnni);
  CpuInfo arm;
  arm.arch = "aarch64";
  arm.features.neon = arm.features.dotprod = true;
  EXPECT_EQ(arm.best_isa(), Isa::neondot);
  EXPECT_NE(c.cpu_id(), arm.cpu_id());
}

TEST(CpuInfo, MaxIsaCapsWhatIsSupported) {
  CpuInfo c;
  c.arch = "x86_64";
  c.features.avx = c.features.avx2 = c.features.fma = true;
  c.features.avx512f = c.features.avx512bw = c.features.avx512vl = c.features.avx512vnni = true;
  {
    ScopedEnv env("TERN_MAX_ISA", nullptr);
    EXPECT_TRUE(c.supports(Isa::avx512vnni));
  }
  {
    ScopedEnv env("TERN_MAX_ISA", "avx2");
    EXPECT_EQ(max_isa_from_env(), Isa::avx2);
    EXPECT_FALSE(c.supports(Isa::avx512vnni));
    EXPECT_TRUE(c.supports(Isa::avx2));
    EXPECT_TRUE(c.supports(Isa::scalar));
  }
  {
    ScopedEnv env("TERN_MAX_ISA", "scalar");
    EXPECT_FALSE(c.supports(Isa::avx2));
  }
  {
    ScopedEnv env("TERN_MAX_ISA", "avx1024");
    try {
      max_isa_from_env();
      FAIL() << "unknown ISA accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("avx1024"), std::string::npos);
      EXPECT_NE(std::string(e.what()).find("avx512vnni"), std::string::npos);
    }
  }
  // The hardware bound holds whatever the cap says.
  CpuInfo plain;
  plain.arch = "x86_64";
  ScopedEnv env("TERN_MAX_ISA", "avx512vnni");
  EXPECT_FALSE(plain.supports(Isa::avx2));
}

// ---- aarch64 detection, from made-up hwcaps and /proc/cpuinfo text (runs on every arch) ----

// AT_HWCAP as the kernel reports it for three cores (qemu-aarch64 -cpu cortex-a53 / cortex-a76 /
// max): fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid; the A76 adds atomics, fphp, asimdhp,
// asimdrdm, lrcpc, dcpop and asimddp; max adds sve (AT_HWCAP) and i8mm (AT_HWCAP2).
constexpr uint64_t kHwcapA53 = 0x0000'08ff;
constexpr uint64_t kHwcapA76 = kHwcapA53 | (1u << 8) | (1u << 9) | (1u << 10) | (1u << 12) | (1u << 15) |
                               (1u << 16) | arm_hwcap::asimddp;
constexpr uint64_t kHwcapMax = kHwcapA76 | arm_hwcap::sve;

// A Neoverse N1 (AWS Graviton2) as Linux prints it, two processors shown.
const char* kNeoverseN1Cpuinfo =
    "processor\t: 0\nBogoMIPS\t: 243.75\n"
    "Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop "
    "asimddp ssbs\n"
    "CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x3\nCPU part\t: 0xd0c\nCPU revision\t: 1\n\n"
    "processor\t: 1\nBogoMIPS\t: 243.75\n"
    "CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x3\nCPU part\t: 0xd0c\nCPU revision\t: 1\n";

TEST(CpuInfoArm, FeaturesComeFromTheHwcaps) {
  CpuFeatures a53 = arm_features(kHwcapA53, 0);
  EXPECT_TRUE(a53.neon);
  EXPECT_FALSE(a53.dotprod);
  EXPECT_FALSE(a53.i8mm);
  EXPECT_FALSE(a53.sve);
  CpuFeatures a76 = arm_features(kHwcapA76, 0);
  EXPECT_TRUE(a76.neon && a76.dotprod);
  EXPECT_FALSE(a76.i8mm || a76.sve);
  CpuFeatures max = arm_features(kHwcapMax, arm_hwcap::i8mm);
  EXPECT_TRUE(max.neon && max.dotprod && max.i8mm && max.sve);
  // No x86 bit ever, whatever the words hold.
  CpuFeatures all = arm_features(~uint64_t{0}, ~uint64_t{0});
  EXPECT_FALSE(all.sse42 || all.avx || all.avx2 || all.fma || all.avx512f || all.avxvnni || all.amx_int8);
  EXPECT_EQ(arm_features(0, 0), CpuFeatures{});
}

TEST(CpuInfoArm, BestIsaIsNeonNeondotOrI8mm) {
  EXPECT_EQ(arm_cpu_info(kHwcapA53, 0, "", std::nullopt).best_isa(), Isa::neon);
  EXPECT_EQ(arm_cpu_info(kHwcapA76, 0, "", std::nullopt).best_isa(), Isa::neondot);
  EXPECT_EQ(arm_cpu_info(kHwcapMax, arm_hwcap::i8mm, "", std::nullopt).best_isa(), Isa::i8mm);
  // The levels are cumulative: i8mm without dotprod (no such core) stays at neon.
  EXPECT_EQ(arm_cpu_info(kHwcapA53, arm_hwcap::i8mm, "", std::nullopt).best_isa(), Isa::neon);
  EXPECT_EQ(arm_cpu_info(0, 0, "", std::nullopt).best_isa(), Isa::scalar);
}

TEST(CpuInfoArm, IdentityFromProcCpuinfo) {
  CpuInfo c = arm_cpu_info(kHwcapA76, 0, kNeoverseN1Cpuinfo, 0x410fd034);  // the file wins over MIDR
  EXPECT_EQ(c.arch, "aarch64");
  EXPECT_EQ(c.family, 0x41u);
  EXPECT_EQ(c.model, 0xd0cu);
  EXPECT_EQ(c.stepping, 1u);
  EXPECT_EQ(c.vendor, "arm");
  EXPECT_EQ(c.brand, "Neoverse-N1");
  EXPECT_EQ(c.cpu_id(), "aarch64-arm-0xd0c-neondot");
  EXPECT_EQ(c.isa_class(), "aarch64-neondot");

  // big.LITTLE: the first processor's lines, so every run of the machine reads the same id.
  std::string big_little = std::string("processor\t: 0\nCPU implementer\t: 0x41\nCPU part\t: 0xd05\nCPU revision\t: 0\n\n") +
                           "processor\t: 4\nCPU implementer\t: 0x41\nCPU part\t: 0xd0b\nCPU revision\t: 1\n";
  CpuInfo bl = arm_cpu_info(kHwcapA76, 0, big_little, std::nullopt);
  EXPECT_EQ(bl.model, 0xd05u);
  EXPECT_EQ(bl.brand, "Cortex-A55");
  EXPECT_EQ(bl.cpu_id(), "aarch64-arm-0xd05-neondot");
}

TEST(CpuInfoArm, IdentityFromMidrWhereProcCpuinfoHasNone) {
  // qemu-user shows the host's (x86) /proc/cpuinfo: its model name is not this CPU's brand.
  const char* x86 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9R14\nflags\t: fpu avx2\n";
  CpuInfo a53 = arm_cpu_info(kHwcapA53, 0, x86, 0x410fd034);  // Cortex-A53 r0p4
  EXPECT_EQ(a53.family, 0x41u);
  EXPECT_EQ(a53.model, 0xd03u);
  EXPECT_EQ(a53.stepping, 4u);
  EXPECT_EQ(a53.brand, "Cortex-A53");
  EXPECT_EQ(a53.cpu_id(), "aarch64-arm-0xd03-neon");

  // Nothing known: implementer and part 0, still a valid and stable id.
  CpuInfo none = arm_cpu_info(kHwcapMax, arm_hwcap::i8mm, x86, std::nullopt);
  EXPECT_EQ(none.family, 0u);
  EXPECT_EQ(none.brand, "");
  EXPECT_EQ(none.cpu_id(), "aarch64-0x00-0x000-i8mm");
  // Other implementers are named where known, else spelled in hex.
  EXPECT_EQ(arm_cpu_info(kHwcapA76, 0, "", 0x61000000 | (0x22u << 4)).vendor, "apple");
  EXPECT_EQ(arm_cpu_info(kHwcapA76, 0, "", 0xc00fac30).cpu_id(), "aarch64-ampere-0xac3-neondot");
  EXPECT_EQ(arm_cpu_info(kHwcapA76, 0, "", 0x99000010).cpu_id(), "aarch64-0x99-0x001-neondot");
}

TEST(CpuInfoArm, IdIsStableAndIgnoresCachesAndCores) {
  CpuInfo a = arm_cpu_info(kHwcapA76, 0, kNeoverseN1Cpuinfo, std::nullopt), b = a;
  b.cores = 64;
  b.l2_bytes = 1 << 20;
  b.stepping = 2;  // another revision of the same part
  EXPECT_EQ(a.cpu_id(), b.cpu_id());
  b.model = 0xd40;
  EXPECT_NE(a.cpu_id(), b.cpu_id());
  // The ISA is in the id: the same part with dotprod hidden (a VM) is another cache.
  CpuInfo no_dot = arm_cpu_info(kHwcapA53, 0, kNeoverseN1Cpuinfo, std::nullopt);
  EXPECT_EQ(no_dot.cpu_id(), "aarch64-arm-0xd0c-neon");
  nlohmann::json j = a;
  EXPECT_EQ(j["cpu_id"], a.cpu_id());
  EXPECT_EQ(j["isa"]["dotprod"], true);
  EXPECT_EQ(nlohmann::json::parse(j.dump()).get<CpuInfo>(), a);
}

TEST(CpuInfoArm, MaxIsaCapsArmIsasAndNeverMixesArchitectures) {
  CpuInfo arm = arm_cpu_info(kHwcapMax, arm_hwcap::i8mm, kNeoverseN1Cpuinfo, std::nullopt);
  {
    ScopedEnv env("TERN_MAX_ISA", nullptr);
    EXPECT_TRUE(arm.supports(Isa::i8mm));
    EXPECT_TRUE(arm.supports(Isa::neondot));
    EXPECT_FALSE(arm.supports(Isa::avx2));
  }
  {
    ScopedEnv env("TERN_MAX_ISA", "neondot");
    EXPECT_EQ(max_isa_from_env(), Isa::neondot);
    EXPECT_FALSE(arm.supports(Isa::i8mm));
    EXPECT_TRUE(arm.supports(Isa::neondot));
    EXPECT_TRUE(arm.supports(Isa::neon));
  }
  {
    ScopedEnv env("TERN_MAX_ISA", "neon");
    EXPECT_FALSE(arm.supports(Isa::neondot));
    EXPECT_TRUE(arm.supports(Isa::neon));
    EXPECT_TRUE(arm.supports(Isa::scalar));
  }
  {
    ScopedEnv env("TERN_MAX_ISA", "i8mm");
    EXPECT_TRUE(arm.supports(Isa::i8mm));
  }
  {
    // An x86 cap leaves an ARM CPU the scalar code only, and the reverse.
    ScopedEnv env("TERN_MAX_ISA", "avx512vnni");
    EXPECT_FALSE(arm.supports(Isa::neon));
    EXPECT_TRUE(arm.supports(Isa::scalar));
  }
  CpuInfo x86;
  x86.arch = "x86_64";
  x86.features.avx = x86.features.avx2 = x86.features.fma = true;
  ScopedEnv env("TERN_MAX_ISA", "i8mm");
  EXPECT_FALSE(x86.supports(Isa::avx2));
  EXPECT_TRUE(x86.supports(Isa::scalar));
}

TEST(CpuInfo, CacheDirFollowsEnvironment) {
  {
    ScopedEnv a("TERN_CACHE_DIR", "/x/tern-cache");
    EXPECT_EQ(default_cache_dir(), "/x/tern-cache");
  }
  ScopedEnv a("TERN_CACHE_DIR", nullptr);
  ScopedEnv b("XDG_CACHE_HOME", "/y");
  EXPECT_EQ(default_cache_dir(), "/y/tern");
}

}  // namespace
}  // namespace tern
