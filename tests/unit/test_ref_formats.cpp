// Tests for runtime/ref/formats.h and fp16.h: exact ternary round trips,
// hand-computed bytes that pin each layout, f16/bf16 exactness, Q8_0 / Q6_K
// dequantisation of hand-built blocks and quantiser error bounds.
#include <gtest/gtest.h>

#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "runtime/core/error.h"
#include "runtime/core/ggml_type.h"
#include "runtime/ref/formats.h"
#include "runtime/ref/fp16.h"

namespace tern::ref {
namespace {

using Bytes = std::vector<uint8_t>;

// ---------------------------------------------------------------- helpers

// Value of an f16 bit pattern computed independently of fp16.h (ldexp in
// double), for finite patterns only.
double f16_value(uint16_t h) {
  const int s = h >> 15, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  const double mag = e == 0 ? std::ldexp(m, -24) : std::ldexp(1024 + m, e - 25);
  return s ? -mag : mag;
}
bool f16_is_nan(uint16_t h) { return (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0; }

std::vector<int8_t> random_trits(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(-1, 1);
  std::vector<int8_t> t(n);
  for (auto& v : t) v = static_cast<int8_t>(dist(rng));
  return t;
}

// Expect `f` to throw tern::Error whose message contains `needle`.
template <class F>
void expect_error_mentioning(F&& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "expected tern::Error mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

// ================================================================ f16 / bf16

TEST(RefFp16, EveryF16PatternWidensExactlyAndNarrowsBack) {
  for (uint32_t i = 0; i < 65536; ++i) {
    const auto h = static_cast<uint16_t>(i);
    const float f = f16_to_f32(h);
    if (f16_is_nan(h)) {
      ASSERT_TRUE(std::isnan(f)) << std::hex << i;
      const uint16_t back = f32_to_f16(f);
      ASSERT_TRUE(f16_is_nan(back)) << std::hex << i;
      // Sign and payload kept, quiet bit forced.
      ASSERT_EQ(back, h | 0x200) << std::hex << i;
      continue;
    }
    if ((h & 0x7c00) == 0x7c00) {
      ASSERT_TRUE(std::isinf(f)) << std::hex << i;
      ASSERT_EQ(std::signbit(f), (h & 0x8000) != 0);
    } else {
      ASSERT_EQ(static_cast<double>(f), f16_value(h)) << std::hex << i;
      ASSERT_EQ(std::signbit(f), (h & 0x8000) != 0) << std::hex << i;
    }
    ASSERT_EQ(f32_to_f16(f), h) << std::hex << i;
  }
}

// For every pair of adjacent finite f16 values: the exact midpoint rounds to
// the even one, and one f32 ulp either side rounds to the nearer one. This
// covers every rounding boundary, subnormals and the normal/subnormal seam.
TEST(RefFp16, F32ToF16RoundsToNearestEvenAtEveryBoundary) {
  for (uint32_t sign : {0u, 0x8000u}) {
    for (uint32_t mag = 0; mag < 0x7bff; ++mag) {
      const auto lo = static_cast<uint16_t>(sign | mag), hi = static_cast<uint16_t>(sign | (mag + 1));
      const double mid = (f16_value(lo) + f16_value(hi)) / 2;
      const float fmid = static_cast<float>(mid);
      ASSERT_EQ(static_cast<double>(fmid), mid);  // midpoints need 12 bits: exact in f32
      const uint16_t even = (lo & 1) ? hi : lo;
      ASSERT_EQ(f32_to_f16(fmid), even) << std::hex << lo;
      const float toward_lo = std::nextafter(fmid, 0.0f);
      const float toward_hi = std::nextafter(fmid, sign ? -INFINITY : INFINITY);
      ASSERT_EQ(f32_to_f16(toward_lo), lo) << std::hex << lo;
      ASSERT_EQ(f32_to_f16(toward_hi), hi) << std::hex << lo;
    }
  }
}

TEST(RefFp16, F32ToF16OverflowUnderflowAndSpecials) {
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);
  EXPECT_EQ(f32_to_f16(std::nextafter(65520.0f, 0.0f)), 0x7bff);
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);  // tie with 65536: even = infinity
  EXPECT_EQ(f32_to_f16(-1e10f), 0xfc00);
  EXPECT_EQ(f32_to_f16(INFINITY), 0x7c00);
  EXPECT_EQ(f32_to_f16(-INFINITY), 0xfc00);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);  // tie with 2^-24: even = 0
  EXPECT_EQ(f32_to_f16(std::nextafter(std::ldexp(1.0f, -25), 1.0f)), 0x0001);
  EXPECT_EQ(f32_to_f16(-std::ldexp(1.0f, -24)), 0x8001);
  EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::denorm_min()), 0x0000);
  EXPECT_EQ(f32_to_f16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(f32_to_f16(0.1f), 0x2e66);
  // A NaN whose payload sits only in the low 13 bits must stay a NaN.
  EXPECT_TRUE(f16_is_nan(f32_to_f16(std::bit_cast<float>(0x7f800001u))));
}

#if defined(__aarch64__)
// g++ 12 has no C++ _Float16 on aarch64; __fp16 is IEEE binary16 there (FCVT, nearest-even).
using CompilerF16 = __fp16;
#define TERN_COMPILER_F16 1
#elif defined(__FLT16_MAX__)
using CompilerF16 = _Float16;
#define TERN_COMPILER_F16 1
#endif
#ifdef TERN_COMPILER_F16
// Cross-check against the compiler's own _Float16 conversion on a spread of
// f32 bit patterns (every exponent, many mantissas).
TEST(RefFp16, F32ToF16MatchesCompilerFloat16) {
  for (uint64_t bits = 0; bits <= 0xffffffffu; bits += 4093) {
    const float f = std::bit_cast<float>(static_cast<uint32_t>(bits));
    if (std::isnan(f)) continue;
    const CompilerF16 c = static_cast<CompilerF16>(f);
    ASSERT_EQ(f32_to_f16(f), std::bit_cast<uint16_t>(c)) << std::hex << bits;
  }
}
#endif

TEST(RefFp16, EveryBf16PatternRoundTripsAndTiesGoToEven) {
  for (uint32_t i = 0; i < 65536; ++i) {
    const auto b = static_cast<uint16_t>(i);
    const float f = bf16_to_f32(b);
    ASSERT_EQ(std::bit_cast<uint32_t>(f), i << 16);
    if (std::isnan(f)) {
      ASSERT_EQ(f32_to_bf16(f), b | 0x40) << std::hex << i;
      continue;
    }
    ASSERT_EQ(f32_to_bf16(f), b) << std::hex << i;
    if ((i & 0x7fff) >= 0x7f80) continue;  // no finite neighbour above infinity
    // Midpoint to the next pattern away from zero: its low 16 bits are 0x8000.
    const uint32_t mid = (i << 16) | 0x8000u;
    const uint16_t even = (b & 1) ? static_cast<uint16_t>(b + 1) : b;
    ASSERT_EQ(f32_to_bf16(std::bit_cast<float>(mid)), even) << std::hex << i;
    ASSERT_EQ(f32_to_bf16(std::bit_cast<float>(mid - 1)), b) << std::hex << i;
    ASSERT_EQ(f32_to_bf16(std::bit_cast<float>(mid + 1)), static_cast<uint16_t>(b + 1)) << std::hex << i;
  }
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::max()), 0x7f80);  // overflows to inf
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x7f800001u)), 0x7fc0);  // NaN stays NaN
}

// ================================================================ traits

TEST(RefFormats, TraitsTableAgreesWithGgmlTypeInfo) {
  for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0, GgmlType::Q6_K,
                     GgmlType::TQ2_0, GgmlType::TQ1_0, GgmlType::I2_S}) {
    SCOPED_TRACE(std::string(ggml_type_name(t)));
    const FormatTraits* f = format_traits(t);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->type, t);
    EXPECT_NE(f->to_float, nullptr);
    EXPECT_EQ(f->is_ternary, f->to_trits != nullptr);
    EXPECT_EQ(f->is_ternary, f->from_trits != nullptr);
    EXPECT_EQ(f->is_ternary, f->from_float == nullptr);
    // Bytes of a 2 x 1024 tensor agree with the core size function.
    const std::array<uint64_t, 2> ne = {1024, 2};
    EXPECT_EQ(format_bytes(*f, 2048), *ggml_tensor_bytes(t, ne));
  }
  EXPECT_EQ(format_traits(GgmlType::Q4_0), nullptr);
  EXPECT_EQ(format_traits(GgmlType::Q4_K), nullptr);
  EXPECT_EQ(format_bytes(*format_traits(GgmlType::TQ2_0), 512), 132u);
  EXPECT_EQ(format_bytes(*format_traits(GgmlType::TQ1_0), 512), 108u);
  EXPECT_EQ(format_bytes(*format_traits(GgmlType::I2_S), 256), 96u);
  EXPECT_EQ(ternary_scale_count(*format_traits(GgmlType::TQ1_0), 1024), 4u);
  EXPECT_EQ(ternary_scale_count(*format_traits(GgmlType::I2_S), 1024), 1u);
  EXPECT_THROW(format_bytes(*format_traits(GgmlType::Q8_0), 33), Error);
}

// ================================================================ ternary round trips

struct TernaryCase {
  GgmlType type;
  size_t n;
};

class RefTernaryRoundTrip : public ::testing::TestWithParam<TernaryCase> {
 protected:
  // Pack trits through the traits table, unpack, expect identical trits and
  // scales; also check to_float against trit * scale.
  void round_trip(const std::vector<int8_t>& trits) {
    const FormatTraits& f = *format_traits(GetParam().type);
    const size_t n = trits.size();
    std::vector<float> scales(ternary_scale_count(f, n));
    for (size_t i = 0; i < scales.size(); ++i) scales[i] = 0.5f + 0.25f * static_cast<float>(i);  // f16-exact
    Bytes bytes(format_bytes(f, n), 0xcd);
    f.from_trits(trits.data(), scales.data(), n, bytes.data());

    std::vector<int8_t> back(n, 99);
    std::vector<float> back_scales(scales.size(), -1.0f);
    f.to_trits(bytes.data(), n, back.data(), back_scales.data());
    ASSERT_EQ(back, trits);
    ASSERT_EQ(back_scales, scales);

    std::vector<float> deq(n);
    f.to_float(bytes.data(), n, deq.data());
    for (size_t i = 0; i < n; ++i) {
      const float s = f.scale_block ? scales[i / f.scale_block] : scales[0];
      ASSERT_EQ(deq[i], static_cast<float>(trits[i]) * s) << "element " << i;
    }
  }
};

TEST_P(RefTernaryRoundTrip, RandomTrits) {
  for (uint32_t seed : {1u, 42u, 20240607u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    round_trip(random_trits(GetParam().n, seed));
  }
}

TEST_P(RefTernaryRoundTrip, ConstantTrits) {
  for (int v : {0, 1, -1}) {
    SCOPED_TRACE("all " + std::to_string(v));
    round_trip(std::vector<int8_t>(GetParam().n, static_cast<int8_t>(v)));
  }
}

TEST_P(RefTernaryRoundTrip, PackRejectsNonTernaryValues) {
  const FormatTraits& f = *format_traits(GetParam().type);
  std::vector<int8_t> trits(GetParam().n, 0);
  trits[77] = 2;
  std::vector<float> scales(ternary_scale_count(f, trits.size()), 1.0f);
  Bytes bytes(format_bytes(f, trits.size()));
  expect_error_mentioning([&] { f.from_trits(trits.data(), scales.data(), trits.size(), bytes.data()); },
                          "element 77");
}

TEST_P(RefTernaryRoundTrip, RejectsCountsNotAMultipleOfTheBlock) {
  const FormatTraits& f = *format_traits(GetParam().type);
  const size_t n = GetParam().n + 64;
  std::vector<int8_t> trits(n, 0);
  std::vector<float> scales(n, 1.0f), deq(n);
  Bytes bytes(2 * n);
  EXPECT_THROW(f.from_trits(trits.data(), scales.data(), n, bytes.data()), Error);
  EXPECT_THROW(f.to_trits(bytes.data(), n, trits.data(), scales.data()), Error);
  EXPECT_THROW(f.to_float(bytes.data(), n, deq.data()), Error);
}

INSTANTIATE_TEST_SUITE_P(RefFormats, RefTernaryRoundTrip,
                         ::testing::Values(TernaryCase{GgmlType::TQ2_0, 256 * 5},
                                           TernaryCase{GgmlType::TQ1_0, 256 * 5},
                                           TernaryCase{GgmlType::I2_S, 128 * 7}),
                         [](const auto& info) { return std::string(ggml_type_name(info.param.type)); });

// Code 3 (a 2-bit code that is no trit) in two places: decoding names the first. (TQ1_0's
// base-3 bytes have no invalid value: every byte decodes to five trits, tested below.)
TEST(RefFormats, UnpackNamesTheFirstInvalidCode) {
  for (const TernaryCase c : {TernaryCase{GgmlType::TQ2_0, 256 * 5}, TernaryCase{GgmlType::I2_S, 128 * 7}}) {
    SCOPED_TRACE(ggml_type_name(c.type));
    const FormatTraits& f = *format_traits(c.type);
    const size_t n = c.n;
    std::vector<int8_t> trits(n, 0), out(n);
    std::vector<float> scales(ternary_scale_count(f, n), 1.0f);
    Bytes zeros(format_bytes(f, n));
    f.from_trits(trits.data(), scales.data(), n, zeros.data());
    Bytes bytes = zeros;
    // Element e's two bits: where encoding a lone +1 there (code 2 = 0b10 instead of 0b01)
    // differs from all zeros; setting both makes code 3.
    auto poison = [&](size_t e) {
      std::vector<int8_t> one(n, 0);
      one[e] = 1;
      Bytes marked(zeros.size());
      f.from_trits(one.data(), scales.data(), n, marked.data());
      for (size_t i = 0; i < bytes.size(); ++i) bytes[i] |= static_cast<uint8_t>(marked[i] ^ zeros[i]);
    };
    poison(n - 3);
    poison(300);
    expect_error_mentioning([&] { f.to_trits(bytes.data(), n, out.data(), scales.data()); },
                            "element 300 has invalid code 3");
  }
}


// ================================================================ TQ2_0 layout

TEST(RefFormats, Tq2_0BytesPinTheLayout) {
  std::vector<int8_t> trits(512, 0);
  trits[33] = 1;    // chunk 0, byte 1, bits 2..3
  trits[200] = -1;  // chunk 1 (128..255): 200 = 128 + 32*2 + 8 -> byte 40, bits 4..5
  trits[256] = 1;   // block 1, byte 0, bits 0..1
  const float scales[2] = {1.0f, -2.0f};
  Bytes b(132);
  pack_tq2_0(trits.data(), scales, 512, b.data());

  Bytes want(132, 0x55);  // code 1 (= 0) in all four 2-bit fields
  want[1] = 0x59;         // 01 01 10 01
  want[40] = 0x45;        // 01 00 01 01
  want[64] = 0x00;        // f16 1.0 = 0x3c00, little endian
  want[65] = 0x3c;
  want[66 + 0] = 0x56;   // 01 01 01 10
  want[66 + 64] = 0x00;  // f16 -2.0 = 0xc000
  want[66 + 65] = 0xc0;
  EXPECT_EQ(b, want);
}

TEST(RefFormats, Tq2_0RejectsCode3NamingTheElement) {
  std::vector<int8_t> trits(512, 0);
  const float scales[2] = {1.0f, 1.0f};
  Bytes b(132);
  pack_tq2_0(trits.data(), scales, 512, b.data());
  b[66 + 1] |= 0x0c;  // block 1, byte 1, bits 2..3 -> element 256 + 33
  std::vector<int8_t> out(512);
  float out_scales[2];
  expect_error_mentioning([&] { unpack_tq2_0(b.data(), 512, out.data(), out_scales); }, "element 289");
  std::vector<float> deq(512);
  expect_error_mentioning([&] { dequantize_tq2_0(b.data(), 512, deq.data()); }, "element 289");
}

// ================================================================ TQ1_0 layout

TEST(RefFormats, Tq1_0BytesPinTheLayout) {
  // All zero: qs bytes hold digits 1,1,1,1,1 -> v = 121 -> ceil(121*256/243) = 128;
  // qh bytes hold 1,1,1,1 then a 0 digit -> v = 120 -> ceil(120*256/243) = 127.
  std::vector<int8_t> trits(256, 0);
  trits[0] = 1;               // qs[0], trit 0:  v = 2*81+27+9+3+1 = 202 -> 213
  trits[33] = 1;              // qs[1], trit 1:  v = 81+2*27+9+3+1 = 148 -> 156
  trits[170] = -1;            // 170 = 160 + 10 + 16*0 -> qs[42], trit 0: v = 0+27+9+3+1 = 40 -> 43
  trits[250] = 1;             // 250 = 240 + 2 + 4*2 -> qh[2], trit 2: v = (27+9+2*3+1)*3 = 129 -> 136
  const float scale = 0.25f;  // f16 0x3400
  Bytes b(54);
  pack_tq1_0(trits.data(), &scale, 256, b.data());

  Bytes want(54, 128);
  for (size_t j = 48; j < 52; ++j) want[j] = 127;
  want[0] = 213;
  want[1] = 156;
  want[42] = 43;
  want[48 + 2] = 136;
  want[52] = 0x00;
  want[53] = 0x34;
  EXPECT_EQ(b, want);
}

// Every byte value decodes to five valid trits, so TQ1_0 has no invalid codes;
// each of the 243 base-3 patterns encodes to a byte that decodes back to it.
TEST(RefFormats, Tq1_0EveryPatternRoundTripsAndEveryByteDecodes) {
  std::vector<int8_t> trits(256);
  std::vector<int8_t> out(256);
  float scale = 1.0f;
  for (int v = 0; v < 243; ++v) {
    // Place pattern v (digits most significant first) in qs[0]'s five elements.
    std::fill(trits.begin(), trits.end(), 0);
    int rest = v;
    for (int k = 4; k >= 0; --k) {
      trits[static_cast<size_t>(32 * k)] = static_cast<int8_t>(rest % 3 - 1);
      rest /= 3;
    }
    Bytes b(54);
    pack_tq1_0(trits.data(), &scale, 256, b.data());
    EXPECT_EQ(b[0], (v * 256 + 242) / 243);
    unpack_tq1_0(b.data(), 256, out.data(), &scale);
    ASSERT_EQ(out, trits) << "pattern " << v;
  }
  Bytes b(54, 0);
  for (int byte = 0; byte < 256; ++byte) {
    std::fill(b.begin(), b.begin() + 52, static_cast<uint8_t>(byte));
    EXPECT_NO_THROW(unpack_tq1_0(b.data(), 256, out.data(), &scale));
    for (int8_t t : out) ASSERT_TRUE(t >= -1 && t <= 1) << "byte " << byte;
  }
}

// ================================================================ I2_S layout

TEST(RefFormats, I2sBytesPinTheLayout) {
  std::vector<int8_t> trits(256, 0);
  trits[33] = 1;    // block 0, byte 1, bits 5:4
  trits[101] = -1;  // 101 = 96 + 5 -> byte 5, bits 1:0
  trits[128] = 1;   // block 1, byte 32, bits 7:6
  const float scale = 1.5f;
  Bytes b(96, 0xcd);
  pack_i2_s(trits.data(), scale, 256, b.data());

  Bytes want(96, 0x55);  // code 1 (= 0) everywhere
  want[1] = 0x65;        // 01 10 01 01
  want[5] = 0x54;        // 01 01 01 00
  want[32] = 0x95;       // 10 01 01 01
  std::memcpy(want.data() + 64, &scale, 4);
  std::fill(want.begin() + 68, want.end(), 0);  // rest of the tail zeroed
  EXPECT_EQ(b, want);

  // The tail beyond the scale is ignored on read.
  b[70] = 0xff;
  std::vector<int8_t> out(256);
  EXPECT_EQ(unpack_i2_s(b.data(), 256, out.data()), 1.5f);
  EXPECT_EQ(out, trits);
}

TEST(RefFormats, I2sRejectsCode3NamingTheElement) {
  std::vector<int8_t> trits(256, 0);
  Bytes b(96);
  pack_i2_s(trits.data(), 1.0f, 256, b.data());
  b[32 + 1] |= 0x30;  // block 1, byte 1, bits 5:4 -> element 128 + 33
  std::vector<int8_t> out(256);
  expect_error_mentioning([&] { unpack_i2_s(b.data(), 256, out.data()); }, "element 161");
  std::vector<float> deq(256);
  expect_error_mentioning([&] { dequantize_i2_s(b.data(), 256, deq.data()); }, "element 161");
}

// ================================================================ F16 / BF16 / F32 through traits

TEST(RefFormats, FloatFormatsThroughTraits) {
  const std::vector<float> x = {0.0f, -0.0f, 1.0f, -2.5f, 65504.0f, 1e-7f, 3.14159265f, INFINITY};
  for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::BF16}) {
    SCOPED_TRACE(std::string(ggml_type_name(t)));
    const FormatTraits& f = *format_traits(t);
    Bytes b(format_bytes(f, x.size()));
    f.from_float(x.data(), x.size(), b.data());
    std::vector<float> y(x.size());
    f.to_float(b.data(), x.size(), y.data());
    for (size_t i = 0; i < x.size(); ++i) {
      const float want = t == GgmlType::F32   ? x[i]
                         : t == GgmlType::F16 ? f16_to_f32(f32_to_f16(x[i]))
                                              : bf16_to_f32(f32_to_bf16(x[i]));
      EXPECT_EQ(std::bit_cast<uint32_t>(y[i]), std::bit_cast<uint32_t>(want)) << i;
    }
  }
}

// ================================================================ Q8_0

TEST(RefFormats, Q8_0DequantisesHandBuiltBlocks) {
  Bytes b(68);
  b[0] = 0x00;  // d = 0.5 (f16 0x3800)
  b[1] = 0x38;
  for (int j = 0; j < 32; ++j)
    b[2 + static_cast<size_t>(j)] = static_cast<uint8_t>(static_cast<int8_t>(j - 16));
  b[2] = static_cast<uint8_t>(int8_t{-128});  // llama.cpp decodes -128 as is
  b[34] = 0x00;                               // d = -2.0 (f16 0xc000)
  b[35] = 0xc0;
  for (int j = 0; j < 32; ++j)
    b[36 + static_cast<size_t>(j)] = static_cast<uint8_t>(static_cast<int8_t>(3 * j - 50));
  std::vector<float> y(64);
  dequantize_q8_0(b.data(), 64, y.data());
  EXPECT_EQ(y[0], -64.0f);
  for (int j = 1; j < 32; ++j) EXPECT_EQ(y[static_cast<size_t>(j)], 0.5f * static_cast<float>(j - 16)) << j;
  for (int j = 0; j < 32; ++j)
    EXPECT_EQ(y[32 + static_cast<size_t>(j)], -2.0f * static_cast<float>(3 * j - 50)) << j;
}

TEST(RefFormats, Q8_0QuantiseDequantiseErrorIsBounded) {
  const uint32_t seed = 7;
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  const size_t n = 32 * 64;
  std::vector<float> x(n);
  for (size_t i = 0; i < n; ++i) x[i] = dist(rng) * std::ldexp(1.0f, static_cast<int>(i / 32 % 9) - 4);
  std::fill(x.begin() + 64, x.begin() + 96, 0.0f);  // an all-zero block
  Bytes b(n / 32 * 34), b2(b.size());
  quantize_q8_0(x.data(), n, b.data());
  quantize_q8_0(x.data(), n, b2.data());
  EXPECT_EQ(b, b2);  // deterministic
  std::vector<float> y(n);
  dequantize_q8_0(b.data(), n, y.data());
  for (size_t blk = 0; blk < n / 32; ++blk) {
    float amax = 0.0f;
    for (size_t j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[blk * 32 + j]));
    const float d = amax / 127.0f;
    // Half a step of rounding, plus up to 127 * (half an f16 ulp of d).
    const float bound = d * (0.5f + 127.0f * std::ldexp(1.0f, -11)) * 1.0001f;
    for (size_t j = 0; j < 32; ++j) {
      const size_t i = blk * 32 + j;
      ASSERT_LE(std::fabs(x[i] - y[i]), bound) << "element " << i;
      if (std::fabs(x[i]) == amax && amax > 0.0f) {
        EXPECT_EQ(std::abs(static_cast<int8_t>(b[blk * 34 + 2 + j])), 127) << i;
      }
    }
  }
  for (size_t i = 64; i < 96; ++i) EXPECT_EQ(y[i], 0.0f);
  x[5] = NAN;
  expect_error_mentioning([&] { quantize_q8_0(x.data(), n, b.data()); }, "element 5");
}

// ================================================================ Q6_K

// Build a Q6_K block from 6-bit values u[e] (q = u - 32) following the
// structure of llama.cpp's dequantize_row_q6_K loop (halves, l, quarters),
// written independently of formats.cpp's element -> slot map.
Bytes build_q6_k_block(const std::array<uint8_t, 256>& u, const std::array<int8_t, 16>& sc, uint16_t d) {
  Bytes b(210, 0);
  for (size_t h = 0; h < 2; ++h) {
    uint8_t* ql = b.data() + 64 * h;
    uint8_t* qh = b.data() + 128 + 32 * h;
    const uint8_t* v = u.data() + 128 * h;
    for (size_t l = 0; l < 32; ++l) {
      ql[l] = static_cast<uint8_t>((v[l] & 0xf) | ((v[l + 64] & 0xf) << 4));
      ql[l + 32] = static_cast<uint8_t>((v[l + 32] & 0xf) | ((v[l + 96] & 0xf) << 4));
      qh[l] = static_cast<uint8_t>((v[l] >> 4) | ((v[l + 32] >> 4) << 2) | ((v[l + 64] >> 4) << 4) |
                                   ((v[l + 96] >> 4) << 6));
    }
  }
  for (size_t j = 0; j < 16; ++j) b[192 + j] = static_cast<uint8_t>(sc[j]);
  b[208] = static_cast<uint8_t>(d & 0xff);
  b[209] = static_cast<uint8_t>(d >> 8);
  return b;
}

TEST(RefFormats, Q6KSingleValuePinsTheLayout) {
  // Every q = 0 (u = 32: low nibble 0, high bits 2) except element 70:
  // half 0, 70 = 64 + 6 -> high nibble of ql[6], bits 4..5 of qh[6].
  Bytes b(210, 0);
  std::fill(b.begin() + 128, b.begin() + 192, 0xaa);
  std::fill(b.begin() + 192, b.begin() + 208, 1);  // all sub-scales 1
  b[208] = 0x00;                                   // d = 1.0
  b[209] = 0x3c;
  b[6] = 0xf0;        // u = 63 -> low 4 bits 0xf in the high nibble
  b[128 + 6] = 0xba;  // 10 11 10 10: bits 4..5 = 3
  std::vector<float> y(256);
  dequantize_q6_k(b.data(), 256, y.data());
  for (size_t e = 0; e < 256; ++e) EXPECT_EQ(y[e], e == 70 ? 31.0f : 0.0f) << e;
}

TEST(RefFormats, Q6KDequantisesHandBuiltBlock) {
  std::array<uint8_t, 256> u{};
  for (size_t e = 0; e < 256; ++e) u[e] = static_cast<uint8_t>((e * 37 + 11) % 64);
  std::array<int8_t, 16> sc{};
  for (size_t j = 0; j < 16; ++j) sc[j] = static_cast<int8_t>(static_cast<int>(j * 17) - 128);
  const uint16_t d = f32_to_f16(0.01f);
  const Bytes b = build_q6_k_block(u, sc, d);
  std::vector<float> y(256);
  dequantize_q6_k(b.data(), 256, y.data());
  const float df = f16_to_f32(d);
  for (size_t e = 0; e < 256; ++e) {
    const float want = df * static_cast<float>(sc[e / 16]) * static_cast<float>(static_cast<int>(u[e]) - 32);
    ASSERT_EQ(y[e], want) << "element " << e;
  }
}

TEST(RefFormats, Q6KQuantiseDequantiseErrorIsBounded) {
  const uint32_t seed = 99;
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  const size_t n = 256 * 12;
  std::vector<float> x(n);
  // Sub-blocks of very different magnitudes, so small sub-scales are exercised.
  // Blocks 6.. are tiny (absmax ~1e-2 down to ~1e-8), so d is an f16 subnormal.
  for (size_t i = 0; i < n; ++i) {
    const int tiny = i / 256 >= 6 ? -6 - 3 * static_cast<int>(i / 256 - 6) : 0;
    x[i] = dist(rng) * std::ldexp(1.0f, static_cast<int>(i / 16 % 7) - 3 + tiny);
  }
  std::fill(x.begin() + 256, x.begin() + 512, 0.0f);  // an all-zero block
  Bytes b(n / 256 * 210), b2(b.size());
  quantize_q6_k(x.data(), n, b.data());
  quantize_q6_k(x.data(), n, b2.data());
  EXPECT_EQ(b, b2);  // deterministic
  std::vector<float> y(n);
  dequantize_q6_k(b.data(), n, y.data());
  double err2 = 0, sig2 = 0;
  for (size_t blk = 0; blk < n / 256; ++blk) {
    const float d = f16_to_f32(static_cast<uint16_t>(b[blk * 210 + 208] | (b[blk * 210 + 209] << 8)));
    for (size_t j = 0; j < 16; ++j) {
      float amax = 0.0f;
      for (size_t i = 0; i < 16; ++i) amax = std::max(amax, std::fabs(x[blk * 256 + 16 * j + i]));
      const int sc = static_cast<int8_t>(b[blk * 210 + 192 + j]);
      EXPECT_GE(sc, 0);
      // Half the stored step, and the documented bound on it.
      const float half_step = 0.5f * d * static_cast<float>(sc);
      const float doc_bound = 0.5f * (amax / 31.0f + d);
      for (size_t i = 0; i < 16; ++i) {
        const size_t e = blk * 256 + 16 * j + i;
        const float err = std::fabs(x[e] - y[e]);
        ASSERT_LE(err, half_step * 1.0001f + 1e-30f) << "element " << e;
        ASSERT_LE(err, doc_bound * 1.0001f) << "element " << e;
        err2 += double(err) * err;
        sig2 += double(x[e]) * x[e];
      }
    }
  }
  for (size_t i = 256; i < 512; ++i) EXPECT_EQ(y[i], 0.0f);
  EXPECT_LT(std::sqrt(err2 / sig2), 0.05);  // ~6 bits per weight, less where d is subnormal
  x[300] = INFINITY;
  expect_error_mentioning([&] { quantize_q6_k(x.data(), n, b.data()); }, "element 300");
}

}  // namespace
}  // namespace tern::ref
