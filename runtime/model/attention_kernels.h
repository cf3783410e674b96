// The inner loops of attention over an f16 or f32 KV cache: q.k dot products and
// out += p * v. An AVX2+F16C path (8 lanes, FMA) and a generic twin; which one
// runs (vector_kernels_simd) is fixed per process, so results never depend on the
// thread count.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tern::model {

// `heads` query heads that share one KV head (GQA) over cache positions 0..n-1
// (q and out: the heads' rows, hd apart; k, v: position 0's row of the KV head;
// stride: elements from one position's row to the next). For each head h:
//   sc_h[s] = scale * q_h.k_s;  p_h = softmax(sc_h) (exp of sc - max, the sum in
//   double);  out_h = sum_s p_h,s v_s.
// sc: heads rows of n floats of scratch (left holding p). Each head bit for bit
// what the loops built from dot_* / exp_shifted / axpy_* give (attention_head_twin_*):
// the SIMD path (1, 2 or 4 heads) keeps their arithmetic, but reads and widens
// each key and value row once for all the heads, and sums out in registers
// instead of loading and storing it per position.
void attention_heads_f16(const float* q, const uint16_t* k, const uint16_t* v, size_t stride, size_t n, size_t hd,
                         size_t heads, float scale, float* sc, float* out);
void attention_heads_f32(const float* q, const float* k, const float* v, size_t stride, size_t n, size_t hd,
                         size_t heads, float scale, float* sc, float* out);
// One head from those loops (tests, and heads counts without a SIMD path).
void attention_head_twin_f16(const float* q, const uint16_t* k, const uint16_t* v, size_t stride, size_t n, size_t hd,
                             float scale, float* sc, float* out);
void attention_head_twin_f32(const float* q, const float* k, const float* v, size_t stride, size_t n, size_t hd,
                             float scale, float* sc, float* out);

// Scores whose max is known to softmax weights, in place: exp of score - max, the
// sum in double, then each times 1 / sum in f32.
void softmax_from_max(float* p, size_t n, float max);

float dot_f16(const float* q, const uint16_t* k, size_t n);
float dot_f32(const float* q, const float* k, size_t n);
void axpy_f16(float p, const uint16_t* v, float* out, size_t n);
void axpy_f32(float p, const float* v, float* out, size_t n);

}  // namespace tern::model
