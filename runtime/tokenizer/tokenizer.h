// Byte-level BPE tokenizer (llama3 / GPT-2 style) built from a GGUF file's tokenizer.ggml.*
// metadata. encode() gives exactly the ids of llama.cpp's llama_tokenize() for the same
// file and flags (checked against llama.cpp's output for the llama3 vocabulary); decode()
// is the inverse, one token piece at a time, and StreamDecoder turns a stream of generated
// ids into text that never ends inside a UTF-8 character.
//
//   const auto file = tern::gguf::File::open("model.gguf");
//   const auto tok = tern::tokenizer::Tokenizer::from_gguf(file);
//   std::vector<int32_t> ids = tok.encode("Hello world", /*add_special=*/true, /*parse_special=*/false);
//   // {128000, 9906, 1917} for llama3: BOS, "Hello", " world"
//
// Input text that is not valid UTF-8 never throws: like llama.cpp, every byte that does not
// start a decodable sequence becomes U+FFFD (so it encodes as the tokens of "\xEF\xBF\xBD"),
// and the lenient forms llama.cpp accepts (overlong, surrogates) keep llama.cpp's meaning.
// One deliberate difference: a 4-byte form above U+10FFFF (F4 90.. to F7 ..) makes llama.cpp
// throw from llama_tokenize; here it becomes one U+FFFD.
//
// A Tokenizer is immutable after from_gguf(); all const methods may be called concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tern::gguf {
class File;
}

namespace tern::tokenizer {

inline constexpr int32_t kNoToken = -1;

// tokenizer.ggml.token_type values (gguf-py's TokenType); 0 is llama.cpp's "undefined".
enum class TokenType : int32_t {
  Undefined = 0,
  Normal = 1,
  Unknown = 2,
  Control = 3,
  UserDefined = 4,
  Unused = 5,
  Byte = 6,
};

class Tokenizer {
 public:
  // Reads tokenizer.ggml.{model, pre, tokens, token_type, merges, bos_token_id, eos_token_id,
  // eot_token_id, eom_token_id, add_bos_token, add_eos_token}. Throws tern::Error naming the
  // file and the key for: a model other than "gpt2", an unknown pre-tokenizer, missing tokens
  // or merges, a token_type array of another length or with values outside 0..6, a special
  // token id outside the vocabulary, duplicate token texts, add_bos_token without a BOS id.
  static Tokenizer from_gguf(const gguf::File& file);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // add_special: prepend BOS when add_bos() (and append EOS when add_eos()).
  // parse_special: text spelling a control token (e.g. "<|eot_id|>") becomes that token;
  // otherwise it is encoded as plain text. User-defined tokens are always matched first, as
  // in llama.cpp.
  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const;

  // The bytes of one token. special: control and unknown tokens give their text (e.g.
  // "<|eot_id|>"); otherwise they give "". Unused and undefined tokens always give "".
  // Throws tern::Error for an id outside [0, n_vocab).
  std::string decode(int32_t id, bool special = false) const;
  // The pieces of `ids`, concatenated: for text encoded without special tokens,
  // decode(encode(s, false, false)) == s for every valid UTF-8 s. (llama.cpp's
  // llama_detokenize also removes spaces before punctuation for this vocabulary type;
  // this does not.)
  std::string decode(std::span<const int32_t> ids, bool special = false) const;

  int32_t n_vocab() const;
  int32_t bos() const;  // kNoToken when the file names none
  int32_t eos() const;
  // tokenizer.ggml.eot_token_id, else the first of "<|eot_id|>", "<|im_end|>", "<|end|>",
  // "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>" in the vocabulary.
  int32_t eot() const;
  bool add_bos() const;
  bool add_eos() const;
  // End of generation: eos, eot, eom, and the tokens whose text says end of turn.
  bool is_eog(int32_t id) const;
  // Control tokens (the file's type 3, and end-of-turn tokens llama.cpp promotes to control).
  bool is_control(int32_t id) const;
  TokenType token_type(int32_t id) const;
  // The token as the vocabulary spells it (byte-encoded: " world" is "Ġworld").
  const std::string& token_text(int32_t id) const;
  // The id of the token spelled exactly `text`, or kNoToken.
  int32_t find_token(std::string_view text) const;
  const std::string& pre() const;  // tokenizer.ggml.pre as read ("" when absent)
  size_t n_merges() const;

  struct Impl;  // opaque: defined in tokenizer_impl.h, which is not installed

 private:
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Turns generated ids into text, one id at a time, returning only whole UTF-8 characters:
// the bytes of a character split across tokens (an emoji spelled as byte tokens) are held
// back until the character completes. Everything returned is valid UTF-8: bytes that can
// never form a character (a stray continuation byte, an invalid lead byte, a sequence broken
// off by a non-continuation byte) come out as U+FFFD, one per maximal invalid subpart as the
// Unicode standard recommends. So for tokens whose bytes are valid UTF-8, the concatenated
// output equals decode(ids).
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool special = false)
      : tokenizer_(&tokenizer), special_(special) {}

  // The text that id completes; "" while a character is still incomplete.
  std::string push(int32_t id);
  // Ends the stream: a dangling incomplete character comes out as one U+FFFD ("" if none).
  // The decoder can be reused afterwards.
  std::string flush();
  // Bytes held back, waiting for the rest of a character (0..3).
  size_t pending() const { return pending_.size(); }

 private:
  const Tokenizer* tokenizer_;
  bool special_;
  std::string pending_;
};

}  // namespace tern::tokenizer
