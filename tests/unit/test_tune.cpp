// tern tune and the tuning cache: the candidate loop (verify, reject, time), the
// cache file (schema, merge, atomic write, resume), every way a cache entry is
// refused, the look-up order, and the CLI.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>

#include "jit/x86/xbyak_provider.h"
#include "runtime/core/cpu_info.h"
#include "runtime/core/error.h"
#include "runtime/core/layout.h"
#include "runtime/dispatch/kernel_registry.h"
#include "runtime/dispatch/tuning_cache.h"
#include "runtime/gguf/gguf.h"
#include "test_helpers.h"
#include "tuner/search_space.h"
#include "tuner/tune.h"

namespace tern {
namespace {

using nlohmann::json;
using test::run_tern;
using test::TempDir;

using test::ScopedEnv;

void write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
}

json read_json(const std::string& path) {
  std::ifstream f(path);
  return json::parse(f);
}

bool any_contains(const std::vector<std::string>& v, const std::string& a, const std::string& b = "") {
  for (const auto& s : v)
    if (s.find(a) != std::string::npos && s.find(b) != std::string::npos) return true;
  return false;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += x + "\n";
  return s;
}

// A CPU of the same ISA class as this one, but another model (another cpu-id).
CpuInfo sibling_cpu() {
  CpuInfo c = host_cpu();
  c.brand = "Imaginary Sibling 9000";
  c.model += 1;
  return c;
}

// A plausible record for `cpu`: the default config of the problem on `isa`.
TuningRecord make_record(const CpuInfo& cpu, uint32_t k, uint32_t n, uint32_t m, uint32_t threads, Isa isa,
                         double median_ns = 1000, uint16_t n_tile = 8) {
  tuner::Problem pr{m == 1 ? Op::gemv : Op::gemm, n, k, m, isa, Backend::xbyak};
  TuningRecord r;
  r.tern_version = TERN_VERSION;
  r.cpu = cpu;
  r.problem = KernelProblem::make(n, k, m, threads);
  r.config = tuner::default_config(pr);
  r.config.n_tile = n_tile;
  r.metrics = {median_ns, 1.0, 1.0, 10, threads, m == 1};
  r.tuned_at = utc_timestamp();
  return r;
}

class TuneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kernel_registry().add(jit::make_xbyak_provider());
    if (!host_cpu().supports(Isa::avx2))
      GTEST_SKIP() << "no AVX2 (or TERN_MAX_ISA below it): no JIT kernels here";
  }

  static tuner::TuneOptions tiny(const std::string& cache_path, double budget = 3) {
    tuner::TuneOptions o;
    o.budget_s = budget;
    o.min_time_s = 0.002;
    o.min_runs = 3;
    o.cold_max_m = 0;  // hot weights: cold copies of tiny matrices only cost time here
    o.families = {Family::mad};
    o.backends = {Backend::xbyak};
    o.cache_path = cache_path;
    return o;
  }

  TuningSearchPaths paths(const std::string& user, const std::string& results = "") {
    return TuningSearchPaths{user, results};
  }
};

// --- The record and the file ---------------------------------------------------------

TEST_F(TuneTest, RecordRoundTripsThroughJsonWithTheFullSchema) {
  TuningRecord r = make_record(host_cpu(), 512, 64, 8, 2, Isa::avx2, 1234.5);
  r.search = TuningSearch{"sampled", 10, 1, 100, 2000, 5000, 1.5};
  const json j = r;
  EXPECT_EQ(j["schema"], kTuningSchema);
  EXPECT_EQ(j["tern_version"], TERN_VERSION);
  EXPECT_EQ(j["cpu"]["cpu_id"], host_cpu().cpu_id());
  EXPECT_TRUE(j["cpu"].contains("isa"));
  EXPECT_EQ(j["problem"], (json{{"op", "gemm"}, {"n", 64}, {"k", 512}, {"m", 8}, {"threads", 2}}));
  EXPECT_EQ(j["config"]["name"], to_name(r.config));
  EXPECT_EQ(j["config"]["desc"]["n_tile"], 8);
  EXPECT_EQ(j["backend"], "xbyak");
  EXPECT_EQ(j["metrics"]["median_ns"], 1234.5);
  EXPECT_EQ(j["metrics"]["threads"], 2);
  EXPECT_EQ(j["verified"], true);
  const TuningRecord back = j.get<TuningRecord>();
  EXPECT_EQ(back.config, r.config);
  EXPECT_EQ(back.problem, r.problem);
  EXPECT_EQ(back.cpu, r.cpu);
  ASSERT_TRUE(back.search.has_value());
  EXPECT_EQ(back.search->candidates, 10);

  // Inconsistent records are refused, naming the field.
  auto refused = [&](const std::function<void(json&)>& edit, const std::string& what) {
    json bad = j;
    edit(bad);
    try {
      (void)bad.get<TuningRecord>();
      ADD_FAILURE() << "accepted a record with " << what;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  refused([](json& b) { b["verified"] = false; }, "not verified");
  refused([](json& b) { b["config"]["name"] = "tern_gemv_t2_i8f32_mad_n4k128u1__avx2_xbyak"; }, "disagrees");
  refused([](json& b) { b["problem"]["n"] = 65; }, "not for the record's problem");
  refused([](json& b) { b["problem"]["m"] = -1; }, "problem.m");
  refused([](json& b) { b["metrics"]["threads"] = 1; }, "threads");
  refused([](json& b) { b["metrics"].erase("median_ns"); }, "median_ns");
  refused([](json& b) { b["cpu"]["cpu_id"] = "x86_64-other"; }, "cpu_id");
  refused([](json& b) { b["schema"] = kTuningSchema + 1; }, "schema");
}

TEST_F(TuneTest, CorruptFilesAndRecordsAreSkippedWithAWarningNeverACrash) {
  TempDir dir;
  const std::string file = tuning_file(dir.path().string(), host_cpu());
  const TuningRecord good = make_record(host_cpu(), 512, 64, 1, 1, Isa::avx2);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"not json at all {{{", "not valid JSON"},
      {"{\"format\": \"tern-tuning\", \"schema\": 1, \"records\": [", "not valid JSON"},
      {"[1, 2, 3]", "not a tern tuning file"},
      {"{\"format\": \"something-else\", \"schema\": 1, \"records\": []}", "not a tern tuning file"},
      {"{\"format\": \"tern-tuning\", \"schema\": 1, \"records\": {}}", "not an array"},
      {std::string("\0\xff\xfe", 3), "not valid JSON"},
  };
  for (const auto& [text, why] : cases) {
    write_text(file, text);
    std::vector<std::string> warnings;
    EXPECT_TRUE(load_tuning_records(file, &warnings).empty());
    EXPECT_TRUE(any_contains(warnings, file, why)) << why << "\n" << joined(warnings);
    TuningCache c = TuningCache::load(host_cpu(), paths(dir.path().string()));
    EXPECT_FALSE(c.find(good.problem).has_value());
    EXPECT_TRUE(any_contains(c.warnings(), why)) << joined(c.warnings());
  }

  // One bad record among good ones: only it is skipped, by index.
  json doc = {{"format", kTuningFormat}, {"schema", kTuningSchema}, {"records", json::array()}};
  doc["records"].push_back(good);
  json broken = good;
  broken["config"]["desc"]["isa"] = "avx9000";
  doc["records"].push_back(broken);
  doc["records"].push_back("a string, not a record");
  write_text(file, doc.dump());
  std::vector<std::string> warnings;
  EXPECT_EQ(load_tuning_records(file, &warnings).size(), 1u);
  EXPECT_TRUE(any_contains(warnings, "record 1", "isa")) << joined(warnings);
  EXPECT_TRUE(any_contains(warnings, "record 2")) << joined(warnings);

  // A missing file is no warning at all.
  warnings.clear();
  EXPECT_TRUE(load_tuning_records(dir.file("absent.json"), &warnings).empty());
  EXPECT_TRUE(warnings.empty());
}

TEST_F(TuneTest, AnotherSchemaIsSkipped) {
  TempDir dir;
  const std::string file = tuning_file(dir.path().string(), host_cpu());
  const TuningRecord r = make_record(host_cpu(), 512, 64, 1, 1, Isa::avx2);
  json doc = {{"format", kTuningFormat}, {"schema", kTuningSchema + 1}, {"records", json::array({json(r)})}};
  write_text(file, doc.dump());
  std::vector<std::string> warnings;
  EXPECT_TRUE(load_tuning_records(file, &warnings).empty());
  EXPECT_TRUE(any_contains(warnings, "schema " + std::to_string(kTuningSchema + 1))) << joined(warnings);

  // A file of this schema holding a record of a future one.
  json rec = r;
  rec["schema"] = kTuningSchema + 1;
  doc = {{"format", kTuningFormat}, {"schema", kTuningSchema}, {"records", json::array({rec})}};
  write_text(file, doc.dump());
  TuningCache c = TuningCache::load(host_cpu(), paths(dir.path().string()));
  EXPECT_FALSE(c.find(r.problem).has_value());
  EXPECT_TRUE(any_contains(c.warnings(), "record 0", "schema")) << joined(c.warnings());
}

TEST_F(TuneTest, AnotherCpusRecordsInThisCpusFileAreSkipped) {
  TempDir dir;
  const std::string file = tuning_file(dir.path().string(), host_cpu());
  const TuningRecord foreign = make_record(sibling_cpu(), 512, 64, 1, 1, Isa::avx2);
  const TuningRecord own = make_record(host_cpu(), 512, 96, 1, 1, Isa::avx2);
  write_tuning_records(file, {foreign, own});
  TuningCache c = TuningCache::load(host_cpu(), paths(dir.path().string()));
  EXPECT_FALSE(c.find(foreign.problem).has_value());
  EXPECT_TRUE(c.find(own.problem).has_value());
  EXPECT_TRUE(any_contains(c.warnings(), sibling_cpu().cpu_id(), "not this CPU")) << joined(c.warnings());
  EXPECT_EQ(c.warnings().size(), 1u) << joined(c.warnings());
}

TEST_F(TuneTest, AKernelThisCpuCannotRunIsSkipped) {
  ScopedEnv cap("TERN_MAX_ISA", "avx2");
  TempDir dir;
  const std::string file = tuning_file(dir.path().string(), host_cpu());
  // avx512vnni and avxvnni: refused by the cap, which the user chose, so one line for the file
  // says so, however many records it skips (a shipped file can hold dozens).
  const TuningRecord wide = make_record(host_cpu(), 512, 64, 1, 1, Isa::avx512vnni);
  const TuningRecord wide2 = make_record(host_cpu(), 1024, 64, 1, 1, Isa::avx512vnni);
  const TuningRecord vnni = make_record(host_cpu(), 512, 64, 1, 2, Isa::avxvnni);
  const TuningRecord narrow = make_record(host_cpu(), 512, 64, 8, 1, Isa::avx2);
  write_tuning_records(file, {wide, narrow, wide2, vnni});
  TuningCache c = TuningCache::load(host_cpu(), paths(dir.path().string()));
  EXPECT_FALSE(c.find(wide.problem).has_value());
  EXPECT_FALSE(c.find(wide2.problem).has_value());
  EXPECT_FALSE(c.find(vnni.problem).has_value());
  ASSERT_EQ(c.warnings().size(), 1u) << joined(c.warnings());
  EXPECT_TRUE(any_contains(c.warnings(), file + ": 3 records name avx512vnni, avxvnni, above TERN_MAX_ISA=avx2"))
      << joined(c.warnings());
  std::optional<TunedKernel> k = c.find(narrow.problem);
  ASSERT_TRUE(k.has_value());
  EXPECT_EQ(k->desc.isa, Isa::avx2);

  // A backend this build has no provider for.
  TuningRecord llvm = make_record(host_cpu(), 512, 80, 1, 1, Isa::avx2);
  llvm.config.backend = Backend::llvm;
  if (!kernel_registry().provider(Backend::llvm)) {
    write_tuning_records(file, {llvm});
    TuningCache c2 = TuningCache::load(host_cpu(), paths(dir.path().string()));
    EXPECT_FALSE(c2.find(llvm.problem).has_value());
    EXPECT_TRUE(any_contains(c2.warnings(), "no llvm backend")) << joined(c2.warnings());
  }
}

TEST_F(TuneTest, MergeNewerReplacesFasterKeepsAndOtherKeysStay) {
  const TuningRecord a = make_record(host_cpu(), 512, 64, 1, 1, Isa::avx2, 1000, 8);
  const TuningRecord b = make_record(host_cpu(), 512, 64, 8, 1, Isa::avx2, 5000, 8);
  const TuningRecord foreign = make_record(sibling_cpu(), 512, 64, 1, 1, Isa::avx2, 900, 8);
  const TuningRecord a_slower = make_record(host_cpu(), 512, 64, 1, 1, Isa::avx2, 2000, 16);
  const TuningRecord a_faster = make_record(host_cpu(), 512, 64, 1, 1, Isa::avx2, 500, 32);

  std::vector<TuningRecord> m = merge_tuning_records({a, b, foreign}, {a_slower});
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0].config.n_tile, 16);  // newer wins, in place
  EXPECT_EQ(m[1].problem.m, 8u);
  EXPECT_EQ(m[2].cpu.cpu_id(), sibling_cpu().cpu_id());  // same problem, other CPU: another key

  m = merge_tuning_records({a, b}, {a_slower}, MergePolicy::faster);
  EXPECT_EQ(m[0].config.n_tile, 8);
  m = merge_tuning_records({a, b}, {a_faster}, MergePolicy::faster);
  EXPECT_EQ(m[0].config.n_tile, 32);

  // A new key is appended; duplicates of a key in the old file collapse to one.
  const TuningRecord c = make_record(host_cpu(), 768, 64, 1, 1, Isa::avx2);
  m = merge_tuning_records({a, a, b}, {c, a_faster});
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0].config.n_tile, 32);
  EXPECT_EQ(m[2].problem.k, 768u);
}

TEST_F(TuneTest, WritesAreAtomicAndLeaveNoTemporaryFile) {
  TempDir dir;
  const std::string file = dir.file("nested/deeper/cache.json");
  const TuningRecord a = make_record(host_cpu(), 512, 64, 1, 1, Isa::avx2);
  write_tuning_records(file, {a});
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"nested"});
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir.path() / "nested/deeper"))
    names.push_back(e.path().filename());
  EXPECT_EQ(names, std::vector<std::string>{"cache.json"});
  const json doc = read_json(file);
  EXPECT_EQ(doc["format"], kTuningFormat);
  EXPECT_EQ(doc["schema"], kTuningSchema);
  EXPECT_EQ(doc["records"].size(), 1u);

  // A directory in the way of the file: an error naming it, and nothing left behind.
  std::filesystem::create_directories(dir.path() / "blocked.json");
  EXPECT_THROW(write_tuning_records(dir.file("blocked.json"), {a}), Error);
  // A parent that is a file.
  write_text(dir.file("plain"), "x");
  try {
    write_tuning_records(dir.file("plain/cache.json"), {a});
    ADD_FAILURE() << "wrote under a regular file";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("plain"), std::string::npos) << e.what();
  }
  for (const auto& e : dir.entries()) EXPECT_EQ(e.find(".tmp."), std::string::npos) << e;

  // Saving over a corrupt file keeps the old bytes aside instead of destroying them.
  write_text(dir.file("bad.json"), "{ corrupt");
  std::vector<std::string> warnings;
  std::vector<TuningRecord> saved = save_tuning_records(dir.file("bad.json"), {a}, &warnings);
  EXPECT_EQ(saved.size(), 1u);
  EXPECT_TRUE(any_contains(warnings, "kept the unusable file")) << joined(warnings);
  bool aside = false;
  for (const auto& e : dir.entries()) aside |= e.rfind("bad.json.bad-", 0) == 0;
  EXPECT_TRUE(aside);
  EXPECT_EQ(load_tuning_records(dir.file("bad.json"), nullptr).size(), 1u);
}

// --- Look-up --------------------------------------------------------------------------

TEST_F(TuneTest, LookupOrderUserCacheThenShippedThenSameIsaClass) {
  TempDir user, results;
  const CpuInfo& cpu = host_cpu();
  const TuningRecord in_user = make_record(cpu, 512, 64, 1, 1, Isa::avx2, 1000, 4);
  const TuningRecord in_results = make_record(cpu, 512, 64, 1, 1, Isa::avx2, 1000, 16);
  const TuningRecord in_sibling = make_record(sibling_cpu(), 512, 64, 1, 1, Isa::avx2, 1000, 32);
  CpuInfo other_class = cpu;
  other_class.features = CpuFeatures{};
  other_class.features.neon = true;
  other_class.arch = "aarch64";
  const TuningRecord other = make_record(other_class, 512, 64, 1, 1, Isa::avx2, 1000, 64);
  ASSERT_NE(other_class.isa_class(), cpu.isa_class());

  write_tuning_records(tuning_file(user.path().string(), cpu), {in_user});
  write_tuning_records(tuning_file(results.path().string(), cpu), {in_results});
  write_tuning_records(tuning_file(results.path().string(), sibling_cpu()), {in_sibling});
  write_tuning_records(results.file("zz-other-class.json"), {other});
  const TuningSearchPaths both{user.path().string(), results.path().string()};
  const KernelProblem p = in_user.problem;

  std::optional<TunedKernel> k = TuningCache::load(cpu, both).find(p);
  ASSERT_TRUE(k.has_value());
  EXPECT_EQ(k->source, TuningSource::user_cache);
  EXPECT_EQ(k->desc.n_tile, 4);

  std::filesystem::remove(tuning_file(user.path().string(), cpu));
  k = TuningCache::load(cpu, both).find(p);
  ASSERT_TRUE(k.has_value());
  EXPECT_EQ(k->source, TuningSource::results_exact);
  EXPECT_EQ(k->desc.n_tile, 16);

  std::filesystem::remove(tuning_file(results.path().string(), cpu));
  TuningCache c = TuningCache::load(cpu, both);
  k = c.find(p);
  ASSERT_TRUE(k.has_value());
  EXPECT_EQ(k->source, TuningSource::results_isa_class);
  EXPECT_EQ(k->desc.n_tile, 32);
  EXPECT_TRUE(c.warnings().empty()) << joined(c.warnings());  // other machines' files are no error

  std::filesystem::remove(tuning_file(results.path().string(), sibling_cpu()));
  EXPECT_FALSE(TuningCache::load(cpu, both).find(p).has_value());  // -> compiled-in defaults

  // lookup_kernel reads the same places from the environment.
  write_tuning_records(tuning_file(user.path().string(), cpu), {in_user});
  ScopedEnv cache_dir("TERN_CACHE_DIR", user.path().c_str());
  ScopedEnv results_dir("TERN_RESULTS_DIR", results.path().c_str());
  std::vector<std::string> warnings;
  std::optional<KernelDesc> d = lookup_kernel(p, cpu, &warnings);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(*d, in_user.config);
  EXPECT_TRUE(warnings.empty()) << joined(warnings);
  EXPECT_EQ(TuningSearchPaths::from_env().results_dir, results.path().string());
}

TEST_F(TuneTest, LookupTakesTheNearestTunedMNotAboveAndTheNearestThreadCount) {
  TempDir user;
  const CpuInfo& cpu = host_cpu();
  const TuningRecord m1 = make_record(cpu, 512, 64, 1, 2, Isa::avx2, 1000, 4);
  const TuningRecord m8 = make_record(cpu, 512, 64, 8, 2, Isa::avx2, 1000, 16);
  const TuningRecord m128 = make_record(cpu, 512, 64, 128, 2, Isa::avx2, 1000, 32);
  const TuningRecord m8t1 = make_record(cpu, 512, 64, 8, 1, Isa::avx2, 1000, 64);
  write_tuning_records(tuning_file(user.path().string(), cpu), {m1, m8, m128, m8t1});
  const TuningCache c = TuningCache::load(cpu, {user.path().string(), ""});
  auto tile = [&](uint32_t m, uint32_t t) -> int {
    std::optional<TunedKernel> k = c.find(KernelProblem::make(64, 512, m, t));
    return k ? k->desc.n_tile : -1;
  };
  EXPECT_EQ(tile(1, 2), 4);
  EXPECT_EQ(tile(5, 2), 4);  // m 2..7: the m = 1 (gemv) config
  EXPECT_EQ(tile(8, 2), 16);
  EXPECT_EQ(tile(100, 2), 16);  // not above: 8, not 128
  EXPECT_EQ(tile(128, 2), 32);
  EXPECT_EQ(tile(4096, 2), 32);
  EXPECT_EQ(tile(8, 1), 64);                                             // exact thread count
  EXPECT_EQ(tile(8, 3), 16);                                             // nearest thread count
  EXPECT_EQ(tile(1, 1), 4);                                              // only t = 2 has m = 1
  EXPECT_FALSE(c.find(KernelProblem::make(65, 512, 1, 2)).has_value());  // another shape
}

TEST_F(TuneTest, FindPairGivesADecodeAndAPrefillKernelOfOneLayout) {
  TempDir user;
  const CpuInfo& cpu = host_cpu();
  const TuningRecord gemv = make_record(cpu, 512, 64, 1, 1, Isa::avx2, 1000, 8);
  TuningRecord gemm = make_record(cpu, 512, 64, 8, 1, Isa::avx2, 1000, 16);  // another layout
  TuningRecord same = make_record(cpu, 512, 64, 8, 1, Isa::avx2, 1200, 8);
  same.config.unroll = 4;
  ASSERT_FALSE(same_packed_layout(gemv.config, gemm.config));
  ASSERT_TRUE(same_packed_layout(gemv.config, same.config));
  gemm.paired = PairedConfig{to_name(gemv.config), same.config, 1200};
  const std::string file = tuning_file(user.path().string(), cpu);
  write_tuning_records(file, {gemv, gemm});
  TuningCache c = TuningCache::load(cpu, {user.path().string(), ""});
  EXPECT_TRUE(c.warnings().empty()) << joined(c.warnings());
  std::optional<TunedPair> pair = c.find_pair(64, 512, 100, 1);
  ASSERT_TRUE(pair.has_value());
  EXPECT_EQ(pair->gemv.desc, gemv.config);
  ASSERT_TRUE(pair->gemm.has_value());
  EXPECT_EQ(*pair->gemm, same.config);
  EXPECT_FALSE(pair->gemm_is_winner);
  EXPECT_FALSE(c.find_pair(64, 512, 1, 1)->gemm.has_value());  // decode only
  EXPECT_FALSE(c.find_pair(65, 512, 8, 1).has_value());        // no gemv tuned

  // The winner itself when it already shares the layout.
  write_tuning_records(file, {gemv, same});
  pair = TuningCache::load(cpu, {user.path().string(), ""}).find_pair(64, 512, 8, 1);
  ASSERT_TRUE(pair && pair->gemm);
  EXPECT_TRUE(pair->gemm_is_winner);

  // Paired with another gemv than the one tuned now: no gemm (use the defaults on gemv's layout).
  TuningRecord stale = gemm;
  KernelDesc other = gemv.config;
  other.unroll = 1;
  stale.paired->gemv = to_name(other);
  write_tuning_records(file, {gemv, stale});
  pair = TuningCache::load(cpu, {user.path().string(), ""}).find_pair(64, 512, 8, 1);
  ASSERT_TRUE(pair.has_value());
  EXPECT_FALSE(pair->gemm.has_value());

  // A "paired" config of another layout is a corrupt record.
  TuningRecord lying = gemm;
  lying.paired->config = gemm.config;
  write_tuning_records(file, {gemv, lying});
  c = TuningCache::load(cpu, {user.path().string(), ""});
  EXPECT_TRUE(any_contains(c.warnings(), "does not share the packed layout")) << joined(c.warnings());
}

// --- The tuning loop ------------------------------------------------------------------

TEST_F(TuneTest, TinyProblemsGiveVerifiedRecordsTheLookupFinds) {
  TempDir dir;
  const std::string file = tuning_file(dir.path().string(), host_cpu());
  tuner::TuneOptions o = tiny(file, 4);
  o.families = {Family::mad, Family::lut};
  int ticks = 0;
  o.progress = [&](const tuner::TuneProgress& g) {
    ++ticks;
    EXPECT_LE(g.fraction, 1.0);
  };
  const auto problems = tuner::make_problems({{512, 64}, {384, 40}}, {1, 3}, {1});
  ASSERT_EQ(problems.size(), 4u);
  const auto t0 = std::chrono::steady_clock::now();
  tuner::TuneReport rep = tuner::tune(problems, o);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 4 + 2.0);
  EXPECT_GT(ticks, 4);
  ASSERT_EQ(rep.problems.size(), 4u);
  for (const auto& r : rep.problems) {
    SCOPED_TRACE(to_string(r.problem));
    ASSERT_EQ(r.status, tuner::ProblemResult::Status::tuned) << r.note;
    ASSERT_TRUE(r.winner && r.fallback_default && r.record);
    EXPECT_TRUE(r.fallback_default->ok);
    EXPECT_LE(r.winner->score_ns, r.fallback_default->score_ns);  // the default is a candidate
    EXPECT_GE(r.speedup_over_default(), 1.0);
    EXPECT_GE(r.speedup_over_worst(), r.speedup_over_default());
    EXPECT_GT(r.measured, 1);
    EXPECT_EQ(r.rejected, 0) << joined(r.rejections);
    EXPECT_GT(r.gops, 0);
    if (r.problem.m > 1) {
      // Paired with the m = 1 winner's layout: the record carries it when the winner differs.
      ASSERT_TRUE(r.paired_with.has_value());
      const bool own = same_packed_layout(r.winner->desc, *r.paired_with);
      EXPECT_EQ(r.paired.has_value(), !own);
      EXPECT_EQ(r.record->paired.has_value(), !own);
      if (r.paired) {
        EXPECT_TRUE(same_packed_layout(r.paired->desc, *r.paired_with));
      }
    }
  }

  // The file: one verified record per problem, for this CPU.
  const json doc = read_json(file);
  ASSERT_EQ(doc["records"].size(), 4u);
  for (const json& rec : doc["records"]) {
    EXPECT_EQ(rec["verified"], true);
    EXPECT_EQ(rec["cpu"]["cpu_id"], host_cpu().cpu_id());
    EXPECT_EQ(rec["tern_version"], TERN_VERSION);
    EXPECT_EQ(parse_name(rec["config"]["name"].get<std::string>()), rec["config"]["desc"].get<KernelDesc>());
    EXPECT_GT(rec["metrics"]["median_ns"].get<double>(), 0);
    EXPECT_EQ(rec["problem"]["threads"], 1);
  }
  EXPECT_EQ(dir.entries().size(), 1u);
  // The space is every config of both families, on every ISA here, that xbyak builds.
  for (const auto& r : rep.problems) {
    size_t want = 0, luts = 0;
    for (Isa isa : EnumValues<Isa>::all) {
      if (isa == Isa::scalar || !host_cpu().supports(isa)) continue;
      for (Family f : {Family::mad, Family::lut}) {
        const tuner::Problem pr{r.problem.op, r.problem.n, r.problem.k, r.problem.m, isa, Backend::xbyak};
        for (const KernelDesc& d : tuner::enumerate(tuner::family_space(f, pr.op), tuner::base_desc(pr, f)))
          if (kernel_registry().unsupported_reason(d).empty()) {
            ++want;
            luts += f == Family::lut;
          }
      }
    }
    EXPECT_GT(luts, 0u);
    EXPECT_EQ(r.space, want) << to_string(r.problem);
  }

  // The runtime finds each winner, and the winner it finds is the tuned one.
  const TuningCache c = TuningCache::load(host_cpu(), {dir.path().string(), ""});
  EXPECT_TRUE(c.warnings().empty()) << joined(c.warnings());
  for (const auto& r : rep.problems) {
    std::optional<TunedKernel> k = c.find(r.problem);
    ASSERT_TRUE(k.has_value());
    EXPECT_EQ(k->desc, r.winner->desc);
    std::optional<TunedPair> pair = c.find_pair(r.problem.n, r.problem.k, r.problem.m, 1);
    ASSERT_TRUE(pair.has_value());
    if (r.problem.m > 1) {
      ASSERT_TRUE(pair->gemm.has_value());
      EXPECT_TRUE(same_packed_layout(pair->gemv.desc, *pair->gemm));
    }
  }
}

// Backend::aot stands in for a test-only backend: it builds the xbyak kernel of the
// desc, except for the descs g_wrong selects, which get the code of another K blocking
// (the same bytes read in another order): plausible, fast, and wrong.
std::function<bool(const KernelDesc&)> g_wrong;

class WrongProvider : public KernelProvider {
 public:
  Backend backend() const override { return Backend::aot; }
  std::string unsupported_reason(const KernelDesc& d, const CpuInfo& cpu) const override {
    return xbyak_->unsupported_reason(as_xbyak(d), cpu);
  }
  Kernel build(const KernelDesc& d) const override {
    KernelDesc x = as_xbyak(d);
    if (g_wrong && g_wrong(d)) {
      const uint32_t group = 4 * vector_bytes(d.isa), k_padded = (d.k + group - 1) / group * group;
      x.k_block = static_cast<uint16_t>(d.k_block == group ? k_padded : group);
    }
    Kernel k = xbyak_->build(x);
    k.desc = d;
    return k;
  }

 private:
  static KernelDesc as_xbyak(KernelDesc d) {
    d.backend = Backend::xbyak;
    return d;
  }
  std::unique_ptr<KernelProvider> xbyak_ = jit::make_xbyak_provider();
};

TEST_F(TuneTest, AWrongCandidateIsRejectedNamedAndNeverCached) {
  kernel_registry().add(std::make_unique<WrongProvider>());
  g_wrong = [](const KernelDesc& d) { return d.n_tile == 16; };  // the default has n_tile 8
  TempDir dir;
  const std::string file = dir.file("cache.json");
  tuner::TuneOptions o = tiny(file, 3);
  o.backends = {Backend::aot};
  // K = 1024 gives several blockings on every ISA (128- and 256-element groups).
  const auto problems = tuner::make_problems({{1024, 48}}, {1, 4}, {1});
  tuner::TuneReport rep = tuner::tune(problems, o);
  g_wrong = nullptr;
  ASSERT_EQ(rep.problems.size(), 2u);
  for (const auto& r : rep.problems) {
    SCOPED_TRACE(to_string(r.problem));
    ASSERT_EQ(r.status, tuner::ProblemResult::Status::tuned) << r.note;
    EXPECT_GT(r.rejected, 0);
    ASSERT_FALSE(r.rejections.empty());
    EXPECT_TRUE(any_contains(r.rejections, "_n16k", "computes wrong results")) << joined(r.rejections);
    EXPECT_TRUE(any_contains(r.rejections, "the reference says")) << joined(r.rejections);
    ASSERT_TRUE(r.winner);
    EXPECT_NE(r.winner->desc.n_tile, 16);
    EXPECT_EQ(r.winner->desc.backend, Backend::aot);
  }
  for (const TuningRecord& r : load_tuning_records(file, nullptr)) EXPECT_NE(r.config.n_tile, 16);

  // When nothing verifies there is no winner and no record, and the report says why.
  kernel_registry().add(std::make_unique<WrongProvider>());
  g_wrong = [](const KernelDesc&) { return true; };
  TempDir dir2;
  o.cache_path = dir2.file("cache.json");
  rep = tuner::tune(tuner::make_problems({{1024, 56}}, {1}, {1}), o);
  g_wrong = nullptr;
  ASSERT_EQ(rep.problems.size(), 1u);
  EXPECT_EQ(rep.problems[0].status, tuner::ProblemResult::Status::failed);
  EXPECT_NE(rep.problems[0].note.find("no candidate passed verification"), std::string::npos);
  EXPECT_FALSE(rep.problems[0].record.has_value());
  EXPECT_TRUE(dir2.entries().empty());
}

TEST_F(TuneTest, ResumeSkipsTunedProblemsAndReTuningReplacesTheRecord) {
  TempDir dir;
  const std::string file = dir.file("cache.json");
  tuner::TuneOptions o = tiny(file, 1.5);
  tuner::tune(tuner::make_problems({{512, 64}}, {1}, {1}), o);
  std::vector<TuningRecord> first = load_tuning_records(file, nullptr);
  ASSERT_EQ(first.size(), 1u);
  // Make the stored record recognisable: resume must not touch it.
  first[0].tuned_at = "2000-01-01T00:00:00Z";
  write_tuning_records(file, first);

  o.resume = true;
  tuner::TuneReport rep = tuner::tune(tuner::make_problems({{512, 64}, {512, 32}}, {1}, {1}), o);
  ASSERT_EQ(rep.problems.size(), 2u);
  EXPECT_EQ(rep.problems[0].status, tuner::ProblemResult::Status::resumed);
  EXPECT_EQ(rep.problems[1].status, tuner::ProblemResult::Status::tuned);
  std::vector<TuningRecord> after = load_tuning_records(file, nullptr);
  ASSERT_EQ(after.size(), 2u);
  EXPECT_EQ(after[0].tuned_at, "2000-01-01T00:00:00Z");
  EXPECT_EQ(after[1].problem.n, 32u);

  // Without --resume the problem is tuned again (its old winner re-measured as a
  // candidate) and the newer record replaces the old one in place.
  o.resume = false;
  rep = tuner::tune(tuner::make_problems({{512, 64}}, {1}, {1}), o);
  after = load_tuning_records(file, nullptr);
  ASSERT_EQ(after.size(), 2u);
  EXPECT_NE(after[0].tuned_at, "2000-01-01T00:00:00Z");
  EXPECT_EQ(after[0].problem, first[0].problem);
}

TEST_F(TuneTest, TheBudgetBoundsTheRun) {
  tuner::TuneOptions o = tiny("", 0.3);
  const auto problems = tuner::make_problems({{1024, 256}, {768, 128}, {512, 64}}, {1, 2, 3, 4}, {1});
  const auto t0 = std::chrono::steady_clock::now();
  tuner::TuneReport rep = tuner::tune(problems, o);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(wall, 0.3 + 1.0);
  ASSERT_EQ(rep.problems.size(), problems.size());
  size_t tuned = 0;
  for (const auto& r : rep.problems) {
    tuned += r.status == tuner::ProblemResult::Status::tuned;
    if (r.status == tuner::ProblemResult::Status::skipped_budget) {
      EXPECT_NE(r.note.find("--resume"), std::string::npos);
    }
  }
  EXPECT_GE(tuned, 1u);
  // An unwritable cache fails at once, naming the file, before any tuning.
  TempDir dir;
  write_text(dir.file("plain"), "x");
  const auto t1 = std::chrono::steady_clock::now();
  try {
    tuner::tune(problems, tiny(dir.file("plain/cache.json"), 5));
    ADD_FAILURE() << "tuned into an unwritable cache";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("plain/cache.json"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count(), 1.0);
  EXPECT_THROW(tuner::tune(problems, tiny("", 0)), Error);
  EXPECT_THROW(tuner::tune(problems, tiny("", -1)), Error);
}

// --- Shapes, search space ---------------------------------------------------------------

TEST(TuneShapes, ModelShapesAreTheDistinctProjectionShapes) {
  gguf::File f = gguf::File::open(test::data_path("tiny-bitnet-f16.gguf"));
  const std::vector<tuner::Shape> s = tuner::model_shapes(f);
  // tiny: embd 256, 4 heads / 2 KV heads of 64, FFN 768; q/o, k/v, gate/up, down.
  const std::vector<tuner::Shape> want = {{256, 256}, {256, 128}, {256, 768}, {768, 256}};
  ASSERT_EQ(s.size(), want.size());
  for (const auto& w : want) EXPECT_NE(std::find(s.begin(), s.end(), w), s.end()) << w.k << "x" << w.n;

  gguf::File vocab = gguf::File::open(test::data_path("ggml-vocab-llama-bpe.gguf"));
  EXPECT_THROW(tuner::model_shapes(vocab), Error);

  EXPECT_EQ(tuner::parse_shapes("2560x2560,6912X2560,2560x2560").size(), 2u);
  for (const char* bad :
       {"", "2560", "2560x", "x2560", "0x5", "5x0", "2560by2560", "-5x5", "5x5x5", "1x2,,3x4"})
    EXPECT_THROW(tuner::parse_shapes(bad), Error) << bad;

  const auto p = tuner::make_problems({{2560, 640}}, {128, 1, 8, 8}, {1, 2});
  ASSERT_EQ(p.size(), 6u);
  EXPECT_EQ(p[0], KernelProblem::make(640, 2560, 1, 1));
  EXPECT_EQ(p[0].op, Op::gemv);
  EXPECT_EQ(p[1].op, Op::gemm);
  EXPECT_EQ(p[5], KernelProblem::make(640, 2560, 128, 2));
}

TEST(TuneSearchSpace, NeighboursAreOneAxisStepAway) {
  const tuner::Problem pr{Op::gemm, 512, 1024, 8, Isa::avx2, Backend::xbyak};
  const tuner::FamilySpace space = tuner::family_space(Family::mad, Op::gemm);
  const KernelDesc base = tuner::base_desc(pr, Family::mad);
  const std::vector<KernelDesc> all = tuner::enumerate(space, base);
  ASSERT_GT(all.size(), 100u);
  for (size_t i = 0; i < all.size(); i += 37) {
    const KernelDesc& d = all[i];
    const std::vector<size_t> idx = tuner::axis_indices(space, base, d);
    ASSERT_EQ(idx.size(), space.axes.size());
    EXPECT_EQ(tuner::config_at(space, base, idx), d);
    const std::vector<KernelDesc> n = tuner::neighbours(space, base, d);
    EXPECT_FALSE(n.empty()) << to_name(d);
    for (const KernelDesc& x : n) {
      EXPECT_NE(x, d);
      EXPECT_NE(std::find(all.begin(), all.end(), x), all.end()) << to_name(x) << " is not in the space";
      const std::vector<size_t> xi = tuner::axis_indices(space, base, x);
      int moved = 0;
      for (size_t a = 0; a < idx.size(); ++a) {
        const long step = static_cast<long>(xi[a]) - static_cast<long>(idx[a]);
        moved += step != 0;
        EXPECT_LE(std::labs(step), 1) << to_name(d) << " -> " << to_name(x);
      }
      // One axis moves (a collapsed k_block value can show as two identical configs).
      EXPECT_LE(moved, 2) << to_name(d) << " -> " << to_name(x);
    }
  }
  EXPECT_TRUE(tuner::axis_indices(space, base, KernelDesc{}).empty());
}

// --- The command ------------------------------------------------------------------------

TEST(TuneCli, BadArgumentsFailWithOneLine) {
  struct Case {
    std::string args;
    int code;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"", 2, "--shapes"},
      {"--shapes 2560by2560", 2, "2560by2560"},
      {"--shapes 0x5", 2, "0x5"},
      {"--shapes 256x64,", 2, "256x64"},
      {"--shapes 256x64 --budget 0", 2, "budget"},
      {"--shapes 256x64 --budget=-3", 2, "budget"},
      {"--shapes 256x64 --budget abc", 2, "budget"},
      {"--shapes 256x64 --budget nan", 2, "budget"},
      {"--shapes 256x64 --m 0", 2, "--m"},
      {"--shapes 256x64 --m 1,x", 2, "--m"},
      {"--shapes 256x64 -t 0", 2, "--threads"},
      {"--shapes 256x64 --family simd", 2, "simd"},
      {"--shapes 256x64 --isa avx9000", 2, "avx9000"},
      {"-m /nonexistent/dir/model.gguf", 1, "/nonexistent/dir/model.gguf"},
      {"-m " + test::data_path("GOLDEN-README.md"), 1, "GOLDEN-README.md"},
      {"-m " + test::data_path("ggml-vocab-llama-bpe.gguf"), 1, "no ternary projection"},
  };
  for (const Case& c : cases) {
    auto r = run_tern("tune " + c.args, "TERN_CACHE_DIR=/nonexistent-tern-cache");
    EXPECT_EQ(r.exit_code, c.code) << c.args << "\n" << r.err;
    EXPECT_EQ(test::count_lines(r.err), 1u) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find(c.says), std::string::npos) << c.args << "\n" << r.err;
  }
  auto r = run_tern("tune --help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("examples:\n  tern tune"), std::string::npos) << r.out;
}

TEST(TuneCli, ATinyRunPrintsTheTableWritesTheCacheAndResumes) {
  if (!host_cpu().supports(Isa::avx2)) GTEST_SKIP() << "no AVX2 here";
  TempDir dir;
  const std::string env = "TERN_CACHE_DIR=" + dir.path().string();
  auto r = run_tern("tune --shapes 512x64 --m 1,4 -t 1 --family mad --budget 2", env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("tuned 2 of 2 problems"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("x def"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("512x64"), std::string::npos) << r.out;
  const std::string file = tuning_file(dir.path().string(), host_cpu());
  EXPECT_NE(r.out.find(file), std::string::npos) << r.out;
  EXPECT_EQ(read_json(file)["records"].size(), 2u);

  r = run_tern("tune --shapes 512x64,512x32 --m 1 -t 1 --family mad --budget 2 --resume --json", env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json rep = json::parse(r.out);
  ASSERT_EQ(rep["problems"].size(), 2u);
  EXPECT_EQ(rep["problems"][0]["status"], "resumed");
  EXPECT_EQ(rep["problems"][1]["status"], "tuned");
  EXPECT_GE(rep["problems"][1]["speedup_over_default"].get<double>(), 1.0);
  EXPECT_EQ(rep["problems"][1]["record"]["verified"], true);
  EXPECT_EQ(read_json(file)["records"].size(), 3u);

  // -o writes elsewhere; the user cache is untouched.
  r = run_tern("tune --shapes 256x32 --m 1 -t 1 --family mad --budget 1 -o " + dir.file("out/shipped.json"),
               env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_json(dir.file("out/shipped.json"))["records"].size(), 1u);
  EXPECT_EQ(read_json(file)["records"].size(), 3u);
}

}  // namespace
}  // namespace tern
