#include "jit/x86/xbyak_backend.h"

#include <xbyak/xbyak.h>

namespace tern::jit {

std::string xbyak_version() {
  unsigned v = Xbyak::VERSION;  // 0xABCD = A.BC(.D)
  std::string s = std::to_string((v >> 12) & 0xf) + "." + std::to_string((v >> 8) & 0xf) +
                  std::to_string((v >> 4) & 0xf);
  if (v & 0xf) s += "." + std::to_string(v & 0xf);
  return s;
}

}  // namespace tern::jit
