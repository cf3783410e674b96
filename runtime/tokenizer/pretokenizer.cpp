#include "runtime/tokenizer/pretokenizer.h"

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

#include <string>

#include "runtime/core/error.h"

namespace tern::tokenizer {

namespace {

// Unicode White_Space, the set llama.cpp's `\s` stands for (no U+180E, no U+001C..U+001F).
#define TERN_WS \
  R"(\t\n\x{0B}\f\r\x{20}\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000})"

// tokenizer.json's llama3 expression, with (?i:...) and \s/\S rewritten as explained above:
//   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
//   \s*[\r\n]+|\s+(?!\S)|\s+
constexpr const char* kLlama3 = R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]))"
                                R"(|[^\r\n\p{L}\p{N}]?\p{L}+)"
                                R"(|\p{N}{1,3})"
                                R"(| ?[^)" TERN_WS R"(\p{L}\p{N}]+[\r\n]*)"
                                R"(|[)" TERN_WS R"(]*[\r\n]+)"
                                R"(|[)" TERN_WS R"(]+(?![^)" TERN_WS R"(]))"
                                R"(|[)" TERN_WS R"(]+)";

// GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
constexpr const char* kGpt2 = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+)"
                              R"(| ?[^)" TERN_WS R"(\p{L}\p{N}]+)"
                              R"(|[)" TERN_WS R"(]+(?![^)" TERN_WS R"(]))"
                              R"(|[)" TERN_WS R"(]+)";

// llama.cpp's LLAMA_VOCAB_PRE_TYPE_DEFAULT, applied in this order.
constexpr const char* kDefaultPunct = R"([\p{P}$+<=>^~|]+)";
constexpr const char* kDefaultNumbers = R"(\p{N}+)";
constexpr const char* kDefaultDigits3 = R"([0-9][0-9][0-9])";

#undef TERN_WS

std::string pcre2_message(int code) {
  PCRE2_UCHAR buf[256];
  const int n = pcre2_get_error_message(code, buf, sizeof buf);
  return n < 0 ? "PCRE2 error " + std::to_string(code) : std::string(reinterpret_cast<char*>(buf));
}

}  // namespace

struct PreTokenizer::Regex {
  pcre2_code* code = nullptr;

  explicit Regex(const char* pattern) {
    int err = 0;
    PCRE2_SIZE err_offset = 0;
    code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern), PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP,
                         &err, &err_offset, nullptr);
    if (!code)
      throw Error("tokenizer: pre-tokenizer expression does not compile at offset " +
                  std::to_string(err_offset) + ": " + pcre2_message(err));
    // Without a JIT for this CPU (or in a build without one) pcre2_match interprets instead.
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  }
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  ~Regex() { pcre2_code_free(code); }

  // Appends the pieces of text[begin, end): matches and the gaps between them.
  void split(std::string_view text, size_t begin, size_t end, pcre2_match_data* md,
             std::vector<WordSpan>& out) const {
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data() + begin);
    const size_t length = end - begin;
    size_t pos = 0, gap = 0;
    while (pos < length) {
      int rc = pcre2_match(code, subject, length, pos, PCRE2_NO_UTF_CHECK, md, nullptr);
      // The JIT's default 32 KiB stack could run out on a pathological piece; the
      // interpreter keeps its backtracking state on the heap instead.
      if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
        rc = pcre2_match(code, subject, length, pos, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, md, nullptr);
      if (rc == PCRE2_ERROR_NOMATCH) break;
      if (rc < 0)
        throw Error("tokenizer: pre-tokenizer failed at byte " + std::to_string(begin + pos) + ": " +
                    pcre2_message(rc));
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
      const size_t s = ov[0], e = ov[1];
      if (e == s) {  // no expression here matches empty text; never loop on one that would
        pos = s + 1;
        while (pos < length && (subject[pos] & 0xC0) == 0x80) ++pos;
        continue;
      }
      if (s > gap) out.push_back({begin + gap, s - gap});
      out.push_back({begin + s, e - s});
      pos = gap = e;
    }
    if (gap < length) out.push_back({begin + gap, length - gap});
  }
};

PreTokenizer::PreTokenizer(PreTokenizerKind kind) : kind_(kind) {
  switch (kind) {
    case PreTokenizerKind::Llama3:
      regexes_.push_back(std::make_unique<Regex>(kLlama3));
      break;
    case PreTokenizerKind::Gpt2:
      regexes_.push_back(std::make_unique<Regex>(kGpt2));
      break;
    case PreTokenizerKind::Default:
      for (const char* p : {kDefaultPunct, kGpt2, kDefaultNumbers, kDefaultDigits3})
        regexes_.push_back(std::make_unique<Regex>(p));
      break;
  }
}

PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;
PreTokenizer::~PreTokenizer() = default;

void PreTokenizer::split(std::string_view text, std::vector<WordSpan>& words) const {
  if (text.empty()) return;
  std::vector<WordSpan> pieces{{0, text.size()}}, next;
  for (size_t r = 0; r < regexes_.size(); ++r) {
    const Regex& rx = *regexes_[r];
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(rx.code, nullptr);
    if (!md) throw Error("tokenizer: out of memory for PCRE2 match data");
    const bool last = r + 1 == regexes_.size();
    std::vector<WordSpan>& out = last ? words : next;
    try {
      for (const WordSpan& p : pieces) rx.split(text, p.offset, p.offset + p.length, md, out);
    } catch (...) {
      pcre2_match_data_free(md);
      throw;
    }
    pcre2_match_data_free(md);
    if (!last) {
      pieces.swap(next);
      next.clear();
    }
  }
}

}  // namespace tern::tokenizer
