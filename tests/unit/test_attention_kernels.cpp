#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "runtime/model/attention_kernels.h"
#include "runtime/ref/fp16.h"

namespace tern {
namespace {

// Query heads sharing a KV head, over a cache of n positions, rows `stride` apart
// (other heads' values in between), against the loops built from dot / exp /
// axpy one head at a time: bit for bit, for 1, 2 and 4 heads (SIMD) and 3 (loops).
TEST(AttentionKernels, HeadsMatchThePerPositionLoopsBitForBit) {
  const uint64_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (size_t heads : {1, 2, 3, 4}) {
    for (size_t hd : {16, 48, 80, 128}) {
      for (size_t n : {1, 2, 7, 64, 333}) {
        SCOPED_TRACE(std::to_string(heads) + " heads, head_dim " + std::to_string(hd) + ", positions " +
                     std::to_string(n));
        const size_t stride = 3 * hd + 16;
        std::vector<float> q(heads * hd), k32(n * stride), v32(n * stride);
        for (auto& x : q) x = 2.0f * nd(rng);
        for (auto& x : k32) x = nd(rng);
        for (auto& x : v32) x = nd(rng);
        std::vector<uint16_t> k16(k32.size()), v16(v32.size());
        for (size_t i = 0; i < k32.size(); ++i) k16[i] = ref::f32_to_f16(k32[i]), v16[i] = ref::f32_to_f16(v32[i]);
        const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
        std::vector<float> sc(heads * n), sc1(n), got(heads * hd, NAN), want(hd, NAN);

        model::attention_heads_f16(q.data(), k16.data() + hd, v16.data() + hd, stride, n, hd, heads, scale, sc.data(),
                                   got.data());
        for (size_t h = 0; h < heads; ++h) {
          model::attention_head_twin_f16(q.data() + h * hd, k16.data() + hd, v16.data() + hd, stride, n, hd, scale,
                                         sc1.data(), want.data());
          ASSERT_EQ(std::memcmp(got.data() + h * hd, want.data(), hd * sizeof(float)), 0) << "f16 cache, head " << h;
        }

        model::attention_heads_f32(q.data(), k32.data(), v32.data(), stride, n, hd, heads, scale, sc.data(), got.data());
        for (size_t h = 0; h < heads; ++h) {
          model::attention_head_twin_f32(q.data() + h * hd, k32.data(), v32.data(), stride, n, hd, scale, sc1.data(),
                                         want.data());
          ASSERT_EQ(std::memcmp(got.data() + h * hd, want.data(), hd * sizeof(float)), 0) << "f32 cache, head " << h;
        }

        // And it is attention: a convex combination of the value rows, per dimension.
        for (size_t d = 0; d < heads * hd; ++d) {
          float lo = INFINITY, hi = -INFINITY;
          for (size_t s = 0; s < n; ++s)
            lo = std::min(lo, v32[s * stride + d % hd]), hi = std::max(hi, v32[s * stride + d % hd]);
          ASSERT_GE(got[d], lo - 1e-4f) << d;
          ASSERT_LE(got[d], hi + 1e-4f) << d;
        }
      }
    }
  }
}

// One position dominating the scores picks its value row.
TEST(AttentionKernels, ASharpScorePicksItsValueRow) {
  const size_t hd = 128, n = 50, stride = hd;
  std::vector<float> q(hd, 0.0f), k(n * stride, 0.0f), v(n * stride);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i % 97) - 48.0f;
  q[3] = 100.0f;
  k[17 * stride + 3] = 10.0f;  // score 1000 / sqrt(128) at position 17, 0 elsewhere
  std::vector<float> sc(n), out(hd);
  model::attention_heads_f32(q.data(), k.data(), v.data(), stride, n, hd, 1, 1.0f / std::sqrt(128.0f), sc.data(),
                             out.data());
  for (size_t d = 0; d < hd; ++d) EXPECT_NEAR(out[d], v[17 * stride + d], 1e-3f) << d;
}

}  // namespace
}  // namespace tern
