// Regressions for what the fuzz targets (tests/fuzz, scripts/fuzz.sh) found: each test holds
// the smallest input that showed the bug, with what the code must do instead.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runtime/core/cpu_info.h"
#include "runtime/core/kernel_desc.h"
#include "runtime/dispatch/tuning_cache.h"
#include "test_helpers.h"

namespace tern {
namespace {

using nlohmann::json;

TuningRecord small_record() {
  TuningRecord r;
  r.tern_version = "0.1.0";
  r.cpu = host_cpu();
  r.problem = KernelProblem::make(64, 256, 1, 1);
  r.config = parse_name("tern_gemv_t2_i8f32_mad_n32k256u2__avx2_xbyak_N64K256M1");
  r.metrics.median_ns = 300;
  r.metrics.runs = 10;
  r.metrics.threads = 1;
  return r;
}

// The file `tern tune` writes for one record, with `edit` applied to that record's JSON.
std::vector<TuningRecord> load_edited(const test::TempDir& dir, const std::function<void(json&)>& edit,
                                      std::vector<std::string>* warnings) {
  json rec = small_record();
  edit(rec);
  const json doc = {{"format", kTuningFormat}, {"schema", kTuningSchema}, {"records", json::array({rec})}};
  const std::string path = dir.file("cache.json");
  std::ofstream(path) << doc.dump(2);
  return load_tuning_records(path, warnings);
}

bool any_contains(const std::vector<std::string>& ws, const std::string& s) {
  for (const std::string& w : ws)
    if (w.find(s) != std::string::npos) return true;
  return false;
}

// fuzz_cache_json: "family": 1e300 reached nlohmann's get_to<uint32_t> in CpuInfo's
// from_json, a float-to-int conversion out of range (undefined behaviour, UBSan:
// "1e+300 is outside the range of representable values of type 'unsigned int'"), and a
// negative number was wrapped into 4294967295. (Without "cpu_id" nothing else checks them.)
TEST(FuzzTuningCache, CpuNumbersOutOfRangeSkipTheRecordWithAWarning) {
  test::TempDir dir;
  std::vector<std::string> warnings;
  ASSERT_EQ(load_edited(dir, [](json&) {}, &warnings).size(), 1u) << "the unedited record loads";
  ASSERT_TRUE(warnings.empty());

  const std::vector<std::pair<std::string, json>> bad = {
      {"family", 1e300}, {"model", -1}, {"stepping", 2.5}, {"cores", 4294967296ull},
      {"l1d_bytes", -32768}, {"l2_bytes", 1e300}, {"l3_bytes", "big"}};
  for (const auto& [key, value] : bad) {
    warnings.clear();
    const auto records = load_edited(
        dir,
        [&](json& r) {
          r["cpu"].erase("cpu_id");
          r["cpu"][key] = value;
        },
        &warnings);
    EXPECT_TRUE(records.empty()) << key << " = " << value.dump();
    EXPECT_TRUE(any_contains(warnings, "cpu." + key)) << key << ": " << (warnings.empty() ? "" : warnings[0]);
  }
}

// fuzz_cache_json: "runs" (and the search summary's counts) were read as uint32 and cast to
// int, so 3000000000 was accepted as -1294967296 and written back negative by the next
// save, which the load after it rejected: the record was lost from the cache.
TEST(FuzzTuningCache, CountsAboveIntMaxAreRejectedNotWrapped) {
  test::TempDir dir;
  std::vector<std::string> warnings;
  auto records = load_edited(dir, [](json& r) { r["metrics"]["runs"] = 3000000000u; }, &warnings);
  EXPECT_TRUE(records.empty());
  EXPECT_TRUE(any_contains(warnings, "metrics.runs")) << (warnings.empty() ? "" : warnings[0]);

  // The search summary is informative: a bad one is dropped and the record kept, and what is
  // saved then reads back as it was.
  warnings.clear();
  records = load_edited(
      dir,
      [](json& r) {
        r["search"] = {{"strategy", "sampled"}, {"candidates", 3000000000u}, {"rejected", 0}, {"space", 9},
                       {"default_median_ns", 1.0},  {"worst_median_ns", 2.0},     {"seconds", 0.5}};
      },
      &warnings);
  ASSERT_EQ(records.size(), 1u) << (warnings.empty() ? "" : warnings[0]);
  EXPECT_FALSE(records[0].search.has_value());
  const std::string saved = dir.file("saved.json");
  write_tuning_records(saved, records);
  const auto again = load_tuning_records(saved, &warnings);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(json(again[0]), json(records[0]));
  EXPECT_TRUE(warnings.empty()) << warnings[0];
}

}  // namespace
}  // namespace tern
