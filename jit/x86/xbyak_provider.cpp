#include "jit/x86/xbyak_provider.h"

#include "jit/x86/lut_kernel.h"
#include "jit/x86/mad_kernel.h"
#include "runtime/core/error.h"

namespace tern::jit {
namespace {

class XbyakProvider : public KernelProvider {
 public:
  Backend backend() const override { return Backend::xbyak; }

  std::string unsupported_reason(const KernelDesc& d, const CpuInfo& cpu) const override {
    switch (d.family) {
      case Family::mad: return mad_unsupported_reason(d, cpu);
      case Family::lut: return lut_unsupported_reason(d, cpu);
      default: return "xbyak has no " + std::string(to_string(d.family)) + " family";
    }
  }

  Kernel build(const KernelDesc& d) const override {
    if (std::string why = unsupported_reason(d, host_cpu()); !why.empty())
      throw Error("cannot build " + to_name(d) + ": " + why);
    std::shared_ptr<JitKernel> code;
    if (d.family == Family::lut)
      code = std::make_shared<LutKernel>(d);
    else
      code = std::make_shared<MadKernel>(d);
    KernelFn fn = code->create();
    return Kernel{d, fn, code};
  }
};

}  // namespace

std::unique_ptr<KernelProvider> make_xbyak_provider() { return std::make_unique<XbyakProvider>(); }

}  // namespace tern::jit
