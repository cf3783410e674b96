// Tests for runtime/ref/ref_kernels.h: activation quantisation, exact integer
// GEMM/GEMV against a naive double loop, int32 worst cases, and the float
// output formulas in their documented order.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "runtime/core/error.h"
#include "runtime/ref/formats.h"
#include "runtime/ref/ref_kernels.h"

namespace tern::ref {
namespace {

std::vector<int8_t> random_int8(size_t n, std::mt19937& rng, int lo, int hi) {
  std::uniform_int_distribution<int> dist(lo, hi);
  std::vector<int8_t> v(n);
  for (auto& x : v) x = static_cast<int8_t>(dist(rng));
  return v;
}

uint32_t bits(float f) { return std::bit_cast<uint32_t>(f); }

// ================================================================ activations

TEST(RefActQuant, MaxMapsTo127AndScaleIs127OverMax) {
  const uint32_t seed = 3;
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 2.0f);
  for (size_t k : {1u, 7u, 2560u}) {
    std::vector<float> x(k);
    for (auto& v : x) v = dist(rng);
    std::vector<int8_t> q(k);
    const float s = quantize_activations(x.data(), k, q.data());
    float amax = 0.0f;
    size_t arg = 0;
    for (size_t i = 0; i < k; ++i)
      if (std::fabs(x[i]) > amax) amax = std::fabs(x[arg = i]);
    EXPECT_EQ(s, 127.0f / amax);
    EXPECT_EQ(q[arg], x[arg] > 0 ? 127 : -127);
    for (size_t i = 0; i < k; ++i) {
      EXPECT_EQ(q[i], static_cast<int8_t>(std::round(x[i] * s))) << i;
      EXPECT_LE(std::abs(q[i]), 127);
    }
  }
}

TEST(RefActQuant, ZeroVectorGivesZerosAndScaleOne) {
  std::vector<float> x(100, 0.0f);
  x[3] = -0.0f;
  std::vector<int8_t> q(100, 5);
  EXPECT_EQ(quantize_activations(x.data(), x.size(), q.data()), 1.0f);
  for (int8_t v : q) EXPECT_EQ(v, 0);
}

TEST(RefActQuant, HalvesRoundAwayFromZero) {
  // max 127 gives s = 1 exactly, so x * s is x.
  const std::vector<float> x = {127.0f, 0.5f, -0.5f, 1.5f, -1.5f, 2.5f, -2.5f, 126.5f, -126.5f, 0.49999997f};
  std::vector<int8_t> q(x.size());
  EXPECT_EQ(quantize_activations(x.data(), x.size(), q.data()), 1.0f);
  EXPECT_EQ(q, (std::vector<int8_t>{127, 1, -1, 2, -2, 3, -3, 127, -127, 0}));

  // Negative max: s = 127 / 4 = 31.75; 2 * 31.75 = 63.5 -> 64, -1 * 31.75 -> -32.
  const std::vector<float> y = {-4.0f, 2.0f, -1.0f};
  std::vector<int8_t> r(3);
  EXPECT_EQ(quantize_activations(y.data(), 3, r.data()), 31.75f);
  EXPECT_EQ(r, (std::vector<int8_t>{-127, 64, -32}));
}

TEST(RefActQuant, RejectsNonFiniteInput) {
  std::vector<float> x(10, 1.0f);
  std::vector<int8_t> q(10);
  x[4] = NAN;
  EXPECT_THROW(quantize_activations(x.data(), x.size(), q.data()), Error);
  x[4] = -INFINITY;
  EXPECT_THROW(quantize_activations(x.data(), x.size(), q.data()), Error);
}

TEST(RefActQuant, MultiTokenMatchesRowByRow) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> dist(-3.0f, 3.0f);
  const size_t m = 5, k = 33;
  std::vector<float> x(m * k);
  for (auto& v : x) v = dist(rng);
  std::fill(x.begin() + 2 * k, x.begin() + 3 * k, 0.0f);  // a zero token in the middle
  std::vector<int8_t> q(m * k), row(k);
  std::vector<float> s(m);
  quantize_activations(x.data(), m, k, q.data(), s.data());
  for (size_t t = 0; t < m; ++t) {
    EXPECT_EQ(s[t], quantize_activations(x.data() + t * k, k, row.data()));
    EXPECT_TRUE(std::equal(row.begin(), row.end(), q.begin() + static_cast<long>(t * k)));
  }
  EXPECT_EQ(s[2], 1.0f);
}

// ================================================================ integer GEMM

TEST(RefGemm, MatchesNaiveFloatLoop) {
  const uint32_t seed = 2024;
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  const size_t n = 13;
  for (size_t k : {1u, 37u, 1001u}) {
    for (size_t m = 1; m <= 9; ++m) {
      SCOPED_TRACE("m " + std::to_string(m) + " k " + std::to_string(k));
      const auto w = random_int8(n * k, rng, -1, 1);
      const auto a = random_int8(m * k, rng, -128, 127);
      std::vector<int32_t> acc(m * n, 12345);
      gemm_ref(w.data(), a.data(), m, n, k, acc.data());
      for (size_t t = 0; t < m; ++t) {
        for (size_t i = 0; i < n; ++i) {
          double sum = 0;
          for (size_t j = 0; j < k; ++j) sum += double(w[i * k + j]) * double(a[t * k + j]);
          ASSERT_EQ(acc[t * n + i], static_cast<int32_t>(sum)) << "t " << t << " i " << i;
        }
      }
      if (m == 1) {
        std::vector<int32_t> v(n);
        gemv_ref(w.data(), a.data(), n, k, v.data());
        EXPECT_EQ(v, acc);
      }
    }
  }
}

TEST(RefGemm, WorstCaseSumsAreExactInInt32) {
  {
    const size_t k = 8192;
    const std::vector<int8_t> w(k, 1), a(k, 127), neg(k, -128);
    int32_t acc = 0;
    gemv_ref(w.data(), a.data(), 1, k, &acc);
    EXPECT_EQ(acc, 127 * 8192);
    gemv_ref(w.data(), neg.data(), 1, k, &acc);
    EXPECT_EQ(acc, -128 * 8192);
  }
  {
    // The largest K the reference accepts: -128 * K is just above INT32_MIN.
    const size_t k = kMaxExactK;
    const std::vector<int8_t> w(k, 1), a(k, -128);
    int32_t acc = 0;
    gemv_ref(w.data(), a.data(), 1, k, &acc);
    EXPECT_EQ(acc, -128 * static_cast<int32_t>(k));
    EXPECT_THROW(gemv_ref(w.data(), a.data(), 1, k + 1, &acc), Error);
  }
}

// ================================================================ float outputs

TEST(RefGemm, FloatOutputFollowsTheDocumentedOrder) {
  std::mt19937 rng(5);
  const size_t m = 3, n = 7, k = 300;
  const auto w = random_int8(n * k, rng, -1, 1);
  const auto a = random_int8(m * k, rng, -127, 127);
  const float w_scale = 0.0173f;
  const std::vector<float> a_scales = {3.7f, 127.0f, 0.91f};
  std::vector<int32_t> acc(m * n);
  gemm_ref(w.data(), a.data(), m, n, k, acc.data());
  std::vector<float> out(m * n), out2(m * n);
  scale_output(acc.data(), m, n, w_scale, a_scales.data(), out.data());
  gemm_ref_f32(w.data(), w_scale, a.data(), a_scales.data(), m, n, k, out2.data());
  for (size_t t = 0; t < m; ++t) {
    for (size_t i = 0; i < n; ++i) {
      volatile float scaled = static_cast<float>(acc[t * n + i]) * w_scale;  // volatile: no fusing
      const float want = scaled / a_scales[t];
      EXPECT_EQ(bits(out[t * n + i]), bits(want));
      EXPECT_EQ(bits(out2[t * n + i]), bits(want));
    }
  }
}

TEST(RefGemm, BlockScaledFollowsTheDocumentedOrder) {
  const uint32_t seed = 77;
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> sdist(0.01f, 2.0f);
  const size_t m = 2, n = 5, k = 1024, block = 256, nb = k / block;
  const auto w = random_int8(n * k, rng, -1, 1);
  const auto a = random_int8(m * k, rng, -127, 127);
  std::vector<float> ws(n * nb);
  for (auto& s : ws) s = sdist(rng);
  const std::vector<float> a_scales = {12.5f, 0.3f};
  std::vector<float> out(m * n);
  gemm_ref_block_scaled(w.data(), ws.data(), block, a.data(), a_scales.data(), m, n, k, out.data());
  for (size_t t = 0; t < m; ++t) {
    for (size_t i = 0; i < n; ++i) {
      volatile float sum = 0.0f;
      for (size_t b = 0; b < nb; ++b) {
        int32_t acc = 0;
        for (size_t j = b * block; j < (b + 1) * block; ++j) acc += w[i * k + j] * a[t * k + j];
        volatile float term = static_cast<float>(acc) * ws[i * nb + b];
        sum = sum + term;
      }
      EXPECT_EQ(bits(out[t * n + i]), bits(sum / a_scales[t])) << t << "," << i;
    }
  }
  EXPECT_THROW(
      gemm_ref_block_scaled(w.data(), ws.data(), block, a.data(), a_scales.data(), m, n, 1000, out.data()),
      Error);
}

// A TQ2_0 tensor end to end: pack, unpack, block-scaled GEMV; compare with a
// double-precision dot product of the dequantised weights and activations.
TEST(RefGemm, Tq2_0TensorEndToEnd) {
  const uint32_t seed = 8;
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  const size_t n = 4, k = 512, nb = k / 256;
  const auto trits = random_int8(n * k, rng, -1, 1);
  const std::vector<float> scales = {0.5f, 0.75f, 1.0f, 1.25f, 1.5f, 1.75f, 2.0f, 2.25f};
  std::vector<uint8_t> packed(n * nb * 66);
  pack_tq2_0(trits.data(), scales.data(), n * k, packed.data());

  std::vector<int8_t> w(n * k);
  std::vector<float> ws(n * nb);
  unpack_tq2_0(packed.data(), n * k, w.data(), ws.data());
  std::vector<float> wf(n * k);
  dequantize_tq2_0(packed.data(), n * k, wf.data());

  std::uniform_real_distribution<float> xdist(-1.0f, 1.0f);
  std::vector<float> x(k);
  for (auto& v : x) v = xdist(rng);
  std::vector<int8_t> q(k);
  const float s = quantize_activations(x.data(), k, q.data());
  std::vector<float> out(n);
  gemm_ref_block_scaled(w.data(), ws.data(), 256, q.data(), &s, 1, n, k, out.data());
  for (size_t i = 0; i < n; ++i) {
    double want = 0;  // uses the quantised activations, so only float rounding differs
    for (size_t j = 0; j < k; ++j) want += double(wf[i * k + j]) * double(q[j]) / double(s);
    EXPECT_NEAR(out[i], want, 1e-5 * (1 + std::fabs(want))) << i;
  }
}

}  // namespace
}  // namespace tern::ref

namespace tern {
namespace {

// The fast rounding equals std::round + clamp on every float quantize_activations
// can produce: all halves and their neighbours, and a dense random sample.
TEST(RefKernels, RoundToInt8IsStdRoundClamped) {
  auto want = [](float v) { return static_cast<int8_t>(std::clamp(std::round(v), -127.0f, 127.0f)); };
  for (int i = -128; i <= 128; ++i)
    for (float base : {static_cast<float>(i), i + 0.5f, i - 0.5f})
      for (float v : {base, std::nextafter(base, 200.0f), std::nextafter(base, -200.0f)})
        ASSERT_EQ(ref::round_to_int8(v), want(v)) << v;
  const uint64_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> d(-127.00002f, 127.00002f);
  for (int i = 0; i < 2000000; ++i) {
    const float v = d(rng);
    ASSERT_EQ(ref::round_to_int8(v), want(v)) << v;
  }
}

}  // namespace
}  // namespace tern
