// The pre-tokenizer: splits text into the words that BPE then encodes one by one, with the
// regular expressions llama.cpp uses for each `tokenizer.ggml.pre`, run by PCRE2 (UTF + UCP,
// JIT-compiled where PCRE2 has a JIT for this CPU).
//
// llama.cpp runs its llama3 and GPT-2 expressions through hand-written matchers over its own
// Unicode tables. The expressions here are written so that PCRE2 matches the same words:
//  - `\s` is spelled out as Unicode White_Space (the set llama.cpp uses), because PCRE2's
//    `\s` also matches U+180E;
//  - the llama3 contractions use `'[sS]` instead of `(?i:'s)`, because PCRE2's caseless
//    matching would also accept 'ſ' (U+017F) for s.
// Known gap: PCRE2 10.42 knows Unicode 14 while llama.cpp's tables are Unicode 15.1, so a
// code point assigned in 15.0/15.1 (Kawi, Nag Mundari, CJK extensions H and I, ...) counts
// as a letter or digit there and as unassigned here, and may split differently.
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>
#include <vector>

namespace tern::tokenizer {

enum class PreTokenizerKind {
  Llama3,   // llama-bpe, llama3, llama-v3: the llama3 expression
  Gpt2,     // gpt-2 (and gpt2): the GPT-2 expression
  Default,  // default / missing: llama.cpp's four expressions applied in turn
};

struct WordSpan {
  size_t offset = 0;
  size_t length = 0;
};

class PreTokenizer {
 public:
  explicit PreTokenizer(PreTokenizerKind kind);
  PreTokenizer(PreTokenizer&&) noexcept;
  PreTokenizer& operator=(PreTokenizer&&) noexcept;
  ~PreTokenizer();

  PreTokenizerKind kind() const { return kind_; }
  // Appends the words of `text` to `words`, in order; together they cover `text` exactly.
  // `text` must be valid UTF-8 (the tokenizer guarantees it). Each expression splits every
  // piece the previous one produced; the bytes between two matches form a word of their own,
  // as in llama.cpp's unicode_regex_split.
  void split(std::string_view text, std::vector<WordSpan>& words) const;

 private:
  struct Regex;
  PreTokenizerKind kind_;
  std::vector<std::unique_ptr<Regex>> regexes_;
};

}  // namespace tern::tokenizer
