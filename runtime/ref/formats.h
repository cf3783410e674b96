// Weight and embedding formats as ggml files store them: codecs between the
// raw bytes of a tensor and canonical ternary values ("trits") or floats, and
// a traits table with one row per supported GgmlType (STYLE.md: ggml type
// traits).
//
// Conventions shared by every function here:
//  - `n` counts elements of one contiguous, row-major run (a row, or a whole
//    tensor flattened); it must be a multiple of the format's block
//    (FormatTraits::block_elems) or the call throws tern::Error.
//  - Trits are int8_t in {-1, 0, +1}, one per element, in element order.
//  - Ternary scales: TQ1_0 / TQ2_0 keep one f16 scale per 256-element block,
//    so `scales` has n / 256 floats (block b covers elements [256b, 256b+256)).
//    I2_S keeps one f32 scale per tensor, so `scales` has exactly 1 float.
//    ternary_scale_count() says which.
//  - Unpacking rejects codes that cannot be a trit (tern::Error naming the
//    element index); packing rejects trits outside {-1, 0, +1} likewise.
//  - Pointers must not overlap. No alignment is required of byte pointers.
//
// Layout facts below were read from llama.cpp ggml/src/ggml-quants.c
// (quantize_row_tq1_0_ref, dequantize_row_tq1_0, quantize_row_tq2_0_ref,
// dequantize_row_tq2_0, dequantize_row_q8_0, dequantize_row_q6_K) and
// ggml-common.h (block structs), and from bitnet.cpp src/ggml-bitnet-mad.cpp
// (quantize_i2_s, x86 path with ACT_PARALLEL, which include/gemm-config.h
// defines) plus its llama.cpp fork's ggml.c (ggml_nbytes, I2_S mul_mat).
#pragma once

#include <cstddef>
#include <cstdint>

#include "runtime/core/ggml_type.h"

namespace tern::ref {

// ---------------------------------------------------------------- block sizes
inline constexpr size_t kTqBlock = 256;       // QK_K: TQ1_0, TQ2_0, Q6_K
inline constexpr size_t kTq2BlockBytes = 66;  // qs[64], f16 d
inline constexpr size_t kTq1BlockBytes = 54;  // qs[48], qh[4], f16 d
inline constexpr size_t kI2sBlock = 128;      // x86 I2_S code block (32 bytes)
inline constexpr size_t kI2sTailBytes = 32;   // after the codes; f32 scale first
inline constexpr size_t kQ8_0Block = 32;
inline constexpr size_t kQ8_0BlockBytes = 34;  // f16 d, int8 qs[32]
inline constexpr size_t kQ6KBlock = 256;
inline constexpr size_t kQ6KBlockBytes = 210;  // ql[128], qh[64], int8 scales[16], f16 d

// ---------------------------------------------------------------- TQ2_0
// Block of 256: qs[64] then f16 d. Code q = trit + 1 (0, 1, 2; 3 is invalid).
// The block is two 128-element chunks; chunk c uses qs[32c .. 32c+32), and
// byte 32c + m holds element 128c + m + 32k in bits 2k..2k+1 (k = 0..3).
// Throws tern::Error on code 3, naming the element.
void unpack_tq2_0(const uint8_t* src, size_t n, int8_t* trits, float* block_scales);
// Scales are stored as f16 (rounded to nearest even).
void pack_tq2_0(const int8_t* trits, const float* block_scales, size_t n, uint8_t* dst);

// ---------------------------------------------------------------- TQ1_0
// Block of 256: qs[48], qh[4], f16 d. Five trits per byte in base 3, first
// element most significant: v = sum_k (trit_k + 1) * 3^(4-k), stored as
// byte = ceil(v * 256 / 243), so that trit k is recovered as
// ((uint8_t)(byte * 3^k) * 3) >> 8 (the byte acts as a fixed-point fraction
// v / 243 and each multiplication by 3 shifts the next trit into the top).
//  - qs[m], m < 32:      elements m + 32k            (k = 0..4; elements 0..159)
//  - qs[32 + m], m < 16: elements 160 + m + 16k      (k = 0..4; elements 160..239)
//  - qh[j], j < 4:       elements 240 + j + 4k       (k = 0..3; the fifth base-3
//                        digit is written as 0, i.e. it would decode as -1, and is unused)
// Every byte value decodes to five trits in {-1, 0, +1}, so there is no
// invalid code to reject: the 13 byte values the encoder never writes, and qh
// bytes whose unused fifth digit is not 0, decode exactly as llama.cpp decodes
// them (rejecting them would mean re-encoding every byte). unpack_tq1_0 never
// throws for bad codes.
void unpack_tq1_0(const uint8_t* src, size_t n, int8_t* trits, float* block_scales);
// Scales are stored as f16 (rounded to nearest even). Output is byte-identical
// to quantize_row_tq1_0_ref given floats trit * scale.
void pack_tq1_0(const int8_t* trits, const float* block_scales, size_t n, uint8_t* dst);

// ---------------------------------------------------------------- I2_S
// bitnet.cpp's x86 layout (n a multiple of 128): n/4 code bytes, then a
// 32-byte tail whose first 4 bytes are the tensor's f32 scale (little endian;
// the rest is ignored on read and zeroed on write). Codes: 0 = -1, 1 = 0,
// 2 = +1. In each 128-element block of 32 bytes, byte j holds elements j,
// 32+j, 64+j, 96+j in bits 7:6, 5:4, 3:2, 1:0. Code 3 is never written by
// quantize_i2_s; bitnet.cpp's kernels compute sum(code * a) - sum(a), so it
// would silently act as +2. Unpack throws tern::Error on it.
// Beware, same type id, other layouts: bitnet.cpp's ARM build writes 64-element
// blocks of 16 bytes, and its x86 build without ACT_PARALLEL interleaves 4 rows
// per byte (row r in bits 7-2r..6-2r). Files from those builds are not
// readable as this format; we read the default x86 build's files.
inline constexpr size_t i2_s_bytes(size_t n) { return n / 4 + kI2sTailBytes; }
float unpack_i2_s(const uint8_t* src, size_t n, int8_t* trits);  // returns the scale
void pack_i2_s(const int8_t* trits, float scale, size_t n, uint8_t* dst);

// ---------------------------------------------------------------- floats
// Dequantisers: raw bytes of n elements -> n floats. Q8_0: d * q per element;
// Q6_K: d * scale * q evaluated as (d * scale) * q like llama.cpp, so results
// match dequantize_row_* bit for bit. Ternary: trit * scale.
void dequantize_f32(const uint8_t* src, size_t n, float* dst);
void dequantize_f16(const uint8_t* src, size_t n, float* dst);
void dequantize_bf16(const uint8_t* src, size_t n, float* dst);
void dequantize_q8_0(const uint8_t* src, size_t n, float* dst);
void dequantize_q6_k(const uint8_t* src, size_t n, float* dst);
void dequantize_tq2_0(const uint8_t* src, size_t n, float* dst);
void dequantize_tq1_0(const uint8_t* src, size_t n, float* dst);
void dequantize_i2_s(const uint8_t* src, size_t n, float* dst);

// Quantisers: n floats -> raw bytes. Deterministic.
//  - F32 copies; F16 / BF16 round to nearest even (fp16.h).
//  - Q8_0 follows llama.cpp's quantize_row_q8_0_ref (and matches it byte for
//    byte): d = amax / 127 (f32), q = roundf(x * (1 / d)), d stored as f16.
//    Error per element is at most ~0.56 d (rounding plus d's f16 rounding)
//    while d is a normal f16 (amax >= ~0.0078); below that d is an f16
//    subnormal and the error grows towards half an f16 subnormal step per q.
//  - Q6_K is a simple absmax quantiser, not llama.cpp's error-minimising
//    search: each 16-element sub-block gets step_j = amax_j / 31, the block's
//    d = max_j step_j / 127 rounded to f16 (one ulp up if rounding fell below),
//    sub-scale sc_j = min(127, ceil(step_j / d)), q = clamp(round(x / (d *
//    sc_j)), -32, 31). Error per element is at most half a step,
//    d * sc_j / 2 <= (amax_j / 31 + d) / 2, for every finite input.
// Q8_0 and Q6_K throw tern::Error on non-finite input; F16 / BF16 convert
// infinities and NaNs as IEEE does.
void quantize_f32(const float* src, size_t n, uint8_t* dst);
void quantize_f16(const float* src, size_t n, uint8_t* dst);
void quantize_bf16(const float* src, size_t n, uint8_t* dst);
void quantize_q8_0(const float* src, size_t n, uint8_t* dst);
void quantize_q6_k(const float* src, size_t n, uint8_t* dst);

// ---------------------------------------------------------------- traits
using ToFloatFn = void (*)(const uint8_t* src, size_t n, float* dst);
using FromFloatFn = void (*)(const float* src, size_t n, uint8_t* dst);
// `scales` follows the ternary convention at the top of this file.
using ToTritsFn = void (*)(const uint8_t* src, size_t n, int8_t* trits, float* scales);
using FromTritsFn = void (*)(const int8_t* trits, const float* scales, size_t n, uint8_t* dst);

struct FormatTraits {
  GgmlType type;
  bool is_ternary;
  size_t block_elems;  // n must be a multiple of this
  size_t block_bytes;  // bytes per block (I2_S: 32 per 128, plus the tail)
  size_t scale_block;  // ternary only: elements per scale (256), or 0 = one per tensor
  ToFloatFn to_float;
  FromFloatFn from_float;  // nullptr where we do not write this type
  ToTritsFn to_trits;      // nullptr for non-ternary types
  FromTritsFn from_trits;  // nullptr for non-ternary types
};

// nullptr for a type without a row (quantised types other than Q8_0 / Q6_K).
const FormatTraits* format_traits(GgmlType type);

// Bytes that n elements occupy in this format (n a multiple of block_elems).
size_t format_bytes(const FormatTraits& f, size_t n);
// Number of floats a to_trits / from_trits `scales` array holds for n elements.
size_t ternary_scale_count(const FormatTraits& f, size_t n);

}  // namespace tern::ref
