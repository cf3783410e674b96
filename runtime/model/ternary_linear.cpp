#include "runtime/model/ternary_linear.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>
#include <string>

#include "runtime/core/cpu_info.h"
#include "runtime/core/error.h"
#include "runtime/ref/formats.h"
#include "runtime/ref/fp16.h"
#include "runtime/ref/packers.h"
#include "runtime/ref/ref_kernels.h"

namespace tern::model {
namespace {

std::string fmt_float(float v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(v));
  return buf;
}

// Float tensors (F16 / BF16 / F32) written from ternary weights: the scale is
// max |w| and every element must be 0 or exactly +-scale. Rows are
// dequantised one at a time so no tensor-sized float copy is made.
void float_to_trits(const gguf::TensorInfo& t, const ref::FormatTraits& f, const std::string& where,
                    TernaryLinear& out) {
  const size_t k = out.k, n = out.n;
  const size_t row_bytes = ref::format_bytes(f, k);
  std::vector<float> row(k);
  float amax = 0.0f;
  for (size_t i = 0; i < n; ++i) {
    f.to_float(t.data + i * row_bytes, k, row.data());
    for (float v : row) amax = std::max(amax, std::fabs(v));  // NaN compares false: caught below
  }
  if (!std::isfinite(amax))
    throw Error(where + ": tensor " + t.name +
                " holds a non-finite value; expected ternary weights {-s, 0, +s}");
  out.scale = amax;
  for (size_t i = 0; i < n; ++i) {
    f.to_float(t.data + i * row_bytes, k, row.data());
    int8_t* tr = out.trits.data() + i * k;
    for (size_t j = 0; j < k; ++j) {
      const float v = row[j];
      if (v == 0.0f) {
        tr[j] = 0;
      } else if (v == amax) {
        tr[j] = 1;
      } else if (v == -amax) {
        tr[j] = -1;
      } else {
        throw Error(where + ": tensor " + t.name + " is not ternary: element " + std::to_string(i * k + j) +
                    " (row " + std::to_string(i) + ", column " + std::to_string(j) + ") is " + fmt_float(v) +
                    ", expected 0 or +-" + fmt_float(amax) + " (the tensor's max |w|)");
      }
    }
  }
}

// TQ1_0 / TQ2_0 keep one scale per 256-block. BitNet tensors have one scale,
// so when every block that holds a nonzero trit agrees, the tensor gets that
// single scale (all-zero blocks may carry any scale: they contribute nothing).
void collapse_block_scales(TernaryLinear& w, std::vector<float>& scales, size_t block) {
  const size_t nb = w.k / block;
  bool have = false, uniform = true;
  float common = 0.0f;
  for (size_t i = 0; i < w.n && uniform; ++i) {
    for (size_t b = 0; b < nb; ++b) {
      const int8_t* tr = w.trits.data() + i * w.k + b * block;
      if (std::all_of(tr, tr + block, [](int8_t v) { return v == 0; })) continue;
      const float s = scales[i * nb + b];
      if (!have) {
        common = s, have = true;
      } else if (s != common) {
        uniform = false;
        break;
      }
    }
  }
  if (uniform) {
    w.scale = common;
    w.block = 0;
  } else {
    w.block = block;
    w.block_scales = std::move(scales);
  }
}

}  // namespace

TernaryLinear ternary_from_tensor(const gguf::TensorInfo& t, const std::string& file, float extra_scale,
                                  ThreadPool* pool) {
  const std::string where = file;
  const ref::FormatTraits* f = ref::format_traits(t.type);
  const bool float_type = t.type == GgmlType::F16 || t.type == GgmlType::BF16 || t.type == GgmlType::F32;
  if (!f || !(f->is_ternary || float_type))
    throw Error(where + ": tensor " + t.name + " has type " + std::string(ggml_type_name(t.type)) +
                ", which holds no ternary weights (expected TQ2_0, TQ1_0, I2_S, F16, BF16 or F32)");
  if (t.n_dims != 2)
    throw Error(where + ": tensor " + t.name + " has " + std::to_string(t.n_dims) + " dims, expected 2");

  TernaryLinear w;
  w.name = t.name;
  w.src_type = t.type;
  w.k = static_cast<size_t>(t.ne[0]);
  w.n = static_cast<size_t>(t.ne[1]);
  const size_t count = w.k * w.n;
  w.trits.resize(count);

  if (float_type) {
    float_to_trits(t, *f, where, w);
  } else {
    std::vector<float> scales(ref::ternary_scale_count(*f, count));
    try {
      // Rows of whole scale blocks decode independently; a one-scale type (I2_S: its scale
      // follows all the codes) is decoded in one go. A bad code found by a thread counts its
      // element from that thread's first row: the serial decode then says where it is.
      const size_t block = f->scale_block;
      bool decoded = false;
      if (pool && pool->size() > 1 && block != 0 && w.k % block == 0) {
        const size_t row_bytes = ref::format_bytes(*f, w.k);
        try {
          pool->parallel_for_or_throw(w.n, 1, [&](uint64_t begin, uint64_t end) {
            f->to_trits(t.data + begin * row_bytes, (end - begin) * w.k, w.trits.data() + begin * w.k,
                        scales.data() + begin * (w.k / block));
          });
          decoded = true;
        } catch (const Error&) {
        }
      }
      if (!decoded) f->to_trits(t.data, count, w.trits.data(), scales.data());
    } catch (const Error& e) {
      throw Error(where + ": tensor " + t.name + ": " + e.what());
    }
    for (float s : scales)
      if (!std::isfinite(s))
        throw Error(where + ": tensor " + t.name + " has a non-finite scale " + fmt_float(s));
    if (f->scale_block == 0)
      w.scale = scales[0];
    else
      collapse_block_scales(w, scales, f->scale_block);
  }
  w.scale *= extra_scale;
  for (float& s : w.block_scales) s *= extra_scale;
  return w;
}

void LinearScratch::reserve(size_t m, size_t k, size_t n) {
  if (q.size() < m * k) q.resize(m * k);
  if (a_scales.size() < m) a_scales.resize(m);
  if (acc.size() < m * n) acc.resize(m * n);
}

void pack_for_kernels(TernaryLinear& w, const KernelChoice& choice, ThreadPool* pool) {
  if (w.block != 0 || w.trits.empty()) return;
  auto p = std::make_shared<PackedLinear>();
  p->choice = choice;
  p->layout = layout_of(choice.gemv);
  p->bytes.resize(p->layout.total_bytes);
  const uint64_t tiles = p->layout.n_padded / p->layout.n_tile;
  auto pack_tiles = [&](uint64_t begin, uint64_t end) {
    ref::pack_trits_tiles(p->layout, w.trits.data(), p->bytes.data(), begin, end);
  };
  if (pool)
    pool->parallel_for_or_throw(tiles, 1, pack_tiles);
  else
    pack_tiles(0, tiles);
  p->gemv = kernel_registry().get(choice.gemv);
  p->gemm = kernel_registry().get(choice.gemm);
  w.packed = std::move(p);
  std::vector<int8_t>().swap(w.trits);
}

size_t acts_row_length(const TernaryLinear& w) { return w.packed ? w.packed->layout.k_padded : w.k; }

namespace {

#if defined(__x86_64__)
// ref::quantize_activations and the row's sum in two AVX2 passes, bit for bit:
// the max of |x| (exact in any order), then q = round_to_int8(x * s) as the
// reference writes it (truncate, then +-1 where the fraction reaches +-0.5,
// clamp to +-127) and the int32 sum of q. Empty when a value is not finite (the
// reference then names it).
__attribute__((target("avx2,fma"))) std::optional<float> quantize_row_avx2(const float* x, size_t k, int8_t* q,
                                                                         int32_t* sum) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  const __m256 inf = _mm256_set1_ps(std::numeric_limits<float>::infinity());
  __m256 amax = _mm256_setzero_ps(), bad = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 8 <= k; i += 8) {
    const __m256 a = _mm256_and_ps(_mm256_loadu_ps(x + i), abs_mask);
    bad = _mm256_or_ps(bad, _mm256_cmp_ps(a, inf, _CMP_NLT_UQ));  // inf or NaN
    amax = _mm256_max_ps(amax, a);
  }
  if (_mm256_movemask_ps(bad)) return std::nullopt;
  float lanes[8];
  _mm256_storeu_ps(lanes, amax);
  float m = 0.0f;
  for (float v : lanes) m = std::max(m, v);
  for (; i < k; ++i) {
    if (!std::isfinite(x[i])) return std::nullopt;
    m = std::max(m, std::fabs(x[i]));
  }
  if (m == 0.0f) {
    std::fill(q, q + k, int8_t{0});
    *sum = 0;
    return 1.0f;
  }
  const float s = 127.0f / m;
  const __m256 vs = _mm256_set1_ps(s), half = _mm256_set1_ps(0.5f), mhalf = _mm256_set1_ps(-0.5f);
  const __m256i lo = _mm256_set1_epi32(-127), hi = _mm256_set1_epi32(127);
  __m256i acc = _mm256_setzero_si256();
  i = 0;
  for (; i + 8 <= k; i += 8) {
    const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), vs);
    __m256i t = _mm256_cvttps_epi32(v);
    const __m256 frac = _mm256_sub_ps(v, _mm256_cvtepi32_ps(t));
    // Comparison masks are -1 where true: t + [frac >= 0.5] - [frac <= -0.5].
    t = _mm256_sub_epi32(t, _mm256_castps_si256(_mm256_cmp_ps(frac, half, _CMP_GE_OQ)));
    t = _mm256_add_epi32(t, _mm256_castps_si256(_mm256_cmp_ps(frac, mhalf, _CMP_LE_OQ)));
    t = _mm256_max_epi32(lo, _mm256_min_epi32(hi, t));
    acc = _mm256_add_epi32(acc, t);
    const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(q + i), _mm_packs_epi16(w, w));
  }
  int32_t lanes_i[8];
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(lanes_i), acc);
  int32_t total = 0;
  for (int32_t v : lanes_i) total += v;
  for (; i < k; ++i) {
    q[i] = ref::round_to_int8(x[i] * s);
    total += q[i];
  }
  *sum = total;
  return s;
}
#endif

}  // namespace

void quantize_row(const float* x, size_t k, int8_t* q, float* scale, int32_t* sum) {
#if defined(__x86_64__)
  static const bool avx2 = host_cpu().supports(Isa::avx2);
  if (avx2) {
    if (std::optional<float> s = quantize_row_avx2(x, k, q, sum)) {
      *scale = *s;
      return;
    }
  }
#endif
  *scale = ref::quantize_activations(x, k, q);  // also the error for a value that is not finite
  int32_t total = 0;
  for (size_t j = 0; j < k; ++j) total += q[j];
  *sum = total;
}

void quantize_acts(const float* x, size_t m, size_t k, size_t k_padded, QuantizedActs& out, ThreadPool* pool) {
  out.m = m;
  out.k = k;
  out.k_padded = k_padded;
  if (out.q.size() < m * k_padded) out.q.resize(m * k_padded);
  if (out.scales.size() < m) out.scales.resize(m), out.sums.resize(m);
  auto one = [&](size_t t) {
    int8_t* q = out.q.data() + t * k_padded;
    quantize_row(x + t * k, k, q, &out.scales[t], &out.sums[t]);
    std::fill(q + k, q + k_padded, int8_t{0});
  };
  if (pool && m > 1)
    pool->parallel_for(m, 1, [&](uint64_t b, uint64_t e) { for (uint64_t t = b; t < e; ++t) one(t); });
  else
    for (size_t t = 0; t < m; ++t) one(t);
}

namespace {

// The packed projections of outs (every n_tile divides unit) over the pool.
void run_packed(std::span<const LinearOut> outs, uint64_t unit, const QuantizedActs& x, ThreadPool* pool) {
  // One row space for all outputs, each starting at a multiple of `unit`, so every
  // chunk boundary is a tile boundary of each tensor: one dispatch for them all.
  std::vector<uint64_t> start(outs.size() + 1, 0);
  for (size_t i = 0; i < outs.size(); ++i) start[i + 1] = start[i] + (outs[i].w->n + unit - 1) / unit * unit;
  auto rows = [&](uint64_t begin, uint64_t end) {
    for (size_t i = 0; i < outs.size(); ++i) {
      const uint64_t b = std::max(begin, start[i]), e = std::min(end, start[i + 1]);
      const TernaryLinear& w = *outs[i].w;
      if (b >= e || b - start[i] >= w.n) continue;
      const PackedLinear& p = *w.packed;
      KernelArgs a{};
      a.weights = p.bytes.data();
      a.act = x.q.data();
      a.act_scale = x.scales.data();
      a.act_sum = x.sums.data();
      a.out = outs[i].y;
      a.out_stride = w.n;
      a.m = x.m;
      a.n = w.n;
      a.w_scale = w.scale;
      a.row_begin = b - start[i];
      a.row_end = std::min<uint64_t>(e - start[i], w.n);
      (x.m == 1 ? p.gemv : p.gemm)(a);
    }
  };
  if (pool && pool->size() > 1)
    pool->parallel_for(start.back(), unit, rows);
  else
    rows(0, start.back());
}

}  // namespace

void linear(const TernaryLinear& w, const QuantizedActs& x, float* y, ThreadPool* pool) {
  if (!w.packed) {
    // Reference path: the activations are dense (k_padded == k).
    std::vector<int32_t> acc(x.m * w.n);
    if (w.block == 0) {
      ref::gemm_ref(w.trits.data(), x.q.data(), x.m, w.n, w.k, acc.data());
      ref::scale_output(acc.data(), x.m, w.n, w.scale, x.scales.data(), y);
    } else {
      ref::gemm_ref_block_scaled(w.trits.data(), w.block_scales.data(), w.block, x.q.data(), x.scales.data(), x.m,
                                 w.n, w.k, y);
    }
    return;
  }
  const LinearOut one{&w, y};
  run_packed({&one, 1}, w.packed->layout.n_tile, x, pool);
}

void linear_many(std::span<const LinearOut> outs, const QuantizedActs& x, ThreadPool* pool) {
  // One dispatch needs packed weights whose tiles all divide the largest one.
  uint64_t unit = 1;
  for (const LinearOut& o : outs)
    if (o.w->packed) unit = std::max<uint64_t>(unit, o.w->packed->layout.n_tile);
  bool together = true;
  for (const LinearOut& o : outs) together &= o.w->packed && unit % o.w->packed->layout.n_tile == 0;
  if (!together) {
    for (const LinearOut& o : outs) linear(*o.w, x, o.y, pool);
    return;
  }
  run_packed(outs, unit, x, pool);
}


void linear(const TernaryLinear& w, const float* x, size_t m, float* y, LinearScratch& s) {
  quantize_acts(x, m, w.k, acts_row_length(w), s.acts, nullptr);
  linear(w, s.acts, y, nullptr);
}

void linear_float(const TernaryLinear& w, const float* x, size_t m, float* y, LinearScratch& s,
                  FloatActs acts) {
  const size_t k = w.k;
  const float* xin = x;
  if (acts == FloatActs::LikeGgml && (w.src_type == GgmlType::F16 || w.src_type == GgmlType::BF16)) {
    if (s.xr.size() < m * k) s.xr.resize(m * k);
    for (size_t i = 0; i < m * k; ++i)
      s.xr[i] = w.src_type == GgmlType::F16 ? ref::f16_to_f32(ref::f32_to_f16(x[i]))
                                            : ref::bf16_to_f32(ref::f32_to_bf16(x[i]));
    xin = s.xr.data();
  }
  for (size_t t = 0; t < m; ++t) {
    const float* xt = xin + t * k;
    for (size_t i = 0; i < w.n; ++i) {
      const int8_t* tr = w.trits.data() + i * k;
      double acc = 0.0;
      for (size_t j = 0; j < k; ++j) {
        const float wij = static_cast<float>(tr[j]) * w.scale_at(i, j);
        acc += static_cast<double>(wij) * xt[j];
      }
      y[t * w.n + i] = static_cast<float>(acc);
    }
  }
}

}  // namespace tern::model
