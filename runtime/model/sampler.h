// Picks the next token from a row of logits: greedy, or llama.cpp's default
// sampler chain restricted to the samplers tern offers.
//
//   tern::model::SamplerOptions so;  // llama.cpp's defaults: temp 0.8, top-k 40, top-p 0.95, min-p 0.05
//   so.seed = 42;
//   tern::model::Sampler sampler(model.hparams().n_vocab, so);
//   for (int32_t t : prompt) sampler.accept(t);    // the prompt counts for the repetition penalty
//   int32_t next = sampler.sample(logits.data());  // also accepts `next`
//
// The chain, in llama.cpp's default order (common/common.h, common_params_sampling::samplers:
// penalties, dry, top_n_sigma, top_k, typical_p, top_p, min_p, xtc, temperature; then dist;
// dry, top-n-sigma, typical-p and xtc are off by default there and absent here):
//   1. repetition penalty over the last repeat_last_n accepted tokens: each distinct token
//      among them has its logit divided by the penalty when positive, multiplied when <= 0
//      (llama_sampler_penalties; frequency and presence penalties are not offered);
//   2. top-k: keep the k largest logits (k <= 0: off);
//   3. top-p: softmax (at temperature 1) over what is left, keep the smallest prefix of the
//      sorted tokens whose probabilities sum to >= p (p >= 1: off);
//   4. min-p: keep tokens with p_i >= min_p * p_max, i.e. logit >= max + log(min_p) (<= 0: off);
//   5. temperature: divide the logits by it;
//   6. dist: softmax and draw one token with std::mt19937_64 seeded by `seed`.
// Note that the temperature comes last, so the top-p and min-p cut-offs do not depend on it.
// temperature <= 0 is greedy: the penalised logits' argmax, lowest id on ties (every
// filter above keeps the maximum, so the chain would pick it too), and the RNG is not used.
//
// The same options, seed and inputs give the same tokens on every run of one build. The
// draws are not llama.cpp's (it uses a 32-bit std::mt19937 and std::discrete_distribution).
//
// All buffers are allocated by the constructor: sample() and accept() allocate nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace tern::model {

struct SamplerOptions {
  float temperature = 0.8f;     // <= 0: greedy
  int32_t top_k = 40;           // <= 0: off
  float top_p = 0.95f;          // >= 1: off
  float min_p = 0.05f;          // <= 0: off
  float repeat_penalty = 1.0f;  // 1: off (llama.cpp's default since it disabled it)
  int32_t repeat_last_n = 64;   // how many recent tokens the penalty looks at; 0: off
  uint64_t seed = 0;
};

class Sampler {
 public:
  // Throws tern::Error for n_vocab == 0 or options that validate() rejects.
  Sampler(size_t n_vocab, const SamplerOptions& options = {});

  // Checks the options; throws tern::Error naming the bad one ("top-p 1.5: expected 0..1").
  static void validate(const SamplerOptions& options);

  // The next token for logits[n_vocab] (left unchanged); the token is also accepted.
  int32_t sample(const float* logits);
  // Records a token for the repetition penalty (the prompt's tokens, or tokens chosen elsewhere).
  void accept(int32_t token);
  // Forgets the accepted tokens and reseeds the RNG with options().seed.
  void reset();

  // argmax with the lowest index on ties; NaNs are never chosen unless all are NaN (then 0).
  static int32_t argmax(const float* logits, size_t n);

  const SamplerOptions& options() const { return options_; }
  size_t n_vocab() const { return n_vocab_; }
  // How many candidates survived the filters in the last sample() (1 for greedy), for tests.
  size_t last_candidates() const { return last_candidates_; }

 private:
  struct Candidate {
    float logit;
    int32_t id;
  };

  static bool before(const Candidate& a, const Candidate& b);
  void apply_penalties(float* logits);
  void sort_candidates();  // descending logit, ascending id on ties
  void top_k();
  void top_p();
  void min_p();
  int32_t draw();

  SamplerOptions options_;
  size_t n_vocab_ = 0;
  std::mt19937_64 rng_;

  std::vector<float> work_;      // [n_vocab] penalised logits
  std::vector<Candidate> cand_;  // [n_vocab]
  size_t n_cand_ = 0;
  bool sorted_ = false;
  std::vector<float> probs_;      // [n_vocab]
  std::vector<int32_t> history_;  // ring buffer of the last repeat_last_n tokens
  size_t history_next_ = 0, history_size_ = 0;
  std::vector<uint32_t> penalised_;  // [n_vocab] stamp: penalised in sample number x
  uint32_t stamp_ = 0;
  size_t last_candidates_ = 0;
};

}  // namespace tern::model
