// IEEE binary16 (f16) and bfloat16 (bf16) <-> binary32 (f32) conversions.
//
// Header-only and exact: widening is lossless, narrowing rounds to nearest,
// ties to even, in every range (normal, subnormal, overflow to infinity).
// NaNs stay NaNs (quiet, sign and top payload bits kept); infinities stay
// infinities. Pure integer arithmetic on the bit patterns, so results do not
// depend on the FPU's rounding mode or on flush-to-zero / denormals-are-zero
// settings, and match what F16C (vcvtps2ph with round-to-nearest) and
// llama.cpp's GGML_FP32_TO_BF16 produce for non-NaN input.
#pragma once

#include <bit>
#include <cstdint>

namespace tern::ref {

// f16 layout: sign 1 | exponent 5 (bias 15) | mantissa 10.
// f32 layout: sign 1 | exponent 8 (bias 127) | mantissa 23.
constexpr float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0x1f) {
    // Inf or NaN: all-ones exponent, mantissa moved to the top of f32's.
    bits = sign | 0x7f800000u | (mant << 13);
  } else if (exp != 0) {
    // Normal: rebias the exponent by 127 - 15 = 112.
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;  // signed zero
  } else {
    // Subnormal f16 (mant * 2^-24) is a normal f32: shift the leading one up
    // to the implicit-bit position, lowering the exponent once per shift.
    uint32_t e = 113;  // exponent of 2^-14, the f16 subnormal scale, biased for f32
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      --e;
    }
    bits = sign | (e << 23) | ((mant & 0x3ffu) << 13);
  }
  return std::bit_cast<float>(bits);
}

constexpr uint16_t f32_to_f16(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t a = x & 0x7fffffffu;  // magnitude bits
  if (a > 0x7f800000u) {
    // NaN: keep the top 10 payload bits and force the quiet bit, so a
    // payload living only in the low 13 bits cannot turn into infinity.
    return static_cast<uint16_t>(sign | 0x7c00u | 0x200u | ((a >> 13) & 0x3ffu));
  }
  // 65520 = 0x477ff000 is halfway between 65504 (max f16, odd mantissa) and
  // 65536; ties go to even, i.e. up to infinity.
  if (a >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);
  if (a >= 0x38800000u) {
    // Result is a normal f16 (a >= 2^-14). Rebias by 112, drop 13 bits,
    // round to nearest even; a carry out of the mantissa correctly bumps the
    // exponent (and cannot reach infinity given the bound above).
    uint32_t h = (a - 0x38000000u) >> 13;
    const uint32_t rem = a & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
    return static_cast<uint16_t>(sign | h);
  }
  // Result is an f16 subnormal (units of 2^-24) or zero. Anything at or below
  // 2^-25 (0x33000000) rounds to zero: 2^-25 is the tie between 0 and the
  // smallest subnormal and 0 is even.
  if (a <= 0x33000000u) return sign;
  const uint32_t exp = a >> 23;  // 102..112 here
  const uint32_t mant = (a & 0x7fffffu) | 0x800000u;
  // value = mant * 2^(exp - 150) = (mant >> shift) units of 2^-24.
  const uint32_t shift = 126u - exp;  // 14..24
  uint32_t h = mant >> shift;
  const uint32_t rem = mant & ((1u << shift) - 1u);
  const uint32_t half = 1u << (shift - 1u);
  if (rem > half || (rem == half && (h & 1u))) ++h;  // may carry into 0x400, the smallest normal
  return static_cast<uint16_t>(sign | h);
}

// bf16 is the top half of an f32: widening is a shift.
constexpr float bf16_to_f32(uint16_t b) { return std::bit_cast<float>(static_cast<uint32_t>(b) << 16); }

constexpr uint16_t f32_to_bf16(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) {
    // NaN: truncate and force the quiet bit (llama.cpp's GGML_FP32_TO_BF16
    // does the same), so the payload cannot vanish into an infinity.
    return static_cast<uint16_t>((x >> 16) | 0x40u);
  }
  // Round to nearest even on the 16 dropped bits. Carries propagate into the
  // exponent, so the largest finite values correctly round up to infinity
  // and subnormals need no special case.
  const uint32_t rounded = x + 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>(rounded >> 16);
}

}  // namespace tern::ref
