#include "runtime/gguf/gguf.h"

namespace tern::gguf {

std::string_view value_type_name(ValueType t) {
  switch (t) {
    case ValueType::U8:
      return "uint8";
    case ValueType::I8:
      return "int8";
    case ValueType::U16:
      return "uint16";
    case ValueType::I16:
      return "int16";
    case ValueType::U32:
      return "uint32";
    case ValueType::I32:
      return "int32";
    case ValueType::F32:
      return "float32";
    case ValueType::Bool:
      return "bool";
    case ValueType::String:
      return "string";
    case ValueType::Array:
      return "array";
    case ValueType::U64:
      return "uint64";
    case ValueType::I64:
      return "int64";
    case ValueType::F64:
      return "float64";
  }
  return "unknown";
}

namespace {

// Builds the variant alternative with index I (an empty vector of element type I).
template <size_t... I>
ArrayData empty_array_data(size_t index, std::index_sequence<I...>) {
  ArrayData result;
  ((index == I ? (result.emplace<I>(), 0) : 0), ...);
  return result;
}

}  // namespace

Array Array::empty_of(ValueType t) {
  const auto index = static_cast<size_t>(t);
  if (index >= std::variant_size_v<ArrayData>) throw Error("gguf: array element type out of range");
  Array a;
  a.data_ = empty_array_data(index, std::make_index_sequence<std::variant_size_v<ArrayData>>{});
  return a;
}

size_t Array::size() const {
  return std::visit([](const auto& v) { return v.size(); }, data_);
}

uint64_t TensorInfo::elements() const {
  uint64_t n = 1;
  for (uint64_t d : dims()) n *= d;  // the reader rejected any tensor whose size overflows
  return n;
}

}  // namespace tern::gguf
