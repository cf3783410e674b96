// The model on JIT kernels computes exactly what it computes on the reference
// kernel, with any thread count.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <random>
#include <nlohmann/json.hpp>

#include "jit/x86/xbyak_provider.h"
#include "runtime/dispatch/kernel_choice.h"
#include "runtime/model/model.h"
#include "runtime/model/session.h"
#include "test_helpers.h"

namespace tern {
namespace {

std::vector<int32_t> golden_prompt() {
  std::ifstream f(test::data_path("tiny-bitnet-tq2_0.json"));
  return nlohmann::json::parse(f)["tokens"].get<std::vector<int32_t>>();
}

std::vector<float> logits_of(const std::string& file, bool kernels, int threads, size_t decode_from) {
  model::ModelOptions o;
  o.use_kernels = kernels;
  o.threads = threads;
  model::Model m = model::Model::load(test::data_path(file), o);
  if (kernels) {
    for (const auto& layer : m.layers()) EXPECT_NE(layer.ffn_down.packed, nullptr) << "not packed for a kernel";
  }
  model::SessionOptions so;
  so.threads = threads;
  model::Session s(m, so);
  std::vector<int32_t> tokens = golden_prompt();
  const size_t V = m.hparams().n_vocab;
  std::vector<float> logits(tokens.size() * V);
  s.eval(tokens.data(), decode_from, logits.data(), true);
  for (size_t i = decode_from; i < tokens.size(); ++i) s.eval(&tokens[i], 1, logits.data() + i * V, true);
  return logits;
}

class ModelKernels : public ::testing::Test {
 protected:
  void SetUp() override { kernel_registry().add(jit::make_xbyak_provider()); }
};

TEST_F(ModelKernels, KernelsAndThreadsGiveTheReferenceLogitsBitForBit) {
  for (const char* file : {"tiny-bitnet-tq2_0.gguf", "tiny-bitnet-i2_s.gguf", "tiny-bitnet-f16.gguf"}) {
    SCOPED_TRACE(file);
    const std::vector<float> want = logits_of(file, false, 1, 48);
    for (int threads : {1, 2, 3}) {
      for (size_t decode_from : {size_t{48}, size_t{20}}) {
        const std::vector<float> got = logits_of(file, true, threads, decode_from);
        ASSERT_EQ(got.size(), want.size());
        EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0)
            << "threads " << threads << ", decode from " << decode_from;
      }
    }
  }
}

// linear_many (q, k, v or gate, up in one dispatch) writes what linear() writes
// tensor by tensor: shapes with N tails, different tiles in one call (8 and 32),
// a tile that does not divide the largest (24: the tensors then go one by one),
// gemv and gemm, on 1 and 3 threads.
TEST_F(ModelKernels, OneDispatchForSeveralProjectionsEqualsOneEach) {
  const uint64_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const size_t K = 300;
  auto make = [&](size_t n, uint16_t n_tile) {
    model::TernaryLinear w;
    w.name = std::string("w").append(std::to_string(n));  // not "w" + (GCC 12 -Wrestrict)
    w.n = n;
    w.k = K;
    w.scale = 0.5f;
    w.trits.resize(n * K);
    for (auto& t : w.trits) t = static_cast<int8_t>(rng() % 3) - 1;
    KernelChoice c;
    c.gemv = default_kernel(Op::gemv, static_cast<uint32_t>(n), K, 1, Isa::avx2);
    c.gemm = default_kernel(Op::gemm, static_cast<uint32_t>(n), K, 8, Isa::avx2);
    c.gemv.n_tile = c.gemm.n_tile = n_tile;
    model::pack_for_kernels(w, c);
    return w;
  };
  if (!host_cpu().supports(Isa::avx2)) GTEST_SKIP() << "no AVX2";
  for (const std::vector<std::pair<size_t, uint16_t>>& shapes :
       {std::vector<std::pair<size_t, uint16_t>>{{37, 8}, {64, 32}, {19, 8}},
        std::vector<std::pair<size_t, uint16_t>>{{40, 8}, {48, 24}}}) {
    std::vector<model::TernaryLinear> ws;
    for (auto [n, tile] : shapes) ws.push_back(make(n, tile));
    for (size_t m : {size_t{1}, size_t{5}})
      for (int threads : {1, 3}) {
        ThreadPool pool(threads);
        std::vector<float> x(m * K);
        for (auto& v : x) v = std::normal_distribution<float>(0.0f, 1.0f)(rng);
        model::QuantizedActs acts;
        model::quantize_acts(x.data(), m, K, model::acts_row_length(ws[0]), acts, &pool);
        std::vector<std::vector<float>> one(ws.size()), many(ws.size());
        std::vector<model::LinearOut> outs;
        for (size_t i = 0; i < ws.size(); ++i) {
          one[i].assign(m * ws[i].n, -1.0f);
          many[i].assign(m * ws[i].n, -2.0f);
          model::linear(ws[i], acts, one[i].data(), &pool);
          outs.push_back({&ws[i], many[i].data()});
        }
        model::linear_many(outs, acts, &pool);
        for (size_t i = 0; i < ws.size(); ++i)
          EXPECT_EQ(std::memcmp(one[i].data(), many[i].data(), one[i].size() * sizeof(float)), 0)
              << ws[i].name << " m " << m << " threads " << threads;
      }
  }
}

}  // namespace
}  // namespace tern
