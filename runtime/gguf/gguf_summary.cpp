// `tern inspect`: a GGUF file as text or JSON.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <ostream>

#include "runtime/gguf/gguf.h"

namespace tern::gguf {
namespace {

// Arrays show this many elements unless printed in full; strings fewer, since each may be
// long (a token, a merge, a template).
constexpr size_t kPreviewNumbers = 8;
constexpr size_t kPreviewStrings = 3;
constexpr size_t kJsonPreview = 8;
constexpr size_t kMaxStringPreview = 80;  // bytes of a long string value shown by default

// Length of the valid UTF-8 sequence starting at s[i], or 0 if the bytes there are not one
// (overlong forms, surrogates and code points past U+10FFFF are invalid).
size_t utf8_sequence(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  size_t n;
  uint32_t cp;
  if ((c & 0xe0) == 0xc0)
    n = 2, cp = c & 0x1f;
  else if ((c & 0xf0) == 0xe0)
    n = 3, cp = c & 0x0f;
  else if ((c & 0xf8) == 0xf0)
    n = 4, cp = c & 0x07;
  else
    return 0;
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3f);
  }
  static constexpr uint32_t kMinForLength[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMinForLength[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

// A string as a double-quoted literal: valid UTF-8 passes through, control characters and
// stray bytes become escapes so the summary stays one line per key.
std::string quote_text(std::string_view s, bool full) {
  const bool cut = !full && s.size() > kMaxStringPreview;
  const size_t limit = cut ? kMaxStringPreview : s.size();
  std::string out = "\"";
  for (size_t i = 0; i < limit;) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t n = utf8_sequence(s, i);
    if (n > 1) {
      if (i + n > limit) break;  // do not split a character when cutting
      out.append(s.substr(i, n));
      i += n;
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c >= 0x20 && c < 0x7f) {
          out += static_cast<char>(c);
        } else {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x", c);
          out += buf;
        }
    }
    ++i;
  }
  out += '"';
  if (cut) out += "... (" + std::to_string(s.size()) + " bytes)";
  return out;
}

// Shortest text that reads back as the same float, in plain notation when that is short
// (500000 rather than 5e+05, 0.00001 rather than 1e-05 would both be fine; 1e+38 is not).
template <class F>
std::string float_text(F x) {
  char buf[512];  // fixed notation of a double can take ~330 digits
  auto r = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::fixed);
  if (r.ec == std::errc() && r.ptr - buf <= 12) return std::string(buf, r.ptr);
  r = std::to_chars(buf, buf + sizeof buf, x);
  return std::string(buf, r.ptr);
}

std::string array_text(const Array& a, bool full);

template <class T>
std::string scalar_text(const T& x, bool full) {
  if constexpr (std::is_same_v<T, bool>)
    return x ? "true" : "false";
  else if constexpr (std::is_floating_point_v<T>)
    return float_text(x);
  else if constexpr (std::is_same_v<T, std::string>)
    return quote_text(x, full);
  else if constexpr (std::is_same_v<T, Array>)
    return array_text(x, full);
  else
    return std::to_string(x);  // every integer width, int8/uint8 as numbers
}

std::string array_text(const Array& a, bool full) {
  // Appended piece by piece: `"[" + std::string(...)` trips a GCC 12 -Wrestrict false positive.
  std::string out = "[";
  out += value_type_name(a.element_type());
  out += " x ";
  out += std::to_string(a.size());
  std::visit(
      [&](const auto& items) {
        using T = typename std::decay_t<decltype(items)>::value_type;
        const size_t preview = std::is_arithmetic_v<T> ? kPreviewNumbers : kPreviewStrings;
        const size_t shown = full ? items.size() : std::min(items.size(), preview);
        for (size_t i = 0; i < shown; ++i) {
          out += i ? ", " : ": ";
          out += scalar_text(static_cast<T>(items[i]), full);
        }
        if (shown < items.size()) out += ", ...";
      },
      a.data());
  return out + "]";
}

std::string value_text(const Value& v, bool full) {
  return std::visit([&](const auto& x) { return scalar_text(x, full); }, v.storage());
}

std::string dims_text(const TensorInfo& t) {
  std::string s;
  for (uint32_t d = 0; d < t.n_dims; ++d) s += (d ? " x " : "") + std::to_string(t.ne[d]);
  return s;
}

std::string mib_text(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

void pad_to(std::ostream& out, const std::string& s, size_t width) {
  out << s;
  for (size_t i = s.size(); i < width; ++i) out << ' ';
}

struct Totals {
  uint64_t bytes = 0;
  uint64_t elements = 0;
  std::map<std::string, size_t> by_type;  // sorted by name, stable output
};

Totals totals_of(const File& f) {
  Totals t;
  for (const TensorInfo& ti : f.tensors()) {
    t.bytes += ti.bytes;
    t.elements += ti.elements();
    ++t.by_type[std::string(ggml_type_name(ti.type))];
  }
  return t;
}

}  // namespace

void print_summary(const File& f, std::ostream& out, bool full) {
  out << f.name() << ": GGUF v" << f.version() << ", " << f.size() << " bytes, alignment " << f.alignment()
      << ", data at offset " << f.data_offset() << "\n";

  out << "\nmetadata: " << f.metadata().size() << " keys\n";
  size_t key_width = 0;
  for (const KeyValue& kv : f.metadata()) key_width = std::max(key_width, kv.key.size());
  key_width = std::min<size_t>(key_width, 48);
  for (const KeyValue& kv : f.metadata()) {
    out << "  ";
    pad_to(out, kv.key, key_width);
    out << "  ";
    pad_to(out, std::string(value_type_name(kv.value.type())), 7);
    out << "  " << value_text(kv.value, full) << "\n";
  }

  out << "\ntensors: " << f.tensors().size() << "\n";
  if (!f.tensors().empty()) {
    size_t name_width = 4, dims_width = 4;
    for (const TensorInfo& t : f.tensors()) {
      name_width = std::max(name_width, t.name.size());
      dims_width = std::max(dims_width, dims_text(t).size());
    }
    out << "  ";
    pad_to(out, "#", 5);
    pad_to(out, "name", name_width + 2);
    pad_to(out, "type", 9);
    pad_to(out, "dims", dims_width + 2);
    pad_to(out, "offset", 12);
    out << "bytes\n";
    for (size_t i = 0; i < f.tensors().size(); ++i) {
      const TensorInfo& t = f.tensors()[i];
      out << "  ";
      pad_to(out, std::to_string(i), 5);
      pad_to(out, t.name, name_width + 2);
      pad_to(out, std::string(ggml_type_name(t.type)), 9);
      pad_to(out, dims_text(t), dims_width + 2);
      pad_to(out, std::to_string(t.offset), 12);
      out << t.bytes << "\n";
    }
  }

  const Totals totals = totals_of(f);
  out << "\ntotals: " << f.tensors().size() << " tensors, " << totals.elements << " elements, "
      << totals.bytes << " bytes of tensor data (" << mib_text(totals.bytes) << ")";
  for (const auto& [type, count] : totals.by_type) out << ", " << type << " x " << count;
  out << "\n";
}

namespace {

// JSON text must be UTF-8: stray bytes become U+FFFD instead of making dump() throw.
std::string utf8_or_replacement(const std::string& s) {
  bool valid = true;
  for (size_t i = 0; i < s.size() && valid;) {
    const size_t n = utf8_sequence(s, i);
    valid = n != 0;
    i += n;
  }
  if (valid) return s;
  std::string out;
  for (size_t i = 0; i < s.size();) {
    const size_t n = utf8_sequence(s, i);
    if (n == 0) {
      out += "\xef\xbf\xbd";
      ++i;
    } else {
      out.append(s, i, n);
      i += n;
    }
  }
  return out;
}

nlohmann::json array_json(const Array& a);

template <class T>
nlohmann::json scalar_json(const T& x) {
  if constexpr (std::is_same_v<T, std::string>)
    return utf8_or_replacement(x);
  else if constexpr (std::is_same_v<T, Array>)
    return array_json(x);
  // Via the float's shortest decimal, so 1e-5f shows as 1e-05, not 9.999999747378752e-06.
  else if constexpr (std::is_same_v<T, float>)
    return std::isfinite(x) ? std::stod(float_text(x)) : double(x);
  else
    return x;
}

nlohmann::json array_json(const Array& a) {
  nlohmann::json j = {{"element_type", value_type_name(a.element_type())}, {"count", a.size()}};
  nlohmann::json values = nlohmann::json::array();
  std::visit(
      [&](const auto& items) {
        using T = typename std::decay_t<decltype(items)>::value_type;
        const size_t shown = std::min(items.size(), kJsonPreview);
        for (size_t i = 0; i < shown; ++i) values.push_back(scalar_json(static_cast<T>(items[i])));
      },
      a.data());
  j["truncated"] = values.size() < a.size();
  j["values"] = std::move(values);
  return j;
}

}  // namespace

nlohmann::json to_json(const File& f) {
  nlohmann::json metadata = nlohmann::json::array();
  for (const KeyValue& kv : f.metadata()) {
    nlohmann::json entry = {{"key", utf8_or_replacement(kv.key)}, {"type", value_type_name(kv.value.type())}};
    if (const Array* a = kv.value.get_if<Array>())
      entry.update(array_json(*a));
    else
      entry["value"] = std::visit([](const auto& x) { return scalar_json(x); }, kv.value.storage());
    metadata.push_back(std::move(entry));
  }

  nlohmann::json tensors = nlohmann::json::array();
  for (size_t i = 0; i < f.tensors().size(); ++i) {
    const TensorInfo& t = f.tensors()[i];
    tensors.push_back({{"index", i},
                       {"name", utf8_or_replacement(t.name)},
                       {"type", ggml_type_name(t.type)},
                       {"type_id", static_cast<uint32_t>(t.type)},
                       {"dims", std::vector<uint64_t>(t.dims().begin(), t.dims().end())},
                       {"offset", t.offset},
                       {"file_offset", t.file_offset},
                       {"bytes", t.bytes}});
  }

  const Totals totals = totals_of(f);
  return {{"file", utf8_or_replacement(f.name())},
          {"version", f.version()},
          {"file_size", f.size()},
          {"alignment", f.alignment()},
          {"data_offset", f.data_offset()},
          {"metadata_count", f.metadata().size()},
          {"metadata", std::move(metadata)},
          {"tensor_count", f.tensors().size()},
          {"tensors", std::move(tensors)},
          {"totals",
           {{"tensors", f.tensors().size()},
            {"elements", totals.elements},
            {"bytes", totals.bytes},
            {"by_type", totals.by_type}}}};
}

}  // namespace tern::gguf
