#pragma once

#include <string>

namespace tern::jit {

// Version of the Xbyak headers the x86 emitters were built with, e.g. "6.68".
std::string xbyak_version();

}  // namespace tern::jit
