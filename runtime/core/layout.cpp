#include "runtime/core/layout.h"

#include <string>

#include "runtime/core/error.h"

namespace tern {

uint32_t vector_bytes(Isa isa) {
  switch (isa) {
    case Isa::avx2:
    case Isa::avxvnni: return 32;
    case Isa::avx512vnni: return 64;
    default: return 32;  // scalar and ARM kernels share the AVX2 packing (I2_S compatible)
  }
}

uint64_t PackedLayout::group_offset(uint64_t row, uint64_t k0) const {
  const uint64_t tile = row / n_tile, r = row % n_tile;
  const uint64_t kb = k0 / k_block * k_block;
  const uint64_t block_len = (k_padded - kb < k_block) ? k_padded - kb : k_block;
  return tile * tile_bytes + kb / 4 * n_tile + r * (block_len / 4) + (k0 - kb) / 4;
}

static uint64_t round_up(uint64_t x, uint64_t m) { return (x + m - 1) / m * m; }

PackedLayout layout_of(const KernelDesc& d) {
  if (d.n == 0 || d.k == 0)
    throw Error("layout_of(" + to_name(d) + "): the desc needs its N and K");
  PackedLayout l;
  l.vec_bytes = vector_bytes(d.isa);
  l.group = 4 * l.vec_bytes;
  if (d.n_tile == 0) throw Error("layout_of(" + to_name(d) + "): n_tile is 0");
  if (d.k_block == 0 || d.k_block % l.group != 0)
    throw Error("layout_of(" + to_name(d) + "): k_block " + std::to_string(d.k_block) +
                " is not a positive multiple of the " + std::to_string(l.group) + "-element group");
  l.n_tile = d.n_tile;
  l.k_block = d.k_block;
  l.n = d.n;
  l.k = d.k;
  l.n_padded = round_up(d.n, d.n_tile);
  l.k_padded = round_up(d.k, l.group);
  l.row_bytes = l.k_padded / 4;
  l.tile_bytes = l.n_tile * l.row_bytes;
  l.total_bytes = l.n_padded / l.n_tile * l.tile_bytes;
  return l;
}

}  // namespace tern
