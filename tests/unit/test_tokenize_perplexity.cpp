// `tern tokenize` and `tern perplexity` as a user runs them: tokenize gives llama.cpp's ids for
// the llama3 vocabulary in llama-tokenize's formats, perplexity follows llama-perplexity's method
// and equals a perplexity recomputed here from `tern eval` logits of the same chunks.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <sstream>

#include "test_helpers.h"

namespace tern {
namespace {

using test::run_tern;

const std::string kTiny = test::data_path("tiny-bitnet-tq2_0.gguf");
const std::string kVocab = test::data_path("ggml-vocab-llama-bpe.gguf");

// `s` as one single-quoted shell word.
std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// "[1, 2, 3]\n" -> {1, 2, 3}
std::vector<int32_t> parse_id_list(const std::string& out) {
  EXPECT_TRUE(out.starts_with("[") && out.ends_with("]\n")) << out;
  std::vector<int32_t> ids;
  std::string inner = out.substr(1, out.size() - 3);
  std::istringstream in(inner);
  for (std::string item; std::getline(in, item, ',');) ids.push_back(std::stoi(item));
  return ids;
}

std::vector<int32_t> tokenize_ids(const std::string& model, const std::string& args) {
  const auto r = run_tern("tokenize -m " + model + " --ids " + args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return parse_id_list(r.out);
}

// Random lowercase words: text the tiny vocabulary (bytes and merges of lowercase letters)
// tokenizes into many short tokens.
std::string random_words(size_t n_words, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::string> words;
  for (int i = 0; i < 40; ++i) {
    std::string w;
    const int len = 2 + static_cast<int>(rng() % 6);
    for (int k = 0; k < len; ++k) w += static_cast<char>('a' + rng() % 26);
    words.push_back(w);
  }
  std::string text;
  for (size_t i = 0; i < n_words; ++i)
    text += (i ? (i % 17 == 16 ? "\n" : " ") : "") + words[rng() % words.size()];
  return text + "\n";
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
}

std::vector<float> read_floats(const std::string& path) {
  const std::vector<uint8_t> bytes = test::read_bytes(path);
  std::vector<float> out(bytes.size() / sizeof(float));
  std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
  return out;
}

struct Reference {
  std::vector<double> running;  // PPL after each chunk
  double ppl = 0;
  size_t n_tokens = 0;
};

// llama-perplexity's method, recomputed from the CLI's pieces: the ids of `tern tokenize
// --ids`, the logits of `tern eval` over each chunk (first token replaced by BOS), and the
// mean of -log softmax over the second half of each chunk's positions, in double.
Reference reference_perplexity(const std::string& model, const std::string& text_file, size_t ctx,
                               size_t n_vocab) {
  Reference ref;
  const std::vector<int32_t> tokens = tokenize_ids(model, "-f " + text_file);
  const std::vector<int32_t> empty = tokenize_ids(model, "-p ''");  // [BOS] when the vocabulary adds it
  ref.n_tokens = tokens.size();
  test::TempDir tmp;
  const size_t first = ctx / 2;
  double nll = 0;
  size_t count = 0;
  for (size_t c = 0; c < tokens.size() / ctx; ++c) {
    std::vector<int32_t> chunk(tokens.begin() + static_cast<ptrdiff_t>(c * ctx),
                               tokens.begin() + static_cast<ptrdiff_t>((c + 1) * ctx));
    if (!empty.empty()) chunk[0] = empty[0];
    std::string list;
    for (int32_t t : chunk) list.append(list.empty() ? "" : ",").append(std::to_string(t));
    const std::string out = tmp.file("chunk.f32");
    const auto r = run_tern("eval -m " + model + " -t 1 --tokens " + list + " --logits " + out);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const std::vector<float> logits = read_floats(out);
    EXPECT_EQ(logits.size(), ctx * n_vocab);
    if (logits.size() != ctx * n_vocab) return ref;
    for (size_t j = first; j + 1 < ctx; ++j) {
      const float* row = logits.data() + j * n_vocab;
      double max = row[0];
      for (size_t v = 1; v < n_vocab; ++v) max = std::max(max, static_cast<double>(row[v]));
      double sum = 0;
      for (size_t v = 0; v < n_vocab; ++v) sum += std::exp(row[v] - max);
      nll += max + std::log(sum) - row[chunk[j + 1]];
      ++count;
    }
    ref.running.push_back(std::exp(nll / static_cast<double>(count)));
  }
  ref.ppl = ref.running.empty() ? 0 : ref.running.back();
  return ref;
}

nlohmann::json perplexity_json(const std::string& args) {
  const auto r = run_tern("perplexity " + args + " --json");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return nlohmann::json::parse(r.out);
}

TEST(TokenizePerplexity, IdsEqualLlamaCppsForTheLlama3Cases) {
  std::ifstream f(test::data_path("llama3-tokenizer-cases.json"));
  const auto cases = nlohmann::json::parse(f)["cases"];
  const std::vector<std::string> texts = {
      "Hello world",
      "  hello",
      "don't",
      "I'm sure you're right, they'll see we've won.",
      "line1\n\nline2\n\n\n",
      "café",
      "👍🏽 ok",
      "$HOME/.config/app.json",
      "",
      "<|eot_id|> as text",
      "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>",
  };
  size_t checked = 0, with_bos = 0, with_special = 0;
  for (const auto& c : cases) {
    const std::string text = c["text"];
    if (std::find(texts.begin(), texts.end(), text) == texts.end()) continue;
    std::string flags = c["add_special"].get<bool>() ? "" : " --no-bos";
    if (c["parse_special"].get<bool>()) flags += " --parse-special";
    EXPECT_EQ(tokenize_ids(kVocab, "-p " + quote(text) + flags), c["ids"].get<std::vector<int32_t>>())
        << quote(text) << flags;
    ++checked;
    with_bos += c["add_special"].get<bool>();
    with_special += c["parse_special"].get<bool>();
  }
  EXPECT_GE(checked, texts.size());
  EXPECT_GE(with_bos, 2u);  // "Hello world" and "" with BOS
  EXPECT_GE(with_special, 1u);
}

TEST(TokenizePerplexity, OutputFormatsAreLlamaTokenizes) {
  // The default: "%6d -> '%s'" per token, control tokens spelled out.
  auto r = run_tern("tokenize -m " + kVocab + " -p 'Hello world'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "128000 -> '<|begin_of_text|>'\n  9906 -> 'Hello'\n  1917 -> ' world'\n");

  r = run_tern("tokenize -m " + kVocab + " -p 'Hello world' --ids");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "[128000, 9906, 1917]\n");

  r = run_tern("tokenize -m " + kVocab + " -p 'Hello world' --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["tokens"].get<std::vector<int32_t>>(), (std::vector<int32_t>{128000, 9906, 1917}));
  EXPECT_EQ(j["pieces"].get<std::vector<std::string>>(),
            (std::vector<std::string>{"<|begin_of_text|>", "Hello", " world"}));

  // A piece that is only part of a character prints as llama-tokenize prints undecodable ones.
  r = run_tern("tokenize -m " + kVocab + " -p '😀' --no-bos");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            " 76460 -> '<f0 9f 98>' (utf-8 decode failure)\n   222 -> '<80>' (utf-8 decode failure)\n");
  r = run_tern("tokenize -m " + kVocab + " -p '😀' --no-bos --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["tokens"].get<std::vector<int32_t>>(), (std::vector<int32_t>{76460, 222}));
  EXPECT_EQ(j["pieces"].get<std::vector<std::string>>(),
            (std::vector<std::string>{"\xEF\xBF\xBD", "\xEF\xBF\xBD"}));

  // --parse-special: special-token text becomes the token, and prints as its text.
  r = run_tern("tokenize -m " + kVocab + " -p 'a<|eot_id|>' --no-bos --parse-special");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "    64 -> 'a'\n128009 -> '<|eot_id|>'\n");

  // No tokens at all.
  r = run_tern("tokenize -m " + kVocab + " -p '' --no-bos --ids");
  EXPECT_EQ(r.out, "[]\n");
  r = run_tern("tokenize -m " + kVocab + " -p '' --no-bos");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "");
}

TEST(TokenizePerplexity, VocabOnlyFilesAndModelFilesBothWork) {
  // The llama3 vocab file has no tensors at all: a Model could not load from it.
  auto r = run_tern("inspect " + kVocab);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("tensors: 0"), std::string::npos) << r.out;
  EXPECT_EQ(tokenize_ids(kVocab, "-p 'Hello world'"), (std::vector<int32_t>{128000, 9906, 1917}));

  // A model file: BOS 1008 per its add_bos_token, and -f reads the same text as -p.
  test::TempDir tmp;
  write_text(tmp.file("t.txt"), "hello there world");
  const auto ids = tokenize_ids(kTiny, "-p 'hello there world'");
  ASSERT_GT(ids.size(), 1u);
  EXPECT_EQ(ids[0], 1008);
  EXPECT_EQ(tokenize_ids(kTiny, "-f " + tmp.file("t.txt")), ids);
  EXPECT_EQ(tokenize_ids(kTiny, "-p 'hello there world' --no-bos"),
            std::vector<int32_t>(ids.begin() + 1, ids.end()));
}

TEST(TokenizePerplexity, TokenizeErrorsAreOneLine) {
  auto r = run_tern("tokenize -m " + kVocab + " -p \"$(printf 'ab\\377cd')\"");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(test::count_lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("invalid UTF-8 at byte offset 2"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty());

  r = run_tern("tokenize -m " + kVocab + " -p \"$(printf 'okay\\342\\202')\"");  // cut-off euro sign
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("byte offset 4"), std::string::npos) << r.err;

  test::TempDir tmp;
  write_text(tmp.file("bad.txt"), "abc\xC3");
  r = run_tern("tokenize -m " + kVocab + " -f " + tmp.file("bad.txt"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(test::count_lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("bad.txt: invalid UTF-8 at byte offset 3"), std::string::npos) << r.err;

  for (const std::string& args :
       std::vector<std::string>{"-p hi --ids --json", "", "-p hi -f " + tmp.file("bad.txt")}) {
    r = run_tern("tokenize -m " + kVocab + " " + args);
    EXPECT_EQ(r.exit_code, 2) << args;
    EXPECT_EQ(test::count_lines(r.err), 1u) << args << r.err;
  }
  r = run_tern("tokenize -p hi");
  EXPECT_EQ(r.exit_code, 2);
  r = run_tern("tokenize -m /nonexistent.gguf -p hi");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("/nonexistent.gguf"), std::string::npos) << r.err;
  r = run_tern("tokenize -m " + kVocab + " -f /nonexistent.txt");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("/nonexistent.txt"), std::string::npos) << r.err;
}

TEST(TokenizePerplexity, PerplexityPrintsRunningPplAndTheFinalEstimate) {
  test::TempDir tmp;
  const std::string text = tmp.file("words.txt");
  write_text(text, random_words(160, 1));
  const size_t n_tokens = tokenize_ids(kTiny, "-f " + text).size();
  ASSERT_GE(n_tokens, 4u * 64);
  const size_t n_chunks = n_tokens / 64;

  const auto r = run_tern("perplexity -m " + kTiny + " -f " + text + " --ctx 64 -t 1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::regex shape(
      R"(((\[\d+\]\d+\.\d{4},)+)\nFinal estimate: PPL = (\d+\.\d{4}) \+/- (\d+\.\d{5})\n)");
  std::smatch m;
  ASSERT_TRUE(std::regex_match(r.out, m, shape)) << r.out;
  std::vector<std::string> items;
  std::istringstream list(m[1].str());
  for (std::string item; std::getline(list, item, ',');) items.push_back(item);
  ASSERT_EQ(items.size(), n_chunks) << r.out;
  for (size_t i = 0; i < n_chunks; ++i)
    EXPECT_TRUE(items[i].starts_with(std::string("[").append(std::to_string(i + 1)).append("]"))) << items[i];
  const double ppl = std::stod(m[3].str()), err = std::stod(m[4].str());
  EXPECT_TRUE(std::isfinite(ppl));
  EXPECT_GT(ppl, 1.0);
  EXPECT_GT(err, 0.0);
  EXPECT_LT(err, ppl);
  EXPECT_EQ(items.back().substr(items.back().find(']') + 1), m[3].str());  // the last running value
  EXPECT_NE(r.err.find(std::to_string(n_tokens) + " tokens"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(std::to_string(n_chunks) + " chunks"), std::string::npos) << r.err;

  // The JSON carries the same numbers at full precision.
  const auto j = perplexity_json("-m " + kTiny + " -f " + text + " --ctx 64 -t 1");
  EXPECT_EQ(j["n_tokens"], n_tokens);
  EXPECT_EQ(j["n_chunks"], n_chunks);
  EXPECT_EQ(j["scored_tokens"], n_chunks * 31);  // positions 32..62 of each chunk of 64
  EXPECT_EQ(j["chunks"].size(), n_chunks);
  EXPECT_NEAR(j["ppl"].get<double>(), ppl, 1e-4);
  EXPECT_NEAR(j["ppl_stderr"].get<double>(), err, 1e-5);

  // --chunks keeps the first N: their running values are the full run's.
  const auto two = perplexity_json("-m " + kTiny + " -f " + text + " --ctx 64 -t 1 --chunks 2");
  ASSERT_EQ(two["chunks"].size(), 2u);
  EXPECT_EQ(two["chunks"][1], j["chunks"][1]);
  EXPECT_EQ(two["ppl"], j["chunks"][1]);
}

TEST(TokenizePerplexity, PerplexityEqualsOneRecomputedFromEvalLogits) {
  test::TempDir tmp;
  const std::string text = tmp.file("words.txt");
  write_text(text, random_words(120, 2));
  const Reference ref = reference_perplexity(kTiny, text, 64, 1024);
  ASSERT_GE(ref.running.size(), 2u);

  const auto j = perplexity_json("-m " + kTiny + " -f " + text + " --ctx 64 -t 1");
  EXPECT_EQ(j["n_tokens"], ref.n_tokens);
  const auto running = j["chunks"].get<std::vector<double>>();
  ASSERT_EQ(running.size(), ref.running.size());
  for (size_t i = 0; i < running.size(); ++i)
    EXPECT_NEAR(running[i], ref.running[i], 1e-6 * ref.running[i]) << "chunk " << i + 1;
  const double ppl = j["ppl"].get<double>();
  EXPECT_NEAR(ppl, ref.ppl, 1e-6 * ref.ppl);
  EXPECT_TRUE(std::isfinite(ppl));
  EXPECT_GT(ppl, 1.0);
}

TEST(TokenizePerplexity, TheThreadCountDoesNotChangeThePpl) {
  test::TempDir tmp;
  const std::string text = tmp.file("words.txt");
  write_text(text, random_words(120, 3));
  const auto one = perplexity_json("-m " + kTiny + " -f " + text + " --ctx 64 -t 1");
  const auto two = perplexity_json("-m " + kTiny + " -f " + text + " --ctx 64 -t 2");
  EXPECT_EQ(one["threads"], 1);
  EXPECT_EQ(two["threads"], 2);
  EXPECT_EQ(one["ppl"].get<double>(), two["ppl"].get<double>());  // exactly
  EXPECT_EQ(one["chunks"], two["chunks"]);
  EXPECT_EQ(one["ppl_stderr"], two["ppl_stderr"]);
  const auto a = run_tern("perplexity -m " + kTiny + " -f " + text + " --ctx 64 -t 1");
  const auto b = run_tern("perplexity -m " + kTiny + " -f " + text + " --ctx 64 -t 2");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
}

TEST(TokenizePerplexity, PerplexityErrors) {
  test::TempDir tmp;
  const std::string text = tmp.file("short.txt");
  write_text(text, random_words(30, 4));
  const size_t n_tokens = tokenize_ids(kTiny, "-f " + text).size();
  ASSERT_LT(n_tokens, 128u);
  auto r = run_tern("perplexity -m " + kTiny + " -f " + text + " --ctx 64 -t 1");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_NE(r.err.find("only " + std::to_string(n_tokens) + " tokens"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("context of 64"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("at least 2 x 64 = 128 tokens"), std::string::npos) << r.err;
  EXPECT_EQ(test::count_lines(r.err), 1u) << r.err;

  for (const char* bad : {"--ctx 2", "-t 0", "-t 1025", "--chunks 0", "--chunks=-2"}) {
    r = run_tern("perplexity -m " + kTiny + " -f " + text + " " + bad);
    EXPECT_EQ(r.exit_code, 2) << bad;
    EXPECT_EQ(test::count_lines(r.err), 1u) << bad << r.err;
  }
  r = run_tern("perplexity -m " + kTiny + " -f /nonexistent.txt --ctx 64");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("/nonexistent.txt"), std::string::npos) << r.err;
  write_text(tmp.file("bad.txt"), "ab\xFF");
  r = run_tern("perplexity -m " + kTiny + " -f " + tmp.file("bad.txt") + " --ctx 64");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("invalid UTF-8 at byte offset 2"), std::string::npos) << r.err;
  r = run_tern("perplexity -m /nonexistent.gguf -f " + text);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("/nonexistent.gguf"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace tern
