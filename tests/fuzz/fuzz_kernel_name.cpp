// fuzz_kernel_name: kernel names are read back from tuning caches and command lines.
//  - try_parse_name on arbitrary text never throws, and agrees with parse_name (which throws
//    tern::Error and nothing else);
//  - a name that parses round-trips: to_name gives the canonical name, which parses to the
//    same desc and prints the same again (and the desc's JSON reads back to the same desc);
//  - the other direction, from the same bytes read as a desc (every field, enums in range):
//    to_name then parse_name gives that desc back, so no two descs share a name.
#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "runtime/core/error.h"
#include "runtime/core/kernel_desc.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using namespace tern;

void check_canonical(const KernelDesc& d) {
  const std::string name = to_name(d);
  std::optional<KernelDesc> back = try_parse_name(name);
  TERN_FUZZ_CHECK(back.has_value(), "to_name's output does not parse: " + name);
  TERN_FUZZ_CHECK(*back == d, "parse_name(to_name(d)) != d: " + name + " -> " + to_name(*back));
  TERN_FUZZ_CHECK(to_name(*back) == name, name);
  TERN_FUZZ_CHECK(hash_value(*back) == hash_value(d), name);
  const nlohmann::json j = d;
  TERN_FUZZ_CHECK(j.get<KernelDesc>() == d, j.dump());
}

// Reads the fields of a desc from the bytes, cycling through them.
class Bytes {
 public:
  Bytes(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  template <class T>
  T get() {
    if constexpr (std::is_enum_v<T>) {
      constexpr size_t count = std::size(EnumValues<T>::all);
      return EnumValues<T>::all[byte() % count];
    } else {
      uint64_t v = 0;
      for (size_t i = 0; i < sizeof(T); ++i) v |= uint64_t{byte()} << (8 * i);
      // Mostly small values (defaults and real tile sizes), sometimes anything.
      const uint8_t mode = byte();
      if (mode < 96) v %= 3;
      else if (mode < 192) v %= 300;
      return static_cast<T>(v);
    }
  }

 private:
  uint8_t byte() { return size_ ? data_[pos_++ % size_] : 0; }
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::optional<KernelDesc> d = try_parse_name(text);
  bool threw = false;
  try {
    (void)parse_name(text);
  } catch (const Error&) {
    threw = true;
  }
  TERN_FUZZ_CHECK(threw == !d.has_value(), "parse_name and try_parse_name disagree");
  if (d) check_canonical(*d);

  Bytes b(data, size);
  KernelDesc r;
#define TERN_FUZZ_FIELD(type, field, def, sep, prefix, optional) r.field = b.get<type>();
  TERN_KERNEL_DESC_FIELDS(TERN_FUZZ_FIELD)
#undef TERN_FUZZ_FIELD
  check_canonical(r);
  return 0;
}
