// Reference kernels: the oracle every optimised kernel is tested against.
// Deliberately plain loops; the float steps happen in a fixed, documented
// order so optimised kernels can reproduce them bit for bit.
//
// Shapes: weights are trits [N][K] row-major (row i = output i), activations
// int8 [m][K] row-major (row t = token t), outputs [m][N] row-major.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tern::ref {

// ---------------------------------------------------------------- activations
// Per-token absmax quantisation to int8 (BitNet b1.58):
//   s = 127.0f / max_i |x_i|                       (one f32 division)
//   q_i = clamp(round_half_away_from_zero(x_i * s), -127, 127)   (x_i * s in f32)
// Returns s, the factor that maps floats to int8 (so x ~= q / s).
// All-zero input (max = 0): q is all 0 and s = 1.0f, so later divisions by s
// stay finite. Throws tern::Error when an input is NaN or infinite.
// (bitnet.cpp's quantize_row_i8_s differs: it floors max at 1e-5, rounds half
// to even and clamps to -128; llama.cpp's TQ path uses Q8_K, per 256-block.)
float quantize_activations(const float* x, size_t k, int8_t* q);
// The rounding step: std::round(v) (halves away from zero) clamped to [-127, 127],
// for |v| <= 128 (what quantize_activations produces).
int8_t round_to_int8(float v);
// m tokens of k values each (row t at x + t * k); a_scales[t] = s of row t.
void quantize_activations(const float* x, size_t m, size_t k, int8_t* q, float* a_scales);

// ---------------------------------------------------------------- integer GEMM
// acc[t][i] = sum_j w[i][j] * act[t][j], exact. Any int8 inputs are accepted;
// with |w| <= 1 and |act| <= 128 every partial sum is bounded by 128 * K, which
// fits int32 for K <= kMaxExactK. Larger K throws tern::Error. gemv is m = 1.
inline constexpr size_t kMaxExactK = 16777215;  // floor((2^31 - 1) / 128)
void gemm_ref(const int8_t* w_trits, const int8_t* act, size_t m, size_t n, size_t k, int32_t* acc);
inline void gemv_ref(const int8_t* w_trits, const int8_t* act, size_t n, size_t k, int32_t* acc) {
  gemm_ref(w_trits, act, 1, n, k, acc);
}

// ---------------------------------------------------------------- float outputs
// One weight scale per tensor:
//   out[t][i] = (static_cast<float>(acc[t][i]) * w_scale) / a_scales[t]
// i.e. int32 -> f32 (round to nearest even, exact below 2^24), then one f32
// multiply, then one f32 divide by the activation scale.
void scale_output(const int32_t* acc, size_t m, size_t n, float w_scale, const float* a_scales, float* out);
// gemm_ref followed by scale_output.
void gemm_ref_f32(const int8_t* w_trits, float w_scale, const int8_t* act, const float* a_scales, size_t m,
                  size_t n, size_t k, float* out);

// Per-block weight scales (TQ1_0 / TQ2_0 files: one scale per `block`
// elements of each row, block = 256). w_scales is [N][K / block] row-major.
// For each output, with acc_b the exact int32 dot product over block b:
//   sum = 0.0f; for b = 0, 1, ...: sum += static_cast<float>(acc_b) * w_scales[i][b];
//   out[t][i] = sum / a_scales[t]
// (f32 throughout, blocks in increasing order, one multiply and one add per
// block, no fused multiply-add). k must be a multiple of block.
void gemm_ref_block_scaled(const int8_t* w_trits, const float* w_scales, size_t block, const int8_t* act,
                           const float* a_scales, size_t m, size_t n, size_t k, float* out);

}  // namespace tern::ref
