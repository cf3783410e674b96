// Dot products of float activations with the rows of the embedding / LM head
// in the types llama.cpp writes it (Q6_K, Q8_0, F16, BF16, F32). The head is a
// third of the bytes a 2B4T token reads, so it gets kernels of its own.
//
// Q6_K and Q8_0 work as llama.cpp's CPU backend does: the activations are
// quantised to int8 once per token (per 256-element block for Q6_K, as Q8_K;
// per 32 for Q8_0), the dot products are exact integer sums per block, and
// only the block scales are float. F16 / BF16 / F32 rows are widened to f32
// and multiplied in f32. Each has an AVX2 path (Q6_K also an AVX-512 one) and a
// generic twin that gives the same result (integer paths bit for bit; float
// paths to rounding order).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "runtime/core/ggml_type.h"
#include "runtime/core/kernel_desc.h"

namespace tern::model {

// Activations prepared for one head type: m tokens of k floats.
struct HeadActs {
  GgmlType type = GgmlType::F32;
  size_t m = 0, k = 0;
  std::vector<float> x;       // float types: the activations as they are
  std::vector<int8_t> q;      // quantised types: [m][k]
  std::vector<float> d;       // per block scale: [m][k / block]
  std::vector<int16_t> bsums; // Q6_K: sums of each 16 quantised values [m][k / 16]
};

// True for the types these kernels handle.
bool head_kernel_supports(GgmlType type);

void prepare_head_acts(GgmlType type, const float* x, size_t m, size_t k, HeadActs& out);

// out[t * out_stride + r] = row r . token t, for rows [row_begin, row_end).
// rows: the tensor's bytes, row_bytes apart.
void head_dot_rows(const uint8_t* rows, size_t row_bytes, const HeadActs& a, size_t row_begin, size_t row_end,
                   float* out, size_t out_stride);

// The paths there are, best first (avx512vnni stands for AVX-512 F/BW/VL/VNNI; scalar
// is the generic twin), whether this CPU (and TERN_MAX_ISA) runs one, and the
// one head_dot_rows takes.
std::vector<Isa> head_kernel_isas();
bool head_kernel_runs(Isa isa);
Isa head_kernel_isa();

// head_dot_rows on a given path (tests, benchmarks); throws tern::Error when
// head_kernel_runs(isa) is false.
void head_dot_rows_isa(Isa isa, const uint8_t* rows, size_t row_bytes, const HeadActs& a, size_t row_begin,
                       size_t row_end, float* out, size_t out_stride);

// The generic twins (tests compare against them).
void head_dot_rows_generic(const uint8_t* rows, size_t row_bytes, const HeadActs& a, size_t row_begin,
                           size_t row_end, float* out, size_t out_stride);

}  // namespace tern::model
