// Tensor type ids as they appear in GGUF files, and the size of each type.
//
// Ids follow upstream ggml, except 36: bitnet.cpp's fork writes I2_S there, and
// upstream's own 36 (IQ4_NL_4_4) was removed from files long ago. Files from
// either producer therefore read through one table (STYLE.md: map ids
// explicitly rather than forking the namespace).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace tern {

enum class GgmlType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
  IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21,
  IQ2_S = 22, IQ4_XS = 23, I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28,
  IQ1_M = 29, BF16 = 30, TQ1_0 = 34, TQ2_0 = 35,
  I2_S = 36,  // bitnet.cpp fork: 2-bit codes, one f32 scale after them
  MXFP4 = 39,
};

struct GgmlTypeInfo {
  GgmlType type;
  const char* name;      // as llama.cpp prints it: "TQ2_0", "F16", ...
  uint32_t block_size;   // elements per block
  uint32_t block_bytes;  // bytes per block (I2_S: bytes per 4 elements, plus a 32-byte tail)
};

// nullptr for an id no known producer writes.
const GgmlTypeInfo* ggml_type_info(uint32_t id);
const GgmlTypeInfo& ggml_type_info(GgmlType t);
std::string_view ggml_type_name(GgmlType t);
// Accepts llama.cpp's spelling in any case ("tq2_0", "Q6_K").
std::optional<GgmlType> ggml_type_from_name(std::string_view name);

// Bytes of a tensor with dims ne (ne[0] = row length). Empty when the row
// length is not a multiple of the block size, a dim is zero or negative in
// spirit, or the product overflows 64 bits.
std::optional<uint64_t> ggml_tensor_bytes(GgmlType t, std::span<const uint64_t> ne);

}  // namespace tern
