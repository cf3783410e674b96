// `tern tune`: the fastest verified kernel per matmul problem on this CPU.
//
// For each problem (n, k, m, threads), in a time slice of the budget:
//   candidates = every (backend, ISA, family, config) of the families' search
//                spaces (search_space.h) that a registered provider can build here;
//   1. the default config (tuner::default_config, best ISA first) is always measured,
//      then the cached winner of an earlier run (re-tuning never loses to it);
//   2. exhaustive when the whole space fits the slice at the measured cost per
//      candidate, else a seeded random sample, then local refinement around the best
//      (neighbours: one axis step at a time, or the same config on another ISA),
//      repeated while time is left;
//   3. m > 1 with a tuned m = 1 for the same (n, k, threads): the best config that
//      packs weights like that gemv winner, by hill climbing inside that layout, so
//      the model can pack a tensor once for both (kept as the record's "paired");
//   4. the best few, the default and the best paired config are timed again,
//      interleaved call by call (load on a shared machine then hits them alike); the
//      winner is the fastest of them by that median, so it is never slower than the
//      default as measured side by side.
// Measuring one candidate: build (kernel_registry().get) -> pack (tuner::Workload)
// -> verify against runtime/ref on a random problem of the same K and config, with
// N and m cut to a few tiles / token tiles plus the real tails (kernels are specialised
// to K only) -> time: warm-up, repeated runs over the runtime's ThreadPool (rows split
// in n_tile units), median; cold weights (copies spanning 4 x L3) for m = 1.
// A candidate that fails to build or verify is rejected and the reason kept.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "runtime/core/kernel_desc.h"
#include "runtime/dispatch/tuning_cache.h"

namespace tern::gguf {
class File;
}

namespace tern::tuner {

// KxN as the CLI spells it: K inputs, N outputs.
struct Shape {
  uint32_t k = 0, n = 0;
  friend bool operator==(const Shape&, const Shape&) = default;
};

// Every distinct shape of a model's ternary projections (blk.N.attn_q/k/v/output,
// ffn_gate/up/down), in file order. Throws tern::Error naming the file when it has none.
std::vector<Shape> model_shapes(const gguf::File& file);

// "2560x2560,6912x2560" -> shapes. Throws tern::Error naming the bad item.
std::vector<Shape> parse_shapes(const std::string& list);

// shapes x ms x threads, m-major per shape so each shape's m = 1 comes first.
std::vector<KernelProblem> make_problems(const std::vector<Shape>& shapes, const std::vector<uint32_t>& ms,
                                         const std::vector<uint32_t>& threads);

struct TuneProgress {
  size_t problem = 0, problems = 0;  // index of the problem being tuned, of how many
  KernelProblem current;
  int measured = 0, rejected = 0;  // in the current problem
  double best_ns = 0;              // current problem's best so far (0: none yet)
  double elapsed_s = 0, budget_s = 0;
  double fraction = 0;  // 0..1 estimate of the whole run
};

struct TuneOptions {
  double budget_s = 100;  // the whole run, wall clock (every problem's default is measured regardless)
  uint64_t seed = 1;      // random sample order and the verification problems
  std::vector<Family> families = {Family::mad, Family::lut};
  std::vector<Isa> isas;          // empty: every ISA the CPU (and TERN_MAX_ISA) allows
  std::vector<Backend> backends;  // empty: every registered provider's backend
  uint32_t cold_max_m = 1;        // time with cold weights (from DRAM) when m <= this
  double min_time_s = 0.03;       // per timing of a candidate (at least min_runs runs)
  int min_runs = 5;
  int finalists = 3;       // re-timed at the end with the default
  std::string cache_path;  // where winners are merged after each problem; empty: nowhere
  bool resume = false;     // skip problems with a valid record for this CPU in cache_path
  MergePolicy merge = MergePolicy::newer;
  std::function<void(const TuneProgress&)> progress;
};

struct CandidateResult {
  KernelDesc desc;
  bool ok = false;
  std::string why;       // rejected: the build error or the first mismatch
  double median_ns = 0;  // screening median
  double score_ns = 0;   // finalists: the interleaved finals' median; others: screening median
  int runs = 0;
};

struct ProblemResult {
  KernelProblem problem;
  enum class Status { tuned, resumed, skipped_budget, no_candidate, failed } status = Status::tuned;
  std::string note;      // why skipped / failed
  std::string strategy;  // "exhaustive" | "exhaustive, cut short" | "sampled"
  size_t space = 0;      // configs the providers can build here
  int measured = 0, rejected = 0;
  int finals = 0;                       // interleaved rounds of the finals (0: no time for them)
  std::vector<std::string> rejections;  // "name: why", the first ones
  std::optional<CandidateResult> winner, fallback_default, worst;
  // m > 1: the best config with the packed layout of the same (n, k, threads)'s m = 1
  // winner (paired_with), when the winner's own layout differs (TuningRecord::paired).
  std::optional<CandidateResult> paired;
  std::optional<KernelDesc> paired_with;
  double gops = 0, gbs = 0;
  uint64_t weight_bytes = 0;  // packed weights of the winner's layout
  bool cold = false;
  double seconds = 0;
  std::optional<TuningRecord> record;  // the winner as a cache record (tuned only)

  double speedup_over_default() const;  // default score / winner score (1 when the default won)
  double speedup_over_worst() const;
};

struct TuneReport {
  std::vector<ProblemResult> problems;
  std::vector<std::string> warnings;  // cache files skipped, records moved aside...
  double seconds = 0;
  std::string cache_path;
};

// Tunes every problem within options.budget_s (slices: what is left divided by the
// problems left). Writes each winner into options.cache_path (if set) as soon as its
// problem is done, so an interrupted run can --resume. Throws tern::Error when the
// cache cannot be written or a thread pool cannot be made.
TuneReport tune(const std::vector<KernelProblem>& problems, const TuneOptions& options);

}  // namespace tern::tuner
