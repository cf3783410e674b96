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

uint64_t PackedLayout::lut_block_len(uint64_t k0) const {
  const uint64_t kb = k0 / k_block * k_block;
  return (k_padded - kb < k_block) ? k_padded - kb : k_block;
}

uint32_t PackedLayout::lut_row_of_byte(uint32_t b) const {
  const uint32_t lane = b / 16, i = b % 16;
  return i < 8 ? 8 * lane + i : vec_bytes / 2 + 8 * lane + (i - 8);
}

uint32_t PackedLayout::lut_byte_of_row(uint32_t r) const {
  const uint32_t half = r / (vec_bytes / 2), rr = r % (vec_bytes / 2);
  return 16 * (rr / 8) + 8 * half + rr % 8;
}

uint64_t PackedLayout::lut_unit_offset(uint64_t row, uint64_t k0) const {
  const uint64_t tile = row / n_tile, vec = row % n_tile / vec_bytes;
  const uint64_t kb = k0 / k_block * k_block, len = lut_block_len(k0);
  // Every block before kb is a full one.
  return tile * tile_bytes + kb / k_block * (n_tile / vec_bytes) * lut_vector_block_bytes(k_block) +
         vec * lut_vector_block_bytes(len) + (k0 - kb) / unit_elems * unit_bytes;
}

std::string mad_config_reason(const KernelDesc& d) {
  if (d.weights != WeightFormat::t2 || d.act != DType::i8 || d.out != DType::f32 || d.acc != DType::i32 ||
      d.scale != ScaleGranularity::tensor)
    return "mad kernels take t2 weights, i8 activations, int32 accumulation, f32 output, one scale";
  if (d.n == 0 || d.k == 0) return "the desc needs its N and K (kernels are specialised to K)";
  if (d.lut_group != 0 || d.lut_entry != DType::i8) return "lut parameters on a mad kernel";
  if (d.unroll == 0 || d.m_tile == 0 || d.accumulators == 0 || d.n_tile == 0) return "a zero tile parameter";
  if (d.n_tile % d.unroll != 0) return "n_tile must be a multiple of unroll";
  if (d.op == Op::gemv && d.m_tile != 1) return "gemv kernels have m_tile 1";
  const uint32_t group = 4 * vector_bytes(d.isa);
  if (d.k_block % group != 0) return "k_block must be a multiple of " + std::to_string(group);
  if (uint64_t(d.m_tile) * (d.k + group) > (1u << 30)) return "K too large";
  return {};
}

std::string lut_config_reason(const KernelDesc& d) {
  if (d.family != Family::lut) return "not the lut family";
  if (d.weights != WeightFormat::t2 || d.act != DType::i8 || d.out != DType::f32 || d.acc != DType::i32 ||
      d.scale != ScaleGranularity::tensor)
    return "lut kernels take t2 weights, i8 activations, int32 accumulation, f32 output, one scale";
  if (d.n == 0 || d.k == 0) return "the desc needs its N and K (kernels are specialised to K)";
  if (d.lut_group < 2 || d.lut_group > 4) return "lut_group must be 2, 3 or 4";
  if ((d.lut_group == 4) != (d.lut_entry == DType::i8) ||
      (d.lut_entry != DType::i8 && d.lut_entry != DType::i16))
    return "lut_entry is i16 for g = 2 and 3 (int16 tables, unpacked) and i8 for g = 4 (byte halves)";
  if (d.accumulators != 1) return "lut kernels have one accumulator set";
  if (d.unroll == 0 || d.m_tile == 0 || d.n_tile == 0) return "a zero tile parameter";
  if (d.op == Op::gemv && d.m_tile != 1) return "gemv kernels have m_tile 1";
  const uint32_t V = vector_bytes(d.isa);
  if (d.n_tile % V != 0) return "n_tile must be a multiple of " + std::to_string(V) + " rows";
  if (d.n_tile / V % d.unroll != 0) return "unroll must divide n_tile / " + std::to_string(V);
  PackedLayout l;
  try {
    l = layout_of(d);
  } catch (const Error& e) {
    return e.what();
  }
  if (l.tile_bytes >= (1u << 31) || l.k_padded * d.m_tile >= (1u << 31)) return "K too large";
  if (size_t(d.prefetch) * V >= (1u << 30)) return "prefetch distance too large";
  return {};
}

static uint64_t round_up(uint64_t x, uint64_t m) { return (x + m - 1) / m * m; }

namespace {

PackedLayout lut_layout_of(const KernelDesc& d) {
  PackedLayout l;
  l.family = Family::lut;
  l.vec_bytes = vector_bytes(d.isa);
  if (d.lut_group < 2 || d.lut_group > 4)
    throw Error("layout_of(" + to_name(d) + "): lut_group " + std::to_string(d.lut_group) + " is not 2, 3 or 4");
  if (d.n_tile == 0 || d.n_tile % l.vec_bytes != 0)
    throw Error("layout_of(" + to_name(d) + "): n_tile " + std::to_string(d.n_tile) +
                " is not a positive multiple of the " + std::to_string(l.vec_bytes) + "-row vector");
  l.lut_group = d.lut_group;
  l.lut_signs = d.lut_group == 3;
  l.lut_pn = d.lut_group == 4;
  l.unit_groups = l.lut_signs ? 8 : 2;
  l.unit_elems = l.unit_groups * l.lut_group;
  l.unit_bytes = l.lut_signs ? 5 * l.vec_bytes : l.lut_pn ? 2 * l.vec_bytes : l.vec_bytes;
  if (d.k_block == 0 || d.k_block % l.unit_elems != 0)
    throw Error("layout_of(" + to_name(d) + "): k_block " + std::to_string(d.k_block) +
                " is not a positive multiple of the " + std::to_string(l.unit_elems) + "-element unit");
  l.group = l.unit_elems;
  l.n_tile = d.n_tile;
  l.k_block = d.k_block;
  l.n = d.n;
  l.k = d.k;
  l.n_padded = round_up(d.n, d.n_tile);
  l.k_padded = round_up(d.k, l.unit_elems);
  const uint64_t data = l.k_padded / l.unit_elems * l.unit_bytes * (l.n_tile / l.vec_bytes);
  l.corr_offset = data;
  l.tile_bytes = data + (l.lut_signs ? 4ull * l.n_tile : 0);
  l.row_bytes = l.tile_bytes / l.n_tile;
  l.total_bytes = l.n_padded / l.n_tile * l.tile_bytes;
  return l;
}

}  // namespace

PackedLayout layout_of(const KernelDesc& d) {
  if (d.n == 0 || d.k == 0)
    throw Error("layout_of(" + to_name(d) + "): the desc needs its N and K");
  if (d.family == Family::lut) return lut_layout_of(d);
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
