// The LLVM backend at run time: kernels built as LLVM IR by codegen/llvm,
// compiled for this CPU and loaded with ORC LLJIT. Compiled objects are cached
// on disk, keyed by (kernel name, LLVM version, CPU name and features, the IR
// itself), so a second start loads them instead of compiling again, and a tern
// whose IR builders changed compiles afresh.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "runtime/dispatch/kernel_registry.h"

namespace tern::jit {

// The LLVM release linked in, e.g. "14.0.6".
std::string llvm_version();
// What LLVM calls this CPU ("znver3", "neoverse-n1"): the -mcpu its code targets.
std::string llvm_host_cpu();

// Where compiled kernels are cached: $TERN_LLVM_CACHE if set ("off" disables
// the cache), else <default_cache_dir()>/llvm.
std::string default_llvm_object_cache_dir();

// object_cache_dir empty: no on-disk cache.
std::unique_ptr<KernelProvider> make_llvm_provider(const std::string& object_cache_dir = default_llvm_object_cache_dir());

// What the LLVM providers of this process did: kernels compiled (IR built,
// optimised, code generated, loaded) and kernels loaded from the object cache.
struct LlvmStats {
  uint64_t compiled = 0, compile_ns = 0;
  uint64_t cache_hits = 0, cache_load_ns = 0;
};
LlvmStats llvm_stats();

}  // namespace tern::jit
