// tern tune: the fastest verified kernel per matmul shape on this CPU, into the tuning cache.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "cli/cli_common.h"
#include "cli/progress.h"
#if TERN_WITH_LLVM
#include "jit/llvm/llvm_backend.h"
#endif
#include "runtime/core/cpu_info.h"
#include "runtime/core/error.h"
#include "runtime/dispatch/kernel_registry.h"
#include "runtime/dispatch/tuning_cache.h"
#include "runtime/gguf/gguf.h"
#include "tuner/tune.h"

namespace tern::cli {
namespace {

std::vector<uint32_t> parse_list(const std::string& s, const char* option, int max) {
  const std::vector<int> v = parse_int_list(s, option, 1, max);
  return {v.begin(), v.end()};
}

// The name without the shape suffix (the table has its own columns for it).
std::string config_name(KernelDesc d) {
  d.n = d.k = d.m = 0;
  return to_name(d);
}

const char* status_text(tuner::ProblemResult::Status s) {
  using S = tuner::ProblemResult::Status;
  switch (s) {
    case S::tuned:
      return "tuned";
    case S::resumed:
      return "resumed";
    case S::skipped_budget:
      return "skipped";
    case S::no_candidate:
      return "no candidate";
    case S::failed:
      return "failed";
  }
  return "?";
}

nlohmann::json to_json_report(const tuner::TuneReport& rep, double budget) {
  nlohmann::json problems = nlohmann::json::array();
  for (const auto& r : rep.problems) {
    nlohmann::json j = {{"problem", r.problem}, {"status", status_text(r.status)}};
    if (!r.note.empty()) j["note"] = r.note;
    if (r.status == tuner::ProblemResult::Status::tuned || r.status == tuner::ProblemResult::Status::failed) {
      j["strategy"] = r.strategy;
      j["space"] = r.space;
      j["measured"] = r.measured;
      j["rejected"] = r.rejected;
      j["rejections"] = r.rejections;
      j["finals"] = r.finals;
      j["seconds"] = r.seconds;
    }
    if (r.winner) {
      j["winner"] = {{"name", to_name(r.winner->desc)},
                     {"median_ns", r.winner->score_ns},
                     {"gops", r.gops},
                     {"gbs", r.gbs},
                     {"weights", r.cold ? "cold" : "hot"}};
      j["speedup_over_default"] = r.speedup_over_default();
      j["speedup_over_worst"] = r.speedup_over_worst();
    }
    if (r.fallback_default)
      j["default"] = {{"name", to_name(r.fallback_default->desc)},
                      {"verified", r.fallback_default->ok},
                      {"median_ns", r.fallback_default->score_ns}};
    if (r.paired) j["paired"] = {{"name", to_name(r.paired->desc)}, {"median_ns", r.paired->score_ns}};
    if (r.record) j["record"] = *r.record;
    problems.push_back(std::move(j));
  }
  return {{"cpu_id", host_cpu().cpu_id()}, {"cache", rep.cache_path},
          {"seconds", rep.seconds},        {"budget_s", budget},
          {"problems", problems},          {"warnings", rep.warnings}};
}

void print_table(const tuner::TuneReport& rep, double budget) {
  using S = tuner::ProblemResult::Status;
  size_t tuned = 0, resumed = 0;
  int width = 20;
  for (const auto& r : rep.problems) {
    tuned += r.status == S::tuned;
    resumed += r.status == S::resumed;
    if (r.winner) width = std::max(width, static_cast<int>(config_name(r.winner->desc).size()));
  }
  std::printf("tuned %zu of %zu problems in %.1f s (budget %.0f s) on %s", tuned, rep.problems.size(),
              rep.seconds, budget, host_cpu().cpu_id().c_str());
  if (resumed) std::printf("; %zu already in the cache (--resume)", resumed);
  std::printf("\n");
  if (!rep.cache_path.empty()) std::printf("winners written to %s\n", rep.cache_path.c_str());
  std::printf("\n%-11s %4s %3s  %-*s %10s %7s %6s %6s %7s %5s %4s  %s\n", "KxN", "m", "t", width, "winner",
              "median us", "GOPS", "GB/s", "x def", "x worst", "tried", "rej", "search");
  for (const auto& r : rep.problems) {
    char shape[32];
    std::snprintf(shape, sizeof shape, "%ux%u", r.problem.k, r.problem.n);
    if (!r.winner) {
      std::printf("%-11s %4u %3u  %s: %s\n", shape, r.problem.m, r.problem.threads, status_text(r.status),
                  r.note.c_str());
      continue;
    }
    std::printf("%-11s %4u %3u  %-*s %10.1f %7.1f %6.1f %5.2fx %6.2fx %5d %4d  %s%s\n", shape, r.problem.m,
                r.problem.threads, width, config_name(r.winner->desc).c_str(), r.winner->score_ns / 1000,
                r.gops, r.gbs, r.speedup_over_default(), r.speedup_over_worst(), r.measured + r.rejected,
                r.rejected, r.strategy.c_str(), r.cold ? ", cold weights" : "");
    if (r.paired)
      std::printf("%-11s %4s %3s    with the m=1 winner's layout: %s  %.1f us (%.2fx the winner's time)\n",
                  "", "", "", config_name(r.paired->desc).c_str(), r.paired->score_ns / 1000,
                  r.paired->score_ns / r.winner->score_ns);
  }
  bool header = false;
  for (const auto& r : rep.problems)
    for (const std::string& why : r.rejections) {
      if (!header)
        std::printf(
            "\nrejected candidates (they disagree with runtime/ref or fail to build; never cached):\n");
      header = true;
      std::printf("  %s: %s\n", to_string(r.problem).c_str(), why.c_str());
    }
}

std::string micros(double ns) {
  char buf[32];
  if (ns >= 1e6)
    std::snprintf(buf, sizeof buf, "%.2f ms", ns / 1e6);
  else
    std::snprintf(buf, sizeof buf, "%.1f us", ns / 1e3);
  return buf;
}

}  // namespace

int cmd_tune(const std::vector<std::string>& args) {
  po::options_description desc("options");
  std::string model, shapes, ms = "1,8,128", threads_list, output, family = "all", isa, backend = "all";
  double budget = 100;
  uint64_t seed = 1;
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  // clang-format off
  desc.add_options()
      ("model,m", po::value(&model), "GGUF model: tune every distinct matmul shape of its projections")
      ("shapes", po::value(&shapes), "KxN list (K inputs, N outputs), e.g. 2560x2560,6912x2560")
      ("m", po::value(&ms)->default_value(ms), "token counts to tune: 1 (decode) and prefill buckets")
      ("threads,t", po::value(&threads_list)->default_value(std::to_string(hw)),
       "thread counts, e.g. 1,2: tuned per count (default: this machine's logical CPUs)")
      ("budget", po::value(&budget)->default_value(budget),
       "seconds for the whole run (each problem's default config is measured regardless)")
      ("output,o", po::value(&output), "file to merge the winners into (default: the user cache, "
                                       "<$TERN_CACHE_DIR or $XDG_CACHE_HOME/tern>/<cpu-id>.json)")
      ("resume", "skip problems the output file already has for this CPU")
      ("family", po::value(&family)->default_value(family), "mad | lut | all")
      ("isa", po::value(&isa), "only this ISA (default: every ISA this CPU runs)")
      ("backend", po::value(&backend)->default_value(backend), "xbyak | llvm | all: which code generators race")
      ("seed", po::value(&seed)->default_value(seed), "random sample order and verification data")
      ("json", "print a JSON report on stdout instead of the table");
  // clang-format on
  po::variables_map vm;
  // clang-format off
  if (!parse_options("tune", args, desc, vm,
                     "(-m MODEL.gguf | --shapes KxN,...) [--m 1,8,128] [-t 1,2] [--budget S] [-o FILE] [--resume] [--json]",
                     "  tern tune -m ggml-model-tq2_0.gguf          # every shape, m 1/8/128, into the user cache\n"
                     "  tern tune --shapes 2560x2560,6912x2560 --m 1 -t 1,2 --budget 30\n"
                     "  tern tune -m 2b4t.gguf -o results/CPU-ID.json # the shipped file (tern info prints the cpu-id)\n"
                     "  tern tune -m 2b4t.gguf --resume             # finish an interrupted run\n"))
    return 0;
  // clang-format on
#ifndef TERN_HAVE_XBYAK
  // Every candidate the tuner walks is an Xbyak-emitted x86 kernel.
  std::cerr << "tern tune: error: not available in this build (it tunes the x86 Xbyak JIT kernels, which this "
               "build does not have)\n";
  return 2;
#endif
  if (!(budget > 0) || !std::isfinite(budget))
    throw UsageError("--budget " + std::to_string(budget) + ": expected a positive number of seconds");
  if (model.empty() && shapes.empty()) throw UsageError("give a model (-m FILE.gguf) or --shapes KxN,...");
  if (family != "all" && family != "mad" && family != "lut")
    throw UsageError("--family " + family + ": expected mad|lut|all");

  tuner::TuneOptions opt;
  opt.budget_s = budget;
  opt.seed = seed;
  opt.resume = vm.count("resume") > 0;
  if (family != "all") opt.families = {family == "mad" ? Family::mad : Family::lut};
  if (backend != "all") {
    if (backend != "xbyak" && backend != "llvm") throw UsageError("--backend " + backend + ": expected xbyak|llvm|all");
    opt.backends = {backend == "xbyak" ? Backend::xbyak : Backend::llvm};
  }
  if (!isa.empty()) {
    bool known = false;
    for (Isa i : EnumValues<Isa>::all)
      if (to_string(i) == isa) {
        known = true;
        if (!host_cpu().supports(i))
          throw UsageError("--isa " + isa + ": this CPU (or TERN_MAX_ISA) cannot run it");
        opt.isas = {i};
      }
    if (!known) throw UsageError("--isa " + isa + ": not an ISA tern knows");
  }
  const std::vector<uint32_t> m_list = parse_list(ms, "m", 65536);
  const std::vector<uint32_t> t_list = parse_list(threads_list, "threads", 1024);
  const std::vector<tuner::Shape> shape_list = shapes_from_options(shapes, model);
  opt.cache_path = output.empty() ? tuning_file(default_cache_dir(), host_cpu()) : output;

  register_backends();
  const std::vector<KernelProblem> problems = tuner::make_problems(shape_list, m_list, t_list);
  const bool json = vm.count("json") > 0;
  Progress progress("tune");
  opt.progress = [&](const tuner::TuneProgress& g) {
    char detail[160];
    std::snprintf(detail, sizeof detail, "%zu/%zu %ux%u m=%u t=%u: %d tried%s, best %s", g.problem + 1,
                  g.problems, g.current.k, g.current.n, g.current.m, g.current.threads,
                  g.measured + g.rejected,
                  g.rejected ? (", " + std::to_string(g.rejected) + " rejected").c_str() : "",
                  g.best_ns > 0 ? micros(g.best_ns).c_str() : "-");
    progress.update(static_cast<uint64_t>(g.fraction * 1000), 1000, detail);
  };
  tuner::TuneReport rep = tuner::tune(problems, opt);
  progress.finish();

  for (const std::string& w : rep.warnings) std::cerr << "tern tune: warning: " << w << "\n";
#if TERN_WITH_LLVM
  // What the LLVM candidates cost to make: compiled (IR, O3, codegen, load) or loaded from the object cache.
  const jit::LlvmStats llvm = jit::llvm_stats();
  const nlohmann::json llvm_json = {{"compiled", llvm.compiled}, {"compile_ms", llvm.compile_ns / 1e6},
                                    {"cache_hits", llvm.cache_hits}, {"cache_load_ms", llvm.cache_load_ns / 1e6}};
#endif
  if (json) {
    nlohmann::json j = to_json_report(rep, budget);
#if TERN_WITH_LLVM
    j["llvm"] = llvm_json;
#endif
    std::cout << j.dump(2) << "\n";
  } else {
    print_table(rep, budget);
#if TERN_WITH_LLVM
    if (llvm.compiled + llvm.cache_hits > 0)
      std::printf("\nLLVM %s: %llu kernels compiled in %.2f s (%.1f ms each), %llu loaded from the object cache in "
                  "%.1f ms (%.2f ms each)\n",
                  jit::llvm_version().c_str(), static_cast<unsigned long long>(llvm.compiled), llvm.compile_ns / 1e9,
                  llvm.compiled ? llvm.compile_ns / 1e6 / llvm.compiled : 0.0,
                  static_cast<unsigned long long>(llvm.cache_hits), llvm.cache_load_ns / 1e6,
                  llvm.cache_hits ? llvm.cache_load_ns / 1e6 / llvm.cache_hits : 0.0);
#endif
  }
  for (const auto& r : rep.problems)
    if (r.status == tuner::ProblemResult::Status::failed ||
        r.status == tuner::ProblemResult::Status::no_candidate) {
      std::cerr << "tern tune: error: " << to_string(r.problem) << ": " << r.note << "\n";
      return 1;
    }
  return 0;
}

}  // namespace tern::cli
