#include "runtime/model/synth.h"

#include <algorithm>
#include <cstring>
#include <cmath>
#include <memory>

#include "runtime/core/error.h"
#include "runtime/gguf/gguf.h"
#include "runtime/ref/formats.h"
#include "runtime/ref/fp16.h"

namespace tern::model {
namespace {

using ProgressFn = std::function<void(uint64_t bytes)>;

// xoshiro256** seeded through splitmix64: fast, and the same stream on every platform.
class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (auto& s : s_) {
      seed += 0x9e3779b97f4a7c15ull;
      uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      s = z ^ (z >> 31);
    }
  }
  uint64_t next() {
    uint64_t r = rotl(s_[1] * 5, 7) * 9, t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return r;
  }
  // Uniform in [-1, 1).
  float uniform() { return static_cast<float>(next() >> 40) * (2.0f / 16777216.0f) - 1.0f; }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

uint64_t name_hash(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (char c : s) h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ull;
  return h;
}

// Each tensor draws from its own stream, so its content does not depend on the
// order tensors are written in or on chunk sizes.
Rng tensor_rng(uint64_t seed, std::string_view name) { return Rng(seed ^ name_hash(name)); }

// GPT-2's byte-to-unicode table: printable Latin-1 bytes stand for themselves,
// the others are moved to U+0100 onwards, so every byte is a visible character.
std::string byte_token(unsigned b) {
  auto printable = [](unsigned x) {
    return (x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255);
  };
  unsigned cp = b;
  if (!printable(b)) {
    unsigned shifted = 0;
    for (unsigned x = 0; x < b; ++x)
      if (!printable(x)) ++shifted;
    cp = 256 + shifted;
  }
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

std::vector<std::string> special_token_names(uint32_t count) {
  std::vector<std::string> names = {"<|begin_of_text|>", "<|end_of_text|>",
                                    "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
                                    "<|finetune_right_pad_id|>", "<|reserved_special_token_2|>",
                                    "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>",
                                    "<|eot_id|>", "<|python_tag|>"};
  for (uint32_t i = 3; names.size() < count; ++i)
    names.push_back("<|reserved_special_token_" + std::to_string(i) + "|>");
  names.resize(count);
  return names;
}

struct TensorPlan {
  std::string name;
  GgmlType type;
  uint64_t k, n;  // ne0 (row length) and rows
  enum Kind { Ternary, Norm, Embedding } kind;
};

std::vector<TensorPlan> plan_tensors(const SynthOptions& opt) {
  const ModelShape& s = opt.shape;
  const uint64_t head_dim = s.n_embd / s.n_head;
  const uint64_t n_embd_kv = head_dim * s.n_head_kv;
  std::vector<TensorPlan> t;
  t.push_back({"token_embd.weight", opt.embd_type, s.n_embd, s.n_vocab, TensorPlan::Embedding});
  t.push_back({"output_norm.weight", GgmlType::F32, s.n_embd, 1, TensorPlan::Norm});
  for (uint32_t l = 0; l < s.n_layer; ++l) {
    std::string p = "blk." + std::to_string(l) + ".";
    t.push_back({p + "attn_norm.weight", GgmlType::F32, s.n_embd, 1, TensorPlan::Norm});
    t.push_back({p + "attn_q.weight", opt.type, s.n_embd, s.n_embd, TensorPlan::Ternary});
    t.push_back({p + "attn_k.weight", opt.type, s.n_embd, n_embd_kv, TensorPlan::Ternary});
    t.push_back({p + "attn_v.weight", opt.type, s.n_embd, n_embd_kv, TensorPlan::Ternary});
    t.push_back({p + "attn_sub_norm.weight", GgmlType::F32, s.n_embd, 1, TensorPlan::Norm});
    t.push_back({p + "attn_output.weight", opt.type, s.n_embd, s.n_embd, TensorPlan::Ternary});
    t.push_back({p + "ffn_norm.weight", GgmlType::F32, s.n_embd, 1, TensorPlan::Norm});
    t.push_back({p + "ffn_gate.weight", opt.type, s.n_embd, s.n_ff, TensorPlan::Ternary});
    t.push_back({p + "ffn_up.weight", opt.type, s.n_embd, s.n_ff, TensorPlan::Ternary});
    t.push_back({p + "ffn_sub_norm.weight", GgmlType::F32, s.n_ff, 1, TensorPlan::Norm});
    t.push_back({p + "ffn_down.weight", opt.type, s.n_ff, s.n_embd, TensorPlan::Ternary});
  }
  return t;
}

void check_options(const SynthOptions& opt, const std::vector<TensorPlan>& plan) {
  const ModelShape& s = opt.shape;
  if (s.n_vocab == 0 || s.n_embd == 0 || s.n_layer == 0 || s.n_head == 0 || s.n_head_kv == 0 ||
      s.n_ff == 0 || s.n_ctx == 0)
    throw Error("synth: every model dimension must be positive");
  if (s.n_embd % s.n_head != 0 || s.n_head % s.n_head_kv != 0)
    throw Error("synth: n_embd must divide by n_head and n_head by n_head_kv");
  if (opt.arch != "bitnet" && opt.arch != "bitnet-b1.58")
    throw Error("synth: arch '" + opt.arch + "' is not one tern writes (bitnet, bitnet-b1.58)");
  const ref::FormatTraits* wt = ref::format_traits(opt.type);
  if (!wt || (!wt->is_ternary && opt.type != GgmlType::F16 && opt.type != GgmlType::BF16 &&
              opt.type != GgmlType::F32))
    throw Error("synth: weight type " + std::string(ggml_type_name(opt.type)) +
                " is not one tern writes (tq2_0, tq1_0, i2_s, f16, bf16, f32)");
  const ref::FormatTraits* et = ref::format_traits(opt.embd_type);
  if (!et || !et->from_float || et->is_ternary)
    throw Error("synth: embedding type " + std::string(ggml_type_name(opt.embd_type)) +
                " is not one tern writes (f16, bf16, f32, q8_0, q6_k)");
  for (const auto& t : plan) {
    uint64_t dims[2] = {t.k, t.n};
    if (!ggml_tensor_bytes(t.type, std::span<const uint64_t>(dims, t.n == 1 ? 1 : 2)))
      throw Error("synth: tensor " + t.name + " has rows of " + std::to_string(t.k) +
                  " elements, which " + std::string(ggml_type_name(t.type)) +
                  " cannot store (its block is " +
                  std::to_string(t.type == GgmlType::I2_S ? 128 : ggml_type_info(t.type).block_size) +
                  "); pick another --type/--embd-type or preset");
  }
}

// ---- tensor writers: each generates rows in chunks and streams them out ----

void write_norm(gguf::Writer& w, const TensorPlan& t, Rng rng) {
  std::vector<float> v(t.k);
  for (float& x : v) x = 1.0f + 0.17f * rng.uniform();  // ~N(1, 0.1) in spread
  w.write_tensor(t.name, v.data(), v.size() * sizeof(float));
}

void write_embedding(gguf::Writer& w, const TensorPlan& t, Rng rng, const ProgressFn& progress) {
  const ref::FormatTraits& f = *ref::format_traits(t.type);
  const uint64_t rows_per_chunk = std::max<uint64_t>(1, (1u << 20) / t.k);
  std::vector<float> x;
  std::vector<uint8_t> bytes;
  for (uint64_t r = 0; r < t.n; r += rows_per_chunk) {
    uint64_t rows = std::min(rows_per_chunk, t.n - r);
    x.resize(rows * t.k);
    for (float& v : x) v = 0.17f * rng.uniform();  // spread of N(0, 0.1)
    bytes.resize(ref::format_bytes(f, x.size()));
    f.from_float(x.data(), x.size(), bytes.data());
    w.write_tensor(t.name, bytes.data(), bytes.size());
    progress(bytes.size());
  }
}

// BitNet-like scale: s = f16(sqrt(1.5 / K)), as the golden tiny models use.
float ternary_scale(uint64_t k) {
  return ref::f16_to_f32(ref::f32_to_f16(std::sqrt(1.5f / static_cast<float>(k))));
}

void write_ternary(gguf::Writer& w, const TensorPlan& t, Rng rng, const ProgressFn& progress) {
  const ref::FormatTraits& f = *ref::format_traits(t.type);
  float scale = ternary_scale(t.k);
  if (!f.is_ternary) {
    // Float formats (block of 1): use the scale as the format stores it, so that
    // every nonzero weight is exactly +-scale in the file (BF16 is coarser than F16).
    uint8_t stored[4];
    f.from_float(&scale, 1, stored);
    f.to_float(stored, 1, &scale);
  }
  const uint64_t rows_per_chunk = std::max<uint64_t>(1, (1u << 22) / t.k);
  std::vector<int8_t> trits;
  std::vector<float> values;
  std::vector<uint8_t> bytes;
  for (uint64_t r = 0; r < t.n; r += rows_per_chunk) {
    uint64_t rows = std::min(rows_per_chunk, t.n - r);
    trits.resize(rows * t.k);
    // Two uniform trits per 64-bit draw: (32-bit value * 3) >> 32 is 0, 1 or 2.
    for (size_t i = 0; i < trits.size(); i += 2) {
      uint64_t v = rng.next();
      trits[i] = static_cast<int8_t>(((v & 0xffffffffull) * 3 >> 32) - 1);
      if (i + 1 < trits.size()) trits[i + 1] = static_cast<int8_t>(((v >> 32) * 3 >> 32) - 1);
    }
    if (f.is_ternary) {
      std::vector<float> scales(ref::ternary_scale_count(f, trits.size()), scale);
      bytes.resize(ref::format_bytes(f, trits.size()));
      f.from_trits(trits.data(), scales.data(), trits.size(), bytes.data());
      // I2_S: one tail (scale + padding) per tensor, written after the last chunk.
      size_t code_bytes = t.type == GgmlType::I2_S ? trits.size() / 4 : bytes.size();
      w.write_tensor(t.name, bytes.data(), code_bytes);
    } else {
      values.resize(trits.size());
      for (size_t i = 0; i < trits.size(); ++i) values[i] = scale * trits[i];
      bytes.resize(ref::format_bytes(f, values.size()));
      f.from_float(values.data(), values.size(), bytes.data());
      w.write_tensor(t.name, bytes.data(), bytes.size());
    }
    progress(bytes.size());
  }
  if (t.type == GgmlType::I2_S) {
    uint8_t tail[ref::kI2sTailBytes] = {};
    std::memcpy(tail, &scale, sizeof scale);
    w.write_tensor(t.name, tail, sizeof tail);
  }
}

// llama.cpp's llama_ftype for general.file_type (informational there).
uint32_t file_type_of(GgmlType t) {
  switch (t) {
    case GgmlType::F32: return 0;
    case GgmlType::F16: return 1;
    case GgmlType::BF16: return 32;
    case GgmlType::TQ1_0: return 36;
    case GgmlType::TQ2_0: return 37;
    case GgmlType::I2_S: return 40;  // bitnet.cpp fork's LLAMA_FTYPE_MOSTLY_I2_S
    default: return 0;
  }
}

void set_builtin_vocab(gguf::Writer& w, uint32_t n_vocab) {
  BuiltinVocab v = builtin_vocab(n_vocab);
  w.set("tokenizer.ggml.model", "gpt2");
  w.set("tokenizer.ggml.pre", "llama-bpe");
  w.set("tokenizer.ggml.tokens", gguf::Array(std::move(v.tokens)));
  w.set("tokenizer.ggml.token_type", gguf::Array(std::move(v.token_types)));
  w.set("tokenizer.ggml.merges", gguf::Array(std::move(v.merges)));
  w.set("tokenizer.ggml.bos_token_id", v.bos);
  w.set("tokenizer.ggml.eos_token_id", v.eos);
  w.set("tokenizer.ggml.eot_token_id", v.eot);
  w.set("tokenizer.ggml.add_bos_token", true);
}

}  // namespace

std::optional<ModelShape> preset_shape(std::string_view name) {
  // {n_vocab, n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx, rope base, eps}
  if (name == "tiny") return ModelShape{1024, 256, 2, 4, 2, 768, 256, 500000.0f, 1e-5f};
  if (name == "small") return ModelShape{32000, 1024, 4, 16, 4, 2816, 1024, 500000.0f, 1e-5f};
  if (name == "2b4t") return ModelShape{128256, 2560, 30, 20, 5, 6912, 4096, 500000.0f, 1e-5f};
  if (name == "3b") return ModelShape{32002, 3200, 26, 32, 32, 8640, 2048, 10000.0f, 1e-5f};
  if (name == "8b") return ModelShape{128256, 4096, 32, 32, 8, 14336, 8192, 500000.0f, 1e-5f};
  return std::nullopt;
}

const std::vector<std::string>& preset_names() {
  static const std::vector<std::string> names = {"tiny", "small", "2b4t", "3b", "8b"};
  return names;
}

BuiltinVocab builtin_vocab(uint32_t n_vocab) {
  const uint32_t n_special = n_vocab >= 128256 ? 256 : 16;
  if (n_vocab < 256 + n_special)
    throw Error("synth: a vocabulary needs at least " + std::to_string(256 + n_special) + " tokens");
  BuiltinVocab v;
  const uint32_t n_plain = n_vocab - n_special;
  for (unsigned b = 0; b < 256; ++b) v.tokens.push_back(byte_token(b));
  const std::string space = byte_token(' ');  // "Ġ"
  auto merge = [&](const std::string& a, const std::string& b) {
    if (v.tokens.size() >= n_plain) return;
    v.merges.push_back(a + " " + b);
    v.tokens.push_back(a + b);
  };
  std::vector<std::string> letters, pairs;
  for (char c = 'a'; c <= 'z'; ++c) letters.emplace_back(1, c);
  for (const auto& a : letters) merge(space, a);                       // Ġa
  for (const auto& a : letters)
    for (const auto& b : letters) pairs.push_back(a + b), merge(a, b);  // ab
  for (const auto& p : pairs) merge(space + p.substr(0, 1), p.substr(1));  // Ġab
  for (const auto& p : pairs)
    for (const auto& c : letters) merge(space + p, c);                 // Ġabc
  for (const auto& p : pairs)
    for (const auto& q : pairs) merge(p, q);                           // abcd
  if (v.tokens.size() < n_plain) throw Error("synth: built-in vocabulary cannot fill " + std::to_string(n_vocab) + " tokens");
  v.token_types.assign(v.tokens.size(), 1);
  for (auto& s : special_token_names(n_special)) {
    v.tokens.push_back(std::move(s));
    v.token_types.push_back(3);
  }
  v.bos = n_plain;
  v.eos = n_plain + 1;
  v.eot = n_plain + 9;
  return v;
}

SynthSummary synth_model(const SynthOptions& options, const std::string& path,
                         const std::function<void(uint64_t, uint64_t)>& progress_cb) {
  SynthOptions opt = options;
  std::unique_ptr<gguf::File> vocab;
  if (!opt.vocab_path.empty()) {
    vocab = std::make_unique<gguf::File>(gguf::File::open(opt.vocab_path));
    opt.shape.n_vocab = static_cast<uint32_t>(vocab->get_string_array("tokenizer.ggml.tokens").size());
  }
  const ModelShape& s = opt.shape;
  std::vector<TensorPlan> plan = plan_tensors(opt);
  check_options(opt, plan);

  gguf::Writer w(path);
  const std::string a = opt.arch + ".";
  w.set("general.architecture", opt.arch);
  w.set("general.name", opt.name);
  w.set("general.file_type", file_type_of(opt.type));
  w.set("general.quantization_version", uint32_t{2});
  w.set(a + "vocab_size", s.n_vocab);
  w.set(a + "context_length", s.n_ctx);
  w.set(a + "embedding_length", s.n_embd);
  w.set(a + "block_count", s.n_layer);
  w.set(a + "feed_forward_length", s.n_ff);
  w.set(a + "rope.dimension_count", s.n_embd / s.n_head);
  w.set(a + "attention.head_count", s.n_head);
  w.set(a + "attention.head_count_kv", s.n_head_kv);
  w.set(a + "rope.freq_base", s.rope_freq_base);
  w.set(a + "attention.layer_norm_rms_epsilon", s.rms_eps);
  if (vocab) {
    for (const auto& kv : vocab->metadata())
      if (kv.key.starts_with("tokenizer.")) w.set(kv.key, kv.value);
  } else {
    set_builtin_vocab(w, s.n_vocab);
  }

  SynthSummary sum;
  sum.n_vocab = s.n_vocab;
  for (const auto& t : plan) {
    uint64_t dims[2] = {t.k, t.n};
    w.add_tensor(t.name, t.type, std::span<const uint64_t>(dims, t.n == 1 ? 1 : 2));
    if (t.kind == TensorPlan::Ternary) sum.ternary_weights += t.k * t.n;
  }
  sum.tensors = plan.size();
  w.write_header();
  uint64_t total = 0, done = 0;
  for (const auto& t : w.tensors()) total += t.bytes;
  ProgressFn progress = [&](uint64_t bytes) {
    done += bytes;
    if (progress_cb) progress_cb(done, total);
  };
  for (const auto& t : plan) {
    Rng rng = tensor_rng(opt.seed, t.name);
    switch (t.kind) {
      case TensorPlan::Norm: write_norm(w, t, rng); break;
      case TensorPlan::Embedding: write_embedding(w, t, rng, progress); break;
      case TensorPlan::Ternary: write_ternary(w, t, rng, progress); break;
    }
  }
  w.finish();
  sum.file_bytes = w.data_offset() + total;
  return sum;
}

}  // namespace tern::model
