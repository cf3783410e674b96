// The inner loops of attention over an f16 or f32 KV cache: q.k dot products and
// out += p * v. An AVX2+F16C path (8 lanes, FMA) and a generic twin; which one
// runs is fixed per process, so results never depend on the thread count.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tern::model {

// One query head over cache positions 0..n-1 (k, v: position 0's row of the
// head; stride: elements from one position's row to the next):
//   sc[s] = scale * q.k_s;  p = softmax(sc) (exp of sc - max, the sum in double);
//   out = sum_s p_s v_s.
// sc: n floats of scratch (left holding p). Bit for bit what the loops built from
// dot_* / exp_shifted / axpy_* give (attention_head_twin): the SIMD path keeps
// their arithmetic, only in one function with out's lanes in registers instead
// of a load and store per position.
void attention_head_f16(const float* q, const uint16_t* k, const uint16_t* v, size_t stride, size_t n, size_t hd,
                        float scale, float* sc, float* out);
void attention_head_f32(const float* q, const float* k, const float* v, size_t stride, size_t n, size_t hd,
                        float scale, float* sc, float* out);
// The same from those loops (tests).
void attention_head_twin_f16(const float* q, const uint16_t* k, const uint16_t* v, size_t stride, size_t n, size_t hd,
                             float scale, float* sc, float* out);
void attention_head_twin_f32(const float* q, const float* k, const float* v, size_t stride, size_t n, size_t hd,
                             float scale, float* sc, float* out);

float dot_f16(const float* q, const uint16_t* k, size_t n);
float dot_f32(const float* q, const float* k, size_t n);
void axpy_f16(float p, const uint16_t* v, float* out, size_t n);
void axpy_f32(float p, const float* v, float* out, size_t n);

}  // namespace tern::model
