#include "codegen/llvm/lut_ir.h"

#include "runtime/core/error.h"

namespace tern::codegen {

std::string lut_ir_unsupported_reason(const KernelDesc&) { return "the LLVM lut builder is not written yet (only mad)"; }

llvm::Function* emit_lut_kernel(llvm::Module&, const KernelDesc& d, const std::string&) {
  throw Error("cannot emit " + to_name(d) + " as LLVM IR: " + lut_ir_unsupported_reason(d));
}

}  // namespace tern::codegen
