// GPT-2's reversible byte <-> unicode mapping: byte-level BPE vocabularies spell every raw
// byte as one printable code point, so token texts never hold spaces or control bytes.
// Bytes 0x21..0x7E, 0xA1..0xAC and 0xAE..0xFF stand for themselves; the other 68 bytes, in
// increasing order, become U+0100, U+0101, ... (so ' ' = 0x20 is 'Ġ' = U+0120).
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace tern::tokenizer {

// The code point that stands for byte b.
uint32_t byte_to_codepoint(uint8_t b);
// The byte that code point cp stands for, or -1 when cp is not one of the 256.
int codepoint_to_byte(uint32_t cp);
// UTF-8 of byte_to_codepoint(b) for every byte, precomputed.
const std::array<std::string, 256>& byte_symbols();

}  // namespace tern::tokenizer
