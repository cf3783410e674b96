// fuzz_cache_json: arbitrary bytes as a tuning-cache file, through the loader the runtime
// uses. There is no parse-from-string entry point (the loader reads files), so each input is
// written to a private temporary directory first. Checks:
//  - load_tuning_records never throws for bad content (it promises warnings instead);
//  - every record it accepts survives the trip `tern tune` makes when it merges and saves
//    a cache: to_json, then from_json again, to the same JSON (a record the loader accepts
//    but cannot read back after saving would poison the user's cache);
//  - TuningCache::load with those records, as the user cache (exact CPU) and as shipped
//    results (other files, ISA-class tier), then find / find_pair for each record's problem,
//    with a registry whose stub providers accept every kernel (so records get that far).
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runtime/core/cpu_info.h"
#include "runtime/core/error.h"
#include "runtime/dispatch/kernel_registry.h"
#include "runtime/dispatch/tuning_cache.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

namespace fs = std::filesystem;
using namespace tern;

// Accepts every desc; never asked to build.
class StubProvider : public KernelProvider {
 public:
  explicit StubProvider(Backend b) : b_(b) {}
  Backend backend() const override { return b_; }
  std::string unsupported_reason(const KernelDesc&, const CpuInfo&) const override { return ""; }
  Kernel build(const KernelDesc& d) const override { throw Error("stub: cannot build " + to_name(d)); }

 private:
  Backend b_;
};

struct Env {
  fs::path root, cache_dir, results_dir;
  KernelRegistry registry;

  Env() {
    std::string tmpl = (fs::temp_directory_path() / "tern-fuzz-cache-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) fuzz::fail("mkdtemp failed");
    root = tmpl;
    cache_dir = root / "cache";
    results_dir = root / "results";
    fs::create_directories(cache_dir);
    fs::create_directories(results_dir);
    for (Backend b : EnumValues<Backend>::all) registry.add(std::make_unique<StubProvider>(b));
  }
  ~Env() {
    std::error_code ec;
    fs::remove_all(root, ec);
  }
};

Env& env() {
  static Env e;
  return e;
}

bool write_file(const fs::path& p, const uint8_t* data, size_t size) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return static_cast<bool>(f);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)env();
  (void)host_cpu();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Env& e = env();
  const fs::path shipped = e.results_dir / "shipped.json";
  if (!write_file(shipped, data, size)) fuzz::fail("cannot write the input file");

  std::vector<std::string> warnings;
  const std::vector<TuningRecord> records = load_tuning_records(shipped.string(), &warnings);
  for (const std::string& w : warnings) TERN_FUZZ_CHECK(w.rfind(shipped.string(), 0) == 0, w);

  for (const TuningRecord& r : records) {
    nlohmann::json j = r;
    TuningRecord back;
    try {
      back = j.get<TuningRecord>();
    } catch (const std::exception& ex) {
      fuzz::fail("an accepted record does not read back after to_json", ex.what());
    }
    const nlohmann::json j2 = back;
    TERN_FUZZ_CHECK(j2 == j, j.dump() + " vs " + j2.dump());
    TERN_FUZZ_CHECK(to_name(back.config) == to_name(r.config));
  }

  // The same bytes as the exact-CPU user cache of the first record's CPU (else this host's).
  CpuInfo cpu = records.empty() ? host_cpu() : records.front().cpu;
  fs::path exact = tuning_file(e.cache_dir.string(), cpu);
  if (exact.parent_path() != e.cache_dir) {  // an arch or id that is not a plain file name
    cpu = host_cpu();
    exact = tuning_file(e.cache_dir.string(), cpu);
  }
  if (!write_file(exact, data, size)) fuzz::fail("cannot write the exact-CPU file");
  const TuningCache cache = TuningCache::load(cpu, {e.cache_dir.string(), e.results_dir.string()}, e.registry);
  TERN_FUZZ_CHECK(cache.size() <= 2 * records.size());
  for (const TuningRecord& r : records) {
    const KernelProblem& p = r.problem;
    if (const auto k = cache.find(p)) {
      const KernelProblem& q = k->record.problem;
      TERN_FUZZ_CHECK(q.n == p.n && q.k == p.k && q.m <= p.m);
    }
    (void)cache.find_pair(p.n, p.k, p.m, p.threads);
    (void)cache.find_pair(p.n, p.k, p.m + 7, p.threads + 1);
  }
  std::error_code ec;
  fs::remove(exact, ec);
  return 0;
}
