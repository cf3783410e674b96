// Every lut-family variant this CPU can run, bit-exact against runtime/ref, and
// the lut packers (layout.h) against trits and ternary GGUF tensors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <random>

#include "jit/x86/xbyak_provider.h"
#include "kernel_tester.h"
#include "runtime/core/cpu_info.h"
#include "runtime/core/error.h"
#include "runtime/ref/formats.h"
#include "tuner/search_space.h"

namespace tern {
namespace {

using test::Fill;
using test::KernelTester;

// The family's lut desc for this backend (kernel_tester.h).
KernelDesc lut_desc(Op op, Isa isa, uint8_t g, uint16_t n_tile, uint16_t k_block, uint8_t unroll, uint8_t m_tile) {
  return test::lut_desc(Backend::xbyak, op, isa, g, n_tile, k_block, unroll, m_tile);
}

class LutKernels : public ::testing::TestWithParam<Isa> {
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
    for (const KernelDesc& d :
         tuner::enumerate(tuner::family_space(Family::lut, op), tuner::base_desc(p, Family::lut)))
      if (kernel_registry().unsupported_reason(d).empty()) out.push_back(d);
    return out;
  }
  uint16_t V() const { return static_cast<uint16_t>(vector_bytes(GetParam())); }

  uint64_t seed_ = 0;
};

TEST_P(LutKernels, EveryGemvVariantIsExact) {
  size_t tested = 0;
  // N = 300: tails in every n_tile, and a split at a tile boundary; K = 1000 is no
  // multiple of g, of the unit or of a block.
  for (const KernelDesc& d : variants(Op::gemv, 300, 1000, 1)) {
    EXPECT_EQ(parse_name(to_name(d)), d) << to_name(d);  // the name is the spec
    KernelTester().n(300).k(1000).m(1).seed(seed_ + tested).test(d);
    if (HasFatalFailure()) return;
    ++tested;
  }
  EXPECT_GT(tested, 30u);
}

TEST_P(LutKernels, EveryGemmVariantIsExact) {
  size_t tested = 0;
  for (const KernelDesc& d : variants(Op::gemm, 260, 300, 9)) {
    // m = 9 leaves a remainder for every m_tile > 1 but 3; 8 tokens exercise the remainder of 3.
    KernelTester().n(260).k(300).m(d.m_tile == 3 ? 8 : 9).seed(seed_ + tested).test(d);
    if (HasFatalFailure()) return;
    ++tested;
  }
  EXPECT_GT(tested, 100u);
}

TEST_P(LutKernels, EdgeShapesAroundTheBlock) {
  for (Op op : {Op::gemv, Op::gemm}) {
    for (uint32_t k : {1u, 2u, 3u, 5u, 23u, 24u, 25u, 239u, 240u, 241u, 255u, 256u, 257u, 1009u, 2560u}) {
      for (uint32_t n : {1u, 31u, 33u, 64u, 65u, 129u}) {
        std::vector<KernelDesc> all = variants(op, n, k, op == Op::gemv ? 1 : 9);
        ASSERT_FALSE(all.empty());
        // A spread of variants per shape: first, last and every 13th.
        for (size_t i = 0; i < all.size();
             i += (i + 13 < all.size() ? 13 : std::max<size_t>(1, all.size() - 1 - i))) {
          const KernelDesc& d = all[i];
          for (uint32_t m : op == Op::gemv ? std::vector<uint32_t>{1} : std::vector<uint32_t>{2, 5, 9, 64}) {
            KernelTester().n(n).k(k).m(m).seed(seed_ + k * 131 + n).test(d);
            if (HasFatalFailure()) return;
          }
          if (i + 1 == all.size()) break;
        }
      }
    }
  }
}

TEST_P(LutKernels, EveryTokenCount) {
  // m = 1..9 and 64 against each m_tile, for each g, on a three-block K.
  size_t tested = 0;
  for (uint8_t g : {2, 3, 4})
    for (uint8_t mt : {1, 2, 3, 4}) {
      KernelDesc d = lut_desc(Op::gemm, GetParam(), g, 2 * V(), g == 3 ? 240 : 256, 1, mt);
      d.n = 2 * V() + 7;
      d.k = 700;
      if (!kernel_registry().unsupported_reason(d).empty()) continue;
      for (uint32_t m : {1u, 2u, 3u, 4u, 5u, 6u, 7u, 8u, 9u, 64u}) {
        KernelTester().n(2 * V() + 7).k(700).m(m).seed(seed_ + m).test(d);
        if (HasFatalFailure()) return;
      }
      ++tested;
    }
  EXPECT_GE(tested, 9u);
}

TEST_P(LutKernels, ConstantRowsAndExtremeActivations) {
  for (uint8_t g : {2, 3, 4}) {
    KernelDesc d = lut_desc(Op::gemm, GetParam(), g, V(), g == 3 ? 240 : 256, 1, 2);
    for (Fill w : {Fill::zero, Fill::plus, Fill::minus, Fill::mixed_rows, Fill::random})
      for (Fill a : {Fill::zero, Fill::plus, Fill::minus, Fill::extreme, Fill::lowest, Fill::random}) {
        KernelTester().n(V() + 8).k(700).m(7).weights(w).activations(a).seed(seed_).test(d);
        if (HasFatalFailure()) return;
      }
  }
}

TEST_P(LutKernels, WorstCaseLongRowsStayExact) {
  // All +1 or all -1 weights against all-127, all--128 and mixed extreme
  // activations over a long K, in one block and in many: the largest int16 lane
  // sums each chunk can hold (chunk_groups' bounds in lut_kernel.cpp) and the largest int32 sums.
  const uint32_t k = 20000;
  size_t tested = 0;
  for (uint8_t g : {2, 3, 4})
    for (uint16_t kb : {uint16_t(0), uint16_t(g == 3 ? 960 : 1024)})
      for (uint8_t mt : {1, 2}) {
        KernelDesc d = lut_desc(Op::gemm, GetParam(), g, V(), kb, 1, mt);
        if (kb == 0) d.k_block = static_cast<uint16_t>(65535 / (g == 3 ? 24 : 2 * g) * (g == 3 ? 24 : 2 * g));
        d.n = V();
        d.k = k;
        if (!kernel_registry().unsupported_reason(d).empty()) continue;
        ++tested;
        for (Fill w : {Fill::plus, Fill::minus})
          for (Fill a : {Fill::plus, Fill::lowest, Fill::extreme}) {
            KernelTester().n(V()).k(k).m(3).weights(w).activations(a).test(d);
            if (HasFatalFailure()) return;
          }
      }
  EXPECT_GE(tested, 10u);  // one-block g = 2 tables for 2 tokens exceed the stack budget
}

INSTANTIATE_TEST_SUITE_P(Isa, LutKernels, ::testing::Values(Isa::avx2, Isa::avxvnni, Isa::avx512vnni),
                         [](const auto& info) { return std::string(to_string(info.param)); });

TEST(LutKernelsReject, UnsupportedDescsSayWhy) {
  kernel_registry().add(jit::make_xbyak_provider());
  KernelDesc d = lut_desc(Op::gemv, Isa::avx2, 3, 64, 240, 1, 1);
  d.n = 64;
  d.k = 256;
  EXPECT_EQ(kernel_registry().unsupported_reason(d), "");
  KernelDesc bad = d;
  bad.lut_entry = DType::i8;  // g = 3 has int16 tables
  EXPECT_NE(kernel_registry().unsupported_reason(bad).find("lut_entry"), std::string::npos);
  bad = d;
  bad.k_block = 256;  // not a multiple of g = 3's 24-element unit
  EXPECT_NE(kernel_registry().unsupported_reason(bad), "");
  EXPECT_THROW(kernel_registry().get(bad), Error);
  bad = d;
  bad.n_tile = 48;  // not whole row vectors
  EXPECT_NE(kernel_registry().unsupported_reason(bad), "");
  bad = d;
  bad.op = Op::gemm;
  bad.m_tile = 4;  // 9 + 2 x 4 registers > 16
  EXPECT_NE(kernel_registry().unsupported_reason(bad).find("registers"), std::string::npos);
  bad = d;
  bad.k = 0;
  EXPECT_NE(kernel_registry().unsupported_reason(bad).find("K"), std::string::npos);
  bad = d;
  bad.lut_group = 5;
  EXPECT_NE(kernel_registry().unsupported_reason(bad), "");
}

TEST(LutKernelsReject, MaxIsaCapsAvx512) {
  kernel_registry().add(jit::make_xbyak_provider());
  KernelDesc d = lut_desc(Op::gemv, Isa::avx512vnni, 2, 64, 256, 1, 1);
  d.n = 64;
  d.k = 256;
  const char* old = std::getenv("TERN_MAX_ISA");
  const std::string saved = old ? old : "";
  setenv("TERN_MAX_ISA", "avx2", 1);
  const std::string why = kernel_registry().unsupported_reason(d);
  if (old)
    setenv("TERN_MAX_ISA", saved.c_str(), 1);
  else
    unsetenv("TERN_MAX_ISA");
  EXPECT_NE(why.find("TERN_MAX_ISA"), std::string::npos) << why;
}

// ---------------------------------------------------------------- packers

class LutPacking : public ::testing::TestWithParam<std::tuple<Isa, int>> {};

TEST_P(LutPacking, RoundTripsAndMatchesTensorPacking) {
  const auto [isa, g] = GetParam();
  KernelDesc d =
      lut_desc(Op::gemv, isa, static_cast<uint8_t>(g), 2 * vector_bytes(isa), g == 3 ? 240 : 256, 1, 1);
  d.n = 2 * vector_bytes(isa) + 5;
  d.k = 768;  // a multiple of the formats' 256-element blocks
  const PackedLayout l = layout_of(d);
  EXPECT_EQ(l.family, Family::lut);
  EXPECT_EQ(l.k_padded % l.unit_elems, 0u);
  EXPECT_EQ(l.total_bytes, l.n_padded / l.n_tile * l.tile_bytes);
  // Bits per weight: 2 for g = 2 and 4, 5/3 for g = 3 (+ a 32-bit correction per row).
  EXPECT_EQ((l.tile_bytes - (g == 3 ? 4 * l.n_tile : 0)) * 8 * 3, l.n_tile * l.k_padded * (g == 3 ? 5 : 6));

  std::mt19937_64 rng(7);
  std::vector<int8_t> w(l.n * l.k);
  for (auto& t : w) t = static_cast<int8_t>(rng() % 3) - 1;
  std::vector<uint8_t> packed(l.total_bytes), again(l.total_bytes, 0xAB);
  ref::pack_lut(l, w.data(), packed.data());
  std::vector<int8_t> back(w.size(), 9);
  ref::unpack_lut(l, packed.data(), back.data());
  EXPECT_EQ(back, w);

  for (GgmlType type : {GgmlType::TQ2_0, GgmlType::TQ1_0, GgmlType::I2_S}) {
    SCOPED_TRACE(ggml_type_name(type));
    const ref::FormatTraits* f = ref::format_traits(type);
    ASSERT_NE(f, nullptr);
    std::vector<uint8_t> file;
    if (type == GgmlType::I2_S) {
      file.resize(ref::i2_s_bytes(l.n * l.k));
      ref::pack_i2_s(w.data(), 0.5f, l.n * l.k, file.data());
    } else {
      const size_t row = ref::format_bytes(*f, l.k);
      file.resize(row * l.n);
      std::vector<float> scales(ref::ternary_scale_count(*f, l.k), 0.5f);
      for (uint64_t r = 0; r < l.n; ++r)
        f->from_trits(w.data() + r * l.k, scales.data(), l.k, file.data() + r * row);
    }
    std::fill(again.begin(), again.end(), 0xAB);
    EXPECT_EQ(ref::pack_from_tensor(l, type, file.data(), again.data()), 0.5f);
    EXPECT_EQ(again, packed);
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, LutPacking,
                         ::testing::Combine(::testing::Values(Isa::avx2, Isa::avx512vnni),
                                            ::testing::Values(2, 3, 4)),
                         [](const auto& info) {
                           return std::string(to_string(std::get<0>(info.param))) + "_g" +
                                  std::to_string(std::get<1>(info.param));
                         });

TEST(LutPacking, MadLayoutIsUnchanged) {
  KernelDesc d;
  d.family = Family::mad;
  d.isa = Isa::avx2;
  d.n_tile = 8;
  d.k_block = 256;
  d.n = 10;
  d.k = 300;
  const PackedLayout l = layout_of(d);
  EXPECT_EQ(l.family, Family::mad);
  EXPECT_EQ(l.group, 128u);
  EXPECT_EQ(l.k_padded, 384u);
  EXPECT_EQ(l.row_bytes, 96u);
  EXPECT_EQ(l.total_bytes, 16u * 96u);
}

}  // namespace
}  // namespace tern
