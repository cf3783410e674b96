#include "runtime/ref/ref_kernels.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "runtime/core/error.h"

// The float formulas in ref_kernels.h are exact sequences of f32 operations.
// Fusing a multiply and an add into an FMA would change results. Products and
// sums are therefore separate statements: clang's default (-ffp-contract=on)
// only fuses within one expression, and GCC in ISO mode (-std=c++20, which the
// build uses: CMAKE_CXX_EXTENSIONS OFF) does not contract at all. -ffast-math
// would break this and more, so refuse it.
#if defined(__FAST_MATH__)
#error "runtime/ref must not be built with -ffast-math: the reference results would change"
#endif

namespace tern::ref {

int8_t round_to_int8(float v) {
  // std::round (halves away from zero), then clamped to +-127, written so that it
  // compiles to a few vector instructions instead of a libm call per element:
  // |v| <= 127 * (1 + 2^-23) here, so the int conversion truncates exactly and
  // v - t (the fraction) is exact. x * s can exceed 127 by an ulp for the
  // largest element, hence the clamp.
  int t = static_cast<int>(v);
  const float frac = v - static_cast<float>(t);
  t += (frac >= 0.5f) - (frac <= -0.5f);
  return static_cast<int8_t>(std::clamp(t, -127, 127));
}

float quantize_activations(const float* x, size_t k, int8_t* q) {
  float amax = 0.0f;
  bool finite = true;
  for (size_t i = 0; i < k; ++i) {
    finite &= std::isfinite(x[i]);
    amax = std::max(amax, std::fabs(x[i]));
  }
  if (!finite) {
    size_t bad = 0;
    while (std::isfinite(x[bad])) ++bad;
    throw Error("quantize_activations: element " + std::to_string(bad) + " is not finite");
  }
  if (amax == 0.0f) {
    std::fill(q, q + k, int8_t{0});
    return 1.0f;
  }
  const float s = 127.0f / amax;
  for (size_t i = 0; i < k; ++i) q[i] = round_to_int8(x[i] * s);
  return s;
}

void quantize_activations(const float* x, size_t m, size_t k, int8_t* q, float* a_scales) {
  for (size_t t = 0; t < m; ++t) a_scales[t] = quantize_activations(x + t * k, k, q + t * k);
}

void gemm_ref(const int8_t* w_trits, const int8_t* act, size_t m, size_t n, size_t k, int32_t* acc) {
  if (k > kMaxExactK)
    throw Error("gemm_ref: K = " + std::to_string(k) + " exceeds " + std::to_string(kMaxExactK) +
                ", the largest K whose int32 sums are exact");
  for (size_t t = 0; t < m; ++t) {
    const int8_t* a = act + t * k;
    for (size_t i = 0; i < n; ++i) {
      const int8_t* w = w_trits + i * k;
      // int64 so that no intermediate can overflow even for weights outside
      // {-1, 0, 1}; the result is checked against int32 below.
      int64_t sum = 0;
      for (size_t j = 0; j < k; ++j) sum += static_cast<int64_t>(w[j]) * a[j];
      if (sum > std::numeric_limits<int32_t>::max() || sum < std::numeric_limits<int32_t>::min())
        throw Error("gemm_ref: dot product of token " + std::to_string(t) + " and row " + std::to_string(i) +
                    " does not fit int32 (weights are not ternary?)");
      acc[t * n + i] = static_cast<int32_t>(sum);
    }
  }
}

void scale_output(const int32_t* acc, size_t m, size_t n, float w_scale, const float* a_scales, float* out) {
  for (size_t t = 0; t < m; ++t) {
    for (size_t i = 0; i < n; ++i) {
      const float scaled = static_cast<float>(acc[t * n + i]) * w_scale;
      out[t * n + i] = scaled / a_scales[t];
    }
  }
}

void gemm_ref_f32(const int8_t* w_trits, float w_scale, const int8_t* act, const float* a_scales, size_t m,
                  size_t n, size_t k, float* out) {
  // One exact dot product at a time, so no int32 scratch buffer is needed.
  for (size_t t = 0; t < m; ++t) {
    for (size_t i = 0; i < n; ++i) {
      int32_t acc = 0;
      gemm_ref(w_trits + i * k, act + t * k, 1, 1, k, &acc);
      scale_output(&acc, 1, 1, w_scale, a_scales + t, out + t * n + i);
    }
  }
}

void gemm_ref_block_scaled(const int8_t* w_trits, const float* w_scales, size_t block, const int8_t* act,
                           const float* a_scales, size_t m, size_t n, size_t k, float* out) {
  if (block == 0 || k % block != 0)
    throw Error("gemm_ref_block_scaled: K = " + std::to_string(k) + " is not a multiple of the scale block " +
                std::to_string(block));
  const size_t nb = k / block;
  for (size_t t = 0; t < m; ++t) {
    for (size_t i = 0; i < n; ++i) {
      float sum = 0.0f;
      for (size_t b = 0; b < nb; ++b) {
        int32_t acc = 0;
        gemm_ref(w_trits + i * k + b * block, act + t * k + b * block, 1, 1, block, &acc);
        const float term = static_cast<float>(acc) * w_scales[i * nb + b];
        sum += term;
      }
      out[t * n + i] = sum / a_scales[t];
    }
  }
}

}  // namespace tern::ref
