// The search space of each kernel family, as data (CLTune style): axes of
// values plus constraints. The tuner and the kernel tests enumerate the same
// list (XNNPACK: one list feeds everything).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/core/kernel_desc.h"

namespace tern::tuner {

struct Axis {
  const char* name;
  std::vector<uint32_t> values;
  void (*apply)(KernelDesc& d, uint32_t value);
};

struct Constraint {
  const char* what;
  bool (*holds)(const KernelDesc& d);
};

struct FamilySpace {
  Family family;
  std::vector<Axis> axes;
  std::vector<Constraint> constraints;
  size_t size() const;  // before constraints
};

// The space of `family` for `op` (gemv: one token; gemm: several).
FamilySpace family_space(Family family, Op op);

// A problem to tune: shape, token count and where to run.
struct Problem {
  Op op = Op::gemv;
  uint32_t n = 0, k = 0, m = 1;
  Isa isa = Isa::avx2;
  Backend backend = Backend::xbyak;
};

// The desc every config of `problem` starts from (problem fields + isa/backend set).
KernelDesc base_desc(const Problem& problem, Family family);

// Every config that satisfies the space's constraints, in a fixed order. It does
// not ask whether a backend can build them: callers filter with the registry.
std::vector<KernelDesc> enumerate(const FamilySpace& space, const KernelDesc& base);

// The config tern uses when nothing was tuned (dispatch's compiled-in default).
KernelDesc default_config(const Problem& problem);

// Local refinement (tuner/tune.h) walks the space one axis step at a time.
// The value index on every axis that builds d from base (enumerate's order), or
// empty when d is not a config of the space.
std::vector<size_t> axis_indices(const FamilySpace& space, const KernelDesc& base, const KernelDesc& d);
// base with every axis set to its value at idx (constraints not checked).
KernelDesc config_at(const FamilySpace& space, const KernelDesc& base, const std::vector<size_t>& idx);
// The configs one step from d on one axis (the previous or next value, the other
// axes as they are) that satisfy the constraints; d itself excluded.
std::vector<KernelDesc> neighbours(const FamilySpace& space, const KernelDesc& base, const KernelDesc& d);

}  // namespace tern::tuner
