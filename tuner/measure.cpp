#include "tuner/measure.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <random>

#include "runtime/core/cpu_info.h"
#include "runtime/ref/packers.h"
#include "runtime/ref/ref_kernels.h"

namespace tern::tuner {

Workload::Workload(const KernelDesc& d, bool cold, uint64_t seed) : desc_(d), layout_(layout_of(d)) {
  std::mt19937_64 rng(seed);
  const uint64_t n = d.n, k = d.k, m = std::max<uint32_t>(d.m, 1);
  trits_.resize(n * k);
  for (auto& t : trits_) t = static_cast<int8_t>(rng() % 3) - 1;
  const size_t copies = cold ? std::max<size_t>(2, 4 * host_cpu().l3_bytes / layout_.total_bytes + 1) : 1;
  packed_.assign(1, std::vector<uint8_t>(layout_.total_bytes));
  ref::pack_trits(layout_, trits_.data(), packed_[0].data());
  for (size_t c = 1; c < copies; ++c) packed_.push_back(packed_[0]);
  act_.assign(m * layout_.k_padded, 0);
  dense_.resize(m * k);
  sums_.assign(m, 0);
  scales_.resize(m);
  for (uint64_t t = 0; t < m; ++t) {
    for (uint64_t j = 0; j < k; ++j) {
      const int8_t v = static_cast<int8_t>(static_cast<int>(rng() % 255) - 127);
      act_[t * layout_.k_padded + j] = dense_[t * k + j] = v;
      sums_[t] += v;
    }
    scales_[t] = 1.0f + static_cast<float>(rng() % 1000) / 10.0f;
  }
  out_.assign(m * n, 0.0f);
  acc_.assign(m * n, 0);
}

KernelArgs Workload::args(size_t copy, bool int32_out) {
  KernelArgs a{};
  a.weights = packed_[copy % packed_.size()].data();
  a.act = act_.data();
  a.act_scale = scales_.data();
  a.act_sum = sums_.data();
  a.out = int32_out ? nullptr : out_.data();
  a.acc = int32_out ? acc_.data() : nullptr;
  a.out_stride = desc_.n;
  a.m = std::max<uint32_t>(desc_.m, 1);
  a.n = desc_.n;
  a.w_scale = w_scale_;
  return a;
}

void Workload::run(const Kernel& k, ThreadPool& pool, size_t copy, bool int32_out) {
  const KernelArgs base = args(copy, int32_out);
  pool.parallel_for(desc_.n, desc_.n_tile, [&](uint64_t begin, uint64_t end) {
    KernelArgs a = base;
    a.row_begin = begin;
    a.row_end = end;
    k(a);
  });
}

std::string Workload::verify(const Kernel& k, ThreadPool& pool) {
  const uint64_t m = std::max<uint32_t>(desc_.m, 1), n = desc_.n;
  std::vector<int32_t> want(m * n);
  ref::gemm_ref(trits_.data(), dense_.data(), m, n, desc_.k, want.data());
  std::vector<float> want_f(m * n);
  ref::scale_output(want.data(), m, n, w_scale_, scales_.data(), want_f.data());
  std::fill(acc_.begin(), acc_.end(), INT32_MIN);
  run(k, pool, 0, true);
  for (uint64_t i = 0; i < m * n; ++i)
    if (acc_[i] != want[i])
      return "int32 output of token " + std::to_string(i / n) + " row " + std::to_string(i % n) + " is " +
             std::to_string(acc_[i]) + ", the reference says " + std::to_string(want[i]);
  std::fill(out_.begin(), out_.end(), -1.0f);
  run(k, pool, 0, false);
  for (uint64_t i = 0; i < m * n; ++i)
    if (std::memcmp(&out_[i], &want_f[i], sizeof(float)) != 0)
      return "float output of token " + std::to_string(i / n) + " row " + std::to_string(i % n) + " is " +
             std::to_string(out_[i]) + ", the reference says " + std::to_string(want_f[i]);
  return {};
}

Timing time_kernel(const Kernel& k, Workload& w, ThreadPool& pool, double min_seconds, int min_runs, int max_runs) {
  using clock = std::chrono::steady_clock;
  for (int i = 0; i < 3; ++i) w.run(k, pool, static_cast<size_t>(i));  // warm-up: code, pages, caches
  std::vector<double> ns;
  const auto start = clock::now();
  size_t copy = 3;
  while (static_cast<int>(ns.size()) < max_runs &&
         (static_cast<int>(ns.size()) < min_runs || std::chrono::duration<double>(clock::now() - start).count() < min_seconds)) {
    const auto t0 = clock::now();
    w.run(k, pool, copy++);
    ns.push_back(std::chrono::duration<double, std::nano>(clock::now() - t0).count());
  }
  Timing t;
  t.runs = static_cast<int>(ns.size());
  t.min_ns = *std::min_element(ns.begin(), ns.end());
  std::nth_element(ns.begin(), ns.begin() + ns.size() / 2, ns.end());
  t.median_ns = ns[ns.size() / 2];
  return t;
}

}  // namespace tern::tuner
