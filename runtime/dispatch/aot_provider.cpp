#include "runtime/dispatch/aot_provider.h"

#include <iostream>
#include <unordered_map>

#include "runtime/core/error.h"

namespace tern {

std::vector<KernelDesc> aot_kernels(const AotKernelEntry* table, uint64_t count) {
  std::vector<KernelDesc> out;
  for (uint64_t i = 0; i < count; ++i) {
    std::optional<KernelDesc> d = table[i].name ? try_parse_name(table[i].name) : std::nullopt;
    if (!d || d->backend != Backend::aot || !table[i].fn) {
      std::cerr << "tern: warning: kernel library entry " << i << " ('" << (table[i].name ? table[i].name : "")
                << "') is not an aot kernel this tern knows; ignored\n";
      continue;
    }
    out.push_back(*d);
  }
  return out;
}

namespace {

// Kernels take the token count from KernelArgs::m; a desc's m is only the bucket
// it was tuned or generated for, so a library kernel serves every m.
KernelDesc any_m(KernelDesc d) {
  d.m = 0;
  return d;
}

class AotProvider : public KernelProvider {
 public:
  AotProvider(const AotKernelEntry* table, uint64_t count) {
    for (uint64_t i = 0; i < count; ++i)
      if (auto d = table[i].name ? try_parse_name(table[i].name) : std::nullopt; d && d->backend == Backend::aot)
        if (table[i].fn) fns_.emplace(any_m(*d), table[i].fn);
    for (const KernelDesc& d : aot_kernels(table, count)) offered_.push_back(d);
  }

  Backend backend() const override { return Backend::aot; }

  std::string unsupported_reason(const KernelDesc& d, const CpuInfo& cpu) const override {
    if (d.backend != Backend::aot) return "not the aot backend";
    if (!fns_.count(any_m(d))) return "not in the kernel library linked into this build (add it with tern gen)";
    if (!cpu.supports(d.isa)) return "this CPU (or TERN_MAX_ISA) does not allow " + std::string(to_string(d.isa));
    return {};
  }

  Kernel build(const KernelDesc& d) const override {
    if (std::string why = unsupported_reason(d, host_cpu()); !why.empty())
      throw Error("cannot use " + to_name(d) + ": " + why);
    return Kernel{d, fns_.at(any_m(d)), nullptr};
  }

  std::vector<KernelDesc> offered() const override { return offered_; }

 private:
  std::unordered_map<KernelDesc, KernelFn> fns_;
  std::vector<KernelDesc> offered_;
};

}  // namespace

std::unique_ptr<KernelProvider> make_aot_provider(const AotKernelEntry* table, uint64_t count) {
  return std::make_unique<AotProvider>(table, count);
}

}  // namespace tern
