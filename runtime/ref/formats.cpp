#include "runtime/ref/formats.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <string>

#include "runtime/core/error.h"
#include "runtime/ref/fp16.h"

namespace tern::ref {
namespace {

// GGUF data is little endian and so are all hosts we target; multi-byte
// fields are read with memcpy, so no alignment is assumed.
static_assert(std::endian::native == std::endian::little, "formats.cpp assumes a little-endian host");

uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
void store_u16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, sizeof v); }
float load_f16(const uint8_t* p) { return f16_to_f32(load_u16(p)); }
void store_f16(uint8_t* p, float f) { store_u16(p, f32_to_f16(f)); }

void require_multiple(const char* what, size_t n, size_t block) {
  if (n % block != 0)
    throw Error(std::string(what) + ": element count " + std::to_string(n) +
                " is not a multiple of the block size " + std::to_string(block));
}

[[noreturn]] void bad_code(const char* what, size_t element, unsigned code) {
  throw Error(std::string(what) + ": element " + std::to_string(element) + " has invalid code " +
              std::to_string(code) + " (not a ternary value)");
}

[[noreturn]] void bad_trit(const char* what, size_t element, int value) {
  throw Error(std::string(what) + ": element " + std::to_string(element) + " is " + std::to_string(value) +
              ", expected -1, 0 or +1");
}

// trit + 1, checked: the 2-bit / base-3 digit every ternary format stores.
unsigned trit_digit(const char* what, const int8_t* trits, size_t i) {
  const int t = trits[i];
  if (t < -1 || t > 1) bad_trit(what, i, t);
  return static_cast<unsigned>(t + 1);
}

void require_finite(const char* what, const float* x, size_t n, size_t base) {
  for (size_t i = 0; i < n; ++i)
    if (!std::isfinite(x[i]))
      throw Error(std::string(what) + ": element " + std::to_string(base + i) + " is not finite");
}

// ---------------------------------------------------------------- TQ2_0
// ggml-quants.c quantize_row_tq2_0_ref / dequantize_row_tq2_0:
// byte 32c + m, bits 2k..2k+1  <->  element 128c + 32k + m.
constexpr size_t kTq2QsBytes = 64;

void tq2_block_to_trits(const uint8_t* blk, size_t base, int8_t* out) {
  // Decoded first and checked after, so the loop has no exit and compiles to vector code
  // (model loading decodes every weight through here).
  unsigned bad = 0;
  for (size_t c = 0; c < 2; ++c) {
    for (size_t k = 0; k < 4; ++k) {
      for (size_t m = 0; m < 32; ++m) {
        const unsigned code = (blk[32 * c + m] >> (2 * k)) & 3u;
        bad |= code == 3;
        out[128 * c + 32 * k + m] = static_cast<int8_t>(static_cast<int>(code) - 1);
      }
    }
  }
  if (!bad) return;
  for (size_t e = 0; e < kTqBlock; ++e)  // the first bad element, as the message names it
    if (out[e] == 2) bad_code("TQ2_0", base + e, 3);
}

// ---------------------------------------------------------------- TQ1_0
// ggml-quants.c quantize_row_tq1_0_ref / dequantize_row_tq1_0.
constexpr size_t kTq1QsBytes = 48;
constexpr size_t kTq1QhBytes = 4;
constexpr std::array<uint8_t, 5> kPow3 = {1, 3, 9, 27, 81};

// Trit k (0 = most significant) of a packed byte, as -1/0/+1. The uint8_t
// product deliberately wraps: it discards the trits above k.
int8_t tq1_trit(uint8_t byte, size_t k) {
  const uint8_t q = static_cast<uint8_t>(byte * kPow3[k]);
  return static_cast<int8_t>(((static_cast<unsigned>(q) * 3u) >> 8) - 1);
}

// v in [0, 243) -> ceil(v * 256 / 243), which the decoder above inverts.
uint8_t tq1_encode(unsigned v) { return static_cast<uint8_t>((v * 256u + 242u) / 243u); }

// For element e of a block: (byte index within the 52 code bytes, trit index).
// Packing goes through this map; unpacking walks its three regions in loops
// (tq1_block_to_trits), and RefFormats' TQ1_0 tests check every pattern both ways.
struct Tq1Slot {
  uint8_t byte;
  uint8_t trit;
};
constexpr std::array<Tq1Slot, 256> make_tq1_map() {
  std::array<Tq1Slot, 256> map{};
  for (size_t m = 0; m < 32; ++m)
    for (size_t k = 0; k < 5; ++k) map[m + 32 * k] = {static_cast<uint8_t>(m), static_cast<uint8_t>(k)};
  for (size_t m = 0; m < 16; ++m)
    for (size_t k = 0; k < 5; ++k)
      map[160 + m + 16 * k] = {static_cast<uint8_t>(32 + m), static_cast<uint8_t>(k)};
  for (size_t j = 0; j < 4; ++j)
    for (size_t k = 0; k < 4; ++k)
      map[240 + j + 4 * k] = {static_cast<uint8_t>(48 + j), static_cast<uint8_t>(k)};
  return map;
}
constexpr std::array<Tq1Slot, 256> kTq1Map = make_tq1_map();

// kTq1Map's three regions as loops over consecutive bytes for each trit index, which compile to
// vector code (model loading decodes every weight through here).
void tq1_block_to_trits(const uint8_t* blk, int8_t* out) {
  for (size_t k = 0; k < 5; ++k)
    for (size_t m = 0; m < 32; ++m) out[m + 32 * k] = tq1_trit(blk[m], k);
  for (size_t k = 0; k < 5; ++k)
    for (size_t m = 0; m < 16; ++m) out[160 + m + 16 * k] = tq1_trit(blk[32 + m], k);
  for (size_t k = 0; k < 4; ++k)
    for (size_t j = 0; j < 4; ++j) out[240 + j + 4 * k] = tq1_trit(blk[48 + j], k);
}

// ---------------------------------------------------------------- I2_S
// bitnet.cpp src/ggml-bitnet-mad.cpp quantize_i2_s (x86, ACT_PARALLEL):
// byte 32b + j, bits (6 - 2g)..(7 - 2g)  <->  element 128b + 32g + j.
void i2s_block_to_trits(const uint8_t* blk, size_t base, int8_t* out) {
  unsigned bad = 0;  // checked after the loop, which then compiles to vector code
  for (size_t g = 0; g < 4; ++g) {
    const unsigned shift = 6 - 2 * static_cast<unsigned>(g);
    for (size_t j = 0; j < 32; ++j) {
      const unsigned code = (blk[j] >> shift) & 3u;
      bad |= code == 3;
      out[32 * g + j] = static_cast<int8_t>(static_cast<int>(code) - 1);
    }
  }
  if (!bad) return;
  for (size_t e = 0; e < kI2sBlock; ++e)  // the first bad element, as the message names it
    if (out[e] == 2) bad_code("I2_S", base + e, 3);
}

float i2s_scale(const uint8_t* src, size_t n) {
  float s;
  std::memcpy(&s, src + n / 4, sizeof s);
  return s;
}

// ---------------------------------------------------------------- Q6_K
// ggml-common.h block_q6_K and ggml-quants.c dequantize_row_q6_K. The block
// is two halves of 128 elements; half h uses ql[64h .. 64h+64),
// qh[32h .. 32h+32). For l < 32, within the half:
//   element l      : low nibble  of ql[l],      qh[l] bits 0..1
//   element l + 32 : low nibble  of ql[l + 32], qh[l] bits 2..3
//   element l + 64 : high nibble of ql[l],      qh[l] bits 4..5
//   element l + 96 : high nibble of ql[l + 32], qh[l] bits 6..7
// The 6-bit value minus 32 is q in [-32, 31]; element e of the block uses
// scales[e / 16].
constexpr size_t kQ6QlOff = 0, kQ6QhOff = 128, kQ6ScOff = 192, kQ6DOff = 208;

// Location of element e (0..255) of a Q6_K block.
struct Q6Slot {
  size_t ql;     // byte offset of its low 4 bits
  unsigned lsh;  // 0 (low nibble) or 4 (high nibble)
  size_t qh;     // byte offset of its high 2 bits
  unsigned hsh;  // 0, 2, 4 or 6
};
Q6Slot q6_slot(size_t e) {
  const size_t h = e / 128, r = e % 128, quarter = r / 32, l = r % 32;
  return {kQ6QlOff + 64 * h + l + 32 * (quarter & 1), 4u * static_cast<unsigned>(quarter >> 1),
          kQ6QhOff + 32 * h + l, 2u * static_cast<unsigned>(quarter)};
}

}  // namespace

// ================================================================ ternary codecs

void unpack_tq2_0(const uint8_t* src, size_t n, int8_t* trits, float* block_scales) {
  require_multiple("TQ2_0", n, kTqBlock);
  for (size_t b = 0; b < n / kTqBlock; ++b) {
    const uint8_t* blk = src + b * kTq2BlockBytes;
    tq2_block_to_trits(blk, b * kTqBlock, trits + b * kTqBlock);
    block_scales[b] = load_f16(blk + kTq2QsBytes);
  }
}

void pack_tq2_0(const int8_t* trits, const float* block_scales, size_t n, uint8_t* dst) {
  require_multiple("TQ2_0", n, kTqBlock);
  for (size_t b = 0; b < n / kTqBlock; ++b) {
    uint8_t* blk = dst + b * kTq2BlockBytes;
    const size_t base = b * kTqBlock;
    std::memset(blk, 0, kTq2QsBytes);
    for (size_t e = 0; e < kTqBlock; ++e) {
      const size_t c = e / 128, k = (e % 128) / 32, m = e % 32;
      blk[32 * c + m] |= static_cast<uint8_t>(trit_digit("TQ2_0", trits, base + e) << (2 * k));
    }
    store_f16(blk + kTq2QsBytes, block_scales[b]);
  }
}

void unpack_tq1_0(const uint8_t* src, size_t n, int8_t* trits, float* block_scales) {
  require_multiple("TQ1_0", n, kTqBlock);
  for (size_t b = 0; b < n / kTqBlock; ++b) {
    const uint8_t* blk = src + b * kTq1BlockBytes;
    tq1_block_to_trits(blk, trits + b * kTqBlock);
    block_scales[b] = load_f16(blk + kTq1QsBytes + kTq1QhBytes);
  }
}

void pack_tq1_0(const int8_t* trits, const float* block_scales, size_t n, uint8_t* dst) {
  require_multiple("TQ1_0", n, kTqBlock);
  for (size_t b = 0; b < n / kTqBlock; ++b) {
    uint8_t* blk = dst + b * kTq1BlockBytes;
    const size_t base = b * kTqBlock;
    // Accumulate each byte's base-3 value: trit k contributes digit * 3^(4-k).
    // qh bytes carry only trits 0..3, leaving the least significant digit 0
    // (llama.cpp's "shift the first value to the most significant trit").
    std::array<unsigned, kTq1QsBytes + kTq1QhBytes> v{};
    constexpr std::array<unsigned, 5> weight = {81, 27, 9, 3, 1};
    for (size_t e = 0; e < kTqBlock; ++e)
      v[kTq1Map[e].byte] += trit_digit("TQ1_0", trits, base + e) * weight[kTq1Map[e].trit];
    for (size_t i = 0; i < v.size(); ++i) blk[i] = tq1_encode(v[i]);
    store_f16(blk + kTq1QsBytes + kTq1QhBytes, block_scales[b]);
  }
}

float unpack_i2_s(const uint8_t* src, size_t n, int8_t* trits) {
  require_multiple("I2_S", n, kI2sBlock);
  for (size_t b = 0; b < n / kI2sBlock; ++b)
    i2s_block_to_trits(src + b * 32, b * kI2sBlock, trits + b * kI2sBlock);
  return i2s_scale(src, n);
}

void pack_i2_s(const int8_t* trits, float scale, size_t n, uint8_t* dst) {
  require_multiple("I2_S", n, kI2sBlock);
  std::memset(dst, 0, i2_s_bytes(n));
  for (size_t e = 0; e < n; ++e) {
    const size_t b = e / kI2sBlock, g = (e % kI2sBlock) / 32, j = e % 32;
    dst[32 * b + j] |= static_cast<uint8_t>(trit_digit("I2_S", trits, e) << (6 - 2 * g));
  }
  std::memcpy(dst + n / 4, &scale, sizeof scale);
}

// ================================================================ dequantisers

void dequantize_f32(const uint8_t* src, size_t n, float* dst) { std::memcpy(dst, src, n * sizeof(float)); }

void dequantize_f16(const uint8_t* src, size_t n, float* dst) {
  for (size_t i = 0; i < n; ++i) dst[i] = load_f16(src + 2 * i);
}

void dequantize_bf16(const uint8_t* src, size_t n, float* dst) {
  for (size_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(load_u16(src + 2 * i));
}

void dequantize_q8_0(const uint8_t* src, size_t n, float* dst) {
  require_multiple("Q8_0", n, kQ8_0Block);
  for (size_t b = 0; b < n / kQ8_0Block; ++b) {
    const uint8_t* blk = src + b * kQ8_0BlockBytes;
    const float d = load_f16(blk);
    const auto* qs = reinterpret_cast<const int8_t*>(blk + 2);
    for (size_t j = 0; j < kQ8_0Block; ++j) dst[b * kQ8_0Block + j] = static_cast<float>(qs[j]) * d;
  }
}

void dequantize_q6_k(const uint8_t* src, size_t n, float* dst) {
  require_multiple("Q6_K", n, kQ6KBlock);
  for (size_t b = 0; b < n / kQ6KBlock; ++b) {
    const uint8_t* blk = src + b * kQ6KBlockBytes;
    const float d = load_f16(blk + kQ6DOff);
    const auto* sc = reinterpret_cast<const int8_t*>(blk + kQ6ScOff);
    for (size_t e = 0; e < kQ6KBlock; ++e) {
      const Q6Slot s = q6_slot(e);
      const int q = static_cast<int>(((blk[s.ql] >> s.lsh) & 0xfu) | (((blk[s.qh] >> s.hsh) & 3u) << 4)) - 32;
      // (d * scale) * q, the association llama.cpp uses.
      dst[b * kQ6KBlock + e] = d * static_cast<float>(sc[e / 16]) * static_cast<float>(q);
    }
  }
}

void dequantize_tq2_0(const uint8_t* src, size_t n, float* dst) {
  require_multiple("TQ2_0", n, kTqBlock);
  int8_t t[kTqBlock];
  for (size_t b = 0; b < n / kTqBlock; ++b) {
    const uint8_t* blk = src + b * kTq2BlockBytes;
    tq2_block_to_trits(blk, b * kTqBlock, t);
    const float d = load_f16(blk + kTq2QsBytes);
    for (size_t e = 0; e < kTqBlock; ++e) dst[b * kTqBlock + e] = static_cast<float>(t[e]) * d;
  }
}

void dequantize_tq1_0(const uint8_t* src, size_t n, float* dst) {
  require_multiple("TQ1_0", n, kTqBlock);
  int8_t t[kTqBlock];
  for (size_t b = 0; b < n / kTqBlock; ++b) {
    const uint8_t* blk = src + b * kTq1BlockBytes;
    tq1_block_to_trits(blk, t);
    const float d = load_f16(blk + kTq1QsBytes + kTq1QhBytes);
    for (size_t e = 0; e < kTqBlock; ++e) dst[b * kTqBlock + e] = static_cast<float>(t[e]) * d;
  }
}

void dequantize_i2_s(const uint8_t* src, size_t n, float* dst) {
  require_multiple("I2_S", n, kI2sBlock);
  const float s = i2s_scale(src, n);
  int8_t t[kI2sBlock];
  for (size_t b = 0; b < n / kI2sBlock; ++b) {
    i2s_block_to_trits(src + b * 32, b * kI2sBlock, t);
    for (size_t e = 0; e < kI2sBlock; ++e) dst[b * kI2sBlock + e] = static_cast<float>(t[e]) * s;
  }
}

// ================================================================ quantisers

void quantize_f32(const float* src, size_t n, uint8_t* dst) { std::memcpy(dst, src, n * sizeof(float)); }

void quantize_f16(const float* src, size_t n, uint8_t* dst) {
  for (size_t i = 0; i < n; ++i) store_f16(dst + 2 * i, src[i]);
}

void quantize_bf16(const float* src, size_t n, uint8_t* dst) {
  for (size_t i = 0; i < n; ++i) store_u16(dst + 2 * i, f32_to_bf16(src[i]));
}

void quantize_q8_0(const float* src, size_t n, uint8_t* dst) {
  require_multiple("Q8_0", n, kQ8_0Block);
  for (size_t b = 0; b < n / kQ8_0Block; ++b) {
    const float* x = src + b * kQ8_0Block;
    uint8_t* blk = dst + b * kQ8_0BlockBytes;
    require_finite("Q8_0", x, kQ8_0Block, b * kQ8_0Block);
    float amax = 0.0f;
    for (size_t j = 0; j < kQ8_0Block; ++j) amax = std::max(amax, std::fabs(x[j]));
    // As quantize_row_q8_0_ref: the f32 d (not its f16 rounding) sets q.
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const uint16_t d16 = f32_to_f16(d);
    if ((d16 & 0x7c00u) == 0x7c00u)
      throw Error("Q8_0: block " + std::to_string(b) + " has absmax " + std::to_string(amax) +
                  ", too large for an f16 scale");
    store_u16(blk, d16);
    for (size_t j = 0; j < kQ8_0Block; ++j) {
      // |x * id| <= 127 up to one rounding, so roundf stays in int8 range.
      const float q = std::round(x[j] * id);
      blk[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(std::clamp(q, -127.0f, 127.0f)));
    }
  }
}

void quantize_q6_k(const float* src, size_t n, uint8_t* dst) {
  require_multiple("Q6_K", n, kQ6KBlock);
  for (size_t b = 0; b < n / kQ6KBlock; ++b) {
    const float* x = src + b * kQ6KBlock;
    uint8_t* blk = dst + b * kQ6KBlockBytes;
    require_finite("Q6_K", x, kQ6KBlock, b * kQ6KBlock);

    // Step per 16-element sub-block so that its absmax maps to 31 (q stays
    // symmetric; -32 is left unused, which keeps the quantiser simple).
    std::array<float, 16> step{};
    float max_step = 0.0f;
    for (size_t j = 0; j < 16; ++j) {
      float amax = 0.0f;
      for (size_t i = 0; i < 16; ++i) amax = std::max(amax, std::fabs(x[16 * j + i]));
      step[j] = amax / 31.0f;
      max_step = std::max(max_step, step[j]);
    }
    uint16_t d16 = f32_to_f16(max_step / 127.0f);
    // d must satisfy 127 * d >= max_step so that every sub-scale fits in
    // 127; f16 rounding (coarse for the subnormal d of blocks with absmax
    // below ~0.24) can land just under, so step up one f16 ulp then.
    if (127.0f * f16_to_f32(d16) < max_step) ++d16;
    if ((d16 & 0x7c00u) == 0x7c00u)
      throw Error("Q6_K: block " + std::to_string(b) + " is too large for an f16 scale");
    const float d = f16_to_f32(d16);  // quantise against the stored d

    std::memset(blk, 0, kQ6KBlockBytes);
    store_u16(blk + kQ6DOff, d16);
    for (size_t j = 0; j < 16; ++j) {
      // ceil keeps d * sc >= step, so |x| / (d * sc) <= 31 up to one
      // rounding and q never clamps by more than that; the cap at 127 only
      // absorbs the same last-bit rounding of step / d.
      const float sc = d > 0.0f ? std::min(127.0f, std::ceil(step[j] / d)) : 0.0f;
      blk[kQ6ScOff + j] = static_cast<uint8_t>(static_cast<int8_t>(sc));
      const float sub = d * sc;
      const float inv = sub > 0.0f ? 1.0f / sub : 0.0f;
      for (size_t i = 0; i < 16; ++i) {
        const size_t e = 16 * j + i;
        const int q = static_cast<int>(std::clamp(std::round(x[e] * inv), -32.0f, 31.0f));
        const unsigned u = static_cast<unsigned>(q + 32);  // 0..63
        const Q6Slot s = q6_slot(e);
        blk[s.ql] |= static_cast<uint8_t>((u & 0xfu) << s.lsh);
        blk[s.qh] |= static_cast<uint8_t>((u >> 4) << s.hsh);
      }
    }
  }
}

// ================================================================ traits

namespace {

void tq2_to_trits(const uint8_t* src, size_t n, int8_t* trits, float* scales) {
  unpack_tq2_0(src, n, trits, scales);
}
void tq2_from_trits(const int8_t* trits, const float* scales, size_t n, uint8_t* dst) {
  pack_tq2_0(trits, scales, n, dst);
}
void tq1_to_trits(const uint8_t* src, size_t n, int8_t* trits, float* scales) {
  unpack_tq1_0(src, n, trits, scales);
}
void tq1_from_trits(const int8_t* trits, const float* scales, size_t n, uint8_t* dst) {
  pack_tq1_0(trits, scales, n, dst);
}
void i2s_to_trits(const uint8_t* src, size_t n, int8_t* trits, float* scales) {
  scales[0] = unpack_i2_s(src, n, trits);
}
void i2s_from_trits(const int8_t* trits, const float* scales, size_t n, uint8_t* dst) {
  pack_i2_s(trits, scales[0], n, dst);
}

// One row per format; a new format is one line.
// clang-format off
constexpr std::array<FormatTraits, 8> kFormats = {{
    // type, ternary, block elems, block bytes, scale block, to_float, from_float, to_trits, from_trits
    {GgmlType::F32,   false, 1,   4,   0,   dequantize_f32,   quantize_f32,  nullptr,      nullptr},
    {GgmlType::F16,   false, 1,   2,   0,   dequantize_f16,   quantize_f16,  nullptr,      nullptr},
    {GgmlType::BF16,  false, 1,   2,   0,   dequantize_bf16,  quantize_bf16, nullptr,      nullptr},
    {GgmlType::Q8_0,  false, 32,  34,  0,   dequantize_q8_0,  quantize_q8_0, nullptr,      nullptr},
    {GgmlType::Q6_K,  false, 256, 210, 0,   dequantize_q6_k,  quantize_q6_k, nullptr,      nullptr},
    {GgmlType::TQ2_0, true,  256, 66,  256, dequantize_tq2_0, nullptr,       tq2_to_trits, tq2_from_trits},
    {GgmlType::TQ1_0, true,  256, 54,  256, dequantize_tq1_0, nullptr,       tq1_to_trits, tq1_from_trits},
    {GgmlType::I2_S,  true,  128, 32,  0,   dequantize_i2_s,  nullptr,       i2s_to_trits, i2s_from_trits},
}};
// clang-format on

}  // namespace

const FormatTraits* format_traits(GgmlType type) {
  for (const FormatTraits& f : kFormats)
    if (f.type == type) return &f;
  return nullptr;
}

size_t format_bytes(const FormatTraits& f, size_t n) {
  require_multiple(ggml_type_name(f.type).data(), n, f.block_elems);
  const size_t codes = n / f.block_elems * f.block_bytes;
  return f.type == GgmlType::I2_S ? codes + kI2sTailBytes : codes;
}

size_t ternary_scale_count(const FormatTraits& f, size_t n) {
  if (!f.is_ternary) return 0;
  return f.scale_block == 0 ? 1 : n / f.scale_block;
}

}  // namespace tern::ref
