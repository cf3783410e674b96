#include "jit/x86/mad_kernel.h"

#include "runtime/core/error.h"

namespace tern::jit {

using namespace Xbyak;

namespace {

// Vector registers: 0 = 0x03 byte mask, 1 = int16 ones (vpmaddwd, AVX2 only),
// 2 = packed weights, 3 = one part's codes, 4 = a product (AVX2 only); then the
// per-token int16 sums (AVX2 only), then the int32 accumulators.
constexpr int kMask = 0, kOnes = 1, kW = 2, kCodes = 3, kProduct = 4;

struct RegisterPlan {
  int first_tmp, first_acc, total;
};

RegisterPlan plan_registers(bool vnni, int rows, int tokens, int sets) {
  RegisterPlan p;
  p.first_tmp = vnni ? 4 : 5;
  p.first_acc = p.first_tmp + (vnni ? 0 : tokens);
  p.total = p.first_acc + sets * rows * tokens;
  return p;
}

int register_count(Isa isa) { return isa == Isa::avx512vnni ? 32 : 16; }

}  // namespace

std::string mad_unsupported_reason(const KernelDesc& d, const CpuInfo& cpu) {
  if (d.family != Family::mad) return "not the mad family";
  if (d.backend != Backend::xbyak) return "not the xbyak backend";
  if (d.isa != Isa::avx2 && d.isa != Isa::avxvnni && d.isa != Isa::avx512vnni) return "not an x86 ISA";
  if (!cpu.supports(d.isa)) return "this CPU (or TERN_MAX_ISA) does not allow " + std::string(to_string(d.isa));
  if (std::string why = mad_config_reason(d); !why.empty()) return why;
  const bool vnni = d.isa != Isa::avx2;
  if (plan_registers(vnni, d.unroll, d.m_tile, d.accumulators).total > register_count(d.isa))
    return "unroll x m_tile x accumulators needs more vector registers than " + std::string(to_string(d.isa)) + " has";
  if (size_t(d.n_tile) * d.m_tile * vector_bytes(d.isa) > 64 * 1024) return "n_tile x m_tile partial sums exceed 64 KiB";
  return {};
}

struct MadKernel::Block {
  uint64_t len;  // K elements in this block
  bool first, last;
};

MadKernel::MadKernel(const KernelDesc& d) : JitKernel(d) {
  if (std::string why = mad_unsupported_reason(d, host_cpu()); !why.empty())
    throw Error("cannot emit " + to_name(d) + ": " + why);
  layout_ = layout_of(d);
  rows_ = d.unroll;
  sets_ = d.accumulators;
  tokens_ = d.m_tile;
  vnni_ = d.isa != Isa::avx2;
  RegisterPlan p = plan_registers(vnni_, rows_, tokens_, sets_);
  first_tmp_ = p.first_tmp;
  first_acc_ = p.first_acc;
}

size_t MadKernel::stack_bytes() const {
  // Partial sums between K blocks, then 64 bytes for the middle-block counter.
  return size_t(layout_.n_tile) * tokens_ * layout_.vec_bytes + 64;
}


// General registers (rbx = args, rbp = frame, rsp = stack):
//   r8  weights of the current K block (start of the tile's block)
//   r9  activations of the current K block for the current token block
//   r10 first row of the current tile     r11 end row (min(row_end, n))
//   r12 first token of the token block    r13 m
//   r14 weight group pointer              r15 activation group pointer
//   rsi row offset in the tile            rdi partial sums / output index
//   rcx loop counter, rax/rdx scratch
void MadKernel::generate() {
  // Constants.
  mov(eax, 0x03030303);
  vmovd(Xmm(kMask), eax);
  vpbroadcastd(vec(kMask), Xmm(kMask));
  if (!vnni_) {
    mov(eax, 0x00010001);
    vmovd(Xmm(kOnes), eax);
    vpbroadcastd(vec(kOnes), Xmm(kOnes));
  }
  mov(r11, arg(&KernelArgs::row_end));
  mov(rax, arg(&KernelArgs::n));
  cmp(r11, rax);
  cmova(r11, rax);
  mov(r13, arg(&KernelArgs::m));
  xor_(r12, r12);
  emit_token_pass(tokens_);
  if (tokens_ > 1) emit_token_pass(1);  // the tokens left over
}

void MadKernel::emit_token_pass(int tokens) {
  Label pass, done, tile, tiles_done;
  L(pass);
  mov(rax, r13);
  sub(rax, r12);
  cmp(rax, tokens);
  jb(done, T_NEAR);

  mov(r10, arg(&KernelArgs::row_begin));
  imul(r8, r10, static_cast<uint32_t>(layout_.row_bytes));  // row_begin is a tile boundary
  add(r8, arg(&KernelArgs::weights));
  L(tile);
  cmp(r10, r11);
  jae(tiles_done, T_NEAR);
  imul(r9, r12, static_cast<uint32_t>(layout_.k_padded));
  add(r9, arg(&KernelArgs::act));

  const uint64_t kp = layout_.k_padded, kb = layout_.k_block;
  const uint64_t full_blocks = kp / kb, last_len = kp % kb;
  const uint64_t n_blocks = full_blocks + (last_len ? 1 : 0);
  if (n_blocks == 1) {
    emit_block({kp, true, true}, tokens);
  } else {
    emit_block({kb, true, false}, tokens);
    uint64_t middle = full_blocks - 1 - (last_len ? 0 : 1);
    if (middle > 0) {
      // The counter lives above the partial sums: every general register is taken.
      const auto counter = qword[rsp + stack_bytes() - 64];
      Label again;
      mov(counter, middle);
      L(again);
      emit_block({kb, false, false}, tokens);
      dec(counter);
      jnz(again, T_NEAR);
    }
    emit_block({last_len ? last_len : kb, false, true}, tokens);
  }
  add(r10, layout_.n_tile);
  jmp(tile, T_NEAR);
  L(tiles_done);
  add(r12, tokens);
  jmp(pass, T_NEAR);
  L(done);
}

void MadKernel::emit_block(const Block& b, int tokens) {
  const uint64_t row_bytes = b.len / 4;
  const uint64_t groups = b.len / layout_.group;
  const int V = static_cast<int>(layout_.vec_bytes);
  auto acc = [&](int set, int r, int t) { return vec(first_acc_ + (set * rows_ + r) * tokens + t); };

  Label row_group;
  xor_(esi, esi);
  L(row_group);
  imul(rdx, rsi, static_cast<uint32_t>(row_bytes));
  lea(r14, ptr[r8 + rdx]);
  mov(r15, r9);
  imul(rdi, rsi, tokens * V);
  add(rdi, rsp);
  for (int s = 0; s < sets_; ++s)
    for (int r = 0; r < rows_; ++r)
      for (int t = 0; t < tokens; ++t) {
        if (s == 0 && !b.first)
          vload(acc(s, r, t), ptr[rdi + (r * tokens + t) * V]);
        else
          vzero(acc(s, r, t));
      }

  const uint64_t main_iters = sets_ > 1 ? groups / sets_ : 0;
  const uint64_t rest = groups - main_iters * sets_;
  if (main_iters > 0) {
    Label loop;
    mov(ecx, static_cast<uint32_t>(main_iters));
    L(loop);
    for (int s = 0; s < sets_; ++s) emit_group(tokens, s, row_bytes);
    dec(ecx);
    jnz(loop, T_NEAR);
  }
  if (rest > 0) {
    Label loop;
    mov(ecx, static_cast<uint32_t>(rest));
    L(loop);
    emit_group(tokens, 0, row_bytes);
    dec(ecx);
    jnz(loop, T_NEAR);
  }
  for (int s = 1; s < sets_; ++s)
    for (int r = 0; r < rows_; ++r)
      for (int t = 0; t < tokens; ++t) vpaddd(acc(0, r, t), acc(0, r, t), acc(s, r, t));

  if (b.last) {
    emit_finalize(tokens);
  } else {
    for (int r = 0; r < rows_; ++r)
      for (int t = 0; t < tokens; ++t) vstore(ptr[rdi + (r * tokens + t) * V], acc(0, r, t));
  }
  add(rsi, rows_);
  cmp(rsi, layout_.n_tile);
  jb(row_group, T_NEAR);
  add(r8, static_cast<uint32_t>(layout_.n_tile * row_bytes));
  add(r9, static_cast<uint32_t>(b.len));
}

// One group (4 x V codes) of `rows_` rows against `tokens` tokens, into set `set`.
void MadKernel::emit_group(int tokens, int set, uint64_t row_bytes) {
  const int V = static_cast<int>(layout_.vec_bytes);
  const uint64_t kp = layout_.k_padded;
  const int prefetch = desc().prefetch;
  for (int r = 0; r < rows_; ++r) {
    const auto w_addr = ptr[r14 + r * row_bytes];
    vload(vec(kW), w_addr);
    if (prefetch) prefetcht0(ptr[r14 + r * row_bytes + prefetch * V]);
    for (int part = 0; part < 4; ++part) {
      // Part p holds elements p*V .. p*V+V-1 of the group in bits 7-2p .. 6-2p.
      const int shift = 6 - 2 * part;
      if (shift) {
        vpsrlw(vec(kCodes), vec(kW), shift);  // 16-bit shift; the mask drops the bits it drags in
        vand(vec(kCodes), vec(kCodes), vec(kMask));
      } else {
        vand(vec(kCodes), vec(kW), vec(kMask));
      }
      for (int t = 0; t < tokens; ++t) {
        const auto a = ptr[r15 + t * kp + part * V];
        const Xmm acc = vec(first_acc_ + (set * rows_ + r) * tokens + t);
        if (vnni_) {
          vpdpbusd(acc, vec(kCodes), a, desc().isa == Isa::avx512vnni ? EvexEncoding : VexEncoding);
        } else {
          // int16 sums of the four parts: each vpmaddubsw lane is c0*a0 + c1*a1 with
          // c <= 2 and |a| <= 128, so |lane| <= 512 and four of them <= 2048 < 32767:
          // neither vpmaddubsw's saturation nor the vpaddw can overflow.
          const Xmm tmp = vec(first_tmp_ + t);
          if (part == 0) {
            vpmaddubsw(tmp, vec(kCodes), a);
          } else {
            vpmaddubsw(vec(kProduct), vec(kCodes), a);
            vpaddw(tmp, tmp, vec(kProduct));
          }
        }
      }
    }
    if (!vnni_) {
      for (int t = 0; t < tokens; ++t) {
        const Xmm tmp = vec(first_tmp_ + t);
        const Xmm acc = vec(first_acc_ + (set * rows_ + r) * tokens + t);
        vpmaddwd(tmp, tmp, vec(kOnes));
        vpaddd(acc, acc, tmp);
      }
    }
  }
  add(r14, V);
  add(r15, static_cast<uint32_t>(layout_.group));
}

// Sums each accumulator's lanes, removes the code offset (the token's activation
// sum) and stores either the int32 (args.acc) or (float)acc * w_scale / act_scale,
// the reference's exact sequence of f32 operations.
void MadKernel::emit_finalize(int tokens) {
  const bool wide = layout_.vec_bytes == 64;
  for (int r = 0; r < rows_; ++r) {
    Label skip;
    lea(rax, ptr[r10 + rsi + r]);
    cmp(rax, r11);
    jae(skip, T_NEAR);
    for (int t = 0; t < tokens; ++t) {
      const int a = first_acc_ + r * tokens + t;
      if (wide) {
        vextracti64x4(Ymm(kCodes), Zmm(a), 1);
        vpaddd(Ymm(a), Ymm(a), Ymm(kCodes));
        vextracti32x4(Xmm(kCodes), Ymm(a), 1);
      } else {
        vextracti128(Xmm(kCodes), Ymm(a), 1);
      }
      vpaddd(Xmm(a), Xmm(a), Xmm(kCodes));
      vpshufd(Xmm(kCodes), Xmm(a), 0x4e);
      vpaddd(Xmm(a), Xmm(a), Xmm(kCodes));
      vpshufd(Xmm(kCodes), Xmm(a), 0xb1);
      vpaddd(Xmm(a), Xmm(a), Xmm(kCodes));
      vmovd(edx, Xmm(a));
      mov(rcx, arg(&KernelArgs::act_sum));
      sub(edx, dword[rcx + r12 * 4 + t * 4]);
      lea(rdi, ptr[r12 + t]);
      imul(rdi, arg(&KernelArgs::out_stride));
      add(rdi, rax);
      Label to_float, next;
      mov(rcx, arg(&KernelArgs::acc));
      test(rcx, rcx);
      jz(to_float);
      mov(dword[rcx + rdi * 4], edx);
      jmp(next);
      L(to_float);
      vcvtsi2ss(Xmm(kW), Xmm(kW), edx);
      vmulss(Xmm(kW), Xmm(kW), arg(&KernelArgs::w_scale));
      mov(rcx, arg(&KernelArgs::act_scale));
      vdivss(Xmm(kW), Xmm(kW), dword[rcx + r12 * 4 + t * 4]);
      mov(rcx, arg(&KernelArgs::out));
      vmovss(dword[rcx + rdi * 4], Xmm(kW));
      L(next);
    }
    L(skip);
  }
  // rdi held output indices; the next row group recomputes its partial pointer.
}

}  // namespace tern::jit
