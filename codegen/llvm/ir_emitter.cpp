#include "codegen/llvm/ir_emitter.h"

#include <llvm/IR/Verifier.h>
#include <llvm/Support/raw_ostream.h>

#include <vector>

#include "codegen/llvm/kernel_ir.h"
#include "runtime/core/error.h"
#include "runtime/core/kernel_args.h"

namespace tern::codegen {

using llvm::BasicBlock;
using llvm::Value;

static_assert(sizeof(KernelArgs) == 6 * 8 + 5 * 8 + 4 + 4, "KernelArgs changed: update IrEmitter's struct type");

IrEmitter::IrEmitter(llvm::Module& m, const KernelDesc& d, const std::string& tune_cpu)
    : m_(m), c_(m.getContext()), b_(c_), d_(d), l_(layout_of(d)), tune_cpu_(tune_cpu) {
  i8_ = b_.getInt8Ty();
  i16_ = b_.getInt16Ty();
  i32_ = b_.getInt32Ty();
  i64_ = b_.getInt64Ty();
  f32_ = b_.getFloatTy();
  ptr_ = llvm::PointerType::getUnqual(i8_);
}

llvm::Function* IrEmitter::emit() {
  // KernelArgs, field for field (runtime/core/kernel_args.h); LP64 on every target.
  args_ty_ = llvm::StructType::get(c_, {ptr_, ptr_, ptr_, ptr_, ptr_, ptr_, i64_, i64_, i64_, i64_, i64_, f32_, i32_});
  auto* fn_ty = llvm::FunctionType::get(b_.getVoidTy(), {llvm::PointerType::getUnqual(args_ty_)}, false);
  fn_ = llvm::Function::Create(fn_ty, llvm::Function::ExternalLinkage, to_name(d_), m_);
  const IsaAttributes attrs = isa_attributes(d_.isa);
  fn_->addFnAttr("target-cpu", attrs.cpu);
  fn_->addFnAttr("target-features", attrs.features);
  if (!tune_cpu_.empty()) fn_->addFnAttr("tune-cpu", tune_cpu_);
  fn_->addFnAttr("min-legal-vector-width", std::to_string(attrs.vector_bits));
  fn_->addFnAttr("prefer-vector-width", std::to_string(attrs.vector_bits));
  fn_->addFnAttr(llvm::Attribute::NoUnwind);
  fn_->addParamAttr(0, llvm::Attribute::NoAlias);

  b_.SetInsertPoint(BasicBlock::Create(c_, "entry", fn_));
  load_args(fn_->getArg(0));
  body();
  b_.CreateRetVoid();

  std::string err;
  llvm::raw_string_ostream os(err);
  if (llvm::verifyFunction(*fn_, &os)) throw Error("LLVM IR of " + to_name(d_) + " does not verify: " + os.str());
  return fn_;
}

void IrEmitter::load_args(Value* args) {
  auto field = [&](unsigned i, llvm::Type* ty, const char* name) -> Value* {
    return b_.CreateLoad(ty, b_.CreateStructGEP(args_ty_, args, i), name);
  };
  weights_ = field(0, ptr_, "weights");
  act_ = field(1, ptr_, "act");
  act_scale_ = b_.CreateBitCast(field(2, ptr_, "act_scale"), llvm::PointerType::getUnqual(f32_));
  act_sum_ = b_.CreateBitCast(field(3, ptr_, "act_sum"), llvm::PointerType::getUnqual(i32_));
  out_ = b_.CreateBitCast(field(4, ptr_, "out"), llvm::PointerType::getUnqual(f32_));
  acc_out_ = b_.CreateBitCast(field(5, ptr_, "acc"), llvm::PointerType::getUnqual(i32_));
  stride_ = field(6, i64_, "out_stride");
  m_tokens_ = field(7, i64_, "m");
  Value* n = field(8, i64_, "n");
  row_begin_ = field(9, i64_, "row_begin");
  Value* row_end = field(10, i64_, "row_end");
  row_end_ = b_.CreateSelect(b_.CreateICmpULT(row_end, n), row_end, n, "row_end_clamped");
  w_scale_ = field(11, f32_, "w_scale");
}

void IrEmitter::for_range(Value* begin, Value* end, uint64_t step, const std::function<void(Value*)>& fn,
                          unsigned unroll) {
  BasicBlock* pre = b_.GetInsertBlock();
  BasicBlock* head = BasicBlock::Create(c_, "loop", fn_);
  BasicBlock* loop_body = BasicBlock::Create(c_, "body", fn_);
  BasicBlock* exit = BasicBlock::Create(c_, "exit", fn_);
  b_.CreateBr(head);
  b_.SetInsertPoint(head);
  llvm::PHINode* i = b_.CreatePHI(begin->getType(), 2);
  i->addIncoming(begin, pre);
  b_.CreateCondBr(b_.CreateICmpULT(i, end), loop_body, exit);
  b_.SetInsertPoint(loop_body);
  fn(i);
  Value* next = b_.CreateAdd(i, llvm::ConstantInt::get(begin->getType(), step));
  i->addIncoming(next, b_.GetInsertBlock());
  llvm::BranchInst* latch = b_.CreateBr(head);
  if (unroll != kAnyUnroll) {
    llvm::Metadata* hint =
        unroll > 1 ? static_cast<llvm::Metadata*>(llvm::MDNode::get(
                         c_, {llvm::MDString::get(c_, "llvm.loop.unroll.count"),
                              llvm::ConstantAsMetadata::get(b_.getInt32(unroll))}))
                   : llvm::MDNode::get(c_, {llvm::MDString::get(c_, "llvm.loop.unroll.disable")});
    llvm::MDNode* self = llvm::MDNode::getDistinct(c_, {nullptr, hint});
    self->replaceOperandWith(0, self);
    latch->setMetadata(llvm::LLVMContext::MD_loop, self);
  }
  b_.SetInsertPoint(exit);
}

void IrEmitter::if_then(Value* cond, const std::function<void()>& fn) {
  BasicBlock* then = BasicBlock::Create(c_, "then", fn_);
  BasicBlock* done = BasicBlock::Create(c_, "endif", fn_);
  b_.CreateCondBr(cond, then, done);
  b_.SetInsertPoint(then);
  fn();
  b_.CreateBr(done);
  b_.SetInsertPoint(done);
}

Value* IrEmitter::load(llvm::Type* ty, Value* base, Value* offset) {
  Value* p = b_.CreateBitCast(byte_ptr(base, offset), llvm::PointerType::getUnqual(ty));
  return b_.CreateAlignedLoad(ty, p, llvm::Align(1));
}

void IrEmitter::store(Value* v, Value* base, Value* offset) {
  Value* p = b_.CreateBitCast(byte_ptr(base, offset), llvm::PointerType::getUnqual(v->getType()));
  b_.CreateAlignedStore(v, p, llvm::Align(1));
}

Value* IrEmitter::call(llvm::Intrinsic::ID id, llvm::ArrayRef<Value*> args, llvm::ArrayRef<llvm::Type*> overload) {
  return b_.CreateCall(llvm::Intrinsic::getDeclaration(&m_, id, overload), args);
}

Value* IrEmitter::slice(Value* v, unsigned begin, unsigned count) {
  std::vector<int> idx(count);
  for (unsigned i = 0; i < count; ++i) idx[i] = static_cast<int>(begin + i);
  return b_.CreateShuffleVector(v, v, idx);
}

void IrEmitter::store_output(Value* dot, Value* token, Value* row) {
  Value* index = b_.CreateAdd(b_.CreateMul(token, stride_), row);
  BasicBlock* as_int = BasicBlock::Create(c_, "int", fn_);
  BasicBlock* as_float = BasicBlock::Create(c_, "float", fn_);
  BasicBlock* done = BasicBlock::Create(c_, "stored", fn_);
  b_.CreateCondBr(b_.CreateIsNotNull(acc_out_), as_int, as_float);
  b_.SetInsertPoint(as_int);
  b_.CreateStore(dot, b_.CreateGEP(i32_, acc_out_, index));
  b_.CreateBr(done);
  b_.SetInsertPoint(as_float);
  // Exactly runtime/ref's scale_output: (float(acc) * w_scale) / s, two roundings.
  Value* scaled = b_.CreateFMul(b_.CreateSIToFP(dot, f32_), w_scale_);
  Value* s = b_.CreateLoad(f32_, b_.CreateGEP(f32_, act_scale_, token));
  b_.CreateStore(b_.CreateFDiv(scaled, s), b_.CreateGEP(f32_, out_, index));
  b_.CreateBr(done);
  b_.SetInsertPoint(done);
}

}  // namespace tern::codegen
