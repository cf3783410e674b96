// Target machines, the optimisation pipeline and object emission, shared by the
// ORC JIT (jit/llvm) and ahead-of-time libraries (`tern gen`).
#pragma once

#include <memory>
#include <string>

namespace llvm {
class Module;
class TargetMachine;
}  // namespace llvm

namespace tern::codegen {

// Registers LLVM's targets once per process (all of them: `tern gen` cross-compiles).
void initialize_llvm_targets();

// A TargetMachine for a triple ("x86_64-linux-gnu", "aarch64-linux-gnu") and CPU
// ("" = generic). PIC, optimisation level 3. Throws tern::Error naming what LLVM
// did not know.
std::unique_ptr<llvm::TargetMachine> make_target_machine(const std::string& triple, const std::string& cpu,
                                                         const std::string& features = {});
// The host's triple, CPU name and features (getHostCPUName / getHostCPUFeatures).
std::unique_ptr<llvm::TargetMachine> make_host_target_machine();
std::string host_triple();

// Whether `cpu` of the target machine has a subtarget feature ("dotprod", "avx512vnni").
bool cpu_has_feature(const llvm::TargetMachine& tm, const std::string& feature);

// Sets the module's triple and data layout to tm's, runs the O3 pipeline.
void optimize(llvm::Module& m, llvm::TargetMachine& tm);

// The module compiled to a relocatable object file (ELF), as bytes.
std::string emit_object(llvm::Module& m, llvm::TargetMachine& tm);

// The module as assembly text (for `tern gen --asm` and debugging).
std::string emit_assembly(llvm::Module& m, llvm::TargetMachine& tm);

}  // namespace tern::codegen
