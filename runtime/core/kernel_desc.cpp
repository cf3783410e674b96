#include "runtime/core/kernel_desc.h"

#include <charconv>
#include <limits>
#include <nlohmann/json.hpp>

#include "runtime/core/error.h"

namespace tern {

#define TERN_ENUM_CASE(e, s) \
  case Enum::e:              \
    return s;
#define TERN_DEFINE_TO_STRING(E, LIST)  \
  std::string_view to_string(E v) {     \
    using Enum = E;                     \
    switch (v) { LIST(TERN_ENUM_CASE) } \
    return "?";                         \
  }
TERN_DEFINE_TO_STRING(Op, TERN_OP_VALUES)
TERN_DEFINE_TO_STRING(WeightFormat, TERN_WEIGHT_FORMAT_VALUES)
TERN_DEFINE_TO_STRING(DType, TERN_DTYPE_VALUES)
TERN_DEFINE_TO_STRING(ScaleGranularity, TERN_SCALE_VALUES)
TERN_DEFINE_TO_STRING(Family, TERN_FAMILY_VALUES)
TERN_DEFINE_TO_STRING(Isa, TERN_ISA_VALUES)
TERN_DEFINE_TO_STRING(Backend, TERN_BACKEND_VALUES)
#undef TERN_DEFINE_TO_STRING
#undef TERN_ENUM_CASE

namespace {

// ---- one codec per field type: enums by spelling, integers in decimal ----

template <class T>
void append_value(std::string& out, T v) {
  if constexpr (std::is_enum_v<T>) {
    out += to_string(v);
  } else {
    out += std::to_string(static_cast<uint64_t>(v));
  }
}

// Reads a value at the start of `s`; returns the characters consumed, 0 if none.
template <class T>
size_t read_value(std::string_view s, T& v) {
  if constexpr (std::is_enum_v<T>) {
    size_t best = 0;  // longest spelling wins ("i16" over "i1...")
    for (T e : EnumValues<T>::all) {
      std::string_view sp = to_string(e);
      if (sp.size() > best && s.starts_with(sp)) {
        best = sp.size();
        v = e;
      }
    }
    return best;
  } else {
    uint64_t x = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), x);
    if (ec != std::errc() || x > std::numeric_limits<T>::max()) return 0;
    v = static_cast<T>(x);
    return static_cast<size_t>(end - s.data());
  }
}

template <class T>
bool value_from_json(const nlohmann::json& j, T& v) {
  if constexpr (std::is_enum_v<T>) {
    if (!j.is_string()) return false;
    const std::string& s = j.get_ref<const std::string&>();
    return read_value(s, v) == s.size() && !s.empty();
  } else {
    if (!j.is_number_unsigned()) return false;
    uint64_t x = j.get<uint64_t>();
    if (x > std::numeric_limits<T>::max()) return false;
    v = static_cast<T>(x);
    return true;
  }
}

template <class T>
nlohmann::json value_to_json(T v) {
  if constexpr (std::is_enum_v<T>) {
    return std::string(to_string(v));
  } else {
    return static_cast<uint64_t>(v);
  }
}

template <class T>
std::string expected_text() {
  if constexpr (std::is_enum_v<T>) {
    std::string s;
    for (T e : EnumValues<T>::all) s += (s.empty() ? "" : "|") + std::string(to_string(e));
    return s;
  } else {
    return "a number";
  }
}

constexpr std::string_view kPrefix = "tern";

}  // namespace

std::string to_name(const KernelDesc& d) {
  std::string out(kPrefix);
#define TERN_WRITE_FIELD(type, field, def, sep, prefix, optional) \
  if (!(optional) || d.field != static_cast<type>(def)) {         \
    out += sep;                                                   \
    out += prefix;                                                \
    append_value(out, d.field);                                   \
  }
  TERN_KERNEL_DESC_FIELDS(TERN_WRITE_FIELD)
#undef TERN_WRITE_FIELD
  return out;
}

KernelDesc parse_name(std::string_view name) {
  KernelDesc d;
  if (!name.starts_with(kPrefix))
    throw Error("kernel name '" + std::string(name) + "': expected it to start with 'tern'");
  size_t pos = kPrefix.size();
  // Fields appear in list order; an optional one is absent when it has its default.
#define TERN_READ_FIELD(type, field, def, sep, prefix, optional)                               \
  {                                                                                            \
    std::string lead = std::string(sep) + prefix;                                              \
    std::string_view rest = name.substr(pos);                                                  \
    size_t used = 0;                                                                           \
    type v{};                                                                                  \
    if (rest.starts_with(lead)) used = read_value(rest.substr(lead.size()), v);                \
    if (used > 0) {                                                                            \
      d.field = v;                                                                             \
      pos += lead.size() + used;                                                               \
    } else if (optional) {                                                                     \
      d.field = static_cast<type>(def);                                                        \
    } else {                                                                                   \
      throw Error("kernel name '" + std::string(name) + "': at character " +                   \
                  std::to_string(pos) + " expected " #field " as '" + lead + "' followed by " + \
                  expected_text<type>());                                                      \
    }                                                                                          \
  }
  TERN_KERNEL_DESC_FIELDS(TERN_READ_FIELD)
#undef TERN_READ_FIELD
  if (pos != name.size())
    throw Error("kernel name '" + std::string(name) + "': unexpected text '" +
                std::string(name.substr(pos)) + "' at character " + std::to_string(pos));
  return d;
}

std::optional<KernelDesc> try_parse_name(std::string_view name) {
  try {
    return parse_name(name);
  } catch (const Error&) {
    return std::nullopt;
  }
}

size_t hash_value(const KernelDesc& d) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a over each field's value
  auto mix = [&h](uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      h ^= (v >> (8 * i)) & 0xff;
      h *= 1099511628211ull;
    }
  };
#define TERN_HASH_FIELD(type, field, def, sep, prefix, optional) mix(static_cast<uint64_t>(d.field));
  TERN_KERNEL_DESC_FIELDS(TERN_HASH_FIELD)
#undef TERN_HASH_FIELD
  return static_cast<size_t>(h);
}

void to_json(nlohmann::json& j, const KernelDesc& d) {
  j = nlohmann::json::object();
#define TERN_FIELD_TO_JSON(type, field, def, sep, prefix, optional) j[#field] = value_to_json(d.field);
  TERN_KERNEL_DESC_FIELDS(TERN_FIELD_TO_JSON)
#undef TERN_FIELD_TO_JSON
}

void from_json(const nlohmann::json& j, KernelDesc& d) {
  if (!j.is_object()) throw Error("kernel description: expected a JSON object");
  KernelDesc out;
#define TERN_FIELD_FROM_JSON(type, field, def, sep, prefix, optional)                          \
  {                                                                                            \
    auto it = j.find(#field);                                                                  \
    if (it == j.end()) throw Error("kernel description: missing field '" #field "'");          \
    if (!value_from_json(*it, out.field))                                                      \
      throw Error("kernel description: field '" #field "' = " + it->dump() + ", expected " +   \
                  expected_text<type>());                                                      \
  }
  TERN_KERNEL_DESC_FIELDS(TERN_FIELD_FROM_JSON)
#undef TERN_FIELD_FROM_JSON
  d = out;
}

}  // namespace tern
