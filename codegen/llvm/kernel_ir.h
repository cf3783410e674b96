// LLVM IR builders for the kernel families (DESIGN.md: codegen/ holds them; the
// ORC JIT in jit/llvm and the ahead-of-time libraries of `tern gen` share them).
// Every function emitted has the one kernel ABI, void(const KernelArgs*), reads
// the packed weights exactly as layout_of(desc) says, and carries its ISA as
// function attributes ("target-cpu" / "target-features"), so the same IR is
// right whatever CPU the TargetMachine was made for.
#pragma once

#include <string>

#include "runtime/core/kernel_desc.h"

namespace llvm {
class Function;
class Module;
}  // namespace llvm

namespace tern::codegen {

// Empty when the IR builders can emit d (for some target); otherwise a short
// reason. Says nothing about whether a given CPU can run it.
std::string ir_unsupported_reason(const KernelDesc& d);

// The CPU baseline and feature string of an ISA, as function attributes.
struct IsaAttributes {
  const char* cpu;       // "x86-64-v3", "generic", ...
  const char* features;  // "+avx2,+fma", "+neon,+dotprod", ...
  unsigned vector_bits;  // widest vector the kernel uses
};
IsaAttributes isa_attributes(Isa isa);
bool is_x86(Isa isa);
bool is_arm(Isa isa);

// Emits d into m as an external function named to_name(d). `tune_cpu` (may be
// empty) becomes the function's "tune-cpu": scheduling for the machine the code
// will run on, without widening the instruction set beyond d.isa.
// Throws tern::Error when ir_unsupported_reason(d) is not empty.
llvm::Function* emit_kernel(llvm::Module& m, const KernelDesc& d, const std::string& tune_cpu = {});

}  // namespace tern::codegen
