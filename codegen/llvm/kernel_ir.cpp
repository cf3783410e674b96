// The mad family as LLVM IR (the Xbyak twin is jit/x86/mad_kernel.cpp; the
// layout both obey is runtime/core/layout.h).
//
//   for each tile of m_tile tokens (then the leftover tokens one at a time):
//     for each chunk of `unroll` rows in [row_begin, min(row_end, n)):
//       acc[set][row][token] = 0                      (vectors of int32 lanes)
//       for each K block, for each group of 4 V-byte parts in it:
//         w = the row's V packed bytes; codes_p = (w >> (6 - 2p)) & 3, p = 0..3
//         acc += dot(codes_p, activations of part p)  (groups alternate sets)
//       dot = sum of all lanes of all sets - act_sum[token]   (codes are trit + 1)
//       store the int32, or dot * w_scale / act_scale[token] as float
//
// dot() per ISA: AVX2 vpmaddubsw of the 4 parts summed in int16 lanes, then one
// vpmaddwd against ones (|lane| <= 4 x 2 x 2 x 128 = 2048: no int16 overflow);
// AVX-VNNI / AVX-512 VNNI vpdpbusd; NEON dotprod sdot; plain NEON smull, the
// products of a group summed in int16 lanes (|lane| <= 16 x 2 x 128 = 4096),
// then saddlp; i8mm smmla, which takes two rows and two tokens at once (2x8
// bytes by 2x8 bytes into a 2x2 block of int32 sums: unroll must be even, and
// an odd token is paired with zeros). The target intrinsics are used because
// plain vector IR is not selected to these instructions (it gives pmullw /
// smull chains).
// The accumulators stay in allocas; mem2reg and the O3 pipeline put them in
// registers, and the constant trip counts (K, the tile) let LLVM unroll.
#include "codegen/llvm/kernel_ir.h"

#include "codegen/llvm/ir_emitter.h"
#include "codegen/llvm/lut_ir.h"

#include <llvm/IR/BasicBlock.h>
#include <llvm/IR/Constants.h>
#include <llvm/IR/DerivedTypes.h>
#include <llvm/IR/Function.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/IntrinsicsAArch64.h>
#include <llvm/IR/IntrinsicsX86.h>
#include <llvm/IR/Module.h>

#include <array>
#include <functional>
#include <vector>

#include "runtime/core/error.h"
#include "runtime/core/layout.h"

namespace tern::codegen {

bool is_x86(Isa isa) { return isa == Isa::avx2 || isa == Isa::avxvnni || isa == Isa::avx512vnni; }
bool is_arm(Isa isa) { return isa == Isa::neon || isa == Isa::neondot || isa == Isa::i8mm; }

IsaAttributes isa_attributes(Isa isa) {
  switch (isa) {
    case Isa::avx2: return {"x86-64-v3", "+avx2,+fma,+bmi2", 256};
    case Isa::avxvnni: return {"x86-64-v3", "+avx2,+fma,+bmi2,+avxvnni", 256};
    case Isa::avx512vnni: return {"x86-64-v4", "+avx512f,+avx512bw,+avx512vl,+avx512vnni", 512};
    case Isa::neon: return {"generic", "+neon", 128};
    case Isa::neondot: return {"generic", "+neon,+dotprod", 128};
    case Isa::i8mm: return {"generic", "+neon,+dotprod,+i8mm", 128};
    default: return {"generic", "", 0};
  }
}

std::string ir_unsupported_reason(const KernelDesc& d) {
  if (d.family == Family::lut) return lut_ir_unsupported_reason(d);
  if (d.family != Family::mad) return "no LLVM builder for the " + std::string(to_string(d.family)) + " family";
  if (!is_x86(d.isa) && !is_arm(d.isa)) return "no LLVM mad kernel for " + std::string(to_string(d.isa));
  if (d.isa == Isa::i8mm && d.unroll % 2 != 0) return "i8mm kernels take rows in pairs: unroll must be even";
  if (std::string why = mad_config_reason(d); !why.empty()) return why;
  if (uint32_t(d.unroll) * d.m_tile * d.accumulators > 32) return "unroll x m_tile x accumulators above 32";
  if (size_t(d.n_tile) * d.m_tile * (is_arm(d.isa) ? 16 : vector_bytes(d.isa)) > 64 * 1024)
    return "n_tile x m_tile partial sums exceed 64 KiB";
  return {};
}

namespace {

using llvm::BasicBlock;
using llvm::Function;
using llvm::IRBuilder;
using llvm::Type;
using llvm::Value;

class MadEmitter : public IrEmitter {
 public:
  MadEmitter(llvm::Module& m, const KernelDesc& d, const std::string& tune_cpu) : IrEmitter(m, d, tune_cpu) {
    v_ = l_.vec_bytes;
    wvec_ = llvm::FixedVectorType::get(i8_, v_);
    // Accumulator lanes: int32 per 4 bytes of an x86 vector; NEON sums into 4 lanes.
    acc_ty_ = llvm::FixedVectorType::get(i32_, is_arm(d.isa) ? 4 : v_ / 4);
  }

 private:
  void body() override {
    for (int s = 0; s < d_.accumulators; ++s)
      for (int r = 0; r < d_.unroll; ++r)
        for (int t = 0; t < d_.m_tile; ++t) acc_.push_back(b_.CreateAlloca(acc_ty_));
    partial_ = b_.CreateAlloca(acc_ty_, b_.getInt64(uint64_t(l_.n_tile) * d_.m_tile), "partial");

    const uint64_t T = d_.m_tile;
    Value* full_tokens = b_.CreateMul(b_.CreateUDiv(m_tokens_, b_.getInt64(T)), b_.getInt64(T));
    for_range(b_.getInt64(0), full_tokens, T, [&](Value* t0) { rows(t0, static_cast<int>(T)); });
    if (T > 1) for_range(full_tokens, m_tokens_, 1, [&](Value* t0) { rows(t0, 1); });
  }

  Value* acc_slot(int set, int row, int token) const {
    return acc_[(size_t(set) * d_.unroll + row) * d_.m_tile + token];
  }

  Value* load_vec(Value* base, Value* offset) { return load(wvec_, base, offset); }

  // `tokens` tokens from t0, every tile of the row range. Inside a tile the K
  // blocks are the outer loop, as in the Xbyak kernel: a tile's weights are then
  // read in memory order (layout.h), which is what lets cold weights stream at
  // the read bandwidth; the partial sums of the tile's rows wait in `partial_`
  // between blocks.
  void rows(Value* t0, int tokens) {
    const int U = d_.unroll;
    std::vector<Value*> act_rows;
    for (int t = 0; t < tokens; ++t)
      act_rows.push_back(byte_ptr(act_, b_.CreateMul(b_.CreateAdd(t0, b_.getInt64(t)), b_.getInt64(l_.k_padded))));
    for_range(row_begin_, row_end_, l_.n_tile, [&](Value* tile_row) {
      Value* tile_base = b_.CreateMul(b_.CreateUDiv(tile_row, b_.getInt64(l_.n_tile)), b_.getInt64(l_.tile_bytes));
      Value* tile_end = b_.CreateAdd(tile_row, b_.getInt64(l_.n_tile));
      tile_end = b_.CreateSelect(b_.CreateICmpULT(tile_end, row_end_), tile_end, row_end_);
      // Chunks of U rows that hold a row in range; the slot of chunk c is c * U * tokens.
      auto each_chunk = [&](const std::function<void(Value* row, Value* in_tile)>& body) {
        for_range(tile_row, tile_end, U, [&](Value* row) { body(row, b_.CreateSub(row, tile_row)); });
      };
      const uint64_t full_blocks = l_.k_padded / l_.k_block, tail = l_.k_padded % l_.k_block;
      auto block = [&](Value* kb, uint64_t len) {
        each_chunk([&](Value* /*row*/, Value* in_tile) {
          // The block's rows sit one after another, len / 4 bytes each (layout.h).
          Value* base = b_.CreateAdd(tile_base, b_.CreateMul(b_.CreateUDiv(kb, b_.getInt64(4)), b_.getInt64(l_.n_tile)));
          base = b_.CreateAdd(base, b_.CreateMul(in_tile, b_.getInt64(len / 4)));
          load_partials(in_tile, tokens);
          groups(base, kb, len, act_rows, tokens);
          store_partials(in_tile, tokens);
        });
      };
      // One loop over the blocks (no peeled first block: LLVM then hoists that block's
      // activations into spilled registers, and the tile's loads lose their streaming
      // order; measured 4x slower with cold weights).
      b_.CreateMemSet(partial_, b_.getInt8(0), b_.getInt64(uint64_t(l_.n_tile) * d_.m_tile * (acc_ty_->getNumElements() * 4)),
                      llvm::MaybeAlign(16));
      if (full_blocks > 0)
        for_range(b_.getInt64(0), b_.getInt64(full_blocks * l_.k_block), l_.k_block,
                  [&](Value* kb) { block(kb, l_.k_block); });
      if (tail) block(b_.getInt64(full_blocks * l_.k_block), tail);
      each_chunk([&](Value* row, Value* in_tile) { finish_rows(row, in_tile, t0, tokens); });
    });
  }

  // The tile's partial sums between K blocks: n_tile x m_tile vectors, set 0
  // only (the sets are summed before they are put away).
  Value* partial_slot(Value* in_tile, int r, int t) {
    Value* index = b_.CreateAdd(b_.CreateMul(b_.CreateAdd(in_tile, b_.getInt64(r)), b_.getInt64(d_.m_tile)),
                                b_.getInt64(t));
    return b_.CreateGEP(acc_ty_, partial_, index);
  }

  // Set 0 continues from the tile's partial sums; the other sets start from zero.
  // Accumulator vectors per set: one per (row, token), or with i8mm one 2x2
  // block per (row pair, token pair).
  bool mmla() const { return d_.isa == Isa::i8mm; }
  int acc_rows() const { return mmla() ? d_.unroll / 2 : d_.unroll; }
  int acc_tokens(int tokens) const { return mmla() ? (tokens + 1) / 2 : tokens; }

  void load_partials(Value* in_tile, int tokens) {
    for (int s = 0; s < d_.accumulators; ++s)
      for (int r = 0; r < acc_rows(); ++r)
        for (int t = 0; t < acc_tokens(tokens); ++t) {
          Value* v = s > 0 ? llvm::Constant::getNullValue(acc_ty_)
                           : static_cast<Value*>(b_.CreateLoad(acc_ty_, partial_slot(in_tile, r, t)));
          b_.CreateStore(v, acc_slot(s, r, t));
        }
  }

  void store_partials(Value* in_tile, int tokens) {
    for (int r = 0; r < acc_rows(); ++r)
      for (int t = 0; t < acc_tokens(tokens); ++t) {
        Value* sum = b_.CreateLoad(acc_ty_, acc_slot(0, r, t));
        for (int s = 1; s < d_.accumulators; ++s) sum = b_.CreateAdd(sum, b_.CreateLoad(acc_ty_, acc_slot(s, r, t)));
        b_.CreateStore(sum, partial_slot(in_tile, r, t));
      }
  }

  // The groups of one K block, `accumulators` groups per step (one per set).
  void groups(Value* base, Value* kb, uint64_t len, const std::vector<Value*>& act_rows, int tokens) {
    const uint64_t n_groups = len / l_.group, sets = d_.accumulators, steps = n_groups / sets;
    auto step = [&](Value* g0, uint64_t count) {
      for (uint64_t s = 0; s < count; ++s) {
        Value* g = b_.CreateAdd(g0, b_.getInt64(s));
        group(base, b_.CreateAdd(kb, b_.CreateMul(g, b_.getInt64(l_.group))), b_.CreateMul(g, b_.getInt64(v_)),
              act_rows, tokens, static_cast<int>(s), len);
      }
    };
    if (steps > 0) for_range(b_.getInt64(0), b_.getInt64(steps * sets), sets, [&](Value* g0) { step(g0, sets); });
    if (n_groups % sets) step(b_.getInt64(steps * sets), n_groups % sets);
  }

  // Row r's group at w_offset of the block: the 4 parts' codes (0..2, trit + 1).
  std::array<Value*, 4> row_codes(Value* base, Value* w_offset, int r, uint64_t block_len) {
    Value* off = b_.CreateAdd(base, b_.CreateAdd(w_offset, b_.getInt64(r * block_len / 4)));
    Value* w = load_vec(weights_, off);
    if (d_.prefetch) {
      Function* pf = llvm::Intrinsic::getDeclaration(&m_, llvm::Intrinsic::prefetch, {llvm::PointerType::getUnqual(i8_)});
      b_.CreateCall(pf, {byte_ptr(weights_, b_.CreateAdd(off, b_.getInt64(uint64_t(d_.prefetch) * v_))),
                         b_.getInt32(0), b_.getInt32(3), b_.getInt32(1)});
    }
    std::array<Value*, 4> codes;
    for (int p = 0; p < 4; ++p) {
      Value* shifted = p == 3 ? w : b_.CreateLShr(w, llvm::ConstantInt::get(wvec_, 6 - 2 * p));
      codes[p] = b_.CreateAnd(shifted, llvm::ConstantInt::get(wvec_, 3));
    }
    return codes;
  }

  void group(Value* base, Value* k0, Value* w_offset, const std::vector<Value*>& act_rows, int tokens, int set,
             uint64_t block_len) {
    if (mmla()) return group_mmla(base, k0, w_offset, act_rows, tokens, set, block_len);
    for (int r = 0; r < d_.unroll; ++r) {
      std::array<Value*, 4> codes = row_codes(base, w_offset, r, block_len);
      for (int t = 0; t < tokens; ++t) {
        Value* a[4];
        for (int p = 0; p < 4; ++p) a[p] = load_vec(act_rows[t], b_.CreateAdd(k0, b_.getInt64(p * v_)));
        Value* slot = acc_slot(set, r, t);
        b_.CreateStore(dot(b_.CreateLoad(acc_ty_, slot), codes.data(), a), slot);
      }
    }
  }

  // i8mm: smmla multiplies a 2x8 block of codes (8 bytes of row i, i = 0, 1)
  // by a 2x8 block of activations (8 bytes of token j) into the 2x2 int32 sums
  // of lane 2i + j. The parts' 16 bytes go as two such halves. A token pair
  // whose second token is missing pairs the first with zeros.
  void group_mmla(Value* base, Value* k0, Value* w_offset, const std::vector<Value*>& act_rows, int tokens, int set,
                  uint64_t block_len) {
    auto* v16 = llvm::FixedVectorType::get(i8_, 16);
    const std::vector<int> lo = {0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23};
    const std::vector<int> hi = {8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31};
    std::vector<std::array<Value*, 4>> codes;
    for (int r = 0; r < d_.unroll; ++r) codes.push_back(row_codes(base, w_offset, r, block_len));
    for (int tp = 0; tp < acc_tokens(tokens); ++tp)
      for (int p = 0; p < 4; ++p) {
        Value* at = b_.CreateAdd(k0, b_.getInt64(p * v_));
        Value* a0 = load_vec(act_rows[2 * tp], at);
        Value* a1 = 2 * tp + 1 < tokens ? load_vec(act_rows[2 * tp + 1], at) : llvm::Constant::getNullValue(wvec_);
        for (unsigned h = 0; h < v_; h += 16) {  // the part's 16-byte quarters of a V-byte group part
          Value* a0h = slice(a0, h, 16);
          Value* a1h = slice(a1, h, 16);
          Value* a_lo = b_.CreateShuffleVector(a0h, a1h, lo);
          Value* a_hi = b_.CreateShuffleVector(a0h, a1h, hi);
          for (int rp = 0; rp < acc_rows(); ++rp) {
            Value* c0 = slice(codes[2 * rp][p], h, 16);
            Value* c1 = slice(codes[2 * rp + 1][p], h, 16);
            Value* slot = acc_slot(set, rp, tp);
            Value* acc = b_.CreateLoad(acc_ty_, slot);
            acc = call(llvm::Intrinsic::aarch64_neon_smmla, {acc, b_.CreateShuffleVector(c0, c1, lo), a_lo},
                       {acc_ty_, v16});
            acc = call(llvm::Intrinsic::aarch64_neon_smmla, {acc, b_.CreateShuffleVector(c0, c1, hi), a_hi},
                       {acc_ty_, v16});
            b_.CreateStore(acc, slot);
          }
        }
      }
  }

  // acc + sum over the 4 parts of codes_p . a_p, in int32 lanes.
  Value* dot(Value* acc, Value* codes[4], Value* a[4]) {
    switch (d_.isa) {
      case Isa::avx2: {
        Value* s16 = nullptr;
        for (int p = 0; p < 4; ++p) {
          Value* prod = call(llvm::Intrinsic::x86_avx2_pmadd_ub_sw, {codes[p], a[p]});
          s16 = s16 ? b_.CreateAdd(s16, prod) : prod;
        }
        Value* ones = llvm::ConstantInt::get(s16->getType(), 1);
        return b_.CreateAdd(acc, call(llvm::Intrinsic::x86_avx2_pmadd_wd, {s16, ones}));
      }
      case Isa::avxvnni:
      case Isa::avx512vnni: {
        const auto id =
            d_.isa == Isa::avx512vnni ? llvm::Intrinsic::x86_avx512_vpdpbusd_512 : llvm::Intrinsic::x86_avx512_vpdpbusd_256;
        for (int p = 0; p < 4; ++p)
          acc = call(id, {acc, b_.CreateBitCast(codes[p], acc_ty_), b_.CreateBitCast(a[p], acc_ty_)});
        return acc;
      }
      case Isa::neondot: {
        auto* v16 = llvm::FixedVectorType::get(i8_, 16);
        for (int p = 0; p < 4; ++p)
          for (unsigned h = 0; h < v_; h += 16)
            acc = call(llvm::Intrinsic::aarch64_neon_sdot, {acc, slice(codes[p], h, 16), slice(a[p], h, 16)},
                       {acc_ty_, v16});
        return acc;
      }
      case Isa::neon: {
        auto* v8x16 = llvm::FixedVectorType::get(i16_, 8);
        Value* s16 = nullptr;
        for (int p = 0; p < 4; ++p)
          for (unsigned h = 0; h < v_; h += 8) {
            Value* prod = call(llvm::Intrinsic::aarch64_neon_smull, {slice(codes[p], h, 8), slice(a[p], h, 8)}, {v8x16});
            s16 = s16 ? b_.CreateAdd(s16, prod) : prod;
          }
        return b_.CreateAdd(acc, call(llvm::Intrinsic::aarch64_neon_saddlp, {s16}, {acc_ty_, v8x16}));
      }
      default:
        throw Error("no LLVM dot product for " + std::string(to_string(d_.isa)));
    }
  }

  // Reduce the tile's partial sums, fold the code offset, store rows that are in range.
  void finish_rows(Value* row, Value* in_tile, Value* t0, int tokens) {
    if (mmla()) return finish_rows_mmla(row, in_tile, t0, tokens);
    Function* reduce = llvm::Intrinsic::getDeclaration(&m_, llvm::Intrinsic::vector_reduce_add, {acc_ty_});
    for (int r = 0; r < d_.unroll; ++r) {
      Value* row_r = b_.CreateAdd(row, b_.getInt64(r));
      if_then(b_.CreateICmpULT(row_r, row_end_), [&] {
        for (int t = 0; t < tokens; ++t) {
          Value* sum = b_.CreateLoad(acc_ty_, partial_slot(in_tile, r, t));  // the sets, summed
          Value* token = b_.CreateAdd(t0, b_.getInt64(t));
          Value* total = b_.CreateSub(b_.CreateCall(reduce, {sum}),
                                      b_.CreateLoad(i32_, b_.CreateGEP(i32_, act_sum_, token)), "dot");
          store_output(total, token, row_r);
        }
      });
    }
  }

  // i8mm: lane 2i + j of a row pair's block is row 2 rp + i, token 2 tp + j, already summed.
  void finish_rows_mmla(Value* row, Value* in_tile, Value* t0, int tokens) {
    for (int rp = 0; rp < acc_rows(); ++rp)
      for (int i = 0; i < 2; ++i) {
        Value* row_r = b_.CreateAdd(row, b_.getInt64(2 * rp + i));
        if_then(b_.CreateICmpULT(row_r, row_end_), [&] {
          for (int t = 0; t < tokens; ++t) {
            Value* sums = b_.CreateLoad(acc_ty_, partial_slot(in_tile, rp, t / 2));
            Value* token = b_.CreateAdd(t0, b_.getInt64(t));
            Value* total = b_.CreateSub(b_.CreateExtractElement(sums, uint64_t(2 * i + t % 2)),
                                        b_.CreateLoad(i32_, b_.CreateGEP(i32_, act_sum_, token)), "dot");
            store_output(total, token, row_r);
          }
        });
      }
  }

  unsigned v_;
  llvm::FixedVectorType *wvec_, *acc_ty_;
  std::vector<Value*> acc_;
  Value* partial_ = nullptr;
};

}  // namespace

Function* emit_kernel(llvm::Module& m, const KernelDesc& d, const std::string& tune_cpu) {
  if (std::string why = ir_unsupported_reason(d); !why.empty())
    throw Error("cannot emit " + to_name(d) + " as LLVM IR: " + why);
  if (d.family == Family::lut) return emit_lut_kernel(m, d, tune_cpu);
  return MadEmitter(m, d, tune_cpu).emit();
}

}  // namespace tern::codegen
