#include "runtime/tokenizer/utf8.h"

namespace tern::tokenizer::utf8 {

namespace {

bool is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

}  // namespace

uint32_t decode_lenient(std::string_view text, size_t& offset) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[offset + i]); };
  const size_t left = text.size() - offset;
  const unsigned char b0 = byte(0);
  if (b0 < 0x80) {
    offset += 1;
    return b0;
  }
  size_t n = 0;
  uint32_t cp = 0;
  if ((b0 & 0x40) == 0) {
    n = 0;  // a continuation byte cannot start a sequence
  } else if ((b0 & 0x20) == 0) {
    n = 2;
    cp = b0 & 0x1F;
  } else if ((b0 & 0x10) == 0) {
    n = 3;
    cp = b0 & 0x0F;
  } else if ((b0 & 0x08) == 0) {
    n = 4;
    cp = b0 & 0x07;
  }
  bool ok = n != 0 && left >= n;
  for (size_t i = 1; ok && i < n; ++i) ok = is_continuation(byte(i));
  if (!ok) {
    offset += 1;
    return kReplacement;
  }
  for (size_t i = 1; i < n; ++i) cp = (cp << 6) | (byte(i) & 0x3F);
  offset += n;
  return cp;
}

size_t append(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
    return 1;
  }
  if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    return 2;
  }
  if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    return 3;
  }
  out.push_back(static_cast<char>(0xF0 | ((cp >> 18) & 0x07)));
  out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
  out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
  out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  return 4;
}

int sequence_length(std::string_view text, size_t offset) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[offset + i]); };
  const unsigned char b0 = byte(0);
  if (b0 < 0x80) return 1;
  int n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    if (b0 == 0xE0) lo = 0xA0;  // no overlong forms
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    if (b0 == 0xF0) lo = 0x90;  // no overlong forms
    if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return -1;  // 80..C1, F5..FF never start a sequence
  }
  for (int i = 1; i < n; ++i) {
    if (offset + i >= text.size()) return 0;
    const unsigned char c = byte(i);
    const bool ok = i == 1 ? (c >= lo && c <= hi) : is_continuation(c);
    if (!ok) return -i;
  }
  return n;
}

std::string sanitize(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const int n = sequence_length(text, i);
    if (n > 0) {
      out.append(text.substr(i, n));
      i += n;
    } else if (n < 0) {
      append(out, kReplacement);
      i += -n;
    } else {
      append(out, kReplacement);
      break;
    }
  }
  return out;
}

bool is_valid(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const int n = sequence_length(text, i);
    if (n <= 0) return false;
    i += n;
  }
  return true;
}

size_t first_invalid(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const int n = sequence_length(text, i);
    if (n <= 0) return i;
    i += static_cast<size_t>(n);
  }
  return std::string_view::npos;
}

}  // namespace tern::tokenizer::utf8
