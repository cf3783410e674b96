#include "jit/x86/lut_kernel.h"

#include <algorithm>

#include "runtime/core/error.h"

namespace tern::jit {

using namespace Xbyak;

namespace {

// Groups summed in int16 lanes before they are widened into the int32 partial
// sums (a multiple of the unit's groups, and for g = 4 of 8 groups). Bounds,
// with |a| <= 128 (-128 included):
//  g = 2: |t0 a0 + t1 a1| <= 256; 126 * 256 = 32256 <= 32767.
//  g = 3: |entry| <= 384, and a negative group adds ~x = -x - 1, |~x| <= 385;
//         80 * 385 = 30800 <= 32767.
//  g = 4: entries e = T + 512 in [0, 1020] split as e = lo + 32 hi, lo and hi in
//         [0, 31]. Up to 8 groups' looked-up bytes are first summed as bytes
//         (<= 8 * 31 = 248, no carry); then vpmaddubsw makes dL = sum lo(p) -
//         sum lo(n) in [-248, 248] and dH = 32 (sum hi(p) - sum hi(n)) in
//         [-7936, 7936] (no saturation), with dL + dH = sum over the groups of
//         T(p) - T(n) = sum t_i a_i, |.| <= 512 per group. After 6 such steps of
//         8 groups and either half of the 7th: 6 * 4096 + 7936 = 32512 <= 32767.
int chunk_groups(int g) { return g == 2 ? 126 : g == 3 ? 80 : 56; }

// Vector registers: constants, then temporaries, then 2 int16 accumulators per
// (row vector, token): rows [0, V/2) and [V/2, V) of the row vector.
struct Regs {
  int nib = 0;                 // 0x0f bytes
  int sgn = -1;                // g = 3: zero (AVX2) / all ones (AVX-512)
  int c1 = -1, c32 = -1;       // g = 4: (+1, -1) and (+32, -32) byte pairs
  int idx = -1, ms = -1;       // indices; g = 3 sign mask
  int tl = -1, th = -1;        // the table's low / high byte planes
  int l = -1, h = -1, w = -1;  // looked-up bytes, unpacked words
  int first_acc = 0;
};

Regs plan(int g) {
  Regs r;
  if (g == 2) {
    r.idx = 1, r.tl = 2, r.th = 3, r.l = 4, r.h = 5, r.w = 6, r.first_acc = 7;
  } else if (g == 3) {
    r.sgn = 1, r.idx = 2, r.ms = 3, r.tl = 4, r.th = 5, r.l = 6, r.h = 7, r.w = 8, r.first_acc = 9;
  } else {
    r.c1 = 1, r.c32 = 2, r.idx = 3, r.tl = 4, r.th = 5, r.l = 6, r.h = 7, r.first_acc = 8;
  }
  return r;
}

int register_count(Isa isa) { return isa == Isa::avx512vnni ? 32 : 16; }

size_t round64(size_t x) { return (x + 63) / 64 * 64; }

// Stack frame: int32 partial sums of one tile [m_tile][n_tile], the tables
// [m_tile][groups of the largest block][32 bytes], then 64 bytes of slots.
struct Frame {
  size_t tables_off, slots_off, total;
};

Frame frame_of(const KernelDesc& d, const PackedLayout& l) {
  Frame f;
  const uint64_t block = std::min<uint64_t>(l.k_block, l.k_padded);
  f.tables_off = round64(size_t(d.n_tile) * d.m_tile * 4);
  f.slots_off = f.tables_off + round64(size_t(d.m_tile) * (block / l.lut_group) * 32);
  f.total = f.slots_off + 64;
  return f;
}

constexpr size_t kMaxStack = 512 * 1024;

// Slots (qwords above the tables).
constexpr int kSlotCounter = 0, kSlotBlockOff = 8, kSlotPartial = 16;

}  // namespace

std::string lut_unsupported_reason(const KernelDesc& d, const CpuInfo& cpu) {
  if (d.family != Family::lut) return "not the lut family";
  if (d.backend != Backend::xbyak) return "not the xbyak backend";
  if (d.isa != Isa::avx2 && d.isa != Isa::avxvnni && d.isa != Isa::avx512vnni) return "not an x86 ISA";
  if (!cpu.supports(d.isa))
    return "this CPU (or TERN_MAX_ISA) does not allow " + std::string(to_string(d.isa));
  if (std::string why = lut_config_reason(d); !why.empty()) return why;
  const PackedLayout l = layout_of(d);
  if (plan(d.lut_group).first_acc + 2 * d.unroll * d.m_tile > register_count(d.isa))
    return "unroll x m_tile needs more vector registers than " + std::string(to_string(d.isa)) + " has";
  if (frame_of(d, l).total > kMaxStack) return "m_tile x k_block tables exceed the 512 KiB stack budget";
  return {};
}

struct LutKernel::Block {
  uint64_t len;  // K elements in this block
  bool first, last;
};

LutKernel::LutKernel(const KernelDesc& d) : JitKernel(d) {
  if (std::string why = lut_unsupported_reason(d, host_cpu()); !why.empty())
    throw Error("cannot emit " + to_name(d) + ": " + why);
  layout_ = layout_of(d);
  V_ = static_cast<int>(layout_.vec_bytes);
  rows_ = d.unroll;
  tokens_ = d.m_tile;
  wide_ = V_ == 64;
  first_acc_ = plan(d.lut_group).first_acc;
  const Frame f = frame_of(d, layout_);
  tables_off_ = f.tables_off;
  slots_off_ = f.slots_off;
  stack_bytes_ = f.total;
}


Xmm LutKernel::acc(int r, int t, int h) const { return vec(first_acc_ + (r * tokens_ + t) * 2 + h); }

void LutKernel::vbcast128(const Xmm& d, const Address& a) {
  if (wide_)
    vbroadcasti32x4(Zmm(d.getIdx()), a);
  else
    vbroadcasti128(Ymm(d.getIdx()), a);
}

// Constant pool (data in the code, jumped over): per element of a group, the
// 16 int16 trits (or 0/1 subset bits) that make table entry i from it; the byte
// shuffle that splits 16 int16 into low / high planes; g = 4's bias and mask.
void LutKernel::emit_pool() {
  const int g = layout_.lut_group;
  align(32);
  L(pool_);
  for (int k = 0; k < g; ++k)
    for (int i = 0; i < 16; ++i) {
      int t = 0;
      if (g == 2 && i < 9) t = (k == 0 ? i / 3 : i % 3) - 1;
      if (g == 3 && i < 14) {
        const int c = 13 + i;  // the canonical half: trit codes 13..26
        t = (k == 0 ? c / 9 : k == 1 ? c / 3 % 3 : c % 3) - 1;
      }
      if (g == 4) t = (i >> k) & 1;
      dw(static_cast<uint16_t>(static_cast<int16_t>(t)));
    }
  for (int lane = 0; lane < 2; ++lane) {
    for (int i = 0; i < 8; ++i) db(2 * i);
    for (int i = 0; i < 8; ++i) db(2 * i + 1);
  }
  for (int i = 0; i < 16; ++i) dw(512);   // bias: subset sums of 4 int8 are >= -512
  for (int i = 0; i < 16; ++i) dw(0x1f);  // low 5 bits
}

void LutKernel::emit_constants() {
  const Regs p = plan(layout_.lut_group);
  auto broadcast = [&](int reg, uint32_t pattern) {
    mov(eax, pattern);
    vmovd(Xmm(reg), eax);
    vpbroadcastd(vec(reg), Xmm(reg));
  };
  broadcast(p.nib, 0x0f0f0f0f);
  if (p.sgn >= 0) {
    if (wide_)
      vpternlogd(Zmm(p.sgn), Zmm(p.sgn), Zmm(p.sgn), 0xff);
    else
      vpxor(Ymm(p.sgn), Ymm(p.sgn), Ymm(p.sgn));
  }
  if (p.c1 >= 0) {
    broadcast(p.c1, 0xff01ff01);   // bytes +1, -1
    broadcast(p.c32, 0xe020e020);  // bytes +32, -32
  }
}

// General registers (rbx = args, rbp = frame, rsp = stack):
//   r8  weights of the current tile's current K block   r9  K offset of the block
//   r10 first row of the current tile     r11 end row (min(row_end, n))
//   r12 first token of the token block    r13 m
//   r14 weight unit pointer               r15 table pointer
//   rsi row offset in the tile            rcx unit counter, rdx chunk counter
//   rax, rdi scratch
void LutKernel::generate() {
  Label start;
  jmp(start, T_NEAR);
  emit_pool();
  L(start);
  mov(r11, arg(&KernelArgs::row_end));
  mov(rax, arg(&KernelArgs::n));
  cmp(r11, rax);
  cmova(r11, rax);
  mov(r13, arg(&KernelArgs::m));
  // Between K blocks the partial int32 sums wait in the output rows themselves
  // (acc, or out's bytes when only floats are wanted): only this call writes them.
  mov(rax, arg(&KernelArgs::acc));
  test(rax, rax);
  cmovz(rax, arg(&KernelArgs::out));
  mov(qword[rsp + slots_off_ + kSlotPartial], rax);
  xor_(r12, r12);
  emit_token_pass(tokens_);
  if (tokens_ > 1) emit_token_pass(1);  // the tokens left over
}

void LutKernel::emit_token_pass(int tokens) {
  Label pass, done;
  L(pass);
  mov(rax, r13);
  sub(rax, r12);
  cmp(rax, tokens);
  jb(done, T_NEAR);
  xor_(r9d, r9d);
  mov(qword[rsp + slots_off_ + kSlotBlockOff], 0);

  const uint64_t kp = layout_.k_padded, kb = layout_.k_block;
  const uint64_t full_blocks = kp / kb, last_len = kp % kb;
  const uint64_t n_blocks = full_blocks + (last_len ? 1 : 0);
  if (n_blocks == 1) {
    emit_block({kp, true, true}, tokens);
  } else {
    emit_block({kb, true, false}, tokens);
    const uint64_t middle = full_blocks - 1 - (last_len ? 0 : 1);
    if (middle > 0) {
      const auto counter = qword[rsp + slots_off_ + kSlotCounter];
      Label again;
      mov(counter, middle);
      L(again);
      emit_block({kb, false, false}, tokens);
      dec(counter);
      jnz(again, T_NEAR);
    }
    emit_block({last_len ? last_len : kb, false, true}, tokens);
  }
  add(r12, tokens);
  jmp(pass, T_NEAR);
  L(done);
}

// Builds the block's tables for `tokens` tokens: 32 bytes per group, the low
// byte plane then the high one (g = 4: the low and high 5-bit halves of the
// biased sums). Each group's activations are broadcast as int16 and combined
// with the pool's trit vectors by vpsign (exact: trits are -1, 0, +1).
void LutKernel::emit_tables(const Block& b, int tokens) {
  const int g = layout_.lut_group;
  const uint64_t groups = b.len / g, kp = layout_.k_padded;
  mov(rax, r12);
  imul(rax, rax, static_cast<uint32_t>(kp));
  add(rax, arg(&KernelArgs::act));
  add(rax, r9);
  for (int t = 0; t < tokens; ++t) {
    lea(rdi, ptr[rsp + tables_off_ + t * groups * 32]);
    lea(rsi, ptr[rax + t * kp]);
    mov(ecx, static_cast<uint32_t>(groups));
    Label loop;
    L(loop);
    for (int k = 0; k < g; ++k) {
      vpbroadcastb(Xmm(k), ptr[rsi + k]);
      vpmovsxbw(Ymm(k), Xmm(k));
      vpsignw(Ymm(k), Ymm(k), ptr[rip + pool_ + 32 * k]);
      if (k > 0) vpaddw(Ymm(0), Ymm(0), Ymm(k));
    }
    if (layout_.lut_pn) {
      vpaddw(Ymm(0), Ymm(0), ptr[rip + pool_ + 32 * (g + 1)]);  // 0 .. 1020
      vpsrlw(Ymm(5), Ymm(0), 5);
      vpand(Ymm(0), Ymm(0), ptr[rip + pool_ + 32 * (g + 2)]);
      vpackuswb(Ymm(0), Ymm(0), Ymm(5));  // per lane: 8 low halves, 8 high halves
    } else {
      vpshufb(Ymm(0), Ymm(0), ptr[rip + pool_ + 32 * g]);  // per lane: 8 low bytes, 8 high bytes
    }
    vpermq(Ymm(0), Ymm(0), 0xd8);  // low plane (16 bytes), then high plane
    vmovdqu(ptr[rdi], Ymm(0));
    add(rsi, g);
    add(rdi, 32);
    dec(ecx);
    jnz(loop, T_NEAR);
  }
}

void LutKernel::emit_block(const Block& b, int tokens) {
  emit_tables(b, tokens);
  emit_constants();
  const int g = layout_.lut_group;
  const uint64_t rvb = layout_.lut_vector_block_bytes(b.len);
  const uint64_t units = b.len / layout_.unit_elems;
  const uint64_t chunk_units = chunk_groups(g) / layout_.unit_groups;
  const Regs p = plan(g);

  mov(r10, arg(&KernelArgs::row_begin));
  imul(r8, r10, static_cast<uint32_t>(layout_.row_bytes));  // row_begin is a tile boundary
  add(r8, arg(&KernelArgs::weights));
  add(r8, qword[rsp + slots_off_ + kSlotBlockOff]);
  Label tile, tiles_done;
  L(tile);
  cmp(r10, r11);
  jae(tiles_done, T_NEAR);

  Label rv;
  xor_(esi, esi);
  L(rv);
  // This register block's rows of the int32 partial sums start at zero.
  vzero(vec(p.l));
  for (int t = 0; t < tokens; ++t)
    for (int j = 0; j < 4 * rows_; ++j)
      vstore(ptr[rsp + rsi * 4 + (t * layout_.n_tile * 4 + j * V_)], vec(p.l));
  imul(rax, rsi, static_cast<uint32_t>(rvb / V_));
  lea(r14, ptr[r8 + rax]);
  lea(r15, ptr[rsp + tables_off_]);
  const uint64_t full_chunks = units / chunk_units, rest = units % chunk_units;
  if (full_chunks > 1) {
    Label chunk;
    mov(edx, static_cast<uint32_t>(full_chunks));
    L(chunk);
    emit_units(b, tokens, chunk_units);
    dec(edx);
    jnz(chunk, T_NEAR);
  } else if (full_chunks == 1) {
    emit_units(b, tokens, chunk_units);
  }
  if (rest > 0) emit_units(b, tokens, rest);
  add(esi, rows_ * V_);
  cmp(esi, layout_.n_tile);
  jb(rv, T_NEAR);

  emit_finalize(b, tokens);
  add(r10, layout_.n_tile);
  add(r8, static_cast<uint32_t>(layout_.tile_bytes));
  jmp(tile, T_NEAR);
  L(tiles_done);
  add(r9, static_cast<uint32_t>(b.len));
  if (!b.last) {
    mov(rax, (layout_.n_tile / V_) * layout_.lut_vector_block_bytes(layout_.k_block));
    add(qword[rsp + slots_off_ + kSlotBlockOff], rax);
  }
}

// `units` units of the current register block into fresh int16 sums, then
// widened into the int32 partial sums.
void LutKernel::emit_units(const Block& b, int tokens, uint64_t units) {
  for (int r = 0; r < rows_; ++r)
    for (int t = 0; t < tokens; ++t)
      for (int h = 0; h < 2; ++h) vzero(acc(r, t, h));
  // g = 4 works 4 units (8 groups) at a time, then the units left over.
  const uint64_t step = layout_.lut_pn ? 4 : 1, steps = units / step, rest = units % step;
  if (steps > 0) {
    Label loop;
    mov(ecx, static_cast<uint32_t>(steps));
    L(loop);
    if (layout_.lut_pn)
      emit_pn_units(b, tokens, 4);
    else
      emit_unit(b, tokens);
    add(r14, static_cast<uint32_t>(step * layout_.unit_bytes));
    add(r15, static_cast<uint32_t>(step * layout_.unit_groups * 32));
    dec(ecx);
    jnz(loop, T_NEAR);
  }
  if (rest > 0) {
    emit_pn_units(b, tokens, static_cast<int>(rest));
    add(r14, static_cast<uint32_t>(rest * layout_.unit_bytes));
    add(r15, static_cast<uint32_t>(rest * layout_.unit_groups * 32));
  }
  emit_flush(tokens);
}

// g = 4: `units` (<= 4) units, i.e. up to 8 groups. For each row vector half and
// token, the looked-up bytes of all the groups are summed as bytes (chunk_groups
// bounds), then one vpmaddubsw per plane turns the (p, n) byte pairs into int16
// differences. Tables are reloaded per use: loads are cheaper than registers.
void LutKernel::emit_pn_units(const Block& b, int tokens, int units) {
  const Regs p = plan(layout_.lut_group);
  const uint64_t rvb = layout_.lut_vector_block_bytes(b.len);
  const uint64_t table_stride = b.len / layout_.lut_group * 32;
  const Xmm NIB = vec(p.nib), IDX = vec(p.idx), TL = vec(p.tl), TH = vec(p.th), LB = vec(p.l), HB = vec(p.h);
  const int prefetch = desc().prefetch;
  for (int r = 0; r < rows_; ++r) {
    if (prefetch)
      for (int u = 0; u < units; ++u)
        prefetcht0(ptr[r14 + (r * rvb + u * layout_.unit_bytes + uint64_t(prefetch) * V_)]);
    for (int h = 0; h < 2; ++h)
      for (int t = 0; t < tokens; ++t) {
        for (int gi = 0; gi < 2 * units; ++gi) {
          const int u = gi / 2, q = gi % 2;
          const Address a = ptr[r14 + (r * rvb + u * layout_.unit_bytes + h * V_)];
          if (q == 0) {
            vand(IDX, NIB, a);
          } else {
            vload(IDX, a);
            vpsrlw(IDX, IDX, 4);  // 16-bit shift; the mask drops the bits it drags in
            vand(IDX, IDX, NIB);
          }
          vbcast128(TL, ptr[r15 + (t * table_stride + gi * 32)]);
          vbcast128(TH, ptr[r15 + (t * table_stride + gi * 32 + 16)]);
          if (gi == 0) {
            vpshufb(LB, TL, IDX);
            vpshufb(HB, TH, IDX);
          } else {
            vpshufb(TL, TL, IDX);
            vpshufb(TH, TH, IDX);
            vpaddb(LB, LB, TL);
            vpaddb(HB, HB, TH);
          }
        }
        vpmaddubsw(LB, LB, vec(p.c1));   // lo(p) - lo(n)
        vpmaddubsw(HB, HB, vec(p.c32));  // 32 (hi(p) - hi(n))
        vpaddw(acc(r, t, h), acc(r, t, h), LB);
        vpaddw(acc(r, t, h), acc(r, t, h), HB);
      }
  }
}

void LutKernel::emit_unit(const Block& b, int tokens) {
  const int g = layout_.lut_group;
  const Regs p = plan(g);
  const uint64_t rvb = layout_.lut_vector_block_bytes(b.len);
  const uint64_t table_stride = b.len / g * 32;  // between tokens' tables
  const Xmm NIB = vec(p.nib), IDX = vec(p.idx), TL = vec(p.tl), TH = vec(p.th), L_ = vec(p.l), H = vec(p.h);
  const int prefetch = desc().prefetch;

  auto load_tables = [&](int t, int q) {
    vbcast128(TL, ptr[r15 + (t * table_stride + q * 32)]);
    vbcast128(TH, ptr[r15 + (t * table_stride + q * 32 + 16)]);
  };
  // Group q's 4-bit indices from the byte vector at `a`: bits 3:0 for even q, 7:4 for odd.
  auto indices = [&](const Address& a, int q) {
    if (q % 2 == 0) {
      vand(IDX, NIB, a);
    } else {
      vload(IDX, a);
      vpsrlw(IDX, IDX, 4);  // 16-bit shift; the mask drops the bits it drags in
      vand(IDX, IDX, NIB);
    }
  };

  for (int q = 0; q < static_cast<int>(layout_.unit_groups); ++q) {
    if (tokens == 1) load_tables(0, q);
    for (int r = 0; r < rows_; ++r) {
      const uint64_t wb = r * rvb;
      if (prefetch && q == 0) prefetcht0(ptr[r14 + (wb + uint64_t(prefetch) * V_)]);
      indices(ptr[r14 + (wb + (q / 2) * V_)], q);
      const Xmm MS = p.ms >= 0 ? vec(p.ms) : Xmm();
      if (layout_.lut_signs) {
        // Sign of group q = bit 7-q of the row's sign byte, moved to bit 7 (a
        // 16-bit shift by q < 8 keeps every byte's bit 7 inside that byte).
        const Address sa = ptr[r14 + (wb + 4 * V_)];
        if (wide_) {
          if (q)
            vpsllw(MS, sa, q);
          else
            vload(MS, sa);
          vpmovb2m(k1, MS);
        } else {
          vload(MS, sa);
          if (q) vpsllw(MS, MS, q);
          vpcmpgtb(MS, vec(p.sgn), MS);  // 0 > byte: 0xff where the sign bit is set
        }
      }
      for (int t = 0; t < tokens; ++t) {
        if (tokens > 1) load_tables(t, q);
        vpshufb(L_, TL, IDX);
        vpshufb(H, TH, IDX);
        if (layout_.lut_signs) {
          // Complementing both bytes of the int16 entry x gives ~x = -x - 1;
          // the row correction adds the 1 back.
          if (wide_) {
            vpsubb(L_ | k1, vec(p.sgn), L_);  // 0xff - byte = ~byte
            vpsubb(H | k1, vec(p.sgn), H);
          } else {
            vpxor(L_, L_, MS);
            vpxor(H, H, MS);
          }
        }
        vpunpcklbw(vec(p.w), L_, H);  // rows [0, V/2) as int16
        vpunpckhbw(H, L_, H);         // rows [V/2, V)
        vpaddw(acc(r, t, 0), acc(r, t, 0), vec(p.w));
        vpaddw(acc(r, t, 1), acc(r, t, 1), H);
      }
    }
  }
}

// Adds the int16 sums to the tile's int32 partial sums on the stack.
void LutKernel::emit_flush(int tokens) {
  const Regs p = plan(layout_.lut_group);
  const int lanes = V_ / 4;
  for (int r = 0; r < rows_; ++r)
    for (int t = 0; t < tokens; ++t)
      for (int h = 0; h < 2; ++h) {
        const Xmm a = acc(r, t, h);
        const int row = r * V_ + h * V_ / 2;
        for (int s = 0; s < 2; ++s) {
          const auto dst = ptr[rsp + rsi * 4 + ((t * layout_.n_tile + row + s * lanes) * 4)];
          if (wide_) {
            if (s == 0) {
              vpmovsxwd(Zmm(p.l), Ymm(a.getIdx()));
            } else {
              vextracti64x4(Ymm(p.l), Zmm(a.getIdx()), 1);
              vpmovsxwd(Zmm(p.l), Ymm(p.l));
            }
          } else {
            if (s == 0) {
              vpmovsxwd(Ymm(p.l), Xmm(a.getIdx()));
            } else {
              vextracti128(Xmm(p.l), Ymm(a.getIdx()), 1);
              vpmovsxwd(Ymm(p.l), Xmm(p.l));
            }
          }
          vpaddd(vec(p.l), vec(p.l), dst);
          vstore(dst, vec(p.l));
        }
      }
}

// The tile's int32 sums for this block, per token: added to the partial sums
// of earlier blocks (held in the output rows), plus the g = 3 row corrections,
// then stored as partial sums, as int32 results or as floats. Rows at or past
// the end row are never written.
void LutKernel::emit_finalize(const Block& b, int tokens) {
  const uint64_t kp = layout_.k_padded, kb = layout_.k_block;
  const uint64_t n_blocks = kp / kb + (kp % kb ? 1 : 0);
  const uint64_t last_block_off = (n_blocks - 1) * (layout_.n_tile / V_) * layout_.lut_vector_block_bytes(kb);
  for (int t = 0; t < tokens; ++t) {
    lea(rax, ptr[r12 + t]);
    imul(rax, arg(&KernelArgs::out_stride));
    add(rax, r10);  // output element of (token t, row r10)
    lea(rsi, ptr[rsp + t * layout_.n_tile * 4]);
    mov(rcx, r11);
    sub(rcx, r10);
    mov(edx, layout_.n_tile);
    cmp(rcx, rdx);
    cmova(rcx, rdx);  // rows to write
    if (b.last && layout_.lut_signs) lea(rdx, ptr[r8 + (layout_.corr_offset - last_block_off)]);
    if (!b.last) {
      mov(rdi, qword[rsp + slots_off_ + kSlotPartial]);
      emit_rows(b, tokens, t, false);
    } else {
      // Either pointer is also where earlier blocks left their partial sums.
      Label to_float, next;
      mov(rdi, arg(&KernelArgs::acc));
      test(rdi, rdi);
      jz(to_float, T_NEAR);
      emit_rows(b, tokens, t, false);
      jmp(next, T_NEAR);
      L(to_float);
      mov(rdi, arg(&KernelArgs::out));
      emit_rows(b, tokens, t, true);
      L(next);
    }
  }
}

// rsi = int32 sums, rdi + 4 rax = output, rcx = rows, rdx = corrections.
void LutKernel::emit_rows(const Block& b, int tokens, int t, bool to_float) {
  (void)tokens;
  const Regs p = plan(layout_.lut_group);
  const int lanes = V_ / 4;
  const Xmm v = vec(p.l), ws = vec(p.tl), as = vec(p.th);
  const bool corr = b.last && layout_.lut_signs;
  if (to_float) {
    mov(r14, arg(&KernelArgs::act_scale));
    vbroadcastss(ws, arg(&KernelArgs::w_scale));
    vbroadcastss(as, ptr[r14 + r12 * 4 + t * 4]);
  }
  Label vloop, vdone, sloop, sdone;
  L(vloop);
  cmp(rcx, lanes);
  jb(vdone, T_NEAR);
  vload(v, ptr[rsi]);
  if (!b.first) vpaddd(v, v, ptr[rdi + rax * 4]);
  if (corr) {
    vpaddd(v, v, ptr[rdx]);
    add(rdx, lanes * 4);
  }
  if (to_float) {
    // Lane by lane the reference's f32 steps: int32 -> f32, * w_scale, / act_scale.
    vcvtdq2ps(v, v);
    vmulps(v, v, ws);
    vdivps(v, v, as);
  }
  vstore(ptr[rdi + rax * 4], v);
  add(rsi, lanes * 4);
  add(rax, lanes);
  sub(rcx, lanes);
  jmp(vloop, T_NEAR);
  L(vdone);

  L(sloop);
  test(rcx, rcx);
  jz(sdone, T_NEAR);
  mov(r15d, dword[rsi]);
  if (!b.first) add(r15d, dword[rdi + rax * 4]);
  if (corr) {
    add(r15d, dword[rdx]);
    add(rdx, 4);
  }
  if (to_float) {
    const Xmm x(p.l);
    vcvtsi2ss(x, x, r15d);
    vmulss(x, x, arg(&KernelArgs::w_scale));
    vdivss(x, x, ptr[r14 + r12 * 4 + t * 4]);
    vmovss(dword[rdi + rax * 4], x);
  } else {
    mov(dword[rdi + rax * 4], r15d);
  }
  add(rsi, 4);
  inc(rax);
  dec(rcx);
  jmp(sloop, T_NEAR);
  L(sdone);
}

}  // namespace tern::jit
