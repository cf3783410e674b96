// GGUF reader: parses and validates a whole file before anything is handed out.
//
// Every read goes through a bounds-checked Cursor. A count from the file is compared with
// the bytes left (at the smallest encoding an element can have) before it sizes any
// allocation, so a 30-byte file cannot ask for 2^63 entries.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <numeric>
#include <utility>

#include "runtime/gguf/gguf.h"
#include "runtime/gguf/gguf_format.h"

namespace tern::gguf {

struct File::Mapping {
  void* addr = nullptr;
  size_t size = 0;
  Mapping(void* a, size_t n) : addr(a), size(n) {}
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() { munmap(addr, size); }
};

namespace {

using detail::min_encoded_size;

// A name from the file, printable in a one-line message: quoted, control and non-ASCII
// bytes escaped, cut short when long.
std::string quoted(std::string_view s) {
  constexpr size_t kMax = 64;
  std::string out = "'";
  for (size_t i = 0; i < s.size() && i < kMax; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (s.size() > kMax) out += "...";
  return out + "'";
}

// What is being read, rendered only when a check fails so the hot path builds no strings.
struct Field {
  static constexpr uint64_t kNoElement = std::numeric_limits<uint64_t>::max();
  std::string_view context;  // "metadata 'general.name'", "tensor 3 'output.weight'"
  std::string_view what;     // "value type", "n_dims", ...
  uint64_t element = kNoElement;

  std::string str() const {
    std::string s(context);
    if (element != kNoElement)
      s += (s.empty() ? "" : " ") + std::string("element ") + std::to_string(element);
    if (!what.empty()) s += (s.empty() ? "" : " ") + std::string(what);
    return s;
  }
};

class Cursor {
 public:
  Cursor(std::span<const uint8_t> bytes, const std::string& file) : bytes_(bytes), file_(file) {}

  uint64_t pos() const { return pos_; }
  uint64_t size() const { return bytes_.size(); }
  uint64_t remaining() const { return bytes_.size() - pos_; }

  [[noreturn]] void fail_at(uint64_t offset, const Field& f, std::string_view problem) const {
    throw Error(file_ + ": offset " + std::to_string(offset) + ": " + f.str() + ": " + std::string(problem));
  }

  // The next n bytes; throws when the file ends first.
  const uint8_t* take(uint64_t n, const Field& f) {
    if (n > remaining())
      fail_at(pos_, f,
              "needs " + std::to_string(n) + " bytes but only " + std::to_string(remaining()) +
                  " remain in the " + std::to_string(size()) + "-byte file (truncated?)");
    const uint8_t* p = bytes_.data() + pos_;
    pos_ += n;
    return p;
  }

  template <class T>
  T read(const Field& f) {
    T v;
    std::memcpy(&v, take(sizeof(T), f), sizeof(T));
    return v;
  }

  std::string read_string(const Field& f) {
    const uint64_t at = pos_;
    const auto len = read<uint64_t>(f);
    if (len > remaining())
      fail_at(at, f,
              "string length " + std::to_string(len) + " exceeds the " + std::to_string(remaining()) +
                  " bytes left in the file");
    const auto* p = reinterpret_cast<const char*>(take(len, f));
    return std::string(p, len);
  }

  // A count read at `at` whose elements take at least min_size bytes each must fit in what
  // is left; checked before the count sizes any allocation.
  void check_count(uint64_t count, uint64_t min_size, uint64_t budget, const Field& f, uint64_t at,
                   std::string_view noun) const {
    const uint64_t most = budget / min_size;
    if (count > most)
      fail_at(at, f,
              std::to_string(count) + " exceeds what the file can hold (at most " + std::to_string(most) +
                  " " + std::string(noun) + " in the " + std::to_string(budget) + " bytes left)");
  }

 private:
  std::span<const uint8_t> bytes_;
  const std::string& file_;
  uint64_t pos_ = 0;
};

// Reservations are capped: a count that passed the size check may still be garbage that
// the remaining bytes (say, a 5 GB tensor section) could nominally back, so beyond the cap
// vectors grow only as elements actually parse.
constexpr uint64_t kMaxReserve = uint64_t{1} << 18;
size_t capped(uint64_t count) { return static_cast<size_t>(std::min(count, kMaxReserve)); }

std::string join_dims(std::span<const uint64_t> dims) {
  std::string s;
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? " x " : "") + std::to_string(dims[i]);
  return s;
}

}  // namespace

// Fills a File from its bytes; a friend of File so it can populate the private tables.
class Parser {
 public:
  explicit Parser(File& f) : file_(f), cur_(f.bytes_, f.name_) {}

  void run() {
    const auto [n_tensors, n_kv] = read_header();
    read_metadata(n_kv);
    apply_alignment();
    read_tensor_infos(n_tensors);
    place_tensors();
  }

 private:
  struct Counts {
    uint64_t tensors, kvs;
  };

  Counts read_header() {
    const uint8_t* magic = cur_.take(4, {"", "magic"});
    if (std::memcmp(magic, detail::kMagic, 4) != 0)
      cur_.fail_at(0, {"", "magic"},
                   "expected \"GGUF\", found " +
                       quoted(std::string_view(reinterpret_cast<const char*>(magic), 4)) +
                       " (not a GGUF file)");
    read_version();

    const uint64_t tensors_at = cur_.pos();
    const auto n_tensors = cur_.read<uint64_t>({"", "tensor count"});
    const uint64_t kvs_at = cur_.pos();
    const auto n_kv = cur_.read<uint64_t>({"", "metadata key count"});
    // Both tables follow; each entry needs at least its minimal encoding.
    cur_.check_count(n_kv, detail::kMinKvBytes, cur_.remaining(), {"", "metadata key count"}, kvs_at,
                     "entries");
    const uint64_t left_for_tensors = cur_.remaining() - n_kv * detail::kMinKvBytes;
    cur_.check_count(n_tensors, detail::kMinTensorInfoBytes, left_for_tensors, {"", "tensor count"},
                     tensors_at, "tensor infos");
    return {n_tensors, n_kv};
  }

  void read_version() {
    const uint64_t at = cur_.pos();
    const auto v = cur_.read<uint32_t>({"", "version"});
    if (v == 2 || v == 3) {
      file_.version_ = v;
      return;
    }
    std::string why;
    if (v == 1)
      why = "GGUF v1 (32-bit counts, 2023) is not supported; expected 2 or 3";
    else if (v == 0x02000000u || v == 0x03000000u)
      why = "looks like a big-endian GGUF file, which is not supported; expected 2 or 3";
    else
      why = std::to_string(v) + " is not supported; expected 2 or 3";
    cur_.fail_at(at, {"", "version"}, why);
  }

  void read_metadata(uint64_t n_kv) {
    file_.kvs_.reserve(capped(n_kv));
    for (uint64_t i = 0; i < n_kv; ++i) {
      const uint64_t at = cur_.pos();
      const std::string entry = "metadata entry " + std::to_string(i);
      std::string key = cur_.read_string({entry, "key"});
      if (const KeyValue* first = file_.find_entry(key))
        cur_.fail_at(
            at, {entry, "key"},
            "duplicate key " + quoted(key) + " (first at offset " + std::to_string(first->offset) + ")");

      const std::string context = "metadata " + quoted(key);
      const ValueType type = read_value_type({context, "value type"});
      Value value = read_value(type, {context, "value"}, 0);
      file_.kv_index_.emplace(key, file_.kvs_.size());
      file_.kvs_.push_back(KeyValue{std::move(key), std::move(value), at});
    }
  }

  ValueType read_value_type(const Field& f) {
    const uint64_t at = cur_.pos();
    const auto id = cur_.read<uint32_t>(f);
    if (id >= kValueTypeCount)
      cur_.fail_at(at, f, "unknown value type " + std::to_string(id) + " (expected 0..12)");
    return static_cast<ValueType>(id);
  }

  bool read_bool(const Field& f) {
    const uint64_t at = cur_.pos();
    const auto b = cur_.read<uint8_t>(f);
    if (b > 1) cur_.fail_at(at, f, "bool byte is " + std::to_string(b) + ", expected 0 or 1");
    return b == 1;
  }

  Value read_value(ValueType type, const Field& f, int depth) {
    switch (type) {
      case ValueType::U8:
        return cur_.read<uint8_t>(f);
      case ValueType::I8:
        return cur_.read<int8_t>(f);
      case ValueType::U16:
        return cur_.read<uint16_t>(f);
      case ValueType::I16:
        return cur_.read<int16_t>(f);
      case ValueType::U32:
        return cur_.read<uint32_t>(f);
      case ValueType::I32:
        return cur_.read<int32_t>(f);
      case ValueType::F32:
        return cur_.read<float>(f);
      case ValueType::Bool:
        return read_bool(f);
      case ValueType::String:
        return cur_.read_string(f);
      case ValueType::Array:
        return read_array(f, depth + 1);
      case ValueType::U64:
        return cur_.read<uint64_t>(f);
      case ValueType::I64:
        return cur_.read<int64_t>(f);
      case ValueType::F64:
        return cur_.read<double>(f);
    }
    cur_.fail_at(cur_.pos(), f, "unreachable value type");
  }

  // Fixed-size elements: one bounds check, one copy (the host is little-endian). The bytes
  // are known to exist before the vector is sized, so it never outgrows the file.
  template <class T>
  std::vector<T> read_scalars(uint64_t count, const Field& f) {
    const uint8_t* p = cur_.take(count * sizeof(T), f);  // no overflow: count was bounded
    std::vector<T> v(count);
    if (count) std::memcpy(v.data(), p, count * sizeof(T));
    return v;
  }

  Array read_array(const Field& f, int depth) {
    const uint64_t at = cur_.pos();
    if (depth > kMaxArrayDepth)
      cur_.fail_at(at, f, "arrays nested deeper than " + std::to_string(kMaxArrayDepth) + " levels");
    const ValueType elem = read_value_type({f.context, "array element type", f.element});
    const uint64_t count_at = cur_.pos();
    const Field count_field{f.context, "array count", f.element};
    const auto count = cur_.read<uint64_t>(count_field);
    cur_.check_count(count, min_encoded_size(elem), cur_.remaining(), count_field, count_at, "elements");

    switch (elem) {
      case ValueType::U8:
        return read_scalars<uint8_t>(count, f);
      case ValueType::I8:
        return read_scalars<int8_t>(count, f);
      case ValueType::U16:
        return read_scalars<uint16_t>(count, f);
      case ValueType::I16:
        return read_scalars<int16_t>(count, f);
      case ValueType::U32:
        return read_scalars<uint32_t>(count, f);
      case ValueType::I32:
        return read_scalars<int32_t>(count, f);
      case ValueType::F32:
        return read_scalars<float>(count, f);
      case ValueType::U64:
        return read_scalars<uint64_t>(count, f);
      case ValueType::I64:
        return read_scalars<int64_t>(count, f);
      case ValueType::F64:
        return read_scalars<double>(count, f);
      case ValueType::Bool: {
        std::vector<bool> v(count);
        for (uint64_t i = 0; i < count; ++i) v[i] = read_bool({f.context, f.what, i});
        return v;
      }
      case ValueType::String: {
        std::vector<std::string> v;
        v.reserve(capped(count));
        for (uint64_t i = 0; i < count; ++i) v.push_back(cur_.read_string({f.context, "", i}));
        return v;
      }
      case ValueType::Array: {
        std::vector<Array> v;
        v.reserve(capped(count));
        for (uint64_t i = 0; i < count; ++i) {
          // Only nested arrays pay for a per-element context string.
          const std::string inner = Field{f.context, "", i}.str();
          v.push_back(read_array({inner, ""}, depth + 1));
        }
        return v;
      }
    }
    cur_.fail_at(at, f, "unreachable element type");
  }

  void apply_alignment() {
    const KeyValue* kv = file_.find_entry(kAlignmentKey);
    if (!kv) return;
    const Field f{"metadata 'general.alignment'", "value"};
    const uint64_t value = std::visit(
        [&](const auto& x) -> uint64_t {
          using X = std::decay_t<decltype(x)>;
          if constexpr (std::is_integral_v<X> && !std::is_same_v<X, bool>) {
            if (std::in_range<uint32_t>(x)) return static_cast<uint64_t>(x);
            cur_.fail_at(kv->offset, f, std::to_string(x) + " does not fit uint32");
          } else {
            cur_.fail_at(kv->offset, f,
                         "expected uint32, found " + std::string(value_type_name(kv->value.type())));
          }
        },
        kv->value.storage());
    if (!detail::is_power_of_two(value))
      cur_.fail_at(kv->offset, f, std::to_string(value) + " is not a non-zero power of two");
    file_.alignment_ = static_cast<uint32_t>(value);
  }

  void read_tensor_infos(uint64_t n_tensors) {
    const uint64_t at = cur_.pos();
    // Re-checked against what is left now that the metadata has been read.
    cur_.check_count(n_tensors, detail::kMinTensorInfoBytes, cur_.remaining(), {"", "tensor count"}, at,
                     "tensor infos");
    file_.tensors_.reserve(capped(n_tensors));
    info_offsets_.reserve(capped(n_tensors));
    for (uint64_t i = 0; i < n_tensors; ++i) {
      info_offsets_.push_back(cur_.pos());
      file_.tensors_.push_back(read_tensor_info(i));
    }
  }

  TensorInfo read_tensor_info(uint64_t index) {
    TensorInfo t;
    const uint64_t at = cur_.pos();
    const std::string numbered = "tensor " + std::to_string(index);
    t.name = cur_.read_string({numbered, "name"});
    if (file_.find_tensor(t.name))
      cur_.fail_at(at, {numbered, "name"}, "duplicate tensor name " + quoted(t.name));
    const std::string ctx = numbered + " " + quoted(t.name);

    const uint64_t dims_at = cur_.pos();
    const auto n_dims = cur_.read<uint32_t>({ctx, "n_dims"});
    if (n_dims < 1 || n_dims > kMaxDims)
      cur_.fail_at(dims_at, {ctx, "n_dims"},
                   std::to_string(n_dims) + ", expected 1.." + std::to_string(kMaxDims));
    t.n_dims = n_dims;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const std::string what = "ne[" + std::to_string(d) + "]";
      const uint64_t dim_at = cur_.pos();
      t.ne[d] = cur_.read<uint64_t>({ctx, what});
      if (t.ne[d] == 0) cur_.fail_at(dim_at, {ctx, what}, "0; dims must be at least 1");
      // ggml holds dims as int64_t.
      if (t.ne[d] > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        cur_.fail_at(dim_at, {ctx, what}, std::to_string(t.ne[d]) + " exceeds int64");
    }

    const uint64_t type_at = cur_.pos();
    const auto type_id = cur_.read<uint32_t>({ctx, "type"});
    if (!ggml_type_info(type_id))
      cur_.fail_at(type_at, {ctx, "type"},
                   "id " + std::to_string(type_id) + " is neither a ggml type nor bitnet.cpp's I2_S (36)");
    t.type = static_cast<GgmlType>(type_id);
    t.bytes = tensor_bytes(t, ctx, dims_at);

    const uint64_t offset_at = cur_.pos();
    t.offset = cur_.read<uint64_t>({ctx, "offset"});
    if (t.offset % file_.alignment_ != 0)
      cur_.fail_at(offset_at, {ctx, "offset"},
                   std::to_string(t.offset) + " is not a multiple of the alignment " +
                       std::to_string(file_.alignment_));
    file_.tensor_index_.emplace(t.name, index);
    return t;
  }

  uint64_t tensor_bytes(const TensorInfo& t, const std::string& ctx, uint64_t dims_at) {
    const uint64_t multiple = detail::row_multiple(t.type);
    const std::string_view type_name = ggml_type_name(t.type);
    const uint64_t ne0_at = dims_at + 4;  // after n_dims
    if (t.ne[0] % multiple != 0)
      cur_.fail_at(ne0_at, {ctx, "ne[0]"},
                   "row length " + std::to_string(t.ne[0]) + " is not a multiple of " +
                       std::string(type_name) + "'s block of " + std::to_string(multiple));
    const auto bytes = ggml_tensor_bytes(t.type, t.dims());
    if (!bytes)
      cur_.fail_at(dims_at, {ctx, "dims"},
                   join_dims(t.dims()) + " of " + std::string(type_name) + " overflows a 64-bit byte size");
    return *bytes;
  }

  // The data section starts at the aligned end of the tensor table; every tensor must lie
  // inside the file and no two may share bytes.
  void place_tensors() {
    const uint64_t table_end = cur_.pos();
    if (!detail::align_up(table_end, file_.alignment_, &file_.data_offset_))
      cur_.fail_at(table_end, {"", "data section"}, "aligned start overflows");
    for (size_t i = 0; i < file_.tensors_.size(); ++i) place_tensor(i);
    check_overlaps();
  }

  void place_tensor(size_t i) {
    TensorInfo& t = file_.tensors_[i];
    const std::string ctx = "tensor " + std::to_string(i) + " " + quoted(t.name);
    uint64_t end = 0;
    if (__builtin_add_overflow(file_.data_offset_, t.offset, &t.file_offset) ||
        __builtin_add_overflow(t.file_offset, t.bytes, &end) || end > cur_.size())
      cur_.fail_at(info_offsets_[i], {ctx, "data"},
                   std::to_string(t.bytes) + " bytes at data offset " + std::to_string(t.offset) +
                       " (file offset " + std::to_string(file_.data_offset_) + " + " +
                       std::to_string(t.offset) + ") run past the end of the " + std::to_string(cur_.size()) +
                       "-byte file");
    t.data = file_.bytes_.data() + t.file_offset;
  }

  void check_overlaps() {
    const auto& ts = file_.tensors_;
    std::vector<size_t> order(ts.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return ts[a].offset < ts[b].offset; });
    for (size_t k = 1; k < order.size(); ++k) {
      const TensorInfo& prev = ts[order[k - 1]];
      const TensorInfo& t = ts[order[k]];
      if (prev.offset + prev.bytes > t.offset)  // both in the file, so no overflow
        cur_.fail_at(info_offsets_[order[k]],
                     {"tensor " + std::to_string(order[k]) + " " + quoted(t.name), "data"},
                     "bytes [" + std::to_string(t.offset) + ", " + std::to_string(t.offset + t.bytes) +
                         ") overlap tensor " + quoted(prev.name) + " at [" + std::to_string(prev.offset) +
                         ", " + std::to_string(prev.offset + prev.bytes) + ")");
    }
  }

  File& file_;
  Cursor cur_;
  std::vector<uint64_t> info_offsets_;  // where each tensor info starts, for messages
};

File::File(File&&) noexcept = default;
File& File::operator=(File&&) noexcept = default;
File::~File() = default;

File File::parse(std::span<const uint8_t> bytes, std::string name) {
  File f;
  f.name_ = std::move(name);
  f.bytes_ = bytes;
  Parser(f).run();
  return f;
}

File File::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    throw Error(path + ": cannot stat: " + std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(path + ": not a regular file");
  }

  File f;
  f.name_ = path;
  const auto size = static_cast<size_t>(st.st_size);
  if (size > 0) {  // mmap rejects length 0; an empty file fails parsing at the magic
    void* addr = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (addr == MAP_FAILED) {
      const int e = errno;
      ::close(fd);
      throw Error(path + ": cannot mmap " + std::to_string(size) + " bytes: " + std::strerror(e));
    }
    f.mapping_ = std::make_unique<Mapping>(addr, size);
    f.bytes_ = {static_cast<const uint8_t*>(addr), size};
  }
  ::close(fd);  // the mapping stays valid without the descriptor
  Parser(f).run();
  return f;
}

void File::release(const TensorInfo& t) const {
  if (!mapping_ || t.bytes == 0) return;
  // Only the pages wholly inside the tensor: a neighbour's bytes stay resident.
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(t.data) + page - 1) / page * page;
  const uintptr_t end = (reinterpret_cast<uintptr_t>(t.data) + t.bytes) / page * page;
  // MADV_DONTNEED on a read-only private file mapping drops the pages; the file is untouched.
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

// ---- lookups and typed getters ----

namespace {

template <class T>
constexpr std::string_view int_name() {
  if constexpr (std::is_same_v<T, uint32_t>) return "uint32";
  if constexpr (std::is_same_v<T, int32_t>) return "int32";
  if constexpr (std::is_same_v<T, uint64_t>) return "uint64";
  if constexpr (std::is_same_v<T, int64_t>) return "int64";
  return "integer";
}

template <class X>
constexpr bool is_int = std::is_integral_v<X> && !std::is_same_v<X, bool>;

// The value, if it is an integer of any width whose value fits T.
template <class T>
std::optional<T> integer_as(const Value& v) {
  return std::visit(
      [](const auto& x) -> std::optional<T> {
        using X = std::decay_t<decltype(x)>;
        if constexpr (is_int<X>) {
          if (std::in_range<T>(x)) return static_cast<T>(x);
        }
        return std::nullopt;
      },
      v.storage());
}

std::optional<double> float_as(const Value& v) {
  if (const auto* f = v.get_if<float>()) return *f;
  if (const auto* d = v.get_if<double>()) return *d;
  return std::nullopt;
}

// "string", "int64 -5": what was found, for a type error.
std::string describe(const Value& v) {
  std::string s(value_type_name(v.type()));
  std::visit(
      [&](const auto& x) {
        using X = std::decay_t<decltype(x)>;
        if constexpr (is_int<X>) s += " " + std::to_string(x);
        if constexpr (std::is_same_v<X, Array>) s += " of " + std::string(value_type_name(x.element_type()));
      },
      v.storage());
  return s;
}

}  // namespace

const KeyValue* File::find_entry(std::string_view key) const {
  const auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kvs_[it->second];
}

const Value* File::find(std::string_view key) const {
  const KeyValue* kv = find_entry(key);
  return kv ? &kv->value : nullptr;
}

const TensorInfo* File::find_tensor(std::string_view name) const {
  const auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const TensorInfo& File::tensor(std::string_view name) const {
  if (const TensorInfo* t = find_tensor(name)) return *t;
  throw Error(name_ + ": tensor " + quoted(name) + " is missing");
}

namespace {

const KeyValue& require_key(const File& f, std::string_view key) {
  if (const KeyValue* kv = f.find_entry(key)) return *kv;
  throw Error(f.name() + ": metadata key " + quoted(key) + " is missing");
}

[[noreturn]] void wrong_type(const File& f, const KeyValue& kv, std::string_view expected) {
  throw Error(f.name() + ": metadata " + quoted(kv.key) + " (offset " + std::to_string(kv.offset) +
              "): expected " + std::string(expected) + ", found " + describe(kv.value));
}

template <class T>
T get_integer(const File& f, const KeyValue& kv) {
  if (const auto v = integer_as<T>(kv.value)) return *v;
  wrong_type(f, kv, "an integer that fits " + std::string(int_name<T>()));
}

template <class T>
std::vector<T> get_integer_array(const File& f, std::string_view key) {
  const KeyValue& kv = require_key(f, key);
  const Array* a = kv.value.get_if<Array>();
  const std::string expected = "an array of integers that fit " + std::string(int_name<T>());
  if (!a) wrong_type(f, kv, expected);
  return std::visit(
      [&](const auto& items) -> std::vector<T> {
        using X = typename std::decay_t<decltype(items)>::value_type;
        if constexpr (is_int<X>) {
          std::vector<T> out(items.size());
          for (size_t i = 0; i < items.size(); ++i) {
            if (!std::in_range<T>(items[i]))
              throw Error(f.name() + ": metadata " + quoted(kv.key) + " element " + std::to_string(i) + ": " +
                          std::to_string(items[i]) + " does not fit " + std::string(int_name<T>()));
            out[i] = static_cast<T>(items[i]);
          }
          return out;
        } else {
          wrong_type(f, kv, expected);
        }
      },
      a->data());
}

}  // namespace

const std::string& File::get_string(std::string_view key) const {
  const KeyValue& kv = require_key(*this, key);
  if (const auto* s = kv.value.get_if<std::string>()) return *s;
  wrong_type(*this, kv, "string");
}

std::string File::get_string(std::string_view key, std::string_view fallback) const {
  return contains(key) ? get_string(key) : std::string(fallback);
}

uint32_t File::get_u32(std::string_view key) const {
  return get_integer<uint32_t>(*this, require_key(*this, key));
}

uint32_t File::get_u32(std::string_view key, uint32_t fallback) const {
  return contains(key) ? get_u32(key) : fallback;
}

int32_t File::get_i32(std::string_view key) const {
  return get_integer<int32_t>(*this, require_key(*this, key));
}

uint64_t File::get_u64(std::string_view key) const {
  return get_integer<uint64_t>(*this, require_key(*this, key));
}

int64_t File::get_i64(std::string_view key) const {
  return get_integer<int64_t>(*this, require_key(*this, key));
}

int64_t File::get_i64(std::string_view key, int64_t fallback) const {
  return contains(key) ? get_i64(key) : fallback;
}

double File::get_f64(std::string_view key) const {
  const KeyValue& kv = require_key(*this, key);
  if (const auto v = float_as(kv.value)) return *v;
  wrong_type(*this, kv, "float32 or float64");
}

float File::get_f32(std::string_view key) const { return static_cast<float>(get_f64(key)); }

float File::get_f32(std::string_view key, float fallback) const {
  return contains(key) ? get_f32(key) : fallback;
}

bool File::get_bool(std::string_view key) const {
  const KeyValue& kv = require_key(*this, key);
  if (const auto* b = kv.value.get_if<bool>()) return *b;
  wrong_type(*this, kv, "bool");
}

bool File::get_bool(std::string_view key, bool fallback) const {
  return contains(key) ? get_bool(key) : fallback;
}

const Array& File::get_array(std::string_view key) const {
  const KeyValue& kv = require_key(*this, key);
  if (const auto* a = kv.value.get_if<Array>()) return *a;
  wrong_type(*this, kv, "array");
}

const std::vector<std::string>& File::get_string_array(std::string_view key) const {
  const KeyValue& kv = require_key(*this, key);
  if (const auto* a = kv.value.get_if<Array>())
    if (const auto* s = a->get_if<std::string>()) return *s;
  wrong_type(*this, kv, "array of string");
}

std::vector<int32_t> File::get_i32_array(std::string_view key) const {
  return get_integer_array<int32_t>(*this, key);
}

std::vector<uint32_t> File::get_u32_array(std::string_view key) const {
  return get_integer_array<uint32_t>(*this, key);
}

std::vector<int64_t> File::get_i64_array(std::string_view key) const {
  return get_integer_array<int64_t>(*this, key);
}

std::vector<float> File::get_f32_array(std::string_view key) const {
  const KeyValue& kv = require_key(*this, key);
  if (const auto* a = kv.value.get_if<Array>()) {
    if (const auto* f = a->get_if<float>()) return *f;
    if (const auto* d = a->get_if<double>()) return std::vector<float>(d->begin(), d->end());
  }
  wrong_type(*this, kv, "array of float32 or float64");
}

}  // namespace tern::gguf
