// The model on JIT kernels computes exactly what it computes on the reference
// kernel, with any thread count.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "jit/x86/xbyak_provider.h"
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

}  // namespace
}  // namespace tern
