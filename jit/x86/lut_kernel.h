// Family `lut`: table lookup over groups of g activations (the family of T-MAC
// and bitnet.cpp's TL1/TL2). Per token and per K block the kernel builds, on
// its stack, one 16-entry table per group of g consecutive activations; the
// packed weights are 4-bit indices into those tables (layout.h, lut branch),
// and vpshufb looks up V rows at once (V = 32 AVX2, 64 AVX-512: one byte per
// row, the table broadcast to every 128-bit lane). Output rows sit in vector
// lanes, so nothing is reduced horizontally; tables are built once per token
// per K block and reused by every row of the call's range.
//
// Tables and entry types (the desc's lut_group g and lut_entry e):
//  - g = 2, e = i16: the 9 signed sums t0 a0 + t1 a1 (|sum| <= 256), stored as
//    two 16-byte planes (low and high byte of the int16); two lookups per
//    index, recombined into int16 lanes by vpunpcklbw / vpunpckhbw.
//  - g = 3, e = i16: sign symmetry, 14 entries (trit codes 13..26) + a sign
//    bit per group. A negative group complements both looked-up bytes (XOR
//    with a byte mask), which yields ~x = -x - 1 for the int16 entry x; the -1s
//    are repaid by a per-row count of sign bits stored with the weights.
//  - g = 4, e = i8: "p/n" planes (T-MAC's bit-serial idea, for trits): the 16
//    subset sums of the 4 activations, biased by +512 (so they are 0..1020) and
//    split into two 5-bit unsigned bytes. Each row's p (elements at +1) and n
//    (elements at -1) indices sit in adjacent bytes; one vpshufb per byte plane
//    per group, the bytes of 8 groups summed with vpaddb (<= 248, no carry),
//    then one vpmaddubsw with (+1,-1) or (+32,-32) per plane gives the int16
//    sum of T(p) - T(n): the bias cancels and nothing is unpacked.
// The int16 lane sums are widened into int32 before they could overflow (see
// chunk_groups in lut_kernel.cpp for the bounds) and the result is exactly
// what runtime/ref computes: int32 `acc`, or (float)acc * w_scale / act_scale
// with the same correctly rounded f32 operations (vcvtdq2ps / vmulps / vdivps
// lane by lane, vcvtsi2ss / vmulss / vdivss for tail rows).
// n_tile is a multiple of V; unroll = row vectors (V rows) per register block;
// m_tile = tokens sharing each index (and sign mask) extraction; k_block = K
// elements per table build (tables take m_tile * k_block / g * 32 bytes of
// stack, at most 512 KiB). Loop order: token block, K block (build tables),
// tile, register block, chunk of groups. Between K blocks the int32 partial
// sums wait in the call's own output rows (acc, or the bytes of out when only
// floats are asked for), which no other call writes.
#pragma once

#include <string>

#include "jit/x86/jit_kernel.h"
#include "runtime/core/cpu_info.h"
#include "runtime/core/layout.h"

namespace tern::jit {

// Why a desc cannot be emitted on this CPU, or empty when it can.
std::string lut_unsupported_reason(const KernelDesc& d, const CpuInfo& cpu);

class LutKernel : public JitKernel {
 public:
  // Throws tern::Error when lut_unsupported_reason(d, host) is not empty.
  explicit LutKernel(const KernelDesc& d);

 protected:
  void generate() override;
  size_t stack_bytes() const override { return stack_bytes_; }

 private:
  struct Block;
  void emit_pool();
  void emit_constants();
  void emit_token_pass(int tokens);
  void emit_block(const Block& b, int tokens);
  void emit_tables(const Block& b, int tokens);
  void emit_units(const Block& b, int tokens, uint64_t units);
  void emit_unit(const Block& b, int tokens);
  void emit_pn_units(const Block& b, int tokens, int units);
  void emit_flush(int tokens);
  void emit_finalize(const Block& b, int tokens);
  void emit_rows(const Block& b, int tokens, int t, bool to_float);

  Xbyak::Xmm acc(int r, int t, int h) const;
  void vbcast128(const Xbyak::Xmm& d, const Xbyak::Address& a);

  PackedLayout layout_;
  int V_;       // vector bytes = rows per row vector
  int rows_;    // unroll: row vectors per register block
  int tokens_;  // m_tile
  bool wide_;   // AVX-512 (zmm)
  int first_acc_ = 0;
  // Stack: [0, partial_off_ + ...) int32 tile partial sums, then tables, then slots.
  size_t tables_off_ = 0, slots_off_ = 0, stack_bytes_ = 0;
  Xbyak::Label pool_;
};

}  // namespace tern::jit
