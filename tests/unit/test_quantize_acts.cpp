// The runtime's per-token activation quantiser (model::quantize_row, SIMD where the
// CPU has it) against the reference, byte for byte: random rows of every tail
// length, values whose scaled fraction is exactly +-0.5, zero rows, and rows
// with a value that is not finite.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "runtime/core/error.h"
#include "runtime/model/ternary_linear.h"
#include "runtime/ref/ref_kernels.h"

namespace tern {
namespace {

void expect_like_ref(const std::vector<float>& x, const std::string& what) {
  std::vector<int8_t> want(x.size() + 1, 77), got(x.size() + 1, 77);
  const float want_s = ref::quantize_activations(x.data(), x.size(), want.data());
  int32_t want_sum = 0;
  for (size_t i = 0; i < x.size(); ++i) want_sum += want[i];
  float s = 0;
  int32_t sum = 0;
  model::quantize_row(x.data(), x.size(), got.data(), &s, &sum);
  ASSERT_EQ(std::memcmp(&s, &want_s, 4), 0) << what;
  ASSERT_EQ(sum, want_sum) << what;
  for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(got[i], want[i]) << what << " element " << i << " x " << x[i];
  EXPECT_EQ(got[x.size()], 77) << what << ": wrote past the row";
}

TEST(QuantizeActs, RandomRowsOfEveryTailAreTheReferencesBytes) {
  const uint64_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0.0f, 2.0f);
  for (size_t k : {1, 7, 8, 9, 15, 16, 17, 31, 33, 255, 256, 257, 2560, 6912}) {
    std::vector<float> x(k);
    for (auto& v : x) v = nd(rng);
    if (k > 3) x[k / 2] = 40.0f;  // an outlier, as real activations have
    expect_like_ref(x, "k " + std::to_string(k));
  }
}

TEST(QuantizeActs, HalfwayValuesRoundAwayFromZeroLikeTheReference) {
  // amax 127 makes the scale exactly 1: x * s is x, and each fraction is what it says.
  std::vector<float> x = {127.0f, 2.5f, -2.5f, 0.5f, -0.5f, 126.5f, -126.5f, 0.49999997f, -0.49999997f,
                          3.5000002f, -1.5f, 0.0f, -0.0f, 1e-30f, 64.5f, -127.0f, 99.5f};
  expect_like_ref(x, "halfway values");
  std::vector<float> zeros(19, 0.0f);
  expect_like_ref(zeros, "a zero row");
}

TEST(QuantizeActs, ANonFiniteValueIsAnErrorNamingIt) {
  for (float bad : {std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                    std::numeric_limits<float>::quiet_NaN()})
    for (size_t at : {0, 5, 8, 20}) {
      std::vector<float> x(21, 1.0f);
      x[at] = bad;
      std::vector<int8_t> q(x.size());
      float s = 0;
      int32_t sum = 0;
      try {
        model::quantize_row(x.data(), x.size(), q.data(), &s, &sum);
        ADD_FAILURE() << "no error for " << bad << " at " << at;
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("element " + std::to_string(at)), std::string::npos) << e.what();
      }
    }
}

}  // namespace
}  // namespace tern
