// Ahead-of-time kernel libraries (`tern gen`): the kernels of a list of descs
// compiled by LLVM for a target triple and CPU into
//   DIR/tern_kernels.o       one object with every kernel and the registry table
//   DIR/libtern_kernels.a    the same object as a static library
//   DIR/tern_kernels.h       declares the table (runtime/dispatch/aot_provider.h)
//   DIR/tern_kernels.json    what was generated, for people and scripts
// A runtime built with -DTERN_AOT_DIR=DIR links the library and serves its
// kernels through the aot provider, with no LLVM at run time.
#pragma once

#include <string>
#include <vector>

#include "runtime/core/kernel_desc.h"

namespace tern::codegen {

struct AotTarget {
  std::string triple;  // "aarch64-linux-gnu", "x86_64-linux-gnu"
  std::string cpu;     // "neoverse-n1", "cortex-a76", "apple-m1", "x86-64-v3", ... ("" = generic)
};

// The kernel ISAs the target CPU runs (by LLVM's feature tables), most capable first.
std::vector<Isa> target_isas(const AotTarget& target);

struct AotResult {
  std::vector<std::string> files;   // written, in the order above
  std::vector<std::string> kernels; // names in the table
  double compile_s = 0;
};

// Every desc must have backend aot and an ISA of the target. Throws tern::Error
// (nothing half-written is left: files are written to temporaries and renamed).
// `assembly`: also DIR/tern_kernels.s.
AotResult generate_library(const std::vector<KernelDesc>& descs, const AotTarget& target, const std::string& dir,
                           bool assembly = false);

}  // namespace tern::codegen
