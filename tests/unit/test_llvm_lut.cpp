// The LLVM backend's lut kernels (codegen/llvm/lut_ir.cpp) bit-exact against
// runtime/ref, like the Xbyak ones (test_lut_kernels.cpp): a seeded sample of
// the tuner's lut space for each x86 ISA this CPU runs, every g, edge shapes,
// token counts, constant rows and extreme activations, the int16 bounds at
// their worst; and AArch64 IR that compiles to tbl code for a Cortex-A76.
// Each kernel is an O3 compile (tens of ms), so the samples are kept small.
#include <gtest/gtest.h>

#if TERN_WITH_LLVM

#include <filesystem>
#include <random>

#include "codegen/llvm/aot.h"
#include "codegen/llvm/kernel_ir.h"
#include "jit/llvm/llvm_backend.h"
#include "kernel_tester.h"
#include "runtime/core/cpu_info.h"
#include "runtime/core/error.h"
#include "test_helpers.h"
#include "tuner/search_space.h"

namespace tern {
namespace {

using test::Fill;
using test::KernelTester;

// The family's lut desc for this backend (kernel_tester.h).
KernelDesc lut_desc(Op op, Isa isa, uint8_t g, uint16_t n_tile, uint16_t k_block, uint8_t unroll, uint8_t m_tile) {
  return test::lut_desc(Backend::llvm, op, isa, g, n_tile, k_block, unroll, m_tile);
}

// K elements of a packed unit: U groups of g (layout.h).
uint16_t unit_of(int g) { return static_cast<uint16_t>(g == 3 ? 24 : 2 * g); }

class LlvmLut : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    if (!host_cpu().supports(GetParam()))
      GTEST_SKIP() << "this CPU (or TERN_MAX_ISA) cannot run " << to_string(GetParam());
    registry_.add(jit::make_llvm_provider(""));  // no object cache: every kernel really compiles
    seed_ = std::random_device{}();
  }

  // A seeded sample of the lut space that the LLVM provider accepts, `per_g`
  // configs of each g (every axis value can appear: drawn from the whole space).
  std::vector<KernelDesc> sample(Op op, uint32_t n, uint32_t k, uint32_t m, size_t per_g) const {
    tuner::Problem p{op, n, k, m, GetParam(), Backend::llvm};
    std::vector<KernelDesc> all;
    for (const KernelDesc& d : tuner::enumerate(tuner::family_space(Family::lut, op), tuner::base_desc(p, Family::lut)))
      if (registry_.unsupported_reason(d).empty()) all.push_back(d);
    std::mt19937_64 rng(seed_);
    std::shuffle(all.begin(), all.end(), rng);
    std::vector<KernelDesc> out;
    for (int g : {2, 3, 4}) {
      size_t taken = 0;
      for (const KernelDesc& d : all)
        if (d.lut_group == g && taken < per_g) out.push_back(d), ++taken;
    }
    return out;
  }
  uint16_t V() const { return static_cast<uint16_t>(vector_bytes(GetParam())); }

  KernelRegistry registry_;
  uint64_t seed_ = 0;
};

TEST_P(LlvmLut, SampledGemvVariantsAreExact) {
  SCOPED_TRACE("sample seed " + std::to_string(seed_));
  // N = 300: tails in every n_tile and a split at a tile boundary; K = 1000 is no
  // multiple of g = 3, of the units or of a block.
  const auto variants = sample(Op::gemv, 300, 1000, 1, 5);
  ASSERT_EQ(variants.size(), 15u);
  for (size_t i = 0; i < variants.size(); ++i) {
    EXPECT_EQ(parse_name(to_name(variants[i])), variants[i]);
    KernelTester().registry(registry_).n(300).k(1000).m(1).seed(seed_ + i).test(variants[i]);
    if (HasFatalFailure()) return;
  }
}

TEST_P(LlvmLut, SampledGemmVariantsAreExact) {
  SCOPED_TRACE("sample seed " + std::to_string(seed_));
  const auto variants = sample(Op::gemm, 260, 300, 9, 5);
  ASSERT_EQ(variants.size(), 15u);
  for (size_t i = 0; i < variants.size(); ++i) {
    const KernelDesc& d = variants[i];
    // m = 9 leaves a remainder for every m_tile > 1 but 3; 8 tokens, one for 3.
    KernelTester().registry(registry_).n(260).k(300).m(d.m_tile == 3 ? 8 : 9).seed(seed_ + i).test(d);
    if (HasFatalFailure()) return;
  }
}

TEST_P(LlvmLut, EdgeShapesAroundTheUnitAndTheBlock) {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  for (int g : {2, 3, 4}) {
    const uint16_t u = unit_of(g), kb = static_cast<uint16_t>(4 * u);
    for (Op op : {Op::gemv, Op::gemm}) {
      // Two tiles of two row vectors each, K blocks of 4 units.
      const KernelDesc d = lut_desc(op, GetParam(), static_cast<uint8_t>(g), 2 * V(), kb, 1, op == Op::gemv ? 1 : 2);
      const std::vector<uint32_t> ks = {1u, u - 1u, u + 1u, kb - 1u, kb + 1u, 3u * kb + 5u};
      for (size_t i = 0; i < ks.size(); ++i) {
        // N: one row; a tail in the second row vector; two tiles and a tail (split in two ranges).
        const uint32_t n = i % 3 == 0 ? 1 : i % 3 == 1 ? V() + 5u : 4u * V() + 3u;
        const uint32_t m = op == Op::gemv ? 1 : 5;
        KernelTester().registry(registry_).n(n).k(ks[i]).m(m).seed(seed_ + ks[i] * 131 + n).test(d);
        if (HasFatalFailure()) return;
      }
    }
  }
}

TEST_P(LlvmLut, EveryTokenCount) {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  // m = 1, 2, 4, 8 against m_tile 3: leftover tokens only, full blocks then leftovers; a three-block K.
  for (int g : {2, 3, 4}) {
    const KernelDesc d = lut_desc(Op::gemm, GetParam(), static_cast<uint8_t>(g), V(), g == 3 ? 240 : 256, 1, 3);
    for (uint32_t m : {1u, 2u, 4u, 8u}) {
      KernelTester().registry(registry_).n(V() + 7u).k(700).m(m).seed(seed_ + m).test(d);
      if (HasFatalFailure()) return;
    }
  }
}

TEST_P(LlvmLut, ConstantRowsAndExtremeActivations) {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  for (int g : {2, 3, 4}) {
    const KernelDesc d = lut_desc(Op::gemm, GetParam(), static_cast<uint8_t>(g), V(), g == 3 ? 240 : 256, 1, 2);
    for (Fill w : {Fill::zero, Fill::plus, Fill::minus, Fill::mixed_rows, Fill::random})
      for (Fill a : {Fill::zero, Fill::plus, Fill::minus, Fill::extreme, Fill::lowest, Fill::random}) {
        KernelTester().registry(registry_).n(V() + 8u).k(700).m(7).weights(w).activations(a).seed(seed_).test(d);
        if (HasFatalFailure()) return;
      }
  }
}

TEST_P(LlvmLut, WorstCaseLongRowsStayExact) {
  // All +1 or all -1 weights against all-127, all--128 and mixed extreme
  // activations over a long K, in one block and in many: the largest int16 sums
  // a chunk can hold (chunk_groups in lut_ir.cpp) and the largest int32 sums.
  const uint32_t k = 20000;
  for (int g : {2, 3, 4})
    for (bool one_block : {true, false}) {
      const uint16_t u = unit_of(g);
      const uint16_t kb = static_cast<uint16_t>(one_block ? 65535 / u * u : (g == 3 ? 960 : 1024));
      const KernelDesc d = lut_desc(Op::gemm, GetParam(), static_cast<uint8_t>(g), V(), kb, 1, 1);
      for (Fill w : {Fill::plus, Fill::minus})
        for (Fill a : {Fill::plus, Fill::lowest, Fill::extreme}) {
          KernelTester().registry(registry_).n(V()).k(k).m(2).weights(w).activations(a).test(d);
          if (HasFatalFailure()) return;
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Isa, LlvmLut, ::testing::Values(Isa::avx2, Isa::avxvnni, Isa::avx512vnni),
                         [](const auto& info) { return std::string(to_string(info.param)); });

TEST(LlvmLutReject, UnsupportedDescsSayWhy) {
  KernelDesc d = lut_desc(Op::gemv, Isa::avx2, 3, 64, 240, 1, 1);
  d.n = 64;
  d.k = 256;
  EXPECT_EQ(codegen::ir_unsupported_reason(d), "");
  KernelDesc bad = d;
  bad.lut_entry = DType::i8;  // g = 3 has int16 tables
  EXPECT_NE(codegen::ir_unsupported_reason(bad).find("lut_entry"), std::string::npos);
  bad = d;
  bad.k_block = 256;  // not a multiple of g = 3's 24-element unit
  EXPECT_NE(codegen::ir_unsupported_reason(bad).find("k_block"), std::string::npos);
  bad = d;
  bad.n_tile = 48;  // not whole row vectors
  EXPECT_NE(codegen::ir_unsupported_reason(bad).find("n_tile"), std::string::npos);
  bad = d;
  bad.op = Op::gemm;
  bad.m_tile = 4;  // 9 + 2 x 4 vector registers > 16
  EXPECT_NE(codegen::ir_unsupported_reason(bad).find("registers"), std::string::npos);
  bad = d;
  bad.k = 0;
  EXPECT_NE(codegen::ir_unsupported_reason(bad).find("K"), std::string::npos);
  bad = d;
  bad.lut_group = 5;
  EXPECT_NE(codegen::ir_unsupported_reason(bad).find("lut_group"), std::string::npos);
  bad = d;
  bad.isa = Isa::scalar;
  EXPECT_NE(codegen::ir_unsupported_reason(bad).find("scalar"), std::string::npos);
  bad = lut_desc(Op::gemv, Isa::avx2, 2, 32, 65535 / 4 * 4, 1, 1);
  bad.n = 32;
  bad.k = 60000;  // tables of 30000 groups, 32 bytes each
  EXPECT_NE(codegen::ir_unsupported_reason(bad).find("stack"), std::string::npos);
  KernelRegistry registry;
  registry.add(jit::make_llvm_provider(""));
  bad.backend = Backend::llvm;
  EXPECT_THROW(registry.get(bad), Error);
}

// The host cannot run AArch64 code (scripts/arm-test.sh does, under qemu): here
// a spread of neon and neondot lut descs must build, verify and compile, as
// `tern gen` does, for a Cortex-A76, and look their tables up with tbl. (i8mm
// descs emit the same IR with one more target feature; `tern gen` has no i8mm
// target, so only their acceptance is checked.)
TEST(LlvmLutAarch64, IrCompilesToTblCode) {
  const uint16_t V = static_cast<uint16_t>(vector_bytes(Isa::neon));
  std::vector<KernelDesc> descs;
  for (Isa isa : {Isa::neon, Isa::neondot, Isa::i8mm})
    for (int g : {2, 3, 4})
      for (Op op : {Op::gemv, Op::gemm}) {
        const uint16_t kb = g == 3 ? 240 : 256;
        KernelDesc d = lut_desc(op, isa, static_cast<uint8_t>(g), op == Op::gemv ? 4 * V : 2 * V, kb,
                                op == Op::gemv ? 2 : 1, op == Op::gemv ? 1 : 2);
        d.backend = Backend::aot;
        d.n = 3 * V + 5;
        d.k = 700;
        d.prefetch = op == Op::gemv ? 16 : 0;
        EXPECT_EQ(codegen::ir_unsupported_reason(d), "") << to_name(d);
        if (isa != Isa::i8mm) descs.push_back(d);
      }
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("tern-lut-a64-" + std::to_string(std::random_device{}()));
  codegen::AotResult r;
  ASSERT_NO_THROW(r = codegen::generate_library(descs, {"aarch64-linux-gnu", "cortex-a76"}, dir.string(), true));
  EXPECT_EQ(r.kernels.size(), descs.size());
  const std::vector<uint8_t> text = test::read_bytes((dir / "tern_kernels.s").string());
  const std::string assembly(text.begin(), text.end());
  std::filesystem::remove_all(dir);
  EXPECT_NE(assembly.find("tbl\tv"), std::string::npos);
  EXPECT_NE(assembly.find("zip1\tv"), std::string::npos);  // g = 2, 3: entry bytes back into int16 lanes
  EXPECT_EQ(assembly.find("\tbl\t"), std::string::npos) << "a library call in a kernel";
}

}  // namespace
}  // namespace tern

#endif  // TERN_WITH_LLVM
