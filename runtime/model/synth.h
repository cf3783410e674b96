// `tern synth`: BitNet-architecture GGUF files with random ternary weights of
// real shapes, written streaming, that llama.cpp (arch `bitnet`) or bitnet.cpp
// (arch `bitnet-b1.58`, I2_S) load as they load a converted checkpoint.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/core/ggml_type.h"

namespace tern::model {

struct ModelShape {
  uint32_t n_vocab = 0;
  uint32_t n_embd = 0;
  uint32_t n_layer = 0;
  uint32_t n_head = 0;
  uint32_t n_head_kv = 0;
  uint32_t n_ff = 0;
  uint32_t n_ctx = 0;
  float rope_freq_base = 500000.0f;
  float rms_eps = 1e-5f;
};

// tiny (the golden tiny-bitnet shapes), small (tens of MB: tests that need a model
// larger than the process around it), 2b4t (BitNet b1.58 2B4T), 3b (bitnet_b1_58-3B),
// 8b (Llama3-8B-1.58). Empty for an unknown name.
std::optional<ModelShape> preset_shape(std::string_view name);
const std::vector<std::string>& preset_names();

struct SynthOptions {
  ModelShape shape;
  std::string arch = "bitnet";          // "bitnet" (llama.cpp) or "bitnet-b1.58" (bitnet.cpp)
  GgmlType type = GgmlType::TQ2_0;      // projections: TQ2_0, TQ1_0, I2_S or F16
  GgmlType embd_type = GgmlType::F16;   // token_embd (tied LM head): F16, Q8_0 or Q6_K
  uint64_t seed = 1;
  std::string vocab_path;               // copy tokenizer.* from this GGUF instead of the built-in vocab
  std::string name = "tern-synth";      // general.name
};

struct SynthSummary {
  uint64_t file_bytes = 0;
  uint64_t ternary_weights = 0;  // elements of all projection tensors
  uint64_t tensors = 0;
  uint32_t n_vocab = 0;
};

// Throws tern::Error before writing anything when the shape does not suit the type
// (e.g. TQ2_0 needs every input length K to be a multiple of 256). `progress` gets
// (bytes written, total bytes) now and then. Writes to a temporary file and renames.
SynthSummary synth_model(const SynthOptions& opt, const std::string& path,
                         const std::function<void(uint64_t, uint64_t)>& progress = {});

// The built-in byte-level BPE vocabulary (GPT-2 byte mapping, letter-pair merges, control
// tokens at the end; llama3 numbering when n_vocab >= 128256). Exposed for tests.
struct BuiltinVocab {
  std::vector<std::string> tokens;
  std::vector<int32_t> token_types;  // 1 normal, 3 control
  std::vector<std::string> merges;
  uint32_t bos = 0, eos = 0, eot = 0;
};
BuiltinVocab builtin_vocab(uint32_t n_vocab);

}  // namespace tern::model
