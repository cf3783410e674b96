#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "runtime/core/cpu_info.h"
#include "runtime/core/error.h"

namespace tern {
namespace {

// Sets an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old, had_ = true;
    if (value) setenv(name, value, 1); else unsetenv(name);
  }
  ~ScopedEnv() {
    if (had_) setenv(name_, old_.c_str(), 1); else unsetenv(name_);
  }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

TEST(CpuInfo, DetectsThisMachine) {
  CpuInfo c = detect_cpu();
  EXPECT_FALSE(c.arch.empty());
  EXPECT_GE(c.cores, 1u);
#if defined(__x86_64__)
  EXPECT_EQ(c.arch, "x86_64");
  EXPECT_TRUE(c.features.sse42);  // every x86-64 CPU tern can run on has it
  EXPECT_FALSE(c.features.neon);
  EXPECT_GT(c.family, 0u);
  if (c.features.avx2) EXPECT_TRUE(c.features.avx);
  if (c.features.avx512vnni) EXPECT_TRUE(c.features.avx512f);
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
