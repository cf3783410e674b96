// Kernels compiled ahead of time by `tern gen` (codegen/llvm) into a static
// library: the library's registry is a table of (canonical name, function),
// and this provider serves exactly the kernels in it. An ARM build of the
// runtime links such a library and needs no LLVM at run time.
//
// The table `tern gen` emits (tern_kernels.h declares it):
//   extern "C" const tern::AotKernelEntry tern_aot_kernels[];
//   extern "C" const uint64_t tern_aot_kernel_count;
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "runtime/core/kernel_args.h"
#include "runtime/dispatch/kernel_registry.h"

namespace tern {

struct AotKernelEntry {
  const char* name;  // to_name(desc), backend aot
  KernelFn fn;
};

// Entries whose name does not parse, or is not an aot kernel, are ignored with
// a warning on stderr (a library from another tern version).
std::unique_ptr<KernelProvider> make_aot_provider(const AotKernelEntry* table, uint64_t count);

// The descs of a library's table (what choose_kernels can pick from).
std::vector<KernelDesc> aot_kernels(const AotKernelEntry* table, uint64_t count);

}  // namespace tern
