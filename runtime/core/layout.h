// layout_of(desc): the single contract between packers (runtime/ref/packers)
// and kernels (jit, codegen, templates) on how ternary weights sit in memory.
#pragma once

#include <cstdint>

#include "runtime/core/kernel_desc.h"

namespace tern {

// mad family (2-bit codes c = trit + 1, folded with the token's activation sum):
//   K is padded to a multiple of `group` (4 x the vector width in bytes: 128 for
//   32-byte vectors, 256 for 64-byte ones) with zero codes; N to a multiple of
//   n_tile with zero rows. Weights go tile by tile; inside a tile, K block by K
//   block (k_block elements, the last block possibly shorter); inside a block,
//   row by row; inside a row, group by group. A group is group/4 bytes: byte j
//   holds elements j, v+j, 2v+j, 3v+j (v = group/4) in bits 7:6, 5:4, 3:2, 1:0 —
//   for group 128 exactly bitnet.cpp's I2_S block, so a row of I2_S is a row here.
struct PackedLayout {
  uint32_t group = 128;       // K elements per packed vector step
  uint32_t vec_bytes = 32;    // group / 4
  uint32_t n_tile = 1;
  uint32_t k_block = 128;     // multiple of group
  uint64_t n = 0, k = 0;      // logical shape
  uint64_t n_padded = 0, k_padded = 0;
  uint64_t row_bytes = 0;     // k_padded / 4
  uint64_t tile_bytes = 0;    // n_tile * row_bytes
  uint64_t total_bytes = 0;   // n_padded / n_tile * tile_bytes

  // Byte offset of the group holding element k0 (a multiple of group) of row `row`.
  uint64_t group_offset(uint64_t row, uint64_t k0) const;
};

// Vector width in bytes the desc's ISA works on (16 for scalar/NEON, 32 AVX2, 64 AVX-512).
uint32_t vector_bytes(Isa isa);

// Throws tern::Error when the desc has no shape (n or k zero) or an inconsistent
// config (n_tile 0, k_block not a multiple of the group).
PackedLayout layout_of(const KernelDesc& d);

}  // namespace tern
