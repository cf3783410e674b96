// The LLVM backend's kernels (codegen/llvm IR, compiled by ORC LLJIT for this
// CPU) bit-exact against runtime/ref, like the Xbyak ones; its object cache.
#include <gtest/gtest.h>

#if TERN_WITH_LLVM  // builds without LLVM (ARM cross builds) have no such backend to test

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <sys/mman.h>

#include "jit/llvm/llvm_backend.h"
#include "kernel_tester.h"
#include "runtime/core/cpu_info.h"
#include "runtime/core/error.h"
#include "runtime/dispatch/kernel_choice.h"
#include "tuner/search_space.h"

namespace tern {
namespace {

using test::Fill;
using test::KernelTester;

class LlvmKernels : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    if (!host_cpu().supports(GetParam()))
      GTEST_SKIP() << "this CPU (or TERN_MAX_ISA) cannot run " << to_string(GetParam());
    registry_.add(jit::make_llvm_provider(""));  // no object cache: every kernel really compiles
    seed_ = std::random_device{}();
  }

  // A seeded spread of the family's configs that the LLVM provider accepts
  // (each kernel costs an O3 compile, so not all of them): every value of every
  // axis appears, as the sample is drawn from the whole space.
  std::vector<KernelDesc> sample(Op op, uint32_t n, uint32_t k, uint32_t m, size_t count) const {
    tuner::Problem p{op, n, k, m, GetParam(), Backend::llvm};
    std::vector<KernelDesc> all;
    for (const KernelDesc& d : tuner::enumerate(tuner::family_space(Family::mad, op), tuner::base_desc(p, Family::mad)))
      if (registry_.unsupported_reason(d).empty()) all.push_back(d);
    std::mt19937_64 rng(seed_);
    std::shuffle(all.begin(), all.end(), rng);
    if (all.size() > count) all.resize(count);
    return all;
  }

  KernelRegistry registry_;
  uint64_t seed_ = 0;
};

TEST_P(LlvmKernels, SampledGemvVariantsAreExact) {
  SCOPED_TRACE("sample seed " + std::to_string(seed_));
  const auto variants = sample(Op::gemv, 37, 1000, 1, 24);
  ASSERT_GE(variants.size(), 20u);
  for (size_t i = 0; i < variants.size(); ++i) {
    KernelTester().registry(registry_).n(37).k(1000).m(1).seed(seed_ + i).test(variants[i]);
    if (HasFatalFailure()) return;
  }
}

TEST_P(LlvmKernels, SampledGemmVariantsAreExact) {
  SCOPED_TRACE("sample seed " + std::to_string(seed_));
  const auto variants = sample(Op::gemm, 37, 300, 9, 24);
  ASSERT_GE(variants.size(), 20u);
  for (size_t i = 0; i < variants.size(); ++i) {
    const KernelDesc& d = variants[i];
    KernelTester().registry(registry_).n(37).k(300).m(d.m_tile == 3 ? 8 : 9).seed(seed_ + i).test(d);
    if (HasFatalFailure()) return;
  }
}

TEST_P(LlvmKernels, EdgeShapesAroundTheBlock) {
  const uint32_t group = 4 * vector_bytes(GetParam());
  for (Op op : {Op::gemv, Op::gemm}) {
    for (uint32_t k : {1u, group - 1, group, group + 1, 3 * group - 5, 4 * group + 7}) {
      for (uint32_t n : {1u, 3u, 33u}) {
        KernelDesc d = default_kernel(op, n, k, op == Op::gemv ? 1 : 9, GetParam());
        d.backend = Backend::llvm;
        for (uint32_t m : op == Op::gemv ? std::vector<uint32_t>{1} : std::vector<uint32_t>{2, 5, 9}) {
          KernelTester().registry(registry_).n(n).k(k).m(m).seed(seed_ + k * 131 + n).test(d);
          if (HasFatalFailure()) return;
        }
      }
    }
  }
}

TEST_P(LlvmKernels, ConstantRowsAndExtremeActivations) {
  KernelDesc d = default_kernel(Op::gemm, 40, 700, 7, GetParam());
  d.backend = Backend::llvm;
  for (Fill w : {Fill::zero, Fill::plus, Fill::minus, Fill::mixed_rows})
    for (Fill a : {Fill::zero, Fill::plus, Fill::minus, Fill::extreme, Fill::lowest}) {
      KernelTester().registry(registry_).n(40).k(700).m(7).weights(w).activations(a).seed(seed_).test(d);
      if (HasFatalFailure()) return;
    }
  // The longest rows: the int16 stage of the AVX2 dot product and the int32 sums at their worst.
  KernelDesc longest = default_kernel(Op::gemm, 8, 16384, 3, GetParam());
  longest.backend = Backend::llvm;
  for (Fill w : {Fill::plus, Fill::minus})
    for (Fill a : {Fill::plus, Fill::lowest})
      KernelTester().registry(registry_).n(8).k(16384).m(3).weights(w).activations(a).test(longest);
}

INSTANTIATE_TEST_SUITE_P(Isa, LlvmKernels, ::testing::Values(Isa::avx2, Isa::avxvnni, Isa::avx512vnni),
                         [](const auto& info) { return std::string(to_string(info.param)); });

TEST(LlvmBackend, RejectsWhatItCannotBuildAndSaysWhy) {
  KernelRegistry registry;
  registry.add(jit::make_llvm_provider(""));
  KernelDesc d = default_kernel(Op::gemv, 64, 256, 1, Isa::avx2);
  d.backend = Backend::llvm;
  d.family = Family::lut;
  d.lut_group = 5;  // lut kernels take g = 2, 3 or 4
  d.lut_entry = DType::i16;
  EXPECT_NE(registry.unsupported_reason(d).find("lut_group"), std::string::npos);
  d = default_kernel(Op::gemv, 64, 256, 1, Isa::avx2);
  d.backend = Backend::llvm;
  d.unroll = 3;
  EXPECT_NE(registry.unsupported_reason(d).find("unroll"), std::string::npos);
  EXPECT_THROW(registry.get(d), Error);
  d = default_kernel(Op::gemv, 64, 256, 1, Isa::neondot);
  d.backend = Backend::llvm;
  if (!host_cpu().supports(Isa::neondot)) {
    EXPECT_NE(registry.unsupported_reason(d).find("neondot"), std::string::npos);
  }
}

// Kernels compiled while other mappings take address space between them (the tuner
// keeps thousands of Xbyak buffers, 1 MiB each) stay exact: each object's code and
// constants must stay within reach of each other (the small code model's RIP-relative
// loads reach 2 GB), which JITLink's one allocation per object guarantees. (With
// RuntimeDyld the combined Llvm + Tune suites once crashed this way; this layout
// of mappings did not reproduce that, so it guards the property, not the exact case.)
TEST(LlvmBackend, KernelsStayExactWithGigabytesMappedBetweenCompiles) {
  if (!host_cpu().supports(Isa::avx2)) GTEST_SKIP() << "no AVX2";
  KernelRegistry registry;
  registry.add(jit::make_llvm_provider(""));
  std::vector<std::pair<void*, size_t>> maps;
  const uint64_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  for (int i = 0; i < 12; ++i) {
    KernelDesc d = default_kernel(Op::gemv, 40 + 8 * i, 300, 1, Isa::avx2);
    d.backend = Backend::llvm;
    if (i % 2) {  // a lut kernel: constant-pool vectors (nibble masks, tables' offsets)
      d.family = Family::lut;
      d.lut_group = 4;
      d.lut_entry = DType::i8;
      d.n_tile = 32;
      d.k_block = 256;
      d.unroll = 1;
      d.n = 64;
    }
    ASSERT_EQ(registry.unsupported_reason(d), "") << to_name(d);
    KernelTester().registry(registry).n(d.n).k(d.k).m(1).seed(seed + i).test(d);
    if (HasFatalFailure()) break;
    for (int g = 0; g < 800; ++g) {  // 800 MiB in 1 MiB pieces, as Xbyak's code buffers come
      const size_t bytes = size_t(1) << 20;
      void* p = mmap(nullptr, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (p != MAP_FAILED) maps.emplace_back(p, bytes);
    }
  }
  for (auto [p, bytes] : maps) munmap(p, bytes);
}

TEST(LlvmBackend, SecondStartLoadsTheObjectCacheAndACorruptEntryIsRecompiled) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("tern-llvm-cache-" + std::to_string(std::random_device{}()));
  KernelDesc d = default_kernel(Op::gemv, 48, 520, 1, Isa::avx2);
  d.backend = Backend::llvm;
  const jit::LlvmStats before = jit::llvm_stats();
  {
    KernelRegistry first;
    first.add(jit::make_llvm_provider(dir.string()));
    KernelTester().registry(first).n(48).k(520).m(1).test(d);
  }
  const jit::LlvmStats compiled = jit::llvm_stats();
  EXPECT_EQ(compiled.compiled, before.compiled + 1);
  EXPECT_EQ(compiled.cache_hits, before.cache_hits);
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) files.push_back(e.path());
  ASSERT_EQ(files.size(), 1u);
  EXPECT_NE(files[0].filename().string().find(to_name(d)), std::string::npos);
  {
    KernelRegistry second;  // a new process, as far as the JIT knows
    second.add(jit::make_llvm_provider(dir.string()));
    KernelTester().registry(second).n(48).k(520).m(1).test(d);
  }
  const jit::LlvmStats cached = jit::llvm_stats();
  EXPECT_EQ(cached.compiled, compiled.compiled);
  EXPECT_EQ(cached.cache_hits, compiled.cache_hits + 1);
  // A truncated object (a crash mid-write by some other tool) is not trusted.
  std::filesystem::resize_file(files[0], 10);
  {
    KernelRegistry third;
    third.add(jit::make_llvm_provider(dir.string()));
    KernelTester().registry(third).n(48).k(520).m(1).test(d);
  }
  EXPECT_EQ(jit::llvm_stats().compiled, cached.compiled + 1);
  EXPECT_GT(std::filesystem::file_size(files[0]), 64u);
  std::filesystem::remove_all(dir);
}

TEST(LlvmBackend, KernelsBuiltFromSeveralThreadsAtOnceAreExact) {
  if (!host_cpu().supports(Isa::avx2)) GTEST_SKIP() << "no AVX2";
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("tern-llvm-threads-" + std::to_string(std::random_device{}()));
  std::unique_ptr<KernelProvider> provider = jit::make_llvm_provider(dir.string());
  std::vector<KernelDesc> descs;
  for (uint32_t i = 0; i < 3; ++i) {
    for (Op op : {Op::gemv, Op::gemm}) {
      KernelDesc d = default_kernel(op, 24 + 8 * i, 300 + 40 * i, op == Op::gemv ? 1 : 8, Isa::avx2);
      d.backend = Backend::llvm;
      descs.push_back(d);
    }
  }
  // Every thread builds every kernel, from a different start: each kernel is compiled by
  // several threads at once and the provider (not a registry) sees every request.
  constexpr size_t kThreads = 4;
  std::vector<std::vector<Kernel>> built(kThreads);
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      try {
        for (size_t i = 0; i < descs.size(); ++i) built[t].push_back(provider->build(descs[(i + t) % descs.size()]));
      } catch (const std::exception& e) {
        errors[t] = e.what();
      }
    });
  for (std::thread& th : threads) th.join();
  const uint64_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  for (size_t t = 0; t < kThreads; ++t) {
    ASSERT_EQ(errors[t], "") << "thread " << t;
    ASSERT_EQ(built[t].size(), descs.size());
    for (size_t i = 0; i < descs.size(); ++i) {
      const Kernel& k = built[t][i];
      ASSERT_NE(k.fn, nullptr);
      KernelTester().n(k.desc.n).k(k.desc.k).m(k.desc.m).seed(seed + i).test_raw(k.desc, k.fn);
      if (HasFatalFailure()) return;
    }
  }
  // One object per kernel in the cache, and no temporary file left beside them.
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) files.push_back(e.path().filename().string());
  EXPECT_EQ(files.size(), descs.size());
  for (const std::string& f : files) EXPECT_EQ(f.substr(f.size() - 2), ".o") << f;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tern

#endif  // TERN_WITH_LLVM
