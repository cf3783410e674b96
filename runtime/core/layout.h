// layout_of(desc): the single contract between packers (runtime/ref/packers)
// and kernels (jit, codegen, templates) on how ternary weights sit in memory.
#pragma once

#include <cstdint>
#include <string>

#include "runtime/core/kernel_desc.h"

namespace tern {

// layout_of dispatches on desc.family; each family has its own packing, and
// PackedLayout::family says which one a layout describes.
//
// mad family (2-bit codes c = trit + 1, folded with the token's activation sum):
//   K is padded to a multiple of `group` (4 x the vector width in bytes: 128 for
//   32-byte vectors, 256 for 64-byte ones) with zero codes; N to a multiple of
//   n_tile with zero rows. Weights go tile by tile; inside a tile, K block by K
//   block (k_block elements, the last block possibly shorter); inside a block,
//   row by row; inside a row, group by group. A group is group/4 bytes: byte j
//   holds elements j, v+j, 2v+j, 3v+j (v = group/4) in bits 7:6, 5:4, 3:2, 1:0 —
//   for group 128 exactly bitnet.cpp's I2_S block, so a row of I2_S is a row here.
//
// lut family (table lookup over groups of g activations; jit/x86/lut_kernel.h
// explains the kernel side). V = vec_bytes (32 AVX2, 64 AVX-512) rows form a
// "row vector": one byte per row in every V-byte vector the kernel loads.
//   K is padded with zero trits to a multiple of the unit (U groups of g: U = 8
//   for g = 3, whose sign bits come in bytes of 8 groups, else U = 2, two 4-bit
//   indices per byte); N to a multiple of n_tile (a multiple of V). Weights go
//   tile by tile; inside a tile, K block by K block (k_block, a multiple of the
//   unit; the last block possibly shorter), then (g = 3 only) n_tile int32
//   row corrections; inside a block, row vector by row vector; inside a row
//   vector, unit by unit (unit_bytes each). Units, per g:
//   - g = 2: V bytes. Byte b holds row lut_row_of_byte(b): the index of group
//     2u in bits 3:0 and of group 2u+1 in bits 7:4; index = 3(t0+1) + (t1+1)
//     (0..8, an entry of the 9-entry table of signed sums).
//   - g = 3: 4V index bytes (group pairs as for g = 2), then V sign bytes (bit
//     7-q = sign of group q of the unit). With c = 9(t0+1) + 3(t1+1) + (t2+1),
//     index = |c - 13| (0..13) and sign = c < 13: the 14-entry table holds
//     the sums of trits c = 13..26 and a negative group takes minus the entry.
//     The kernel negates by complementing both byte halves of the int16 entry
//     (~x = -x - 1), so each row's correction is its count of sign bits.
//   - g = 4: 2V bytes of "p/n" planes: half h (rows h V/2 + w, w < V/2) is V
//     bytes where byte 2w holds p and byte 2w+1 holds n of row h V/2 + w (group
//     2u in bits 3:0, group 2u+1 in bits 7:4); p = sum 2^i [t_i = +1], n =
//     sum 2^i [t_i = -1], two indices into the 16-entry table of subset sums.
// lut_row_of_byte(b) for g = 2, 3 (a byte's row within its row vector), with
// l = b / 16, i = b % 16: 8l + i when i < 8, else V/2 + 8l + i - 8 — so that
// vpunpcklbw / vpunpckhbw of two looked-up vectors give rows [0, V/2) and
// [V/2, V) in order.
struct PackedLayout {
  Family family = Family::mad;
  uint32_t group = 128;       // K elements per packed vector step
  uint32_t vec_bytes = 32;    // group / 4
  uint32_t n_tile = 1;
  uint32_t k_block = 128;     // multiple of group
  uint64_t n = 0, k = 0;      // logical shape
  uint64_t n_padded = 0, k_padded = 0;
  uint64_t row_bytes = 0;     // k_padded / 4 (lut: tile_bytes / n_tile, corrections included)
  uint64_t tile_bytes = 0;    // n_tile * row_bytes
  uint64_t total_bytes = 0;   // n_padded / n_tile * tile_bytes

  // lut only (zero for mad).
  uint32_t lut_group = 0;     // g
  uint32_t unit_groups = 0;   // U
  uint32_t unit_elems = 0;    // U * g; k_padded and k_block are multiples
  uint32_t unit_bytes = 0;    // bytes of one unit of one row vector
  bool lut_signs = false;     // g = 3: sign bytes and per-row corrections
  bool lut_pn = false;        // g = 4: p/n index planes
  uint64_t corr_offset = 0;   // in a tile: n_tile int32 corrections (lut_signs)

  // Byte offset of the group holding element k0 (a multiple of group) of row `row`.
  uint64_t group_offset(uint64_t row, uint64_t k0) const;
  // lut: bytes of one row vector's share of the block starting at k0 / of the
  // whole block for the tile; and where the unit holding element k0 (a multiple
  // of unit_elems) of `row`'s row vector starts.
  uint64_t lut_block_len(uint64_t k0) const;
  uint64_t lut_vector_block_bytes(uint64_t len) const { return len / unit_elems * unit_bytes; }
  uint64_t lut_unit_offset(uint64_t row, uint64_t k0) const;
  uint32_t lut_row_of_byte(uint32_t b) const;
  uint32_t lut_byte_of_row(uint32_t r) const;  // inverse of lut_row_of_byte
};

// Vector width in bytes the desc's ISA works on (16 for scalar/NEON, 32 AVX2, 64 AVX-512).
uint32_t vector_bytes(Isa isa);

// Throws tern::Error when the desc has no shape (n or k zero) or an inconsistent
// config (n_tile 0, k_block not a multiple of the group / unit, lut: g not 2..4,
// n_tile not a multiple of the vector width).
PackedLayout layout_of(const KernelDesc& d);

// What every mad-family kernel, whatever its backend, needs of a desc (the types, a shape,
// consistent tile parameters, K blocks of whole groups): empty when d is a well-formed mad
// config for its ISA's vector width, else a short reason. Backends add their own limits
// (registers, ISAs) and the CPU check.
std::string mad_config_reason(const KernelDesc& d);

// The same for the lut family: types, shape, g and its entry type, tile parameters
// (n_tile a multiple of the vector width, unroll dividing its row vectors), the
// layout, and sizes that keep the kernels' offsets in range. Backends add their
// register and stack budgets and the CPU check.
std::string lut_config_reason(const KernelDesc& d);

}  // namespace tern
