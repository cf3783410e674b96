// UTF-8 helpers for the tokenizer: llama.cpp-compatible lenient decoding of model input,
// and strict validation for text handed back to the user.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tern::tokenizer::utf8 {

inline constexpr uint32_t kReplacement = 0xFFFD;

// Decodes one code point at `text[offset]` the way llama.cpp's unicode_cpts_from_utf8 does,
// and advances `offset`. The decoder is lenient on purpose, to give llama.cpp's token ids:
// it checks only the lead byte's length bits and that enough continuation bytes follow, so
// overlong forms (C1 81 -> 'A'), surrogates (ED A0 80 -> U+D800) and values up to 0x1FFFFF
// (F7 BF BF BF) decode; anything else (a stray continuation byte, F8..FF, a truncated
// sequence) yields U+FFFD and consumes exactly one byte.
uint32_t decode_lenient(std::string_view text, size_t& offset);

// Appends the UTF-8 form of `cp` (<= 0x10FFFF; surrogates are encoded like any other
// 3-byte value, as llama.cpp does). Returns the number of bytes written.
size_t append(std::string& out, uint32_t cp);

// The length of the strictly valid UTF-8 sequence (Unicode 15 table 3-7) that starts at
// `text[offset]`:
//   > 0: a complete, valid sequence of that many bytes;
//   0:   the bytes up to the end of `text` are a valid but incomplete prefix;
//   < 0: invalid; -n means the maximal invalid subpart is n bytes (replace it by one U+FFFD).
int sequence_length(std::string_view text, size_t offset);

// `text` with each maximal invalid subpart replaced by U+FFFD (an incomplete sequence at the
// end counts as invalid).
std::string sanitize(std::string_view text);

bool is_valid(std::string_view text);
// The byte offset of the first byte that does not start a valid UTF-8 sequence (an
// incomplete sequence at the end counts), or npos when the text is valid.
size_t first_invalid(std::string_view text);

}  // namespace tern::tokenizer::utf8
