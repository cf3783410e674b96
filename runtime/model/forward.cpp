// The BitNet b1.58 forward pass, readable top to bottom like llama2.c:
//
//   x = embedding[token]
//   per layer:
//     h = rmsnorm(x) * attn_norm
//     q, k, v = Wq h, Wk h, Wv h            (ternary)
//     rope(q), rope(k)                      (NEOX pairs (i, i + head_dim/2))
//     a = softmax(q k^T / sqrt(head_dim)) v over the cache (GQA: kv head = head / group)
//     x += Wo (rmsnorm(a) * attn_sub_norm)
//     h = rmsnorm(x) * ffn_norm
//     f = act(W_gate h) * (W_up h)          (act = SiLU, or ReLU^2 for bitnet-b1.58 / bitnet-25)
//     x += W_down (rmsnorm(f) * ffn_sub_norm)
//   logits = head (rmsnorm(x) * output_norm)
//
// Float steps follow ggml's order where it matters for matching llama.cpp
// (RMSNorm sums x*x in f32 products and a double sum; rope angles come from
// repeated multiplication by base^(-2/d); softmax sums exp in double).
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <limits>
#include <new>
#include <string>

#include "runtime/core/error.h"
#include "runtime/model/attention_kernels.h"
#include "runtime/model/head_kernels.h"
#include "runtime/model/session.h"
#include "runtime/model/vector_kernels.h"
#include "runtime/ref/fp16.h"

namespace tern::model {
namespace {

// f16 -> f32 for all 65536 bit patterns: the KV cache reads one per element.
const std::array<float, 65536>& f16_table() {
  static const std::array<float, 65536> table = [] {
    std::array<float, 65536> t{};
    for (uint32_t i = 0; i < 65536; ++i) t[i] = ref::f16_to_f32(static_cast<uint16_t>(i));
    return t;
  }();
  return table;
}

float round_f16(float x) { return ref::f16_to_f32(ref::f32_to_f16(x)); }
float round_bf16(float x) { return ref::bf16_to_f32(ref::f32_to_bf16(x)); }

template <class Vector>
void allocate(Vector& v, uint64_t count, const std::string& model, const char* what, uint64_t n_ctx) {
  try {
    if (count > v.max_size()) throw std::bad_alloc();
    v.assign(static_cast<size_t>(count), typename Vector::value_type{});
  } catch (const std::bad_alloc&) {
    throw Error(model + ": cannot allocate the " + what + " (" +
                std::to_string(count * sizeof(typename Vector::value_type) >> 20) +
                " MiB for n_ctx " + std::to_string(n_ctx) + "); try a smaller context");
  }
}

}  // namespace

const char* ForwardProfile::name(int part) {
#define TERN_PART_NAME(e, s) s,
  static const char* const names[] = {TERN_FORWARD_PARTS(TERN_PART_NAME)};
#undef TERN_PART_NAME
  return part >= 0 && part < kParts ? names[part] : "?";
}

Session::PartTimer::PartTimer(double* slot) : slot_(slot) {
  if (slot_) t0_ns_ = std::chrono::steady_clock::now().time_since_epoch().count();
}

Session::PartTimer::~PartTimer() {
  if (slot_) *slot_ += 1e-9 * static_cast<double>(std::chrono::steady_clock::now().time_since_epoch().count() - t0_ns_);
}

Session::Session(const Model& model, const SessionOptions& options) : model_(model), hp_(model.hparams()) {
  const ModelOptions& mo = model.options();
  profiling_ = options.profile;
  n_ctx_ = options.n_ctx ? options.n_ctx : hp_.n_ctx_train;
  n_batch_ = std::min<size_t>(options.n_batch ? options.n_batch : 256, n_ctx_);
  f16_kv_ = mo.kv_type == KvType::F16;
  float_acts_ = mo.acts == Activations::Float;
  ggml_rounding_ = float_acts_ && mo.ggml_rounding;
  pool_ = std::make_unique<ThreadPool>(options.threads);

  const uint64_t E = hp_.n_embd, KV = hp_.n_embd_kv(), FF = hp_.n_ff, B = n_batch_, hd = hp_.head_dim;
  const uint64_t cache = static_cast<uint64_t>(hp_.n_layer) * n_ctx_ * KV;
  const std::string& name = model.name();
  // With overcommit, an allocation larger than the machine may "succeed" and
  // the process is killed when the zero-fill touches it: refuse up front.
  const uint64_t kv_bytes = 2 * cache * (f16_kv_ ? 2 : 4);
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  if (pages > 0 && page > 0 && kv_bytes / static_cast<uint64_t>(page) >= static_cast<uint64_t>(pages))
    throw Error(name + ": cannot allocate the KV cache (" + std::to_string(kv_bytes >> 20) +
                " MiB for n_ctx " + std::to_string(n_ctx_) + ", more than this machine's " +
                std::to_string((static_cast<uint64_t>(pages) * static_cast<uint64_t>(page)) >> 20) +
                " MiB of memory); try a smaller context");
  if (f16_kv_) {
    allocate(k_f16_, cache, name, "KV cache", n_ctx_);
    allocate(v_f16_, cache, name, "KV cache", n_ctx_);
    f16_table();
  } else {
    allocate(k_f32_, cache, name, "KV cache", n_ctx_);
    allocate(v_f32_, cache, name, "KV cache", n_ctx_);
  }
  allocate(rope_cos_, n_ctx_ * hd / 2, name, "rope table", n_ctx_);
  allocate(rope_sin_, n_ctx_ * hd / 2, name, "rope table", n_ctx_);
  const char* act = "activation buffers";
  allocate(x_, B * E, name, act, n_ctx_);
  allocate(xb_, B * std::max(E, FF), name, act, n_ctx_);
  allocate(xb2_, B * E, name, act, n_ctx_);
  allocate(q_, B * E, name, act, n_ctx_);
  allocate(k_, B * KV, name, act, n_ctx_);
  allocate(v_, B * KV, name, act, n_ctx_);
  allocate(att_, B * E, name, act, n_ctx_);
  allocate(hb_, B * FF, name, act, n_ctx_);
  allocate(hb2_, B * FF, name, act, n_ctx_);
  allocate(scores_, n_ctx_ * kHeadsTogether * static_cast<uint64_t>(options.threads), name, act, n_ctx_);
  allocate(qh_, hd * static_cast<uint64_t>(options.threads), name, act, n_ctx_);
  allocate(head_row_, E, name, act, n_ctx_);
  allocate(head_x_, B * E, name, act, n_ctx_);
  try {
    scratch_.reserve(B, std::max(E, FF), std::max(E, FF));
    scratch_.xr.resize(B * std::max(E, FF));
  } catch (const std::bad_alloc&) {
    throw Error(name + ": cannot allocate the matmul scratch buffers for a batch of " + std::to_string(B));
  }

  // Rope angles as ggml computes them (ggml_rope_cache_init, rope_yarn without
  // extrapolation): theta_0 = pos, theta_{i+1} = theta_i * base^(-2/d), each
  // divided by its frequency factor and multiplied by freq_scale.
  const float theta_scale = std::pow(hp_.rope_freq_base, -2.0f / static_cast<float>(hd));
  const std::vector<float>& factors = model.rope_freq_factors();
  for (size_t p = 0; p < n_ctx_; ++p) {
    float theta = static_cast<float>(p);
    for (size_t i = 0; i < hd / 2; ++i) {
      const float ff = factors.empty() ? 1.0f : factors[i];
      const float angle = hp_.rope_freq_scale * (theta / ff);
      rope_cos_[p * hd / 2 + i] = std::cos(angle);
      rope_sin_[p * hd / 2 + i] = std::sin(angle);
      theta *= theta_scale;
    }
  }
}

void Session::eval(const int32_t* tokens, size_t n, float* logits, bool all_logits) {
  if (n == 0) return;
  if (n > n_ctx_ - n_past_)
    throw Error(model_.name() + ": " + std::to_string(n) + " tokens do not fit the context: " +
                std::to_string(n_past_) + " already in the cache, n_ctx " + std::to_string(n_ctx_));
  for (size_t i = 0; i < n; ++i)
    if (tokens[i] < 0 || static_cast<uint32_t>(tokens[i]) >= hp_.n_vocab)
      throw Error(model_.name() + ": token " + std::to_string(tokens[i]) + " at index " + std::to_string(i) +
                  " is outside the vocabulary of " + std::to_string(hp_.n_vocab));
  for (size_t off = 0; off < n; off += n_batch_) {
    const size_t m = std::min(n_batch_, n - off);
    const bool last = off + m == n;
    float* out = all_logits ? logits + off * hp_.n_vocab : (last ? logits : nullptr);
    forward(tokens + off, m, out, all_logits);
  }
}

void Session::forward(const int32_t* tokens, size_t m, float* logits, bool all_logits) {
  const size_t E = hp_.n_embd, KV = hp_.n_embd_kv(), FF = hp_.n_ff;
  float* x = x_.data();
  float* xb = xb_.data();
  float* xb2 = xb2_.data();

  if (profiling_) {
    profile_.tokens += m;
    ++profile_.steps;
  }
  {
    auto timer = timed(ForwardProfile::embed);
    for (size_t t = 0; t < m; ++t) model_.token_embd().row(static_cast<size_t>(tokens[t]), x + t * E);
  }

  for (size_t l = 0; l < hp_.n_layer; ++l) {
    const Layer& L = model_.layers()[l];

    // Attention.
    rmsnorm(x, L.attn_norm, m, E, xb);
    matmuls({{&L.wq, q_.data()}, {&L.wk, k_.data()}, {&L.wv, v_.data()}}, xb, m);
    {
      auto timer = timed(ForwardProfile::rope_kv);
      spread(m, 1, m * (E + KV), [&](uint64_t begin, uint64_t end) {
        for (size_t t = begin; t < end; ++t) {
          const size_t pos = n_past_ + t;
          rope(q_.data() + t * E, hp_.n_head, pos);
          rope(k_.data() + t * KV, hp_.n_head_kv, pos);
          store_kv(l, pos, k_.data() + t * KV, v_.data() + t * KV);
        }
      });
    }
    attention(l, m);
    rmsnorm(att_.data(), L.attn_sub_norm, m, E, xb);
    matmul(L.wo, xb, m, xb2);
    add_residual(x, xb2, m * E);

    // Feed-forward.
    rmsnorm(x, L.ffn_norm, m, E, xb);
    float* gate = hb_.data();
    float* up = hb2_.data();
    matmuls({{&L.ffn_gate, gate}, {&L.ffn_up, up}}, xb, m);
    {
      auto timer = timed(ForwardProfile::elementwise);
      const bool silu = hp_.ffn_act == FfnActivation::SiLU;
      spread(m * FF, 4096, m * FF, [&](uint64_t begin, uint64_t end) {
        if (silu) {
          silu_mul(gate + begin, up + begin, end - begin);
        } else {
          for (size_t i = begin; i < end; ++i) {
            const float r = std::max(gate[i], 0.0f);
            gate[i] = r * r * up[i];
          }
        }
      });
    }
    rmsnorm(gate, L.ffn_sub_norm, m, FF, xb);
    matmul(L.ffn_down, xb, m, xb2);
    add_residual(x, xb2, m * E);
  }
  n_past_ += m;

  if (!logits) return;
  const size_t first = all_logits ? 0 : m - 1;
  const size_t rows = m - first;
  rmsnorm(x + first * E, model_.output_norm(), rows, E, xb);
  head(xb, rows, logits);
}

void Session::add_residual(float* x, const float* y, size_t n) const {
  auto timer = timed(ForwardProfile::elementwise);
  spread(n, 4096, n, [&](uint64_t begin, uint64_t end) {
    for (size_t i = begin; i < end; ++i) x[i] += y[i];
  });
}

// Projections of the same input x (q/k/v, gate/up). With int8 activations (BitNet)
// x is quantised per token once for every row length the projections' packed
// layouts need (one, unless tuning gave them kernels of different paddings), and
// the projections of each row length run in one dispatch over the pool.
void Session::matmuls(std::initializer_list<LinearOut> outs, const float* x, size_t m) {
  if (float_acts_) {
    auto timer = timed(ForwardProfile::matmul);
    for (const LinearOut& o : outs)
      linear_float(*o.w, x, m, o.y, scratch_, ggml_rounding_ ? FloatActs::LikeGgml : FloatActs::F32);
    return;
  }
  std::vector<LinearOut> pending(outs), group;
  while (!pending.empty()) {
    const size_t k = pending.front().w->k, row_length = acts_row_length(*pending.front().w);
    group.clear();
    for (auto it = pending.begin(); it != pending.end();) {
      if (it->w->k != k) throw Error("internal: projections of one input with different K (" + it->w->name + ")");
      if (acts_row_length(*it->w) == row_length) {
        group.push_back(*it);
        it = pending.erase(it);
      } else {
        ++it;
      }
    }
    {
      auto timer = timed(ForwardProfile::quantize);
      quantize_acts(x, m, k, row_length, acts_, pool_.get());
    }
    auto timer = timed(ForwardProfile::matmul);
    linear_many(group, acts_, pool_.get());
  }
}

void Session::matmul(const TernaryLinear& w, const float* x, size_t m, float* y) { matmuls({{&w, y}}, x, m); }

// ggml_compute_forward_rms_norm then the multiply by the weight: the sum of
// squares takes f32 products into a double; scale = 1 / sqrtf(mean + eps) in f32.
// x and y may be the same buffer.
void Session::rmsnorm(const float* x, const std::vector<float>& weight, size_t m, size_t n, float* y) const {
  auto timer = timed(ForwardProfile::norm);
  spread(m, 1, m * n, [&](uint64_t begin, uint64_t end) {
    for (size_t t = begin; t < end; ++t) {
      const float* xt = x + t * n;
      float* yt = y + t * n;
      const float mean = static_cast<float>(sum_squares(xt, n) / static_cast<double>(n));
      const float scale = 1.0f / std::sqrt(mean + hp_.rms_eps);
      for (size_t i = 0; i < n; ++i) yt[i] = (xt[i] * scale) * weight[i];
    }
  });
}

// Element-wise work of a batch over the pool: each element's result is the same
// however it is split. A decode step's vectors are too short to pay for a dispatch.
void Session::spread(size_t n, size_t unit, size_t elements, const std::function<void(uint64_t, uint64_t)>& fn) const {
  constexpr size_t kMinElements = 32768;
  if (elements < kMinElements || pool_->size() == 1)
    fn(0, n);
  else
    pool_->parallel_for(n, unit, fn);
}

// NEOX rope: element i of each head pairs with element i + head_dim / 2.
void Session::rope(float* v, size_t n_heads, size_t pos) const {
  const size_t hd = hp_.head_dim, half = hd / 2;
  const float* c = rope_cos_.data() + pos * half;
  const float* s = rope_sin_.data() + pos * half;
  for (size_t h = 0; h < n_heads; ++h) {
    float* vh = v + h * hd;
    for (size_t i = 0; i < half; ++i) {
      const float x0 = vh[i], x1 = vh[i + half];
      vh[i] = x0 * c[i] - x1 * s[i];
      vh[i + half] = x0 * s[i] + x1 * c[i];
    }
  }
}

// Position pos's key and value rows, head by head: the cache is
// [layer][kv head][position][head_dim], so that attention streams each KV head's
// rows front to back (position-major rows, 5 heads interleaved, halved the
// speed of attention over a long context: the prefetcher saw 256 of every 1280 bytes).
size_t Session::kv_offset(size_t layer, size_t kv_head, size_t pos) const {
  return ((layer * hp_.n_head_kv + kv_head) * n_ctx_ + pos) * hp_.head_dim;
}

void Session::store_kv(size_t layer, size_t pos, const float* k, const float* v) {
  const size_t hd = hp_.head_dim;
  for (size_t g = 0; g < hp_.n_head_kv; ++g) {
    const size_t at = kv_offset(layer, g, pos);
    if (f16_kv_) {
      f32_to_f16(k + g * hd, k_f16_.data() + at, hd);
      f32_to_f16(v + g * hd, v_f16_.data() + at, hd);
    } else {
      std::copy(k + g * hd, k + (g + 1) * hd, k_f32_.begin() + static_cast<std::ptrdiff_t>(at));
      std::copy(v + g * hd, v + (g + 1) * hd, v_f32_.begin() + static_cast<std::ptrdiff_t>(at));
    }
  }
}

// Causal attention of one token at position pos over cache positions 0..pos.
// The query heads of one KV head go together, up to kHeadsTogether (each key and
// value row is then read once for them); every (token, heads) item is
// independent: spread them over the pool, each thread with its own scores and
// Q buffers.
void Session::attention(size_t layer, size_t m) {
  auto timer = timed(ForwardProfile::attention);
  const size_t group = hp_.n_head / hp_.n_head_kv;
  const bool ggml_f16 = ggml_rounding_ && f16_kv_;  // the float mode's per-head loops
  const size_t together = ggml_f16 ? 1 : group % 4 == 0 ? 4 : group % 2 == 0 ? 2 : 1;
  static_assert(kHeadsTogether >= 4);
  const size_t items = hp_.n_head / together;
  pool_->parallel_for(m * items, 1, [&](uint64_t begin, uint64_t end, int thread) {
    float* scores = scores_.data() + static_cast<size_t>(thread) * n_ctx_ * kHeadsTogether;
    float* qh = qh_.data() + static_cast<size_t>(thread) * hp_.head_dim;
    for (uint64_t i = begin; i < end; ++i)
      attention_heads(layer, i / items, i % items * together, together, scores, qh);
  });
}

// Heads h0 .. h0 + heads - 1 (one KV head's) of token t, at position n_past_ + t,
// attend over positions 0..pos.
void Session::attention_heads(size_t layer, size_t t, size_t h0, size_t heads, float* sc, float* qbuf) {
  const size_t hd = hp_.head_dim, E = hp_.n_embd;
  const size_t pos = n_past_ + t;
  const size_t group = hp_.n_head / hp_.n_head_kv;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const size_t at = kv_offset(layer, h0 / group, 0);  // position 0's row of the heads' KV head
  const float* qh = q_.data() + t * E + h0 * hd;
  float* oh = att_.data() + t * E + h0 * hd;
  if (!(ggml_rounding_ && f16_kv_)) {
    if (f16_kv_)
      attention_heads_f16(qh, k_f16_.data() + at, v_f16_.data() + at, hd, pos + 1, hd, heads, scale, sc, oh);
    else
      attention_heads_f32(qh, k_f32_.data() + at, v_f32_.data() + at, hd, pos + 1, hd, heads, scale, sc, oh);
    return;
  }
  // Float mode with an f16 cache mirrors ggml, one head at a time (heads is 1):
  // f16 copies of Q and of the softmax weights, sequential dot products.
  const float* f16 = f16_table().data();
  for (size_t d = 0; d < hd; ++d) qbuf[d] = round_f16(qh[d]);
  float max = -std::numeric_limits<float>::infinity();
  for (size_t s = 0; s <= pos; ++s) {
    const uint16_t* k = k_f16_.data() + at + s * hd;
    float dot = 0.0f;
    for (size_t d = 0; d < hd; ++d) dot += qbuf[d] * f16[k[d]];
    sc[s] = dot * scale;
    max = std::max(max, sc[s]);
  }
  softmax_from_max(sc, pos + 1, max);
  std::fill(oh, oh + hd, 0.0f);
  for (size_t s = 0; s <= pos; ++s) {
    const float p = round_f16(sc[s]);
    const uint16_t* v = v_f16_.data() + at + s * hd;
    for (size_t d = 0; d < hd; ++d) oh[d] += p * f16[v[d]];
  }
}

// The LM head over dequantised rows: logits[t][v] = head_row(v) . x[t].
// A simple float path; each row is dequantised once per step for all tokens.
void Session::head(const float* x, size_t m, float* logits) {
  auto timer = timed(ForwardProfile::head);
  const FloatRows& H = model_.head();
  const size_t E = hp_.n_embd, V = hp_.n_vocab;
  if (!float_acts_ && head_kernel_supports(H.type)) {
    // Activations quantised once per token as llama.cpp does for this type, then
    // rows split over the pool; each row is read once for all m tokens.
    prepare_head_acts(H.type, x, m, E, head_acts_);
    pool_->parallel_for(V, 64, [&](uint64_t begin, uint64_t end) {
      head_dot_rows(H.data, H.row_bytes, head_acts_, begin, end, logits, V);
    });
    return;
  }
  // Float mode: dequantised rows, sums in double, rounded like ggml for F16 / BF16 heads.
  const float* xin = x;
  if (ggml_rounding_ && (H.type == GgmlType::F16 || H.type == GgmlType::BF16)) {
    for (size_t i = 0; i < m * E; ++i)
      head_x_[i] = H.type == GgmlType::F16 ? round_f16(x[i]) : round_bf16(x[i]);
    xin = head_x_.data();
  }
  float* row = head_row_.data();
  for (size_t v = 0; v < V; ++v) {
    H.row(v, row);
    for (size_t t = 0; t < m; ++t) {
      const float* xt = xin + t * E;
      double acc = 0.0;
      for (size_t i = 0; i < E; ++i) acc += static_cast<double>(row[i]) * xt[i];
      logits[t * V + v] = static_cast<float>(acc);
    }
  }
}

}  // namespace tern::model
