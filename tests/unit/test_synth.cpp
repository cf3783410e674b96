#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "runtime/core/error.h"
#include "runtime/gguf/gguf.h"
#include "runtime/model/synth.h"
#include "runtime/ref/formats.h"
#include "runtime/ref/fp16.h"
#include "test_helpers.h"

namespace tern {
namespace {

model::SynthOptions tiny(GgmlType type = GgmlType::TQ2_0, GgmlType embd = GgmlType::F16) {
  model::SynthOptions o;
  o.shape = *model::preset_shape("tiny");
  o.type = type;
  o.embd_type = embd;
  o.seed = 7;
  return o;
}

// Every projection holds only {-s, 0, +s} with s = f16(sqrt(1.5 / K)), about a third each.
void expect_ternary_tensors(const gguf::File& f) {
  size_t checked = 0;
  for (const auto& t : f.tensors()) {
    if (t.name.find("attn_norm") != std::string::npos || t.name.find("sub_norm") != std::string::npos ||
        t.name.find("ffn_norm") != std::string::npos || t.name.starts_with("output_norm") ||
        t.name.starts_with("token_embd"))
      continue;
    const ref::FormatTraits* fmt = ref::format_traits(t.type);
    ASSERT_NE(fmt, nullptr) << t.name;
    const size_t n = t.elements();
    float s = ref::f16_to_f32(ref::f32_to_f16(std::sqrt(1.5f / static_cast<float>(t.ne[0]))));
    if (t.type == GgmlType::BF16) s = ref::bf16_to_f32(ref::f32_to_bf16(s));
    std::vector<int8_t> trits(n);
    if (fmt->is_ternary) {
      std::vector<float> scales(ref::ternary_scale_count(*fmt, n));
      fmt->to_trits(t.data, n, trits.data(), scales.data());
      for (float x : scales) ASSERT_EQ(x, s) << t.name;
    } else {
      std::vector<float> v(n);
      fmt->to_float(t.data, n, v.data());
      for (size_t i = 0; i < n; ++i) {
        ASSERT_TRUE(v[i] == 0 || std::fabs(v[i]) == s) << t.name << " element " << i << " = " << v[i];
        trits[i] = static_cast<int8_t>((v[i] > 0) - (v[i] < 0));
      }
    }
    size_t counts[3] = {};
    for (int8_t x : trits) counts[x + 1]++;
    for (size_t c : counts) {
      EXPECT_GT(c, n / 4) << t.name;
      EXPECT_LT(c, n / 2) << t.name;
    }
    ++checked;
  }
  EXPECT_EQ(checked, 14u);
}

TEST(Synth, TinyModelHasTheGoldenLayout) {
  test::TempDir tmp;
  std::string path = tmp.file("tiny.gguf");
  model::SynthSummary s = model::synth_model(tiny(), path);
  gguf::File f = gguf::File::open(path);
  gguf::File golden = gguf::File::open(test::data_path("tiny-bitnet-tq2_0-embf16.gguf"));
  EXPECT_EQ(s.file_bytes, f.size());
  EXPECT_EQ(s.tensors, 24u);
  EXPECT_EQ(s.ternary_weights, 2u * (256 * 256 * 2 + 256 * 128 * 2 + 3 * 256 * 768));
  // Same tensors, types and shapes as llama-quantize's TQ2_0 file with an F16 embedding.
  ASSERT_EQ(f.tensors().size(), golden.tensors().size());
  for (const auto& g : golden.tensors()) {
    const gguf::TensorInfo* t = f.find_tensor(g.name);
    ASSERT_NE(t, nullptr) << g.name;
    EXPECT_EQ(t->type, g.type) << g.name;
    EXPECT_EQ(t->ne, g.ne) << g.name;
    EXPECT_EQ(t->bytes, g.bytes) << g.name;
  }
  // Every hyper-parameter key llama.cpp reads has the golden value.
  for (const char* key : {"general.architecture", "bitnet.block_count", "bitnet.context_length",
                          "bitnet.embedding_length", "bitnet.feed_forward_length",
                          "bitnet.attention.head_count", "bitnet.attention.head_count_kv",
                          "bitnet.rope.freq_base", "bitnet.attention.layer_norm_rms_epsilon",
                          "bitnet.vocab_size", "bitnet.rope.dimension_count", "tokenizer.ggml.model",
                          "tokenizer.ggml.pre", "tokenizer.ggml.tokens", "tokenizer.ggml.token_type",
                          "tokenizer.ggml.merges", "tokenizer.ggml.bos_token_id",
                          "tokenizer.ggml.eos_token_id", "tokenizer.ggml.add_bos_token",
                          "general.file_type"}) {
    ASSERT_NE(f.find(key), nullptr) << key;
    EXPECT_EQ(*f.find(key), *golden.find(key)) << key;
  }
  expect_ternary_tensors(f);
}

TEST(Synth, BuiltinVocabIsTheGoldenOne) {
  // The golden tiny vocab was built by the same rule: bytes, Ġa..Ġz, letter pairs, Ġ+pairs, controls.
  gguf::File golden = gguf::File::open(test::data_path("tiny-bitnet-f16.gguf"));
  model::BuiltinVocab v = model::builtin_vocab(1024);
  EXPECT_EQ(v.tokens, golden.get_string_array("tokenizer.ggml.tokens"));
  EXPECT_EQ(v.merges, golden.get_string_array("tokenizer.ggml.merges"));
  EXPECT_EQ(v.token_types, golden.get_i32_array("tokenizer.ggml.token_type"));
  EXPECT_EQ(v.bos, golden.get_u32("tokenizer.ggml.bos_token_id"));
  EXPECT_EQ(v.eos, golden.get_u32("tokenizer.ggml.eos_token_id"));
  EXPECT_EQ(v.tokens[v.eot], "<|eot_id|>");
}

TEST(Synth, Llama3SizedVocabIsConsistent) {
  model::BuiltinVocab v = model::builtin_vocab(128256);
  ASSERT_EQ(v.tokens.size(), 128256u);
  EXPECT_EQ(v.bos, 128000u);
  EXPECT_EQ(v.eos, 128001u);
  EXPECT_EQ(v.eot, 128009u);
  EXPECT_EQ(v.tokens[128000], "<|begin_of_text|>");
  EXPECT_EQ(v.tokens[128009], "<|eot_id|>");
  std::set<std::string> all(v.tokens.begin(), v.tokens.end());
  EXPECT_EQ(all.size(), v.tokens.size()) << "duplicate tokens";
  ASSERT_EQ(v.merges.size(), 128000u - 256u);
  for (size_t i = 0; i < v.merges.size(); ++i) {
    const std::string& m = v.merges[i];
    size_t sp = m.find(' ');
    ASSERT_NE(sp, std::string::npos);
    std::string a = m.substr(0, sp), b = m.substr(sp + 1);
    ASSERT_TRUE(all.count(a) && all.count(b)) << m;
    ASSERT_EQ(v.tokens[256 + i], a + b) << "merge " << i << " does not make token " << 256 + i;
  }
  EXPECT_THROW(model::builtin_vocab(100), Error);
}

TEST(Synth, EveryWeightAndEmbeddingTypeReadsBack) {
  test::TempDir tmp;
  for (GgmlType type : {GgmlType::TQ2_0, GgmlType::TQ1_0, GgmlType::I2_S, GgmlType::F16, GgmlType::BF16}) {
    for (GgmlType embd : {GgmlType::F16, GgmlType::Q8_0, GgmlType::Q6_K}) {
      SCOPED_TRACE(std::string(ggml_type_name(type)) + " / " + std::string(ggml_type_name(embd)));
      std::string path = tmp.file("m.gguf");
      model::synth_model(tiny(type, embd), path);
      gguf::File f = gguf::File::open(path);
      EXPECT_EQ(f.tensor("blk.1.ffn_down.weight").type, type);
      EXPECT_EQ(f.tensor("token_embd.weight").type, embd);
      expect_ternary_tensors(f);
      // The embedding dequantises to small values around zero, as generated.
      const auto& e = f.tensor("token_embd.weight");
      std::vector<float> x(e.elements());
      ref::format_traits(embd)->to_float(e.data, x.size(), x.data());
      float amax = 0;
      for (float v : x) amax = std::max(amax, std::fabs(v));
      EXPECT_GT(amax, 0.1f);
      EXPECT_LT(amax, 0.2f);
    }
  }
}

TEST(Synth, SameSeedSameBytesOtherSeedOtherWeights) {
  test::TempDir tmp;
  auto o = tiny();
  model::synth_model(o, tmp.file("a.gguf"));
  model::synth_model(o, tmp.file("b.gguf"));
  o.seed = 8;
  model::synth_model(o, tmp.file("c.gguf"));
  auto a = test::read_bytes(tmp.file("a.gguf")), b = test::read_bytes(tmp.file("b.gguf")),
       c = test::read_bytes(tmp.file("c.gguf"));
  EXPECT_EQ(a, b);
  ASSERT_EQ(a.size(), c.size());
  EXPECT_NE(a, c);
}

TEST(Synth, BitnetCppArchAndCopiedVocab) {
  test::TempDir tmp;
  auto o = tiny(GgmlType::I2_S);
  o.arch = "bitnet-b1.58";
  o.vocab_path = test::data_path("tiny-bitnet-f16.gguf");
  model::synth_model(o, tmp.file("m.gguf"));
  gguf::File f = gguf::File::open(tmp.file("m.gguf"));
  gguf::File src = gguf::File::open(o.vocab_path);
  EXPECT_EQ(f.get_string("general.architecture"), "bitnet-b1.58");
  EXPECT_EQ(f.get_u32("bitnet-b1.58.embedding_length"), 256u);
  for (const auto& kv : src.metadata()) {
    if (kv.key.starts_with("tokenizer.")) {
      EXPECT_EQ(*f.find(kv.key), kv.value) << kv.key;
    }
  }
}

TEST(Synth, ShapesTheTypeCannotHoldAreRefusedBeforeWriting) {
  test::TempDir tmp;
  model::SynthOptions o;
  o.shape = *model::preset_shape("3b");  // n_embd 3200 is not a multiple of TQ2_0's 256
  o.type = GgmlType::TQ2_0;
  try {
    model::synth_model(o, tmp.file("3b.gguf"));
    FAIL() << "3b accepted as TQ2_0";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("3200"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(tmp.entries().empty()) << "partial output left behind";
  o.type = GgmlType::Q4_0;
  EXPECT_THROW(model::synth_model(o, tmp.file("x.gguf")), Error);
  o = tiny();
  o.arch = "llama";
  EXPECT_THROW(model::synth_model(o, tmp.file("x.gguf")), Error);
  EXPECT_TRUE(tmp.entries().empty());
}

TEST(Synth, CliWritesAModelInspectReadsBack) {
  test::TempDir tmp;
  std::string path = tmp.file("tiny.gguf");
  auto r = test::run_tern("synth --preset tiny --type tq1_0 --embd-type q6_k -o " + path);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("24 tensors"), std::string::npos) << r.out;
  r = test::run_tern("inspect --json " + path);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["tensors"].size(), 24u);
  r = test::run_tern("inspect " + path);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("blk.1.ffn_down.weight"), std::string::npos);
  EXPECT_NE(r.out.find("TQ1_0"), std::string::npos);
  EXPECT_NE(r.out.find("768 x 256"), std::string::npos) << r.out;

  // An unwritable destination fails cleanly.
  r = test::run_tern("synth --preset tiny -o " + tmp.file("no/such/dir/x.gguf"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(test::count_lines(r.err), 1u) << r.err;
}

}  // namespace
}  // namespace tern
