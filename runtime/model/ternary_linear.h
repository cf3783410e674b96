// The one place where the model multiplies by a ternary weight matrix.
//
// A TernaryLinear holds W = trits * scale for one projection, N outputs by K
// inputs (row i = output i; ggml's ne[0] = K, ne[1] = N), built from a GGUF
// tensor in any format that stores ternary weights: TQ2_0, TQ1_0, I2_S, or
// F16 / BF16 / F32 holding {-s, 0, +s}.
//
// linear() is the BitNet b1.58 matmul: activations quantised per token to
// int8 (absmax, ref::quantize_activations), exact int32 dot products with the
// trits, then acc * w_scale / a_scale. Its insides are the reference kernel
// today; optimised kernels with packed weights replace them behind the same
// signature (the model calls nothing else for a ternary matmul).
//
// linear_float() is the float-activation twin used to check the graph against
// llama.cpp's F16 run: dequantised weights times f32 activations.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "runtime/core/ggml_type.h"
#include "runtime/core/huge_pages.h"
#include "runtime/core/layout.h"
#include "runtime/dispatch/kernel_choice.h"
#include "runtime/gguf/gguf.h"
#include "runtime/threads/thread_pool.h"

namespace tern::model {

// Weights packed for the kernels the dispatcher chose (layout_of the gemv desc;
// the gemm kernel shares that layout).
struct PackedLinear {
  KernelChoice choice;
  PackedLayout layout;
  LargeVector<uint8_t> bytes;  // on huge pages where the system allows (streamed every token)
  Kernel gemv, gemm;
};

struct TernaryLinear {
  std::string name;                   // the tensor's name, for messages
  GgmlType src_type = GgmlType::F32;  // the format the file stored it in
  size_t n = 0;                       // outputs (rows)
  size_t k = 0;                       // inputs (row length)
  std::vector<int8_t> trits;          // [n][k], values in {-1, 0, +1}
  // One scale for the whole tensor (the BitNet case; TQ files whose blocks
  // all agree collapse to it), or, when the blocks really differ, one per
  // `block` elements of each row: block_scales is [n][k / block].
  float scale = 0.0f;
  size_t block = 0;  // 0: per-tensor scale
  std::vector<float> block_scales;

  // Set once the weights are packed for JIT kernels; `trits` is then empty.
  std::shared_ptr<const PackedLinear> packed;

  // The scale of weight (row, col).
  float scale_at(size_t row, size_t col) const {
    return block ? block_scales[row * (k / block) + col / block] : scale;
  }
};

// Reads `t` (2-D, ne[0] = k, ne[1] = n) as ternary weights. `file` names the
// file in messages. Throws tern::Error naming the tensor when its type holds
// no ternary values, when a float tensor holds a value other than 0 or
// +-max|w| (naming the first bad element), or when a code is invalid.
// `extra_scale` multiplies every scale (a producer's separate `.scale` tensor).
// With a pool, block-scaled types (TQ2_0, TQ1_0) are decoded by row ranges in parallel; the
// result, and the error naming the first bad element, are the same as without.
TernaryLinear ternary_from_tensor(const gguf::TensorInfo& t, const std::string& file,
                                  float extra_scale = 1.0f, ThreadPool* pool = nullptr);

// Packs w for `choice` (tiles in parallel with a pool) and releases its trits (one byte per
// weight). Only for a per-tensor scale (BitNet); a per-block tensor stays on the reference path.
void pack_for_kernels(TernaryLinear& w, const KernelChoice& choice, ThreadPool* pool = nullptr);

// Activations quantised once for every matmul that reads them (q/k/v share
// one, gate/up another): per-token int8 (BitNet), rows k_padded apart with
// zeros after k, the per-token scales and the sums the mad kernels fold in.
struct QuantizedActs {
  size_t m = 0, k = 0, k_padded = 0;
  std::vector<int8_t> q;
  std::vector<float> scales;
  std::vector<int32_t> sums;
};
// One token: q = ref::quantize_activations(x), its scale and the int32 sum of q,
// with AVX2 where the CPU has it (the same bytes). Throws tern::Error naming the
// first value that is not finite.
void quantize_row(const float* x, size_t k, int8_t* q, float* scale, int32_t* sum);
// k_padded >= k (the packed layout's row length, or k for the reference path).
// Tokens are spread over the pool.
void quantize_acts(const float* x, size_t m, size_t k, size_t k_padded, QuantizedActs& out, ThreadPool* pool);
// The row length the activations of w must have.
size_t acts_row_length(const TernaryLinear& w);

// y[m][w.n] = W x from activations quantised by quantize_acts (with k_padded =
// acts_row_length(w)); rows split over the pool in the kernel's tile units.
void linear(const TernaryLinear& w, const QuantizedActs& x, float* y, ThreadPool* pool);

// Several projections of the same activations (q, k, v; gate, up) in one
// dispatch over the pool: y = W x for each (W, y), the same results as linear().
struct LinearOut {
  const TernaryLinear* w;
  float* y;
};
void linear_many(std::span<const LinearOut> outs, const QuantizedActs& x, ThreadPool* pool);

// Buffers linear() reuses between calls. They only grow, so after the first
// call of the largest shape there is no allocation per token.
struct LinearScratch {
  std::vector<int8_t> q;        // [m][k] quantised activations
  std::vector<float> a_scales;  // [m]
  std::vector<int32_t> acc;     // [m][n]
  std::vector<float> xr;        // [m][k] rounded activations (linear_float)
  QuantizedActs acts;
  void reserve(size_t m, size_t k, size_t n);
};

// y[m][w.n] = W x for m tokens x[m][w.k], int8 activations (the BitNet scheme).
void linear(const TernaryLinear& w, const float* x, size_t m, float* y, LinearScratch& s);

// How linear_float() treats the activations before the float matmul.
enum class FloatActs {
  F32,       // as they are
  LikeGgml,  // rounded to the weight's storage type when that is F16 or BF16, as
             // ggml converts activations to the vec_dot type of an F16 / BF16 matmul
};
// y = dequantised W x in float (sums in double), for tests against float runs.
void linear_float(const TernaryLinear& w, const float* x, size_t m, float* y, LinearScratch& s,
                  FloatActs acts = FloatActs::F32);

}  // namespace tern::model
