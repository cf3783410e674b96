// Helpers shared by the fuzz targets. Independent of the code under test on purpose: the
// UTF-8 check here is written from the Unicode table, not taken from runtime/tokenizer.
#pragma once

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <ostream>
#include <streambuf>
#include <string_view>

namespace tern::fuzz {

// A property the target checks failed: print it and abort, so libFuzzer saves the input.
[[noreturn]] inline void fail(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "fuzz property violated: %s%s%.*s\n", what, detail.empty() ? "" : ": ",
               static_cast<int>(detail.size()), detail.data());
  std::abort();
}

#define TERN_FUZZ_CHECK(cond, ...) \
  do {                             \
    if (!(cond)) ::tern::fuzz::fail("CHECK(" #cond ")" __VA_OPT__(, ) __VA_ARGS__); \
  } while (0)

// An ostream that discards everything (print_summary's output is not the point, running it is).
class NullStream : public std::ostream {
 public:
  NullStream() : std::ostream(&buf_) {}

 private:
  struct Buf : std::streambuf {
    int overflow(int c) override { return c == traits_type::eof() ? 0 : c; }
    std::streamsize xsputn(const char*, std::streamsize n) override { return n; }
  } buf_;
};

// Strict UTF-8 (Unicode table 3-7): no overlong forms, no surrogates, nothing past U+10FFFF.
inline bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if (k == 1 ? (b < lo || b > hi) : (b & 0xC0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

}  // namespace tern::fuzz
