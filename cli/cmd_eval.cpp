// tern eval: run tokens through a model and write every position's logits.
#include <unistd.h>

#include <bit>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "cli/cli_common.h"
#include "runtime/core/error.h"
#include "runtime/model/model.h"
#include "runtime/model/session.h"

namespace tern::cli {
namespace {

static_assert(std::endian::native == std::endian::little, "eval writes the host's floats as little endian");

std::vector<int32_t> parse_tokens(const std::string& s) {
  std::vector<int32_t> out;
  size_t i = 0;
  while (i <= s.size()) {
    size_t j = s.find(',', i);
    if (j == std::string::npos) j = s.size();
    std::string item = s.substr(i, j - i);
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    int32_t v = 0;
    auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (item.empty() || ec != std::errc() || p != item.data() + item.size() || v < 0)
      throw UsageError("--tokens: '" + item +
                       "' is not a token id (expected non-negative integers like 1,2,3)");
    out.push_back(v);
    i = j + 1;
  }
  return out;
}

// Writes to a temporary name beside `path` and renames it into place, so a
// failure leaves no partial file.
void write_file_atomically(const std::string& path, const std::vector<float>& data) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw Error(path + ": cannot create " + tmp);
    f.write(reinterpret_cast<const char*>(data.data()),
            static_cast<std::streamsize>(data.size() * sizeof(float)));
    f.flush();
    if (!f) {
      std::error_code ec;
      std::filesystem::remove(tmp, ec);
      throw Error(path + ": cannot write " + tmp);
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    throw Error(path + ": cannot rename the temporary file into place: " + ec.message());
  }
}

}  // namespace

int cmd_eval(const std::vector<std::string>& args) {
  po::options_description desc("options");
  std::string model_path, tokens_arg, out, kv;
  int64_t decode_from = -1;
  uint32_t n_ctx = 0;
  int threads = 1;
  desc.add_options()("threads,t", po::value(&threads)->default_value(1), "threads")("model,m", po::value(&model_path)->required(), "GGUF model file")(
      "tokens", po::value(&tokens_arg)->required(), "comma-separated token ids, e.g. 1008,811,362")(
      "logits", po::value(&out)->required(), "output: float32 little-endian [n_tokens][n_vocab], row-major")(
      "decode-from", po::value(&decode_from),
      "evaluate the first N tokens as one batch, then the rest one at a time")(
      "kv", po::value(&kv)->default_value("f16"), "KV cache type: f16|f32")(
      "n-ctx", po::value(&n_ctx)->default_value(0), "context size (0 = the model's context_length)")(
      "float-acts",
      "float activations instead of int8 (dequantised weights; rounds like ggml for F16 files)");
  po::variables_map vm;
  if (!parse_options(
          "eval", args, desc, vm, "-m FILE --tokens 1,2,3 --logits OUT.f32 [options]",
          "  tern eval -m tiny.gguf --tokens 1008,811,362 --logits out.f32\n"
          "  tern eval -m tiny.gguf --tokens 1008,811,362,799 --logits out.f32 --decode-from 2 --kv f32\n"))
    return 0;

  const std::vector<int32_t> tokens = parse_tokens(tokens_arg);
  model::ModelOptions mo;
  if (kv == "f16")
    mo.kv_type = model::KvType::F16;
  else if (kv == "f32")
    mo.kv_type = model::KvType::F32;
  else
    throw UsageError("--kv " + kv + ": expected f16|f32");
  if (vm.count("float-acts")) mo.acts = model::Activations::Float;
  if (threads < 1 || threads > 1024) throw UsageError("--threads " + std::to_string(threads) + ": expected 1..1024");
  mo.threads = threads;
  size_t batch = tokens.size();
  if (vm.count("decode-from")) {
    if (decode_from < 0 || static_cast<uint64_t>(decode_from) > tokens.size())
      throw UsageError("--decode-from " + std::to_string(decode_from) + ": expected 0.." +
                       std::to_string(tokens.size()) + " (the number of tokens)");
    batch = static_cast<size_t>(decode_from);
  }

  const auto t0 = std::chrono::steady_clock::now();
  model::Model model = model::Model::load(model_path, mo);
  for (const std::string& note : model.notes()) std::cerr << "tern eval: " << note << "\n";
  if (!model.kernels().empty()) std::cerr << "tern eval: " << model.kernels() << "\n";
  model::SessionOptions so;
  so.n_ctx = n_ctx;
  so.threads = threads;
  model::Session session(model, so);
  const size_t V = model.hparams().n_vocab;
  std::vector<float> logits(tokens.size() * V);

  const auto t1 = std::chrono::steady_clock::now();
  session.eval(tokens.data(), batch, logits.data(), true);
  for (size_t i = batch; i < tokens.size(); ++i) session.eval(&tokens[i], 1, logits.data() + i * V, true);
  const auto t2 = std::chrono::steady_clock::now();

  write_file_atomically(out, logits);
  const double load_s = std::chrono::duration<double>(t1 - t0).count();
  const double eval_s = std::chrono::duration<double>(t2 - t1).count();
  std::fprintf(stderr, "eval: %zu tokens (%zu batched, %zu decoded) in %.3f s, %.1f tokens/s (load %.3f s)\n",
               tokens.size(), batch, tokens.size() - batch, eval_s,
               eval_s > 0 ? static_cast<double>(tokens.size()) / eval_s : 0.0, load_s);
  std::cout << "wrote " << out << ": " << tokens.size() << " x " << V << " float32 logits\n";
  return 0;
}

}  // namespace tern::cli
