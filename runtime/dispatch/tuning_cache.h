// The tuning cache: `tern tune` winners as JSON records, and the look-up the
// model loader does once per model (DESIGN.md "Cache").
//
// A file (`<cpu-id>.json`, in the user cache or the shipped results/):
//   {"format": "tern-tuning", "schema": 1, "records": [RECORD, ...]}
// A record is self-contained (CLBlast-style provenance), so records can be
// merged, moved between files and fed to `tern gen` one by one:
//   {"schema": 1, "tern_version": "0.1.0",
//    "cpu": {CpuInfo JSON: arch, vendor, family, model, ..., "cpu_id", "isa_class"},
//    "problem": {"op": "gemv", "n": 2560, "k": 2560, "m": 1, "threads": 2},
//    "config": {"name": "tern_gemv_t2_i8f32_mad_...", "desc": {KernelDesc JSON}},
//    "backend": "xbyak",
//    "metrics": {"median_ns": 61234.5, "gops": 214.1, "gbs": 26.7, "runs": 412, "threads": 2,
//                "weights": "cold"},
//    "verified": true,
//    "tuned_at": "2026-11-26T08:30:00Z",                       (optional)
//    "search": {"strategy": "sampled", "candidates": 41, ...},  (optional, informative)
//    "paired": {"gemv": NAME, "config": {"name", "desc"}, "median_ns": ...}}  (optional, gemm)
//
// Look-up order, per problem (the first tier with a usable record wins):
//   1. user cache, exact CPU:   $TERN_CACHE_DIR/<cpu-id>.json (default_cache_dir())
//   2. shipped results, exact CPU: <results>/<cpu-id>.json, then exact-CPU records
//      in any other <results>/*.json
//   3. shipped results, same ISA class (CpuInfo::isa_class()): records of other CPUs
//      in <results>/*.json, preferring the same vendor+family+model, then vendor+family,
//      then vendor, then file name order
//   4. (caller) compiled-in defaults, 5. (caller) the reference kernel.
// Inside a tier a record matches on (n, k). Its m must not exceed the problem's m
// (a config tuned for 128 tokens may have m_tile 8, useless for 4): the largest tuned
// m <= the asked m wins; among those, the exact thread count, else the nearest one
// (ties: the smaller). A record whose m is 1 is a gemv config: those kernels loop
// over any token count, so they serve m = 2..7 when only {1, 8, ...} were tuned.
// The returned desc is the record's own (its m and op are the tuned bucket's).
//
// Never trusted, each skipped with one warning (collected, printed once by the CLI):
// a file that does not parse or has another format/schema, a record that does not
// parse or is inconsistent (name vs desc, problem vs desc, not verified), a record of
// another CPU in an exact-CPU file, and a kernel this CPU cannot run (ISA not
// supported or capped by TERN_MAX_ISA, or no provider in this build can build it).
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "runtime/core/cpu_info.h"
#include "runtime/core/kernel_desc.h"

namespace tern {

class KernelRegistry;

inline constexpr int kTuningSchema = 1;
inline constexpr const char* kTuningFormat = "tern-tuning";

// What a tuned kernel computes and with how many threads: the cache key (with the CPU).
struct KernelProblem {
  Op op = Op::gemv;  // gemv when m = 1, else gemm
  uint32_t n = 0;    // outputs (rows)
  uint32_t k = 0;    // inputs
  uint32_t m = 1;    // tokens
  uint32_t threads = 1;

  static KernelProblem make(uint32_t n, uint32_t k, uint32_t m, uint32_t threads) {
    return {m == 1 ? Op::gemv : Op::gemm, n, k, m, threads};
  }
  friend bool operator==(const KernelProblem&, const KernelProblem&) = default;
};

// "gemv KxN 2560x6912 m=1 t=2"
std::string to_string(const KernelProblem& p);

struct TuningMetrics {
  double median_ns = 0;
  double gops = 0;  // 2 m n k / median
  double gbs = 0;   // packed weight bytes / median
  int runs = 0;
  uint32_t threads = 1;
  bool cold_weights = false;
};

// Informative: how the winner was found (not needed to use the record).
struct TuningSearch {
  std::string strategy;  // "exhaustive" (possibly ", cut short") | "sampled"
  int candidates = 0;    // measured (verified and timed)
  int rejected = 0;      // failed to build or to verify
  int space = 0;         // configs the CPU and backends could run
  double default_median_ns = 0;
  double worst_median_ns = 0;
  double seconds = 0;
};

// For a gemm record (m > 1): the fastest measured config of the record's problem
// whose packed layout is that of the m = 1 winner of the same (n, k, threads), so
// that one packed copy of a tensor serves both decode and prefill kernels.
struct PairedConfig {
  std::string gemv;  // name of that m = 1 config
  KernelDesc config;
  double median_ns = 0;
};

struct TuningRecord {
  int schema = kTuningSchema;
  std::string tern_version;
  CpuInfo cpu;
  KernelProblem problem;
  KernelDesc config;
  TuningMetrics metrics;
  bool verified = true;
  std::string tuned_at;  // ISO 8601 UTC; empty when unknown
  std::optional<TuningSearch> search;
  std::optional<PairedConfig> paired;  // "paired" in JSON; only when the winner's layout differs

  // The merge key: CPU id + problem.
  bool same_key(const TuningRecord& o) const;
};

void to_json(nlohmann::json& j, const KernelProblem& p);
void from_json(const nlohmann::json& j, KernelProblem& p);
void to_json(nlohmann::json& j, const TuningRecord& r);
// Throws tern::Error naming the field on a missing or wrong field, another
// schema, or an inconsistent record (name vs desc, problem vs desc, not verified).
void from_json(const nlohmann::json& j, TuningRecord& r);

// Whether two descs pack weights identically (layout_of; false when either has none).
bool same_packed_layout(const KernelDesc& a, const KernelDesc& b);

// "2026-11-26T08:30:00Z" for now.
std::string utc_timestamp();

// Every valid record of a file, of any CPU (the `tern gen` input; lookups filter by
// CPU). A missing file gives no records and no warning; an unreadable or corrupt file,
// another format or schema gives none and one warning; each bad record is skipped with
// one warning. Warnings start with the path. Never throws for bad content.
std::vector<TuningRecord> load_tuning_records(const std::string& path, std::vector<std::string>* warnings);

// How merge_tuning_records treats a fresh record for a key that already has one.
enum class MergePolicy {
  newer,   // the fresh record replaces the old one (the default: timings from another
           // run on a shared machine are not comparable, and `tern tune` re-measures the
           // cached winner as a candidate, so a re-tuned winner is never slower side by side)
  faster,  // the one with the smaller median_ns stays
};

// `existing` with `fresh` merged in: records of other keys are kept in their order,
// new keys are appended.
std::vector<TuningRecord> merge_tuning_records(std::vector<TuningRecord> existing,
                                               const std::vector<TuningRecord>& fresh,
                                               MergePolicy policy = MergePolicy::newer);

// Writes the records as one file atomically: a temporary file in the same directory
// (created if missing), flushed and synced, then renamed onto `path`; nothing else is
// left behind on failure. Throws tern::Error naming the file.
void write_tuning_records(const std::string& path, const std::vector<TuningRecord>& records);

// Loads `path` (valid records only; warnings as load_tuning_records), merges `fresh`
// and writes it back atomically. A file that exists but cannot be used as a whole
// (corrupt, other format or schema) is not overwritten: it is renamed to
// `<path>.bad-<timestamp>` first, with a warning. Returns the records written.
std::vector<TuningRecord> save_tuning_records(const std::string& path, const std::vector<TuningRecord>& fresh,
                                              std::vector<std::string>* warnings,
                                              MergePolicy policy = MergePolicy::newer);

// Where look-ups read. from_env(): user_cache_dir = default_cache_dir() (TERN_CACHE_DIR,
// else $XDG_CACHE_HOME/tern, else ~/.cache/tern); results_dir = $TERN_RESULTS_DIR, else the
// source tree's results/ compiled in (TERN_RESULTS_DIR). An empty dir is not searched.
struct TuningSearchPaths {
  std::string user_cache_dir;
  std::string results_dir;
  static TuningSearchPaths from_env();
};

// <dir>/<cpu-id>.json
std::string tuning_file(const std::string& dir, const CpuInfo& cpu);

enum class TuningSource { user_cache, results_exact, results_isa_class };
std::string_view to_string(TuningSource s);

struct TunedKernel {
  KernelDesc desc;
  TuningSource source = TuningSource::user_cache;
  std::string file;
  TuningRecord record;
};

// A decode and a prefill kernel that share one packed layout (the model packs each
// tensor once). gemm is empty when no tuned gemm config has gemv's layout: then use
// the default gemm parameters on gemv's layout.
struct TunedPair {
  TunedKernel gemv;
  std::optional<KernelDesc> gemm;
  bool gemm_is_winner = false;  // the gemm problem's own winner (else its paired config)
};

// All usable records for one CPU, read once (at model load), then asked per matmul.
class TuningCache {
 public:
  // Reads the files of `paths` for `cpu`. Uses `registry` to skip kernels no provider
  // of this build can build on `cpu`. Never throws for bad files; see warnings().
  static TuningCache load(const CpuInfo& cpu, const TuningSearchPaths& paths);
  static TuningCache load(const CpuInfo& cpu, const TuningSearchPaths& paths, const KernelRegistry& registry);

  // The best record for p by the tiers and rules above; nullopt = use the defaults.
  std::optional<TunedKernel> find(const KernelProblem& p) const;
  // find() for m = 1, and for m (> 1) the winner if it has the same layout, else the
  // record's paired config if it pairs with that gemv. nullopt when m = 1 is not tuned.
  std::optional<TunedPair> find_pair(uint32_t n, uint32_t k, uint32_t m, uint32_t threads) const;

  const std::vector<std::string>& warnings() const { return warnings_; }
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    TunedKernel kernel;
    int affinity = 0;  // isa-class tier: 3 same vendor/family/model .. 0 same class only
    size_t order = 0;
  };
  std::vector<Entry> entries_;
  std::vector<std::string> warnings_;
};

// One-shot look-up (loads the files each call; a model loader with several matmuls
// should keep a TuningCache). Appends the warnings to *warnings when given.
std::optional<KernelDesc> lookup_kernel(const KernelProblem& p, const CpuInfo& cpu,
                                        std::vector<std::string>* warnings,
                                        const TuningSearchPaths& paths = TuningSearchPaths::from_env());

}  // namespace tern
