// The `tern` binary as a user runs it: help, errors, exit codes.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <sstream>

#include "runtime/core/kernel_desc.h"
#include "test_helpers.h"

namespace tern {
namespace {

using test::run_tern;

TEST(Cli, EveryCommandHasHelpWithAnExample) {
  for (const char* cmd : {"info", "inspect", "synth", "kernels"}) {
    auto r = run_tern(std::string(cmd) + " --help");
    EXPECT_EQ(r.exit_code, 0) << cmd << r.err;
    EXPECT_NE(r.out.find("usage: tern " + std::string(cmd)), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("examples:\n  tern " + std::string(cmd)), std::string::npos) << r.out;
  }
  auto r = run_tern("--help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("synth"), std::string::npos);
}

TEST(Cli, UnknownCommandsAndOptionsFailWithOneLine) {
  auto r = run_tern("frobnicate");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown command 'frobnicate'"), std::string::npos) << r.err;

  r = run_tern("info --bogus");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(test::count_lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("bogus"), std::string::npos) << r.err;

  r = run_tern("synth --preset huge -o x.gguf");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(test::count_lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("huge"), std::string::npos) << r.err;

  r = run_tern("synth --seed minus-one -o x.gguf");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("seed"), std::string::npos) << r.err;

  r = run_tern("synth --type q4_0 -o x.gguf");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("tq2_0"), std::string::npos) << r.err;

  r = run_tern("synth");  // -o is required
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("output"), std::string::npos) << r.err;

  r = run_tern("inspect");
  EXPECT_EQ(r.exit_code, 2);
}

TEST(Cli, InfoPrintsTheFingerprint) {
  auto r = run_tern("info");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* field : {"cpu-id", "vendor", "isa", "caches", "cores", "backends", "cache dir"})
    EXPECT_NE(r.out.find(field), std::string::npos) << field;

  r = run_tern("info --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_FALSE(j["cpu"]["cpu_id"].get<std::string>().empty());
  EXPECT_TRUE(j["cpu"]["isa"].contains("avx2"));
  EXPECT_GT(j["cpu"]["l1d_bytes"].get<uint64_t>(), 0u);
  bool has_llvm = false, has_xbyak = false;
  for (const auto& b : j["backends"]) {
    has_llvm |= b["name"] == "llvm" && !b["host_cpu"].get<std::string>().empty();
    has_xbyak |= b["name"] == "xbyak";
  }
#if defined(__x86_64__)
  EXPECT_TRUE(has_llvm);
  EXPECT_TRUE(has_xbyak);
#endif
}

TEST(Cli, InfoHonoursAndValidatesMaxIsa) {
  auto r = run_tern("info --json", "TERN_MAX_ISA=scalar");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["usable_isa"], "scalar");
  EXPECT_EQ(j["max_isa"], "scalar");

  r = run_tern("info", "TERN_MAX_ISA=avx9000");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(test::count_lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("TERN_MAX_ISA"), std::string::npos) << r.err;
}

TEST(Cli, InspectReportsMissingAndCorruptFiles) {
  test::TempDir tmp;
  auto r = run_tern("inspect " + tmp.file("nope.gguf"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("nope.gguf"), std::string::npos) << r.err;

  std::string bad = tmp.file("bad.gguf");
  {
    std::ofstream f(bad, std::ios::binary);
    f << "GGUF\x03";  // truncated inside the version field
  }
  r = run_tern("inspect " + bad);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(test::count_lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("bad.gguf"), std::string::npos) << r.err;
}

#ifdef TERN_HAVE_XBYAK
TEST(Cli, KernelsListsParsableNamesAndBenchesThem) {
  auto r = run_tern("kernels --shapes 512x64 --m 1,4");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  size_t names = 0;
  while (std::getline(lines, line)) {
    KernelDesc d = parse_name(line);  // throws on a bad name
    EXPECT_EQ(d.k, 512u);
    EXPECT_EQ(d.n, 64u);
    ++names;
  }
  EXPECT_GT(names, 10u);

  r = run_tern("kernels --bench --shapes 512x64 --m 1,3 -t 2 --weights both --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_GE(j.size(), 4u);
  for (const auto& rec : j) {
    for (const char* f : {"name", "family", "isa", "backend", "m", "k", "n", "threads", "weights", "median_ns", "gops",
                          "gbs", "peak_ratio", "bw_ratio"})
      EXPECT_TRUE(rec.contains(f)) << f;
    EXPECT_GT(rec["median_ns"].get<double>(), 0.0);
    EXPECT_EQ(rec["threads"], 2);
    EXPECT_EQ(parse_name(rec["name"].get<std::string>()).m, rec["m"].get<uint32_t>());
  }

  for (const char* bad : {"kernels --shapes 12x", "kernels --m 0", "kernels --family xyz", "kernels --bench -t 0",
                          "kernels --isa avx9000"}) {
    r = run_tern(bad);
    EXPECT_EQ(r.exit_code, 2) << bad;
    EXPECT_EQ(test::count_lines(r.err), 1u) << bad << ": " << r.err;
  }
}
#else
// Builds without the x86 JIT (aarch64) have nothing for these to run: one line, exit 2.
TEST(Cli, TuneAndKernelBenchSayTheyAreNotInThisBuild) {
  for (const char* cmd : {"tune --shapes 256x128 --m 1", "kernels --bench --shapes 256x128"}) {
    auto r = run_tern(cmd);
    EXPECT_EQ(r.exit_code, 2) << cmd;
    EXPECT_EQ(test::count_lines(r.err), 1u) << cmd << ": " << r.err;
    EXPECT_NE(r.err.find("not available in this build"), std::string::npos) << cmd << ": " << r.err;
  }
  EXPECT_EQ(run_tern("kernels --shapes 512x64").exit_code, 0);
}
#endif

}  // namespace
}  // namespace tern
