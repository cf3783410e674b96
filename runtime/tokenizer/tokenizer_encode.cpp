// encode(): special-token partition, pre-tokenizer, byte-level BPE. Each step follows
// llama.cpp's llama_tokenize for BPE vocabularies (src/llama-vocab.cpp, src/unicode.cpp).
#include <algorithm>

#include "runtime/tokenizer/byte_unicode.h"
#include "runtime/tokenizer/tokenizer_impl.h"
#include "runtime/tokenizer/utf8.h"

namespace tern::tokenizer {

namespace {

// A piece of the input: a special token found by the partition, or text still to encode.
struct Fragment {
  int32_t token;  // kNoToken for text
  size_t offset;
  size_t length;
};

struct Symbol {
  int32_t id;  // kDead once merged into its left neighbour
  int32_t prev;
  int32_t next;
};
constexpr int32_t kDead = -2;

struct Bigram {
  int32_t rank;
  int32_t left;  // symbol index
  int32_t right;
  int32_t left_id;  // the symbols' ids when queued: a merge is stale once either changed
  int32_t right_id;
  int32_t result;
};

// Lowest rank first, then leftmost (llama.cpp's llm_bigram_bpe comparator).
bool lower_priority(const Bigram& a, const Bigram& b) {
  return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
}

// Scratch buffers for one encode() call, reused from word to word.
struct Workspace {
  std::string text;        // the fragment as llama.cpp sees it after decoding
  std::string regex_text;  // the same, with surrogates replaced for PCRE2
  std::vector<WordSpan> words;
  std::string encoded;
  std::vector<Symbol> symbols;
  std::vector<Bigram> heap;
};

// llama.cpp decodes each fragment to code points (leniently, see utf8.h) and re-encodes every
// word, so the bytes BPE sees are those of the decoded text, not always the input bytes.
// Returns the view to pre-tokenize (valid UTF-8) and sets ws.text to the bytes to encode.
std::string_view normalize(std::string_view in, Workspace& ws) {
  ws.text.clear();
  ws.text.reserve(in.size());
  bool surrogates = false;
  for (size_t i = 0; i < in.size();) {
    const auto c = static_cast<unsigned char>(in[i]);
    if (c < 0x80) {
      ws.text.push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    uint32_t cp = utf8::decode_lenient(in, i);
    // llama.cpp throws from llama_tokenize for these (no UTF-8 form); tern keeps going.
    if (cp > 0x10FFFF) cp = utf8::kReplacement;
    surrogates |= cp >= 0xD800 && cp <= 0xDFFF;
    utf8::append(ws.text, cp);
  }
  if (!surrogates) return ws.text;
  // PCRE2 only takes valid UTF-8. A private-use character has the same 3-byte length and
  // the same class for every expression here (not a letter, digit or space), so the words
  // found in regex_text are the words of text.
  ws.regex_text.clear();
  for (size_t i = 0; i < ws.text.size();) {
    const size_t start = i;
    const uint32_t cp = utf8::decode_lenient(ws.text, i);
    if (cp >= 0xD800 && cp <= 0xDFFF) {
      utf8::append(ws.regex_text, 0xE000);
    } else {
      ws.regex_text.append(ws.text, start, i - start);
    }
  }
  return ws.regex_text;
}

class WordEncoder {
 public:
  WordEncoder(const Tokenizer::Impl& t, Workspace& ws, std::vector<int32_t>& out)
      : t_(t), ws_(ws), out_(out) {}

  void encode(std::string_view word) {
    if (t_.ignore_merges) {
      ws_.encoded.clear();
      for (unsigned char b : word) ws_.encoded += byte_symbols()[b];
      if (const auto it = t_.symbol_id.find(ws_.encoded);
          it != t_.symbol_id.end() && it->second < t_.n_vocab) {
        out_.push_back(it->second);
        return;
      }
    }
    const auto n = static_cast<int32_t>(word.size());
    if (n == 1) {
      emit(t_.byte_symbol[static_cast<unsigned char>(word[0])]);
      return;
    }
    // One symbol per byte: each byte is one character of the GPT-2 spelling.
    auto& sym = ws_.symbols;
    sym.resize(n);
    for (int32_t i = 0; i < n; ++i)
      sym[i] = {t_.byte_symbol[static_cast<unsigned char>(word[i])], i - 1, i + 1 < n ? i + 1 : -1};
    ws_.heap.clear();
    for (int32_t i = 1; i < n; ++i) queue(i - 1, i);
    while (!ws_.heap.empty()) {
      std::pop_heap(ws_.heap.begin(), ws_.heap.end(), lower_priority);
      const Bigram b = ws_.heap.back();
      ws_.heap.pop_back();
      Symbol& left = sym[b.left];
      Symbol& right = sym[b.right];
      if (left.id != b.left_id || right.id != b.right_id) continue;
      left.id = b.result;
      left.next = right.next;
      if (right.next >= 0) sym[right.next].prev = b.left;
      right.id = kDead;
      queue(left.prev, b.left);
      queue(b.left, left.next);
    }
    for (int32_t i = 0; i != -1; i = sym[i].next) emit(sym[i].id);
  }

 private:
  void queue(int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const int32_t l = ws_.symbols[left].id, r = ws_.symbols[right].id;
    const auto it = t_.merges.find(pair_key(l, r));
    if (it == t_.merges.end()) return;
    ws_.heap.push_back({it->second.rank, left, right, l, r, it->second.result});
    std::push_heap(ws_.heap.begin(), ws_.heap.end(), lower_priority);
  }

  // A final symbol that is not a token (possible only with merges outside the vocabulary,
  // or a vocabulary missing byte characters) falls back, as in llama.cpp, to the tokens
  // spelled by single bytes of its text; bytes with no such token are dropped.
  void emit(int32_t id) {
    if (id < t_.n_vocab) {
      out_.push_back(id);
      return;
    }
    for (unsigned char c : t_.symbol_text[id])
      if (t_.single_byte_token[c] != kNoToken) out_.push_back(t_.single_byte_token[c]);
  }

  const Tokenizer::Impl& t_;
  Workspace& ws_;
  std::vector<int32_t>& out_;
};

}  // namespace

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
  const Impl& t = *impl_;

  // Split out special tokens: each token in turn (longest first) is cut out of every text
  // fragment wherever it occurs, left to right, as llama.cpp's tokenizer_st_partition does.
  std::vector<Fragment> fragments, next;
  if (!text.empty()) fragments.push_back({kNoToken, 0, text.size()});
  for (const int32_t id : t.special_order) {
    if (!parse_special && (t.attrs[id] & (kAttrControl | kAttrUnknown))) continue;
    const std::string& special = t.symbol_text[id];
    if (text.find(special) == std::string_view::npos) continue;
    next.clear();
    for (const Fragment& f : fragments) {
      if (f.token != kNoToken) {
        next.push_back(f);
        continue;
      }
      const size_t end = f.offset + f.length;
      const std::string_view window = text.substr(0, end);
      size_t pos = f.offset;
      for (size_t m; (m = window.find(special, pos)) != std::string_view::npos; pos = m + special.size()) {
        if (m > pos) next.push_back({kNoToken, pos, m - pos});
        next.push_back({id, 0, 0});
      }
      if (pos < end) next.push_back({kNoToken, pos, end - pos});
    }
    fragments.swap(next);
  }

  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 2);
  if (add_special && t.add_bos) out.push_back(t.bos);
  Workspace ws;
  WordEncoder words(t, ws, out);
  for (const Fragment& f : fragments) {
    if (f.token != kNoToken) {
      out.push_back(f.token);
      continue;
    }
    const std::string_view regex_view = normalize(text.substr(f.offset, f.length), ws);
    ws.words.clear();
    t.pre_tokenizer.split(regex_view, ws.words);
    for (const WordSpan& w : ws.words) words.encode(std::string_view(ws.text).substr(w.offset, w.length));
  }
  if (add_special && t.add_eos) out.push_back(t.eos);
  return out;
}

}  // namespace tern::tokenizer
