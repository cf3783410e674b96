// A BitNet b1.58 model loaded from GGUF: hyperparameters, ternary projections
// and the float tensors around them. The forward pass lives in session.h.
//
// Architectures (general.architecture):
//  - `bitnet`        llama.cpp's BitNet (build_bitnet): SiLU(gate) * up.
//  - `bitnet-b1.58`  bitnet.cpp fork (Eddie-Wang1120/llama.cpp, build_bitnet_158):
//  - `bitnet-25`     the same graph with ReLU(gate)^2 * up (LLM_FFN_RELU_SQR, LLM_FFN_PAR).
// An optional <arch>.hidden_activation ("silu" or "relu2"), which newer
// llama.cpp reads for `bitnet`, overrides the default of the arch.
// All three use NEOX rope (llama_rope_type lists them with the "offset by n_rot/2"
// archs), attention scale 1/sqrt(head_dim), attn_sub_norm before Wo and
// ffn_sub_norm before W_down, and output_norm before the LM head.
//
// Tensors use llama.cpp's names: token_embd, output_norm, optional output
// (untied head), blk.N.{attn_norm, attn_q, attn_k, attn_v, attn_sub_norm,
// attn_output, ffn_norm, ffn_gate, ffn_up, ffn_sub_norm, ffn_down}.weight,
// optional blk.N.<proj>.scale (one float multiplying that projection's output,
// as the fork's converter writes for some checkpoints) and an optional
// rope_freqs.weight (llama3-style per-frequency divisors).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/core/ggml_type.h"
#include "runtime/core/huge_pages.h"
#include "runtime/gguf/gguf.h"
#include "runtime/model/ternary_linear.h"

namespace tern::ref {
struct FormatTraits;
}

namespace tern::model {

enum class FfnActivation { SiLU, ReluSquared };
enum class KvType { F32, F16 };

// How the ternary projections treat their input.
enum class Activations {
  Int8,   // per-token absmax int8, exact int32 accumulation: BitNet b1.58 and bitnet.cpp's scheme
  Float,  // dequantised weights times float activations: for checking the graph against float runs
};

struct ModelOptions {
  Activations acts = Activations::Int8;
  // Float mode only: round activations where ggml does (inputs of F16 / BF16
  // matmuls to that type, and with an F16 KV cache, Q and the softmax weights
  // to f16), so a run of an F16 file matches llama.cpp's to float rounding.
  bool ggml_rounding = true;
  KvType kv_type = KvType::F16;  // the KV cache sessions of this model allocate
  // Int8 mode: pack each projection for the JIT kernel the dispatcher picks
  // (registered providers; none -> the reference kernel on unpacked trits).
  bool use_kernels = true;
  int threads = 1;  // the thread count kernels are picked for (tuned per count)
};

struct HParams {
  std::string arch;
  uint32_t n_vocab = 0;
  uint32_t n_embd = 0;
  uint32_t n_layer = 0;
  uint32_t n_head = 0;
  uint32_t n_head_kv = 0;
  uint32_t head_dim = 0;
  uint32_t n_ff = 0;
  uint32_t n_ctx_train = 0;  // <arch>.context_length
  float rope_freq_base = 10000.0f;
  float rope_freq_scale = 1.0f;  // 1 / linear rope scaling factor
  float rms_eps = 1e-5f;
  FfnActivation ffn_act = FfnActivation::SiLU;

  uint32_t n_embd_kv() const { return head_dim * n_head_kv; }
};

// A matrix of n_rows rows of row_len floats stored in a float-like format
// (F32, F16, BF16, Q8_0, Q6_K): the token embedding and the LM head. Rows are
// dequantised on demand, from the mapped file (the LM head: from a copy on
// huge pages, see ModelLoader::move_to_huge_pages).
struct FloatRows {
  std::string name;
  GgmlType type = GgmlType::F32;
  const ref::FormatTraits* format = nullptr;
  const uint8_t* data = nullptr;
  size_t row_len = 0;
  size_t n_rows = 0;
  size_t row_bytes = 0;

  void row(size_t i, float* out) const;
};

struct Layer {
  std::vector<float> attn_norm, attn_sub_norm, ffn_norm, ffn_sub_norm;
  TernaryLinear wq, wk, wv, wo;
  TernaryLinear ffn_gate, ffn_up, ffn_down;
};

class Model {
 public:
  // Maps the file and validates everything against the hyperparameters; any
  // problem is a tern::Error naming the file, the key or tensor, and what was expected.
  static Model load(const std::string& path, const ModelOptions& options = {});
  // The same for a file already parsed (e.g. gguf::File::parse over bytes the
  // caller keeps alive as long as the Model).
  static Model from_file(gguf::File file, const ModelOptions& options = {});

  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;
  ~Model();

  const std::string& name() const;  // the file's name, for messages
  const HParams& hparams() const { return hp_; }
  const ModelOptions& options() const { return options_; }
  // Warnings from loading (tuning records skipped, and why).
  const std::vector<std::string>& notes() const { return notes_; }
  // Where the projections' kernels came from, e.g. "kernels: 210 x tuned (results/....json)".
  const std::string& kernels() const { return kernels_; }
  const std::vector<Layer>& layers() const { return layers_; }
  const FloatRows& token_embd() const { return token_embd_; }
  // The LM head: output.weight when the file has one, else token_embd (tied).
  const FloatRows& head() const { return untied_head_ ? output_ : token_embd_; }
  bool tied_head() const { return !untied_head_; }
  const std::vector<float>& output_norm() const { return output_norm_; }
  // Empty unless the file has rope_freqs.weight: theta_i is divided by factor i.
  const std::vector<float>& rope_freq_factors() const { return rope_freq_factors_; }

  // Memory: the mapped file's size, and what the model holds beyond it (packed or
  // unpacked projection weights, their scales, norms, the head's copy). The file's pages of packed
  // tensors are given back after packing, so a run's resident set stays within
  // file + weights + KV cache (Session::kv_bytes).
  uint64_t file_bytes() const;
  uint64_t weight_bytes() const;

 private:
  Model() = default;

  std::unique_ptr<gguf::File> file_;  // kept mapped: embedding and head rows are read from it
  ModelOptions options_;
  std::vector<std::string> notes_;
  std::string kernels_;
  HParams hp_;
  FloatRows token_embd_;
  FloatRows output_;
  bool untied_head_ = false;
  LargeVector<uint8_t> head_copy_;  // the head's rows on huge pages, when the system has them
  std::vector<float> output_norm_;
  std::vector<float> rope_freq_factors_;
  std::vector<Layer> layers_;

  friend class ModelLoader;
};

}  // namespace tern::model
