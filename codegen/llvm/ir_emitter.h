// The one base every LLVM IR kernel builder derives from (the LLVM twin of
// jit/x86/jit_kernel.h): it owns the ABI, void(const KernelArgs*), the
// function's ISA attributes, the argument loads, and the final store of a dot
// product as int32 or as runtime/ref's float. A family writes only its body.
#pragma once

#include <llvm/IR/BasicBlock.h>
#include <llvm/IR/Constants.h>
#include <llvm/IR/DerivedTypes.h>
#include <llvm/IR/Function.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/Module.h>

#include <functional>
#include <initializer_list>
#include <string>

#include "runtime/core/kernel_desc.h"
#include "runtime/core/layout.h"

namespace tern::codegen {

class IrEmitter {
 public:
  IrEmitter(llvm::Module& m, const KernelDesc& d, const std::string& tune_cpu);
  virtual ~IrEmitter() = default;

  // Creates the function, loads the arguments, calls body(), verifies.
  // Throws tern::Error when the IR does not verify.
  llvm::Function* emit();

 protected:
  // The kernel, from the entry block (arguments loaded) to its end; emit() adds the return.
  virtual void body() = 0;

  // for (i = begin; i < end; i += step) fn(i). unroll: left to LLVM (kAnyUnroll), not
  // unrolled (0 or 1), or unrolled by that count (llvm.loop.unroll.* metadata).
  static constexpr unsigned kAnyUnroll = ~0u;
  void for_range(llvm::Value* begin, llvm::Value* end, uint64_t step, const std::function<void(llvm::Value*)>& fn,
                 unsigned unroll = kAnyUnroll);
  // if (cond) fn()
  void if_then(llvm::Value* cond, const std::function<void()>& fn);

  llvm::Value* byte_ptr(llvm::Value* base, llvm::Value* offset) { return b_.CreateGEP(i8_, base, offset); }
  // Unaligned load / store of a vector type at base + offset bytes.
  llvm::Value* load(llvm::Type* ty, llvm::Value* base, llvm::Value* offset);
  void store(llvm::Value* v, llvm::Value* base, llvm::Value* offset);
  llvm::Value* call(llvm::Intrinsic::ID id, llvm::ArrayRef<llvm::Value*> args, llvm::ArrayRef<llvm::Type*> overload = {});
  // Elements [begin, begin + count) of a vector.
  llvm::Value* slice(llvm::Value* v, unsigned begin, unsigned count);
  llvm::Value* i64(uint64_t v) { return b_.getInt64(v); }

  // Writes one output: `dot` (int32) to acc[token][row] when the caller asked for
  // int32 sums, else exactly runtime/ref's scale_output, (float(dot) * w_scale) / s.
  void store_output(llvm::Value* dot, llvm::Value* token, llvm::Value* row);

  llvm::Module& m_;
  llvm::LLVMContext& c_;
  llvm::IRBuilder<> b_;
  KernelDesc d_;
  PackedLayout l_;
  std::string tune_cpu_;
  llvm::Type *i8_, *i16_, *i32_, *i64_, *f32_, *ptr_;
  llvm::Function* fn_ = nullptr;

  // KernelArgs, loaded in the entry block; row_end_ is already clamped to n.
  llvm::Value *weights_ = nullptr, *act_ = nullptr, *act_scale_ = nullptr, *act_sum_ = nullptr, *out_ = nullptr,
              *acc_out_ = nullptr, *stride_ = nullptr, *m_tokens_ = nullptr, *row_begin_ = nullptr,
              *row_end_ = nullptr, *w_scale_ = nullptr;

 private:
  void load_args(llvm::Value* args);
  llvm::StructType* args_ty_ = nullptr;
};

}  // namespace tern::codegen
