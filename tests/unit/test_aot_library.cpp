// A kernel library made ahead of time by `tern gen` (LLVM), linked into this
// test: every kernel of its table bit-exact against runtime/ref, and the
// dispatcher's choice among them. Built twice: in tern_aot_tests on x86 hosts
// (tests/CMakeLists.txt generates an x86 library for it), and in the ARM unit
// tests when the cross build links an aarch64 library (-DTERN_AOT_DIR, run
// under qemu by scripts/arm-test.sh). Without a library it compiles to nothing.
#include <gtest/gtest.h>

#if TERN_HAVE_AOT

#include <cstdlib>
#include <random>
#include <set>

#include "kernel_tester.h"
#include "runtime/core/cpu_info.h"
#include "runtime/core/error.h"
#include "runtime/dispatch/aot_provider.h"
#include "runtime/dispatch/kernel_choice.h"
#include "tern_kernels.h"

namespace tern {
namespace {

using test::Fill;
using test::KernelTester;

std::vector<KernelDesc> library() { return aot_kernels(tern_aot_kernels, tern_aot_kernel_count); }

TEST(AotLibrary, EveryEntryIsAnAotKernel) {
  ASSERT_GT(tern_aot_kernel_count, 0u);
  EXPECT_EQ(library().size(), tern_aot_kernel_count);
  for (const KernelDesc& d : library()) EXPECT_EQ(d.backend, Backend::aot) << to_name(d);
}

TEST(AotLibrary, EveryKernelThisCpuRunsIsExact) {
  KernelRegistry registry;
  registry.add(make_aot_provider(tern_aot_kernels, tern_aot_kernel_count));
  const uint64_t seed = std::random_device{}();
  size_t tested = 0, skipped = 0;
  for (const KernelDesc& d : library()) {
    if (!host_cpu().supports(d.isa)) {
      EXPECT_NE(registry.unsupported_reason(d).find(std::string(to_string(d.isa))), std::string::npos);
      ++skipped;
      continue;
    }
    const uint32_t m = d.op == Op::gemv ? 1 : 7;  // 7: a remainder for every m_tile > 1
    KernelTester().registry(registry).n(d.n).k(d.k).m(m).seed(seed + tested).test(d);
    if (HasFatalFailure()) return;
    KernelTester().registry(registry).n(d.n).k(d.k).m(m).weights(Fill::mixed_rows).activations(Fill::extreme).test(d);
    KernelTester().registry(registry).n(d.n).k(d.k).m(m).weights(Fill::plus).activations(Fill::lowest).test(d);
    if (HasFatalFailure()) return;
    ++tested;
  }
  std::printf("[ info ] %zu kernels tested, %zu need an ISA this CPU (or TERN_MAX_ISA) does not allow\n", tested,
              skipped);
  EXPECT_GT(tested, 0u) << "the library has no kernel this CPU runs";
}

TEST(AotLibrary, TheDispatcherPicksTheMostCapableIsaTheCpuAllows) {
  KernelRegistry registry;
  registry.add(make_aot_provider(tern_aot_kernels, tern_aot_kernel_count));
  std::set<std::pair<uint32_t, uint32_t>> shapes;
  for (const KernelDesc& d : library()) shapes.insert({d.n, d.k});
  for (auto [n, k] : shapes) {
    Isa best = Isa::scalar;
    for (Isa isa : kIsaPreference) {
      bool have = false;
      for (const KernelDesc& d : library()) have |= d.n == n && d.k == k && d.isa == isa;
      if (have && host_cpu().supports(isa)) {
        best = isa;
        break;
      }
    }
    std::optional<KernelChoice> c = choose_kernels(n, k, 1, nullptr, registry);
    if (best == Isa::scalar) {
      EXPECT_FALSE(c) << "no library kernel runs here, yet one was chosen";
      continue;
    }
    ASSERT_TRUE(c);
    EXPECT_EQ(c->gemv.isa, best);
    EXPECT_EQ(c->gemv.backend, Backend::aot);
    EXPECT_EQ(c->gemm.isa, best);
    EXPECT_EQ(c->gemv.n_tile, c->gemm.n_tile);
    EXPECT_EQ(c->gemv.k_block, c->gemm.k_block);
    EXPECT_EQ(c->source, "kernel library (" + std::string(to_string(best)) + ")");
    std::printf("[ info ] %ux%u (KxN): %s\n", k, n, to_name(c->gemv).c_str());
  }
}

// Proof that the ISA gating is real (scripts/arm-test.sh): with
// TERN_AOT_FORCE_ISA=neondot this calls a dotprod kernel without asking the
// provider, so on a CPU without dotprod (qemu -cpu cortex-a53) the process
// dies of SIGILL. Without the variable it only checks that such a kernel is
// refused where the CPU lacks the ISA.
TEST(AotLibrary, ForcedRunOfAKernelTheCpuLacks) {
  const char* forced = std::getenv("TERN_AOT_FORCE_ISA");
  for (const KernelDesc& d : library()) {
    if (forced && to_string(d.isa) != forced) continue;
    if (!forced && host_cpu().supports(d.isa)) continue;
    if (!forced) {
      KernelRegistry registry;
      registry.add(make_aot_provider(tern_aot_kernels, tern_aot_kernel_count));
      EXPECT_THROW(registry.get(d), Error);
      continue;
    }
    KernelFn fn = nullptr;
    for (uint64_t i = 0; i < tern_aot_kernel_count; ++i)
      if (to_name(d) == tern_aot_kernels[i].name) fn = tern_aot_kernels[i].fn;
    ASSERT_NE(fn, nullptr);
    std::printf("[ info ] calling %s directly\n", to_name(d).c_str());
    std::fflush(stdout);
    KernelTester().n(d.n).k(d.k).m(1).test_raw(d, fn);
    return;
  }
}

}  // namespace
}  // namespace tern

#endif  // TERN_HAVE_AOT
