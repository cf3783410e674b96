#include "runtime/model/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

#include "runtime/core/error.h"

namespace tern::model {
namespace {

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace

void Sampler::validate(const SamplerOptions& o) {
  if (!std::isfinite(o.temperature) || o.temperature < 0)
    throw Error("temperature " + num(o.temperature) + ": expected a number >= 0 (0 = greedy)");
  if (!(o.top_p >= 0 && o.top_p <= 1)) throw Error("top-p " + num(o.top_p) + ": expected 0..1 (1 = off)");
  if (!(o.min_p >= 0 && o.min_p <= 1)) throw Error("min-p " + num(o.min_p) + ": expected 0..1 (0 = off)");
  if (!std::isfinite(o.repeat_penalty) || o.repeat_penalty <= 0)
    throw Error("repeat-penalty " + num(o.repeat_penalty) + ": expected a number > 0 (1 = off)");
  if (o.repeat_last_n < 0)
    throw Error("repeat-last-n " + std::to_string(o.repeat_last_n) + ": expected >= 0 (0 = off)");
}

Sampler::Sampler(size_t n_vocab, const SamplerOptions& options) : options_(options), n_vocab_(n_vocab) {
  validate(options_);
  if (n_vocab_ == 0 || n_vocab_ > static_cast<size_t>(std::numeric_limits<int32_t>::max()))
    throw Error("sampler: vocabulary of " + std::to_string(n_vocab_) + " tokens");
  work_.resize(n_vocab_);
  cand_.resize(n_vocab_);
  probs_.resize(n_vocab_);
  penalised_.assign(n_vocab_, 0);
  history_.resize(static_cast<size_t>(options_.repeat_last_n));
  reset();
}

void Sampler::reset() {
  rng_.seed(options_.seed);
  history_next_ = history_size_ = 0;
}

void Sampler::accept(int32_t token) {
  if (history_.empty()) return;
  history_[history_next_] = token;
  history_next_ = (history_next_ + 1) % history_.size();
  history_size_ = std::min(history_size_ + 1, history_.size());
}

int32_t Sampler::argmax(const float* logits, size_t n) {
  size_t best = 0;
  bool found = false;
  for (size_t i = 0; i < n; ++i) {
    if (std::isnan(logits[i])) continue;
    if (!found || logits[i] > logits[best]) best = i, found = true;  // strict: the lowest id wins ties
  }
  return static_cast<int32_t>(best);
}

void Sampler::apply_penalties(float* logits) {
  const float penalty = options_.repeat_penalty;
  if (penalty == 1.0f || history_size_ == 0) return;
  // A stamp per token instead of a set: each distinct token is penalised once
  // however often it occurs, without clearing an array per sample.
  if (++stamp_ == 0) {
    std::fill(penalised_.begin(), penalised_.end(), 0u);
    stamp_ = 1;
  }
  for (size_t i = 0; i < history_size_; ++i) {
    const int32_t t = history_[i];
    if (t < 0 || static_cast<size_t>(t) >= n_vocab_ || penalised_[t] == stamp_) continue;
    penalised_[t] = stamp_;
    logits[t] = logits[t] <= 0 ? logits[t] * penalty : logits[t] / penalty;
  }
}

// Candidate order: larger logit first, lower id first among equal logits.
bool Sampler::before(const Candidate& a, const Candidate& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

void Sampler::sort_candidates() {
  if (sorted_) return;
  std::sort(cand_.begin(), cand_.begin() + static_cast<ptrdiff_t>(n_cand_), before);
  sorted_ = true;
}

void Sampler::top_k() {
  const int32_t k = options_.top_k;
  if (k <= 0 || static_cast<size_t>(k) >= n_cand_) return;
  std::partial_sort(cand_.begin(), cand_.begin() + k, cand_.begin() + static_cast<ptrdiff_t>(n_cand_),
                    before);
  n_cand_ = static_cast<size_t>(k);
  sorted_ = true;
}

void Sampler::top_p() {
  const float p = options_.top_p;
  if (p >= 1.0f || n_cand_ <= 1) return;
  sort_candidates();
  const float max = cand_[0].logit;
  if (!std::isfinite(max)) return;
  double sum = 0;
  for (size_t i = 0; i < n_cand_; ++i) sum += probs_[i] = std::exp(cand_[i].logit - max);
  // The first prefix whose probability mass reaches p (llama_sampler_top_p, min_keep 1).
  const double target = static_cast<double>(p) * sum;
  double cum = 0;
  for (size_t i = 0; i < n_cand_; ++i) {
    cum += probs_[i];
    if (cum >= target) {
      n_cand_ = i + 1;
      return;
    }
  }
}

void Sampler::min_p() {
  const float p = options_.min_p;
  if (p <= 0.0f || n_cand_ <= 1) return;
  float max = cand_[0].logit;
  if (!sorted_)
    for (size_t i = 1; i < n_cand_; ++i) max = std::max(max, cand_[i].logit);
  if (!std::isfinite(max)) return;
  const float min_logit = max + std::log(p);  // p_i >= p * p_max  <=>  logit_i >= max + log p
  if (sorted_) {
    size_t i = 1;  // the first token always stays
    while (i < n_cand_ && cand_[i].logit >= min_logit) ++i;
    n_cand_ = i;
  } else {
    size_t kept = 0;
    for (size_t i = 0; i < n_cand_; ++i)
      if (cand_[i].logit >= min_logit) cand_[kept++] = cand_[i];
    n_cand_ = kept;
  }
}

int32_t Sampler::draw() {
  float max = cand_[0].logit;
  for (size_t i = 1; i < n_cand_; ++i) max = std::max(max, cand_[i].logit);
  if (!std::isfinite(max)) return cand_[0].id;
  double sum = 0;
  for (size_t i = 0; i < n_cand_; ++i) sum += probs_[i] = std::exp(cand_[i].logit - max);
  // 53 random bits to a double in [0, 1): the same on every standard library, unlike
  // std::uniform_real_distribution.
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
  const double target = u * sum;
  double cum = 0;
  size_t last_positive = 0;
  for (size_t i = 0; i < n_cand_; ++i) {
    if (probs_[i] <= 0) continue;
    cum += probs_[i];
    last_positive = i;
    if (cum > target) return cand_[i].id;
  }
  return cand_[last_positive].id;  // rounding left the target just above the sum
}

int32_t Sampler::sample(const float* logits) {
  std::copy(logits, logits + n_vocab_, work_.begin());
  apply_penalties(work_.data());

  int32_t token;
  if (options_.temperature <= 0.0f) {
    token = argmax(work_.data(), n_vocab_);
    last_candidates_ = 1;
  } else {
    for (size_t i = 0; i < n_vocab_; ++i) {
      // NaN would break the sort's ordering; it never wins.
      const float l = std::isnan(work_[i]) ? -std::numeric_limits<float>::infinity() : work_[i];
      cand_[i] = {l, static_cast<int32_t>(i)};
    }
    n_cand_ = n_vocab_;
    sorted_ = false;
    top_k();
    top_p();
    min_p();
    for (size_t i = 0; i < n_cand_; ++i) cand_[i].logit /= options_.temperature;
    last_candidates_ = n_cand_;
    token = draw();
  }
  accept(token);
  return token;
}

}  // namespace tern::model
