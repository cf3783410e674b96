#include "runtime/model/attention_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "runtime/core/cpu_info.h"
#include "runtime/ref/fp16.h"

namespace tern::model {
namespace {

#if defined(__x86_64__)
bool use_avx2() {
  static const bool yes = host_cpu().supports(Isa::avx2) && host_cpu().features.f16c;
  return yes;
}

__attribute__((target("avx2,fma,f16c"))) float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma,f16c"))) float dot_f16_avx2(const float* q, const uint16_t* k, size_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(k + i))), a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(k + i + 8))), a1);
  }
  float s = hsum(_mm256_add_ps(a0, a1));
  for (; i < n; ++i) s += q[i] * ref::f16_to_f32(k[i]);
  return s;
}

__attribute__((target("avx2,fma,f16c"))) float dot_f32_avx2(const float* q, const float* k, size_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(k + i), a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), _mm256_loadu_ps(k + i + 8), a1);
  }
  float s = hsum(_mm256_add_ps(a0, a1));
  for (; i < n; ++i) s += q[i] * k[i];
  return s;
}

__attribute__((target("avx2,fma,f16c"))) void axpy_f16_avx2(float p, const uint16_t* v, float* out, size_t n) {
  const __m256 pv = _mm256_set1_ps(p);
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i, _mm256_fmadd_ps(pv, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(v + i))),
                                              _mm256_loadu_ps(out + i)));
  for (; i < n; ++i) out[i] += p * ref::f16_to_f32(v[i]);
}

__attribute__((target("avx2,fma,f16c"))) void axpy_f32_avx2(float p, const float* v, float* out, size_t n) {
  const __m256 pv = _mm256_set1_ps(p);
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i, _mm256_fmadd_ps(pv, _mm256_loadu_ps(v + i), _mm256_loadu_ps(out + i)));
  for (; i < n; ++i) out[i] += p * v[i];
}
#endif  // __x86_64__: elsewhere the generic loops below run

}  // namespace

float dot_f16(const float* q, const uint16_t* k, size_t n) {
#if defined(__x86_64__)
  if (use_avx2()) return dot_f16_avx2(q, k, n);
#endif
  float s = 0;
  for (size_t i = 0; i < n; ++i) s += q[i] * ref::f16_to_f32(k[i]);
  return s;
}

float dot_f32(const float* q, const float* k, size_t n) {
#if defined(__x86_64__)
  if (use_avx2()) return dot_f32_avx2(q, k, n);
#endif
  float s = 0;
  for (size_t i = 0; i < n; ++i) s += q[i] * k[i];
  return s;
}

void axpy_f16(float p, const uint16_t* v, float* out, size_t n) {
#if defined(__x86_64__)
  if (use_avx2()) return axpy_f16_avx2(p, v, out, n);
#endif
  for (size_t i = 0; i < n; ++i) out[i] += p * ref::f16_to_f32(v[i]);
}

void axpy_f32(float p, const float* v, float* out, size_t n) {
#if defined(__x86_64__)
  if (use_avx2()) return axpy_f32_avx2(p, v, out, n);
#endif
  for (size_t i = 0; i < n; ++i) out[i] += p * v[i];
}

}  // namespace tern::model
