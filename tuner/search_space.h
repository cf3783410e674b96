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

}  // namespace tern::tuner
