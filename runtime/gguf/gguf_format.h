// Internal to runtime/gguf: encoding facts shared by the reader and the writer.
#pragma once

#include <bit>
#include <cstdint>

#include "runtime/gguf/gguf.h"

namespace tern::gguf::detail {

// The reader copies scalars straight out of the file and the writer straight into it.
static_assert(std::endian::native == std::endian::little, "GGUF I/O assumes a little-endian host");

inline constexpr char kMagic[4] = {'G', 'G', 'U', 'F'};
inline constexpr uint32_t kWriteVersion = 3;

// Bytes of one encoded scalar; 0 for string and array, whose size depends on content.
constexpr uint64_t scalar_size(ValueType t) {
  switch (t) {
    case ValueType::U8:
    case ValueType::I8:
    case ValueType::Bool:
      return 1;
    case ValueType::U16:
    case ValueType::I16:
      return 2;
    case ValueType::U32:
    case ValueType::I32:
    case ValueType::F32:
      return 4;
    case ValueType::U64:
    case ValueType::I64:
    case ValueType::F64:
      return 8;
    case ValueType::String:
    case ValueType::Array:
      return 0;
  }
  return 0;
}

// The fewest bytes one element of type t can take. Counts read from the file are checked
// against remaining / min_encoded_size before anything is allocated for them.
constexpr uint64_t min_encoded_size(ValueType t) {
  if (t == ValueType::String) return 8;     // u64 length, no bytes
  if (t == ValueType::Array) return 4 + 8;  // element type, count, no elements
  return scalar_size(t);
}

// A metadata entry: key (u64 length), u32 value type, at least one value byte.
inline constexpr uint64_t kMinKvBytes = 8 + 4 + 1;
// A tensor info: name (u64 length), u32 n_dims, one u64 dim, u32 type, u64 offset.
inline constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;

constexpr bool is_power_of_two(uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }

// Rounds up to a multiple of a power-of-two alignment; false on overflow.
inline bool align_up(uint64_t x, uint64_t alignment, uint64_t* out) {
  uint64_t sum;
  if (__builtin_add_overflow(x, alignment - 1, &sum)) return false;
  *out = sum & ~(alignment - 1);
  return true;
}

// The block a tensor's row length (ne[0]) must be a multiple of. I2_S counts 4 weights per
// byte, but bitnet.cpp's x86 kernels work on 128-weight blocks (see ggml_tensor_bytes).
inline uint64_t row_multiple(GgmlType t) {
  if (t == GgmlType::I2_S) return 128;
  return ggml_type_info(t).block_size;
}

}  // namespace tern::gguf::detail
