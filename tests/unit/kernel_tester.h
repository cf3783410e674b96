// A fluent tester for ternary matmul kernels of any family (XNNPACK's
// gemm-microkernel-tester): set the shape and the data patterns, then test(desc)
// packs the weights as layout_of(desc) says (ref::pack_trits picks the family's
// packer), runs the kernel for int32 and float outputs, over the whole row range
// and split in two at a tile boundary, and compares bit for bit with runtime/ref.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "runtime/core/layout.h"
#include "runtime/dispatch/kernel_registry.h"
#include "runtime/ref/packers.h"
#include "runtime/ref/ref_kernels.h"

namespace tern::test {

// A lut desc of the given config (the entry type follows g: int16 tables for g = 2
// and 3, byte halves for g = 4); no shape: KernelTester sets it.
inline KernelDesc lut_desc(Backend backend, Op op, Isa isa, uint8_t g, uint16_t n_tile, uint16_t k_block,
                           uint8_t unroll, uint8_t m_tile) {
  KernelDesc d;
  d.op = op;
  d.family = Family::lut;
  d.isa = isa;
  d.backend = backend;
  d.lut_group = g;
  d.lut_entry = g == 4 ? DType::i8 : DType::i16;
  d.n_tile = n_tile;
  d.k_block = k_block;
  d.unroll = unroll;
  d.m_tile = m_tile;
  return d;
}

// Activations: plus = all 127, minus = all -127, lowest = all -128, extreme = a
// mix of 127, -128, -127. Weights: plus / minus = all +1 / -1.
enum class Fill { random, zero, plus, minus, mixed_rows, extreme, lowest };

class KernelTester {
 public:
  KernelTester& n(uint32_t v) {
    n_ = v;
    return *this;
  }
  KernelTester& k(uint32_t v) {
    k_ = v;
    return *this;
  }
  KernelTester& m(uint32_t v) {
    m_ = v;
    return *this;
  }
  KernelTester& weights(Fill f) {
    wfill_ = f;
    return *this;
  }
  KernelTester& activations(Fill f) {
    afill_ = f;
    return *this;
  }
  KernelTester& seed(uint64_t s) {
    seed_ = s;
    return *this;
  }
  // The registry that builds the kernel (default: the process-wide one).
  KernelTester& registry(KernelRegistry& r) {
    registry_ = &r;
    return *this;
  }

  // The same checks on a kernel function called directly, bypassing every
  // provider's "can this CPU run it" gate (tests of that gate only).
  void test_raw(const KernelDesc& d, KernelFn fn) const {
    KernelTester t = *this;
    t.raw_ = fn;
    t.test(d);
  }

  // Fails the current test (with the seed and a reproducer) on any mismatch.
  void test(KernelDesc d) const {
    d.n = n_;
    d.k = k_;
    d.m = m_;
    const std::string what = to_name(d) + " m=" + std::to_string(m_) + " seed=" + std::to_string(seed_);
    SCOPED_TRACE(what);
    std::mt19937_64 rng(seed_);
    const PackedLayout l = layout_of(d);

    std::vector<int8_t> w(size_t(n_) * k_);
    for (uint32_t i = 0; i < n_; ++i)
      for (uint32_t j = 0; j < k_; ++j) w[size_t(i) * k_ + j] = weight(i, rng);
    std::vector<int8_t> a(size_t(m_) * l.k_padded, 0), a_dense(size_t(m_) * k_);
    std::vector<int32_t> a_sum(m_, 0);
    std::vector<float> a_scale(m_);
    for (uint32_t t = 0; t < m_; ++t) {
      for (uint32_t j = 0; j < k_; ++j) {
        int8_t v = activation(t, j, rng);
        a[t * l.k_padded + j] = a_dense[size_t(t) * k_ + j] = v;
        a_sum[t] += v;
      }
      a_scale[t] = 0.5f + static_cast<float>(rng() % 1000) / 7.0f;
    }
    const float w_scale = 0.0765380859375f;

    std::vector<uint8_t> packed(l.total_bytes + 64);  // + slack: kernels must not read past total_bytes
    ref::pack_trits(l, w.data(), packed.data());

    std::vector<int32_t> want(size_t(m_) * n_);
    ref::gemm_ref(w.data(), a_dense.data(), m_, n_, k_, want.data());
    std::vector<float> want_f(want.size());
    ref::scale_output(want.data(), m_, n_, w_scale, a_scale.data(), want_f.data());

    Kernel kernel = raw_ ? Kernel{d, raw_, nullptr} : (registry_ ? *registry_ : kernel_registry()).get(d);
    const uint64_t stride = n_ + 3;  // a stride wider than N: rows must land where the stride says
    KernelArgs args{};
    args.weights = packed.data();
    args.act = a.data();
    args.act_scale = a_scale.data();
    args.act_sum = a_sum.data();
    args.out_stride = stride;
    args.m = m_;
    args.n = n_;
    args.w_scale = w_scale;

    // int32 output, whole range then split at a tile boundary.
    const uint64_t split = (n_ / 2) / d.n_tile * d.n_tile;
    for (int pass = 0; pass < 2; ++pass) {
      std::vector<int32_t> got(m_ * stride, INT32_MIN);
      args.acc = got.data();
      args.out = nullptr;
      run_range(kernel, args, pass, split);
      for (uint32_t t = 0; t < m_; ++t) {
        for (uint32_t i = 0; i < n_; ++i)
          ASSERT_EQ(got[t * stride + i], want[size_t(t) * n_ + i])
              << "int32 token " << t << " row " << i << " pass " << pass;
        for (uint64_t i = n_; i < stride; ++i) ASSERT_EQ(got[t * stride + i], INT32_MIN) << "wrote past N";
      }
    }
    std::vector<float> got_f(m_ * stride, -1234.5f);
    args.acc = nullptr;
    args.out = got_f.data();
    run_range(kernel, args, 1, split);
    for (uint32_t t = 0; t < m_; ++t) {
      for (uint32_t i = 0; i < n_; ++i) {
        const float g = got_f[t * stride + i], e = want_f[size_t(t) * n_ + i];
        ASSERT_EQ(std::memcmp(&g, &e, sizeof g), 0)
            << "float token " << t << " row " << i << ": " << g << " vs " << e;
      }
      for (uint64_t i = n_; i < stride; ++i) ASSERT_EQ(got_f[t * stride + i], -1234.5f) << "wrote past N";
    }
  }

 private:
  static void run_range(const Kernel& kernel, KernelArgs args, int pass, uint64_t split) {
    if (pass == 0 || split == 0) {
      args.row_begin = 0;
      args.row_end = args.n + 100;  // clamped to n by the kernel
      kernel(args);
    } else {
      args.row_begin = 0;
      args.row_end = split;
      kernel(args);
      args.row_begin = split;
      args.row_end = args.n;
      kernel(args);
    }
  }

  int8_t weight(uint32_t row, std::mt19937_64& rng) const {
    switch (wfill_) {
      case Fill::zero:
        return 0;
      case Fill::plus:
        return 1;
      case Fill::minus:
        return -1;
      case Fill::mixed_rows:
        return row % 4 == 0 ? 0 : row % 4 == 1 ? 1 : row % 4 == 2 ? -1 : static_cast<int8_t>(rng() % 3) - 1;
      default:
        return static_cast<int8_t>(rng() % 3) - 1;
    }
  }
  int8_t activation(uint32_t t, uint32_t j, std::mt19937_64& rng) const {
    switch (afill_) {
      case Fill::zero:
        return 0;
      case Fill::plus:
        return 127;
      case Fill::minus:
        return -127;
      // -128 is never produced by the quantiser, but kernels must still be exact on it.
      case Fill::extreme:
        return (t + j) % 3 == 0 ? 127 : (t + j) % 3 == 1 ? -128 : -127;
      case Fill::lowest:
        return -128;
      default:
        return static_cast<int8_t>(static_cast<int>(rng() % 255) - 127);
    }
  }

  uint32_t n_ = 16, k_ = 256, m_ = 1;
  Fill wfill_ = Fill::random, afill_ = Fill::random;
  KernelRegistry* registry_ = nullptr;
  KernelFn raw_ = nullptr;
  uint64_t seed_ = 1;
};

}  // namespace tern::test
