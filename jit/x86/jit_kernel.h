// The base of every Xbyak kernel (oneDNN's jit_generator): it owns the System V
// ABI — callee-saved registers, the one `const KernelArgs*` argument, a 64-byte
// aligned stack frame, vzeroupper — plus the kernel's canonical name, the
// optional code dump (TERN_JIT_DUMP=dir) and perf map registration
// (TERN_JIT_PERF_MAP=1 writes /tmp/perf-<pid>.map so `perf report` shows names).
// A family writes only generate().
#pragma once

#include <cstddef>
#include <string>

#include <xbyak/xbyak.h>

#include "runtime/core/kernel_args.h"
#include "runtime/core/kernel_desc.h"

namespace tern::jit {

class JitKernel : public Xbyak::CodeGenerator {
 public:
  explicit JitKernel(const KernelDesc& desc, size_t max_code_bytes = 1 << 20);
  ~JitKernel() override = default;

  // Emits prologue, generate() and epilogue once, then returns the entry point.
  // Throws tern::Error when Xbyak fails (code too big, bad operand).
  KernelFn create();

  const KernelDesc& desc() const { return desc_; }
  const std::string& name() const { return name_; }

 protected:
  // The family's body. Reads arguments through arg(&KernelArgs::field), may use
  // every general register except rsp/rbp, and stack_bytes() of aligned scratch at [rsp].
  virtual void generate() = 0;
  // Scratch the family needs on the stack (64-byte aligned at rsp). Known before generate().
  virtual size_t stack_bytes() const { return 0; }

  // Where `field` of the argument struct lives.
  template <class T>
  Xbyak::Address arg(T KernelArgs::*field) {
    const KernelArgs* probe = nullptr;
    const auto off = reinterpret_cast<const char*>(&(probe->*field)) - reinterpret_cast<const char*>(probe);
    return ptr[reg_args + off];
  }
  // The argument pointer, moved out of rdi to a callee-saved register.
  const Xbyak::Reg64 reg_args = rbx;

  // Vector registers of the desc's width (ymm for AVX2 / AVX-VNNI, zmm for
  // AVX-512) and the integer moves and logic ops that exist on both: AVX-512 has
  // no vpand / vpxor / vmovdqu on zmm, its forms carry an element size.
  bool wide() const { return wide_; }
  Xbyak::Xmm vec(int i) const;
  void vand(const Xbyak::Xmm& d, const Xbyak::Xmm& a, const Xbyak::Operand& b);
  void vxor(const Xbyak::Xmm& d, const Xbyak::Xmm& a, const Xbyak::Operand& b);
  void vzero(const Xbyak::Xmm& d) { vxor(d, d, d); }
  void vload(const Xbyak::Xmm& d, const Xbyak::Address& a);
  void vstore(const Xbyak::Address& a, const Xbyak::Xmm& s);

 private:
  void register_code() const;

  KernelDesc desc_;
  std::string name_;
  bool wide_ = false;
  KernelFn fn_ = nullptr;
};

}  // namespace tern::jit
