// The one ABI every kernel has, whatever its backend: void (*)(const KernelArgs*).
// Fields are read by offset from generated code, so keep this standard-layout
// and only append.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tern {

struct KernelArgs {
  const uint8_t* weights;   // packed as layout_of(desc) says, tile 0 first
  const int8_t* act;        // [m][k_padded] int8, rows k_padded apart, zero beyond K
  const float* act_scale;   // [m] per-token scales s (x ~= q / s)
  const int32_t* act_sum;   // [m] sum of each token's int8 values (folds the +1 code offset)
  float* out;               // [m][out_stride] floats, or null when acc is set
  int32_t* acc;             // [m][out_stride] raw int32 dot products (tests, exactness checks)
  uint64_t out_stride;      // elements between tokens' output rows
  uint64_t m;               // tokens
  uint64_t n;               // output rows in the tensor (rows >= n are never written)
  uint64_t row_begin;       // first output row to compute; a multiple of the desc's n_tile
  uint64_t row_end;         // one past the last row to compute (clamped to n)
  float w_scale;            // per-tensor weight scale
  uint32_t reserved;
};

using KernelFn = void (*)(const KernelArgs*);

}  // namespace tern
