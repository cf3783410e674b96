#include "runtime/model/attention_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <limits>

#include "runtime/model/vector_kernels.h"
#include "runtime/ref/fp16.h"

namespace tern::model {

void softmax_from_max(float* p, size_t n, float max) {
  exp_shifted(p, n, max);
  double sum = 0.0;
  for (size_t s = 0; s < n; ++s) sum += p[s];
  const float inv = static_cast<float>(1.0 / sum);
  for (size_t s = 0; s < n; ++s) p[s] = p[s] * inv;
}

namespace {

#if defined(__x86_64__)

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

// ---- one head in one function ----

// Eight cache elements as f32: f16 widened, f32 as they are.
__attribute__((target("avx2,fma,f16c"))) inline __m256 load8(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
__attribute__((target("avx2,fma,f16c"))) inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }

// out_h[d0 .. d0 + 8 NV) = sum_s p_h,s v_s[d0 ..] for the G heads h (p: G rows of
// n weights; out: G rows hd apart): each lane one fma per position in position
// order from 0, what axpy_*_avx2 does to a zeroed out through memory. A value
// row's vectors are loaded once for the G heads.
template <int G, int NV, class T>
__attribute__((target("avx2,fma,f16c"))) inline void weighted_sums(const float* p, size_t n, const T* v,
                                                                   size_t stride, size_t d0, size_t hd, float* out) {
  __m256 acc[G][NV];
  for (int h = 0; h < G; ++h)
    for (int j = 0; j < NV; ++j) acc[h][j] = _mm256_setzero_ps();
  for (size_t s = 0; s < n; ++s) {
    const T* row = v + s * stride + d0;
    __m256 vv[NV];
    for (int j = 0; j < NV; ++j) vv[j] = load8(row + 8 * j);
    for (int h = 0; h < G; ++h) {
      const __m256 ps = _mm256_broadcast_ss(p + h * n + s);
      for (int j = 0; j < NV; ++j) acc[h][j] = _mm256_fmadd_ps(ps, vv[j], acc[h][j]);
    }
  }
  for (int h = 0; h < G; ++h)
    for (int j = 0; j < NV; ++j) _mm256_storeu_ps(out + h * hd + d0 + 8 * j, acc[h][j]);
}

// G query heads sharing one KV head (q, out: G rows hd apart; sc: G rows of n):
// each head bit for bit what the per-position loops give, with every key and
// value row read and widened once for the G heads.
template <int G, class T>
__attribute__((target("avx2,fma,f16c"))) void attention_heads_avx2(const float* q, const T* k, const T* v,
                                                                   size_t stride, size_t n, size_t hd, float scale,
                                                                   float* sc, float* out) {
  // Scores: dot_*_avx2's two accumulators and horizontal sum, per head and position.
  float max[G];
  for (int h = 0; h < G; ++h) max[h] = -std::numeric_limits<float>::infinity();
  for (size_t s = 0; s < n; ++s) {
    const T* row = k + s * stride;
    __m256 a0[G], a1[G];
    for (int h = 0; h < G; ++h) a0[h] = a1[h] = _mm256_setzero_ps();
    for (size_t i = 0; i < hd; i += 16) {
      const __m256 k0 = load8(row + i), k1 = load8(row + i + 8);
      for (int h = 0; h < G; ++h) {
        a0[h] = _mm256_fmadd_ps(_mm256_loadu_ps(q + h * hd + i), k0, a0[h]);
        a1[h] = _mm256_fmadd_ps(_mm256_loadu_ps(q + h * hd + i + 8), k1, a1[h]);
      }
    }
    for (int h = 0; h < G; ++h) {
      const float x = hsum(_mm256_add_ps(a0[h], a1[h])) * scale;
      sc[h * n + s] = x;
      max[h] = std::max(max[h], x);
    }
  }
  for (int h = 0; h < G; ++h) softmax_from_max(sc + h * n, n, max[h]);
  // Eight accumulators a chunk: 64 dimensions of one head, 32 of two, 16 of four.
  constexpr int NV = 8 / G;
  size_t d = 0;
  for (; d + 8 * NV <= hd; d += 8 * NV) weighted_sums<G, NV>(sc, n, v, stride, d, hd, out);
  for (; d < hd; d += 16) weighted_sums<G, 2>(sc, n, v, stride, d, hd, out);
}

template <class T>
bool attention_heads_simd(const float* q, const T* k, const T* v, size_t stride, size_t n, size_t hd, size_t heads,
                          float scale, float* sc, float* out) {
  if (!vector_kernels_simd() || hd % 16 != 0) return false;
  switch (heads) {
    case 1: attention_heads_avx2<1>(q, k, v, stride, n, hd, scale, sc, out); return true;
    case 2: attention_heads_avx2<2>(q, k, v, stride, n, hd, scale, sc, out); return true;
    case 4: attention_heads_avx2<4>(q, k, v, stride, n, hd, scale, sc, out); return true;
    default: return false;
  }
}
#endif  // __x86_64__: elsewhere the generic loops below run

}  // namespace

float dot_f16(const float* q, const uint16_t* k, size_t n) {
#if defined(__x86_64__)
  if (vector_kernels_simd()) return dot_f16_avx2(q, k, n);
#endif
  float s = 0;
  for (size_t i = 0; i < n; ++i) s += q[i] * ref::f16_to_f32(k[i]);
  return s;
}

float dot_f32(const float* q, const float* k, size_t n) {
#if defined(__x86_64__)
  if (vector_kernels_simd()) return dot_f32_avx2(q, k, n);
#endif
  float s = 0;
  for (size_t i = 0; i < n; ++i) s += q[i] * k[i];
  return s;
}

void axpy_f16(float p, const uint16_t* v, float* out, size_t n) {
#if defined(__x86_64__)
  if (vector_kernels_simd()) return axpy_f16_avx2(p, v, out, n);
#endif
  for (size_t i = 0; i < n; ++i) out[i] += p * ref::f16_to_f32(v[i]);
}

void axpy_f32(float p, const float* v, float* out, size_t n) {
#if defined(__x86_64__)
  if (vector_kernels_simd()) return axpy_f32_avx2(p, v, out, n);
#endif
  for (size_t i = 0; i < n; ++i) out[i] += p * v[i];
}

namespace {

float dot_row(const float* q, const uint16_t* k, size_t n) { return dot_f16(q, k, n); }
float dot_row(const float* q, const float* k, size_t n) { return dot_f32(q, k, n); }
void axpy_row(float p, const uint16_t* v, float* out, size_t n) { axpy_f16(p, v, out, n); }
void axpy_row(float p, const float* v, float* out, size_t n) { axpy_f32(p, v, out, n); }

template <class T>
void attention_head_loops(const float* q, const T* k, const T* v, size_t stride, size_t n, size_t hd, float scale,
                          float* sc, float* out) {
  float max = -std::numeric_limits<float>::infinity();
  for (size_t s = 0; s < n; ++s) {
    sc[s] = dot_row(q, k + s * stride, hd) * scale;
    max = std::max(max, sc[s]);
  }
  softmax_from_max(sc, n, max);
  std::fill(out, out + hd, 0.0f);
  for (size_t s = 0; s < n; ++s) axpy_row(sc[s], v + s * stride, out, hd);
}

// The SIMD path for 1, 2 or 4 heads, else the loops head by head.
template <class T>
void attention_heads_any(const float* q, const T* k, const T* v, size_t stride, size_t n, size_t hd, size_t heads,
                         float scale, float* sc, float* out) {
#if defined(__x86_64__)
  if (attention_heads_simd(q, k, v, stride, n, hd, heads, scale, sc, out)) return;
#endif
  for (size_t h = 0; h < heads; ++h)
    attention_head_loops(q + h * hd, k, v, stride, n, hd, scale, sc + h * n, out + h * hd);
}

}  // namespace

void attention_head_twin_f16(const float* q, const uint16_t* k, const uint16_t* v, size_t stride, size_t n, size_t hd,
                             float scale, float* sc, float* out) {
  attention_head_loops(q, k, v, stride, n, hd, scale, sc, out);
}

void attention_head_twin_f32(const float* q, const float* k, const float* v, size_t stride, size_t n, size_t hd,
                             float scale, float* sc, float* out) {
  attention_head_loops(q, k, v, stride, n, hd, scale, sc, out);
}

void attention_heads_f16(const float* q, const uint16_t* k, const uint16_t* v, size_t stride, size_t n, size_t hd,
                         size_t heads, float scale, float* sc, float* out) {
  attention_heads_any(q, k, v, stride, n, hd, heads, scale, sc, out);
}

void attention_heads_f32(const float* q, const float* k, const float* v, size_t stride, size_t n, size_t hd,
                         size_t heads, float scale, float* sc, float* out) {
  attention_heads_any(q, k, v, stride, n, hd, heads, scale, sc, out);
}

}  // namespace tern::model
