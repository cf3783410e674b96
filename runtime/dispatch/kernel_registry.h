// Kernel providers and the registry the runtime builds kernels through.
// The runtime only declares the interface; backends (jit/x86 Xbyak, jit/llvm,
// AOT libraries) implement it and are registered by whoever links them — the
// CLI and the tests — so the runtime itself links no JIT (DESIGN.md).
// Built kernels are cached by their desc (libxsmm-style registry).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "runtime/core/cpu_info.h"
#include "runtime/core/kernel_args.h"
#include "runtime/core/kernel_desc.h"

namespace tern {

struct Kernel {
  KernelDesc desc;
  KernelFn fn = nullptr;
  std::shared_ptr<const void> code;  // keeps generated code alive

  void operator()(const KernelArgs& args) const { fn(&args); }
};

class KernelProvider {
 public:
  virtual ~KernelProvider() = default;
  virtual Backend backend() const = 0;
  // Empty when build(d) will succeed on `cpu`; otherwise a short reason.
  virtual std::string unsupported_reason(const KernelDesc& d, const CpuInfo& cpu) const = 0;
  // Throws tern::Error (with the reason) when the desc cannot be built.
  virtual Kernel build(const KernelDesc& d) const = 0;
  // A provider with a fixed set of kernels (an ahead-of-time library) lists them;
  // generators that can build any config of their families return nothing.
  virtual std::vector<KernelDesc> offered() const { return {}; }
};

class KernelRegistry {
 public:
  void add(std::unique_ptr<KernelProvider> provider);
  const KernelProvider* provider(Backend b) const;
  std::vector<Backend> backends() const;
  // Every provider's offered() kernels.
  std::vector<KernelDesc> offered() const;
  // Empty when some registered provider for d.backend can build d on `cpu`.
  std::string unsupported_reason(const KernelDesc& d, const CpuInfo& cpu = host_cpu()) const;
  // Builds once per desc and returns the cached kernel afterwards. Throws tern::Error.
  Kernel get(const KernelDesc& d);

 private:
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<KernelProvider>> providers_;
  std::unordered_map<KernelDesc, Kernel> cache_;
};

// The process-wide registry.
KernelRegistry& kernel_registry();

}  // namespace tern
