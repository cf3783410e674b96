// tern eval: run tokens through a model and write every position's logits.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
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

// The --logits file: created as `<path>.tmp.<pid>` before the model is even loaded, so an
// unwritable path fails at once rather than after the whole evaluation; renamed onto
// `path` only when every byte is written and synced. Any failure (disk full included)
// removes the temporary file and leaves an existing `path` untouched.
class AtomicOutput {
 public:
  explicit AtomicOutput(std::string path)
      : path_(std::move(path)), temp_(path_ + ".tmp." + std::to_string(::getpid())) {
    struct stat st {};
    if (::stat(path_.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
      throw Error(path_ + ": is a directory; expected the path of the file to write");
    fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) fail("cannot create " + temp_);
  }
  AtomicOutput(const AtomicOutput&) = delete;
  AtomicOutput& operator=(const AtomicOutput&) = delete;
  ~AtomicOutput() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(temp_.c_str());
  }

  void write_and_commit(const void* data, size_t n) {
    const auto* p = static_cast<const uint8_t*>(data);
    while (n > 0) {
      const ssize_t w = ::write(fd_, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w == 0) errno = EIO;  // no progress and no error code: do not spin
      if (w <= 0) fail("cannot write " + temp_);
      p += w;
      n -= static_cast<size_t>(w);
    }
    if (::fsync(fd_) != 0) fail("cannot sync " + temp_);
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail("cannot close " + temp_);
    if (::rename(temp_.c_str(), path_.c_str()) != 0) fail("cannot rename " + temp_ + " onto it");
    committed_ = true;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    const int e = errno;
    throw Error(path_ + ": " + what + ": " + std::strerror(e));
  }

  std::string path_, temp_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace

int cmd_eval(const std::vector<std::string>& args) {
  po::options_description desc("options");
  std::string model_path, tokens_arg, out, kv;
  int64_t decode_from = -1;
  uint32_t n_ctx = 0;
  int threads = 1;
  desc.add_options()("threads,t", po::value(&threads)->default_value(1), "threads")(
      "model,m", po::value(&model_path)->required(), "GGUF model file")(
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
  mo.kv_type = parse_kv_type(kv);
  if (vm.count("float-acts")) mo.acts = model::Activations::Float;
  if (threads < 1 || threads > 1024)
    throw UsageError("--threads " + std::to_string(threads) + ": expected 1..1024");
  mo.threads = threads;
  size_t batch = tokens.size();
  if (vm.count("decode-from")) {
    if (decode_from < 0 || static_cast<uint64_t>(decode_from) > tokens.size())
      throw UsageError("--decode-from " + std::to_string(decode_from) + ": expected 0.." +
                       std::to_string(tokens.size()) + " (the number of tokens)");
    batch = static_cast<size_t>(decode_from);
  }

  AtomicOutput output(out);
  const auto t0 = std::chrono::steady_clock::now();
  model::Model model = model::Model::load(model_path, mo);
  for (const std::string& note : model.notes()) std::cerr << "tern eval: " << note << "\n";
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

  output.write_and_commit(logits.data(), logits.size() * sizeof(float));
  if (!model.kernels().empty()) std::cerr << "tern eval: " << model.kernels() << "\n";
  const double load_s = std::chrono::duration<double>(t1 - t0).count();
  const double eval_s = std::chrono::duration<double>(t2 - t1).count();
  std::fprintf(stderr, "eval: %zu tokens (%zu batched, %zu decoded) in %.3f s, %.1f tokens/s (load %.3f s)\n",
               tokens.size(), batch, tokens.size() - batch, eval_s,
               eval_s > 0 ? static_cast<double>(tokens.size()) / eval_s : 0.0, load_s);
  std::cout << "wrote " << out << ": " << tokens.size() << " x " << V << " float32 logits\n";
  return 0;
}

}  // namespace tern::cli
