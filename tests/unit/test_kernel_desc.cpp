#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <unordered_set>

#include "runtime/core/error.h"
#include "runtime/core/kernel_desc.h"

namespace tern {
namespace {

TEST(KernelDesc, DefaultNameIsShort) {
  KernelDesc d;
  d.n_tile = 32;
  d.k_block = 128;
  d.unroll = 4;
  d.isa = Isa::avx2;
  d.backend = Backend::xbyak;
  EXPECT_EQ(to_name(d), "tern_gemv_t2_i8f32_mad_n32k128u4__avx2_xbyak");
  EXPECT_EQ(parse_name(to_name(d)), d);
}

TEST(KernelDesc, EveryOptionalFieldAppearsInTheName) {
  KernelDesc d;
  d.op = Op::gemm;
  d.acc = DType::i16;
  d.scale = ScaleGranularity::block;
  d.family = Family::lut;
  d.n_tile = 16;
  d.k_block = 256;
  d.unroll = 2;
  d.accumulators = 2;
  d.lut_group = 4;
  d.lut_entry = DType::i16;
  d.prefetch = 8;
  d.isa = Isa::avx512vnni;
  d.backend = Backend::tmpl;
  d.n = 2560;
  d.k = 6912;
  d.m = 8;
  EXPECT_EQ(to_name(d), "tern_gemm_t2_i8f32ci16_sblock_lut_n16k256u2a2g4ei16p8__avx512vnni_template_N2560K6912M8");
  EXPECT_EQ(parse_name(to_name(d)), d);
}

// The enumerable space: every enum value of every enum field, with several
// values of each number field, one field varied at a time from a random base.
template <class T>
std::vector<T> probe_values() {
  if constexpr (std::is_enum_v<T>) {
    return {std::begin(EnumValues<T>::all), std::end(EnumValues<T>::all)};
  } else {
    return {0, 1, 2, 3, 9, 10, 64, 127, std::numeric_limits<T>::max()};
  }
}

KernelDesc random_desc(std::mt19937_64& rng) {
  KernelDesc d;
#define RANDOM_FIELD(type, field, def, sep, prefix, optional)                 \
  {                                                                           \
    auto values = probe_values<type>();                                       \
    d.field = values[rng() % values.size()];                                  \
    if (!std::is_enum_v<type> && rng() % 2) d.field = static_cast<type>(rng()); \
  }
  TERN_KERNEL_DESC_FIELDS(RANDOM_FIELD)
#undef RANDOM_FIELD
  return d;
}

TEST(KernelDesc, NameRoundTripsOverEveryFieldValue) {
  const uint64_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  size_t checked = 0;
  for (int base = 0; base < 50; ++base) {
    KernelDesc start = random_desc(rng);
#define VARY_FIELD(type, field, def, sep, prefix, optional) \
  for (type v : probe_values<type>()) {                     \
    KernelDesc d = start;                                   \
    d.field = v;                                            \
    std::string name = to_name(d);                          \
    ASSERT_EQ(parse_name(name), d) << name;                 \
    ++checked;                                              \
  }
    TERN_KERNEL_DESC_FIELDS(VARY_FIELD)
#undef VARY_FIELD
  }
  EXPECT_GT(checked, 1000u);
}

TEST(KernelDesc, RandomDescsRoundTripThroughNameAndJson) {
  const uint64_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  std::unordered_set<std::string> names;
  std::unordered_set<KernelDesc> descs;
  for (int i = 0; i < 20000; ++i) {
    KernelDesc d = random_desc(rng);
    std::string name = to_name(d);
    ASSERT_EQ(parse_name(name), d) << name;
    nlohmann::json j = d;
    ASSERT_EQ(j.get<KernelDesc>(), d) << j.dump();
    ASSERT_EQ(nlohmann::json::parse(j.dump()).get<KernelDesc>(), d);
    EXPECT_EQ(std::hash<KernelDesc>{}(d), std::hash<KernelDesc>{}(parse_name(name)));
    names.insert(name);
    descs.insert(d);
  }
  // Distinct descs have distinct names: the name is the spec.
  EXPECT_EQ(names.size(), descs.size());
}

TEST(KernelDesc, EqualityAndHashSeeEveryField) {
  KernelDesc a;
#define CHANGE_FIELD(type, field, def, sep, prefix, optional)          \
  {                                                                    \
    KernelDesc b = a;                                                  \
    auto values = probe_values<type>();                                \
    b.field = values[1];                                               \
    if (b.field == a.field) b.field = values[0];                       \
    EXPECT_NE(a, b) << #field;                                         \
    EXPECT_NE(hash_value(a), hash_value(b)) << #field;                 \
    EXPECT_NE(to_name(a), to_name(b)) << #field;                       \
  }
  TERN_KERNEL_DESC_FIELDS(CHANGE_FIELD)
#undef CHANGE_FIELD
}

TEST(KernelDesc, BadNamesGiveClearErrors) {
  for (const char* bad : {"", "tern", "foo_gemv", "tern_gemx_t2_i8f32_mad_n32k128u4__avx2_xbyak",
                          "tern_gemv_t2_i8f32_mad_n32k128u4__avx3_xbyak",
                          "tern_gemv_t2_i8f32_mad_n32k128u4__avx2_xbyak_trailing",
                          "tern_gemv_t2_i8f32_mad_n99999999k128u4__avx2_xbyak",
                          "tern_gemv_t2_i8f32_mad_nk128u4__avx2_xbyak"}) {
    EXPECT_THROW(parse_name(bad), Error) << bad;
    EXPECT_FALSE(try_parse_name(bad).has_value()) << bad;
  }
  try {
    parse_name("tern_gemv_t2_i8f32_mad_n32k128u4__avx3_xbyak");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("isa"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("avx2"), std::string::npos) << e.what();
  }
}

TEST(KernelDesc, JsonRejectsMissingAndWrongFields) {
  nlohmann::json j = KernelDesc{};
  auto missing = j;
  missing.erase("k_block");
  EXPECT_THROW(missing.get<KernelDesc>(), Error);
  auto wrong = j;
  wrong["isa"] = "avx9";
  EXPECT_THROW(wrong.get<KernelDesc>(), Error);
  wrong = j;
  wrong["unroll"] = 300;  // does not fit uint8_t
  EXPECT_THROW(wrong.get<KernelDesc>(), Error);
  wrong = j;
  wrong["n_tile"] = -1;
  EXPECT_THROW(wrong.get<KernelDesc>(), Error);
}

}  // namespace
}  // namespace tern
