// Tokenizer: llama.cpp's ids for the real llama3 vocabulary, hand-checked encodings of the
// tiny golden vocabulary, the pre-tokenizer's words, streaming decode, bad vocabularies,
// invalid UTF-8 and random bytes, and speed.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>

#include "runtime/core/error.h"
#include "runtime/gguf/gguf.h"
#include "runtime/tokenizer/pretokenizer.h"
#include "runtime/tokenizer/tokenizer.h"
#include "runtime/tokenizer/utf8.h"
#include "test_helpers.h"

namespace {

using tern::gguf::Array;
using tern::gguf::File;
using tern::gguf::Value;
using tern::gguf::Writer;
using tern::tokenizer::kNoToken;
using tern::tokenizer::PreTokenizer;
using tern::tokenizer::PreTokenizerKind;
using tern::tokenizer::StreamDecoder;
using tern::tokenizer::Tokenizer;
using tern::tokenizer::TokenType;
using tern::tokenizer::WordSpan;
using Ids = std::vector<int32_t>;

const std::string kReplacement = "\xEF\xBF\xBD";  // U+FFFD

Tokenizer load(const std::string& name) {
  return Tokenizer::from_gguf(File::open(tern::test::data_path(name)));
}

// Loaded once: the llama3 vocabulary has 128k tokens and 280k merges.
const Tokenizer& llama3() {
  static const Tokenizer t = load("ggml-vocab-llama-bpe.gguf");
  return t;
}

const Tokenizer& tiny() {
  static const Tokenizer t = load("tiny-bitnet-f16.gguf");
  return t;
}

std::string hex(std::string_view s) {
  std::string out;
  char buf[4];
  for (unsigned char c : s) {
    std::snprintf(buf, sizeof buf, "%02x ", c);
    out += buf;
  }
  return out;
}

std::string ids_str(const Ids& ids) {
  std::string out;
  for (int32_t id : ids) out += std::to_string(id) + " ";
  return out;
}

// Runs fn, which must throw tern::Error whose one-line message contains every part.
void expect_error(const std::function<void()>& fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "expected tern::Error";
  } catch (const tern::Error& e) {
    const std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "message should be one line: " << msg;
  }
}

// What llama.cpp feeds to BPE for arbitrary bytes: lenient decoding (utf8.h), re-encoded;
// code points above U+10FFFF become U+FFFD (tern's choice; llama.cpp throws). Written
// independently of the tokenizer's own loop.
std::string llama_normalize(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    int n = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 0;
    bool ok = n > 0 && i + n <= s.size();
    for (int k = 1; ok && k < n; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    if (!ok) {
      out += kReplacement;
      ++i;
      continue;
    }
    uint32_t cp = n == 1 ? b : b & (0x7F >> n);
    for (int k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    if (cp > 0x10FFFF) cp = 0xFFFD;
    tern::tokenizer::utf8::append(out, cp);
    i += n;
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// llama3 vocabulary vs llama.cpp

struct Case {
  std::string text;
  bool add_special;
  bool parse_special;
  Ids ids;
};

std::vector<Case> llama3_cases() {
  std::ifstream in(tern::test::data_path("llama3-tokenizer-cases.json"));
  const auto j = nlohmann::json::parse(in);
  std::vector<Case> cases;
  for (const auto& c : j.at("cases"))
    cases.push_back({c.at("text").get<std::string>(), c.at("add_special").get<bool>(),
                     c.at("parse_special").get<bool>(), c.at("ids").get<Ids>()});
  return cases;
}

TEST(TokenizerLlama3, LoadsVocabulary) {
  const Tokenizer& t = llama3();
  EXPECT_EQ(t.n_vocab(), 128256);
  EXPECT_EQ(t.n_merges(), 280147u);
  EXPECT_EQ(t.pre(), "llama-bpe");
  EXPECT_EQ(t.bos(), 128000);
  EXPECT_EQ(t.eos(), 128001);
  EXPECT_EQ(t.eot(), 128009);  // no eot key in the file: found by its text
  EXPECT_TRUE(t.add_bos());    // llama-bpe default, no add_bos_token key in the file
  EXPECT_FALSE(t.add_eos());
  EXPECT_EQ(t.token_text(128009), "<|eot_id|>");
  EXPECT_EQ(t.token_text(22691), "ĠHello");
  EXPECT_EQ(t.find_token("Hello"), 9906);
  EXPECT_EQ(t.find_token("no such token"), kNoToken);
  EXPECT_TRUE(t.is_control(128009));
  EXPECT_TRUE(t.is_control(128000));
  EXPECT_FALSE(t.is_control(9906));
  EXPECT_EQ(t.token_type(128010), TokenType::Control);
  EXPECT_EQ(t.token_type(9906), TokenType::Normal);
  EXPECT_TRUE(t.is_eog(128001));
  EXPECT_TRUE(t.is_eog(128009));
  EXPECT_FALSE(t.is_eog(128008));  // <|reserved_special_token_4|> (llama3.0 has no <|eom_id|>)
  EXPECT_FALSE(t.is_eog(128000));
  EXPECT_FALSE(t.is_eog(9906));
  EXPECT_FALSE(t.is_eog(-1));
}

TEST(TokenizerLlama3, MatchesLlamaCppOnEveryCase) {
  const auto cases = llama3_cases();
  ASSERT_EQ(cases.size(), 68u);
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    SCOPED_TRACE("case " + std::to_string(i) + " text '" + c.text + "' (" + hex(c.text) + ")");
    EXPECT_EQ(llama3().encode(c.text, c.add_special, c.parse_special), c.ids);
  }
}

TEST(TokenizerLlama3, RoundTripsEveryCase) {
  for (const Case& c : llama3_cases()) {
    SCOPED_TRACE("text '" + c.text + "'");
    if (c.add_special) continue;
    const Ids ids = llama3().encode(c.text, false, c.parse_special);
    // Control tokens only come back with special = true.
    EXPECT_EQ(llama3().decode(ids, /*special=*/c.parse_special), c.text);
    std::string pieces;
    for (int32_t id : ids) pieces += llama3().decode(id, c.parse_special);
    EXPECT_EQ(pieces, c.text);
  }
}

TEST(TokenizerLlama3, SpecialTokensAsTextOrTokens) {
  const Tokenizer& t = llama3();
  EXPECT_EQ(t.encode("<|eot_id|>", false, true), (Ids{128009}));
  EXPECT_EQ(t.encode("<|eot_id|>", false, false), (Ids{27, 91, 68, 354, 851, 91, 29}));
  // BOS from add_special and BOS spelled in the text are both kept, as in llama.cpp.
  EXPECT_EQ(t.encode("<|begin_of_text|>x", true, true), (Ids{128000, 128000, 87}));
  // Longest special text first: <|reserved_special_token_10|> is not token_1 followed by "0|>".
  EXPECT_EQ(t.encode("<|reserved_special_token_10|>", false, true),
            (Ids{t.find_token("<|reserved_special_token_10|>")}));
  // Adjacent special tokens with nothing between them.
  EXPECT_EQ(t.encode("<|eot_id|><|eot_id|>", false, true), (Ids{128009, 128009}));
}

TEST(TokenizerLlama3, DecodesControlTokensOnlyWhenAsked) {
  const Tokenizer& t = llama3();
  EXPECT_EQ(t.decode(128009), "");
  EXPECT_EQ(t.decode(128009, true), "<|eot_id|>");
  EXPECT_EQ(t.decode(22691), " Hello");
  EXPECT_EQ(t.decode(Ids{128000, 9906, 1917}), "Hello world");
  EXPECT_EQ(t.decode(Ids{128000, 9906, 1917}, true), "<|begin_of_text|>Hello world");
  expect_error([&] { t.decode(128256); }, {"128256", "outside"});
  expect_error([&] { t.decode(-1); }, {"-1", "outside"});
  expect_error([&] { t.token_text(200000); }, {"200000"});
}

TEST(TokenizerLlama3, IgnoreMergesTakesWholeWordTokens) {
  // llama-bpe sets ignore_merges: a word that is a token is that token. Every single token
  // of the vocabulary, encoded from its own bytes, must therefore come back as itself when
  // the pre-tokenizer keeps it in one piece; check a sample of word-like ones.
  const Tokenizer& t = llama3();
  int checked = 0;
  for (int32_t id = 0; id < 128000; id += 97) {
    const std::string bytes = t.decode(id);
    if (!tern::tokenizer::utf8::is_valid(bytes)) continue;
    std::vector<WordSpan> words;
    PreTokenizer(PreTokenizerKind::Llama3).split(bytes, words);
    if (words.size() != 1) continue;
    EXPECT_EQ(t.encode(bytes, false, false), (Ids{id})) << "token " << id << " '" << bytes << "'";
    ++checked;
  }
  EXPECT_GT(checked, 1000);
}

// ---------------------------------------------------------------------------------------
// The tiny golden vocabulary (tests/data/GOLDEN-README.md): 0..255 byte tokens in byte order,
// 256..281 Ġa..Ġz, 282..957 aa..zz (282 + 26*x + y), 958..1007 Ġaa..Ġbx, 1008.. control.
// Merges by rank: "Ġ a".."Ġ z" = 0..25, "a a".."z z" = 26..701, "Ġa a".."Ġb x" = 702..751.

int32_t pair_id(char x, char y) { return 282 + 26 * (x - 'a') + (y - 'a'); }

TEST(TokenizerTiny, LoadsVocabulary) {
  const Tokenizer& t = tiny();
  EXPECT_EQ(t.n_vocab(), 1024);
  EXPECT_EQ(t.n_merges(), 752u);
  EXPECT_EQ(t.bos(), 1008);
  EXPECT_EQ(t.eos(), 1009);
  EXPECT_EQ(t.eot(), 1017);
  EXPECT_TRUE(t.add_bos());
  EXPECT_EQ(t.token_text(959), "Ġab");
  EXPECT_EQ(t.token_text(pair_id('e', 'l')), "el");
  EXPECT_EQ(t.token_text(32), "Ġ");
}

TEST(TokenizerTiny, HandCheckedEncodings) {
  const Tokenizer& t = tiny();
  // " ab": Ġ+a (rank 0) -> Ġa, then Ġa+b (rank 703) -> Ġab = 959; BOS first.
  EXPECT_EQ(t.encode(" ab", true, false), (Ids{1008, 959}));
  EXPECT_EQ(t.encode(" ab", false, false), (Ids{959}));
  // "abc": a+b (27) before b+c (54); "ab"+"c" has no merge.
  EXPECT_EQ(t.encode("abc", false, false), (Ids{pair_id('a', 'b'), 'c'}));
  // " abc": Ġ+a (0), then b+c (54) beats Ġa+b (703): Ġa, bc.
  EXPECT_EQ(t.encode(" abc", false, false), (Ids{256, pair_id('b', 'c')}));
  // "hello": e+l (141) first, then l+o (326); h+e (212) was blocked by "el".
  EXPECT_EQ(t.encode("hello", false, false), (Ids{'h', pair_id('e', 'l'), pair_id('l', 'o')}));
  // " zz": Ġz, and no "Ġz z" merge.
  EXPECT_EQ(t.encode(" zz", false, false), (Ids{281, 'z'}));
  // Upper case and punctuation have no merges: byte tokens, one per byte.
  EXPECT_EQ(t.encode("Hi!", false, false), (Ids{'H', 'i', '!'}));
  // The llama3 pre-tokenizer splits digits in threes and keeps spaces before a word.
  EXPECT_EQ(t.encode("1234 ab", false, false), (Ids{'1', '2', '3', '4', 959}));
  // Multi-byte UTF-8: one byte token per byte (é = C3 A9).
  EXPECT_EQ(t.encode("\xC3\xA9", false, false), (Ids{0xC3, 0xA9}));
  EXPECT_EQ(t.encode("", true, false), (Ids{1008}));
  EXPECT_EQ(t.encode("", false, false), (Ids{}));
}

TEST(TokenizerTiny, SpecialTokens) {
  const Tokenizer& t = tiny();
  EXPECT_EQ(t.encode("<|eot_id|>", false, true), (Ids{1017}));
  EXPECT_EQ(t.encode(" ab<|eot_id|>", true, true), (Ids{1008, 959, 1017}));
  // As text: "<", "|", "eo" "t", "_" "id", "|", ">".
  EXPECT_EQ(t.encode("<|eot_id|>", false, false),
            (Ids{'<', '|', pair_id('e', 'o'), 't', '_', pair_id('i', 'd'), '|', '>'}));
  EXPECT_TRUE(t.is_eog(1009));
  EXPECT_TRUE(t.is_eog(1016));  // <|eom_id|>
  EXPECT_TRUE(t.is_eog(1017));
  EXPECT_FALSE(t.is_eog(1014));
  EXPECT_EQ(t.decode(1008, true), "<|begin_of_text|>");
  EXPECT_EQ(t.decode(1008), "");
}

TEST(TokenizerTiny, RoundTripsText) {
  const Tokenizer& t = tiny();
  for (const std::string s :
       {"hello world", "  the quick\n\nbrown fox\t!", "Ünïcödé 😀 text", "a'b 'll 123456"}) {
    EXPECT_EQ(t.decode(t.encode(s, false, false)), s);
    EXPECT_EQ(t.decode(t.encode(s, true, false)), s);  // BOS decodes to "" by default
  }
}

// ---------------------------------------------------------------------------------------
// Pre-tokenizer words

std::vector<std::string> words_of(PreTokenizerKind kind, std::string_view text) {
  std::vector<WordSpan> spans;
  PreTokenizer(kind).split(text, spans);
  std::vector<std::string> out;
  size_t covered = 0;
  for (const WordSpan& w : spans) {
    EXPECT_EQ(w.offset, covered) << "words must tile the text";
    covered = w.offset + w.length;
    out.emplace_back(text.substr(w.offset, w.length));
  }
  EXPECT_EQ(covered, text.size());
  return out;
}

using Words = std::vector<std::string>;

TEST(TokenizerPreTokenizer, Llama3Words) {
  EXPECT_EQ(words_of(PreTokenizerKind::Llama3, "Hello world 12345 don't"),
            (Words{"Hello", " world", " ", "123", "45", " don", "'t"}));
  EXPECT_EQ(words_of(PreTokenizerKind::Llama3, "DON'T x  y\n\n z"),
            (Words{"DON", "'T", " x", " ", " y", "\n\n", " z"}));
  EXPECT_EQ(words_of(PreTokenizerKind::Llama3, "((hi)) ...\r\nok   "),
            (Words{"((", "hi", "))", " ...\r\n", "ok", "   "}));
  // U+017F (long s) is not a case variant of 's' here, unlike PCRE2's (?i).
  EXPECT_EQ(words_of(PreTokenizerKind::Llama3, "it'\xC5\xBF"), (Words{"it", "'\xC5\xBF"}));
  // U+180E is not White_Space (PCRE2's \s would say it is): it joins the punctuation run.
  EXPECT_EQ(words_of(PreTokenizerKind::Llama3, "a\xE1\xA0\x8E!"), (Words{"a", "\xE1\xA0\x8E!"}));
  // U+3000 (ideographic space) is.
  EXPECT_EQ(words_of(PreTokenizerKind::Llama3,
                     "a\xE3\x80\x80\xE3\x80\x80"
                     "b"),
            (Words{"a", "\xE3\x80\x80",
                   "\xE3\x80\x80"
                   "b"}));
}

TEST(TokenizerPreTokenizer, Gpt2Words) {
  EXPECT_EQ(words_of(PreTokenizerKind::Gpt2, "Hello world 12345 don't DON'T"),
            (Words{"Hello", " world", " 12345", " don", "'t", " DON", "'", "T"}));
  EXPECT_EQ(words_of(PreTokenizerKind::Gpt2, "a\t\tb  "), (Words{"a", "\t", "\t", "b", "  "}));
}

TEST(TokenizerPreTokenizer, DefaultWordsApplyFourExpressionsInTurn) {
  EXPECT_EQ(words_of(PreTokenizerKind::Default, "Hello, world! 12345"),
            (Words{"Hello", ",", " world", "!", " ", "123", "45"}));
}

// ---------------------------------------------------------------------------------------
// Streaming decode

TEST(TokenizerStreamDecoder, HoldsBackASplitEmoji) {
  const Tokenizer& t = llama3();
  // "😀" = F0 9F 98 80 is two tokens: F0 9F 98 and 80.
  ASSERT_EQ(t.encode("😀", false, false), (Ids{76460, 222}));
  StreamDecoder d(t);
  EXPECT_EQ(d.push(76460), "");
  EXPECT_EQ(d.pending(), 3u);
  EXPECT_EQ(d.push(222), "😀");
  EXPECT_EQ(d.pending(), 0u);
  EXPECT_EQ(d.flush(), "");
}

TEST(TokenizerStreamDecoder, ByteTokensOneAtATime) {
  const Tokenizer& t = tiny();  // byte b is token b
  StreamDecoder d(t);
  const std::string text = "a€😀b";
  std::string out;
  for (unsigned char c : text) {
    const std::string got = d.push(c);
    EXPECT_TRUE(tern::tokenizer::utf8::is_valid(got));
    out += got;
  }
  EXPECT_EQ(out + d.flush(), text);
  // Each character comes out on its last byte, not before.
  StreamDecoder e(t);
  EXPECT_EQ(e.push(0xE2), "");
  EXPECT_EQ(e.push(0x82), "");
  EXPECT_EQ(e.push(0xAC), "€");
}

TEST(TokenizerStreamDecoder, ReplacesWhatCanNeverComplete) {
  const Tokenizer& t = tiny();
  StreamDecoder d(t);
  // A dangling partial character at the end of the stream: flush gives one U+FFFD.
  EXPECT_EQ(d.push(0xF0), "");
  EXPECT_EQ(d.push(0x9F), "");
  EXPECT_EQ(d.flush(), kReplacement);
  EXPECT_EQ(d.pending(), 0u);
  EXPECT_EQ(d.flush(), "");
  // A stray continuation byte comes out at once as U+FFFD.
  EXPECT_EQ(d.push(0x80), kReplacement);
  // A sequence broken by an ASCII byte: U+FFFD for the broken part, then the byte.
  EXPECT_EQ(d.push(0xE2), "");
  EXPECT_EQ(d.push('A'), kReplacement + "A");
  // Never-valid lead bytes and surrogates are replaced, not held.
  EXPECT_EQ(d.push(0xFF), kReplacement);
  EXPECT_EQ(d.push(0xED), "");
  EXPECT_EQ(d.push(0xA0), kReplacement + kReplacement);  // ED then A0: two maximal subparts
}

TEST(TokenizerStreamDecoder, StreamsTheGoldenCases) {
  const Tokenizer& t = llama3();
  for (const Case& c : llama3_cases()) {
    const Ids ids = t.encode(c.text, c.add_special, c.parse_special);
    StreamDecoder d(t, /*special=*/true);
    std::string out;
    for (int32_t id : ids) out += d.push(id);
    out += d.flush();
    EXPECT_EQ(out, t.decode(ids, true)) << c.text;
  }
}

// ---------------------------------------------------------------------------------------
// Bad vocabularies: the tiny vocabulary's metadata, changed one key at a time.

class TokenizerBadVocab : public ::testing::Test {
 protected:
  // Writes the tiny vocabulary's tokenizer metadata with `changes` applied (a missing value
  // removes the key) and loads it.
  Tokenizer load_variant(const std::map<std::string, std::optional<Value>>& changes) {
    const File src = File::open(tern::test::data_path("tiny-bitnet-f16.gguf"));
    const std::string path = dir_.file("vocab.gguf");
    {
      Writer w(path);
      for (const auto& kv : src.metadata()) {
        if (kv.key.rfind("tokenizer.", 0) != 0 || changes.count(kv.key)) continue;
        w.set(kv.key, kv.value);
      }
      for (const auto& [key, value] : changes)
        if (value) w.set(key, *value);
      w.finish();
    }
    return Tokenizer::from_gguf(File::open(path));
  }

  std::vector<std::string> tiny_tokens() const {
    return File::open(tern::test::data_path("tiny-bitnet-f16.gguf"))
        .get_string_array("tokenizer.ggml.tokens");
  }

  tern::test::TempDir dir_;
};

TEST_F(TokenizerBadVocab, UnchangedCopyLoads) {
  const Tokenizer t = load_variant({});
  EXPECT_EQ(t.encode(" ab", true, false), (Ids{1008, 959}));
}

TEST_F(TokenizerBadVocab, MissingMerges) {
  expect_error(
      [&] {
        load_variant({{"tokenizer.ggml.merges", std::nullopt}});
      },
      {"tokenizer.ggml.merges", "vocab without merges", "vocab.gguf"});
}

TEST_F(TokenizerBadVocab, UnknownModel) {
  expect_error(
      [&] {
        load_variant({{"tokenizer.ggml.model", Value("llama")}});
      },
      {"tokenizer.ggml.model", "'llama'", "gpt2"});
  expect_error([&] { load_variant({{"tokenizer.ggml.model", std::nullopt}}); }, {"tokenizer.ggml.model"});
}

TEST_F(TokenizerBadVocab, UnknownPreTokenizer) {
  expect_error(
      [&] {
        load_variant({{"tokenizer.ggml.pre", Value("qwen2")}});
      },
      {"tokenizer.ggml.pre", "'qwen2'", "llama-bpe"});
}

TEST_F(TokenizerBadVocab, SpecialIdsOutOfRange) {
  for (const char* key : {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                          "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"}) {
    SCOPED_TRACE(key);
    expect_error([&] { load_variant({{key, Value(uint32_t{5000})}}); }, {key, "5000", "1024 tokens"});
  }
  expect_error(
      [&] {
        load_variant({{"tokenizer.ggml.bos_token_id", Value(int32_t{-1})}});
      },
      {"tokenizer.ggml.bos_token_id", "-1"});
  expect_error(
      [&] {
        load_variant({{"tokenizer.ggml.bos_token_id", Value(uint32_t{1024})}});
      },
      {"tokenizer.ggml.bos_token_id", "1024"});
}

TEST_F(TokenizerBadVocab, AddBosWithoutBos) {
  expect_error(
      [&] {
        load_variant({{"tokenizer.ggml.bos_token_id", std::nullopt}});
      },
      {"tokenizer.ggml.add_bos_token", "tokenizer.ggml.bos_token_id"});
  // Without add_bos_token, llama-bpe still adds BOS by default, so BOS is still required.
  expect_error(
      [&] {
        load_variant(
            {{"tokenizer.ggml.bos_token_id", std::nullopt}, {"tokenizer.ggml.add_bos_token", std::nullopt}});
      },
      {"tokenizer.ggml.add_bos_token"});
  const Tokenizer t = load_variant(
      {{"tokenizer.ggml.bos_token_id", std::nullopt}, {"tokenizer.ggml.add_bos_token", Value(false)}});
  EXPECT_EQ(t.bos(), kNoToken);
  EXPECT_EQ(t.encode(" ab", true, false), (Ids{959}));
}

TEST_F(TokenizerBadVocab, TokenTypes) {
  expect_error(
      [&] {
        load_variant({{"tokenizer.ggml.token_type", Value(Array(std::vector<int32_t>(1000, 1)))}});
      },
      {"tokenizer.ggml.token_type", "1000", "1024"});
  std::vector<int32_t> types(1024, 1);
  types[7] = 9;
  expect_error(
      [&] {
        load_variant({{"tokenizer.ggml.token_type", Value(Array(types))}});
      },
      {"tokenizer.ggml.token_type[7]", "9"});
  expect_error(
      [&] {
        load_variant({{"tokenizer.ggml.token_type", Value(Array(std::vector<std::string>{"x"}))}});
      },
      {"tokenizer.ggml.token_type"});
  // Without types every token is normal, so control texts are plain text, except the
  // end-of-turn texts that llama.cpp promotes to control.
  const Tokenizer t = load_variant({{"tokenizer.ggml.token_type", std::nullopt}});
  EXPECT_GT(t.encode("<|begin_of_text|>", false, true).size(), 1u);
  EXPECT_EQ(t.encode("<|eot_id|>", false, true), (Ids{1017}));
  EXPECT_TRUE(t.is_control(1017));
  EXPECT_FALSE(t.is_control(1008));
}

TEST_F(TokenizerBadVocab, TokensAndMergesWithWrongShape) {
  expect_error([&] { load_variant({{"tokenizer.ggml.tokens", std::nullopt}}); }, {"tokenizer.ggml.tokens"});
  expect_error(
      [&] {
        load_variant({{"tokenizer.ggml.tokens", Value(Array(std::vector<std::string>{}))}});
      },
      {"tokenizer.ggml.tokens", "empty"});
  expect_error(
      [&] {
        load_variant({{"tokenizer.ggml.merges", Value(Array(std::vector<int32_t>{1, 2}))}});
      },
      {"tokenizer.ggml.merges"});
  auto tokens = tiny_tokens();
  tokens[300] = tokens[299];
  expect_error(
      [&] {
        load_variant({{"tokenizer.ggml.tokens", Value(Array(tokens))}});
      },
      {"tokenizer.ggml.tokens", "duplicate", "299", "300"});
}

TEST_F(TokenizerBadVocab, MergesOutsideTheVocabularyWorkAsInLlamaCpp) {
  // llama.cpp keeps merges whose parts or result are not tokens and matches them on text.
  // Here "! ?" makes "!?" (not a token) and "!? #" makes "!?#" (added as token 1024).
  auto tokens = tiny_tokens();
  tokens.push_back("!?#");
  std::vector<int32_t> types(tokens.size(), 1);
  for (int i = 1008; i < 1024; ++i) types[i] = 3;
  auto merges =
      File::open(tern::test::data_path("tiny-bitnet-f16.gguf")).get_string_array("tokenizer.ggml.merges");
  merges.insert(merges.begin(), {"! ?", "!? #"});
  merges.push_back("x y");      // a second "x y": the first rank wins
  merges.push_back("q9 r9");    // neither part is a token: never fires
  merges.push_back("nospace");  // no separator: ignored
  const Tokenizer t = load_variant({{"tokenizer.ggml.tokens", Value(Array(tokens))},
                                    {"tokenizer.ggml.token_type", Value(Array(types))},
                                    {"tokenizer.ggml.merges", Value(Array(merges))}});
  EXPECT_EQ(t.n_vocab(), 1025);
  EXPECT_EQ(t.n_merges(), 752u + 5u);
  EXPECT_EQ(t.encode("!?#", false, false), (Ids{1024}));        // a whole-word token
  EXPECT_EQ(t.encode("!?#!", false, false), (Ids{1024, '!'}));  // BPE through "!?"
  // A final symbol that is not a token falls back to its single-byte tokens.
  EXPECT_EQ(t.encode("!?", false, false), (Ids{'!', '?'}));
  EXPECT_EQ(t.encode("!?!", false, false), (Ids{'!', '?', '!'}));
  EXPECT_EQ(t.encode("xy", false, false), (Ids{pair_id('x', 'y')}));
  EXPECT_EQ(t.encode(" xyz", false, false), (Ids{279, pair_id('y', 'z')}));
}

TEST_F(TokenizerBadVocab, OtherPreTokenizersLoad) {
  const Tokenizer gpt2 =
      load_variant({{"tokenizer.ggml.pre", Value("gpt2")}, {"tokenizer.ggml.add_bos_token", std::nullopt}});
  EXPECT_FALSE(gpt2.add_bos());  // only llama3 vocabularies add BOS by default
  EXPECT_EQ(gpt2.encode(" ab abc", true, false), (Ids{959, 256, pair_id('b', 'c')}));
  const Tokenizer def = load_variant({{"tokenizer.ggml.pre", std::nullopt}});
  EXPECT_EQ(def.pre(), "");
  EXPECT_EQ(def.encode(" ab, 12345", true, false), (Ids{1008, 959, ',', ' ', '1', '2', '3', '4', '5'}));
}

// ---------------------------------------------------------------------------------------
// Invalid UTF-8 and random bytes

TEST(TokenizerInvalidUtf8, BehavesLikeLlamaCpp) {
  const Tokenizer& t = llama3();
  const auto enc = [&](std::string_view s) { return t.encode(s, false, false); };
  // Bytes that start no sequence become U+FFFD, one per byte.
  EXPECT_EQ(enc("\xFF"), enc(kReplacement));
  EXPECT_EQ(enc("a\x80"
                "b"),
            enc("a" + kReplacement + "b"));
  EXPECT_EQ(enc("\xE4\xBD"), enc(kReplacement + kReplacement));  // truncated 3-byte form
  EXPECT_EQ(enc("\xC3(x"), enc(kReplacement + "(x"));
  // Lenient forms keep llama.cpp's meaning: overlong 'A', a surrogate's own bytes.
  EXPECT_EQ(enc("\xC1\x81"), enc("A"));
  EXPECT_EQ(enc("\xE0\x80\xA0"), enc(" "));
  EXPECT_EQ(t.decode(enc("x\xED\xA0\x80y")), "x\xED\xA0\x80y");
  // Above U+10FFFF (llama.cpp throws): U+FFFD.
  EXPECT_EQ(enc("\xF7\xBF\xBF\xBF"), enc(kReplacement));
  // Special-token parsing still works around invalid bytes.
  EXPECT_EQ(t.encode("\xFF<|eot_id|>\xFF", false, true), (Ids{5809, 128009, 5809}));
}

TEST(TokenizerInvalidUtf8, RandomBytesNeverCrash) {
  const Tokenizer& t = llama3();
  constexpr uint32_t kSeed = 20261126;
  std::mt19937 rng(kSeed);
  // Pieces that make interesting strings: partial and lenient UTF-8, specials, spaces.
  const std::vector<std::string> pool = {"a",
                                         "Z",
                                         "'s",
                                         "'LL",
                                         " ",
                                         "  ",
                                         "\n",
                                         "\r\n",
                                         "\t",
                                         "1",
                                         "234",
                                         ".",
                                         "!?",
                                         "<|",
                                         "|>",
                                         "<|eot_id|>",
                                         "<|begin_of_text|>",
                                         "\xC3\xA9",
                                         "\xE2\x82\xAC",
                                         "\xF0\x9F\x98\x80",
                                         "\xE2\x80\x8D",
                                         "\xC3",
                                         "\xE2\x82",
                                         "\xF0\x9F",
                                         "\x80",
                                         "\xBF",
                                         "\xFF",
                                         "\xFE",
                                         "\xC0\x80",
                                         "\xC1\xBF",
                                         "\xED\xA0\x80",
                                         "\xED\xBF\xBF",
                                         "\xF4\x90\x80\x80",
                                         "\xF7\xBF\xBF\xBF",
                                         "\xF8\x88\x80\x80\x80",
                                         "\xE3\x80\x80",
                                         "\xC2\xA0",
                                         "\xE1\xA0\x8E",
                                         "\xC5\xBF",
                                         std::string(1, '\0')};
  for (int iter = 0; iter < 3000; ++iter) {
    std::string s;
    const int mode = iter % 3;
    const int len = static_cast<int>(rng() % 40);
    for (int k = 0; k < len; ++k) {
      if (mode == 0) {
        s.push_back(static_cast<char>(rng() & 0xFF));
      } else if (mode == 1) {
        s += pool[rng() % pool.size()];
      } else {
        s.push_back(static_cast<char>(0x80 | (rng() & 0x7F)));  // high bytes only
      }
    }
    const bool add_special = rng() & 1, parse_special = rng() & 1;
    SCOPED_TRACE("seed " + std::to_string(kSeed) + " iteration " + std::to_string(iter) + " input bytes " +
                 hex(s) + " add_special " + std::to_string(add_special) + " parse_special " +
                 std::to_string(parse_special));
    Ids ids;
    ASSERT_NO_THROW(ids = t.encode(s, add_special, parse_special));
    for (int32_t id : ids) ASSERT_TRUE(id >= 0 && id < t.n_vocab()) << id;
    if (!parse_special) {
      // Decoding gives back what llama.cpp encoded: the input after lenient decoding.
      ASSERT_EQ(t.decode(ids), llama_normalize(s)) << "ids " << ids_str(ids);
    }
    StreamDecoder d(t, true);
    std::string streamed;
    for (int32_t id : ids) {
      const std::string piece = d.push(id);
      ASSERT_TRUE(tern::tokenizer::utf8::is_valid(piece));
      streamed += piece;
    }
    streamed += d.flush();
    ASSERT_EQ(streamed, tern::tokenizer::utf8::sanitize(t.decode(ids, true)));
  }
}

// ---------------------------------------------------------------------------------------
// Speed

std::string sample_text(size_t bytes) {
  // Pseudo-random prose, code and non-Latin words, so that words rarely repeat verbatim.
  static const std::vector<std::string> words = {
      "the",        "quick",       "brown",    "fox",
      "jumps",      "over",        "lazy",     "dog",
      "tokenizer",  "ternary",     "weights",  "int main() {",
      "return 0;",  "x += y * 2;", "naïve",    "café",
      "Привет",     "мир",         "你好",     "世界",
      "こんにちは", "😀",           "2024",     "3.14159",
      "don't",      "we'll",       "HTTP/1.1", "https://example.com/a?b=c",
      "\n",         "\n\n",        "    ",     "\t",
      "—",          "«quoted»",    "Straße",   "Ελληνικά",
      "مرحبا",      "नमस्ते"};
  std::mt19937 rng(7);
  std::string s;
  while (s.size() < bytes) {
    const std::string& w = words[rng() % words.size()];
    s += w;
    if (rng() % 4) s += ' ';
    if (rng() % 5 == 0) s += std::to_string(rng() % 100000);
  }
  return s;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

TEST(TokenizerSpeed, Encodes100KBInUnderASecond) {
  const Tokenizer& t = llama3();
  const std::string text = sample_text(100 * 1024);
  t.encode("warm up", false, false);
  const auto start = std::chrono::steady_clock::now();
  const Ids ids = t.encode(text, true, true);
  const double s = seconds_since(start);
  EXPECT_LT(s, 1.0) << "encoding " << text.size() << " bytes took " << s << " s";
  EXPECT_EQ(t.decode(ids), text);
  std::printf("[ tokenizer ] encode %zu bytes -> %zu tokens in %.2f ms (%.1f MB/s)\n", text.size(),
              ids.size(), s * 1e3, text.size() / s / 1e6);
  RecordProperty("encode_100kb_ms", std::to_string(s * 1e3));
}

TEST(TokenizerSpeed, LongRunsStayFast) {
  const Tokenizer& t = llama3();
  for (const std::string& text :
       {std::string(200000, ' '), std::string(200000, 'a'), std::string(100000, '7'),
        std::string(100000, '!'), std::string(100000, '\n')}) {
    const auto start = std::chrono::steady_clock::now();
    const Ids ids = t.encode(text, false, false);
    const double s = seconds_since(start);
    EXPECT_LT(s, 2.0) << "run of '" << text[0] << "' took " << s << " s";
    EXPECT_EQ(t.decode(ids), text);
  }
}

TEST(TokenizerSpeed, LoadsLlama3Vocabulary) {
  const auto start = std::chrono::steady_clock::now();
  const Tokenizer t = load("ggml-vocab-llama-bpe.gguf");
  const double s = seconds_since(start);
  EXPECT_LT(s, 5.0);
  std::printf("[ tokenizer ] load llama3 vocabulary (128256 tokens, 280147 merges) in %.1f ms\n", s * 1e3);
  RecordProperty("load_llama3_ms", std::to_string(s * 1e3));
}

}  // namespace
