#include "runtime/model/head_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstring>

#include "runtime/core/cpu_info.h"
#include "runtime/core/error.h"
#include "runtime/ref/fp16.h"

namespace tern::model {
namespace {

constexpr size_t kQ6K = 256, kQ6KBytes = 210, kQ80 = 32, kQ80Bytes = 34;

// A thread reads its rows as this many streams, the parts of its range side by
// side: one stream from DRAM left a thread's memory requests too few (AVX-512,
// one thread: 20.8-21.7 GB/s with one stream, 24.6-26.2 with two on a slow host;
// 25.2-25.9 and 26.4-27.8 on a fast one; four and eight streams were slower).
constexpr size_t kStreams = 2;

float f16_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return ref::f16_to_f32(h);
}

// Symmetric int8 with d = amax / 127 (the Q8_K / Q8_0 activation formats).
void quantize_block(const float* x, size_t n, int8_t* q, float* d) {
  float amax = 0;
  for (size_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
  *d = amax / 127.0f;
  const float id = amax > 0 ? 127.0f / amax : 0.0f;
  for (size_t i = 0; i < n; ++i) q[i] = static_cast<int8_t>(std::clamp(std::nearbyint(x[i] * id), -127.0f, 127.0f));
}

// ---- generic twins ----

// Q6_K super-block: ql[128], qh[64], int8 scales[16], f16 d. In each half of 128
// elements, element l (l < 32) takes ql[l] low nibble and qh[l] bits 0-1;
// l+32: ql[l+32] low, qh bits 2-3; l+64: ql[l] high, bits 4-5; l+96: ql[l+32]
// high, bits 6-7. Value (q - 32) * d * scales[e / 16].
int32_t q6k_block_dot(const uint8_t* b, const int8_t* x, const int16_t* bsums) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
  int32_t sum = 0;
  for (int half = 0; half < 2; ++half) {
    int32_t part[8] = {};
    for (int l = 0; l < 32; ++l) {
      const int q1 = (ql[l] & 0xF) | ((qh[l] & 3) << 4);
      const int q2 = (ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4);
      const int q3 = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4);
      const int q4 = (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4);
      part[l / 16 + 0] += q1 * x[l];
      part[l / 16 + 2] += q2 * x[l + 32];
      part[l / 16 + 4] += q3 * x[l + 64];
      part[l / 16 + 6] += q4 * x[l + 96];
    }
    for (int j = 0; j < 8; ++j) sum += sc[half * 8 + j] * part[j];
    ql += 64;
    qh += 32;
    x += 128;
  }
  // The -32 offset of every 6-bit value, folded with the activations' sums.
  for (int j = 0; j < 16; ++j) sum -= 32 * sc[j] * bsums[j];
  return sum;
}

// A row of Q6_K super-blocks: exact integer block sums, then the f32 scales in
// block order, (d_w * d_x) * sum added to the total block by block. The SIMD rows
// (q6k_row_avx2 / _avx512) keep these steps, so every path gives the same float.
float q6k_row(const uint8_t* row, const HeadActs& a, size_t t) {
  const size_t k = a.k;
  float acc = 0;
  for (size_t b = 0; b < k / kQ6K; ++b) {
    const uint8_t* blk = row + b * kQ6KBytes;
    const int32_t s = q6k_block_dot(blk, a.q.data() + t * k + b * kQ6K, a.bsums.data() + t * (k / 16) + b * 16);
    acc += f16_at(blk + 208) * a.d[t * (k / kQ6K) + b] * static_cast<float>(s);
  }
  return acc;
}

float row_dot_generic(const uint8_t* row, const HeadActs& a, size_t t) {
  const size_t k = a.k;
  switch (a.type) {
    case GgmlType::Q6_K:
      return q6k_row(row, a, t);
    case GgmlType::Q8_0: {
      float acc = 0;
      for (size_t b = 0; b < k / kQ80; ++b) {
        const uint8_t* blk = row + b * kQ80Bytes;
        const int8_t* w = reinterpret_cast<const int8_t*>(blk + 2);
        const int8_t* x = a.q.data() + t * k + b * kQ80;
        int32_t s = 0;
        for (size_t i = 0; i < kQ80; ++i) s += w[i] * x[i];
        acc += f16_at(blk) * a.d[t * (k / kQ80) + b] * static_cast<float>(s);
      }
      return acc;
    }
    default: {
      const float* x = a.x.data() + t * k;
      float acc = 0;
      for (size_t i = 0; i < k; ++i) {
        float w;
        if (a.type == GgmlType::F16) w = f16_at(row + 2 * i);
        else if (a.type == GgmlType::BF16) { uint16_t h; std::memcpy(&h, row + 2 * i, 2); w = ref::bf16_to_f32(h); }
        else std::memcpy(&w, row + 4 * i, 4);
        acc += w * x[i];
      }
      return acc;
    }
  }
}

#if defined(__x86_64__)
// ---- AVX2 ----

__attribute__((target("avx2,fma,f16c"))) inline int32_t hsum_i32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

__attribute__((target("avx2,fma,f16c"))) inline float hsum_f32(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

#define TERN_AVX2 __attribute__((target("avx2,fma,f16c")))
#define TERN_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))

TERN_AVX2 inline float f16_at_f16c(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

// The -32 offset of every 6-bit value: 32 x sum over the 16 sub-blocks of scale x
// (sum of its 16 activations), in eight lanes.
TERN_AVX2 inline __m256i q6k_offset_lanes_avx2(__m256i scales16, const int16_t* bsums) {
  return _mm256_slli_epi32(_mm256_madd_epi16(scales16, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bsums))), 5);
}

// The same integer sum as q6k_block_dot: 6-bit values (unsigned) times int8
// activations with vpmaddubsw (|pair| <= 2 * 63 * 127 < 32767), then each 16
// elements' pair sums times their sub-block scale with vpmaddwd.
// The block's sum is left in the lanes, with the -32 offset already taken out.
//
// Each step is one instruction where it can be: the 2-bit high parts are moved
// straight to bits 4-5 (one shift and one and each, no shift back), and a
// sub-block pair's scales come from the half's eight scales with one vpshufb.
TERN_AVX2 inline __m256i q6k_block_lanes_avx2(const uint8_t* b, const int8_t* x, const int16_t* bsums) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
  // Pair j's scales, for vpshufb over a half's eight int16 scales (the same in both
  // 128-bit lanes): word 2j in every word of the low lane, word 2j + 1 in the high.
  const __m256i pick[4] = {
      _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3),
      _mm256_setr_epi8(4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7),
      _mm256_setr_epi8(8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11,
                       10, 11, 10, 11),
      _mm256_setr_epi8(12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 14, 15, 14, 15, 14, 15, 14, 15,
                       14, 15, 14, 15, 14, 15, 14, 15),
  };
  const __m256i scales16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 192)));
  __m256i acc = _mm256_setzero_si256();
  for (int half = 0; half < 2; ++half) {
    const __m256i sc = half == 0 ? _mm256_permute2x128_si256(scales16, scales16, 0x00)
                                 : _mm256_permute2x128_si256(scales16, scales16, 0x11);
    const __m256i l0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql));
    const __m256i l1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 32));
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qh));
    // Bits 2j, 2j + 1 of qh are the high part of q[j]; 16-bit shifts, the mask drops
    // what they drag in from the neighbouring byte.
    const __m256i q[4] = {
        _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(h, 4), m30)),
        _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(h, 2), m30)),
        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(h, m30)),
        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4), _mm256_and_si256(_mm256_srli_epi16(h, 2), m30)),
    };
    for (int j = 0; j < 4; ++j) {
      const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 32 * j));
      const __m256i p = _mm256_maddubs_epi16(q[j], xv);
      // Lanes 0-7 hold elements 32j..32j+15 (scale 2j), lanes 8-15 the next 16.
      acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_shuffle_epi8(sc, pick[j])));
    }
    ql += 64;
    qh += 32;
    x += 128;
  }
  return _mm256_sub_epi32(acc, q6k_offset_lanes_avx2(scales16, bsums));
}

TERN_AVX2 inline int32_t q6k_block_dot_avx2(const uint8_t* b, const int8_t* x, const int16_t* bsums) {
  return hsum_i32(q6k_block_lanes_avx2(b, x, bsums));
}

// Four consecutive blocks' lane sums r[0..3] (blk: the first block, dx: its
// activation scale) added to a row's total, bit for bit as q6k_row does it one
// block at a time: the sums leave the lanes in one add tree instead of four
// reductions, and (d_w * d_x) * sum is computed for the four side by side, the
// scalar steps lane by lane (-ffp-contract=off keeps them unfused); only the adds
// into the total stay one by one, in block order.
TERN_AVX2 inline float add_q6k_blocks4(float acc, const __m256i* r, const uint8_t* blk, const float* dx) {
  // hadd(r0, r1) holds r0's pair sums then r1's in each 128-bit half; one more
  // hadd and the halves' sum leave block i's total in lane i.
  const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(r[0], r[1]), _mm256_hadd_epi32(r[2], r[3]));
  const __m128i sums = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
  __m128i d16 = _mm_setzero_si128();
  for (int i = 0; i < 4; ++i) {
    uint16_t bits;
    std::memcpy(&bits, blk + i * kQ6KBytes + 208, 2);
    d16 = _mm_insert_epi16(d16, bits, i);
  }
  const __m128 scale = _mm_mul_ps(_mm_cvtph_ps(d16), _mm_loadu_ps(dx));
  float f[4];
  _mm_storeu_ps(f, _mm_mul_ps(scale, _mm_cvtepi32_ps(sums)));
  acc += f[0];
  acc += f[1];
  acc += f[2];
  acc += f[3];
  return acc;
}

// A Q6_K row against token t, four blocks at a time (add_q6k_blocks4), read
// front to back. Four rows side by side, sharing the activations, were faster
// from cache but defeated the hardware prefetcher (6 GB/s from DRAM).
TERN_AVX2 float q6k_row_avx2(const uint8_t* row, const HeadActs& a, size_t t) {
  const size_t k = a.k, blocks = k / kQ6K;
  const int8_t* x = a.q.data() + t * k;
  const int16_t* bsums = a.bsums.data() + t * (k / 16);
  const float* dx = a.d.data() + t * blocks;
  float acc = 0;
  size_t b = 0;
  for (; b + 4 <= blocks; b += 4) {
    __m256i r[4];
    for (size_t i = 0; i < 4; ++i)
      r[i] = q6k_block_lanes_avx2(row + (b + i) * kQ6KBytes, x + (b + i) * kQ6K, bsums + (b + i) * 16);
    acc = add_q6k_blocks4(acc, r, row + b * kQ6KBytes, dx + b);
  }
  for (; b < blocks; ++b) {
    const uint8_t* blk = row + b * kQ6KBytes;
    acc += f16_at_f16c(blk + 208) * dx[b] * static_cast<float>(q6k_block_dot_avx2(blk, x + b * kQ6K, bsums + b * 16));
  }
  return acc;
}

__attribute__((target("avx2,fma,f16c"))) float row_dot_avx2(const uint8_t* row, const HeadActs& a, size_t t) {
  const size_t k = a.k;
  switch (a.type) {
    case GgmlType::Q6_K:
      return q6k_row_avx2(row, a, t);
    case GgmlType::Q8_0: {
      float acc = 0;
      for (size_t b = 0; b < k / kQ80; ++b) {
        const uint8_t* blk = row + b * kQ80Bytes;
        const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2));
        const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.q.data() + t * k + b * kQ80));
        // |w| x sign(x, w): u8 x s8 products, exact (|w|, |x| <= 127).
        const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
        const int32_t s = hsum_i32(_mm256_madd_epi16(p, _mm256_set1_epi16(1)));
        acc += f16_at(blk) * a.d[t * (k / kQ80) + b] * static_cast<float>(s);
      }
      return acc;
    }
    case GgmlType::F16: {
      const float* x = a.x.data() + t * k;
      __m256 acc = _mm256_setzero_ps();
      size_t i = 0;
      for (; i + 8 <= k; i += 8)
        acc = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * i))),
                              _mm256_loadu_ps(x + i), acc);
      float s = hsum_f32(acc);
      for (; i < k; ++i) s += f16_at(row + 2 * i) * x[i];
      return s;
    }
    default:
      return row_dot_generic(row, a, t);
  }
}

// ---- AVX-512 (F, BW, VL, VNNI) ----

// GCC 12's own intrinsics (_mm512_reduce_add_epi32, _mm512_inserti64x4) start from
// _mm256_undefined_si256(), which -Wmaybe-uninitialized reports once they are inlined.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

// The same integer sum with 64-byte vectors: one half of the block (128
// elements) is two vectors. ql[0..63]'s low nibbles are elements 0..63 in
// order, their high nibbles elements 64..127; the 2-bit high parts come from
// qh[0..31] and qh >> 2 side by side (bits 0-1 then 4-5 of each). vpmaddubsw as
// in AVX2, then vpmaddwd against each 16 elements' scale (vpermw spreads the 16
// scales over the lanes).
//
// The block's sum is left in the lanes of a vector, with the -32 offset already
// taken from it, for add_q6k_blocks4's add tree.
TERN_AVX512 inline __m512i q6k_block_lanes_avx512(const uint8_t* b, const int8_t* x, const int16_t* bsums) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
  const __m256i scales16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 192)));
  const __m512i scales = _mm512_zextsi256_si512(scales16);
  // Lane i of a product vector (elements 2i, 2i+1 of 64) belongs to sub-block i / 8.
  const __m512i by_lane = _mm512_set_epi16(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1,
                                           0, 0, 0, 0, 0, 0, 0, 0);
  __m512i acc = _mm512_setzero_si512();
  for (int half = 0; half < 2; ++half) {
    const __m512i l = _mm512_loadu_si512(ql);
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qh));
    const __m512i hh = _mm512_inserti64x4(_mm512_zextsi256_si512(h), _mm256_srli_epi16(h, 2), 1);
    const __m512i q0 = _mm512_or_si512(_mm512_and_si512(l, m4), _mm512_and_si512(_mm512_slli_epi16(hh, 4), m30));
    const __m512i q1 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4), _mm512_and_si512(hh, m30));
    const __m512i p0 = _mm512_maddubs_epi16(q0, _mm512_loadu_si512(x));
    const __m512i p1 = _mm512_maddubs_epi16(q1, _mm512_loadu_si512(x + 64));
    const __m512i first = _mm512_set1_epi16(static_cast<int16_t>(8 * half));
    const __m512i s0 = _mm512_permutexvar_epi16(_mm512_add_epi16(by_lane, first), scales);
    const __m512i s1 = _mm512_permutexvar_epi16(_mm512_add_epi16(by_lane, _mm512_add_epi16(first, _mm512_set1_epi16(4))), scales);
    acc = _mm512_dpwssd_epi32(_mm512_dpwssd_epi32(acc, p0, s0), p1, s1);  // vpmaddwd and the add in one
    ql += 64;
    qh += 32;
    x += 128;
  }
  return _mm512_sub_epi32(acc, _mm512_zextsi256_si512(q6k_offset_lanes_avx2(scales16, bsums)));
}

TERN_AVX512 inline int32_t q6k_block_dot_avx512(const uint8_t* b, const int8_t* x, const int16_t* bsums) {
  return _mm512_reduce_add_epi32(q6k_block_lanes_avx512(b, x, bsums));
}

// The AVX-512 twin of q6k_row_avx2. Two copies of the loop: one template over the
// block function would have the AVX2 target, into which the AVX-512 block cannot
// inline, and a call per 256-element block (with its vzeroupper and constant
// reloads) cost the AVX-512 head a fifth.
TERN_AVX512 float q6k_row_avx512(const uint8_t* row, const HeadActs& a, size_t t) {
  const size_t k = a.k, blocks = k / kQ6K;
  const int8_t* x = a.q.data() + t * k;
  const int16_t* bsums = a.bsums.data() + t * (k / 16);
  const float* dx = a.d.data() + t * blocks;
  float acc = 0;
  size_t b = 0;
  for (; b + 4 <= blocks; b += 4) {
    __m256i r[4];
    for (size_t i = 0; i < 4; ++i) {
      const __m512i v = q6k_block_lanes_avx512(row + (b + i) * kQ6KBytes, x + (b + i) * kQ6K, bsums + (b + i) * 16);
      r[i] = _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
    }
    acc = add_q6k_blocks4(acc, r, row + b * kQ6KBytes, dx + b);
  }
  for (; b < blocks; ++b) {
    const uint8_t* blk = row + b * kQ6KBytes;
    acc += f16_at_f16c(blk + 208) * dx[b] * static_cast<float>(q6k_block_dot_avx512(blk, x + b * kQ6K, bsums + b * 16));
  }
  return acc;
}

TERN_AVX512 float row_dot_avx512(const uint8_t* row, const HeadActs& a, size_t t) {
  if (a.type == GgmlType::Q6_K) return q6k_row_avx512(row, a, t);
  return row_dot_avx2(row, a, t);
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif  // __x86_64__

}  // namespace

std::vector<Isa> head_kernel_isas() {
#if defined(__x86_64__)
  return {Isa::avx512vnni, Isa::avx2, Isa::scalar};
#else
  return {Isa::scalar};
#endif
}

bool head_kernel_runs(Isa isa) {
  const CpuInfo& cpu = host_cpu();
  switch (isa) {
    case Isa::scalar: return true;
    case Isa::avx2: return cpu.supports(Isa::avx2) && cpu.features.f16c;
    case Isa::avx512vnni: return cpu.supports(Isa::avx512vnni) && cpu.features.f16c;
    default: return false;
  }
}

Isa head_kernel_isa() {
  static const Isa best = [] {
    for (Isa isa : head_kernel_isas())
      if (head_kernel_runs(isa)) return isa;
    return Isa::scalar;
  }();
  return best;
}

bool head_kernel_supports(GgmlType type) {
  return type == GgmlType::Q6_K || type == GgmlType::Q8_0 || type == GgmlType::F16 || type == GgmlType::BF16 ||
         type == GgmlType::F32;
}

void prepare_head_acts(GgmlType type, const float* x, size_t m, size_t k, HeadActs& out) {
  if (!head_kernel_supports(type)) throw Error("LM head type " + std::string(ggml_type_name(type)) + " has no kernel");
  out.type = type;
  out.m = m;
  out.k = k;
  if (type == GgmlType::Q6_K || type == GgmlType::Q8_0) {
    const size_t block = type == GgmlType::Q6_K ? kQ6K : kQ80;
    if (k % block) throw Error("LM head rows of " + std::to_string(k) + " are not whole blocks");
    out.q.resize(m * k);
    out.d.resize(m * k / block);
    for (size_t i = 0; i < m * k / block; ++i) quantize_block(x + i * block, block, out.q.data() + i * block, &out.d[i]);
    if (type == GgmlType::Q6_K) {
      out.bsums.resize(m * k / 16);
      for (size_t i = 0; i < m * k / 16; ++i) {
        int s = 0;
        for (size_t j = 0; j < 16; ++j) s += out.q[i * 16 + j];
        out.bsums[i] = static_cast<int16_t>(s);
      }
    }
  } else {
    out.x.assign(x, x + m * k);
  }
}

void head_dot_rows_generic(const uint8_t* rows, size_t row_bytes, const HeadActs& a, size_t row_begin, size_t row_end,
                           float* out, size_t out_stride) {
  for (size_t r = row_begin; r < row_end; ++r)
    for (size_t t = 0; t < a.m; ++t) out[t * out_stride + r] = row_dot_generic(rows + r * row_bytes, a, t);
}

void head_dot_rows_isa(Isa isa, const uint8_t* rows, size_t row_bytes, const HeadActs& a, size_t row_begin,
                       size_t row_end, float* out, size_t out_stride) {
  if (!head_kernel_runs(isa))
    throw Error("no LM head kernel for " + std::string(to_string(isa)) + " runs on this CPU");
  float (*row_dot)(const uint8_t*, const HeadActs&, size_t) = row_dot_generic;
#if defined(__x86_64__)
  if (isa == Isa::avx2) row_dot = row_dot_avx2;
  if (isa == Isa::avx512vnni) row_dot = row_dot_avx512;
#endif
  auto one_row = [&](size_t r) {
    for (size_t t = 0; t < a.m; ++t) out[t * out_stride + r] = row_dot(rows + r * row_bytes, a, t);
  };
  // kStreams parts of the range, a row of each in turn, then the rows left over.
  const size_t part = (row_end - row_begin) / kStreams;
  for (size_t i = 0; i < part; ++i)
    for (size_t j = 0; j < kStreams; ++j) one_row(row_begin + j * part + i);
  for (size_t r = row_begin + kStreams * part; r < row_end; ++r) one_row(r);
}

void head_dot_rows(const uint8_t* rows, size_t row_bytes, const HeadActs& a, size_t row_begin, size_t row_end,
                   float* out, size_t out_stride) {
  head_dot_rows_isa(head_kernel_isa(), rows, row_bytes, a, row_begin, row_end, out, out_stride);
}

}  // namespace tern::model
