// `tern run` and `tern bench` as a user runs them: greedy generation equals a Session +
// argmax loop, the errors are one line, and bench prints llama-bench's table and JSON.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "runtime/gguf/gguf.h"
#include "runtime/model/model.h"
#include "runtime/model/session.h"
#include "runtime/tokenizer/tokenizer.h"
#include "runtime/tokenizer/utf8.h"
#include "test_helpers.h"

namespace tern {
namespace {

using test::run_tern;

const std::string kTiny = test::data_path("tiny-bitnet-tq2_0.gguf");

struct Generation {
  std::vector<int32_t> prompt, ids;
  std::string text;
};

// The plainest possible greedy loop, written without the Sampler.
Generation reference_greedy(const std::string& path, const std::string& prompt, size_t n) {
  gguf::File file = gguf::File::open(path);
  const auto tok = tokenizer::Tokenizer::from_gguf(file);
  const model::Model m = model::Model::from_file(std::move(file));
  Generation g;
  g.prompt = tok.encode(prompt, true, false);
  model::Session s(m);
  std::vector<float> logits(m.hparams().n_vocab);
  s.eval(g.prompt.data(), g.prompt.size(), logits.data(), false);
  for (size_t i = 0; i < n; ++i) {
    int32_t best = 0;
    for (size_t v = 1; v < logits.size(); ++v)
      if (logits[v] > logits[static_cast<size_t>(best)]) best = static_cast<int32_t>(v);
    if (tok.is_eog(best)) break;
    g.ids.push_back(best);
    if (i + 1 < n) s.eval(&best, 1, logits.data(), false);
  }
  g.text = tokenizer::utf8::sanitize(tok.decode(g.ids));
  return g;
}

nlohmann::json run_json(const std::string& args) {
  auto r = run_tern("run " + args + " --json");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return nlohmann::json::parse(r.out);
}

TEST(RunBench, GreedyRunEqualsASessionArgmaxLoop) {
  test::TempDir tmp;
  const std::string synth = tmp.file("synth-tiny.gguf");
  auto s = run_tern("synth --preset tiny -o " + synth);
  ASSERT_EQ(s.exit_code, 0) << s.err;

  for (const std::string& model : {kTiny, synth}) {
    const Generation want = reference_greedy(model, "Hello world, the", 20);
    ASSERT_FALSE(want.ids.empty());
    for (const char* threads : {"1", "2"}) {
      const auto j = run_json("-m " + model + " -p 'Hello world, the' -n 20 --temp 0 -t " + threads);
      EXPECT_EQ(j["prompt_tokens"].get<std::vector<int32_t>>(), want.prompt) << model;
      EXPECT_EQ(j["tokens"].get<std::vector<int32_t>>(), want.ids) << model << " -t " << threads;
      EXPECT_EQ(j["text"].get<std::string>(), want.text) << model;
      EXPECT_EQ(j["stop"], want.ids.size() == 20 ? "length" : "eog");
      EXPECT_EQ(j["timings"]["prompt_n"], want.prompt.size());
      EXPECT_GT(j["timings"]["prompt_per_second"].get<double>(), 0.0);
    }
  }
}

TEST(RunBench, RunStreamsThePromptAndTheTextAndPrintsTimings) {
  const Generation want = reference_greedy(kTiny, "Hello world", 12);
  auto r = run_tern("run -m " + kTiny + " -p 'Hello world' -n 12 --temp 0 -t 1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "Hello world" + want.text + "\n");
  for (const char* what : {"load", "prompt", "generation", "tokens per second", "prompt tokens"})
    EXPECT_NE(r.err.find(what), std::string::npos) << what << "\n" << r.err;

  r = run_tern("run -m " + kTiny + " -p 'Hello world' -n 12 --temp 0 -t 1 --no-display-prompt");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, want.text + "\n");
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitizedBuild = true;
#else
constexpr bool kSanitizedBuild = false;
#endif

// The runtime issue's memory budget: what a run adds to the process's resident set
// stays within the mapped file + the weights the model holds + the KV cache, plus
// 10 %. A model of tens of MB (the "small" preset, F16 head, two TQ formats), so the
// budget is not lost in the noise of the allocator and the thread stacks.
TEST(RunBench, PeakMemoryStaysWithinFilePlusWeightsPlusKvCache) {
  test::TempDir tmp;
  for (const char* type : {"tq2_0", "tq1_0"}) {
    SCOPED_TRACE(type);
    const std::string model = tmp.file(std::string("small-") + type + ".gguf");
    auto s = run_tern("synth --preset small --type " + std::string(type) + " -o " + model);
    ASSERT_EQ(s.exit_code, 0) << s.err;
    const auto j = run_json("-m " + model + " -p 'Hello world, the' -n 8 --temp 0 -t 2");
    const auto& mem = j["memory"];
    const double before = mem["rss_before_load_bytes"], peak = mem["peak_rss_bytes"];
    const double file = mem["file_bytes"], weights = mem["weight_bytes"], kv = mem["kv_cache_bytes"];
    ASSERT_GT(peak, before);
    EXPECT_GT(file, 50e6) << "the model is too small for the budget to mean anything";
    EXPECT_GT(weights, 0.0);
    EXPECT_GT(kv, 0.0);
    const double budget = 1.10 * (file + weights + kv);
    // ASan and TSan keep shadow memory and quarantines by design: there the run is checked for
    // memory errors, and the budget is held in the plain builds.
    if (!kSanitizedBuild) {
      EXPECT_LE(peak - before, budget) << "peak " << peak / 1e6 << " MB, before loading " << before / 1e6
                                       << " MB, file " << file / 1e6 << " + weights " << weights / 1e6
                                       << " + KV " << kv / 1e6 << " MB";
    }
    std::printf("[ info ] %s: the run added %.1f MB; budget %.1f MB (file %.1f + weights %.1f + KV %.1f, + 10 %%)\n",
                type, (peak - before) / 1e6, budget / 1e6, file / 1e6, weights / 1e6, kv / 1e6);
  }
}

// --profile: every part of the forward pass is timed, the parts add up to no more
// than the prompt and generation time, and the matmuls and the head take some.
TEST(RunBench, ProfileTimesEveryPartOfTheForwardPass) {
  const auto j = run_json("-m " + kTiny + " -p 'Hello world' -n 8 --temp 0 -t 2 --profile");
  const auto& p = j["profile_ms"];
  ASSERT_EQ(p.size(), 8u) << p.dump();
  double sum = 0;
  for (const auto& [part, ms] : p.items()) {
    EXPECT_GE(ms.get<double>(), 0.0) << part;
    sum += ms.get<double>();
  }
  EXPECT_GT(p["ternary matmuls"].get<double>(), 0.0);
  EXPECT_GT(p["LM head"].get<double>(), 0.0);
  EXPECT_GT(p["attention"].get<double>(), 0.0);
  EXPECT_LE(sum, j["timings"]["prompt_ms"].get<double>() + j["timings"]["predicted_ms"].get<double>() + 1.0);
  auto r = run_tern("run -m " + kTiny + " -p 'Hello world' -n 4 --temp 0 -t 1 --profile");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* what : {"profile:", "ternary matmuls", "LM head", "RMS norms", "activation quantisation"})
    EXPECT_NE(r.err.find(what), std::string::npos) << what << "\n" << r.err;
  // Without --profile nothing is timed.
  EXPECT_TRUE(run_json("-m " + kTiny + " -p 'Hello' -n 2 --temp 0 -t 1")["profile_ms"].empty());
}

TEST(RunBench, NoBosAndSpecial) {
  gguf::File file = gguf::File::open(kTiny);
  const auto tok = tokenizer::Tokenizer::from_gguf(file);
  auto j = run_json("-m " + kTiny + " -p 'Hello' -n 1 --temp 0 -t 1 --no-bos");
  EXPECT_EQ(j["prompt_tokens"].get<std::vector<int32_t>>(), tok.encode("Hello", false, false));
  const std::string bos_text = tok.token_text(tok.bos());
  j = run_json("-m " + kTiny + " -p '" + bos_text + "Hello' -n 1 --temp 0 -t 1 --no-bos --special");
  EXPECT_EQ(j["prompt_tokens"].get<std::vector<int32_t>>(), tok.encode(bos_text + "Hello", false, true));
  EXPECT_EQ(j["prompt_tokens"][0], tok.bos());
}

TEST(RunBench, APromptLongerThanTheContextIsAnErrorUnlessTruncated) {
  std::string prompt;
  for (int i = 0; i < 40; ++i) prompt += "word ";
  gguf::File file = gguf::File::open(kTiny);
  const size_t n_tokens = tokenizer::Tokenizer::from_gguf(file).encode(prompt, true, false).size();
  ASSERT_GT(n_tokens, 16u);
  auto r = run_tern("run -m " + kTiny + " -p '" + prompt + "' -n 4 -c 16 -t 1");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(test::count_lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("prompt is " + std::to_string(n_tokens) + " tokens"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("context holds 16"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--truncate"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty());

  // --truncate keeps BOS and the last tokens, leaving room for -n (up to half the context).
  const auto j =
      run_json("-m " + kTiny + " -p '" + prompt + "' -n 4 -c 16 -t 1 --temp 0 --truncate --ignore-eos");
  const auto kept = j["prompt_tokens"].get<std::vector<int32_t>>();
  ASSERT_EQ(kept.size(), 12u);
  EXPECT_EQ(kept[0], 1008);  // BOS
  EXPECT_EQ(j["tokens"].size(), 4u);

  // A context that fills up stops the generation.
  const auto full = run_json("-m " + kTiny + " -p 'Hello' -n 50 -c 8 -t 1 --temp 0 --ignore-eos");
  EXPECT_EQ(full["stop"], "context");
  EXPECT_EQ(full["prompt_tokens"].size() + full["tokens"].size(), 9u);  // the last token is never evaluated
}

TEST(RunBench, BadArgumentsAreOneLineErrors) {
  auto r = run_tern("run -m " + kTiny + " -p \"$(printf 'ab\\377cd')\" -n 4");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(test::count_lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("invalid UTF-8 at byte offset 2"), std::string::npos) << r.err;

  r = run_tern("run -m " + kTiny + " -p \"$(printf 'ok\\342\\202')\" -n 4");  // cut-off euro sign
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("byte offset 2"), std::string::npos) << r.err;

  for (const char* t : {"-t 0", "--threads=-1", "-t 1025"}) {
    r = run_tern("run -m " + kTiny + " -p hi " + t);
    EXPECT_EQ(r.exit_code, 2) << t;
    EXPECT_EQ(test::count_lines(r.err), 1u) << t << r.err;
    EXPECT_NE(r.err.find("threads"), std::string::npos) << r.err;
  }
  r = run_tern("run -m " + kTiny + " -p hi --top-p 2");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("top-p 2"), std::string::npos) << r.err;
  r = run_tern("run -m " + kTiny + " -p '' --no-bos");
  EXPECT_EQ(r.exit_code, 2);
  r = run_tern("run -m /nonexistent.gguf -p hi");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("/nonexistent.gguf"), std::string::npos) << r.err;

  r = run_tern("bench -m " + kTiny + " -t 1,0");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("threads"), std::string::npos) << r.err;
  r = run_tern("bench -m " + kTiny + " -o sql");  // llama-bench has it; tern does not
  EXPECT_EQ(r.exit_code, 2);
}

// llama-cli's -f: a long or multi-line prompt from a file, the same tokens and text as the
// same string given with -p; and --kv, the KV cache's element type (run, bench, perplexity).
TEST(RunBench, PromptFromAFileAndTheKvCacheType) {
  test::TempDir tmp;
  const std::string text = "The capital of France is\nParis; \xe2\x82\xac is the euro.\n";
  auto write = [&](const std::string& name, const std::string& bytes) {
    std::ofstream(tmp.file(name), std::ios::binary) << bytes;
    return tmp.file(name);
  };
  const std::string file = write("prompt.txt", text);
  const Generation g = reference_greedy(kTiny, text, 6);
  const auto j = run_json("-m " + kTiny + " -f " + file + " -n 6 -t 1 --temp 0");
  EXPECT_EQ(j["prompt_tokens"].get<std::vector<int32_t>>(), g.prompt);
  EXPECT_EQ(j["tokens"].get<std::vector<int32_t>>(), g.ids);

  auto r = run_tern("run -m " + kTiny + " -p hi -f " + file + " -n 2");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(test::count_lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("not both"), std::string::npos) << r.err;
  r = run_tern("run -m " + kTiny + " -f " + tmp.file("missing.txt") + " -n 2");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(test::count_lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("missing.txt: cannot open the text file"), std::string::npos) << r.err;
  r = run_tern("run -m " + kTiny + " -f " + write("bad.txt", "ab\xff") + " -n 2");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("bad.txt: invalid UTF-8 at byte offset 2"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty());

  // f32 keeps twice the bytes per position; a bad type is a usage error everywhere.
  const auto f16 = run_json("-m " + kTiny + " -p hi -n 2 -c 64 -t 1 --temp 0");
  const auto f32 = run_json("-m " + kTiny + " -p hi -n 2 -c 64 -t 1 --temp 0 --kv f32");
  EXPECT_GT(f16["memory"]["kv_cache_bytes"].get<uint64_t>(), 0u);
  EXPECT_EQ(f32["memory"]["kv_cache_bytes"].get<uint64_t>(), 2 * f16["memory"]["kv_cache_bytes"].get<uint64_t>());
  r = run_tern("bench -m " + kTiny + " -p 4 -n 2 -r 1 -t 1 --kv f32 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const auto& t : nlohmann::json::parse(r.out)) {
    EXPECT_EQ(t["type_k"], "f32");
    EXPECT_EQ(t["type_v"], "f32");
  }
  r = run_tern("perplexity -m " + kTiny + " -f " + write("text.txt", text + text + text) + " --ctx 8 -t 1 --kv f32");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  for (const char* cmd : {"run -p hi", "bench", "perplexity -f " /* file below */}) {
    std::string args = std::string(cmd) + (std::string(cmd).find("-f") != std::string::npos ? file : "");
    r = run_tern(args + " -m " + kTiny + " --kv q8_0");
    EXPECT_EQ(r.exit_code, 2) << args;
    EXPECT_EQ(test::count_lines(r.err), 1u) << args << ": " << r.err;
    EXPECT_NE(r.err.find("--kv q8_0: expected f16|f32"), std::string::npos) << args << ": " << r.err;
  }
}

TEST(RunBench, TheSameSeedGivesTheSameText) {
  const std::string args = "-m " + kTiny + " -p 'Once upon' -n 24 -t 1 --temp 1.2 --top-k 0 --min-p 0 ";
  auto a = run_tern("run " + args + "--seed 5");
  auto b = run_tern("run " + args + "--seed 5");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.err.find("seed 5"), std::string::npos) << a.err;

  const auto ja = run_json(args + "--seed 5");
  const auto jc = run_json(args + "--seed 6");
  EXPECT_NE(ja["tokens"], jc["tokens"]);
  EXPECT_EQ(ja["seed"], 5);
}

TEST(RunBench, BenchPrintsLlamaBenchsTable) {
  auto r = run_tern("bench -m " + kTiny + " -p 16 -n 4 -r 2 -t 1,2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream in(r.out);
  std::vector<std::string> rows;
  for (std::string line; std::getline(in, line);)
    if (line.starts_with("|")) rows.push_back(line);
  ASSERT_EQ(rows.size(), 6u) << r.out;  // header, separator, 4 tests
  for (const char* col :
       {"model", "size", "params", "backend", "threads", "test", "t/s", "bytes/token", "roofline"})
    EXPECT_NE(rows[0].find(col), std::string::npos) << col;
  const char* cells[] = {"|tern|1|pp16|", "|tern|1|tg4|", "|tern|2|pp16|", "|tern|2|tg4|"};
  for (size_t i = 0; i < 4; ++i) {
    const std::string& row = rows[i + 2];
    EXPECT_NE(row.find("bitnet"), std::string::npos) << row;
    EXPECT_NE(row.find("TQ2_0"), std::string::npos) << row;
    EXPECT_NE(row.find("tern"), std::string::npos) << row;
    EXPECT_NE(row.find("±"), std::string::npos) << row;
    std::string compact;
    for (char c : row)
      if (c != ' ') compact += c;
    EXPECT_NE(compact.find(cells[i]), std::string::npos) << row;
  }
  EXPECT_NE(r.out.find("GB/s"), std::string::npos) << r.out;
}

// -d: the tests run again after a context of that many tokens, as llama-bench's.
TEST(RunBench, BenchDepthRunsEachTestAfterAFilledContext) {
  auto r = run_tern("bench -m " + kTiny + " -p 16 -n 4 -d 0,24 -r 1 -t 1 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 4u) << r.out;
  const int n_prompt[] = {16, 0, 16, 0}, n_gen[] = {0, 4, 0, 4}, n_depth[] = {0, 0, 24, 24};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(j[i]["n_prompt"], n_prompt[i]) << i;
    EXPECT_EQ(j[i]["n_gen"], n_gen[i]) << i;
    EXPECT_EQ(j[i]["n_depth"], n_depth[i]) << i;
    EXPECT_GT(j[i]["avg_ts"].get<double>(), 0.0) << i;
  }
  // The depth's tokens go in batches: a tg test after 24 tokens fills them in one step.
  EXPECT_EQ(j[1]["n_batch"], 1);
  EXPECT_EQ(j[3]["n_batch"], 24);
  // Each token also reads the 24 cached rows: the same extra bytes for pp and tg.
  const double pp_extra = j[2]["bytes_per_token"].get<double>() - j[0]["bytes_per_token"].get<double>();
  const double tg_extra = j[3]["bytes_per_token"].get<double>() - j[1]["bytes_per_token"].get<double>();
  EXPECT_GT(pp_extra, 0.0);
  EXPECT_NEAR(pp_extra, tg_extra, 1e-6 * tg_extra);

  r = run_tern("bench -m " + kTiny + " -p 16 -n 0 -d 24 -r 1 -t 1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("pp16 @ d24"), std::string::npos) << r.out;
  r = run_tern("bench -m " + kTiny + " -d -1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("n-depth"), std::string::npos) << r.err;
}

TEST(RunBench, BenchJsonHasLlamaBenchsFields) {
  auto r = run_tern("bench -m " + kTiny + " -p 16 -n 4 -r 2 -t 1,2 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 4u);
  const gguf::File file = gguf::File::open(kTiny);
  uint64_t size = 0;
  for (const auto& t : file.tensors()) size += t.bytes;
  const int n_threads[] = {1, 1, 2, 2}, n_prompt[] = {16, 0, 16, 0}, n_gen[] = {0, 4, 0, 4};
  for (size_t i = 0; i < 4; ++i) {
    const auto& t = j[i];
    for (const char* f :
         {"build_commit",    "build_number", "cpu_info",       "gpu_info",  "backends",   "model_filename",
          "model_type",      "model_size",   "model_n_params", "n_batch",   "n_ubatch",   "n_threads",
          "type_k",          "type_v",       "n_prompt",       "n_gen",     "n_depth",    "test_time",
          "avg_ns",          "stddev_ns",    "avg_ts",         "stddev_ts", "samples_ns", "samples_ts",
          "bytes_per_token", "roofline_pct"})
      EXPECT_TRUE(t.contains(f)) << f;
    EXPECT_EQ(t["n_threads"], n_threads[i]);
    EXPECT_EQ(t["n_prompt"], n_prompt[i]);
    EXPECT_EQ(t["n_gen"], n_gen[i]);
    EXPECT_EQ(t["model_size"], size);
    EXPECT_EQ(t["model_filename"], kTiny);
    EXPECT_EQ(t["samples_ns"].size(), 2u);
    EXPECT_EQ(t["samples_ts"].size(), 2u);
    EXPECT_GT(t["avg_ts"].get<double>(), 0.0);
    EXPECT_GT(t["avg_ns"].get<uint64_t>(), 0u);
    EXPECT_GT(t["bytes_per_token"].get<double>(), 0.0);
    EXPECT_GT(t["roofline_pct"].get<double>(), 0.0);
    // avg_ts is the mean of the samples' t/s, as llama-bench computes it.
    const double tokens = n_prompt[i] + n_gen[i];
    double mean = 0;
    for (const auto& ns : t["samples_ns"]) mean += 1e9 * tokens / ns.get<double>() / 2;
    EXPECT_NEAR(t["avg_ts"].get<double>(), mean, 1e-6 * mean);
  }
  // tg reads every weight for every token; pp shares them over its 16 tokens.
  EXPECT_GT(j[1]["bytes_per_token"].get<double>(), 8 * j[0]["bytes_per_token"].get<double>());
}

// -o csv: llama-bench's CSV (a header, then every value quoted), the JSON record's scalar fields.
TEST(RunBench, BenchCsvIsLlamaBenchsCsv) {
  auto r = run_tern("bench -m " + kTiny + " -p 8 -n 2 -r 1 -t 1,2 -o csv");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 5u) << r.out;  // header + pp8, tg2 for each of 2 thread counts
  auto split = [](const std::string& line) {
    std::vector<std::string> cells;
    std::string cell;
    bool quoted = false;
    for (size_t i = 0; i < line.size(); ++i) {
      const char c = line[i];
      if (c == '"' && quoted && i + 1 < line.size() && line[i + 1] == '"') {
        cell += '"';
        ++i;
      } else if (c == '"') {
        quoted = !quoted;
      } else if (c == ',' && !quoted) {
        cells.push_back(cell);
        cell.clear();
      } else {
        cell += c;
      }
    }
    cells.push_back(cell);
    return cells;
  };
  const std::vector<std::string> header = split(lines[0]);
  EXPECT_EQ(header.front(), "build_commit");
  for (const char* f : {"model_filename", "n_threads", "type_k", "n_prompt", "n_gen", "avg_ns", "avg_ts", "stddev_ts"})
    EXPECT_NE(std::find(header.begin(), header.end(), f), header.end()) << f;
  EXPECT_EQ(std::find(header.begin(), header.end(), "samples_ns"), header.end());
  auto col = [&](const char* f) { return std::find(header.begin(), header.end(), f) - header.begin(); };
  const int n_threads[] = {1, 1, 2, 2}, n_prompt[] = {8, 0, 8, 0};
  for (size_t i = 1; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i].front(), '"') << lines[i];
    const std::vector<std::string> v = split(lines[i]);
    ASSERT_EQ(v.size(), header.size()) << lines[i];
    EXPECT_EQ(v[col("n_threads")], std::to_string(n_threads[i - 1]));
    EXPECT_EQ(v[col("n_prompt")], std::to_string(n_prompt[i - 1]));
    EXPECT_EQ(v[col("model_filename")], kTiny);
    EXPECT_GT(std::stod(v[col("avg_ts")]), 0.0);
  }
  r = run_tern("bench -m " + kTiny + " -o xml");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("expected md|csv|json|jsonl"), std::string::npos) << r.err;
}

TEST(RunBench, HelpHasExamples) {
  for (const char* cmd : {"run", "bench"}) {
    auto r = run_tern(std::string(cmd) + " --help");
    EXPECT_EQ(r.exit_code, 0) << cmd << r.err;
    EXPECT_NE(r.out.find("usage: tern " + std::string(cmd)), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("examples:\n  tern " + std::string(cmd)), std::string::npos) << r.out;
  }
}

}  // namespace
}  // namespace tern
