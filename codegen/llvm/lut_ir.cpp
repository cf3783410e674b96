// The lut family as LLVM IR (the Xbyak twin is jit/x86/lut_kernel.cpp, whose
// header explains the tables, the entry types and the sign / p-n tricks; the
// layout both obey is runtime/core/layout.h, lut branch).
//
//   for each block of m_tile tokens (then the leftover tokens one at a time):
//     for each K block:
//       build the block's tables, 32 bytes per group of g activations per token
//       for each tile of the row range, for each register block of `unroll` row vectors:
//         for each chunk of groups (chunk_groups: int16 bounds):
//           int16 sums of looked-up entries, rows in vector lanes
//           widened into the tile's int32 partial sums (an alloca)
//       per token: the tile's sums + the earlier blocks' (held in the output rows,
//       which only this call writes) [+ g = 3 corrections], stored as partial
//       sums, as int32 results or as runtime/ref's floats
//
// This is the Xbyak kernel's memory order: tables once per token per K block,
// the weights of a block read tile by tile, row vector by row vector.
//
// Byte lookups use the target's table instructions (pshufb on a 128-bit table
// broadcast to every lane; AArch64 tbl on each 16-byte slice): IR shuffles with
// variable indices are not selected to them. x86 also takes pmaddubsw for g = 4's
// p/n differences; everything else is plain IR (unpacks, shifts, widening),
// which LLVM selects to punpck / zip, psrlw, pmovsx / sshll.
#include "codegen/llvm/lut_ir.h"

#include <llvm/IR/Constants.h>
#include <llvm/IR/DerivedTypes.h>
#include <llvm/IR/Function.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/IntrinsicsAArch64.h>
#include <llvm/IR/IntrinsicsX86.h>
#include <llvm/IR/Module.h>

#include <algorithm>
#include <functional>
#include <vector>

#include "codegen/llvm/ir_emitter.h"
#include "codegen/llvm/kernel_ir.h"
#include "runtime/core/error.h"
#include "runtime/core/layout.h"

namespace tern::codegen {

namespace {

using llvm::Value;

// Groups summed in int16 lanes before they are widened into int32, and why
// they cannot overflow: lut_kernel.cpp's chunk_groups (|a| <= 128, -128 included):
//  g = 2: |t0 a0 + t1 a1| <= 256; 126 * 256 = 32256.
//  g = 3: a negative group adds ~x = -x - 1, |~x| <= 385; 80 * 385 = 30800.
//  g = 4: per step of <= 8 groups the byte sums are <= 8 * 31 = 248 (no carry)
//         and the p/n difference is <= 8 * 512 = 4096; 7 steps = 28672.
// (int16 adds wrap, so only each chunk's final sum must fit.)
int chunk_groups(int g) { return g == 2 ? 126 : g == 3 ? 80 : 56; }

// Vector registers the Xbyak kernel keeps for constants and temporaries before
// its 2 x unroll x m_tile int16 accumulators (lut_kernel.cpp's plan()); the same
// budget keeps LLVM's register allocation free of spills in the inner loop.
int fixed_registers(int g) { return g == 2 ? 7 : g == 3 ? 9 : 8; }

// V-byte values the register file holds: 16 ymm, 32 zmm; AArch64's 32 q
// registers hold 32 * 16 / V of them.
uint32_t register_values(Isa isa, uint32_t V) {
  if (isa == Isa::avx512vnni) return 32;
  if (is_x86(isa)) return 16;
  return 32 * 16 / V;
}

size_t round64(size_t x) { return (x + 63) / 64 * 64; }

// Stack: the tile's int32 partial sums [m_tile][n_tile], then the tables
// [m_tile][groups of the largest block][32 bytes] (the Xbyak frame's budget).
size_t partial_bytes(const KernelDesc& d) { return round64(size_t(d.n_tile) * d.m_tile * 4); }
size_t table_bytes(const KernelDesc& d, const PackedLayout& l) {
  const uint64_t block = std::min<uint64_t>(l.k_block, l.k_padded);
  return round64(size_t(d.m_tile) * (block / l.lut_group) * 32);
}
constexpr size_t kMaxStack = 512 * 1024;

}  // namespace

std::string lut_ir_unsupported_reason(const KernelDesc& d) {
  if (d.family != Family::lut) return "not the lut family";
  if (!is_x86(d.isa) && !is_arm(d.isa)) return "no LLVM lut kernel for " + std::string(to_string(d.isa));
  if (std::string why = lut_config_reason(d); !why.empty()) return why;
  const uint32_t V = vector_bytes(d.isa);
  const PackedLayout l = layout_of(d);
  if (fixed_registers(d.lut_group) + 2u * d.unroll * d.m_tile > register_values(d.isa, V))
    return "unroll x m_tile needs more vector registers than " + std::string(to_string(d.isa)) + " has";
  if (partial_bytes(d) + table_bytes(d, l) + 64 > kMaxStack)
    return "m_tile x k_block tables exceed the 512 KiB stack budget";
  return {};
}

namespace {

class LutEmitter : public IrEmitter {
 public:
  LutEmitter(llvm::Module& m, const KernelDesc& d, const std::string& tune_cpu) : IrEmitter(m, d, tune_cpu) {
    V_ = l_.vec_bytes;
    g_ = static_cast<int>(l_.lut_group);
    R_ = d.unroll;
    T_ = d.m_tile;
    x86_ = is_x86(d.isa);
    vb_ = llvm::FixedVectorType::get(i8_, V_);
    vw_ = llvm::FixedVectorType::get(i16_, V_ / 2);
    b16_ = llvm::FixedVectorType::get(i8_, 16);
  }

 private:
  void body() override {
    tables_ = b_.CreateAlloca(i8_, i64(table_bytes(d_, l_)), "tables");
    tables_->setAlignment(llvm::Align(64));
    partial_ = b_.CreateAlloca(i8_, i64(partial_bytes(d_)), "tile_sums");
    partial_->setAlignment(llvm::Align(64));
    for (int i = 0; i < 2 * R_ * T_; ++i) acc_.push_back(b_.CreateAlloca(vw_));
    // Between K blocks the int32 sums wait in the output rows: acc, or out's bytes.
    Value* acc_bytes = b_.CreateBitCast(acc_out_, ptr_);
    has_acc_ = b_.CreateIsNotNull(acc_bytes);
    carry_ = b_.CreateSelect(has_acc_, acc_bytes, b_.CreateBitCast(out_, ptr_), "carry");

    Value* full_tokens = b_.CreateMul(b_.CreateUDiv(m_tokens_, i64(T_)), i64(T_));
    loop(i64(0), full_tokens, T_, 0, [&](Value* t0) { token_pass(t0, T_); });
    if (T_ > 1) loop(full_tokens, m_tokens_, 1, 0, [&](Value* t0) { token_pass(t0, 1); });
  }

  // for_range with an unroll hint on the loop (0: none). O3 would otherwise
  // unroll the K loops of every instantiation (token counts, K blocks, chunks)
  // in full or by 4 to 8: no faster, but compile times of half a second.
  void loop(Value* begin, Value* end, uint64_t step, unsigned unroll, const std::function<void(Value*)>& fn) {
    for_range(begin, end, step, fn, unroll);
  }


  void token_pass(Value* t0, int tokens) {
    const uint64_t kb = l_.k_block, full = l_.k_padded / kb, tail = l_.k_padded % kb;
    if (full > 0)
      loop(i64(0), i64(full * kb), kb, 0, [&](Value* k0) {
        Value* first = b_.CreateICmpEQ(k0, i64(0));
        Value* last = tail ? b_.getFalse() : b_.CreateICmpEQ(k0, i64((full - 1) * kb));
        block(t0, tokens, k0, kb, first, last);
      });
    if (tail) block(t0, tokens, i64(full * kb), tail, full ? b_.getFalse() : b_.getTrue(), b_.getTrue());
  }

  // ---------------------------------------------------------------- tables

  // Per element k of a group, the 16 int16 multipliers that make entry i: trits
  // (g = 2: the 9 index codes; g = 3: trit codes 13..26) or subset bits (g = 4).
  llvm::Constant* multipliers(int k) const {
    std::vector<uint16_t> t(16, 0);
    for (int i = 0; i < 16; ++i) {
      int v = 0;
      if (g_ == 2 && i < 9) v = (k == 0 ? i / 3 : i % 3) - 1;
      if (g_ == 3 && i < 14) {
        const int c = 13 + i;
        v = (k == 0 ? c / 9 : k == 1 ? c / 3 % 3 : c % 3) - 1;
      }
      if (g_ == 4) v = (i >> k) & 1;
      t[i] = static_cast<uint16_t>(static_cast<int16_t>(v));
    }
    return llvm::ConstantDataVector::get(c_, t);
  }

  // Tables of the block [k0, k0 + len) for `tokens` tokens from t0: 32 bytes per
  // group, the low byte plane then the high one (g = 4: the low 5 bits and the
  // rest of the entries biased by +512, 0..1020).
  void build_tables(Value* t0, int tokens, Value* k0, uint64_t len) {
    const uint64_t groups = len / g_;
    auto* w16 = llvm::FixedVectorType::get(i16_, 16);
    std::vector<llvm::Constant*> mul;
    for (int k = 0; k < g_; ++k) mul.push_back(multipliers(k));
    std::vector<int> planes;  // even bytes (low), then odd bytes (high)
    for (int i = 0; i < 16; ++i) planes.push_back(2 * i);
    for (int i = 0; i < 16; ++i) planes.push_back(2 * i + 1);
    std::vector<int> concat(32);
    for (int i = 0; i < 32; ++i) concat[i] = i;
    loop(i64(0), i64(tokens), 1, 0, [&](Value* t) {
      Value* row = b_.CreateAdd(b_.CreateMul(b_.CreateAdd(t0, t), i64(l_.k_padded)), k0);
      Value* tables = b_.CreateMul(t, i64(groups * 32));
      loop(i64(0), i64(groups), 1, 2, [&](Value* i) {
        Value* at = b_.CreateAdd(row, b_.CreateMul(i, i64(g_)));
        Value* e = nullptr;
        for (int k = 0; k < g_; ++k) {
          Value* a = b_.CreateSExt(b_.CreateLoad(i8_, byte_ptr(act_, b_.CreateAdd(at, i64(k)))), i16_);
          Value* term = b_.CreateMul(b_.CreateVectorSplat(16, a), mul[k]);
          e = e ? b_.CreateAdd(e, term) : term;
        }
        Value* bytes;
        if (l_.lut_pn) {
          e = b_.CreateAdd(e, llvm::ConstantInt::get(w16, 512));
          Value* lo = b_.CreateTrunc(b_.CreateAnd(e, llvm::ConstantInt::get(w16, 31)), b16_);
          Value* hi = b_.CreateTrunc(b_.CreateLShr(e, llvm::ConstantInt::get(w16, 5)), b16_);
          bytes = b_.CreateShuffleVector(lo, hi, concat);
        } else {
          Value* raw = b_.CreateBitCast(e, llvm::FixedVectorType::get(i8_, 32));
          bytes = b_.CreateShuffleVector(raw, raw, planes);
        }
        store(bytes, tables_, b_.CreateAdd(tables, b_.CreateMul(i, i64(32))));
      });
    });
  }

  // ---------------------------------------------------------------- one K block

  void block(Value* t0, int tokens, Value* k0, uint64_t len, Value* first, Value* last) {
    build_tables(t0, tokens, k0, len);
    const uint64_t nv = l_.n_tile / V_, vbb = l_.lut_vector_block_bytes(len);
    // Every block before k0 is a full one (layout.h).
    Value* block_off =
        b_.CreateMul(b_.CreateUDiv(k0, i64(l_.k_block)), i64(nv * l_.lut_vector_block_bytes(l_.k_block)));
    loop(row_begin_, row_end_, l_.n_tile, 0, [&](Value* tile_row) {
      Value* tile_off = b_.CreateMul(b_.CreateUDiv(tile_row, i64(l_.n_tile)), i64(l_.tile_bytes));
      Value* wblock = b_.CreateAdd(tile_off, block_off);
      loop(i64(0), i64(nv), R_, 0, [&](Value* v0) {
        for (int t = 0; t < tokens; ++t)
          b_.CreateMemSet(byte_ptr(partial_, partial_offset(t, v0, 0)), b_.getInt8(0), i64(uint64_t(R_) * V_ * 4),
                          llvm::MaybeAlign(4));
        register_block(b_.CreateAdd(wblock, b_.CreateMul(v0, i64(vbb))), v0, len, tokens);
      });
      finish_tile(t0, tokens, tile_row, tile_off, first, last);
    });
  }

  // Byte offset in the tile's int32 sums of token t, row vector v0 (a Value), row `row` of it.
  Value* partial_offset(int t, Value* v0, uint64_t row) {
    return b_.CreateAdd(b_.CreateMul(v0, i64(uint64_t(V_) * 4)), i64((uint64_t(t) * l_.n_tile + row) * 4));
  }

  // The register block whose first row vector's share of the block sits at byte
  // `wp` of the weights: chunks of units summed in int16, then widened. One loop
  // over the chunks, the last one possibly shorter (one copy of the unit code).
  void register_block(Value* wp, Value* v0, uint64_t len, int tokens) {
    const uint64_t units = len / l_.unit_elems, per_chunk = chunk_groups(g_) / l_.unit_groups;
    const Block blk{wp, l_.lut_vector_block_bytes(len), len / g_ * 32, tokens};
    loop(i64(0), i64(units), per_chunk, 0, [&](Value* u0) {
      Value* end = b_.CreateAdd(u0, i64(per_chunk));
      end = b_.CreateSelect(b_.CreateICmpULT(end, i64(units)), end, i64(units));
      Value* zero = llvm::Constant::getNullValue(vw_);
      for (int r = 0; r < R_; ++r)
        for (int t = 0; t < tokens; ++t)
          for (int h = 0; h < 2; ++h) b_.CreateStore(zero, acc(r, t, h));
      if (l_.lut_pn) {
        // 4 units (8 groups) per step: the byte sums' bound. per_chunk is a
        // multiple of 4, so only the block's last chunk can end in a part step.
        const uint64_t whole = units / 4 * 4;
        Value* steps_end = b_.CreateSelect(b_.CreateICmpULT(end, i64(whole)), end, i64(whole));
        loop(u0, steps_end, 4, 0, [&](Value* u) { pn_units(blk, u, 4); });
        if (units % 4)
          if_then(b_.CreateICmpEQ(end, i64(units)), [&] { pn_units(blk, i64(whole), static_cast<int>(units % 4)); });
      } else {
        loop(u0, end, 1, g_ == 2 ? 2 : 0, [&](Value* u) { unit(blk, u); });
      }
      flush(v0, tokens);
    });
  }

  struct Block {
    Value* wp;              // weights of the register block's first row vector in this K block
    uint64_t vbb;           // bytes between row vectors in this block
    uint64_t table_stride;  // bytes between tokens' tables
    int tokens;
  };

  Value* acc(int r, int t, int h) const { return acc_[(size_t(r) * T_ + t) * 2 + h]; }
  void add_acc(int r, int t, int h, Value* v) {
    b_.CreateStore(b_.CreateAdd(b_.CreateLoad(vw_, acc(r, t, h)), v), acc(r, t, h));
  }

  // Byte offset of unit u of row vector r of the register block, plus `extra`.
  Value* unit_offset(const Block& blk, int r, Value* u, uint64_t extra) {
    return b_.CreateAdd(blk.wp, b_.CreateAdd(b_.CreateMul(u, i64(l_.unit_bytes)), i64(r * blk.vbb + extra)));
  }
  // Group `group` (a Value) of token t's tables, plane 0 (low) or 1 (high): 16 bytes.
  Value* table(const Block& blk, int t, Value* group, int plane) {
    return load(b16_, tables_, b_.CreateAdd(b_.CreateMul(group, i64(32)), i64(t * blk.table_stride + 16 * plane)));
  }
  void prefetch(Value* offset) {
    llvm::Function* pf = llvm::Intrinsic::getDeclaration(&m_, llvm::Intrinsic::prefetch, {ptr_});
    b_.CreateCall(pf, {byte_ptr(weights_, b_.CreateAdd(offset, i64(uint64_t(d_.prefetch) * V_))), b_.getInt32(0),
                       b_.getInt32(3), b_.getInt32(1)});
  }

  // The 4-bit indices of group q from the V index bytes: bits 3:0 for even q, 7:4 for odd.
  Value* indices(Value* bytes, int q) {
    return q % 2 ? b_.CreateLShr(bytes, llvm::ConstantInt::get(vb_, 4))
                 : b_.CreateAnd(bytes, llvm::ConstantInt::get(vb_, 0x0f));
  }

  // Entry idx[i] of a 16-byte table plane for each of the V bytes.
  Value* lookup(Value* table16, Value* idx) {
    if (x86_) {
      std::vector<int> lanes(V_);
      for (unsigned i = 0; i < V_; ++i) lanes[i] = static_cast<int>(i % 16);
      Value* wide = b_.CreateShuffleVector(table16, table16, lanes);
      return call(V_ == 64 ? llvm::Intrinsic::x86_avx512_pshuf_b_512 : llvm::Intrinsic::x86_avx2_pshuf_b,
                  {wide, idx});
    }
    std::vector<Value*> parts;
    for (unsigned s = 0; s < V_; s += 16)
      parts.push_back(call(llvm::Intrinsic::aarch64_neon_tbl1, {table16, slice(idx, s, 16)}, {b16_}));
    return concat(parts);
  }

  Value* concat(std::vector<Value*> parts) {
    while (parts.size() > 1) {
      std::vector<Value*> next;
      for (size_t i = 0; i < parts.size(); i += 2) {
        const unsigned n = llvm::cast<llvm::FixedVectorType>(parts[i]->getType())->getNumElements();
        std::vector<int> idx(2 * n);
        for (unsigned j = 0; j < 2 * n; ++j) idx[j] = static_cast<int>(j);
        next.push_back(b_.CreateShuffleVector(parts[i], parts[i + 1], idx));
      }
      parts = std::move(next);
    }
    return parts[0];
  }

  // Low / high bytes of int16 entries, interleaved per 16-byte lane (punpcklbw /
  // punpckhbw, zip1 / zip2): rows [0, V/2) and [V/2, V) of the row vector
  // (layout.h's lut_row_of_byte) as int16 lanes.
  Value* interleave(Value* lo, Value* hi, int half) {
    std::vector<int> idx;
    for (unsigned lane = 0; lane < V_ / 16; ++lane)
      for (unsigned i = 0; i < 8; ++i) {
        idx.push_back(static_cast<int>(16 * lane + 8 * half + i));
        idx.push_back(static_cast<int>(V_ + 16 * lane + 8 * half + i));
      }
    return b_.CreateBitCast(b_.CreateShuffleVector(lo, hi, idx), vw_);
  }

  // g = 2, 3: one unit (U groups) of every row vector of the register block.
  void unit(const Block& blk, Value* u) {
    const int U = static_cast<int>(l_.unit_groups);
    for (int q = 0; q < U; ++q) {
      Value* group = b_.CreateAdd(b_.CreateMul(u, i64(U)), i64(q));
      std::vector<Value*> tl, th;
      for (int t = 0; t < blk.tokens; ++t) {
        tl.push_back(table(blk, t, group, 0));
        th.push_back(table(blk, t, group, 1));
      }
      for (int r = 0; r < R_; ++r) {
        if (d_.prefetch && q == 0) prefetch(unit_offset(blk, r, u, 0));
        Value* idx = indices(load(vb_, weights_, unit_offset(blk, r, u, uint64_t(q / 2) * V_)), q);
        Value* neg = nullptr;
        if (l_.lut_signs) {
          // Sign of group q = bit 7 - q of the row's sign byte: 0xff where set.
          Value* signs = load(vb_, weights_, unit_offset(blk, r, u, 4ull * V_));
          Value* bit = llvm::ConstantInt::get(vb_, 0x80 >> q);
          neg = b_.CreateSExt(b_.CreateICmpEQ(b_.CreateAnd(signs, bit), bit), vb_);
        }
        for (int t = 0; t < blk.tokens; ++t) {
          Value* lo = lookup(tl[t], idx);
          Value* hi = lookup(th[t], idx);
          if (neg) {
            // Complementing both bytes of the int16 entry x gives ~x = -x - 1;
            // the row's correction adds the 1s back.
            lo = b_.CreateXor(lo, neg);
            hi = b_.CreateXor(hi, neg);
          }
          add_acc(r, t, 0, interleave(lo, hi, 0));
          add_acc(r, t, 1, interleave(lo, hi, 1));
        }
      }
    }
  }

  // g = 4: `units` (<= 4) units from u, i.e. up to 8 groups, of every row vector.
  // The looked-up bytes of the groups are summed as bytes, then each (p, n) byte
  // pair becomes the int16 lo(p) - lo(n) + 32 (hi(p) - hi(n)): the bias cancels.
  // Both halves of the row vector take a group's table in turn, so each table is
  // loaded once and no broadcast table waits in a register (or a spill slot).
  void pn_units(const Block& blk, Value* u, int units) {
    for (int r = 0; r < R_; ++r) {
      if (d_.prefetch)
        for (int j = 0; j < units; ++j) prefetch(unit_offset(blk, r, b_.CreateAdd(u, i64(j)), 0));
      for (int t = 0; t < blk.tokens; ++t) {
        Value *lsum[2] = {nullptr, nullptr}, *hsum[2] = {nullptr, nullptr};
        for (int gi = 0; gi < 2 * units; ++gi) {
          Value* uj = b_.CreateAdd(u, i64(gi / 2));
          Value* group = b_.CreateAdd(b_.CreateMul(u, i64(2)), i64(gi));
          Value* tl = table(blk, t, group, 0);
          Value* th = table(blk, t, group, 1);
          for (int h = 0; h < 2; ++h) {
            Value* idx = indices(load(vb_, weights_, unit_offset(blk, r, uj, uint64_t(h) * V_)), gi % 2);
            Value* lo = lookup(tl, idx);
            Value* hi = lookup(th, idx);
            lsum[h] = lsum[h] ? b_.CreateAdd(lsum[h], lo) : lo;
            hsum[h] = hsum[h] ? b_.CreateAdd(hsum[h], hi) : hi;
          }
        }
        for (int h = 0; h < 2; ++h) add_acc(r, t, h, pn_difference(lsum[h], hsum[h]));
      }
    }
  }

  Value* pn_difference(Value* lsum, Value* hsum) {
    if (x86_) {
      const auto id = V_ == 64 ? llvm::Intrinsic::x86_avx512_pmaddubs_w_512 : llvm::Intrinsic::x86_avx2_pmadd_ub_sw;
      std::vector<uint8_t> c1, c32;
      for (unsigned i = 0; i < V_; i += 2) {
        c1.insert(c1.end(), {0x01, 0xff});
        c32.insert(c32.end(), {0x20, 0xe0});
      }
      Value* dl = call(id, {lsum, llvm::ConstantDataVector::get(c_, c1)});
      Value* dh = call(id, {hsum, llvm::ConstantDataVector::get(c_, c32)});
      return b_.CreateAdd(dl, dh);
    }
    // p in the low byte of each int16 lane, n in the high byte.
    auto diff = [&](Value* bytes) {
      Value* w = b_.CreateBitCast(bytes, vw_);
      return b_.CreateSub(b_.CreateAnd(w, llvm::ConstantInt::get(vw_, 0xff)),
                          b_.CreateLShr(w, llvm::ConstantInt::get(vw_, 8)));
    };
    return b_.CreateAdd(diff(lsum), b_.CreateShl(diff(hsum), llvm::ConstantInt::get(vw_, 5)));
  }

  // The int16 sums into the tile's int32 sums.
  void flush(Value* v0, int tokens) {
    auto* wide = llvm::FixedVectorType::get(i32_, V_ / 2);
    for (int r = 0; r < R_; ++r)
      for (int t = 0; t < tokens; ++t)
        for (int h = 0; h < 2; ++h) {
          Value* off = partial_offset(t, v0, uint64_t(r) * V_ + uint64_t(h) * V_ / 2);
          Value* sum = b_.CreateAdd(load(wide, partial_, off), b_.CreateSExt(b_.CreateLoad(vw_, acc(r, t, h)), wide));
          store(sum, partial_, off);
        }
  }

  // ---------------------------------------------------------------- results

  // The tile's rows in range, per token: V / 4 rows at a time, then one by one.
  void finish_tile(Value* t0, int tokens, Value* tile_row, Value* tile_off, Value* first, Value* last) {
    Value* left = b_.CreateSub(row_end_, tile_row);
    Value* rows = b_.CreateSelect(b_.CreateICmpULT(left, i64(l_.n_tile)), left, i64(l_.n_tile));
    const unsigned lanes = V_ / 4;
    Value* vec_rows = b_.CreateAnd(rows, i64(~uint64_t(lanes - 1)));
    loop(i64(0), i64(tokens), 1, 0, [&](Value* t) {
      Value* token = b_.CreateAdd(t0, t);
      Value* out_row = b_.CreateAdd(b_.CreateMul(token, stride_), tile_row);
      Value* sums = b_.CreateMul(t, i64(uint64_t(l_.n_tile) * 4));
      loop(i64(0), vec_rows, lanes, 0,
           [&](Value* j) { finish_rows(lanes, sums, token, out_row, j, tile_off, first, last); });
      loop(vec_rows, rows, 1, 0, [&](Value* j) { finish_rows(1, sums, token, out_row, j, tile_off, first, last); });
    });
  }

  // Rows [j, j + n) of a token (its tile sums at byte `sums`, output element out_row + j): this block's sums,
  // plus the earlier blocks' unless first, plus the corrections when last; stored
  // for the next block, or as the result (int32, or exactly runtime/ref's
  // (float(acc) * w_scale) / s, lane by lane).
  void finish_rows(unsigned n, Value* sums, Value* token, Value* out_row, Value* j, Value* tile_off, Value* first,
                   Value* last) {
    llvm::Type* ity = n == 1 ? static_cast<llvm::Type*>(i32_) : llvm::FixedVectorType::get(i32_, n);
    llvm::Type* fty = n == 1 ? static_cast<llvm::Type*>(f32_) : llvm::FixedVectorType::get(f32_, n);
    auto splat = [&](Value* v) { return n == 1 ? v : b_.CreateVectorSplat(n, v); };
    Value* out_off = b_.CreateMul(b_.CreateAdd(out_row, j), i64(4));
    Value* sum = load(ity, partial_, b_.CreateAdd(b_.CreateMul(j, i64(4)), sums));
    sum = b_.CreateSelect(first, sum, b_.CreateAdd(sum, load(ity, carry_, out_off)));
    if_then(b_.CreateNot(last), [&] { store(sum, carry_, out_off); });
    if_then(last, [&] {
      Value* total = sum;
      if (l_.lut_signs)
        total = b_.CreateAdd(total, load(ity, weights_, b_.CreateAdd(tile_off, b_.CreateAdd(i64(l_.corr_offset),
                                                                                             b_.CreateMul(j, i64(4))))));
      if_then(has_acc_, [&] { store(total, carry_, out_off); });
      if_then(b_.CreateNot(has_acc_), [&] {
        Value* s = b_.CreateLoad(f32_, b_.CreateGEP(f32_, act_scale_, token));
        Value* scaled = b_.CreateFMul(b_.CreateSIToFP(total, fty), splat(w_scale_));
        store(b_.CreateFDiv(scaled, splat(s)), b_.CreateBitCast(out_, ptr_), out_off);
      });
    });
  }

  unsigned V_ = 32;
  int g_ = 2, R_ = 1, T_ = 1;
  bool x86_ = true;
  llvm::FixedVectorType *vb_, *vw_, *b16_;
  llvm::AllocaInst *tables_ = nullptr, *partial_ = nullptr;
  std::vector<Value*> acc_;
  Value *has_acc_ = nullptr, *carry_ = nullptr;
};

}  // namespace

llvm::Function* emit_lut_kernel(llvm::Module& m, const KernelDesc& d, const std::string& tune_cpu) {
  if (std::string why = lut_ir_unsupported_reason(d); !why.empty())
    throw Error("cannot emit " + to_name(d) + " as LLVM IR: " + why);
  return LutEmitter(m, d, tune_cpu).emit();
}

}  // namespace tern::codegen
