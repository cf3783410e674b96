// Every mad-family variant this CPU can run, bit-exact against runtime/ref.
#include <gtest/gtest.h>

#include <random>

#include "jit/x86/xbyak_provider.h"
#include "mad_tester.h"
#include "runtime/core/cpu_info.h"
#include "runtime/core/error.h"
#include "tuner/search_space.h"

namespace tern {
namespace {

using test::Fill;
using test::MadTester;

class MadKernels : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    kernel_registry().add(jit::make_xbyak_provider());
    if (!host_cpu().supports(GetParam()))
      GTEST_SKIP() << "this CPU (or TERN_MAX_ISA) cannot run " << to_string(GetParam());
    seed_ = std::random_device{}();
  }

  // Every config of the family's space that the provider accepts for this problem.
  std::vector<KernelDesc> variants(Op op, uint32_t n, uint32_t k, uint32_t m) const {
    tuner::Problem p{op, n, k, m, GetParam(), Backend::xbyak};
    std::vector<KernelDesc> out;
    for (const KernelDesc& d : tuner::enumerate(tuner::family_space(Family::mad, op), tuner::base_desc(p, Family::mad)))
      if (kernel_registry().unsupported_reason(d).empty()) out.push_back(d);
    return out;
  }

  uint64_t seed_ = 0;
};

TEST_P(MadKernels, EveryGemvVariantIsExact) {
  size_t tested = 0;
  for (const KernelDesc& d : variants(Op::gemv, 37, 1000, 1)) {
    MadTester().n(37).k(1000).m(1).seed(seed_ + tested).test(d);
    if (HasFatalFailure()) return;
    ++tested;
  }
  EXPECT_GT(tested, 50u);
}

TEST_P(MadKernels, EveryGemmVariantIsExact) {
  size_t tested = 0;
  for (const KernelDesc& d : variants(Op::gemm, 37, 300, 9)) {
    // m = 9 leaves a remainder for every m_tile > 1 but 3; 8 tokens exercise the remainder of 3.
    MadTester().n(37).k(300).m(d.m_tile == 3 ? 8 : 9).seed(seed_ + tested).test(d);
    if (HasFatalFailure()) return;
    ++tested;
  }
  EXPECT_GT(tested, 100u);
}

TEST_P(MadKernels, EdgeShapesAroundTheBlock) {
  const uint32_t group = 4 * vector_bytes(GetParam());
  for (Op op : {Op::gemv, Op::gemm}) {
    for (uint32_t k : {1u, 31u, group - 1, group, group + 1, 2 * group, 3 * group - 5, 4 * group, 2560u}) {
      for (uint32_t n : {1u, 3u, 8u, 33u, 64u}) {
        std::vector<KernelDesc> all = variants(op, n, k, op == Op::gemv ? 1 : 9);
        ASSERT_FALSE(all.empty());
        // A spread of variants per shape: first, last and every 17th.
        for (size_t i = 0; i < all.size(); i += (i + 17 < all.size() ? 17 : std::max<size_t>(1, all.size() - 1 - i))) {
          const KernelDesc& d = all[i];
          for (uint32_t m : op == Op::gemv ? std::vector<uint32_t>{1} : std::vector<uint32_t>{2, 5, 9, 64}) {
            MadTester().n(n).k(k).m(m).seed(seed_ + k * 131 + n).test(d);
            if (HasFatalFailure()) return;
          }
          if (i + 1 == all.size()) break;
        }
      }
    }
  }
}

TEST_P(MadKernels, ConstantRowsAndExtremeActivations) {
  tuner::Problem p{Op::gemm, 40, 700, 7, GetParam(), Backend::xbyak};
  KernelDesc d = tuner::default_config(p);
  for (Fill w : {Fill::zero, Fill::plus, Fill::minus, Fill::mixed_rows, Fill::random})
    for (Fill a : {Fill::zero, Fill::plus, Fill::minus, Fill::extreme, Fill::random}) {
      MadTester().n(40).k(700).m(7).weights(w).activations(a).seed(seed_).test(d);
      if (HasFatalFailure()) return;
    }
}

TEST_P(MadKernels, WorstCaseLongRowsStayExact) {
  // All +1 weights against all-127 and all--128 activations over a long K: the
  // largest sums the int16 stage (AVX2) and int32 accumulators can see.
  tuner::Problem p{Op::gemm, 8, 16384, 3, GetParam(), Backend::xbyak};
  for (const KernelDesc& d : {tuner::default_config(p)}) {
    for (Fill a : {Fill::plus, Fill::extreme}) {
      MadTester().n(8).k(16384).m(3).weights(Fill::plus).activations(a).test(d);
      MadTester().n(8).k(16384).m(3).weights(Fill::minus).activations(a).test(d);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Isa, MadKernels, ::testing::Values(Isa::avx2, Isa::avxvnni, Isa::avx512vnni),
                         [](const auto& info) { return std::string(to_string(info.param)); });

TEST(MadKernelsReject, UnsupportedDescsSayWhy) {
  kernel_registry().add(jit::make_xbyak_provider());
  tuner::Problem p{Op::gemv, 64, 256, 1, Isa::avx2, Backend::xbyak};
  KernelDesc d = tuner::default_config(p);
  d.unroll = 3;  // does not divide n_tile 8
  EXPECT_NE(kernel_registry().unsupported_reason(d), "");
  EXPECT_THROW(kernel_registry().get(d), Error);
  d = tuner::default_config(p);
  d.k = 0;
  EXPECT_NE(kernel_registry().unsupported_reason(d).find("K"), std::string::npos);
  d = tuner::default_config(p);
  d.m_tile = 8;
  d.unroll = 8;  // 8 x 8 accumulators do not fit 16 registers
  d.op = Op::gemm;
  EXPECT_NE(kernel_registry().unsupported_reason(d).find("registers"), std::string::npos);
  d = tuner::default_config(p);
  d.backend = Backend::tmpl;  // no template provider in this build
  EXPECT_NE(kernel_registry().unsupported_reason(d), "");
}

}  // namespace
}  // namespace tern
