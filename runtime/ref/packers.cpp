#include "runtime/ref/packers.h"

#include <cstring>
#include <string>
#include <vector>

#include "runtime/core/error.h"
#include "runtime/ref/formats.h"

namespace tern::ref {
namespace {

constexpr uint8_t kZeroCode = 1;

// One row's groups, as layout_of describes them.
void pack_row(const PackedLayout& l, uint64_t row, const int8_t* trits /*k or null*/, uint8_t* dst) {
  const uint32_t v = l.vec_bytes;
  for (uint64_t k0 = 0; k0 < l.k_padded; k0 += l.group) {
    uint8_t* g = dst + l.group_offset(row, k0);
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

}  // namespace

void pack_mad(const PackedLayout& l, const int8_t* trits, uint8_t* dst) {
  for (uint64_t row = 0; row < l.n_padded; ++row)
    pack_row(l, row, row < l.n ? trits + row * l.k : nullptr, dst);
}

void unpack_mad(const PackedLayout& l, const uint8_t* packed, int8_t* trits) {
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
  std::vector<int8_t> trits(l.k);
  std::vector<float> scales(ternary_scale_count(*f, l.k));
  const size_t row_bytes = format_bytes(*f, l.k) - (type == GgmlType::I2_S ? kI2sTailBytes : 0);
  std::optional<float> scale;
  for (uint64_t row = 0; row < l.n; ++row) {
    if (type == GgmlType::I2_S) {
      // Decode the row's codes with the tensor's tail appended by hand.
      std::vector<uint8_t> one(l.k / 4 + kI2sTailBytes, 0);
      std::memcpy(one.data(), src + row * row_bytes, row_bytes);
      std::memcpy(one.data() + row_bytes, src + l.n * row_bytes, sizeof(float));
      scales[0] = unpack_i2_s(one.data(), l.k, trits.data());
    } else {
      f->to_trits(src + row * row_bytes, l.k, trits.data(), scales.data());
    }
    for (float s : scales) {
      if (!scale) scale = s;
      if (s != *scale)
        throw Error("pack_mad_from_tensor: row " + std::to_string(row) + " has weight scale " +
                    std::to_string(s) + " where earlier blocks have " + std::to_string(*scale) +
                    "; per-block scales need a per-block kernel");
    }
    pack_row(l, row, trits.data(), dst);
  }
  for (uint64_t row = l.n; row < l.n_padded; ++row) pack_row(l, row, nullptr, dst);
  return scale.value_or(0.0f);
}

}  // namespace tern::ref
