// Loading a Tokenizer from GGUF metadata, the accessors, and decoding.
#include <algorithm>
#include <limits>

#include "runtime/core/error.h"
#include "runtime/gguf/gguf.h"
#include "runtime/tokenizer/byte_unicode.h"
#include "runtime/tokenizer/tokenizer_impl.h"
#include "runtime/tokenizer/utf8.h"

namespace tern::tokenizer {

namespace {

constexpr std::string_view kModelKey = "tokenizer.ggml.model";
constexpr std::string_view kPreKey = "tokenizer.ggml.pre";
constexpr std::string_view kTokensKey = "tokenizer.ggml.tokens";
constexpr std::string_view kTypesKey = "tokenizer.ggml.token_type";
constexpr std::string_view kMergesKey = "tokenizer.ggml.merges";
constexpr std::string_view kBosKey = "tokenizer.ggml.bos_token_id";
constexpr std::string_view kEosKey = "tokenizer.ggml.eos_token_id";
constexpr std::string_view kEotKey = "tokenizer.ggml.eot_token_id";
constexpr std::string_view kEomKey = "tokenizer.ggml.eom_token_id";
constexpr std::string_view kAddBosKey = "tokenizer.ggml.add_bos_token";
constexpr std::string_view kAddEosKey = "tokenizer.ggml.add_eos_token";

// Texts llama.cpp recognises as end of turn when the file names no eot id; checked in this
// order (llama.cpp walks a hash map, so with several present its pick is arbitrary).
constexpr std::string_view kEotTexts[] = {"<|eot_id|>",    "<|im_end|>",      "<|end|>", "<end_of_turn>",
                                          "<|endoftext|>", "<|end_of_text|>", "<EOT>",   "_<EOT>"};
// Texts that end generation (llama.cpp's long-standing list); llama.cpp makes them control.
constexpr std::string_view kEogTexts[] = {"<|eot_id|>",    "<|im_end|>",    "<|end|>",
                                          "<end_of_turn>", "<|endoftext|>", "<|eom_id|>",
                                          "<EOT>",         "_<EOT>",        "<|end_of_text|>"};

struct PreSpec {
  PreTokenizerKind kind;
  bool llama3_defaults;  // ignore_merges and add_bos default on
};

PreSpec pre_spec(const gguf::File& file, const std::string& pre) {
  if (pre == "llama-bpe" || pre == "llama3" || pre == "llama-v3") return {PreTokenizerKind::Llama3, true};
  if (pre == "gpt-2" || pre == "gpt2") return {PreTokenizerKind::Gpt2, false};
  if (pre.empty() || pre == "default") return {PreTokenizerKind::Default, false};
  throw Error(
      file.name() + ": " + std::string(kPreKey) + " is '" + pre +
      "', an unsupported pre-tokenizer (supported: llama-bpe, llama3, llama-v3, gpt-2, gpt2, default)");
}

uint8_t attr_of_type(TokenType t) {
  switch (t) {
    case TokenType::Normal:
      return kAttrNormal;
    case TokenType::Unknown:
      return kAttrUnknown;
    case TokenType::Control:
      return kAttrControl;
    case TokenType::UserDefined:
      return kAttrUserDefined;
    case TokenType::Unused:
      return kAttrUnused;
    case TokenType::Byte:
      return kAttrByte;
    case TokenType::Undefined:
      break;
  }
  return kAttrUndefined;
}

int32_t read_token_id(const gguf::File& file, std::string_view key, int32_t n_vocab) {
  if (!file.contains(key)) return kNoToken;
  const int64_t id = file.get_i64(key);
  if (id < 0 || id >= n_vocab)
    throw Error(file.name() + ": " + std::string(key) + " = " + std::to_string(id) +
                " is outside the vocabulary of " + std::to_string(n_vocab) + " tokens");
  return static_cast<int32_t>(id);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A byte token's value: llama.cpp reads the two hex digits of "<0xAB>".
std::string byte_piece(const std::string& text) {
  int value = 0;
  for (size_t i = 3; i < text.size() && i < 5 && hex_value(text[i]) >= 0; ++i)
    value = value * 16 + hex_value(text[i]);
  return std::string(1, static_cast<char>(value));
}

// A normal token's bytes: each code point of its text is one byte (GPT-2 mapping). A code
// point outside the mapping becomes llama.cpp's marker "[UNK_BYTE_0x<hex><text>]".
std::string normal_piece(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    uint32_t cp = utf8::decode_lenient(text, i);
    const int b = codepoint_to_byte(cp);
    if (b >= 0) {
      out.push_back(static_cast<char>(b));
      continue;
    }
    if (cp > 0x10FFFF) cp = utf8::kReplacement;
    std::string bytes;
    utf8::append(bytes, cp);
    static constexpr char kHex[] = "0123456789abcdef";
    out += "[UNK_BYTE_0x";
    for (unsigned char c : bytes) {
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
    out += text;
    out += "]";
  }
  return out;
}

}  // namespace

int32_t Tokenizer::Impl::intern(std::string_view text) {
  if (const auto it = symbol_id.find(text); it != symbol_id.end()) return it->second;
  const auto id = static_cast<int32_t>(symbol_text.size());
  symbol_text.emplace_back(text);
  symbol_id.emplace(std::string(text), id);
  return id;
}

void Tokenizer::Impl::check_id(int32_t id) const {
  if (id < 0 || id >= n_vocab)
    throw Error("tokenizer: token id " + std::to_string(id) + " is outside the vocabulary of " +
                std::to_string(n_vocab) + " tokens");
}

Tokenizer Tokenizer::from_gguf(const gguf::File& file) {
  const std::string where = file.name() + ": ";
  const std::string& model = file.get_string(kModelKey);
  if (model != "gpt2")
    throw Error(where + std::string(kModelKey) + " is '" + model +
                "'; tern supports only 'gpt2' (byte-level BPE) vocabularies");
  std::string pre = file.get_string(kPreKey, "");
  const PreSpec spec = pre_spec(file, pre);

  auto impl = std::make_unique<Impl>(spec.kind);
  Impl& t = *impl;
  t.file_name = file.name();
  t.pre = std::move(pre);
  t.ignore_merges = spec.llama3_defaults;

  // Tokens and their types.
  const std::vector<std::string>& tokens = file.get_string_array(kTokensKey);
  if (tokens.empty()) throw Error(where + std::string(kTokensKey) + " is empty");
  if (tokens.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max() / 2))
    throw Error(where + std::string(kTokensKey) + " has too many tokens (" + std::to_string(tokens.size()) +
                ")");
  t.n_vocab = static_cast<int32_t>(tokens.size());
  t.types.assign(tokens.size(), TokenType::Normal);
  if (file.contains(kTypesKey)) {
    const std::vector<int32_t> types = file.get_i32_array(kTypesKey);
    if (types.size() != tokens.size())
      throw Error(where + std::string(kTypesKey) + " has " + std::to_string(types.size()) + " entries for " +
                  std::to_string(tokens.size()) + " tokens");
    for (size_t i = 0; i < types.size(); ++i) {
      if (types[i] < 0 || types[i] > 6)
        throw Error(where + std::string(kTypesKey) + "[" + std::to_string(i) +
                    "] = " + std::to_string(types[i]) + " is not a token type (0..6)");
      t.types[i] = static_cast<TokenType>(types[i]);
    }
  }
  t.attrs.resize(tokens.size());
  t.symbol_text.reserve(tokens.size());
  t.symbol_id.reserve(tokens.size() * 2);
  for (size_t i = 0; i < tokens.size(); ++i) {
    // llama.cpp renames empty tokens so that every text is distinct and non-empty.
    std::string text = tokens[i].empty() ? "[EMPTY_" + std::to_string(i) + "]" : tokens[i];
    const auto [it, fresh] = t.symbol_id.emplace(text, static_cast<int32_t>(i));
    if (!fresh)
      throw Error(where + std::string(kTokensKey) + ": duplicate token '" + text + "' at ids " +
                  std::to_string(it->second) + " and " + std::to_string(i));
    t.symbol_text.push_back(std::move(text));
    t.attrs[i] = attr_of_type(t.types[i]);
  }

  // The GPT-2 characters of the 256 bytes, and the tokens spelled by one raw byte.
  for (int b = 0; b < 256; ++b) {
    t.byte_symbol[b] = t.intern(byte_symbols()[b]);
    const char raw = static_cast<char>(b);
    const auto it = t.symbol_id.find(std::string_view(&raw, 1));
    t.single_byte_token[b] = it != t.symbol_id.end() && it->second < t.n_vocab ? it->second : kNoToken;
  }

  // Merges: "left right", rank = index. As in llama.cpp, the first occurrence of a pair
  // keeps its rank, an entry without a space (from the second byte on) is ignored, and a
  // merge whose parts or result are not tokens is kept: it can still fire on text.
  if (!file.contains(kMergesKey))
    throw Error(where + std::string(kMergesKey) +
                " is missing (vocab without merges): a gpt2 BPE vocabulary needs them");
  const std::vector<std::string>& merges = file.get_string_array(kMergesKey);
  if (merges.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max()))
    throw Error(where + std::string(kMergesKey) + " has too many entries");
  t.merges.reserve(merges.size());
  std::string joined;
  for (size_t i = 0; i < merges.size(); ++i) {
    const std::string& m = merges[i];
    const size_t space = m.find(' ', 1);
    if (space == std::string::npos) continue;
    const std::string_view left(m.data(), space), right(m.data() + space + 1, m.size() - space - 1);
    if (right.empty()) continue;  // no symbol is empty, so the pair could never occur
    joined.assign(left);
    joined.append(right);
    const int32_t l = t.intern(left), r = t.intern(right), result = t.intern(joined);
    t.merges.emplace(pair_key(l, r), MergeRule{static_cast<int32_t>(i), result});
  }
  t.n_merges = merges.size();

  // Special tokens.
  t.bos = read_token_id(file, kBosKey, t.n_vocab);
  t.eos = read_token_id(file, kEosKey, t.n_vocab);
  t.eot = read_token_id(file, kEotKey, t.n_vocab);
  t.eom = read_token_id(file, kEomKey, t.n_vocab);
  t.add_bos = file.get_bool(kAddBosKey, spec.llama3_defaults);
  t.add_eos = file.get_bool(kAddEosKey, false);
  if (t.add_bos && t.bos == kNoToken)
    throw Error(where + std::string(kAddBosKey) + " is true but " + std::string(kBosKey) + " is not set");
  if (t.add_eos && t.eos == kNoToken)
    throw Error(where + std::string(kAddEosKey) + " is true but " + std::string(kEosKey) + " is not set");

  const auto token_by_text = [&](std::string_view text) {
    const auto it = t.symbol_id.find(text);
    return it != t.symbol_id.end() && it->second < t.n_vocab ? it->second : kNoToken;
  };
  if (t.eot == kNoToken) {
    for (std::string_view text : kEotTexts) {
      if ((t.eot = token_by_text(text)) != kNoToken) break;
    }
    if (t.eot != kNoToken) t.attrs[t.eot] |= kAttrControl;
  }
  if (t.eom == kNoToken && (t.eom = token_by_text("<|eom_id|>")) != kNoToken) t.attrs[t.eom] |= kAttrControl;

  t.eog.assign(tokens.size(), 0);
  for (std::string_view text : kEogTexts) {
    if (const int32_t id = token_by_text(text); id != kNoToken) {
      t.eog[id] = 1;
      t.attrs[id] |= kAttrControl;
    }
  }
  for (int32_t id : {t.eos, t.eot, t.eom})
    if (id != kNoToken) t.eog[id] = 1;

  // Texts split out before pre-tokenizing, longest first (ties by id, for a stable order).
  for (int32_t id = 0; id < t.n_vocab; ++id)
    if (t.attrs[id] & (kAttrControl | kAttrUserDefined | kAttrUnknown)) t.special_order.push_back(id);
  std::stable_sort(t.special_order.begin(), t.special_order.end(),
                   [&](int32_t a, int32_t b) { return t.symbol_text[a].size() > t.symbol_text[b].size(); });

  t.pieces.resize(tokens.size());
  for (int32_t id = 0; id < t.n_vocab; ++id) {
    const uint8_t a = t.attrs[id];
    const std::string& text = t.symbol_text[id];
    if (a & (kAttrUnknown | kAttrControl | kAttrUserDefined)) {
      t.pieces[id] = text;
    } else if (a & kAttrNormal) {
      t.pieces[id] = normal_piece(text);
    } else if (a & kAttrByte) {
      t.pieces[id] = byte_piece(text);
    }  // unused and undefined tokens have no text
  }
  return Tokenizer(std::move(impl));
}

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

std::string Tokenizer::decode(int32_t id, bool special) const {
  impl_->check_id(id);
  if (!special && (impl_->attrs[id] & (kAttrUnknown | kAttrControl))) return {};
  return impl_->pieces[id];
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool special) const {
  std::string out;
  for (int32_t id : ids) {
    impl_->check_id(id);
    if (!special && (impl_->attrs[id] & (kAttrUnknown | kAttrControl))) continue;
    out += impl_->pieces[id];
  }
  return out;
}

int32_t Tokenizer::n_vocab() const { return impl_->n_vocab; }
int32_t Tokenizer::bos() const { return impl_->bos; }
int32_t Tokenizer::eos() const { return impl_->eos; }
int32_t Tokenizer::eot() const { return impl_->eot; }
bool Tokenizer::add_bos() const { return impl_->add_bos; }
bool Tokenizer::add_eos() const { return impl_->add_eos; }
const std::string& Tokenizer::pre() const { return impl_->pre; }
size_t Tokenizer::n_merges() const { return impl_->n_merges; }

bool Tokenizer::is_eog(int32_t id) const { return id >= 0 && id < impl_->n_vocab && impl_->eog[id]; }

bool Tokenizer::is_control(int32_t id) const {
  return id >= 0 && id < impl_->n_vocab && (impl_->attrs[id] & kAttrControl);
}

TokenType Tokenizer::token_type(int32_t id) const {
  impl_->check_id(id);
  return impl_->types[id];
}

const std::string& Tokenizer::token_text(int32_t id) const {
  impl_->check_id(id);
  return impl_->symbol_text[id];
}

int32_t Tokenizer::find_token(std::string_view text) const {
  const auto it = impl_->symbol_id.find(text);
  return it != impl_->symbol_id.end() && it->second < impl_->n_vocab ? it->second : kNoToken;
}

}  // namespace tern::tokenizer
