#pragma once

#include <memory>

#include "runtime/dispatch/kernel_registry.h"

namespace tern::jit {

// The Xbyak backend: every x86 family (mad; lut to come) behind one provider.
std::unique_ptr<KernelProvider> make_xbyak_provider();

}  // namespace tern::jit
