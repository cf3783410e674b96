#pragma once

#include <string>

namespace tern::jit {

// The LLVM release linked in, e.g. "14.0.6".
std::string llvm_version();
// What LLVM calls this CPU ("znver3", "neoverse-n1"): the -mcpu its code targets.
std::string llvm_host_cpu();

}  // namespace tern::jit
