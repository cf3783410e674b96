// The element-wise loops of the forward pass that a plain loop leaves slow: a
// sum of squares in double (one long dependency chain), exp (a libm call per
// element) and the f32 -> f16 KV-cache store (a software conversion). Each has
// an AVX2 path and a generic twin; which one runs is fixed per process, and
// every element goes through the same arithmetic wherever a thread's range
// starts, so results never depend on the thread count.
//
// The AVX2 paths agree with the generic twins:
//   sum_squares  - the same f32 products, summed in double in another order;
//   exp_shifted  - within 2 ulp of std::exp where std::exp is a normal float,
//   silu_mul       and 0 where it would be subnormal (x < -87.33); +inf above
//                  88.72, NaN stays NaN;
//   f32_to_f16   - bit for bit (F16C rounds to nearest even, as ref::f32_to_f16),
//                  NaN stays NaN.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tern::model {

// sum over i of double(x[i] * x[i]) (the product in f32, as ggml's rms_norm).
double sum_squares(const float* x, size_t n);

// x[i] = exp(x[i] - shift).
void exp_shifted(float* x, size_t n, float shift);

// gate[i] = silu(gate[i]) * up[i] = gate[i] / (1 + exp(-gate[i])) * up[i].
void silu_mul(float* gate, const float* up, size_t n);

// out[i] = f16(x[i]).
void f32_to_f16(const float* x, uint16_t* out, size_t n);

// Which path runs: true for AVX2 (+FMA, F16C); generic twins for tests.
bool vector_kernels_simd();
double sum_squares_generic(const float* x, size_t n);
void exp_shifted_generic(float* x, size_t n, float shift);
void silu_mul_generic(float* gate, const float* up, size_t n);
void f32_to_f16_generic(const float* x, uint16_t* out, size_t n);

}  // namespace tern::model
