// The BitNet forward pass against llama.cpp / bitnet.cpp golden logits
// (tests/data/GOLDEN-README.md), model loading and validation, sessions,
// synthetic models in every weight format, and `tern eval`.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "runtime/core/error.h"
#include "runtime/core/layout.h"
#include "runtime/gguf/gguf.h"
#include "runtime/model/model.h"
#include "runtime/model/session.h"
#include "runtime/model/synth.h"
#include "runtime/model/ternary_linear.h"
#include "runtime/ref/formats.h"
#include "runtime/ref/fp16.h"
#include "runtime/ref/packers.h"
#include "runtime/ref/ref_kernels.h"
#include "runtime/threads/thread_pool.h"
#include "test_helpers.h"

namespace tern {
namespace {

using model::Activations;
using model::KvType;
using model::Model;
using model::ModelOptions;
using model::Session;

const char* kGoldenModels[] = {"f16", "tq2_0", "tq1_0", "tq2_0-embf16", "i2_s"};

std::string golden(const std::string& model, const std::string& ext) {
  return test::data_path("tiny-bitnet-" + model + ext);
}

nlohmann::json description(const std::string& model) {
  std::ifstream f(golden(model, ".json"));
  return nlohmann::json::parse(f);
}

std::vector<float> read_floats(const std::string& path) {
  std::vector<uint8_t> b = test::read_bytes(path);
  std::vector<float> v(b.size() / sizeof(float));
  std::memcpy(v.data(), b.data(), v.size() * sizeof(float));
  return v;
}

// Per-row comparison of two [rows][n_vocab] logit matrices, `a` ours and `b` the reference.
struct Agreement {
  double cos_min = 1.0, cos_mean = 0.0, max_diff = 0.0;
  size_t top1 = 0, rows = 0;
  // Argmax flips where the reference's logits at the two argmaxes differ by
  // more than 0.01 (a flip that is not a near tie).
  size_t clear_flips = 0;
  double min_flip_gap = INFINITY;  // smallest such reference gap among the flipped rows
  std::string str() const {
    std::ostringstream s;
    s.precision(7);
    s << "cos min " << cos_min << " mean " << cos_mean << ", max|diff| " << max_diff << ", top-1 " << top1
      << "/" << rows;
    if (top1 < rows) s << " (flipped rows: reference gap >= " << min_flip_gap << ")";
    return s.str();
  }
};

size_t argmax(const float* v, size_t n) {
  size_t best = 0;
  for (size_t i = 1; i < n; ++i)
    if (v[i] > v[best]) best = i;  // lowest id wins a tie, as in the golden runs
  return best;
}

Agreement compare(const std::vector<float>& a, const std::vector<float>& b, size_t n_vocab) {
  EXPECT_EQ(a.size(), b.size());
  Agreement r;
  r.rows = std::min(a.size(), b.size()) / n_vocab;
  for (size_t row = 0; row < r.rows; ++row) {
    const float* x = a.data() + row * n_vocab;
    const float* y = b.data() + row * n_vocab;
    double xy = 0, xx = 0, yy = 0;
    for (size_t i = 0; i < n_vocab; ++i) {
      xy += double(x[i]) * y[i], xx += double(x[i]) * x[i], yy += double(y[i]) * y[i];
      r.max_diff = std::max(r.max_diff, std::fabs(double(x[i]) - y[i]));
    }
    const double c = xy / std::sqrt(xx * yy);
    r.cos_min = std::min(r.cos_min, c);
    r.cos_mean += c / double(r.rows);
    const size_t ax = argmax(x, n_vocab), ay = argmax(y, n_vocab);
    r.top1 += ax == ay;
    if (ax != ay) {
      const double gap = double(y[ay]) - y[ax];
      r.min_flip_gap = std::min(r.min_flip_gap, gap);
      r.clear_flips += gap > 0.01;
    }
  }
  return r;
}

// README: "different but sane" activation quantisation (per-token int8).
void expect_sane(const Agreement& a) {
  EXPECT_GE(a.cos_min, 0.999) << a.str();
  EXPECT_LE(a.max_diff, 0.5) << a.str();
  EXPECT_GE(a.top1 * 100, a.rows * 85) << a.str();
}
// README: the same arithmetic as llama.cpp (F16 activations for F16 weights).
// Every argmax must agree except on a near tie: the prompt's row 17 in the
// f16 golden file has its top two logits 0.00044 apart, below the ~0.003
// that our float path and llama.cpp's still differ by (see the report).
void expect_tight(const Agreement& a) {
  EXPECT_GE(a.cos_min, 0.99999) << a.str();
  EXPECT_LE(a.max_diff, 0.02) << a.str();
  EXPECT_EQ(a.clear_flips, 0u) << a.str();
  EXPECT_GE(a.top1 + 1, a.rows) << a.str();
}

std::vector<int32_t> prompt_tokens(const std::string& model) {
  return description(model)["tokens"].get<std::vector<int32_t>>();
}

std::vector<float> run_all(const Model& m, const std::vector<int32_t>& tokens,
                           size_t decode_from = SIZE_MAX) {
  Session s(m);
  const size_t V = m.hparams().n_vocab;
  std::vector<float> logits(tokens.size() * V);
  const size_t batch = std::min(decode_from, tokens.size());
  s.eval(tokens.data(), batch, logits.data(), true);
  for (size_t i = batch; i < tokens.size(); ++i) s.eval(&tokens[i], 1, logits.data() + i * V, true);
  return logits;
}

// The prompt, then the golden greedy tokens fed back one at a time: row 0 is
// the prompt's last row, row g the logits after greedy token g - 1.
std::vector<float> run_greedy(const Model& m, const std::string& name) {
  nlohmann::json d = description(name);
  std::vector<int32_t> prompt = d["tokens"].get<std::vector<int32_t>>();
  std::vector<int32_t> greedy = d["greedy"]["tokens"].get<std::vector<int32_t>>();
  const size_t V = m.hparams().n_vocab;
  std::vector<float> rows(greedy.size() * V);
  Session s(m);
  s.eval(prompt.data(), prompt.size(), rows.data(), false);
  for (size_t g = 1; g < greedy.size(); ++g) s.eval(&greedy[g - 1], 1, rows.data() + g * V, false);
  return rows;
}

// How many golden greedy tokens our rows pick before the first difference.
size_t greedy_prefix(const std::vector<float>& rows, const std::vector<int32_t>& greedy, size_t V) {
  size_t n = 0;
  while (n < greedy.size() && argmax(rows.data() + n * V, V) == static_cast<size_t>(greedy[n])) ++n;
  return n;
}

ModelOptions float_acts() {
  ModelOptions o;
  o.acts = Activations::Float;
  return o;
}

// ---------------------------------------------------------------- golden logits

TEST(ModelGolden, HparamsOfTheTinyModels) {
  for (const char* name : kGoldenModels) {
    SCOPED_TRACE(name);
    Model m = Model::load(golden(name, ".gguf"));
    const model::HParams& hp = m.hparams();
    EXPECT_EQ(hp.arch, "bitnet");
    EXPECT_EQ(hp.n_vocab, 1024u);
    EXPECT_EQ(hp.n_embd, 256u);
    EXPECT_EQ(hp.n_layer, 2u);
    EXPECT_EQ(hp.n_head, 4u);
    EXPECT_EQ(hp.n_head_kv, 2u);
    EXPECT_EQ(hp.head_dim, 64u);
    EXPECT_EQ(hp.n_ff, 768u);
    EXPECT_EQ(hp.n_ctx_train, 256u);
    EXPECT_EQ(hp.rope_freq_base, 500000.0f);
    EXPECT_EQ(hp.rope_freq_scale, 1.0f);
    EXPECT_FLOAT_EQ(hp.rms_eps, 1e-5f);
    EXPECT_EQ(hp.ffn_act, model::FfnActivation::SiLU);
    EXPECT_TRUE(m.tied_head());
    // Every projection has one scale, s = f16(sqrt(1.5 / K)), whatever the format.
    for (const model::Layer& L : m.layers()) {
      for (const model::TernaryLinear* w :
           {&L.wq, &L.wk, &L.wv, &L.wo, &L.ffn_gate, &L.ffn_up, &L.ffn_down}) {
        EXPECT_EQ(w->block, 0u) << w->name;
        EXPECT_EQ(w->scale, w->k == 256 ? 0.0765380859375f : 0.044189453125f) << w->name;
      }
    }
  }
}

// Per-token int8 activations (the BitNet scheme) against each file's own
// llama.cpp / bitnet.cpp logits: "different but sane".
TEST(ModelGolden, Int8ActivationsMatchEveryGoldenModel) {
  for (const char* name : kGoldenModels) {
    SCOPED_TRACE(name);
    Model m = Model::load(golden(name, ".gguf"));
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<float> ours = run_all(m, prompt_tokens(name));
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    Agreement a = compare(ours, read_floats(golden(name, ".logits.f32")), 1024);
    std::cout << "[ golden ] " << name << " int8, 48 tokens in " << ms << " ms: " << a.str() << "\n";
    EXPECT_EQ(a.rows, 48u);
    expect_sane(a);
  }
}

// Float activations rounded where ggml rounds them reproduce llama.cpp's F16 run.
TEST(ModelGolden, FloatActivationsMatchTheF16RunTightly) {
  Model m = Model::load(golden("f16", ".gguf"), float_acts());
  std::vector<float> ours = run_all(m, prompt_tokens("f16"));
  Agreement a = compare(ours, read_floats(golden("f16", ".logits.f32")), 1024);
  std::cout << "[ golden ] f16 float acts (ggml rounding): " << a.str() << "\n";
  expect_tight(a);

  // Plain f32 activations (no f16 rounding) are as close as the README's
  // "F32 weights vs F16" row: cos and max|diff| within the F32 tolerance.
  ModelOptions o = float_acts();
  o.ggml_rounding = false;
  o.kv_type = KvType::F32;
  Model plain = Model::load(golden("f16", ".gguf"), o);
  Agreement p =
      compare(run_all(plain, prompt_tokens("f16")), read_floats(golden("f16", ".logits.f32")), 1024);
  std::cout << "[ golden ] f16 float acts (f32, f32 KV): " << p.str() << "\n";
  EXPECT_GE(p.cos_min, 0.99999) << p.str();
  EXPECT_LE(p.max_diff, 0.02) << p.str();
}

TEST(ModelGolden, GreedyRowsMatch) {
  for (const char* name : kGoldenModels) {
    SCOPED_TRACE(name);
    std::vector<int32_t> greedy = description(name)["greedy"]["tokens"].get<std::vector<int32_t>>();
    ASSERT_EQ(greedy.size(), 16u);
    std::vector<float> want = read_floats(golden(name, ".greedy-logits.f32"));
    Model m = Model::load(golden(name, ".gguf"));
    std::vector<float> ours = run_greedy(m, name);
    Agreement a = compare(ours, want, 1024);
    std::cout << "[ golden ] " << name << " greedy int8: " << a.str() << ", greedy prefix "
              << greedy_prefix(ours, greedy, 1024) << "/16\n";
    expect_sane(a);
  }
  Model m = Model::load(golden("f16", ".gguf"), float_acts());
  std::vector<float> ours = run_greedy(m, "f16");
  Agreement a = compare(ours, read_floats(golden("f16", ".greedy-logits.f32")), 1024);
  std::vector<int32_t> greedy = description("f16")["greedy"]["tokens"].get<std::vector<int32_t>>();
  const size_t prefix = greedy_prefix(ours, greedy, 1024);
  std::cout << "[ golden ] f16 greedy float acts: " << a.str() << ", greedy prefix " << prefix << "/16\n";
  expect_tight(a);
  EXPECT_EQ(prefix, 16u);
}

// TQ1_0 and TQ2_0 hold the same trits and scales: bit-identical logits, as in llama.cpp.
TEST(ModelGolden, Tq1AndTq2GiveBitIdenticalLogits) {
  std::vector<int32_t> tokens = prompt_tokens("tq2_0");
  EXPECT_EQ(run_all(Model::load(golden("tq2_0", ".gguf")), tokens),
            run_all(Model::load(golden("tq1_0", ".gguf")), tokens));
  // With the same F16 embedding, TQ2_0 and I2_S are the same model too.
  EXPECT_EQ(run_all(Model::load(golden("tq2_0-embf16", ".gguf")), tokens),
            run_all(Model::load(golden("i2_s", ".gguf")), tokens));
}

// ---------------------------------------------------------------- sessions

// Each step depends on its own token's row only, so batch and one-at-a-time
// decoding agree exactly (not merely within 1e-4).
TEST(ModelSession, BatchAndDecodeGiveIdenticalLogits) {
  std::vector<int32_t> tokens = prompt_tokens("tq2_0");
  for (KvType kv : {KvType::F16, KvType::F32}) {
    for (Activations acts : {Activations::Int8, Activations::Float}) {
      ModelOptions o;
      o.kv_type = kv;
      o.acts = acts;
      Model m = Model::load(golden("tq2_0", ".gguf"), o);
      std::vector<float> batch = run_all(m, tokens);
      EXPECT_EQ(batch, run_all(m, tokens, 20));
      EXPECT_EQ(batch, run_all(m, tokens, 0));
    }
  }
}

TEST(ModelSession, SmallBatchesAndLastLogitsAgreeWithOneBatch) {
  Model m = Model::load(golden("i2_s", ".gguf"));
  std::vector<int32_t> tokens = prompt_tokens("i2_s");
  std::vector<float> all = run_all(m, tokens);
  model::SessionOptions so;
  so.n_batch = 7;  // 48 tokens in 7 steps
  Session s(m, so);
  std::vector<float> last(1024);
  s.eval(tokens.data(), tokens.size(), last.data(), false);
  EXPECT_EQ(s.n_past(), 48u);
  EXPECT_EQ(last, std::vector<float>(all.end() - 1024, all.end()));
  // reset() starts over at position 0.
  s.reset();
  std::vector<float> again(tokens.size() * 1024);
  s.eval(tokens.data(), tokens.size(), again.data(), true);
  EXPECT_EQ(again, all);
}

TEST(ModelSession, RejectsTooManyTokensAndBadIds) {
  Model m = Model::load(golden("tq2_0", ".gguf"));
  model::SessionOptions so;
  so.n_ctx = 16;
  Session s(m, so);
  EXPECT_EQ(s.n_ctx(), 16u);
  std::vector<int32_t> tokens(17, 5);
  std::vector<float> logits(17 * 1024);
  try {
    s.eval(tokens.data(), tokens.size(), logits.data(), true);
    FAIL() << "17 tokens fit a context of 16";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("n_ctx 16"), std::string::npos) << e.what();
  }
  EXPECT_EQ(s.n_past(), 0u);
  s.eval(tokens.data(), 10, logits.data(), false);
  EXPECT_THROW(s.eval(tokens.data(), 7, logits.data(), false), Error);  // 10 + 7 > 16
  s.eval(tokens.data(), 6, logits.data(), false);                       // exactly full
  EXPECT_EQ(s.n_past(), 16u);

  Session s2(m);
  int32_t bad[] = {1, 1024};
  try {
    s2.eval(bad, 2, logits.data(), false);
    FAIL() << "token 1024 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("token 1024 at index 1"), std::string::npos) << e.what();
  }
  int32_t negative = -1;
  EXPECT_THROW(s2.eval(&negative, 1, logits.data(), false), Error);
}

TEST(ModelSession, AHugeContextIsAClearError) {
  Model m = Model::load(golden("tq2_0", ".gguf"));
  model::SessionOptions so;
  so.n_ctx = 4000000000u;  // 2 layers x 4e9 x 128 f16: far beyond memory
  try {
    Session s(m, so);
    FAIL() << "allocated a huge KV cache";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot allocate the KV cache"), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------- ternary linear

gguf::TensorInfo tensor_over(std::vector<uint8_t>& bytes, GgmlType type, uint64_t k, uint64_t n,
                             const char* name = "w") {
  gguf::TensorInfo t;
  t.name = name;
  t.type = type;
  t.n_dims = 2;
  t.ne = {k, n, 1, 1};
  t.bytes = bytes.size();
  t.data = bytes.data();
  return t;
}

std::vector<int8_t> random_trits(size_t n, uint32_t seed) {
  std::vector<int8_t> t(n);
  for (size_t i = 0; i < n; ++i) {
    seed = seed * 1664525u + 1013904223u;
    t[i] = static_cast<int8_t>(static_cast<int>((seed >> 16) % 3) - 1);
  }
  return t;
}

// Loading decodes and packs with the model's threads: the same trits, scales and packed bytes
// as one thread, and a bad code is reported as the first one, whichever thread meets it.
TEST(ModelLinear, LoadingWithThreadsDecodesAndPacksTheSame) {
  const size_t k = 768, n = 37;
  const std::vector<int8_t> trits = random_trits(k * n, 7);
  std::vector<float> scales(n * k / 256);
  for (size_t i = 0; i < scales.size(); ++i) scales[i] = 0.25f * static_cast<float>(1 + i % 3);
  std::vector<uint8_t> bytes(ref::format_bytes(*ref::format_traits(GgmlType::TQ2_0), k * n));
  ref::pack_tq2_0(trits.data(), scales.data(), k * n, bytes.data());
  ThreadPool pool(3);
  const model::TernaryLinear one = model::ternary_from_tensor(tensor_over(bytes, GgmlType::TQ2_0, k, n), "mem");
  const model::TernaryLinear three =
      model::ternary_from_tensor(tensor_over(bytes, GgmlType::TQ2_0, k, n), "mem", 1.0f, &pool);
  EXPECT_EQ(three.trits, trits);
  EXPECT_EQ(three.block_scales, one.block_scales);
  EXPECT_EQ(three.block, one.block);

  // Packing, mad (both widths) and lut, tile by tile on the pool: the bytes of one pack_trits.
  for (const char* name : {"tern_gemv_t2_i8f32_mad_n8k256u2__avx2_xbyak", "tern_gemv_t2_i8f32_mad_n16k512u4__avx512vnni_xbyak",
                           "tern_gemv_t2_i8f32_lut_n64k240u1g3ei16__avx2_xbyak"}) {
    KernelDesc d = parse_name(name);
    d.n = n, d.k = k, d.m = 1;
    const PackedLayout l = layout_of(d);
    std::vector<uint8_t> serial(l.total_bytes), tiled(l.total_bytes, 0xAA);
    ref::pack_trits(l, trits.data(), serial.data());
    pool.parallel_for(l.n_padded / l.n_tile, 1, [&](uint64_t b, uint64_t e) {
      ref::pack_trits_tiles(l, trits.data(), tiled.data(), b, e);
    });
    EXPECT_EQ(tiled, serial) << name;
    std::vector<int8_t> back(k * n);
    ref::unpack_mad(l, tiled.data(), back.data());
    EXPECT_EQ(back, trits) << name;
  }

  // Code 3 (no trit) in rows 30 and 5: the message names row 5's element on every thread count.
  bytes[30 * (k / 256) * 66 + 7] |= 0x03;
  bytes[5 * (k / 256) * 66 + 1] |= 0xC0;
  for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
    try {
      model::ternary_from_tensor(tensor_over(bytes, GgmlType::TQ2_0, k, n), "mem", 1.0f, p);
      ADD_FAILURE() << "a code 3 was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("element " + std::to_string(5 * k + 32 * 3 + 1) + " has invalid code 3"),
                std::string::npos)
          << e.what();
    }
  }
}

// pack_mad's fast path for whole groups still names a trit out of range.
TEST(ModelLinear, PackingNamesATritOutOfRange) {
  KernelDesc d = parse_name("tern_gemv_t2_i8f32_mad_n8k256u2__avx2_xbyak");
  d.n = 3, d.k = 512, d.m = 1;
  const PackedLayout l = layout_of(d);
  std::vector<int8_t> trits(d.n * d.k, 0);
  trits[1 * 512 + 300] = 2;
  std::vector<uint8_t> out(l.total_bytes);
  try {
    ref::pack_trits(l, trits.data(), out.data());
    ADD_FAILURE() << "a 2 was packed";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("row 1 element 300 is 2, not a trit"), std::string::npos) << e.what();
  }
}

TEST(ModelLinear, BlockScalesAreKeptOnlyWhenTheyDiffer) {
  const size_t k = 512, n = 3;
  std::vector<int8_t> trits = random_trits(k * n, 1);
  // Uniform scales collapse to one.
  std::vector<float> scales(n * k / 256, 0.25f);
  std::vector<uint8_t> bytes(ref::format_bytes(*ref::format_traits(GgmlType::TQ2_0), k * n));
  ref::pack_tq2_0(trits.data(), scales.data(), k * n, bytes.data());
  model::TernaryLinear w = model::ternary_from_tensor(tensor_over(bytes, GgmlType::TQ2_0, k, n), "mem");
  EXPECT_EQ(w.block, 0u);
  EXPECT_EQ(w.scale, 0.25f);
  EXPECT_EQ(w.trits, trits);

  // Different block scales are used per block: compare with the float matmul.
  scales = {0.25f, 0.5f, 0.125f, 1.0f, 2.0f, 0.75f};
  ref::pack_tq2_0(trits.data(), scales.data(), k * n, bytes.data());
  w = model::ternary_from_tensor(tensor_over(bytes, GgmlType::TQ2_0, k, n), "mem");
  ASSERT_EQ(w.block, 256u);
  EXPECT_EQ(w.block_scales, scales);
  std::vector<float> x(2 * k);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37f * float(i)) * (i % 7 == 0 ? 3.0f : 1.0f);
  std::vector<float> y(2 * n), yf(2 * n);
  model::LinearScratch s;
  model::linear(w, x.data(), 2, y.data(), s);
  model::linear_float(w, x.data(), 2, yf.data(), s);
  std::vector<int8_t> q(2 * k);
  std::vector<float> a(2), yref(2 * n);
  ref::quantize_activations(x.data(), 2, k, q.data(), a.data());
  ref::gemm_ref_block_scaled(trits.data(), scales.data(), 256, q.data(), a.data(), 2, n, k, yref.data());
  EXPECT_EQ(y, yref);
  for (size_t t = 0; t < 2; ++t)
    for (size_t i = 0; i < n; ++i) {
      double want = 0;
      for (size_t j = 0; j < k; ++j)
        want += double(trits[i * k + j]) * scales[(i * k + j) / 256] * x[t * k + j];
      EXPECT_NEAR(yf[t * n + i], want, 1e-4);
      EXPECT_NEAR(y[t * n + i], want, 0.5);  // int8 activations: steps of max|x| / 127
    }
}

TEST(ModelLinear, Int8PathIsTheReferenceFormula) {
  const size_t k = 256, n = 4;
  std::vector<int8_t> trits = random_trits(k * n, 9);
  std::vector<uint8_t> bytes(ref::i2_s_bytes(k * n));
  ref::pack_i2_s(trits.data(), 0.0625f, k * n, bytes.data());
  model::TernaryLinear w = model::ternary_from_tensor(tensor_over(bytes, GgmlType::I2_S, k, n), "mem", 2.0f);
  EXPECT_EQ(w.scale, 0.125f);  // the extra `.scale` multiplies in
  std::vector<float> x(k);
  for (size_t i = 0; i < k; ++i) x[i] = float(int(i % 11) - 5) * 0.1f;
  std::vector<int8_t> q(k);
  const float a = ref::quantize_activations(x.data(), k, q.data());
  std::vector<float> y(n);
  model::LinearScratch s;
  model::linear(w, x.data(), 1, y.data(), s);
  for (size_t i = 0; i < n; ++i) {
    int32_t acc = 0;
    for (size_t j = 0; j < k; ++j) acc += trits[i * k + j] * q[j];
    EXPECT_EQ(y[i], (static_cast<float>(acc) * 0.125f) / a);
  }
}

TEST(ModelLinear, FloatTensorsMustHoldTernaryValues) {
  const size_t k = 32, n = 2;
  std::vector<float> v(k * n, 0.0f);
  v[3] = 0.5f, v[40] = -0.5f;
  std::vector<uint8_t> bytes(v.size() * 2);
  ref::quantize_f16(v.data(), v.size(), bytes.data());
  model::TernaryLinear w =
      model::ternary_from_tensor(tensor_over(bytes, GgmlType::F16, k, n, "blk.0.x"), "m.gguf");
  EXPECT_EQ(w.scale, 0.5f);
  EXPECT_EQ(w.trits[3], 1);
  EXPECT_EQ(w.trits[40], -1);
  v[37] = 0.25f;
  ref::quantize_f16(v.data(), v.size(), bytes.data());
  try {
    model::ternary_from_tensor(tensor_over(bytes, GgmlType::F16, k, n, "blk.0.x"), "m.gguf");
    FAIL() << "0.25 accepted next to 0.5";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("m.gguf: tensor blk.0.x is not ternary: element 37 (row 1, column 5) is 0.25"),
              std::string::npos)
        << msg;
  }
  std::vector<uint8_t> q8(ref::format_bytes(*ref::format_traits(GgmlType::Q8_0), k * n));
  EXPECT_THROW(model::ternary_from_tensor(tensor_over(q8, GgmlType::Q8_0, k, n), "m.gguf"), Error);
}

// ---------------------------------------------------------------- bad files

// Copies a GGUF with edits: metadata overrides, dropped tensors, replaced tensors.
struct Edits {
  std::map<std::string, gguf::Value> set;
  std::set<std::string> drop;
  struct Replacement {
    std::vector<uint64_t> dims;
    std::vector<uint8_t> data;
  };
  std::map<std::string, Replacement> replace;
  std::function<std::string(const std::string&)> rename_key;
};

void rewrite(const std::string& src, const std::string& dst, const Edits& e) {
  gguf::File f = gguf::File::open(src);
  gguf::Writer w(dst);
  for (const auto& kv : f.metadata()) {
    std::string key = e.rename_key ? e.rename_key(kv.key) : kv.key;
    w.set(key, kv.value);
  }
  for (const auto& [k, v] : e.set) w.set(k, v);
  for (const auto& t : f.tensors()) {
    if (e.drop.count(t.name)) continue;
    auto r = e.replace.find(t.name);
    if (r != e.replace.end())
      w.add_tensor(t.name, t.type, r->second.dims);
    else
      w.add_tensor(t.name, t.type, t.dims());
  }
  for (const auto& t : f.tensors()) {
    if (e.drop.count(t.name)) continue;
    auto r = e.replace.find(t.name);
    if (r != e.replace.end())
      w.write_tensor(t.name, r->second.data);
    else
      w.write_tensor(t.name, t.span());
  }
  w.finish();
}

std::string load_error(const std::string& path) {
  try {
    Model::load(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "(loaded)";
}

TEST(ModelLoad, RejectsAWrongArchitecture) {
  test::TempDir dir;
  Edits e;
  e.set.emplace("general.architecture", gguf::Value("llama"));
  rewrite(golden("tq2_0", ".gguf"), dir.file("m.gguf"), e);
  std::string msg = load_error(dir.file("m.gguf"));
  EXPECT_NE(msg.find("architecture 'llama' is not supported"), std::string::npos) << msg;
  EXPECT_NE(msg.find("m.gguf"), std::string::npos) << msg;
}

TEST(ModelLoad, RejectsAMissingTensor) {
  test::TempDir dir;
  Edits e;
  e.drop.insert("blk.1.ffn_sub_norm.weight");
  rewrite(golden("tq2_0", ".gguf"), dir.file("m.gguf"), e);
  std::string msg = load_error(dir.file("m.gguf"));
  EXPECT_NE(msg.find("tensor blk.1.ffn_sub_norm.weight is missing"), std::string::npos) << msg;
}

// A bias (or any tensor the graph would not read) is refused, not ignored.
TEST(ModelLoad, RejectsTensorsItWouldIgnore) {
  test::TempDir dir;
  gguf::File f = gguf::File::open(golden("tq2_0", ".gguf"));
  {
    gguf::Writer w(dir.file("m.gguf"));
    for (const auto& kv : f.metadata()) w.set(kv.key, kv.value);
    for (const auto& t : f.tensors()) w.add_tensor(t.name, t.type, t.dims());
    w.add_tensor("blk.0.attn_q.bias", GgmlType::F32, {256});
    for (const auto& t : f.tensors()) w.write_tensor(t.name, t.span());
    std::vector<float> bias(256, 0.5f);
    w.write_tensor("blk.0.attn_q.bias", bias.data(), bias.size() * sizeof(float));
    w.finish();
  }
  std::string msg = load_error(dir.file("m.gguf"));
  EXPECT_NE(msg.find("tensor blk.0.attn_q.bias is not part of the bitnet graph"), std::string::npos) << msg;
}

TEST(ModelLoad, RejectsAWrongShape) {
  test::TempDir dir;
  gguf::File f = gguf::File::open(golden("f16", ".gguf"));
  const gguf::TensorInfo& t = f.tensor("blk.0.attn_k.weight");
  Edits e;
  e.replace["blk.0.attn_k.weight"] = {{256, 64}, std::vector<uint8_t>(t.data, t.data + t.bytes / 2)};
  rewrite(golden("f16", ".gguf"), dir.file("m.gguf"), e);
  std::string msg = load_error(dir.file("m.gguf"));
  EXPECT_NE(msg.find("tensor blk.0.attn_k.weight has shape [256, 64], expected [256, 128]"),
            std::string::npos)
      << msg;

  // A norm of the wrong length, and an embedding whose width disagrees.
  Edits e2;
  gguf::File g = gguf::File::open(golden("tq2_0", ".gguf"));
  const gguf::TensorInfo& sub = g.tensor("blk.0.ffn_sub_norm.weight");
  e2.replace["blk.0.ffn_sub_norm.weight"] = {{256}, std::vector<uint8_t>(sub.data, sub.data + 1024)};
  rewrite(golden("tq2_0", ".gguf"), dir.file("n.gguf"), e2);
  msg = load_error(dir.file("n.gguf"));
  EXPECT_NE(msg.find("tensor blk.0.ffn_sub_norm.weight has shape [256], expected [768]"), std::string::npos)
      << msg;

  Edits e3;
  e3.set.emplace("bitnet.embedding_length", gguf::Value(uint32_t{512}));
  e3.set.emplace("bitnet.rope.dimension_count", gguf::Value(uint32_t{128}));
  rewrite(golden("tq2_0", ".gguf"), dir.file("o.gguf"), e3);
  msg = load_error(dir.file("o.gguf"));
  EXPECT_NE(msg.find("token_embd.weight has shape [256, 1024], expected [512, 1024]"), std::string::npos)
      << msg;
}

TEST(ModelLoad, RejectsANonTernaryF16Projection) {
  test::TempDir dir;
  gguf::File f = gguf::File::open(golden("f16", ".gguf"));
  const gguf::TensorInfo& t = f.tensor("blk.1.ffn_up.weight");
  std::vector<uint8_t> data(t.data, t.data + t.bytes);
  const uint16_t h = ref::f32_to_f16(0.05f);
  std::memcpy(data.data() + 2 * 1000, &h, 2);
  Edits e;
  e.replace["blk.1.ffn_up.weight"] = {{256, 768}, data};
  rewrite(golden("f16", ".gguf"), dir.file("m.gguf"), e);
  std::string msg = load_error(dir.file("m.gguf"));
  EXPECT_NE(msg.find("tensor blk.1.ffn_up.weight is not ternary: element 1000 (row 3, column 232)"),
            std::string::npos)
      << msg;
}

TEST(ModelLoad, RejectsBadHyperparameters) {
  test::TempDir dir;
  Edits e;
  e.set.emplace("bitnet.attention.head_count_kv", gguf::Value(uint32_t{3}));
  rewrite(golden("tq2_0", ".gguf"), dir.file("a.gguf"), e);
  EXPECT_NE(load_error(dir.file("a.gguf")).find("not a multiple of head_count_kv 3"), std::string::npos);

  Edits e2;
  e2.set.emplace("bitnet.rope.dimension_count", gguf::Value(uint32_t{32}));
  rewrite(golden("tq2_0", ".gguf"), dir.file("b.gguf"), e2);
  EXPECT_NE(load_error(dir.file("b.gguf")).find("partial rotary"), std::string::npos);

  Edits e3;
  e3.set.emplace("bitnet.rope.scaling.type", gguf::Value("yarn"));
  rewrite(golden("tq2_0", ".gguf"), dir.file("c.gguf"), e3);
  EXPECT_NE(load_error(dir.file("c.gguf")).find("'yarn' is not supported"), std::string::npos);

  // A file that is not a model at all.
  EXPECT_NE(load_error(test::data_path("nonexistent.gguf")).find("cannot open"), std::string::npos);
}

// The bitnet.cpp archs load with their own key prefix and use ReLU^2 in the FFN.
TEST(ModelLoad, BitnetB158AndBitnet25UseReluSquared) {
  test::TempDir dir;
  std::vector<int32_t> tokens = prompt_tokens("tq2_0");
  std::vector<float> silu = run_all(Model::load(golden("tq2_0", ".gguf")), tokens);
  for (const char* arch : {"bitnet-b1.58", "bitnet-25"}) {
    SCOPED_TRACE(arch);
    Edits e;
    const std::string a = arch;
    e.rename_key = [&](const std::string& k) { return k.starts_with("bitnet.") ? a + k.substr(6) : k; };
    e.set.emplace("general.architecture", gguf::Value(a));
    rewrite(golden("tq2_0", ".gguf"), dir.file(a + ".gguf"), e);
    Model m = Model::load(dir.file(a + ".gguf"));
    EXPECT_EQ(m.hparams().arch, a);
    EXPECT_EQ(m.hparams().ffn_act, model::FfnActivation::ReluSquared);
    EXPECT_EQ(m.hparams().rope_freq_base, 500000.0f);
    std::vector<float> relu2 = run_all(m, tokens);
    for (float v : relu2) ASSERT_TRUE(std::isfinite(v));
    EXPECT_LT(compare(relu2, silu, 1024).cos_min, 0.99);  // another activation, another model
  }
  // Newer llama.cpp reads `bitnet.hidden_activation`; "relu2" gives the same graph.
  Edits e;
  e.set.emplace("bitnet.hidden_activation", gguf::Value("relu2"));
  rewrite(golden("tq2_0", ".gguf"), dir.file("act.gguf"), e);
  EXPECT_EQ(run_all(Model::load(dir.file("act.gguf")), tokens),
            run_all(Model::load(dir.file("bitnet-25.gguf")), tokens));
  Edits bad;
  bad.set.emplace("bitnet.hidden_activation", gguf::Value("gelu"));
  rewrite(golden("tq2_0", ".gguf"), dir.file("gelu.gguf"), bad);
  EXPECT_NE(load_error(dir.file("gelu.gguf")).find("'gelu' is not supported"), std::string::npos);
}

// An untied head (output.weight) is used instead of token_embd.
TEST(ModelLoad, AnUntiedHeadIsUsed) {
  test::TempDir dir;
  std::vector<int32_t> tokens = prompt_tokens("f16");
  gguf::File f = gguf::File::open(golden("f16", ".gguf"));
  const gguf::TensorInfo& embd = f.tensor("token_embd.weight");
  // Head = -token_embd, so the logits flip sign.
  std::vector<uint8_t> neg(embd.data, embd.data + embd.bytes);
  for (size_t i = 1; i < neg.size(); i += 2) neg[i] ^= 0x80;
  {
    gguf::Writer w(dir.file("m.gguf"));
    for (const auto& kv : f.metadata()) w.set(kv.key, kv.value);
    for (const auto& t : f.tensors()) w.add_tensor(t.name, t.type, t.dims());
    w.add_tensor("output.weight", GgmlType::F16, {256, 1024});
    for (const auto& t : f.tensors()) w.write_tensor(t.name, t.span());
    w.write_tensor("output.weight", neg);
    w.finish();
  }
  Model m = Model::load(dir.file("m.gguf"));
  EXPECT_FALSE(m.tied_head());
  std::vector<float> a = run_all(m, tokens), b = run_all(Model::load(golden("f16", ".gguf")), tokens);
  for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a[i], -b[i]) << i;
}

// A model parsed from memory works like one mapped from disk.
TEST(ModelLoad, FromMemory) {
  std::vector<uint8_t> bytes = test::read_bytes(golden("tq1_0", ".gguf"));
  Model m = Model::from_file(gguf::File::parse(bytes, "tq1_0-in-memory"));
  EXPECT_EQ(m.name(), "tq1_0-in-memory");
  std::vector<int32_t> tokens = prompt_tokens("tq1_0");
  EXPECT_EQ(run_all(m, tokens), run_all(Model::load(golden("tq1_0", ".gguf")), tokens));
}

// ---------------------------------------------------------------- synthetic models

std::vector<float> synth_logits(const test::TempDir& dir, GgmlType type, GgmlType embd,
                                const std::string& arch = "bitnet") {
  model::SynthOptions o;
  o.shape = *model::preset_shape("tiny");
  o.type = type;
  o.embd_type = embd;
  o.arch = arch;
  o.seed = 11;
  const std::string path = dir.file(std::string(ggml_type_name(type)) + "-" +
                                    std::string(ggml_type_name(embd)) + "-" + arch + ".gguf");
  model::synth_model(o, path);
  Model m = Model::load(path);
  std::vector<int32_t> tokens = prompt_tokens("tq2_0");
  std::vector<float> logits = run_all(m, tokens);
  for (size_t i = 0; i < logits.size(); ++i) EXPECT_TRUE(std::isfinite(logits[i])) << i;
  return logits;
}

// Same trits and the same scale give the same int32 accumulators, so every
// format that can store the scale exactly gives bit-identical logits.
TEST(ModelSynth, EveryWeightFormatGivesTheSameLogits) {
  test::TempDir dir;
  const std::vector<float> tq2 = synth_logits(dir, GgmlType::TQ2_0, GgmlType::F16);
  for (GgmlType t : {GgmlType::TQ1_0, GgmlType::I2_S, GgmlType::F16, GgmlType::F32}) {
    SCOPED_TRACE(ggml_type_name(t));
    EXPECT_EQ(synth_logits(dir, t, GgmlType::F16), tq2);
  }
  // BF16 cannot hold f16(sqrt(1.5/K)) exactly: synth rounds the scale to bf16,
  // so the model differs slightly (same trits, another scale).
  Agreement bf = compare(synth_logits(dir, GgmlType::BF16, GgmlType::F16), tq2, 1024);
  std::cout << "[ synth  ] bf16 vs tq2_0 weights: " << bf.str() << "\n";
  EXPECT_GE(bf.cos_min, 0.99) << bf.str();
}

TEST(ModelSynth, EveryEmbeddingFormatLoadsAndRuns) {
  test::TempDir dir;
  const std::vector<float> f16 = synth_logits(dir, GgmlType::TQ2_0, GgmlType::F16);
  for (GgmlType e : {GgmlType::Q8_0, GgmlType::Q6_K, GgmlType::BF16, GgmlType::F32}) {
    SCOPED_TRACE(ggml_type_name(e));
    Agreement a = compare(synth_logits(dir, GgmlType::TQ2_0, e), f16, 1024);
    std::cout << "[ synth  ] embedding " << ggml_type_name(e) << " vs f16: " << a.str() << "\n";
    EXPECT_GE(a.cos_min, 0.99) << a.str();
  }
  // bitnet.cpp's arch name loads too, with its ReLU^2 FFN.
  synth_logits(dir, GgmlType::I2_S, GgmlType::F16, "bitnet-b1.58");
}

// ---------------------------------------------------------------- tern eval

std::string join(const std::vector<int32_t>& v) {
  std::string s;
  for (int32_t x : v) {
    if (!s.empty()) s += ',';
    s += std::to_string(x);
  }
  return s;
}

TEST(ModelCli, EvalWritesAllLogits) {
  test::TempDir dir;
  std::vector<int32_t> tokens = prompt_tokens("tq2_0");
  const std::string model = golden("tq2_0", ".gguf");
  test::RunResult r =
      test::run_tern("eval -m " + model + " --tokens " + join(tokens) + " --logits " + dir.file("a.f32"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("tokens/s"), std::string::npos) << r.err;
  std::vector<float> a = read_floats(dir.file("a.f32"));
  ASSERT_EQ(a.size(), 48u * 1024u);
  EXPECT_EQ(a, run_all(Model::load(model), tokens));

  r = test::run_tern("eval -m " + model + " --tokens " + join(tokens) + " --logits " + dir.file("b.f32") +
                     " --decode-from 30 --kv f32");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ModelOptions o;
  o.kv_type = KvType::F32;
  EXPECT_EQ(read_floats(dir.file("b.f32")), run_all(Model::load(model, o), tokens));

  r = test::run_tern("eval -m " + golden("f16", ".gguf") + " --tokens " + join(tokens) + " --logits " +
                     dir.file("c.f32") + " --float-acts");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_tight(compare(read_floats(dir.file("c.f32")), read_floats(golden("f16", ".logits.f32")), 1024));
  // Only the output files, no temporaries.
  EXPECT_EQ(dir.entries().size(), 3u);
}

TEST(ModelCli, EvalHelpAndErrors) {
  test::RunResult r = test::run_tern("eval --help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("--decode-from"), std::string::npos);
  EXPECT_NE(r.out.find("examples:"), std::string::npos);

  test::TempDir dir;
  const std::string model = golden("tq2_0", ".gguf");
  r = test::run_tern("eval -m " + model + " --tokens 1,x,3 --logits " + dir.file("a.f32"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("'x' is not a token id"), std::string::npos) << r.err;
  r = test::run_tern("eval -m " + model + " --tokens 1,2 --logits " + dir.file("a.f32") + " --kv q8");
  EXPECT_EQ(r.exit_code, 2);
  r = test::run_tern("eval -m " + model + " --tokens 1,2 --logits " + dir.file("a.f32") + " --decode-from 3");
  EXPECT_EQ(r.exit_code, 2);
  r = test::run_tern("eval -m " + model + " --tokens 1,5000 --logits " + dir.file("a.f32"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("token 5000"), std::string::npos) << r.err;
  r = test::run_tern("eval -m " + dir.file("missing.gguf") + " --tokens 1 --logits " + dir.file("a.f32"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(dir.entries().empty());  // no partial output on any error
}

}  // namespace
}  // namespace tern
