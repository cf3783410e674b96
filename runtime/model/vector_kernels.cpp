#include "runtime/model/vector_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cmath>

#include "runtime/core/cpu_info.h"
#include "runtime/ref/fp16.h"

namespace tern::model {

// ---- generic twins ----

double sum_squares_generic(const float* x, size_t n) {
  double sum = 0.0;
  for (size_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
  return sum;
}

void exp_shifted_generic(float* x, size_t n, float shift) {
  for (size_t i = 0; i < n; ++i) x[i] = std::exp(x[i] - shift);
}

void silu_mul_generic(float* gate, const float* up, size_t n) {
  for (size_t i = 0; i < n; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void f32_to_f16_generic(const float* x, uint16_t* out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = ref::f32_to_f16(x[i]);
}

namespace {

#if defined(__x86_64__)
#define TERN_AVX2 __attribute__((target("avx2,fma,f16c")))

// exp of 8 floats: x = k ln2 + r with |r| <= ln2 / 2 (ln2 in two parts, so r is
// exact enough), exp(r) by the Cephes expf polynomial, then times 2^k. k goes up
// to 128 at the top of the range, which is 2 x 2^127, so the product overflows to
// +inf exactly where exp does. Below ln(FLT_MIN) the result is 0; NaN stays NaN.
TERN_AVX2 inline __m256 exp_avx2(__m256 x) {
  const __m256 lo = _mm256_set1_ps(-87.33654475f), hi = _mm256_set1_ps(88.75f);
  const __m256 xc = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
  const __m256 k = _mm256_round_ps(_mm256_fmadd_ps(xc, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)),
                                   _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693359375f), xc);
  r = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_add_ps(_mm256_fmadd_ps(y, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
  // 2^k as (k - k') doublings and 2^k' with k' <= 127 (an exponent field <= 254).
  const __m256i ki = _mm256_cvtps_epi32(k);
  const __m256i kc = _mm256_min_epi32(ki, _mm256_set1_epi32(127));
  y = _mm256_mul_ps(y, _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_sub_epi32(ki, kc), _mm256_set1_epi32(1))));
  y = _mm256_mul_ps(y, _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(kc, _mm256_set1_epi32(127)), 23)));
  y = _mm256_blendv_ps(y, _mm256_setzero_ps(), _mm256_cmp_ps(x, lo, _CMP_LT_OQ));
  return _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

// The last n % 8 elements go through the same vector code, from a padded copy.
TERN_AVX2 inline __m256 load_tail(const float* p, size_t count) {
  alignas(32) float buf[8] = {};
  std::copy(p, p + count, buf);
  return _mm256_load_ps(buf);
}

TERN_AVX2 inline void store_tail(float* p, __m256 v, size_t count) {
  alignas(32) float buf[8];
  _mm256_store_ps(buf, v);
  std::copy(buf, buf + count, p);
}

TERN_AVX2 double sum_squares_avx2(const float* x, size_t n) {
  __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd(), a2 = _mm256_setzero_pd(), a3 = _mm256_setzero_pd();
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 v0 = _mm256_loadu_ps(x + i), v1 = _mm256_loadu_ps(x + i + 8);
    const __m256 s0 = _mm256_mul_ps(v0, v0), s1 = _mm256_mul_ps(v1, v1);
    a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm256_castps256_ps128(s0)));
    a1 = _mm256_add_pd(a1, _mm256_cvtps_pd(_mm256_extractf128_ps(s0, 1)));
    a2 = _mm256_add_pd(a2, _mm256_cvtps_pd(_mm256_castps256_ps128(s1)));
    a3 = _mm256_add_pd(a3, _mm256_cvtps_pd(_mm256_extractf128_ps(s1, 1)));
  }
  alignas(32) double lanes[4];
  _mm256_store_pd(lanes, _mm256_add_pd(_mm256_add_pd(a0, a1), _mm256_add_pd(a2, a3)));
  double sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
  for (; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
  return sum;
}

TERN_AVX2 void exp_shifted_avx2(float* x, size_t n, float shift) {
  const __m256 s = _mm256_set1_ps(shift);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, exp_avx2(_mm256_sub_ps(_mm256_loadu_ps(x + i), s)));
  if (i < n) store_tail(x + i, exp_avx2(_mm256_sub_ps(load_tail(x + i, n - i), s)), n - i);
}

TERN_AVX2 inline __m256 silu_mul_avx2(__m256 g, __m256 up) {
  const __m256 e = exp_avx2(_mm256_xor_ps(g, _mm256_set1_ps(-0.0f)));
  return _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e)), up);
}

TERN_AVX2 void silu_mul_avx2(float* gate, const float* up, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(gate + i, silu_mul_avx2(_mm256_loadu_ps(gate + i), _mm256_loadu_ps(up + i)));
  if (i < n) store_tail(gate + i, silu_mul_avx2(load_tail(gate + i, n - i), load_tail(up + i, n - i)), n - i);
}

TERN_AVX2 void f32_to_f16_avx2(const float* x, uint16_t* out, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  for (; i < n; ++i) out[i] = ref::f32_to_f16(x[i]);
}
#endif  // __x86_64__: elsewhere the generic twins run

}  // namespace

bool vector_kernels_simd() {
#if defined(__x86_64__)
  static const bool yes = host_cpu().supports(Isa::avx2) && host_cpu().features.f16c;
  return yes;
#else
  return false;
#endif
}

double sum_squares(const float* x, size_t n) {
#if defined(__x86_64__)
  if (vector_kernels_simd()) return sum_squares_avx2(x, n);
#endif
  return sum_squares_generic(x, n);
}

void exp_shifted(float* x, size_t n, float shift) {
#if defined(__x86_64__)
  if (vector_kernels_simd()) return exp_shifted_avx2(x, n, shift);
#endif
  exp_shifted_generic(x, n, shift);
}

void silu_mul(float* gate, const float* up, size_t n) {
#if defined(__x86_64__)
  if (vector_kernels_simd()) return silu_mul_avx2(gate, up, n);
#endif
  silu_mul_generic(gate, up, n);
}

void f32_to_f16(const float* x, uint16_t* out, size_t n) {
#if defined(__x86_64__)
  if (vector_kernels_simd()) return f32_to_f16_avx2(x, out, n);
#endif
  f32_to_f16_generic(x, out, n);
}

}  // namespace tern::model
