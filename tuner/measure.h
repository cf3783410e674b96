// Running one kernel on a synthetic problem: packed weights (several copies for
// cold-weight timing), activations, outputs; verification against runtime/ref;
// timing with warm-up and medians, split over the runtime's own thread pool.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/core/layout.h"
#include "runtime/dispatch/kernel_registry.h"
#include "runtime/threads/thread_pool.h"

namespace tern::tuner {

class Workload {
 public:
  // Random trits and activations from `seed`. With `cold`, enough packed copies
  // to span 4 x L3, used in turn so each call streams its weights from DRAM.
  Workload(const KernelDesc& d, bool cold, uint64_t seed);

  const KernelDesc& desc() const { return desc_; }
  const PackedLayout& layout() const { return layout_; }
  size_t copies() const { return packed_.size(); }
  // Runs the kernel once on copy `copy`, rows split over the pool in n_tile units.
  void run(const Kernel& k, ThreadPool& pool, size_t copy, bool int32_out = false);
  // Empty when the kernel's int32 and float outputs equal the reference bit for
  // bit; otherwise where they first differ.
  std::string verify(const Kernel& k, ThreadPool& pool);

 private:
  KernelArgs args(size_t copy, bool int32_out);

  KernelDesc desc_;
  PackedLayout layout_;
  std::vector<int8_t> trits_;
  std::vector<std::vector<uint8_t>> packed_;
  std::vector<int8_t> act_;   // [m][k_padded]
  std::vector<int8_t> dense_; // [m][k]
  std::vector<int32_t> sums_;
  std::vector<float> scales_;
  std::vector<float> out_;
  std::vector<int32_t> acc_;
  float w_scale_ = 0.044189453125f;
};

struct Timing {
  double median_ns = 0, min_ns = 0;
  int runs = 0;
};

// Warm-up, then repeated calls until both min_runs and min_seconds are reached
// (or max_runs); the median of the per-call times.
Timing time_kernel(const Kernel& k, Workload& w, ThreadPool& pool, double min_seconds = 0.1, int min_runs = 10,
                   int max_runs = 10000);

}  // namespace tern::tuner
