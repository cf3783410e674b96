// End to end: tern tune writes a cache, tern run finds it, packs its projections for
// the tuned kernels and generates exactly what the default kernels generate.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "kernel_tester.h"
#include "runtime/core/cpu_info.h"
#include "runtime/dispatch/kernel_choice.h"
#include "test_helpers.h"

namespace tern {
namespace {

TEST(TunedModel, RunUsesTheTunedCacheAndGeneratesTheSameTokens) {
  test::TempDir tmp;
  const std::string model = test::data_path("tiny-bitnet-tq2_0.gguf");
  const std::string cache = (tmp.path() / "cache").string();
  // Shipped results are switched off so that only this test's cache can be found.
  const std::string env = "TERN_RESULTS_DIR= TERN_CACHE_DIR=" + cache;

  auto r = test::run_tern("tune -m " + model + " -t 1 --m 1,8 --budget 4", env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string cache_file = cache + "/" + host_cpu().cpu_id() + ".json";
  ASSERT_FALSE(test::read_bytes(cache_file).empty()) << "no cache written at " << cache_file;

  const std::string run = "run -m " + model + " -p \"ab cd ef\" -n 12 --temp 0 -t 1 --json";
  auto tuned = test::run_tern(run, env);
  ASSERT_EQ(tuned.exit_code, 0) << tuned.err;
  EXPECT_NE(tuned.err.find("kernels: 14 x tuned"), std::string::npos) << tuned.err;

  auto defaults = test::run_tern(run, "TERN_RESULTS_DIR= TERN_CACHE_DIR=" + (tmp.path() / "empty").string());
  ASSERT_EQ(defaults.exit_code, 0) << defaults.err;
  EXPECT_NE(defaults.err.find("kernels: 14 x defaults"), std::string::npos) << defaults.err;

  // Every kernel is exact, so the tokens cannot depend on which one was tuned.
  EXPECT_EQ(nlohmann::json::parse(tuned.out)["tokens"], nlohmann::json::parse(defaults.out)["tokens"]);
}

// Projections that read one input (q, k, v) may be tuned to kernels whose packed rows
// differ in length: a mad kernel pads K = 256 to 256, a lut kernel with g = 3 to 264 (units
// of 24). The run quantises the input once per row length and still generates what the
// default kernels generate. (Found as an intermittent failure of the test above, when
// tuning happened to pick such a pair.)
TEST(TunedModel, ProjectionsOfOneInputTunedToDifferentRowLengths) {
  if (!host_cpu().supports(Isa::avx2)) GTEST_SKIP() << "no AVX2";
  test::TempDir tmp;
  const std::string model = test::data_path("tiny-bitnet-tq2_0.gguf");
  const std::string cache = (tmp.path() / "cache").string();
  const std::string env = "TERN_RESULTS_DIR= TERN_CACHE_DIR=" + cache;
  auto r = test::run_tern("tune -m " + model + " -t 1 --m 1,8 --budget 2", env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string cache_file = cache + "/" + host_cpu().cpu_id() + ".json";
  nlohmann::json j = nlohmann::json::parse(test::read_bytes(cache_file));
  // The tiny model: q and o are 256 x 256, k and v 128 x 256.
  for (auto& rec : j["records"]) {
    const uint32_t n = rec["problem"]["n"], k = rec["problem"]["k"], m = rec["problem"]["m"];
    if (k != 256 || (n != 256 && n != 128)) continue;
    const Op op = m == 1 ? Op::gemv : Op::gemm;
    KernelDesc d = n == 128 ? test::lut_desc(Backend::xbyak, op, Isa::avx2, 3, 32, 264, 1, op == Op::gemv ? 1 : 2)
                            : default_kernel(op, n, k, m, Isa::avx2);
    d.n = n, d.k = k, d.m = m;
    nlohmann::json desc;
    to_json(desc, d);
    rec["config"]["desc"] = desc;
    rec["config"]["name"] = to_name(d);
    rec["backend"] = "xbyak";
  }
  {
    std::ofstream f(cache_file);
    f << j.dump(1);
  }
  const std::string run = "run -m " + model + " -p \"ab cd ef\" -n 12 --temp 0 -t 2 --json";
  auto tuned = test::run_tern(run, env);
  ASSERT_EQ(tuned.exit_code, 0) << tuned.err;
  EXPECT_NE(tuned.err.find("kernels: 14 x tuned"), std::string::npos) << tuned.err;
  auto defaults = test::run_tern(run, "TERN_RESULTS_DIR= TERN_CACHE_DIR=" + (tmp.path() / "empty").string());
  ASSERT_EQ(defaults.exit_code, 0) << defaults.err;
  EXPECT_EQ(nlohmann::json::parse(tuned.out)["tokens"], nlohmann::json::parse(defaults.out)["tokens"]);
}

TEST(TunedModel, ACorruptCacheIsSkippedWithAWarning) {
  test::TempDir tmp;
  const std::string cache = (tmp.path() / "cache").string();
  std::filesystem::create_directories(cache);
  {
    std::ofstream f(cache + "/" + host_cpu().cpu_id() + ".json");
    f << "{ this is not json";
  }
  auto r = test::run_tern("run -m " + test::data_path("tiny-bitnet-tq2_0.gguf") + " -p hi -n 2 --temp 0 -t 1",
                          "TERN_RESULTS_DIR= TERN_CACHE_DIR=" + cache);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("kernels: 14 x defaults"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(host_cpu().cpu_id() + ".json"), std::string::npos) << "no warning naming the file: " << r.err;
}

}  // namespace
}  // namespace tern
