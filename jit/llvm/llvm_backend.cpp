#include "jit/llvm/llvm_backend.h"

#include <llvm/ADT/StringRef.h>
#include <llvm/Config/llvm-config.h>
// LLVM 17 moved Host.h from Support/ to TargetParser/.
#if __has_include(<llvm/TargetParser/Host.h>)
#include <llvm/TargetParser/Host.h>
#else
#include <llvm/Support/Host.h>
#endif

namespace tern::jit {

std::string llvm_version() { return LLVM_VERSION_STRING; }

std::string llvm_host_cpu() { return llvm::sys::getHostCPUName().str(); }

}  // namespace tern::jit
