// The golden tiny-bitnet files (llama.cpp and bitnet.cpp wrote them; see
// tests/data/GOLDEN-README.md) read as their JSON descriptions say, and their
// ternary tensors hold the same trits and scales whatever the format.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "runtime/gguf/gguf.h"
#include "runtime/ref/formats.h"
#include "test_helpers.h"

namespace tern {
namespace {

const char* kModels[] = {"f16", "tq2_0", "tq1_0", "tq2_0-embf16", "i2_s"};

nlohmann::json description(const std::string& model) {
  std::ifstream f(test::data_path("tiny-bitnet-" + model + ".json"));
  return nlohmann::json::parse(f);
}

std::array<uint64_t, 4> expected_dims(const std::string& name) {
  // hparams: n_embd 256, 2 KV heads of 64 -> 128, n_ff 768, vocab 1024; ne[0] is the input length.
  auto is = [&](const char* part) { return name.find(part) != std::string::npos; };
  if (is("token_embd")) return {256, 1024, 1, 1};
  if (is("ffn_sub_norm")) return {768, 1, 1, 1};
  if (is("norm")) return {256, 1, 1, 1};
  if (is("attn_k") || is("attn_v")) return {256, 128, 1, 1};
  if (is("ffn_gate") || is("ffn_up")) return {256, 768, 1, 1};
  if (is("ffn_down")) return {768, 256, 1, 1};
  return {256, 256, 1, 1};  // attn_q, attn_output
}

TEST(Golden, EveryFileParsesAsItsDescriptionSays) {
  for (const char* m : kModels) {
    SCOPED_TRACE(m);
    nlohmann::json d = description(m);
    gguf::File f = gguf::File::open(test::data_path(d["model_file"]));
    EXPECT_EQ(f.size(), d["model_bytes"].get<uint64_t>());
    EXPECT_EQ(f.get_string("general.architecture"), "bitnet");
    EXPECT_EQ(f.get_u32("bitnet.embedding_length"), d["hparams"]["n_embd"].get<uint32_t>());
    EXPECT_EQ(f.get_u32("bitnet.block_count"), d["hparams"]["n_layer"].get<uint32_t>());
    EXPECT_EQ(f.get_u32("bitnet.attention.head_count"), d["hparams"]["n_head"].get<uint32_t>());
    EXPECT_EQ(f.get_u32("bitnet.attention.head_count_kv"), d["hparams"]["n_head_kv"].get<uint32_t>());
    EXPECT_EQ(f.get_u32("bitnet.feed_forward_length"), d["hparams"]["n_ff"].get<uint32_t>());
    EXPECT_EQ(f.get_f32("bitnet.rope.freq_base"), d["hparams"]["rope_freq_base"].get<float>());
    EXPECT_EQ(f.get_f32("bitnet.attention.layer_norm_rms_epsilon"), d["hparams"]["rms_norm_eps"].get<float>());
    EXPECT_EQ(f.get_u32("tokenizer.ggml.bos_token_id"), d["hparams"]["bos"].get<uint32_t>());
    EXPECT_EQ(f.get_string_array("tokenizer.ggml.tokens").size(), d["n_vocab"].get<size_t>());
    EXPECT_EQ(f.get_string("tokenizer.ggml.pre"), "llama-bpe");
    const auto& types = d["tensor_type_by_name"];
    ASSERT_EQ(f.tensors().size(), types.size());
    for (const auto& t : f.tensors()) {
      ASSERT_TRUE(types.contains(t.name)) << t.name;
      // The JSON spells bitnet.cpp's type as "I2_S(36, bitnet.cpp fork)".
      std::string want = types[t.name].get<std::string>();
      EXPECT_EQ(ggml_type_name(t.type), want.substr(0, want.find('('))) << t.name;
      EXPECT_EQ(t.ne, expected_dims(t.name)) << t.name;
    }
  }
}

TEST(Golden, InspectShowsMetadataAndTensors) {
  for (const char* m : kModels) {
    nlohmann::json d = description(m);
    auto r = test::run_tern("inspect " + test::data_path(d["model_file"]));
    ASSERT_EQ(r.exit_code, 0) << m << r.err;
    EXPECT_NE(r.out.find("bitnet.embedding_length"), std::string::npos);
    EXPECT_NE(r.out.find("tokenizer.ggml.merges"), std::string::npos);
    for (const auto& [name, type] : d["tensor_type_by_name"].items()) {
      size_t at = r.out.find(" " + name + " ");
      ASSERT_NE(at, std::string::npos) << m << ": " << name;
      std::string line = r.out.substr(at, r.out.find('\n', at) - at);
      std::string want = type.get<std::string>();
      const std::string word = std::string(" ").append(want.substr(0, want.find('('))).append(" ");
      EXPECT_NE(line.find(word), std::string::npos) << line;
    }
  }
}

struct Ternary {
  std::vector<int8_t> trits;
  std::vector<float> scales;  // per the format's convention
};

Ternary read_ternary(const gguf::TensorInfo& t) {
  Ternary out;
  const size_t n = t.elements();
  out.trits.resize(n);
  const ref::FormatTraits& f = *ref::format_traits(t.type);
  if (f.is_ternary) {
    out.scales.resize(ref::ternary_scale_count(f, n));
    f.to_trits(t.data, n, out.trits.data(), out.scales.data());
    return out;
  }
  // F16: values are exactly {-s, 0, +s}; recover trits and s.
  std::vector<float> v(n);
  f.to_float(t.data, n, v.data());
  float s = 0;
  for (float x : v) s = std::max(s, std::fabs(x));
  for (size_t i = 0; i < n; ++i) {
    EXPECT_TRUE(v[i] == 0 || std::fabs(v[i]) == s) << t.name << "[" << i << "] = " << v[i];
    out.trits[i] = static_cast<int8_t>((v[i] > 0) - (v[i] < 0));
  }
  out.scales = {s};
  return out;
}

TEST(Golden, TernaryFormatsHoldTheF16Trits) {
  gguf::File f16 = gguf::File::open(test::data_path("tiny-bitnet-f16.gguf"));
  for (const char* m : {"tq2_0", "tq1_0", "tq2_0-embf16", "i2_s"}) {
    gguf::File q = gguf::File::open(test::data_path(std::string("tiny-bitnet-") + m + ".gguf"));
    size_t compared = 0;
    for (const auto& t : q.tensors()) {
      if (!ref::format_traits(t.type) || !ref::format_traits(t.type)->is_ternary) continue;
      SCOPED_TRACE(std::string(m) + " " + t.name);
      Ternary want = read_ternary(f16.tensor(t.name));
      Ternary got = read_ternary(t);
      ASSERT_EQ(got.trits, want.trits);
      for (float s : got.scales) ASSERT_EQ(s, want.scales[0]);
      ++compared;
    }
    EXPECT_EQ(compared, 14u) << m;
  }
}

TEST(Golden, EmbeddingsDequantiseCloseToTheF16Table) {
  gguf::File f16 = gguf::File::open(test::data_path("tiny-bitnet-f16.gguf"));
  const auto& ref_t = f16.tensor("token_embd.weight");
  std::vector<float> want(ref_t.elements());
  ref::dequantize_f16(ref_t.data, want.size(), want.data());
  for (const char* m : {"tq2_0", "tq1_0", "tq2_0-embf16", "i2_s"}) {
    gguf::File q = gguf::File::open(test::data_path(std::string("tiny-bitnet-") + m + ".gguf"));
    const auto& t = q.tensor("token_embd.weight");
    std::vector<float> got(t.elements());
    ref::format_traits(t.type)->to_float(t.data, got.size(), got.data());
    float max_diff = 0;
    for (size_t i = 0; i < got.size(); ++i) max_diff = std::max(max_diff, std::fabs(got[i] - want[i]));
    if (t.type == ref_t.type)
      EXPECT_EQ(max_diff, 0.0f) << m;  // same F16 table copied through
    else
      EXPECT_LT(max_diff, 0.02f) << m;  // Q6_K: 6-bit steps of a ~0.5 range
  }
}

}  // namespace
}  // namespace tern
