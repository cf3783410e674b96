#include "runtime/ref/packers.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "runtime/core/error.h"
#include "runtime/ref/formats.h"

namespace tern::ref {
namespace {

constexpr uint8_t kZeroCode = 1;

// A group of V bytes whose part p of byte j is trit p*V + j, all inside the row: straight-line
// code the compiler turns into vector instructions (model loading packs every weight through
// here), checked once at the end. False when a trit is out of range.
template <uint32_t V>
bool pack_whole_group(const int8_t* t, uint8_t* g) {
  uint8_t bytes[V], bad = 0;  // a store through g could alias t: kept local, copied at the end
  for (uint32_t j = 0; j < V; ++j) {
    const uint8_t c0 = static_cast<uint8_t>(t[j] + 1), c1 = static_cast<uint8_t>(t[V + j] + 1);
    const uint8_t c2 = static_cast<uint8_t>(t[2 * V + j] + 1), c3 = static_cast<uint8_t>(t[3 * V + j] + 1);
    bad |= static_cast<uint8_t>((c0 > 2) | (c1 > 2) | (c2 > 2) | (c3 > 2));
    bytes[j] = static_cast<uint8_t>(c0 << 6 | c1 << 4 | c2 << 2 | c3);
  }
  std::memcpy(g, bytes, V);
  return !bad;
}

// One row's groups, as layout_of describes them.
void pack_row(const PackedLayout& l, uint64_t row, const int8_t* trits /*k or null*/, uint8_t* dst) {
  const uint32_t v = l.vec_bytes;
  for (uint64_t k0 = 0; k0 < l.k_padded; k0 += l.group) {
    uint8_t* g = dst + l.group_offset(row, k0);
    // A whole group of the row (every group but a padded last one) the fast way; a trit out of
    // range (or an unusual width) goes on to the checked loop below, which names it.
    if (trits && k0 + l.group <= l.k) {
      const bool ok = v == 64 ? pack_whole_group<64>(trits + k0, g) : v == 32 && pack_whole_group<32>(trits + k0, g);
      if (ok) continue;
    }
    for (uint32_t j = 0; j < v; ++j) {
      uint8_t byte = 0;
      for (uint32_t part = 0; part < 4; ++part) {
        const uint64_t k = k0 + part * v + j;
        uint8_t code = kZeroCode;
        if (trits && k < l.k) {
          const int8_t t = trits[k];
          if (t < -1 || t > 1)
            throw Error("pack_mad: row " + std::to_string(row) + " element " + std::to_string(k) +
                        " is " + std::to_string(t) + ", not a trit");
          code = static_cast<uint8_t>(t + 1);
        }
        byte |= static_cast<uint8_t>(code << (6 - 2 * part));
      }
      g[j] = byte;
    }
  }
}

// One row into the lut layout (layout.h); bytes of a unit belong to one row each,
// so rows are written independently. trits null = a padding row.
void pack_lut_row(const PackedLayout& l, uint64_t row, const int8_t* trits, uint8_t* dst) {
  const uint32_t g = l.lut_group, V = l.vec_bytes, rv = static_cast<uint32_t>(row % V);
  const uint32_t b = l.lut_byte_of_row(rv);
  int32_t negatives = 0;
  for (uint64_t k0 = 0; k0 < l.k_padded; k0 += l.unit_elems) {
    uint8_t* unit = dst + l.lut_unit_offset(row, k0);
    uint8_t signs = 0;
    for (uint32_t q = 0; q < l.unit_groups; ++q) {
      int t[4] = {0, 0, 0, 0};
      for (uint32_t i = 0; i < g; ++i) {
        const uint64_t k = k0 + q * g + i;
        if (!trits || k >= l.k) continue;
        t[i] = trits[k];
        if (t[i] < -1 || t[i] > 1)
          throw Error("pack_lut: row " + std::to_string(row) + " element " + std::to_string(k) + " is " +
                      std::to_string(t[i]) + ", not a trit");
      }
      const uint32_t shift = 4 * (q % 2);
      if (l.lut_pn) {
        uint8_t p = 0, n = 0;
        for (uint32_t i = 0; i < 4; ++i) {
          p |= static_cast<uint8_t>((t[i] == 1) << i);
          n |= static_cast<uint8_t>((t[i] == -1) << i);
        }
        const uint32_t half = rv / (V / 2), w = rv % (V / 2);
        uint8_t* pair = unit + half * V + 2 * w;
        pair[0] = static_cast<uint8_t>((pair[0] & ~(0xF << shift)) | (p << shift));
        pair[1] = static_cast<uint8_t>((pair[1] & ~(0xF << shift)) | (n << shift));
      } else {
        uint32_t index;
        if (g == 2) {
          index = 3 * (t[0] + 1) + (t[1] + 1);
        } else {
          const int c = 9 * (t[0] + 1) + 3 * (t[1] + 1) + (t[2] + 1);
          index = static_cast<uint32_t>(c >= 13 ? c - 13 : 13 - c);
          if (c < 13) {
            signs |= static_cast<uint8_t>(0x80 >> q);
            ++negatives;
          }
        }
        uint8_t& byte = unit[(q / 2) * V + b];
        byte = static_cast<uint8_t>((byte & ~(0xF << shift)) | (index << shift));
      }
    }
    if (l.lut_signs) unit[4 * V + b] = signs;
  }
  if (l.lut_signs) {
    uint8_t* corr = dst + row / l.n_tile * l.tile_bytes + l.corr_offset + 4 * (row % l.n_tile);
    std::memcpy(corr, &negatives, sizeof negatives);
  }
}

using RowPacker = void (*)(const PackedLayout&, uint64_t, const int8_t*, uint8_t*);

RowPacker row_packer(const PackedLayout& l) { return l.family == Family::lut ? pack_lut_row : pack_row; }

// Any ternary tensor, one row of trits at a time.
float pack_rows_from_tensor(const PackedLayout& l, const FormatTraits& f, GgmlType type, const uint8_t* src,
                            uint8_t* dst, const char* who) {
  const RowPacker pack = row_packer(l);
  std::vector<int8_t> trits(l.k);
  std::vector<float> scales(ternary_scale_count(f, l.k));
  const size_t row_bytes = format_bytes(f, l.k) - (type == GgmlType::I2_S ? kI2sTailBytes : 0);
  std::optional<float> scale;
  for (uint64_t row = 0; row < l.n; ++row) {
    if (type == GgmlType::I2_S) {
      // Decode the row's codes with the tensor's tail appended by hand.
      std::vector<uint8_t> one(l.k / 4 + kI2sTailBytes, 0);
      std::memcpy(one.data(), src + row * row_bytes, row_bytes);
      std::memcpy(one.data() + row_bytes, src + l.n * row_bytes, sizeof(float));
      scales[0] = unpack_i2_s(one.data(), l.k, trits.data());
    } else {
      f.to_trits(src + row * row_bytes, l.k, trits.data(), scales.data());
    }
    for (float s : scales) {
      if (!scale) scale = s;
      if (s != *scale)
        throw Error(std::string(who) + ": row " + std::to_string(row) + " has weight scale " + std::to_string(s) +
                    " where earlier blocks have " + std::to_string(*scale) +
                    "; per-block scales need a per-block kernel");
    }
    pack(l, row, trits.data(), dst);
  }
  for (uint64_t row = l.n; row < l.n_padded; ++row) pack(l, row, nullptr, dst);
  return scale.value_or(0.0f);
}

}  // namespace

void pack_lut(const PackedLayout& l, const int8_t* trits, uint8_t* dst) {
  if (l.family != Family::lut) throw Error("pack_lut: the layout is not a lut layout");
  pack_trits(l, trits, dst);
}

void unpack_lut(const PackedLayout& l, const uint8_t* packed, int8_t* trits) {
  const uint32_t g = l.lut_group, V = l.vec_bytes;
  for (uint64_t row = 0; row < l.n; ++row) {
    const uint32_t rv = static_cast<uint32_t>(row % V), b = l.lut_byte_of_row(rv);
    int32_t negatives = 0;
    for (uint64_t k0 = 0; k0 < l.k_padded; k0 += l.unit_elems) {
      const uint8_t* unit = packed + l.lut_unit_offset(row, k0);
      for (uint32_t q = 0; q < l.unit_groups; ++q) {
        const uint32_t shift = 4 * (q % 2);
        int t[4] = {0, 0, 0, 0};
        if (l.lut_pn) {
          const uint32_t half = rv / (V / 2), w = rv % (V / 2);
          const uint32_t p = (unit[half * V + 2 * w] >> shift) & 0xF, n = (unit[half * V + 2 * w + 1] >> shift) & 0xF;
          if (p & n) throw Error("unpack_lut: row " + std::to_string(row) + " has an element both +1 and -1");
          for (uint32_t i = 0; i < 4; ++i) t[i] = ((p >> i) & 1) - ((n >> i) & 1);
        } else {
          const uint32_t index = (unit[(q / 2) * V + b] >> shift) & 0xF;
          int c;
          if (g == 2) {
            if (index > 8) throw Error("unpack_lut: row " + std::to_string(row) + " has index " + std::to_string(index));
            c = static_cast<int>(index);
            t[0] = c / 3 - 1;
            t[1] = c % 3 - 1;
          } else {
            if (index > 13) throw Error("unpack_lut: row " + std::to_string(row) + " has index " + std::to_string(index));
            const bool neg = (unit[4 * V + b] >> (7 - q)) & 1;
            negatives += neg;
            c = neg ? 13 - static_cast<int>(index) : 13 + static_cast<int>(index);
            t[0] = c / 9 - 1;
            t[1] = c / 3 % 3 - 1;
            t[2] = c % 3 - 1;
          }
        }
        for (uint32_t i = 0; i < g; ++i) {
          const uint64_t k = k0 + q * g + i;
          if (k < l.k) trits[row * l.k + k] = static_cast<int8_t>(t[i]);
        }
      }
    }
    if (l.lut_signs) {
      int32_t stored;
      std::memcpy(&stored, packed + row / l.n_tile * l.tile_bytes + l.corr_offset + 4 * (row % l.n_tile), sizeof stored);
      if (stored != negatives)
        throw Error("unpack_lut: row " + std::to_string(row) + " correction " + std::to_string(stored) + " but " +
                    std::to_string(negatives) + " negative groups");
    }
  }
}

void pack_trits(const PackedLayout& l, const int8_t* trits, uint8_t* dst) {
  pack_trits_tiles(l, trits, dst, 0, l.n_padded / l.n_tile);
}

void pack_trits_tiles(const PackedLayout& l, const int8_t* trits, uint8_t* dst, uint64_t tile_begin,
                      uint64_t tile_end) {
  tile_end = std::min<uint64_t>(tile_end, l.n_padded / l.n_tile);
  if (tile_begin >= tile_end) return;
  // lut rows of a tile share its bytes (pack_lut_row ORs its bits in): clear them first.
  if (l.family == Family::lut) std::memset(dst + tile_begin * l.tile_bytes, 0, (tile_end - tile_begin) * l.tile_bytes);
  const RowPacker pack = row_packer(l);
  for (uint64_t row = tile_begin * l.n_tile; row < tile_end * l.n_tile; ++row)
    pack(l, row, row < l.n ? trits + row * l.k : nullptr, dst);
}

float pack_from_tensor(const PackedLayout& l, GgmlType type, const uint8_t* src, uint8_t* dst) {
  if (l.family != Family::lut) return pack_mad_from_tensor(l, type, src, dst);
  const FormatTraits* f = format_traits(type);
  if (!f || !f->is_ternary)
    throw Error("pack_from_tensor: " + std::string(ggml_type_name(type)) + " is not a ternary format");
  std::memset(dst, 0, l.total_bytes);
  return pack_rows_from_tensor(l, *f, type, src, dst, "pack_from_tensor");
}

void pack_mad(const PackedLayout& l, const int8_t* trits, uint8_t* dst) {
  pack_trits(l, trits, dst);  // the layout's own family: never a lut layout written as mad's
}

void unpack_mad(const PackedLayout& l, const uint8_t* packed, int8_t* trits) {
  if (l.family != Family::mad) return unpack_lut(l, packed, trits);
  const uint32_t v = l.vec_bytes;
  for (uint64_t row = 0; row < l.n; ++row)
    for (uint64_t k0 = 0; k0 < l.k_padded; k0 += l.group) {
      const uint8_t* g = packed + l.group_offset(row, k0);
      for (uint32_t part = 0; part < 4; ++part)
        for (uint32_t j = 0; j < v; ++j) {
          const uint64_t k = k0 + part * v + j;
          if (k < l.k) trits[row * l.k + k] = static_cast<int8_t>(((g[j] >> (6 - 2 * part)) & 3) - 1);
        }
    }
}

float pack_mad_from_tensor(const PackedLayout& l, GgmlType type, const uint8_t* src, uint8_t* dst) {
  const FormatTraits* f = format_traits(type);
  if (!f || !f->is_ternary)
    throw Error("pack_mad_from_tensor: " + std::string(ggml_type_name(type)) + " is not a ternary format");
  if (type == GgmlType::I2_S) {
    // One scale after all the codes; rows are k/4 bytes of 128-element groups.
    float scale;
    std::memcpy(&scale, src + l.n * l.k / 4, sizeof scale);
    if (l.group == kI2sBlock && l.k == l.k_padded) {
      for (uint64_t row = 0; row < l.n; ++row)
        for (uint64_t k0 = 0; k0 < l.k; k0 += l.group) {
          const uint8_t* g = src + row * l.k / 4 + k0 / 4;
          for (uint32_t j = 0; j < l.vec_bytes; ++j)
            if ((g[j] & (g[j] >> 1) & 0x55) != 0)  // a 2-bit code of 3 would act as +2
              throw Error("pack_mad_from_tensor: I2_S row " + std::to_string(row) + " holds code 3 near element " +
                          std::to_string(k0 + j) + "; not a ternary tensor");
          std::memcpy(dst + l.group_offset(row, k0), g, l.vec_bytes);
        }
      for (uint64_t row = l.n; row < l.n_padded; ++row) pack_row(l, row, nullptr, dst);
      return scale;
    }
  }
  // Generic path: one row of trits at a time.
  return pack_rows_from_tensor(l, *f, type, src, dst, "pack_mad_from_tensor");
}

}  // namespace tern::ref
