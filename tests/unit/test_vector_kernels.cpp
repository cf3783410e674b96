#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "runtime/model/vector_kernels.h"
#include "runtime/ref/fp16.h"

namespace tern {
namespace {

// Distance in units in the last place between two finite floats of one sign.
int64_t ulps(float a, float b) {
  const auto key = [](float f) {
    const int32_t i = std::bit_cast<int32_t>(f);
    return i < 0 ? int64_t{INT32_MIN} - i : int64_t{i};
  };
  return std::llabs(key(a) - key(b));
}

std::vector<float> random_floats(size_t n, float lo, float hi, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

TEST(VectorKernels, ExpIsWithinTwoUlpOfStdExpAndHandlesTheEdges) {
  const uint64_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::vector<float> x = random_floats(100003, -87.0f, 88.7f, seed);  // not a multiple of 8: a tail
  for (float v : {0.0f, -0.0f, 1.0f, -1.0f, 0.5f * 0.6931472f, -0.5f * 0.6931472f, 88.72f, -87.3f, 1e-8f, -1e-8f})
    x.push_back(v);
  std::vector<float> got = x;
  model::exp_shifted(got.data(), got.size(), 0.0f);
  for (size_t i = 0; i < x.size(); ++i) {
    const float want = std::exp(x[i]);
    ASSERT_LE(ulps(got[i], want), 2) << "exp(" << x[i] << ") = " << got[i] << ", std::exp " << want;
  }
  // Overflow, underflow, infinities and NaN, at every lane position.
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> edge = {89.0f, 1000.0f, inf, -88.0f, -1000.0f, -inf, nan, 88.7228f, -103.0f};
  for (size_t at = 0; at < 9; ++at) {
    std::vector<float> v(at, 0.0f);
    v.insert(v.end(), edge.begin(), edge.end());
    model::exp_shifted(v.data(), v.size(), 0.0f);
    const float* e = v.data() + at;
    EXPECT_EQ(e[0], inf);
    EXPECT_EQ(e[1], inf);
    EXPECT_EQ(e[2], inf);
    // std::exp is subnormal at -88 and -103: the SIMD path gives 0 there (documented).
    const bool simd = model::vector_kernels_simd();
    EXPECT_EQ(e[3], simd ? 0.0f : std::exp(-88.0f));
    EXPECT_EQ(e[4], 0.0f);
    EXPECT_EQ(e[5], 0.0f);
    EXPECT_TRUE(std::isnan(e[6]));
    EXPECT_LE(ulps(e[7], std::exp(88.7228f)), 2);
    EXPECT_EQ(e[8], simd ? 0.0f : std::exp(-103.0f));
  }
  // The shift is subtracted first, as softmax does.
  std::vector<float> s = {3.0f, 2.0f, 1.0f};
  model::exp_shifted(s.data(), s.size(), 3.0f);
  EXPECT_EQ(s[0], 1.0f);
  EXPECT_LE(ulps(s[2], std::exp(-2.0f)), 2);
}

TEST(VectorKernels, SiluMulMatchesTheFormula) {
  const uint64_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  const size_t n = 6912 + 5;
  std::vector<float> gate = random_floats(n, -20.0f, 20.0f, seed), up = random_floats(n, -3.0f, 3.0f, seed + 1);
  gate[0] = -200.0f;  // exp(200) overflows: silu is -0, times up
  gate[1] = 200.0f;
  std::vector<float> got = gate, want = gate;
  model::silu_mul(got.data(), up.data(), n);
  model::silu_mul_generic(want.data(), up.data(), n);
  for (size_t i = 0; i < n; ++i)
    ASSERT_NEAR(got[i], want[i], 4e-7f * std::fabs(want[i]) + 1e-30f) << "gate " << gate[i] << " up " << up[i];
  EXPECT_EQ(got[0], 0.0f);
  EXPECT_EQ(got[1], 200.0f * up[1]);
  // A NaN gate gives NaN, for the quantiser to report.
  std::vector<float> g = {1.0f, std::numeric_limits<float>::quiet_NaN()}, u = {1.0f, 1.0f};
  model::silu_mul(g.data(), u.data(), 2);
  EXPECT_TRUE(std::isnan(g[1]));
}

TEST(VectorKernels, SumOfSquaresMatchesTheSequentialDoubleSum) {
  const uint64_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  for (size_t n : {0, 1, 7, 15, 16, 17, 2560, 6912, 6917}) {
    const std::vector<float> x = random_floats(n, -50.0f, 50.0f, seed + n);
    const double got = model::sum_squares(x.data(), n), want = model::sum_squares_generic(x.data(), n);
    EXPECT_NEAR(got, want, 1e-12 * want) << "n " << n;
    EXPECT_EQ(static_cast<float>(got / std::max<size_t>(n, 1)), static_cast<float>(want / std::max<size_t>(n, 1)))
        << "n " << n;
  }
}

TEST(VectorKernels, F16StoreIsBitExactWithTheReference) {
  const uint64_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  // Random bit patterns cover normals, subnormals, both halves of every rounding
  // tie and the overflow range; NaNs are checked to stay NaN.
  const size_t n = (1 << 16) + 3;
  std::vector<float> x(n);
  for (auto& v : x) v = std::bit_cast<float>(static_cast<uint32_t>(rng()));
  for (float v : {65504.0f, 65519.99f, 65520.0f, 5.9604645e-8f, 2.9802322e-8f, 2.9802326e-8f, -0.0f})
    x.push_back(v);
  std::vector<uint16_t> got(x.size()), want(x.size());
  model::f32_to_f16(x.data(), got.data(), x.size());
  model::f32_to_f16_generic(x.data(), want.data(), x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(x[i])) {
      EXPECT_TRUE(std::isnan(ref::f16_to_f32(got[i]))) << i;
      continue;
    }
    ASSERT_EQ(got[i], want[i]) << "element " << i << " bits " << std::bit_cast<uint32_t>(x[i]);
  }
}

}  // namespace
}  // namespace tern
