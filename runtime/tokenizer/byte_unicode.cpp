#include "runtime/tokenizer/byte_unicode.h"

#include "runtime/tokenizer/utf8.h"

namespace tern::tokenizer {

namespace {

bool stands_for_itself(uint32_t b) {
  return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

struct Tables {
  std::array<uint32_t, 256> to_cp{};
  std::array<int16_t, 512> from_cp{};  // every mapped code point is below U+0200
  std::array<std::string, 256> utf8;

  Tables() {
    from_cp.fill(-1);
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      to_cp[b] = stands_for_itself(b) ? b : next++;
      from_cp[to_cp[b]] = static_cast<int16_t>(b);
      utf8::append(utf8[b], to_cp[b]);
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

uint32_t byte_to_codepoint(uint8_t b) { return tables().to_cp[b]; }

int codepoint_to_byte(uint32_t cp) { return cp < 512 ? tables().from_cp[cp] : -1; }

const std::array<std::string, 256>& byte_symbols() { return tables().utf8; }

}  // namespace tern::tokenizer
