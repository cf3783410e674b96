// One conversation with a Model: the KV cache and the buffers of the forward
// pass, all allocated when the session is created (no allocation per token
// afterwards). Positions continue from the cache across eval() calls.
//
//   tern::model::Model model = tern::model::Model::load("tiny.gguf");
//   tern::model::Session s(model);
//   std::vector<float> logits(model.hparams().n_vocab);
//   s.eval(prompt.data(), prompt.size(), logits.data(), /*all_logits=*/false);  // prefill
//   s.eval(&next, 1, logits.data(), false);                                   // decode
//
// Every per-token step (norms, int8 quantisation, matmul rows, rope,
// attention over the cache) depends only on that token's row, so a batch and
// the same tokens fed one at a time give bit-identical logits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <vector>

#include "runtime/model/head_kernels.h"
#include "runtime/model/model.h"
#include "runtime/model/ternary_linear.h"

namespace tern::model {

struct SessionOptions {
  uint32_t n_ctx = 0;    // KV cache positions; 0 = the model's context_length
  uint32_t n_batch = 0;  // tokens per forward step; longer evals run in steps; 0 = min(n_ctx, 256)
  int threads = 1;       // threads of the session's pool (the caller's thread is one of them)
  bool profile = false;  // time the parts of the forward pass (Session::profile)
};

// Wall time of each part of the forward pass, summed over the evals of a
// session run with SessionOptions::profile (tern run --profile).
struct ForwardProfile {
#define TERN_FORWARD_PARTS(X)                                                                \
  X(embed, "token embedding") X(norm, "RMS norms") X(quantize, "activation quantisation")   \
  X(matmul, "ternary matmuls") X(rope_kv, "RoPE + KV store") X(attention, "attention")      \
  X(elementwise, "residuals + FFN activation") X(head, "LM head")
#define TERN_PART_ENUM(e, s) e,
  enum Part { TERN_FORWARD_PARTS(TERN_PART_ENUM) kParts };
#undef TERN_PART_ENUM
  static const char* name(int part);
  double seconds[kParts] = {};
  uint64_t tokens = 0;  // tokens evaluated
  uint64_t steps = 0;   // forward steps (batches)
};

// The Model must outlive its sessions (they keep a reference to it) and must
// not be moved while they exist. One Session is used by one thread at a time.
class Session {
 public:
  // Throws tern::Error when the KV cache or buffers cannot be allocated.
  explicit Session(const Model& model, const SessionOptions& options = {});

  // Runs n tokens at positions n_past() .. n_past() + n - 1. Writes logits
  // [n][n_vocab] when all_logits, else only the last token's [n_vocab].
  // Throws tern::Error for a token outside the vocabulary or when the tokens
  // do not fit the context (nothing is evaluated then).
  void eval(const int32_t* tokens, size_t n, float* logits, bool all_logits);

  size_t n_past() const { return n_past_; }
  // All zero unless the session was made with SessionOptions::profile.
  const ForwardProfile& profile() const { return profile_; }
  size_t n_ctx() const { return n_ctx_; }
  // Forgets the cache: the next eval starts at position 0.
  void reset() { n_past_ = 0; }
  // Bytes of the KV cache (allocated for n_ctx positions).
  uint64_t kv_bytes() const {
    return (k_f32_.size() + v_f32_.size()) * sizeof(float) + (k_f16_.size() + v_f16_.size()) * sizeof(uint16_t);
  }

 private:
  void forward(const int32_t* tokens, size_t m, float* logits, bool all_logits);
  void add_residual(float* x, const float* y, size_t n) const;
  void spread(size_t n, size_t unit, size_t elements, const std::function<void(uint64_t, uint64_t)>& fn) const;
  void matmul(const TernaryLinear& w, const float* x, size_t m, float* y);
  void matmuls(std::initializer_list<LinearOut> outs, const float* x, size_t m);
  void rmsnorm(const float* x, const std::vector<float>& weight, size_t m, size_t n, float* y) const;
  void rope(float* v, size_t n_heads, size_t pos) const;
  size_t kv_offset(size_t layer, size_t kv_head, size_t pos) const;
  void store_kv(size_t layer, size_t pos, const float* k, const float* v);
  void attention(size_t layer, size_t m);
  void attention_heads(size_t layer, size_t t, size_t h0, size_t heads, float* scores, float* qh);
  void head(const float* x, size_t m, float* logits);

  const Model& model_;
  const HParams& hp_;
  size_t n_ctx_ = 0;
  size_t n_batch_ = 0;
  size_t n_past_ = 0;
  bool f16_kv_ = true;
  bool float_acts_ = false;
  bool ggml_rounding_ = false;
  bool profiling_ = false;
  mutable ForwardProfile profile_;
  // Adds the wall time of its scope to one part of profile_ (nothing when not profiling).
  class PartTimer {
   public:
    PartTimer(double* slot);
    ~PartTimer();
    PartTimer(const PartTimer&) = delete;
    PartTimer& operator=(const PartTimer&) = delete;

   private:
    double* slot_;
    int64_t t0_ns_ = 0;
  };
  PartTimer timed(ForwardProfile::Part part) const {
    return PartTimer(profiling_ ? &profile_.seconds[part] : nullptr);
  }

  // KV cache: [n_layer][n_head_kv][n_ctx][head_dim], f32 or f16 bits (kv_offset).
  LargeVector<float> k_f32_, v_f32_;
  LargeVector<uint16_t> k_f16_, v_f16_;
  // Rope cos/sin per position and frequency: [n_ctx][head_dim / 2].
  std::vector<float> rope_cos_, rope_sin_;

  // Activations for one step of up to n_batch tokens.
  std::vector<float> x_;         // residual stream [B][n_embd]
  std::vector<float> xb_;        // normed input [B][max(n_embd, n_ff)]
  std::vector<float> xb2_;       // projection output [B][n_embd]
  std::vector<float> q_;         // [B][n_embd]
  std::vector<float> k_, v_;     // [B][n_embd_kv]
  std::vector<float> att_;       // attention output [B][n_embd]
  std::vector<float> hb_, hb2_;  // FFN [B][n_ff]
  static constexpr size_t kHeadsTogether = 4;  // query heads attention runs at once (GQA)
  std::vector<float> scores_;    // per thread [kHeadsTogether][n_ctx]
  std::vector<float> qh_;        // one head of Q, rounded [head_dim]
  std::vector<float> head_row_;  // one dequantised LM head row [n_embd]
  std::vector<float> head_x_;    // rounded head input [B][n_embd]
  LinearScratch scratch_;
  QuantizedActs acts_;           // the int8 activations of the projections matmuls() runs
  HeadActs head_acts_;           // the LM head's activations, in its type's format
  std::unique_ptr<ThreadPool> pool_;
};

}  // namespace tern::model
