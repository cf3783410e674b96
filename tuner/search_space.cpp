#include "tuner/search_space.h"

#include <algorithm>
#include <unordered_set>

#include "runtime/core/layout.h"
#include "runtime/dispatch/kernel_choice.h"

namespace tern::tuner {
namespace {

uint32_t group_of(const KernelDesc& d) { return 4 * vector_bytes(d.isa); }

// k_block as a multiple of the group; 0 means "all of K in one block".
void set_k_block(KernelDesc& d, uint32_t groups) {
  const uint32_t g = group_of(d);
  d.k_block = static_cast<uint16_t>(groups ? groups * g : std::min<uint32_t>((d.k + g - 1) / g * g, 65535 / g * g));
}

// lut: K is packed in units of U groups of g (layout.h); `elems` is a target
// block length, rounded down to whole units, 0 = all of K in one block.
uint32_t lut_unit(const KernelDesc& d) { return (d.lut_group == 3 ? 8 : 2) * d.lut_group; }

void set_lut_k_block(KernelDesc& d, uint32_t elems) {
  const uint32_t u = lut_unit(d);
  const uint32_t all = std::min<uint32_t>((d.k + u - 1) / u * u, 65535 / u * u);
  d.k_block = static_cast<uint16_t>(elems ? std::min(all, std::max(u, elems / u * u)) : all);
}

}  // namespace

size_t FamilySpace::size() const {
  size_t n = 1;
  for (const auto& a : axes) n *= a.values.size();
  return n;
}

FamilySpace family_space(Family family, Op op) {
  FamilySpace s;
  s.family = family;
  if (family == Family::mad) {
    s.axes = {
        {"n_tile", {4, 8, 16, 32, 64}, [](KernelDesc& d, uint32_t v) { d.n_tile = static_cast<uint16_t>(v); }},
        {"k_block", {1, 4, 0}, set_k_block},
        {"unroll", {1, 2, 4, 8}, [](KernelDesc& d, uint32_t v) { d.unroll = static_cast<uint8_t>(v); }},
        {"m_tile", op == Op::gemv ? std::vector<uint32_t>{1} : std::vector<uint32_t>{1, 2, 3, 4, 6, 8},
         [](KernelDesc& d, uint32_t v) { d.m_tile = static_cast<uint8_t>(v); }},
        {"accumulators", {1, 2}, [](KernelDesc& d, uint32_t v) { d.accumulators = static_cast<uint8_t>(v); }},
        {"prefetch", {0, 16}, [](KernelDesc& d, uint32_t v) { d.prefetch = static_cast<uint16_t>(v); }},
    };
    s.constraints = {
        {"unroll divides n_tile", [](const KernelDesc& d) { return d.n_tile % d.unroll == 0; }},
        {"a block of K is not larger than K", [](const KernelDesc& d) {
           const uint32_t g = group_of(d);
           return d.k_block <= (d.k + g - 1) / g * g;
         }},
        {"n_tile not larger than N rounded up to 4",
         [](const KernelDesc& d) { return d.n_tile <= std::max<uint32_t>(4, (d.n + 3) / 4 * 4); }},
        {"m_tile not larger than m", [](const KernelDesc& d) { return d.m_tile <= std::max<uint32_t>(d.m, 1); }},
    };
  } else if (family == Family::lut) {
    // Axes apply in order: g first, since the k_block rounding depends on it. The
    // entry type comes with g (jit/x86/lut_kernel.h): i16 tables for g = 2 and 3,
    // i8 byte halves for g = 4; one axis, so a one-step walk over g stays valid.
    s.axes = {
        {"lut_group", {2, 3, 4},
         [](KernelDesc& d, uint32_t v) {
           d.lut_group = static_cast<uint8_t>(v);
           d.lut_entry = v == 4 ? DType::i8 : DType::i16;
         }},
        {"n_tile", {32, 64, 128, 256}, [](KernelDesc& d, uint32_t v) { d.n_tile = static_cast<uint16_t>(v); }},
        {"k_block", {256, 1024, 0}, set_lut_k_block},
        {"unroll", {1, 2, 4}, [](KernelDesc& d, uint32_t v) { d.unroll = static_cast<uint8_t>(v); }},
        {"m_tile", op == Op::gemv ? std::vector<uint32_t>{1} : std::vector<uint32_t>{1, 2, 3, 4, 6, 8},
         [](KernelDesc& d, uint32_t v) { d.m_tile = static_cast<uint8_t>(v); }},
        {"prefetch", {0, 16}, [](KernelDesc& d, uint32_t v) { d.prefetch = static_cast<uint16_t>(v); }},
    };
    s.constraints = {
        {"n_tile is a multiple of the vector's rows",
         [](const KernelDesc& d) { return d.n_tile % vector_bytes(d.isa) == 0; }},
        {"unroll divides the row vectors of a tile",
         [](const KernelDesc& d) { return d.n_tile / vector_bytes(d.isa) % d.unroll == 0; }},
        {"n_tile not larger than N rounded up to the vector's rows",
         [](const KernelDesc& d) {
           const uint32_t v = vector_bytes(d.isa);
           return d.n_tile <= std::max<uint32_t>(v, (d.n + v - 1) / v * v);
         }},
        {"m_tile not larger than m", [](const KernelDesc& d) { return d.m_tile <= std::max<uint32_t>(d.m, 1); }},
    };
  }
  return s;
}

KernelDesc base_desc(const Problem& p, Family family) {
  KernelDesc d;
  d.op = p.op;
  d.family = family;
  d.isa = p.isa;
  d.backend = p.backend;
  d.n = p.n;
  d.k = p.k;
  d.m = p.m;
  return d;
}

std::vector<KernelDesc> enumerate(const FamilySpace& space, const KernelDesc& base) {
  std::vector<KernelDesc> out;
  std::unordered_set<KernelDesc> seen;
  std::vector<size_t> index(space.axes.size(), 0);
  while (true) {
    KernelDesc d = base;
    for (size_t i = 0; i < space.axes.size(); ++i) space.axes[i].apply(d, space.axes[i].values[index[i]]);
    bool ok = true;
    for (const auto& c : space.constraints) ok = ok && c.holds(d);
    // Axes can collapse (a k_block of "all of K" equal to a listed multiple): keep one.
    if (ok && seen.insert(d).second) out.push_back(d);
    size_t i = 0;
    while (i < index.size() && ++index[i] == space.axes[i].values.size()) index[i++] = 0;
    if (i == index.size()) break;
  }
  return out;
}

KernelDesc default_config(const Problem& p) { return default_kernel(p.op, p.n, p.k, p.m, p.isa, p.backend); }

namespace {

bool satisfies(const FamilySpace& space, const KernelDesc& d) {
  for (const auto& c : space.constraints)
    if (!c.holds(d)) return false;
  return true;
}

}  // namespace

KernelDesc config_at(const FamilySpace& space, const KernelDesc& base, const std::vector<size_t>& idx) {
  KernelDesc d = base;
  for (size_t i = 0; i < space.axes.size(); ++i) space.axes[i].apply(d, space.axes[i].values[idx[i]]);
  return d;
}

std::vector<size_t> axis_indices(const FamilySpace& space, const KernelDesc& base, const KernelDesc& d) {
  std::vector<size_t> index(space.axes.size(), 0);
  while (true) {
    if (config_at(space, base, index) == d) return index;
    size_t i = 0;
    while (i < index.size() && ++index[i] == space.axes[i].values.size()) index[i++] = 0;
    if (i == index.size()) return {};
  }
}

std::vector<KernelDesc> neighbours(const FamilySpace& space, const KernelDesc& base, const KernelDesc& d) {
  std::vector<KernelDesc> out;
  const std::vector<size_t> at = axis_indices(space, base, d);
  if (at.empty() && !space.axes.empty()) return out;
  std::unordered_set<KernelDesc> seen{d};
  for (size_t i = 0; i < at.size(); ++i)
    for (int step : {-1, 1}) {
      if ((step < 0 && at[i] == 0) || (step > 0 && at[i] + 1 >= space.axes[i].values.size())) continue;
      std::vector<size_t> idx = at;
      idx[i] = static_cast<size_t>(static_cast<long>(at[i]) + step);
      KernelDesc n = config_at(space, base, idx);
      if (satisfies(space, n) && seen.insert(n).second) out.push_back(n);
    }
  return out;
}

}  // namespace tern::tuner
