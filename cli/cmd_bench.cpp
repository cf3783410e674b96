// tern bench: whole-model throughput the way llama.cpp's llama-bench measures it, so the
// two tables can be read side by side, plus how close each test comes to the machine's
// read-bandwidth roofline.
//
// What llama-bench does (tools/llama-bench/llama-bench.cpp) and this repeats:
//  - the tests run per thread count and depth: every pp test, then every tg test;
//  - each test gets a fresh context of n_prompt + n_gen positions;
//  - pp<P>: P tokens in one decode call (BOS first when the vocabulary adds one, the rest
//    random ids); the warm-up is one full run;
//  - tg<N>: N single-token decode calls from an empty context (BOS first, then random ids),
//    logits computed each step; the warm-up is one single-token decode;
//  - with -d D, D tokens fill the context (untimed, before the warm-up and before every
//    run), and the test continues from there: "pp512 @ d1024";
//  - each test is repeated r times after the warm-up, the cache cleared before each;
//    a sample is the wall time of the whole run; t/s per sample = tokens * 1e9 / ns;
//    the table shows the mean of the samples' t/s ± their sample standard deviation (n - 1).
//
// The extra columns. Bytes per token is the memory the test must read per token at least:
//  - the ternary projections as stored in the file (TQ2_0: 2.06 bits per weight incl.
//    scales; I2_S: 2 bits), the LM head's bytes (the tied token embedding, e.g. Q6_K), and
//    the KV cache rows attention reads: token at position i reads i + 1 K and V rows in
//    every layer, so a test over positions 0..T-1 averages (T + 1) / 2 rows per token;
//  - a tg token reads all the weights; a pp batch reads them once for all its tokens (once
//    per step of 512 tokens) and computes the head for its last token only, so pp divides
//    the weights by the batch: its roofline share stays small, as prefill is compute-bound.
// Roofline % = t/s x bytes per token / read bandwidth, where the read bandwidth is
// measured here, once per thread count, with that many threads each streaming its share of
// a buffer far larger than the L3 cache (one thread's bandwidth times the thread count
// overstates a shared memory bus: PEERS.md measured 16-18.5 GB/s for 1 thread and 26-33 GB/s
// for 2 on this machine class). A model that fits in the caches can exceed 100 %: the
// roofline is for weights streamed from DRAM.
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <string>
#include <thread>

#include "cli/cli_common.h"
#include "cli/progress.h"
#include "runtime/core/cpu_info.h"
#include "runtime/core/error.h"
#include "runtime/core/huge_pages.h"
#include "runtime/gguf/gguf.h"
#include "runtime/model/model.h"
#include "runtime/model/session.h"
#include "runtime/tokenizer/tokenizer.h"

namespace tern::cli {
namespace {

using Clock = std::chrono::steady_clock;


// ---- read bandwidth with n threads ----

#if defined(__x86_64__)
__attribute__((target("avx2"))) uint64_t read_slice_avx2(const uint8_t* p, size_t bytes) {
  __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
  for (size_t i = 0; i < bytes; i += 128) {
    s0 = _mm256_add_epi64(s0, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i)));
    s1 = _mm256_add_epi64(s1, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 32)));
    s2 = _mm256_add_epi64(s2, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 64)));
    s3 = _mm256_add_epi64(s3, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 96)));
  }
  const __m256i s = _mm256_add_epi64(_mm256_add_epi64(s0, s1), _mm256_add_epi64(s2, s3));
  return static_cast<uint64_t>(_mm256_extract_epi64(s, 0)) + static_cast<uint64_t>(_mm256_extract_epi64(s, 3));
}
#endif

uint64_t read_slice_scalar(const uint8_t* p, size_t bytes) {
  uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (size_t i = 0; i < bytes; i += 32) {
    uint64_t v[4];
    std::memcpy(v, p + i, sizeof v);
    s0 += v[0], s1 += v[1], s2 += v[2], s3 += v[3];
  }
  return s0 + s1 + s2 + s3;
}

std::atomic<uint64_t> g_sink{0};

// GB/s of `threads` threads each streaming 1/threads of a buffer of max(256 MiB, 8 x L3);
// a pass ends when the last thread is done. The best of 7 passes after an untimed one, as
// STREAM reports: the roofline wants what the hardware can do, and on a shared machine the
// slower passes measure the neighbours (tuner::read_bandwidth_gbs takes the median of 5).
double read_bandwidth_gbs(int threads) {
  [[maybe_unused]] const bool avx2 = host_cpu().features.avx2;
  const size_t per_thread =
      std::max<size_t>(size_t(256) << 20, 8 * host_cpu().l3_bytes) / threads / 128 * 128;
  const size_t bytes = per_thread * threads;
  // On huge pages where the system allows, like the weights it is compared with.
  LargeVector<uint8_t> probe;
  try {
    probe.assign(bytes, uint8_t{1});
  } catch (const std::bad_alloc&) {
    throw Error("bench: cannot allocate " + human_bytes(bytes) + " for the bandwidth probe");
  }

  std::vector<double> runs;
  for (int pass = 0; pass < 8; ++pass) {
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    auto work = [&](int t) {
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) {
      }
      const uint8_t* p = probe.data() + static_cast<size_t>(t) * per_thread;
#if defined(__x86_64__)
      g_sink.fetch_add(avx2 ? read_slice_avx2(p, per_thread) : read_slice_scalar(p, per_thread),
                       std::memory_order_relaxed);
#else
      // Elsewhere the portable loop (no SIMD twin yet).
      g_sink.fetch_add(read_slice_scalar(p, per_thread), std::memory_order_relaxed);
#endif
    };
    std::vector<std::thread> pool;
    for (int t = 1; t < threads; ++t) pool.emplace_back(work, t);
    while (ready.load() < threads - 1) {
    }
    const auto t0 = Clock::now();
    go.store(true, std::memory_order_release);
    ready.fetch_add(1);
    work(0);
    for (auto& th : pool) th.join();
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (pass > 0) runs.push_back(static_cast<double>(bytes) / s / 1e9);
  }
  return *std::max_element(runs.begin(), runs.end());
}

// ---- the model as llama-bench describes it ----

struct ModelFacts {
  std::string type;       // "bitnet 2B TQ2_0"
  uint64_t size = 0;      // bytes of all tensors
  uint64_t n_params = 0;  // elements of all tensors
  uint64_t ternary_bytes = 0;
  uint64_t head_bytes = 0;
  uint64_t kv_row_bytes = 0;  // K and V of one position, all layers
  bool add_bos = false;
  int32_t bos = -1;
};

bool is_projection(std::string_view name) {
  if (!name.starts_with("blk.")) return false;
  for (const char* p : {".attn_q.weight", ".attn_k.weight", ".attn_v.weight", ".attn_output.weight",
                        ".ffn_gate.weight", ".ffn_up.weight", ".ffn_down.weight"})
    if (name.ends_with(p)) return true;
  return false;
}

std::string size_label(uint64_t n_params) {
  char buf[32];
  const double p = static_cast<double>(n_params);
  if (p >= 1e9)
    std::snprintf(buf, sizeof buf, "%.0fB", std::floor(p / 1e9));  // 2.41e9 -> "2B", as the model is named
  else if (p >= 1e6)
    std::snprintf(buf, sizeof buf, "%.0fM", std::floor(p / 1e6));
  else
    std::snprintf(buf, sizeof buf, "%.0fK", std::floor(p / 1e3));
  return buf;
}

ModelFacts model_facts(const gguf::File& file, const model::Model& m) {
  ModelFacts f;
  for (const auto& t : file.tensors()) {
    f.size += t.bytes;
    f.n_params += t.elements();
    if (is_projection(t.name)) f.ternary_bytes += t.bytes;
  }
  const auto& hp = m.hparams();
  f.head_bytes = static_cast<uint64_t>(m.head().n_rows) * m.head().row_bytes;
  const uint64_t kv_elem = m.options().kv_type == model::KvType::F16 ? 2 : 4;
  f.kv_row_bytes = uint64_t{2} * hp.n_layer * hp.n_embd_kv() * kv_elem;
  std::string wtype = m.layers().empty() ? "?" : std::string(ggml_type_name(m.layers()[0].wq.src_type));
  f.type = hp.arch + " " + size_label(f.n_params) + " " + wtype;
  try {
    const auto tok = tokenizer::Tokenizer::from_gguf(file);
    f.add_bos = tok.add_bos() && tok.bos() >= 0 && static_cast<uint32_t>(tok.bos()) < hp.n_vocab;
    f.bos = tok.bos();
  } catch (const Error&) {
    // No usable vocabulary: every token is random, as llama-bench does without add_bos.
  }
  return f;
}

// ---- tests ----

struct Test {
  int n_prompt = 0, n_gen = 0, n_depth = 0, threads = 1, n_batch = 1;
  std::string time;  // RFC 3339, as llama-bench's test_time
  std::vector<uint64_t> samples_ns;
  double bytes_per_token = 0, bandwidth_gbs = 0;

  int tokens() const { return n_prompt + n_gen; }
  std::string name() const {
    const std::string base = n_prompt > 0 ? "pp" + std::to_string(n_prompt) : "tg" + std::to_string(n_gen);
    return n_depth > 0 ? base + " @ d" + std::to_string(n_depth) : base;  // llama-bench's label
  }
  std::vector<double> samples_ts() const {
    std::vector<double> ts;
    for (uint64_t ns : samples_ns) ts.push_back(1e9 * tokens() / static_cast<double>(ns));
    return ts;
  }
};

template <class T>
T mean(const std::vector<T>& v) {
  return v.empty() ? T(0) : std::accumulate(v.begin(), v.end(), T(0)) / static_cast<T>(v.size());
}
// Sample standard deviation (Bessel's correction), 0 for fewer than 2 samples.
double stddev(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  const double m = mean(v);
  double sq = 0;
  for (double x : v) sq += (x - m) * (x - m);
  return std::sqrt(sq / static_cast<double>(v.size() - 1));
}
std::vector<double> as_double(const std::vector<uint64_t>& v) { return {v.begin(), v.end()}; }

double avg_ts(const Test& t) { return mean(t.samples_ts()); }
double roofline_pct(const Test& t) {
  return t.bandwidth_gbs > 0 ? 100.0 * avg_ts(t) * t.bytes_per_token / (t.bandwidth_gbs * 1e9) : 0.0;
}

std::string now_rfc3339() {
  char buf[64];
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%FT%TZ", &tm);
  return buf;
}

class Runner {
 public:
  Runner(const model::Model& model, const ModelFacts& facts, int reps, bool warmup, Progress& progress,
         uint64_t total_runs)
      : model_(model),
        facts_(facts),
        reps_(reps),
        warmup_(warmup),
        progress_(progress),
        total_runs_(total_runs),
        logits_(model.hparams().n_vocab) {}

  Test run(int n_prompt, int n_gen, int n_depth, int threads, double bandwidth) {
    Test t;
    t.n_prompt = n_prompt;
    t.n_gen = n_gen;
    t.n_depth = n_depth;
    t.threads = threads;
    t.bandwidth_gbs = bandwidth;
    t.time = now_rfc3339();
    model::SessionOptions so;
    so.n_ctx = static_cast<uint32_t>(n_depth + n_prompt + n_gen);
    // The depth's tokens go in batches too; a pp test still runs in one step when it fits.
    so.n_batch = static_cast<uint32_t>(std::max({std::min(n_prompt, 512), std::min(n_depth, 512), 1}));
    so.threads = threads;
    t.n_batch = static_cast<int>(so.n_batch);
    model::Session session(model_, so);

    // Minimum bytes per token (see the top of this file); after a depth of D tokens
    // each token also reads the D rows already in the cache.
    const double positions = n_prompt > 0 ? n_prompt : n_gen;
    const double kv = static_cast<double>(facts_.kv_row_bytes) * (n_depth + (positions + 1) / 2);
    const double weights = static_cast<double>(facts_.ternary_bytes + facts_.head_bytes);
    if (n_prompt > 0) {
      const double steps = std::ceil(static_cast<double>(n_prompt) / so.n_batch);
      t.bytes_per_token =
          (steps * static_cast<double>(facts_.ternary_bytes) + facts_.head_bytes) / n_prompt + kv;
    } else {
      t.bytes_per_token = weights + kv;
    }

    // One run from an empty cache: like llama-bench, the depth filled untimed, then
    // the test (generating gen_tokens when it is a tg test); returns its time.
    auto once = [&](int gen_tokens) {
      session.reset();
      if (n_depth > 0) prompt(session, n_depth);
      const auto t0 = Clock::now();
      if (n_prompt > 0)
        prompt(session, n_prompt);
      else
        gen(session, gen_tokens);
      return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
    };
    const std::string label = t.name() + " t=" + std::to_string(threads);
    if (warmup_) {
      once(1);
      tick(label + " warm-up");
    }
    for (int r = 0; r < reps_; ++r) {
      t.samples_ns.push_back(once(n_gen));
      tick(label + " run " + std::to_string(r + 1) + "/" + std::to_string(reps_));
    }
    return t;
  }

 private:
  // BOS (when the vocabulary adds one) only at position 0: after a depth the tokens continue it.
  int32_t first_token(const model::Session& s) {
    return s.n_past() == 0 && facts_.add_bos ? facts_.bos : random_token();
  }
  int32_t random_token() { return static_cast<int32_t>(rng_() % model_.hparams().n_vocab); }

  void prompt(model::Session& s, int n) {
    tokens_.resize(static_cast<size_t>(n));
    tokens_[0] = first_token(s);
    for (int i = 1; i < n; ++i) tokens_[static_cast<size_t>(i)] = random_token();
    s.eval(tokens_.data(), tokens_.size(), logits_.data(), false);
  }
  void gen(model::Session& s, int n) {
    int32_t token = first_token(s);
    for (int i = 0; i < n; ++i) {
      s.eval(&token, 1, logits_.data(), false);
      token = random_token();
    }
  }
  void tick(const std::string& what) { progress_.update(++done_runs_, total_runs_, what); }

  const model::Model& model_;
  const ModelFacts& facts_;
  int reps_;
  bool warmup_;
  Progress& progress_;
  uint64_t total_runs_, done_runs_ = 0;
  std::mt19937 rng_{1234};
  std::vector<int32_t> tokens_;
  std::vector<float> logits_;
};

// ---- output ----

struct Column {
  const char* name;
  int width;  // llama-bench's: negative = left-aligned
};
// llama-bench's columns for a CPU backend, then tern's two.
const std::vector<Column>& columns() {
  static const std::vector<Column> c = {{"model", -30},   {"size", 10},        {"params", 10},
                                        {"backend", -10}, {"threads", 7},      {"test", 15},
                                        {"t/s", 20},      {"bytes/token", 11}, {"roofline", 8}};
  return c;
}

void print_md_header() {
  std::printf("|");
  for (const auto& c : columns()) std::printf(" %*s |", c.width, c.name);
  std::printf("\n|");
  for (const auto& c : columns())
    std::printf(" %s%s |", std::string(static_cast<size_t>(std::abs(c.width)) - 1, '-').c_str(),
                c.width > 0 ? ":" : "-");
  std::printf("\n");
  std::fflush(stdout);
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

void print_md_row(const Test& t, const ModelFacts& f) {
  const double size = static_cast<double>(f.size), params = static_cast<double>(f.n_params);
  const std::vector<double> ts = t.samples_ts();
  const std::string bpt = t.bytes_per_token >= 1e6 ? fmt("%.1f MB", t.bytes_per_token / 1e6)
                                                   : fmt("%.1f kB", t.bytes_per_token / 1e3);
  char tps[64];
  std::snprintf(tps, sizeof tps, "%.2f ± %.2f", mean(ts), stddev(ts));
  const std::vector<std::string> values = {
      f.type,
      size < 1024.0 * 1024 * 1024 ? fmt("%.2f MiB", size / 1024 / 1024)
                                  : fmt("%.2f GiB", size / 1024 / 1024 / 1024),
      params < 1e9 ? fmt("%.2f M", params / 1e6) : fmt("%.2f B", params / 1e9),
      "tern",
      std::to_string(t.threads),
      t.name(),
      tps,
      bpt,
      fmt("%.1f %%", roofline_pct(t)),
  };
  std::printf("|");
  for (size_t i = 0; i < values.size(); ++i) {
    int width = columns()[i].width;
    if (std::string(columns()[i].name) == "t/s") width += 1;  // '±' is two bytes (llama-bench does the same)
    std::printf(" %*s |", width, values[i].c_str());
  }
  std::printf("\n");
  std::fflush(stdout);
}

nlohmann::ordered_json to_json(const Test& t, const ModelFacts& f, const std::string& model_path,
                               const model::Model& m) {
  const std::string kv = m.options().kv_type == model::KvType::F16 ? "f16" : "f32";
  const std::vector<double> ts = t.samples_ts();
  nlohmann::ordered_json j;
  // llama-bench's field names, order and types (test::get_fields / get_field_type).
  j["build_commit"] = TERN_VERSION;
  j["build_number"] = 0;
  j["cpu_info"] = host_cpu().brand;
  j["gpu_info"] = "";
  j["backends"] = "tern";
  j["model_filename"] = model_path;
  j["model_type"] = f.type;
  j["model_size"] = f.size;
  j["model_n_params"] = f.n_params;
  j["n_batch"] = t.n_batch;
  j["n_ubatch"] = t.n_batch;
  j["n_threads"] = t.threads;
  j["type_k"] = kv;
  j["type_v"] = kv;
  j["n_gpu_layers"] = 0;
  j["embeddings"] = false;
  j["n_prompt"] = t.n_prompt;
  j["n_gen"] = t.n_gen;
  j["n_depth"] = t.n_depth;
  j["test_time"] = t.time;
  j["avg_ns"] = static_cast<uint64_t>(mean(as_double(t.samples_ns)));
  j["stddev_ns"] = static_cast<uint64_t>(stddev(as_double(t.samples_ns)));
  j["avg_ts"] = mean(ts);
  j["stddev_ts"] = stddev(ts);
  j["samples_ns"] = t.samples_ns;
  j["samples_ts"] = ts;
  // tern's extras.
  j["bytes_per_token"] = t.bytes_per_token;
  j["read_bandwidth_gbs"] = t.bandwidth_gbs;
  j["roofline_pct"] = roofline_pct(t);
  return j;
}

// llama-bench's CSV: a header of the field names, then one line per test with every value in
// double quotes (a quote inside doubled), numbers as std::to_string writes them and booleans as
// 0 / 1. The per-sample arrays are left out, as llama-bench leaves them out.
std::string csv_line(const nlohmann::ordered_json& record, bool header) {
  std::string line;
  for (const auto& [key, value] : record.items()) {
    if (value.is_array()) continue;
    std::string text = key;
    if (!header) {
      if (value.is_string()) text = value.get<std::string>();
      else if (value.is_boolean()) text = value.get<bool>() ? "1" : "0";
      else if (value.is_number_float()) text = std::to_string(value.get<double>());
      else text = value.dump();
      std::string quoted = "\"";
      for (char c : text) {
        if (c == '"') quoted += '"';
        quoted += c;
      }
      text = quoted + "\"";
    }
    if (!line.empty()) line += ',';
    line += text;
  }
  return line + "\n";
}

}  // namespace

int cmd_bench(const std::vector<std::string>& args) {
  po::options_description desc("options");
  std::string model_path, prompts = "512", gens = "128", depths = "0", output = "md", kv = "f16";
  std::string threads_arg = std::to_string(std::max(1u, std::thread::hardware_concurrency()));
  int reps = 5;
  // clang-format off
  desc.add_options()
      ("model,m", po::value(&model_path)->required(), "GGUF model file")
      ("n-prompt,p", po::value(&prompts)->default_value(prompts), "prompt lengths of the pp tests, e.g. 128 or 64,512 (0 = none)")
      ("n-gen,n", po::value(&gens)->default_value(gens), "tokens of the tg tests, e.g. 32 (0 = none)")
      ("n-depth,d", po::value(&depths)->default_value(depths), "context filled (untimed) before each test, e.g. 0,1024")
      ("threads,t", po::value(&threads_arg)->default_value(threads_arg), "thread counts, e.g. 1,2 (each 1..1024)")
      ("repetitions,r", po::value(&reps)->default_value(reps), "timed runs of each test after the warm-up")
      ("kv", po::value(&kv)->default_value(kv), "KV cache type: f16 | f32 (llama-bench's -ctk / -ctv)")
      ("output,o", po::value(&output)->default_value(output), "md (llama-bench's table) | csv | json | jsonl")
      ("json", "the same as -o json")
      ("no-warmup", "skip the warm-up run of each test");
  // clang-format on
  po::variables_map vm;
  if (!parse_options(
          "bench", args, desc, vm, "-m FILE [-p 512] [-n 128] [-d 0] [-t 1,2] [-r 5] [-o md|csv|json|jsonl]",
          "  tern bench -m model.gguf -p 128 -n 32 -t 1,2 -r 3\n"
          "  tern bench -m model.gguf -p 512 -n 32 -d 0,1024 -t 2    # also after 1024 tokens of context\n"
          "  tern bench -m model.gguf -p 0 -n 64 -t 2 --json > tg.json   # llama-bench's JSON fields\n"))
    return 0;

  if (vm.count("json")) output = "json";
  if (output != "md" && output != "csv" && output != "json" && output != "jsonl")
    throw UsageError("--output " + output + ": expected md|csv|json|jsonl");
  const std::vector<int> n_prompt = parse_int_list(prompts, "n-prompt", 0, 1 << 20);
  const std::vector<int> n_gen = parse_int_list(gens, "n-gen", 0, 1 << 20);
  const std::vector<int> n_depth = parse_int_list(depths, "n-depth", 0, 1 << 20);
  const std::vector<int> threads = parse_int_list(threads_arg, "threads", 1, 1024);
  if (reps < 1) throw UsageError("--repetitions " + std::to_string(reps) + ": expected 1 or more");
  const bool warmup = !vm.count("no-warmup");
  const model::KvType kv_type = parse_kv_type(kv);

  // Two read-only mappings of one file: the model keeps its own, the facts read the tensor table.
  const gguf::File file = gguf::File::open(model_path);
  // Kernels are picked (and packed) once, for the largest thread count asked.
  model::ModelOptions mo;
  mo.threads = *std::max_element(threads.begin(), threads.end());
  mo.kv_type = kv_type;
  const model::Model model = model::Model::load(model_path, mo);
  for (const std::string& note : model.notes()) std::cerr << "tern bench: " << note << "\n";
  if (!model.kernels().empty()) std::cerr << "tern bench: " << model.kernels() << "\n";
  const ModelFacts facts = model_facts(file, model);

  uint64_t runs_per_thread = 0;
  for (int p : n_prompt) runs_per_thread += p > 0 ? static_cast<uint64_t>(reps + (warmup ? 1 : 0)) : 0;
  for (int n : n_gen) runs_per_thread += n > 0 ? static_cast<uint64_t>(reps + (warmup ? 1 : 0)) : 0;
  runs_per_thread *= n_depth.size();
  Progress progress("bench");
  Runner runner(model, facts, reps, warmup, progress, runs_per_thread * threads.size());

  if (output == "md") print_md_header();
  nlohmann::ordered_json records = nlohmann::ordered_json::array();
  bool csv_header_done = false;
  std::vector<std::pair<int, double>> bandwidths;
  for (int t : threads) {
    const double bw = read_bandwidth_gbs(t);
    bandwidths.emplace_back(t, bw);
    std::vector<std::array<int, 3>> tests;  // (n_prompt, n_gen, n_depth), llama-bench's order
    for (int d : n_depth) {
      for (int p : n_prompt)
        if (p > 0) tests.push_back({p, 0, d});
      for (int n : n_gen)
        if (n > 0) tests.push_back({0, n, d});
    }
    for (const auto& [p, n, d] : tests) {
      const Test test = runner.run(p, n, d, t, bw);
      if (output == "md") {
        if (isatty(STDERR_FILENO) && isatty(STDOUT_FILENO))
          std::fprintf(stderr, "\r\033[K");  // the progress line
        print_md_row(test, facts);
      } else if (output == "jsonl") {
        std::cout << to_json(test, facts, model_path, model).dump() << "\n" << std::flush;
      } else if (output == "csv") {
        const nlohmann::ordered_json record = to_json(test, facts, model_path, model);
        if (!csv_header_done) std::cout << csv_line(record, true);
        csv_header_done = true;
        std::cout << csv_line(record, false) << std::flush;
      } else {
        records.push_back(to_json(test, facts, model_path, model));
      }
    }
  }
  progress.finish();
  if (output == "json") std::cout << records.dump(2) << "\n";
  if (output == "md") {
    std::printf("\nbuild: %s (tern)\n", TERN_VERSION);
    std::printf("roofline = t/s x bytes/token / read bandwidth measured now with that many threads:");
    for (size_t i = 0; i < bandwidths.size(); ++i)
      std::printf("%s %d thread%s %.1f GB/s", i ? "," : "", bandwidths[i].first,
                  bandwidths[i].first == 1 ? "" : "s", bandwidths[i].second);
    std::printf("\n");
  }
  return 0;
}

}  // namespace tern::cli
