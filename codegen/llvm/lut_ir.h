// The lut family as LLVM IR (the Xbyak twin is jit/x86/lut_kernel.cpp; the
// layout both obey is runtime/core/layout.h, lut branch).
#pragma once

#include <string>

#include "runtime/core/kernel_desc.h"

namespace llvm {
class Function;
class Module;
}  // namespace llvm

namespace tern::codegen {

// Empty when d is a lut desc the IR builder can emit; otherwise a short reason.
std::string lut_ir_unsupported_reason(const KernelDesc& d);

// Emits a lut desc (lut_ir_unsupported_reason(d) empty) into m; see kernel_ir.h's emit_kernel.
llvm::Function* emit_lut_kernel(llvm::Module& m, const KernelDesc& d, const std::string& tune_cpu);

}  // namespace tern::codegen
