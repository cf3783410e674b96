// tern perplexity: a model's perplexity on a text file, by llama.cpp's llama-perplexity method.
//
// The method (llama.cpp tools/perplexity, the default path without --ppl-stride):
//  - the whole text is tokenized once, with BOS first when the vocabulary adds one;
//  - the tokens are cut into n_chunk = n_tokens / ctx chunks of ctx tokens (the remainder is
//    dropped; --chunks N keeps at most the first N), and at least 2 * ctx tokens are required;
//  - each chunk is evaluated on its own, from position 0 in a fresh Session, with its first
//    token replaced by BOS when the vocabulary adds one;
//  - only the second half is scored: with first = ctx / 2, the logits at positions
//    first .. ctx - 2 predict the tokens at first + 1 .. ctx - 1 (ctx - first - 1 per chunk);
//  - PPL = exp(mean of -log p), printed as it runs after each chunk ("[1]12.3456,[2]..."),
//    then "Final estimate: PPL = P +/- E" with E = P * sqrt(var(-log p) / (count - 1)), the
//    standard error carried through exp to first order, as llama.cpp prints it.
// log p is a log-softmax computed in double over the vocabulary's tokens (rows beyond the
// vocabulary, padding of a larger head, are ignored). Each position's -log p is computed
// independently and the sums run in position order, so the result does not depend on -t.
// Differences from llama.cpp: llama.cpp's softmax sums float exps into a double; here every
// term is a double. The per-chunk list and the final estimate both go to stdout (llama.cpp
// logs the final line to stderr); progress and notes go to stderr.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <thread>

#include "cli/cli_common.h"
#include "cli/stdout_io.h"
#include "runtime/core/error.h"
#include "runtime/gguf/gguf.h"
#include "runtime/model/model.h"
#include "runtime/model/session.h"
#include "runtime/tokenizer/tokenizer.h"

namespace tern::cli {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// -log softmax(row)[target] over row[0..n), in double.
double negative_log_prob(const float* row, size_t n, int32_t target) {
  double max = row[0];
  for (size_t i = 1; i < n; ++i) max = std::max(max, static_cast<double>(row[i]));
  double sum = 0;
  for (size_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(row[i]) - max);
  return max + std::log(sum) - static_cast<double>(row[target]);
}

// nll[r] = -log p(targets[r]) for rows r of logits [n_rows][stride] (softmax over the first
// n_vocab entries), spread over up to `threads` threads. Each row's value depends on that
// row alone, so the thread count does not change any of them.
void score_rows(const float* logits, size_t n_rows, size_t stride, size_t n_vocab, const int32_t* targets,
                int threads, double* nll) {
  const size_t n_threads = std::min<size_t>(static_cast<size_t>(std::max(threads, 1)), n_rows);
  auto work = [&](size_t t) {
    for (size_t r = t; r < n_rows; r += n_threads)
      nll[r] = negative_log_prob(logits + r * stride, n_vocab, targets[r]);
  };
  std::vector<std::thread> workers;
  for (size_t t = 1; t < n_threads; ++t) workers.emplace_back(work, t);
  if (n_threads > 0) work(0);
  for (auto& w : workers) w.join();
}

}  // namespace

int cmd_perplexity(const std::vector<std::string>& args) {
  po::options_description desc("options");
  std::string model_path, text_path, kv = "f16";
  int64_t ctx = 512, chunks = -1;
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // clang-format off
  desc.add_options()
      ("model,m", po::value(&model_path)->required(), "GGUF model file")
      ("file,f", po::value(&text_path)->required(), "text file (UTF-8), e.g. wikitext-2's wiki.test.raw")
      ("ctx,c", po::value(&ctx)->default_value(512), "tokens per chunk; the second half of each is scored (at least 4)")
      ("threads,t", po::value(&threads)->default_value(threads), "threads, 1..1024 (default: this machine's logical CPUs)")
      ("chunks", po::value(&chunks)->default_value(-1), "score at most this many chunks (-1 = all)")
      ("kv", po::value(&kv)->default_value(kv), "KV cache type: f16 | f32")
      ("json", "print one JSON object (running PPL per chunk, final PPL and its error) instead of text");
  // clang-format on
  po::variables_map vm;
  if (!parse_options("perplexity", args, desc, vm, "-m FILE -f TEXT [--ctx 512] [-t N] [--chunks N] [--json]",
                     "  tern perplexity -m model.gguf -f wiki.test.raw\n"
                     "  tern perplexity -m model.gguf -f wiki.test.raw --ctx 512 --chunks 20 -t 4\n"
                     "  tern perplexity -m model.gguf -f text.txt --ctx 128 --json\n"))
    return 0;

  if (threads < 1 || threads > 1024)
    throw UsageError("--threads " + std::to_string(threads) + ": expected 1..1024");
  if (ctx < 4 || ctx > (int64_t{1} << 20))
    throw UsageError("--ctx " + std::to_string(ctx) + ": expected 4..1048576 tokens");
  if (chunks == 0 || chunks < -1)
    throw UsageError("--chunks " + std::to_string(chunks) + ": expected -1 (all) or 1 or more");
  const bool json = vm.count("json") > 0;
  const size_t n_ctx = static_cast<size_t>(ctx);
  const model::KvType kv_type = parse_kv_type(kv);

  const std::string text = read_text_file(text_path);

  // Load: one mapping serves the tokenizer (which copies what it needs) and the model.
  const auto t_load = Clock::now();
  gguf::File file = gguf::File::open(model_path);
  const tokenizer::Tokenizer tok = tokenizer::Tokenizer::from_gguf(file);
  model::ModelOptions mo;
  mo.threads = threads;
  mo.kv_type = kv_type;
  const model::Model model = model::Model::from_file(std::move(file), mo);
  const double load_s = seconds_since(t_load);
  for (const std::string& note : model.notes()) std::cerr << "tern perplexity: " << note << "\n";
  const size_t stride = model.hparams().n_vocab;
  const size_t n_vocab = static_cast<size_t>(tok.n_vocab());
  if (n_vocab > stride)
    throw Error(model_path + ": the tokenizer has " + std::to_string(n_vocab) +
                " tokens but the model's vocabulary is " + std::to_string(stride));
  if (model.hparams().n_ctx_train && n_ctx > model.hparams().n_ctx_train)
    std::fprintf(stderr, "tern perplexity: warning: --ctx %zu is more than the model was trained on (%u)\n",
                 n_ctx, model.hparams().n_ctx_train);

  // Tokenize once. BOS as llama.cpp's common_tokenize(text, add_special = true) adds it; an
  // EOS is never appended (llama.cpp refuses vocabularies that append one).
  const auto t_tok = Clock::now();
  const bool add_bos = tok.add_bos() && tok.bos() != tokenizer::kNoToken;
  std::vector<int32_t> tokens = tok.encode(text, false, false);
  if (add_bos) tokens.insert(tokens.begin(), tok.bos());
  const double tok_s = seconds_since(t_tok);
  if (tokens.size() < 2 * n_ctx)
    throw Error(text_path + " tokenizes to only " + std::to_string(tokens.size()) +
                " tokens, but perplexity with a context of " + std::to_string(n_ctx) +
                " needs at least 2 x " + std::to_string(n_ctx) + " = " + std::to_string(2 * n_ctx) +
                " tokens (use a longer text or a smaller --ctx)");

  std::fprintf(stderr, "tern perplexity: %s: %zu tokens (tokenized in %.1f ms)\n", text_path.c_str(),
               tokens.size(), 1e3 * tok_s);

  const size_t n_chunk_max = tokens.size() / n_ctx;
  const size_t n_chunk = chunks < 0 ? n_chunk_max : std::min(n_chunk_max, static_cast<size_t>(chunks));
  const size_t first = n_ctx / 2;
  // The scored half is evaluated in steps of at most this many tokens, so at most
  // n_batch rows of logits are held at a time.
  const size_t n_batch = std::min<size_t>(n_ctx, 512);
  std::fprintf(
      stderr,
      "tern perplexity: calculating perplexity over %zu chunks, n_ctx=%zu, batch_size=%zu, %d thread%s\n",
      n_chunk, n_ctx, n_batch, threads, threads == 1 ? "" : "s");

  model::SessionOptions so;
  so.n_ctx = static_cast<uint32_t>(n_ctx);
  so.n_batch = static_cast<uint32_t>(n_batch);
  so.threads = threads;
  std::vector<float> last(stride), logits(n_batch * stride);
  std::vector<double> nll_rows(n_batch);
  std::vector<int32_t> chunk(n_ctx);
  std::vector<double> running;
  double nll = 0, nll2 = 0;
  size_t count = 0;
  const auto t_eval = Clock::now();
  for (size_t c = 0; c < n_chunk; ++c) {
    const auto t_chunk = Clock::now();
    std::copy_n(tokens.begin() + static_cast<ptrdiff_t>(c * n_ctx), n_ctx, chunk.begin());
    if (add_bos) chunk[0] = tok.bos();
    model::Session session(model, so);
    // Positions 0 .. first - 1 give context only; their logits are not scored.
    session.eval(chunk.data(), first, last.data(), false);
    // Positions first .. ctx - 1 with all logits; position ctx - 1 has no next token.
    for (size_t off = first; off < n_ctx; off += n_batch) {
      const size_t m = std::min(n_batch, n_ctx - off);
      session.eval(chunk.data() + off, m, logits.data(), true);
      const size_t rows = std::min(m, n_ctx - 1 - off);  // rows that have a next token
      score_rows(logits.data(), rows, stride, n_vocab, chunk.data() + off + 1, threads, nll_rows.data());
      for (size_t r = 0; r < rows; ++r) {
        nll += nll_rows[r];
        nll2 += nll_rows[r] * nll_rows[r];
      }
      count += rows;
    }
    running.push_back(std::exp(nll / static_cast<double>(count)));
    if (c == 0) {
      const double pass_s = seconds_since(t_chunk);
      std::fprintf(stderr, "tern perplexity: %.2f seconds per pass - ETA %.2f minutes\n", pass_s,
                   pass_s * static_cast<double>(n_chunk) / 60.0);
    }
    std::fprintf(json ? stderr : stdout, "[%zu]%.4f,", c + 1, running.back());
    if (json)
      std::fflush(stderr);
    else
      flush_stdout();
  }
  std::fprintf(json ? stderr : stdout, "\n");
  flush_stdout();
  const double eval_s = seconds_since(t_eval);

  const double mean = nll / static_cast<double>(count);
  const double ppl = std::exp(mean);
  const double var = nll2 / static_cast<double>(count) - mean * mean;
  // The standard error of the mean of -log p, carried through exp to first order.
  const double err = var > 0 && count > 1 ? ppl * std::sqrt(var / static_cast<double>(count - 1))
                                          : std::numeric_limits<double>::quiet_NaN();

  std::fprintf(stderr,
               "tern perplexity: %zu tokens scored in %.2f s (%.1f tokens/s evaluated), load %.2f s\n", count,
               eval_s, eval_s > 0 ? static_cast<double>(n_chunk * n_ctx) / eval_s : 0.0, load_s);
  if (json) {
    nlohmann::ordered_json j = {
        {"model", model_path},
        {"file", text_path},
        {"n_tokens", tokens.size()},
        {"n_ctx", n_ctx},
        {"n_chunks", n_chunk},
        {"threads", threads},
        {"scored_tokens", count},
        {"chunks", running},
        {"ppl", ppl},
        {"ppl_stderr", std::isfinite(err) ? nlohmann::ordered_json(err) : nlohmann::ordered_json(nullptr)},
        {"mean_nll", mean},
        {"timings", {{"load_s", load_s}, {"tokenize_s", tok_s}, {"eval_s", eval_s}}},
    };
    std::cout << j.dump(1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
  } else if (std::isfinite(err)) {
    std::printf("Final estimate: PPL = %.4f +/- %.5f\n", ppl, err);
  } else {
    std::printf("Final estimate: PPL = %.4f\n", ppl);
  }
  flush_stdout();
  return 0;
}

}  // namespace tern::cli
