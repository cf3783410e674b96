// The inner loops of attention over an f16 or f32 KV cache: q.k dot products and
// out += p * v. An AVX2+F16C path (8 lanes, FMA) and a generic twin; which one
// runs is fixed per process, so results never depend on the thread count.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tern::model {

float dot_f16(const float* q, const uint16_t* k, size_t n);
float dot_f32(const float* q, const float* k, size_t n);
void axpy_f16(float p, const uint16_t* v, float* out, size_t n);
void axpy_f32(float p, const float* v, float* out, size_t n);

}  // namespace tern::model
