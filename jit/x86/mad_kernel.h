// Family `mad`: multiply-add on packed 2-bit codes (the family of bitnet.cpp's
// I2_S kernels). Codes c = trit + 1 in {0, 1, 2} are unsigned bytes, so
//   sum_k c_k a_k = sum_k t_k a_k + sum_k a_k
// and the kernel subtracts the token's activation sum (KernelArgs::act_sum) at
// the end: exact, with u8 x s8 instructions (vpmaddubsw, vpdpbusd).
#pragma once

#include <memory>
#include <string>

#include "jit/x86/jit_kernel.h"
#include "runtime/core/cpu_info.h"
#include "runtime/core/layout.h"

namespace tern::jit {

// Why a desc cannot be emitted on this CPU, or empty when it can.
std::string mad_unsupported_reason(const KernelDesc& d, const CpuInfo& cpu);

class MadKernel : public JitKernel {
 public:
  // Throws tern::Error when mad_unsupported_reason(d, host) is not empty.
  explicit MadKernel(const KernelDesc& d);

 protected:
  void generate() override;
  size_t stack_bytes() const override;

 private:
  struct Block;
  void emit_token_pass(int tokens);
  void emit_block(const Block& b, int tokens);
  void emit_group(int tokens, int set, uint64_t row_bytes);
  void emit_finalize(int tokens);

  PackedLayout layout_;
  int rows_;   // unroll: rows per register block
  int sets_;   // independent accumulator sets
  int tokens_; // m_tile
  bool vnni_;
  int first_acc_ = 0;
  int first_tmp_ = 0;
};

}  // namespace tern::jit
