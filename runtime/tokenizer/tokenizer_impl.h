// The tokenizer's state, shared by the files that load, encode and decode. Not installed.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "runtime/tokenizer/pretokenizer.h"
#include "runtime/tokenizer/tokenizer.h"

namespace tern::tokenizer {

// llama.cpp's token attributes (llama_token_attr), the subset that changes behaviour.
enum Attr : uint8_t {
  kAttrUndefined = 0,
  kAttrUnknown = 1 << 0,
  kAttrUnused = 1 << 1,
  kAttrNormal = 1 << 2,
  kAttrControl = 1 << 3,
  kAttrUserDefined = 1 << 4,
  kAttrByte = 1 << 5,
};

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
using SymbolIndex = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

struct MergeRule {
  int32_t rank;    // the merge's index in tokenizer.ggml.merges: lower merges first
  int32_t result;  // the symbol the pair becomes
};

inline uint64_t pair_key(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

struct Tokenizer::Impl {
  explicit Impl(PreTokenizerKind kind) : pre_tokenizer(kind) {}

  std::string file_name;
  std::string pre;
  PreTokenizer pre_tokenizer;
  // llama.cpp's ignore_merges (llama3): a word that is a whole token is emitted as it is,
  // whatever BPE would have made of it.
  bool ignore_merges = false;
  bool add_bos = false;
  bool add_eos = false;

  int32_t n_vocab = 0;
  // Symbols: ids below n_vocab are tokens. Merges may name strings that are not tokens
  // (llama.cpp keeps such merges, matching on text); those get ids from n_vocab up, so that
  // BPE works on ids alone and still merges exactly as llama.cpp's text-based loop does.
  std::vector<std::string> symbol_text;
  SymbolIndex symbol_id;
  std::vector<uint8_t> attrs;  // per token
  std::vector<TokenType> types;
  std::unordered_map<uint64_t, MergeRule> merges;  // pair_key(left, right) -> rule
  size_t n_merges = 0;

  std::array<int32_t, 256> byte_symbol{};        // the symbol of each byte's GPT-2 character
  std::array<int32_t, 256> single_byte_token{};  // the token spelled by that one raw byte, or -1

  std::vector<int32_t> special_order;  // control/user-defined/unknown tokens, longest text first
  std::vector<std::string> pieces;     // decode(id, special=true), precomputed
  std::vector<uint8_t> eog;

  int32_t bos = kNoToken, eos = kNoToken, eot = kNoToken, eom = kNoToken;

  int32_t intern(std::string_view text);
  void check_id(int32_t id) const;

  void encode_text(std::string_view text, std::vector<int32_t>& out) const;
};

}  // namespace tern::tokenizer
