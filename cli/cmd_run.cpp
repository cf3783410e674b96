// tern run: generate text from a prompt, streaming it as it comes.
//
// Like llama.cpp's llama-cli / llama-simple: the prompt is tokenized (BOS per the vocabulary),
// evaluated in one eval() call, then tokens are sampled one at a time and each is fed back.
// Timings go to stderr in llama.cpp's terms: the prompt's tokens per second, and the decode
// steps' tokens per second (the last sampled token is never evaluated, so N generated tokens
// take N - 1 decode steps, as llama_perf_context_print's "eval time ... runs" counts them).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>

#include "cli/cli_common.h"
#include "cli/stdout_io.h"
#include "runtime/core/error.h"
#include "runtime/gguf/gguf.h"
#include "runtime/model/model.h"
#include "runtime/model/sampler.h"
#include "runtime/model/session.h"
#include "runtime/tokenizer/tokenizer.h"

namespace tern::cli {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// Streams text as it comes; stops the run at once when stdout cannot take it.
void emit(const std::string& s) {
  if (!s.empty()) write_stdout(s);
}

void print_timing(const char* what, double ms, size_t n, const char* unit) {
  if (n == 0) {
    std::fprintf(stderr, "tern run: %-10s %10.2f ms / %5zu %s\n", what, ms, n, unit);
    return;
  }
  std::fprintf(stderr, "tern run: %-10s %10.2f ms / %5zu %s (%8.2f ms per token, %8.2f tokens per second)\n",
               what, ms, n, unit, ms / static_cast<double>(n),
               ms > 0 ? 1e3 * static_cast<double>(n) / ms : 0.0);
}

}  // namespace

int cmd_run(const std::vector<std::string>& args) {
  po::options_description desc("options");
  std::string model_path, prompt, prompt_file, kv = "f16";
  int64_t n_predict = 128;
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  uint32_t n_ctx = 0;
  uint64_t seed = 0;
  model::SamplerOptions so;
  // clang-format off
  desc.add_options()
      ("model,m", po::value(&model_path)->required(), "GGUF model file")
      ("prompt,p", po::value(&prompt)->default_value(""), "prompt text (UTF-8)")
      ("file,f", po::value(&prompt_file), "read the prompt from this file (UTF-8) instead of -p")
      ("n-predict,n", po::value(&n_predict)->default_value(128), "tokens to generate (-1 = until end of generation or a full context)")
      ("threads,t", po::value(&threads)->default_value(threads), "threads, 1..1024 (default: this machine's logical CPUs)")
      ("ctx-size,c", po::value(&n_ctx)->default_value(0), "context size in tokens (0 = the model's context_length)")
      ("kv", po::value(&kv)->default_value(kv), "KV cache type: f16 | f32")
      ("temp", po::value(&so.temperature)->default_value(so.temperature, "0.8"), "temperature (0 = greedy: argmax, lowest id on ties)")
      ("top-k", po::value(&so.top_k)->default_value(so.top_k), "keep the k most likely tokens (0 = off)")
      ("top-p", po::value(&so.top_p)->default_value(so.top_p, "0.95"), "keep the most likely tokens up to this probability mass (1 = off)")
      ("min-p", po::value(&so.min_p)->default_value(so.min_p, "0.05"), "drop tokens less likely than min-p x the most likely one (0 = off)")
      ("repeat-penalty", po::value(&so.repeat_penalty)->default_value(so.repeat_penalty, "1.0"), "divide positive / multiply negative logits of recent tokens (1 = off)")
      ("repeat-last-n", po::value(&so.repeat_last_n)->default_value(so.repeat_last_n), "how many recent tokens (prompt included) the penalty sees (0 = off, -1 = the context size)")
      ("seed", po::value(&seed), "random seed (default: random, printed to stderr); same seed, same text")
      ("no-bos", "do not add BOS even when the vocabulary asks for it")
      ("special", "parse special-token text (e.g. <|eot_id|>) in the prompt and print control tokens")
      ("ignore-eos", "never stop at end of generation: EOS/EOT tokens are never sampled")
      ("truncate", "when the prompt exceeds the context, keep its last tokens (and BOS) instead of failing")
      ("no-display-prompt", "print only the generated text, not the prompt before it")
      ("profile", "time the parts of the forward pass (matmuls, attention, LM head, ...) and print them")
      ("json", "print one JSON object (token ids, text, timings) instead of streaming text");
  // clang-format on
  po::variables_map vm;
  if (!parse_options(
          "run", args, desc, vm, "-m FILE (-p TEXT | -f FILE) [-n N] [-t THREADS] [sampling options]",
          "  tern run -m model.gguf -p \"The capital of France is\" -n 32 -t 2\n"
          "  tern run -m model.gguf -p \"Once upon a time\" -n 64 --temp 0          # greedy\n"
          "  tern run -m model.gguf -p \"Hi\" --temp 0.7 --top-k 20 --seed 42 --repeat-penalty 1.1\n"
          "  tern run -m model.gguf -p \"Hi\" -n 16 --temp 0 --json                 # ids and timings\n"
          "  tern run -m model.gguf -f prompt.txt -n 256 -c 8192 --kv f32       # a long prompt from a file\n"))
    return 0;

  if (threads < 1 || threads > 1024)
    throw UsageError("--threads " + std::to_string(threads) + ": expected 1..1024");
  if (n_predict < -1) throw UsageError("--n-predict " + std::to_string(n_predict) + ": expected -1 or more");
  const int32_t repeat_last_n = so.repeat_last_n;  // -1 (the context size) is resolved below
  if (repeat_last_n < -1)
    throw UsageError("--repeat-last-n " + std::to_string(repeat_last_n) + ": expected -1 or more");
  so.repeat_last_n = 0;
  try {
    model::Sampler::validate(so);
  } catch (const Error& e) {
    throw UsageError(std::string("--") + e.what());
  }
  const model::KvType kv_type = parse_kv_type(kv);
  prompt = prompt_or_file(vm, prompt, prompt_file);
  if (!vm.count("seed"))
    seed = (static_cast<uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
  so.seed = seed;
  const bool json = vm.count("json") > 0;
  const bool special = vm.count("special") > 0;
  const bool ignore_eos = vm.count("ignore-eos") > 0;

  // Load: one mapping serves the tokenizer (which copies what it needs) and the model.
  const uint64_t rss_before_load = current_rss_bytes();
  const auto t_load = Clock::now();
  gguf::File file = gguf::File::open(model_path);
  const tokenizer::Tokenizer tok = tokenizer::Tokenizer::from_gguf(file);
  model::ModelOptions mo;
  mo.threads = threads;
  mo.kv_type = kv_type;
  const model::Model model = model::Model::from_file(std::move(file), mo);
  const double load_ms = ms_since(t_load);
  for (const std::string& note : model.notes()) std::cerr << "tern run: " << note << "\n";
  const size_t n_vocab = model.hparams().n_vocab;
  if (static_cast<size_t>(tok.n_vocab()) > n_vocab)
    throw Error(model_path + ": the tokenizer has " + std::to_string(tok.n_vocab()) +
                " tokens but the model's vocabulary is " + std::to_string(n_vocab));

  // Tokenize. --no-bos drops only BOS: an EOS the vocabulary appends stays.
  std::vector<int32_t> tokens = tok.encode(prompt, !vm.count("no-bos"), special);
  if (vm.count("no-bos") && tok.add_eos() && tok.eos() != tokenizer::kNoToken) tokens.push_back(tok.eos());
  if (tokens.empty()) throw UsageError("--prompt: the prompt gives no tokens (empty, and no BOS)");

  const size_t ctx = n_ctx ? n_ctx : model.hparams().n_ctx_train;
  if (ctx == 0) throw UsageError("--ctx-size: the model names no context_length; give -c");
  if (tokens.size() > ctx) {
    if (!vm.count("truncate"))
      throw Error("the prompt is " + std::to_string(tokens.size()) + " tokens but the context holds " +
                  std::to_string(ctx) + " (-c " + std::to_string(ctx) +
                  "); use --truncate to keep the last tokens, or a larger -c");
    // Keep room to generate: up to half the context, as much as -n asks.
    const size_t reserve =
        n_predict < 0 ? ctx / 2 : std::min<size_t>(static_cast<size_t>(n_predict), ctx / 2);
    const size_t keep = std::max<size_t>(1, ctx - reserve);
    const bool bos_first = tok.bos() != tokenizer::kNoToken && tokens.front() == tok.bos() && keep > 1;
    std::vector<int32_t> kept;
    if (bos_first) kept.push_back(tokens.front());
    kept.insert(kept.end(), tokens.end() - static_cast<ptrdiff_t>(keep - kept.size()), tokens.end());
    std::fprintf(stderr,
                 "tern run: prompt truncated from %zu to its last %zu tokens%s (--truncate, context %zu)\n",
                 tokens.size(), kept.size(), bos_first ? " with BOS" : "", ctx);
    tokens = std::move(kept);
  }

  model::SessionOptions sess_opt;
  sess_opt.n_ctx = static_cast<uint32_t>(ctx);
  // One eval() call for the prompt; the session runs it in steps of at most 512 tokens
  // (llama.cpp's default micro-batch) so the activation buffers stay bounded.
  sess_opt.n_batch = static_cast<uint32_t>(std::min<size_t>(tokens.size(), 512));
  sess_opt.threads = threads;
  sess_opt.profile = vm.count("profile") > 0;
  model::Session session(model, sess_opt);
  // No more than the context can hold, so a huge value allocates nothing absurd.
  so.repeat_last_n = repeat_last_n < 0
                         ? static_cast<int32_t>(ctx)
                         : static_cast<int32_t>(std::min<size_t>(static_cast<size_t>(repeat_last_n), ctx));
  model::Sampler sampler(n_vocab, so);
  for (int32_t t : tokens) sampler.accept(t);

  // --ignore-eos as llama.cpp does it: end-of-generation tokens get logit -inf.
  std::vector<int32_t> eog_ids;
  if (ignore_eos)
    for (int32_t id = 0; id < tok.n_vocab(); ++id)
      if (tok.is_eog(id)) eog_ids.push_back(id);

  std::vector<float> logits(n_vocab);
  const auto t_prompt = Clock::now();
  session.eval(tokens.data(), tokens.size(), logits.data(), false);
  const double prompt_ms = ms_since(t_prompt);

  if (!json && !vm.count("no-display-prompt")) emit(prompt);
  tokenizer::StreamDecoder decoder(tok, special);
  std::vector<int32_t> generated;
  std::string text;  // --json only
  const size_t limit = n_predict < 0 ? std::numeric_limits<size_t>::max() : static_cast<size_t>(n_predict);
  if (limit != std::numeric_limits<size_t>::max()) generated.reserve(limit);
  std::string stop = "length";
  double sample_ms = 0, decode_ms = 0;
  size_t n_decode = 0;
  const auto t_gen = Clock::now();
  for (size_t i = 0; i < limit; ++i) {
    for (int32_t id : eog_ids) logits[id] = -std::numeric_limits<float>::infinity();
    // Padding rows of a head larger than the vocabulary have no text: never pick them.
    std::fill(logits.begin() + tok.n_vocab(), logits.end(), -std::numeric_limits<float>::infinity());
    const auto t_s = Clock::now();
    const int32_t id = sampler.sample(logits.data());
    sample_ms += ms_since(t_s);
    if (!ignore_eos && tok.is_eog(id)) {
      stop = "eog";
      break;
    }
    generated.push_back(id);
    const std::string piece = decoder.push(id);
    if (json)
      text += piece;
    else
      emit(piece);
    if (i + 1 == limit) break;  // the last token need not be evaluated
    if (session.n_past() >= session.n_ctx()) {
      stop = "context";
      break;
    }
    const auto t_d = Clock::now();
    session.eval(&id, 1, logits.data(), false);
    decode_ms += ms_since(t_d);
    ++n_decode;
  }
  const double gen_ms = ms_since(t_gen);
  if (json) {
    text += decoder.flush();
  } else {
    emit(decoder.flush());
    emit("\n");
  }

  std::fprintf(stderr, "\n");
  std::fprintf(stderr,
               "tern run: %zu prompt tokens, %zu generated (stop: %s), seed %llu, %d thread%s, context %zu\n",
               tokens.size(), generated.size(),
               stop == "eog"       ? "end of generation"
               : stop == "context" ? "context full"
                                   : "length",
               static_cast<unsigned long long>(seed), threads, threads == 1 ? "" : "s", ctx);
  std::fprintf(stderr, "tern run: %-10s %10.2f ms\n", "load", load_ms);
  print_timing("prompt", prompt_ms, tokens.size(), "tokens");
  print_timing("generation", decode_ms, n_decode, "steps");
  if (!model.kernels().empty()) std::fprintf(stderr, "tern run: %s\n", model.kernels().c_str());
  std::fprintf(stderr, "tern run: %-10s %10.2f ms / %5zu samples\n", "sampling", sample_ms, generated.size());
  std::fprintf(stderr, "tern run: %-10s %10.2f ms\n", "total", load_ms + prompt_ms + gen_ms);
  if (sess_opt.profile) {
    const model::ForwardProfile& p = session.profile();
    double total = 0;
    for (double s : p.seconds) total += s;
    std::fprintf(stderr, "tern run: profile: %.2f ms in %llu forward steps of %llu tokens\n", 1e3 * total,
                 static_cast<unsigned long long>(p.steps), static_cast<unsigned long long>(p.tokens));
    for (int i = 0; i < model::ForwardProfile::kParts; ++i)
      std::fprintf(stderr, "tern run:   %-28s %10.2f ms %6.1f %%\n", model::ForwardProfile::name(i), 1e3 * p.seconds[i],
                   total > 0 ? 100 * p.seconds[i] / total : 0.0);
  }
  // What the model cost in memory against what it must hold: the mapped file, the
  // weights it packed, the KV cache (the budget is their sum + 10 %).
  const uint64_t peak_rss = peak_rss_bytes(), file_b = model.file_bytes(), weights_b = model.weight_bytes(),
                 kv_b = session.kv_bytes();
  const uint64_t model_rss = peak_rss > rss_before_load ? peak_rss - rss_before_load : 0;
  std::fprintf(stderr, "tern run: %-10s peak RSS %s = %s before loading + %s; file %s + weights %s + KV cache %s = %s\n",
               "memory", human_bytes(peak_rss).c_str(), human_bytes(rss_before_load).c_str(),
               human_bytes(model_rss).c_str(), human_bytes(file_b).c_str(), human_bytes(weights_b).c_str(),
               human_bytes(kv_b).c_str(), human_bytes(file_b + weights_b + kv_b).c_str());

  if (json) {
    // Timing names as llama.cpp's server reports them.
    auto per_s = [](size_t n, double ms) { return ms > 0 ? 1e3 * static_cast<double>(n) / ms : 0.0; };
    nlohmann::ordered_json j = {
        {"model", model_path},
        {"seed", seed},
        {"threads", threads},
        {"n_ctx", ctx},
        {"prompt_tokens", tokens},
        {"tokens", generated},
        {"text", text},
        {"stop", stop},
        {"timings",
         {{"load_ms", load_ms},
          {"prompt_n", tokens.size()},
          {"prompt_ms", prompt_ms},
          {"prompt_per_second", per_s(tokens.size(), prompt_ms)},
          {"predicted_n", generated.size()},
          {"decode_steps", n_decode},
          {"predicted_ms", decode_ms},
          {"predicted_per_second", per_s(n_decode, decode_ms)},
          {"sample_ms", sample_ms}}},
        {"profile_ms",
         [&] {
           nlohmann::ordered_json j = nlohmann::ordered_json::object();
           if (sess_opt.profile)
             for (int i = 0; i < model::ForwardProfile::kParts; ++i)
               j[model::ForwardProfile::name(i)] = 1e3 * session.profile().seconds[i];
           return j;
         }()},
        {"memory",
         {{"rss_before_load_bytes", rss_before_load},
          {"peak_rss_bytes", peak_rss},
          {"file_bytes", file_b},
          {"weight_bytes", weights_b},
          {"kv_cache_bytes", kv_b}}},
    };
    std::string out = j.dump(1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    out += "\n";
    emit(out);
  }
  return 0;
}

}  // namespace tern::cli
