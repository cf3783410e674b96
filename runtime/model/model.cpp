#include "runtime/model/model.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "runtime/core/error.h"
#include "runtime/dispatch/kernel_registry.h"
#include "runtime/ref/formats.h"

namespace tern::model {

void FloatRows::row(size_t i, float* out) const { format->to_float(data + i * row_bytes, row_len, out); }

Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;
Model::~Model() = default;

const std::string& Model::name() const { return file_->name(); }

uint64_t Model::file_bytes() const { return file_->size(); }

uint64_t Model::weight_bytes() const {
  uint64_t total = (output_norm_.size() + rope_freq_factors_.size()) * sizeof(float) + head_copy_.size();
  for (const Layer& l : layers_) {
    total += (l.attn_norm.size() + l.attn_sub_norm.size() + l.ffn_norm.size() + l.ffn_sub_norm.size()) * sizeof(float);
    for (const TernaryLinear* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_gate, &l.ffn_up, &l.ffn_down})
      total += w->trits.size() + w->block_scales.size() * sizeof(float) + (w->packed ? w->packed->bytes.size() : 0);
  }
  return total;
}

// Reads hyperparameters and tensors out of one gguf::File into a Model,
// checking each against what the architecture needs.
class ModelLoader {
 public:
  // The weights are decoded and packed with the threads the model will run with.
  ModelLoader(const gguf::File& f, Model& m) : f_(f), m_(m), hp_(m.hp_), pool_(m.options_.threads) {}

  void load() {
    read_hparams();
    const ModelOptions& o = m_.options_;
    if (o.use_kernels && o.acts == Activations::Int8) {
      // Tuned records, read once for every tensor; their warnings go to the caller.
      cache_.emplace(TuningCache::load(host_cpu(), TuningSearchPaths::from_env(), kernel_registry()));
      m_.notes_ = cache_->warnings();
    }
    read_tensors();
    if (!sources_.empty()) {
      std::string line = "kernels:";
      for (const auto& [source, count] : sources_) line += " " + std::to_string(count) + " x " + source + ";";
      line.pop_back();
      m_.kernels_ = line;
    }
  }

 private:
  const gguf::File& f_;
  Model& m_;
  HParams& hp_;
  std::optional<TuningCache> cache_;
  ThreadPool pool_;
  std::map<std::string, int> sources_;       // where each projection's kernel came from
  std::set<std::string, std::less<>> used_;  // tensors the model reads
  std::set<std::string> failed_pairs_;       // kernel pairs whose build threw (noted once each)

  const gguf::TensorInfo* find(const std::string& name) {
    const gguf::TensorInfo* t = f_.find_tensor(name);
    if (t) used_.insert(name);
    return t;
  }

  [[noreturn]] void fail(const std::string& what) const { throw Error(f_.name() + ": " + what); }

  static std::string shape_str(const gguf::TensorInfo& t) {
    std::string s = "[";
    for (uint32_t d = 0; d < t.n_dims; ++d) s += (d ? ", " : "") + std::to_string(t.ne[d]);
    return s + "]";
  }

  std::string key(const char* suffix) const { return hp_.arch + "." + suffix; }

  void read_hparams() {
    hp_.arch = f_.get_string("general.architecture");
    if (hp_.arch == "bitnet") {
      hp_.ffn_act = FfnActivation::SiLU;
    } else if (hp_.arch == "bitnet-b1.58" || hp_.arch == "bitnet-25") {
      hp_.ffn_act = FfnActivation::ReluSquared;
    } else {
      fail("architecture '" + hp_.arch + "' is not supported (expected bitnet, bitnet-b1.58 or bitnet-25)");
    }
    // Newer llama.cpp reads the FFN activation from <arch>.hidden_activation
    // when a converter writes it (the 2B4T config says "relu2").
    if (f_.contains(key("hidden_activation"))) {
      const std::string act = f_.get_string(key("hidden_activation"));
      if (act == "silu" || act == "swish" || act == "swiglu")
        hp_.ffn_act = FfnActivation::SiLU;
      else if (act == "relu2" || act == "relu_sqr" || act == "relu_squared")
        hp_.ffn_act = FfnActivation::ReluSquared;
      else
        fail(key("hidden_activation") + " '" + act + "' is not supported (expected silu or relu2)");
    }
    hp_.n_embd = f_.get_u32(key("embedding_length"));
    hp_.n_layer = f_.get_u32(key("block_count"));
    hp_.n_ff = f_.get_u32(key("feed_forward_length"));
    hp_.n_head = f_.get_u32(key("attention.head_count"));
    hp_.n_head_kv = f_.get_u32(key("attention.head_count_kv"), hp_.n_head);
    hp_.n_ctx_train = f_.get_u32(key("context_length"));
    hp_.rms_eps = f_.get_f32(key("attention.layer_norm_rms_epsilon"));
    hp_.rope_freq_base = f_.get_f32(key("rope.freq_base"), 10000.0f);

    if (hp_.n_embd == 0 || hp_.n_layer == 0 || hp_.n_ff == 0 || hp_.n_head == 0 || hp_.n_head_kv == 0 ||
        hp_.n_ctx_train == 0)
      fail(
          "embedding_length, block_count, feed_forward_length, head counts and context_length must be "
          "positive");
    if (hp_.n_embd % hp_.n_head != 0)
      fail("embedding_length " + std::to_string(hp_.n_embd) + " is not a multiple of head_count " +
           std::to_string(hp_.n_head));
    if (hp_.n_head % hp_.n_head_kv != 0)
      fail("head_count " + std::to_string(hp_.n_head) + " is not a multiple of head_count_kv " +
           std::to_string(hp_.n_head_kv));
    hp_.head_dim = hp_.n_embd / hp_.n_head;
    if (hp_.head_dim % 2 != 0)
      fail("head dimension " + std::to_string(hp_.head_dim) + " is odd; rope needs pairs");
    for (const char* k : {"attention.key_length", "attention.value_length"}) {
      const uint32_t v = f_.get_u32(key(k), hp_.head_dim);
      if (v != hp_.head_dim)
        fail(key(k) + " is " + std::to_string(v) +
             ", expected embedding_length / head_count = " + std::to_string(hp_.head_dim));
    }
    const uint32_t n_rot = f_.get_u32(key("rope.dimension_count"), hp_.head_dim);
    if (n_rot != hp_.head_dim)
      fail(key("rope.dimension_count") + " is " + std::to_string(n_rot) + ", expected the head dimension " +
           std::to_string(hp_.head_dim) + " (partial rotary is not supported)");
    if (!(hp_.rms_eps >= 0.0f) || !std::isfinite(hp_.rms_eps))
      fail(key("attention.layer_norm_rms_epsilon") + " must be a finite non-negative number");
    if (!(hp_.rope_freq_base > 0.0f) || !std::isfinite(hp_.rope_freq_base))
      fail(key("rope.freq_base") + " must be a finite positive number");

    // Rope scaling: llama.cpp writes rope.scaling.{type,factor} (older files
    // rope.scale_linear). Only linear scaling (freq_scale = 1 / factor) is supported.
    const std::string type = f_.get_string(key("rope.scaling.type"), "linear");
    float factor = f_.get_f32(key("rope.scaling.factor"), 0.0f);
    if (factor == 0.0f) factor = f_.get_f32(key("rope.scale_linear"), 1.0f);
    if (type == "none") factor = 1.0f;
    if (type != "none" && type != "linear")
      fail(key("rope.scaling.type") + " '" + type + "' is not supported (expected none or linear)");
    if (!(factor > 0.0f) || !std::isfinite(factor))
      fail("rope scaling factor must be a finite positive number");
    hp_.rope_freq_scale = 1.0f / factor;
  }

  const gguf::TensorInfo& need(const std::string& name) {
    const gguf::TensorInfo* t = find(name);
    if (!t) fail("tensor " + name + " is missing (arch " + hp_.arch + " needs it)");
    return *t;
  }

  void check_dims(const gguf::TensorInfo& t, std::initializer_list<uint64_t> want,
                  const std::string& meaning) const {
    bool ok = t.n_dims == want.size();
    size_t d = 0;
    for (uint64_t w : want) ok = ok && t.ne[d++] == w;
    if (ok) return;
    std::string exp = "[";
    d = 0;
    for (uint64_t w : want) exp += (d++ ? ", " : "") + std::to_string(w);
    fail("tensor " + t.name + " has shape " + shape_str(t) + ", expected " + exp + "] (" + meaning + ")");
  }

  std::vector<float> read_vector(const std::string& name, uint32_t n, const char* meaning) {
    const gguf::TensorInfo& t = need(name);
    check_dims(t, {n}, meaning);
    const ref::FormatTraits* fmt = ref::format_traits(t.type);
    if (t.type != GgmlType::F32 && t.type != GgmlType::F16 && t.type != GgmlType::BF16)
      fail("tensor " + name + " has type " + std::string(ggml_type_name(t.type)) +
           ", expected F32, F16 or BF16");
    std::vector<float> v(n);
    fmt->to_float(t.data, n, v.data());
    for (size_t i = 0; i < n; ++i)
      if (!std::isfinite(v[i])) fail("tensor " + name + " element " + std::to_string(i) + " is not finite");
    return v;
  }

  FloatRows read_rows(const gguf::TensorInfo& t) const {
    check_dims(t, {hp_.n_embd, hp_.n_vocab}, "n_embd x n_vocab");
    const ref::FormatTraits* fmt = ref::format_traits(t.type);
    if (!fmt || fmt->is_ternary)
      fail("tensor " + t.name + " has type " + std::string(ggml_type_name(t.type)) +
           ", expected F32, F16, BF16, Q8_0 or Q6_K");
    if (hp_.n_embd % fmt->block_elems != 0)
      fail("tensor " + t.name + ": rows of " + std::to_string(hp_.n_embd) + " are not a multiple of the " +
           std::string(ggml_type_name(t.type)) + " block " + std::to_string(fmt->block_elems));
    FloatRows r;
    r.name = t.name;
    r.type = t.type;
    r.format = fmt;
    r.data = t.data;
    r.row_len = hp_.n_embd;
    r.n_rows = hp_.n_vocab;
    r.row_bytes = ref::format_bytes(*fmt, hp_.n_embd);
    return r;
  }

  // The LM head is read whole every token, like the packed weights, but from the
  // file's mapping it is on 4 KiB pages, where the hardware prefetcher stops at
  // each page: one thread read it at 18 GB/s, 21 GB/s from huge pages
  // (tern_bench_head). So it is copied to huge pages when the system has them, and
  // the file's pages are given back (the copy replaces them in the resident set).
  void move_to_huge_pages(const gguf::TensorInfo& t, FloatRows& rows, LargeVector<uint8_t>& copy) const {
    const size_t bytes = rows.n_rows * rows.row_bytes;
    if (!huge_pages_enabled() || bytes < kHugePageBytes) return;
    copy.assign(rows.data, rows.data + bytes);
    rows.data = copy.data();
    f_.release(t);
  }

  // blk.N.<proj>.scale: one float multiplying the projection's output.
  float extra_scale(const std::string& proj) {
    const gguf::TensorInfo* t = find(proj + ".scale");
    if (!t) return 1.0f;
    if (t->elements() != 1) fail("tensor " + t->name + " has shape " + shape_str(*t) + ", expected [1]");
    if (t->type != GgmlType::F32 && t->type != GgmlType::F16 && t->type != GgmlType::BF16)
      fail("tensor " + t->name + " has type " + std::string(ggml_type_name(t->type)) + ", expected F32");
    float s = 0.0f;
    ref::format_traits(t->type)->to_float(t->data, 1, &s);
    if (!std::isfinite(s)) fail("tensor " + t->name + " is not finite");
    return s;
  }

  TernaryLinear read_linear(const std::string& proj, uint32_t k, uint32_t n, const char* meaning) {
    const gguf::TensorInfo& t = need(proj + ".weight");
    check_dims(t, {k, n}, meaning);
    TernaryLinear w = ternary_from_tensor(t, f_.name(), extra_scale(proj), &pool_);
    const ModelOptions& o = m_.options_;
    // Packed right away, so only one tensor's trits are ever unpacked at a time.
    if (o.use_kernels && o.acts == Activations::Int8 && w.block == 0) pack(w, n, k);
    // The packed copy (or, on the reference path, the unpacked trits) is all the forward
    // pass reads: the file's pages of this tensor need not stay resident (peak RSS: the
    // head, the weights and the KV cache).
    f_.release(t);
    return w;
  }

  // Packs w for the kernels the dispatcher picks. A provider that said it could build a kernel
  // may still fail to emit it (a JIT failure): then the next choice is used, the dispatcher's
  // choice without the tuning cache after a tuned record and the reference kernel after that,
  // and a note says so once per failing kernel pair (the other tensors of that shape skip the
  // pair without retrying it).
  void pack(TernaryLinear& w, uint32_t n, uint32_t k) {
    const int threads = m_.options_.threads;
    std::optional<KernelChoice> choice = choose_kernels(n, k, threads, cache_ ? &*cache_ : nullptr);
    if (!choice) {
      sources_["reference (no kernel provider)"]++;
      return;
    }
    bool defaults_tried = !cache_;
    std::string failure;
    while (choice) {
      const std::string pair = to_name(choice->gemv) + " + " + to_name(choice->gemm);
      if (!failed_pairs_.count(pair)) {
        try {
          pack_for_kernels(w, *choice, &pool_);  // leaves w unpacked when a build throws
          sources_[choice->source]++;
          return;
        } catch (const Error& e) {
          failed_pairs_.insert(pair);
          failure = e.what();
        }
      }
      std::optional<KernelChoice> next;
      if (!defaults_tried) {
        defaults_tried = true;
        next = choose_kernels(n, k, threads, nullptr);
        if (next && to_name(next->gemv) + " + " + to_name(next->gemm) == pair) next.reset();
      }
      if (!failure.empty()) {
        m_.notes_.push_back("kernel build failed (" + failure + "); the " + std::to_string(k) + "x" +
                            std::to_string(n) + " (KxN) projections fall back to " +
                            (next ? next->source : std::string("the reference kernel")));
        failure.clear();
      }
      choice = std::move(next);
    }
    sources_["reference (kernel build failed)"]++;
  }

  // Builds the kernels of every projection shape (n_embd e, n_embd_kv kv, n_ff ff, as
  // read_tensors reads them) before the first tensor is packed, on the pool's threads: a
  // first run compiles its LLVM kernels in parallel (about 80 ms each), later runs load
  // them from the object cache. A kernel that fails here is built again, and its failure
  // handled, by pack().
  void prebuild_kernels(uint32_t e, uint32_t kv, uint32_t ff) {
    const ModelOptions& o = m_.options_;
    if (!o.use_kernels || o.acts != Activations::Int8) return;
    std::vector<KernelDesc> descs;
    auto add = [&](const KernelDesc& d) {
      if (std::find(descs.begin(), descs.end(), d) == descs.end()) descs.push_back(d);
    };
    for (auto [n, k] : {std::pair{e, e}, std::pair{kv, e}, std::pair{ff, e}, std::pair{e, ff}})
      if (std::optional<KernelChoice> c = choose_kernels(n, k, o.threads, cache_ ? &*cache_ : nullptr)) {
        add(c->gemv);
        add(c->gemm);
      }
    pool_.parallel_for(descs.size(), 1, [&](uint64_t begin, uint64_t end) {
      for (uint64_t i = begin; i < end; ++i) {
        try {
          kernel_registry().get(descs[i]);
        } catch (const std::exception&) {
          // pack() meets the same failure, falls back and says so.
        }
      }
    });
  }

  void read_tensors() {
    const gguf::TensorInfo& embd = need("token_embd.weight");
    if (embd.n_dims != 2)
      fail("tensor token_embd.weight has shape " + shape_str(embd) + ", expected [n_embd, n_vocab]");
    hp_.n_vocab = static_cast<uint32_t>(embd.ne[1]);
    const uint32_t vocab_key = f_.get_u32(key("vocab_size"), hp_.n_vocab);
    if (vocab_key != hp_.n_vocab)
      fail(key("vocab_size") + " is " + std::to_string(vocab_key) + " but token_embd.weight has " +
           std::to_string(hp_.n_vocab) + " rows");
    m_.token_embd_ = read_rows(embd);
    if (const gguf::TensorInfo* out = find("output.weight")) {
      m_.output_ = read_rows(*out);
      m_.untied_head_ = true;
      move_to_huge_pages(*out, m_.output_, m_.head_copy_);
    } else {
      move_to_huge_pages(embd, m_.token_embd_, m_.head_copy_);
    }
    m_.output_norm_ = read_vector("output_norm.weight", hp_.n_embd, "n_embd");
    if (f_.find_tensor("rope_freqs.weight"))
      m_.rope_freq_factors_ = read_vector("rope_freqs.weight", hp_.head_dim / 2, "head_dim / 2");

    const uint32_t e = hp_.n_embd, kv = hp_.n_embd_kv(), ff = hp_.n_ff;
    prebuild_kernels(e, kv, ff);
    m_.layers_.resize(hp_.n_layer);
    for (uint32_t l = 0; l < hp_.n_layer; ++l) {
      const std::string p = "blk." + std::to_string(l) + ".";
      Layer& L = m_.layers_[l];
      L.attn_norm = read_vector(p + "attn_norm.weight", e, "n_embd");
      L.wq = read_linear(p + "attn_q", e, e, "n_embd x n_embd");
      L.wk = read_linear(p + "attn_k", e, kv, "n_embd x n_head_kv * head_dim");
      L.wv = read_linear(p + "attn_v", e, kv, "n_embd x n_head_kv * head_dim");
      L.attn_sub_norm = read_vector(p + "attn_sub_norm.weight", e, "n_embd");
      L.wo = read_linear(p + "attn_output", e, e, "n_embd x n_embd");
      L.ffn_norm = read_vector(p + "ffn_norm.weight", e, "n_embd");
      L.ffn_gate = read_linear(p + "ffn_gate", e, ff, "n_embd x n_ff");
      L.ffn_up = read_linear(p + "ffn_up", e, ff, "n_embd x n_ff");
      L.ffn_sub_norm = read_vector(p + "ffn_sub_norm.weight", ff, "n_ff");
      L.ffn_down = read_linear(p + "ffn_down", ff, e, "n_ff x n_embd");
    }

    // A tensor the graph does not use (a bias, an expert, a layer beyond
    // block_count) would be silently ignored: refuse the file instead.
    for (const gguf::TensorInfo& t : f_.tensors())
      if (!used_.count(t.name))
        fail("tensor " + t.name + " is not part of the " + hp_.arch +
             " graph tern runs (biases, experts and " + "extra layers are not supported)");
  }
};

Model Model::load(const std::string& path, const ModelOptions& options) {
  return from_file(gguf::File::open(path), options);
}

Model Model::from_file(gguf::File file, const ModelOptions& options) {
  Model m;
  m.file_ = std::make_unique<gguf::File>(std::move(file));
  m.options_ = options;
  ModelLoader(*m.file_, m).load();
  return m;
}

}  // namespace tern::model
