// tern synth: a BitNet GGUF with random ternary weights of real shapes.
#include <chrono>
#include <iostream>

#include "cli/cli_common.h"
#include "cli/progress.h"
#include "runtime/core/error.h"
#include "runtime/model/synth.h"

namespace tern::cli {
namespace {

GgmlType parse_type(const std::string& s, const char* option,
                    std::initializer_list<GgmlType> allowed) {
  std::optional<GgmlType> t = ggml_type_from_name(s);
  std::string names;
  for (GgmlType a : allowed) {
    if (t && *t == a) return a;
    std::string n(ggml_type_name(a));
    for (char& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    names += (names.empty() ? "" : "|") + n;
  }
  throw UsageError(std::string("--") + option + " " + s + ": expected " + names);
}

}  // namespace

int cmd_synth(const std::vector<std::string>& args) {
  po::options_description desc("options");
  std::string preset, type, embd_type, arch, out, vocab;
  uint64_t seed = 0;
  desc.add_options()
      ("preset", po::value(&preset)->default_value("tiny"), "model shape: tiny|small|2b4t|3b|8b")
      ("type", po::value(&type)->default_value("tq2_0"), "projection weights: tq2_0|tq1_0|i2_s|f16|bf16|f32")
      ("embd-type", po::value(&embd_type)->default_value("f16"), "token embedding / tied LM head: f16|bf16|f32|q8_0|q6_k")
      ("arch", po::value(&arch)->default_value("bitnet"), "bitnet (llama.cpp) | bitnet-b1.58 (bitnet.cpp)")
      ("seed", po::value(&seed)->default_value(1), "random seed (same seed, same file)")
      ("vocab", po::value(&vocab), "copy the tokenizer from this GGUF (e.g. a llama3 vocab file)")
      ("output,o", po::value(&out)->required(), "output GGUF path");
  po::variables_map vm;
  if (!parse_options("synth", args, desc, vm, "[--preset P] [--type T] [--embd-type E] -o FILE",
                     "  tern synth --preset tiny -o tiny.gguf\n"
                     "  tern synth --preset 2b4t --type tq2_0 --embd-type q6_k -o bitnet-2b4t-tq2_0.gguf\n"
                     "  tern synth --preset 2b4t --type i2_s --arch bitnet-b1.58 -o bitnet-2b4t-i2_s.gguf\n"))
    return 0;

  std::optional<model::ModelShape> shape = model::preset_shape(preset);
  if (!shape) throw UsageError("--preset " + preset + ": expected tiny|small|2b4t|3b|8b");
  model::SynthOptions opt;
  opt.shape = *shape;
  opt.type = parse_type(type, "type", {GgmlType::TQ2_0, GgmlType::TQ1_0, GgmlType::I2_S, GgmlType::F16, GgmlType::BF16, GgmlType::F32});
  opt.embd_type = parse_type(embd_type, "embd-type", {GgmlType::F16, GgmlType::BF16, GgmlType::F32, GgmlType::Q8_0, GgmlType::Q6_K});
  opt.arch = arch;
  opt.seed = seed;
  opt.vocab_path = vocab;
  opt.name = "tern-synth-" + preset;

  auto start = std::chrono::steady_clock::now();
  Progress progress("synth " + out);
  model::SynthSummary s;
  try {
    // The writer streams into `<out>.tmp.<pid>` and renames it onto `out` only when complete:
    // a failure (a full disk included) removes it and leaves an existing `out` as it was.
    s = model::synth_model(opt, out, [&](uint64_t done, uint64_t total) {
      progress.update(done, total, human_bytes(done) + "/" + human_bytes(total));
    });
  } catch (...) {
    progress.finish();  // on a terminal the error then starts a line of its own, not after the bar
    throw;
  }
  progress.finish();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "wrote " << out << ": arch " << arch << ", preset " << preset << " (" << shape->n_layer
            << " layers, n_embd " << shape->n_embd << ", n_ff " << shape->n_ff << ", heads "
            << shape->n_head << "/" << shape->n_head_kv << ", vocab " << s.n_vocab << "), "
            << type << " weights, " << embd_type << " embedding, " << s.tensors << " tensors, "
            << s.ternary_weights << " ternary weights, " << human_bytes(s.file_bytes) << " in "
            << secs << " s\n";
  return 0;
}

}  // namespace tern::cli
