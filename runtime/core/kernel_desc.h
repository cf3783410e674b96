// tern::KernelDesc: one plain struct describes one kernel completely (DESIGN.md
// "One description, one name"). Its fields are listed once, in
// TERN_KERNEL_DESC_FIELDS; equality, hashing, JSON, the canonical name and its
// parser are all generated from that list, so adding a field is one line.
//
// Canonical name, e.g.
//   tern_gemv_t2_i8f32_mad_n32k128u4__avx2_xbyak
//   tern_gemm_t2_i8f32_lut_n16k256u2a2g4ei16p8__avx512vnni_xbyak_N2560K6912M8
// Optional parts are written only when they differ from their default, so the
// name stays short for the common case and still round-trips exactly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include <nlohmann/json_fwd.hpp>

namespace tern {

// Every enum used in a KernelDesc lists its values once too (X(enumerator, "spelling")).
#define TERN_OP_VALUES(X) X(gemv, "gemv") X(gemm, "gemm")
// Packed weight encodings the kernels consume: t2 = 2-bit codes, t1 = base-3
// (5 trits per byte, 1.6 bits). The file's format (TQ2_0, I2_S...) is repacked.
#define TERN_WEIGHT_FORMAT_VALUES(X) X(t2, "t2") X(t1, "t1")
#define TERN_DTYPE_VALUES(X) X(i8, "i8") X(i16, "i16") X(i32, "i32") X(f16, "f16") X(f32, "f32")
// How many weight scales: one per tensor (BitNet), one per 256-block (TQ files), one per row.
#define TERN_SCALE_VALUES(X) X(tensor, "tensor") X(block, "block") X(row, "row")
#define TERN_FAMILY_VALUES(X) X(ref, "ref") X(mad, "mad") X(lut, "lut")
#define TERN_ISA_VALUES(X) \
  X(scalar, "scalar") X(avx2, "avx2") X(avxvnni, "avxvnni") X(avx512vnni, "avx512vnni") \
  X(neon, "neon") X(neondot, "neondot") X(i8mm, "i8mm")
#define TERN_BACKEND_VALUES(X) \
  X(ref, "ref") X(tmpl, "template") X(xbyak, "xbyak") X(llvm, "llvm") X(aot, "aot")

#define TERN_ENUM_MEMBER(e, s) e,
enum class Op : uint8_t { TERN_OP_VALUES(TERN_ENUM_MEMBER) };
enum class WeightFormat : uint8_t { TERN_WEIGHT_FORMAT_VALUES(TERN_ENUM_MEMBER) };
enum class DType : uint8_t { TERN_DTYPE_VALUES(TERN_ENUM_MEMBER) };
enum class ScaleGranularity : uint8_t { TERN_SCALE_VALUES(TERN_ENUM_MEMBER) };
enum class Family : uint8_t { TERN_FAMILY_VALUES(TERN_ENUM_MEMBER) };
enum class Isa : uint8_t { TERN_ISA_VALUES(TERN_ENUM_MEMBER) };
enum class Backend : uint8_t { TERN_BACKEND_VALUES(TERN_ENUM_MEMBER) };
#undef TERN_ENUM_MEMBER

// X(type, field, default, separator, prefix, optional)
//  - separator/prefix: what precedes the value in the canonical name;
//  - optional: written only when != default (parsed back as the default when absent).
// Problem (what; the cache key), then config (how; the tuner's output), then where.
#define TERN_KERNEL_DESC_FIELDS(X)                                          \
  X(Op, op, Op::gemv, "_", "", false)                                       \
  X(WeightFormat, weights, WeightFormat::t2, "_", "", false)                \
  X(DType, act, DType::i8, "_", "", false)                                  \
  X(DType, out, DType::f32, "", "", false)                                  \
  X(DType, acc, DType::i32, "", "c", true)                                  \
  X(ScaleGranularity, scale, ScaleGranularity::tensor, "_", "s", true)      \
  X(Family, family, Family::mad, "_", "", false)                            \
  X(uint16_t, n_tile, 1, "_", "n", false)                                   \
  X(uint16_t, k_block, 1, "", "k", false)                                   \
  X(uint8_t, unroll, 1, "", "u", false)                                     \
  X(uint8_t, m_tile, 1, "", "t", true)                                      \
  X(uint8_t, accumulators, 1, "", "a", true)                                \
  X(uint8_t, lut_group, 0, "", "g", true)                                   \
  X(DType, lut_entry, DType::i8, "", "e", true)                             \
  X(uint16_t, prefetch, 0, "", "p", true)                                   \
  X(Isa, isa, Isa::scalar, "__", "", false)                                 \
  X(Backend, backend, Backend::ref, "_", "", false)                         \
  X(uint32_t, n, 0, "_", "N", true)                                         \
  X(uint32_t, k, 0, "", "K", true)                                          \
  X(uint32_t, m, 0, "", "M", true)

struct KernelDesc {
#define TERN_DECLARE_FIELD(type, field, def, sep, prefix, optional) type field = def;
  TERN_KERNEL_DESC_FIELDS(TERN_DECLARE_FIELD)
#undef TERN_DECLARE_FIELD

  friend bool operator==(const KernelDesc&, const KernelDesc&) = default;
};
static_assert(std::is_trivially_copyable_v<KernelDesc>);

std::string to_name(const KernelDesc& d);
// Throws tern::Error naming the position and what was expected.
KernelDesc parse_name(std::string_view name);
// Same, without throwing.
std::optional<KernelDesc> try_parse_name(std::string_view name);

size_t hash_value(const KernelDesc& d);

void to_json(nlohmann::json& j, const KernelDesc& d);
// Throws tern::Error on a missing field, a wrong type or an unknown enum spelling.
void from_json(const nlohmann::json& j, KernelDesc& d);

// Spellings of enum values, as in names and JSON.
std::string_view to_string(Op v);
std::string_view to_string(WeightFormat v);
std::string_view to_string(DType v);
std::string_view to_string(ScaleGranularity v);
std::string_view to_string(Family v);
std::string_view to_string(Isa v);
std::string_view to_string(Backend v);

// All values of an enum, in declaration order (for enumerating the desc space).
template <class E> struct EnumValues;
#define TERN_ENUM_ENTRY(e, s) Enum::e,
#define TERN_DEFINE_ENUM_VALUES(E, LIST)                         \
  template <> struct EnumValues<E> {                             \
    using Enum = E;                                              \
    static constexpr E all[] = {LIST(TERN_ENUM_ENTRY)};          \
  };
TERN_DEFINE_ENUM_VALUES(Op, TERN_OP_VALUES)
TERN_DEFINE_ENUM_VALUES(WeightFormat, TERN_WEIGHT_FORMAT_VALUES)
TERN_DEFINE_ENUM_VALUES(DType, TERN_DTYPE_VALUES)
TERN_DEFINE_ENUM_VALUES(ScaleGranularity, TERN_SCALE_VALUES)
TERN_DEFINE_ENUM_VALUES(Family, TERN_FAMILY_VALUES)
TERN_DEFINE_ENUM_VALUES(Isa, TERN_ISA_VALUES)
TERN_DEFINE_ENUM_VALUES(Backend, TERN_BACKEND_VALUES)
#undef TERN_DEFINE_ENUM_VALUES
#undef TERN_ENUM_ENTRY

}  // namespace tern

template <> struct std::hash<tern::KernelDesc> {
  size_t operator()(const tern::KernelDesc& d) const noexcept { return tern::hash_value(d); }
};
