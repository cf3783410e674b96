#include "jit/x86/jit_kernel.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>

#include "runtime/core/error.h"
#include "runtime/core/layout.h"

namespace tern::jit {

JitKernel::JitKernel(const KernelDesc& desc, size_t max_code_bytes)
    : Xbyak::CodeGenerator(max_code_bytes), desc_(desc), name_(to_name(desc)), wide_(vector_bytes(desc.isa) == 64) {}

Xbyak::Xmm JitKernel::vec(int i) const {
  if (wide_) return Xbyak::Zmm(i);
  return Xbyak::Ymm(i);
}

void JitKernel::vand(const Xbyak::Xmm& d, const Xbyak::Xmm& a, const Xbyak::Operand& b) {
  if (wide_) vpandd(d, a, b); else vpand(d, a, b);
}

void JitKernel::vxor(const Xbyak::Xmm& d, const Xbyak::Xmm& a, const Xbyak::Operand& b) {
  if (wide_) vpxord(d, a, b); else vpxor(d, a, b);
}

void JitKernel::vload(const Xbyak::Xmm& d, const Xbyak::Address& a) {
  if (wide_) vmovdqu32(d, a); else vmovdqu(d, a);
}

void JitKernel::vstore(const Xbyak::Address& a, const Xbyak::Xmm& s) {
  if (wide_) vmovdqu32(a, s); else vmovdqu(a, s);
}

KernelFn JitKernel::create() {
  if (fn_) return fn_;
  try {
    // System V: rbx, rbp, r12-r15 are callee-saved; the one argument arrives in rdi.
    push(rbp);
    mov(rbp, rsp);
    push(rbx);
    push(r12);
    push(r13);
    push(r14);
    push(r15);
    if (size_t frame = stack_bytes()) {
      sub(rsp, static_cast<uint32_t>((frame + 63) / 64 * 64));
      and_(rsp, -64);
    }
    mov(reg_args, rdi);
    generate();
    vzeroupper();  // no AVX-SSE transition penalty in the caller
    lea(rsp, ptr[rbp - 5 * 8]);
    pop(r15);
    pop(r14);
    pop(r13);
    pop(r12);
    pop(rbx);
    pop(rbp);
    ret();
    ready();
  } catch (const Xbyak::Error& e) {
    throw Error("JIT failure emitting " + name_ + ": " + e.what());
  }
  fn_ = getCode<KernelFn>();
  register_code();
  return fn_;
}

void JitKernel::register_code() const {
  if (const char* dir = std::getenv("TERN_JIT_DUMP"); dir && *dir) {
    std::ofstream f(std::string(dir) + "/" + name_ + ".bin", std::ios::binary);
    f.write(reinterpret_cast<const char*>(getCode()), static_cast<std::streamsize>(getSize()));
  }
  if (const char* perf = std::getenv("TERN_JIT_PERF_MAP"); perf && *perf == '1') {
    static std::mutex mu;
    std::lock_guard<std::mutex> lock(mu);
    std::string path = "/tmp/perf-" + std::to_string(getpid()) + ".map";
    if (FILE* f = std::fopen(path.c_str(), "a")) {
      std::fprintf(f, "%lx %zx %s\n", reinterpret_cast<unsigned long>(getCode()), getSize(), name_.c_str());
      std::fclose(f);
    }
  }
}

}  // namespace tern::jit
