#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "runtime/model/head_kernels.h"
#include "runtime/ref/formats.h"

namespace tern {
namespace {

// Rows of `type` made from random floats, their dequantised values, and activations.
struct HeadCase {
  GgmlType type;
  size_t rows, k, m;
  std::vector<uint8_t> bytes;
  std::vector<float> w, x;
  size_t row_bytes;

  HeadCase(GgmlType t, size_t rows_, size_t k_, size_t m_, uint64_t seed) : type(t), rows(rows_), k(k_), m(m_) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> nd(0.0f, 0.1f);
    std::vector<float> src(rows * k);
    for (auto& v : src) v = nd(rng);
    const ref::FormatTraits& f = *ref::format_traits(t);
    row_bytes = ref::format_bytes(f, k);
    bytes.resize(rows * row_bytes);
    f.from_float(src.data(), src.size(), bytes.data());
    w.resize(src.size());
    f.to_float(bytes.data(), w.size(), w.data());
    x.resize(m * k);
    for (auto& v : x) v = 3.0f * nd(rng);
    x[0] = 5.0f;  // an outlier, as real activations have
  }
};

TEST(HeadKernels, SimdMatchesGenericAndFloatDot) {
  const uint64_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  for (GgmlType t : {GgmlType::Q6_K, GgmlType::Q8_0, GgmlType::F16, GgmlType::BF16, GgmlType::F32}) {
    SCOPED_TRACE(std::string(ggml_type_name(t)));
    // 5 Q6_K blocks a row: the SIMD rows take four at a time, then one alone.
    HeadCase c(t, 67, 1280, 3, seed);
    model::HeadActs a;
    model::prepare_head_acts(t, c.x.data(), c.m, c.k, a);
    std::vector<float> fast(c.m * c.rows, NAN), generic(c.m * c.rows, NAN);
    model::head_dot_rows(c.bytes.data(), c.row_bytes, a, 0, c.rows, fast.data(), c.rows);
    model::head_dot_rows_generic(c.bytes.data(), c.row_bytes, a, 0, c.rows, generic.data(), c.rows);
    // Every other path this CPU runs gives what the chosen one gives.
    for (Isa isa : model::head_kernel_isas()) {
      if (!model::head_kernel_runs(isa)) continue;
      std::vector<float> other(c.m * c.rows, NAN);
      model::head_dot_rows_isa(isa, c.bytes.data(), c.row_bytes, a, 0, c.rows, other.data(), c.rows);
      const bool integer = t == GgmlType::Q6_K || t == GgmlType::Q8_0;
      for (size_t i = 0; i < other.size(); ++i) {
        if (integer)
          ASSERT_EQ(std::memcmp(&other[i], &generic[i], 4), 0) << to_string(isa) << " index " << i;
        else
          ASSERT_NEAR(other[i], generic[i], 1e-4f * (1 + std::fabs(generic[i]))) << to_string(isa) << " index " << i;
      }
    }
    const bool integer = t == GgmlType::Q6_K || t == GgmlType::Q8_0;
    for (size_t tok = 0; tok < c.m; ++tok)
      for (size_t r = 0; r < c.rows; ++r) {
        const size_t i = tok * c.rows + r;
        if (integer)
          ASSERT_EQ(std::memcmp(&fast[i], &generic[i], 4), 0) << "token " << tok << " row " << r;
        else
          ASSERT_NEAR(fast[i], generic[i], 1e-4f * (1 + std::fabs(generic[i])));
        // Against the float dot product of the dequantised row: int8 activations
        // round each x by at most half its block's step (amax / 127 / 2), so the
        // error is at most the sum over elements of |w| times that half step.
        const size_t block = t == GgmlType::Q6_K ? 256 : 32;
        double want = 0, bound = 1e-3;
        for (size_t b0 = 0; b0 < c.k; b0 += block) {
          float amax = 0;
          for (size_t j = b0; j < b0 + block; ++j) amax = std::max(amax, std::fabs(c.x[tok * c.k + j]));
          for (size_t j = b0; j < b0 + block; ++j) {
            want += static_cast<double>(c.w[r * c.k + j]) * c.x[tok * c.k + j];
            if (integer) bound += std::fabs(c.w[r * c.k + j]) * amax / 127.0 / 2.0 * 1.001;
          }
        }
        ASSERT_NEAR(fast[i], want, bound) << "token " << tok << " row " << r;
      }
  }
}

// Q6_K blocks of random bytes (every 6-bit value, every int8 sub-block scale
// -128 included) against activations at the int8 extremes: each path this CPU
// runs is bit-exact with the generic twin.
TEST(HeadKernels, Q6KRandomBlocksAndExtremeActivationsAreExactOnEveryPath) {
  const uint64_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const size_t rows = 33, k = 1536, m = 2, row_bytes = k / 256 * 210;  // 4 + 2 blocks a row
  std::vector<uint8_t> bytes(rows * row_bytes);
  for (auto& v : bytes) v = static_cast<uint8_t>(rng());
  for (size_t r = 0; r < rows; ++r)
    for (size_t b = 0; b < k / 256; ++b) {
      const uint16_t d = static_cast<uint16_t>(0x2000 + rng() % 0x1000);  // a normal f16 around 0.01
      std::memcpy(&bytes[r * row_bytes + b * 210 + 208], &d, 2);
    }
  std::vector<float> x(m * k);
  for (size_t i = 0; i < x.size(); ++i) x[i] = i % 3 == 0 ? 1.0f : i % 3 == 1 ? -1.0f : 0.25f;  // q = +-127
  x[5] = -1.0f;
  model::HeadActs a;
  model::prepare_head_acts(GgmlType::Q6_K, x.data(), m, k, a);
  std::vector<float> generic(m * rows, NAN);
  model::head_dot_rows_generic(bytes.data(), row_bytes, a, 0, rows, generic.data(), rows);
  for (Isa isa : model::head_kernel_isas()) {
    if (!model::head_kernel_runs(isa)) continue;
    std::vector<float> got(m * rows, NAN);
    model::head_dot_rows_isa(isa, bytes.data(), row_bytes, a, 0, rows, got.data(), rows);
    for (size_t i = 0; i < got.size(); ++i)
      ASSERT_EQ(std::memcmp(&got[i], &generic[i], 4), 0) << to_string(isa) << " index " << i << ": " << got[i]
                                                         << " vs " << generic[i];
  }
}

TEST(HeadKernels, RowRangesWriteOnlyTheirRows) {
  HeadCase c(GgmlType::Q6_K, 40, 256, 2, 7);
  model::HeadActs a;
  model::prepare_head_acts(c.type, c.x.data(), c.m, c.k, a);
  std::vector<float> out(c.m * c.rows, -7.0f);
  model::head_dot_rows(c.bytes.data(), c.row_bytes, a, 10, 20, out.data(), c.rows);
  for (size_t t = 0; t < c.m; ++t)
    for (size_t r = 0; r < c.rows; ++r) {
      if (r < 10 || r >= 20) EXPECT_EQ(out[t * c.rows + r], -7.0f);
      else EXPECT_NE(out[t * c.rows + r], -7.0f);
    }
}

}  // namespace
}  // namespace tern
