// GGUF model files: a validating reader, a streaming writer and a summary printer.
//
// Format (ggml docs/gguf.md), all little-endian:
//   "GGUF", u32 version (2 or 3), u64 tensor count, u64 metadata count,
//   metadata: { string key, u32 value type, value }...,
//   tensor infos: { string name, u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 offset }...,
//   zero padding up to `general.alignment` (default 32), then the tensor data section;
//   each tensor's offset is relative to the start of that section.
// Strings are a u64 byte length and the bytes (no terminator). An array is a u32 element
// type, a u64 count and the elements. Version 1 (32-bit counts) is not read.
//
// The reader trusts nothing: every count, length, type id, dim and offset is checked
// against the bytes that are actually there before it is used, and every failure is a
// tern::Error whose one-line message names the file, the byte offset and the field.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <map>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "runtime/core/error.h"
#include "runtime/core/ggml_type.h"

namespace tern::gguf {

inline constexpr uint32_t kDefaultAlignment = 32;
inline constexpr std::string_view kAlignmentKey = "general.alignment";
// Arrays of arrays deeper than this are rejected: real files nest at most once, and the
// cap bounds the reader's recursion.
inline constexpr int kMaxArrayDepth = 8;
inline constexpr uint32_t kMaxDims = 4;

// Metadata value types; the numbers are the ids stored in the file.
enum class ValueType : uint32_t {
  U8 = 0,
  I8 = 1,
  U16 = 2,
  I16 = 3,
  U32 = 4,
  I32 = 5,
  F32 = 6,
  Bool = 7,
  String = 8,
  Array = 9,
  U64 = 10,
  I64 = 11,
  F64 = 12,
};
inline constexpr uint32_t kValueTypeCount = 13;

// "uint8", "int32", "float32", "bool", "string", "array", ... as gguf-py spells them.
std::string_view value_type_name(ValueType t);

class Array;

// The elements of an array, one std::vector per element type, so a vocabulary's 128k
// scores stay one std::vector<float> and a byte array costs a byte per element.
// Alternative i holds element type i (the variant index is the file's type id).
using ArrayData =
    std::variant<std::vector<uint8_t>, std::vector<int8_t>, std::vector<uint16_t>, std::vector<int16_t>,
                 std::vector<uint32_t>, std::vector<int32_t>, std::vector<float>, std::vector<bool>,
                 std::vector<std::string>, std::vector<Array>, std::vector<uint64_t>, std::vector<int64_t>,
                 std::vector<double>>;

class Array {
 public:
  Array() = default;  // an empty array of uint8
  template <class T>
  requires std::is_constructible_v<ArrayData, std::vector<T>> Array(std::vector<T> items)
      : data_(std::move(items)) {}
  // An empty array whose element type is t (the file stores the type even when empty).
  static Array empty_of(ValueType t);

  ValueType element_type() const { return static_cast<ValueType>(data_.index()); }
  size_t size() const;
  bool empty() const { return size() == 0; }

  // The elements when they are of type T, else nullptr.
  template <class T>
  const std::vector<T>* get_if() const {
    return std::get_if<std::vector<T>>(&data_);
  }
  const ArrayData& data() const { return data_; }

  bool operator==(const Array&) const = default;

 private:
  ArrayData data_;
};

// One metadata value. Alternative i holds value type i, as in ArrayData. Construct it from
// the exact C++ type you mean (uint32_t{2}, 1e-5f, std::string("bitnet"), Array(...)): no
// silent conversions, so a literal 2 (int) becomes int32, never uint32 by accident.
class Value {
 public:
  using Storage = std::variant<uint8_t, int8_t, uint16_t, int16_t, uint32_t, int32_t, float, bool,
                               std::string, Array, uint64_t, int64_t, double>;

  template <class T>
  requires(
      std::is_same_v<std::remove_cvref_t<T>, uint8_t> || std::is_same_v<std::remove_cvref_t<T>, int8_t> ||
      std::is_same_v<std::remove_cvref_t<T>, uint16_t> || std::is_same_v<std::remove_cvref_t<T>, int16_t> ||
      std::is_same_v<std::remove_cvref_t<T>, uint32_t> || std::is_same_v<std::remove_cvref_t<T>, int32_t> ||
      std::is_same_v<std::remove_cvref_t<T>, float> || std::is_same_v<std::remove_cvref_t<T>, bool> ||
      std::is_same_v<std::remove_cvref_t<T>, std::string> || std::is_same_v<std::remove_cvref_t<T>, Array> ||
      std::is_same_v<std::remove_cvref_t<T>, uint64_t> || std::is_same_v<std::remove_cvref_t<T>, int64_t> ||
      std::is_same_v<std::remove_cvref_t<T>, double>) Value(T&& v)
      : v_(std::forward<T>(v)) {}
  Value(const char* s) : v_(std::string(s)) {}
  Value(std::string_view s) : v_(std::string(s)) {}

  ValueType type() const { return static_cast<ValueType>(v_.index()); }
  template <class T>
  const T* get_if() const {
    return std::get_if<T>(&v_);
  }
  const Storage& storage() const { return v_; }
  bool operator==(const Value&) const = default;

 private:
  Storage v_;
};

struct KeyValue {
  std::string key;
  Value value;
  uint64_t offset = 0;  // where the entry (its key) starts in the file; 0 for written ones
};

struct TensorInfo {
  std::string name;
  GgmlType type = GgmlType::F32;
  uint32_t n_dims = 0;
  std::array<uint64_t, kMaxDims> ne{1, 1, 1, 1};  // ggml order: ne[0] is the row length
  uint64_t offset = 0;                            // relative to the data section, as stored in the file
  uint64_t file_offset = 0;                       // absolute: data_offset() + offset
  uint64_t bytes = 0;                             // ggml_tensor_bytes(type, dims())
  const uint8_t* data = nullptr;

  std::span<const uint64_t> dims() const { return {ne.data(), n_dims}; }
  uint64_t elements() const;
  std::span<const uint8_t> span() const { return {data, static_cast<size_t>(bytes)}; }
};

// A parsed, validated GGUF file. Move-only. Metadata and tensor infos are copied out at
// parse time; tensor data is read in place, from the mapping or the caller's span.
class File {
 public:
  // Maps `path` read-only (MAP_PRIVATE); the file is never written.
  static File open(const std::string& path);
  // Parses bytes the caller owns; they must outlive the File. `name` is used in messages.
  static File parse(std::span<const uint8_t> bytes, std::string name = "<memory>");

  File(File&&) noexcept;
  File& operator=(File&&) noexcept;
  ~File();

  const std::string& name() const { return name_; }
  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  // Aligned end of the tensor table. A file without tensors may stop short of it (llama.cpp's
  // vocab-only files do), so it can exceed size() then.
  uint64_t data_offset() const { return data_offset_; }
  uint64_t size() const { return bytes_.size(); }
  std::span<const uint8_t> bytes() const { return bytes_; }

  // Metadata in file order.
  const std::vector<KeyValue>& metadata() const { return kvs_; }
  const Value* find(std::string_view key) const;
  const KeyValue* find_entry(std::string_view key) const;
  bool contains(std::string_view key) const { return find(key) != nullptr; }

  // Typed getters: throw tern::Error naming the key when it is missing or of another type.
  // Integer getters accept any integer type whose value fits the result; float getters
  // accept float32 and float64. The overloads with a fallback return it for a missing key
  // (but still throw for a wrong type).
  const std::string& get_string(std::string_view key) const;
  std::string get_string(std::string_view key, std::string_view fallback) const;
  uint32_t get_u32(std::string_view key) const;
  uint32_t get_u32(std::string_view key, uint32_t fallback) const;
  int32_t get_i32(std::string_view key) const;
  uint64_t get_u64(std::string_view key) const;
  int64_t get_i64(std::string_view key) const;
  int64_t get_i64(std::string_view key, int64_t fallback) const;
  float get_f32(std::string_view key) const;
  float get_f32(std::string_view key, float fallback) const;
  double get_f64(std::string_view key) const;
  bool get_bool(std::string_view key) const;
  bool get_bool(std::string_view key, bool fallback) const;
  const Array& get_array(std::string_view key) const;
  const std::vector<std::string>& get_string_array(std::string_view key) const;
  // Converted copies; every element must fit.
  std::vector<int32_t> get_i32_array(std::string_view key) const;
  std::vector<uint32_t> get_u32_array(std::string_view key) const;
  std::vector<int64_t> get_i64_array(std::string_view key) const;
  std::vector<float> get_f32_array(std::string_view key) const;

  // Tensor infos in file order.
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;
  // Throws tern::Error naming the file and the tensor when it is absent.
  const TensorInfo& tensor(std::string_view name) const;

  // Tells the kernel a tensor's bytes are no longer needed (the model packed a copy), so
  // their pages leave this process's resident set; they are read from the file again if
  // touched. A file from parse() (memory the caller owns) is left alone. Best effort.
  void release(const TensorInfo& t) const;

 private:
  File() = default;
  friend class Parser;
  struct Mapping;

  std::string name_;
  std::unique_ptr<Mapping> mapping_;  // null for parse()
  std::span<const uint8_t> bytes_;
  uint32_t version_ = 0;
  uint32_t alignment_ = kDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::vector<KeyValue> kvs_;
  std::map<std::string, size_t, std::less<>> kv_index_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
};

// Writes a GGUF v3 file without holding tensor data: set metadata and declare tensors,
// then stream each tensor's bytes in declaration order (in as many chunks as you like).
// Output goes to `<path>.tmp.<pid>` and is renamed onto `path` only by finish(); a Writer
// destroyed before that removes the temporary file, so no partial output is ever left.
//
//   Writer w("model.gguf");
//   w.set("general.architecture", "bitnet");
//   w.add_tensor("output_norm.weight", GgmlType::F32, {256});
//   w.write_tensor("output_norm.weight", norm.data(), 256 * sizeof(float));
//   w.finish();
class Writer {
 public:
  // Creates the temporary file now, so an unwritable directory fails here.
  explicit Writer(std::string path);
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;
  ~Writer();

  // Before the header is written. Setting an existing key replaces its value in place.
  // `general.alignment` must be a uint32 power of two; it sets the data alignment.
  void set(std::string key, Value value);
  void set_alignment(uint32_t alignment) { set(std::string(kAlignmentKey), Value(alignment)); }
  void add_tensor(std::string name, GgmlType type, std::span<const uint64_t> dims);
  void add_tensor(std::string name, GgmlType type, std::initializer_list<uint64_t> dims) {
    add_tensor(std::move(name), type, std::span<const uint64_t>(dims.begin(), dims.size()));
  }

  // Writes metadata and the tensor table; called by the first write_tensor() or finish()
  // if not before. Afterwards the tensor offsets below are final.
  void write_header();
  const std::vector<TensorInfo>& tensors() const { return tensors_; }  // data is nullptr
  uint64_t data_offset() const { return data_offset_; }

  // The next `bytes` bytes of tensor `name`, which must be the tensor being written or,
  // once that one is complete, the next declared one.
  void write_tensor(std::string_view name, const void* data, size_t bytes);
  void write_tensor(std::string_view name, std::span<const uint8_t> data) {
    write_tensor(name, data.data(), data.size());
  }

  // Checks every tensor got exactly its bytes, flushes, syncs and renames into place.
  void finish();

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_path_; }

 private:
  enum class State { Declaring, Writing, Finished, Failed };

  void require_state(State s, const char* action) const;
  [[noreturn]] void fail(const std::string& message);
  [[noreturn]] void fail_errno(const std::string& action);
  uint32_t alignment() const;
  void emit(const void* data, size_t n);
  void emit_zeros(uint64_t n);
  void flush();
  void finish_current_tensor();

  std::string path_;
  std::string temp_path_;
  int fd_ = -1;
  State state_ = State::Declaring;
  std::vector<KeyValue> kvs_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
  uint64_t data_offset_ = 0;
  size_t current_ = 0;  // tensor being written
  uint64_t current_written_ = 0;
  std::vector<uint8_t> buffer_;
};

// `tern inspect`: version, alignment, every key with its type and value (arrays shown as
// `[string x 128256: "!", "\"", "#", ...]` unless `full`), the tensor table and totals.
void print_summary(const File& file, std::ostream& out, bool full = false);
// The same information for `tern inspect --json`; arrays keep their first 8 elements and
// their count. Strings that are not valid UTF-8 get U+FFFD so the result always dumps.
nlohmann::json to_json(const File& file);

}  // namespace tern::gguf
