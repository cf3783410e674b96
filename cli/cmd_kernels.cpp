// tern kernels: the kernel variants this CPU can run, and a short benchmark of them.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/cli_common.h"
#include "runtime/core/cpu_info.h"
#include "runtime/core/error.h"
#include "runtime/dispatch/kernel_registry.h"
#include "runtime/threads/thread_pool.h"
#include "tuner/measure.h"
#include "tuner/search_space.h"
#ifdef TERN_HAVE_XBYAK
#include "tuner/probes.h"
#endif

namespace tern::cli {
namespace {

struct Shape {
  uint32_t k, n;
};

std::vector<Shape> parse_shapes(const std::string& s) {
  std::vector<Shape> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    unsigned long k = 0, n = 0;
    char x = 0, extra = 0;
    if (std::sscanf(item.c_str(), "%lu%c%lu%c", &k, &x, &n, &extra) != 3 || (x != 'x' && x != 'X') || k == 0 ||
        n == 0 || k > (1u << 20) || n > (1u << 24))
      throw UsageError("--shapes " + item + ": expected KxN with positive sizes, e.g. 2560x6912");
    out.push_back({static_cast<uint32_t>(k), static_cast<uint32_t>(n)});
  }
  if (out.empty()) throw UsageError("--shapes: expected at least one KxN");
  return out;
}


std::vector<Isa> usable_isas(const std::string& wanted) {
  std::vector<Isa> out;
  for (Isa i : EnumValues<Isa>::all) {
    if (i == Isa::scalar) continue;
    if (!wanted.empty() && to_string(i) != wanted) continue;
    if (host_cpu().supports(i)) out.push_back(i);
  }
  if (!wanted.empty() && out.empty()) {
    bool known = false;
    for (Isa i : EnumValues<Isa>::all) known |= to_string(i) == wanted;
    throw UsageError("--isa " + wanted + (known ? ": this CPU (or TERN_MAX_ISA) cannot run it" : ": not an ISA tern knows"));
  }
  return out;
}

}  // namespace

int cmd_kernels(const std::vector<std::string>& args) {
  po::options_description desc("options");
  std::string family, isa, shapes, ms, weights, backend;
  int threads = 1;
  desc.add_options()
      ("family", po::value(&family)->default_value("all"), "mad | lut | all")
      ("isa", po::value(&isa), "only this ISA (default: every ISA this CPU runs)")
      ("backend", po::value(&backend)->default_value("xbyak"), "xbyak | llvm | all (all: side by side)")
      ("shapes", po::value(&shapes)->default_value("2560x2560,2560x640,2560x6912,6912x2560"), "KxN list (K inputs, N outputs)")
      ("m", po::value(&ms)->default_value("1"), "token counts, e.g. 1,8,128")
      ("bench", "time the default config of each family (with --all: every variant)")
      ("all", "with --bench: every variant, not only the defaults")
      ("threads,t", po::value(&threads)->default_value(1), "threads for --bench")
      ("weights", po::value(&weights)->default_value("hot"), "hot | cold | both (cold: weights streamed from DRAM)")
      ("json", "print JSON records instead of a table");
  po::variables_map vm;
  if (!parse_options("kernels", args, desc, vm, "[--bench] [--shapes KxN,...] [--m 1,8] [-t N] [--json]",
                     "  tern kernels                       # list the variants for 2560x2560\n"
                     "  tern kernels --bench --m 1,8,128 --weights both\n"
                     "  tern kernels --bench --all --shapes 2560x2560 --json\n"
                     "  tern kernels --bench --family mad --backend all --weights both   # LLVM vs Xbyak\n"))
    return 0;
  if (threads < 1 || threads > 1024) throw UsageError("--threads " + std::to_string(threads) + ": expected 1..1024");
  if (family != "all" && family != "mad" && family != "lut") throw UsageError("--family " + family + ": expected mad|lut|all");
  if (weights != "hot" && weights != "cold" && weights != "both") throw UsageError("--weights " + weights + ": expected hot|cold|both");
  std::vector<Backend> backends;
  for (Backend b : {Backend::xbyak, Backend::llvm})
    if (backend == "all" || to_string(b) == backend) backends.push_back(b);
  if (backends.empty()) throw UsageError("--backend " + backend + ": expected xbyak|llvm|all");
  register_backends();
  const std::vector<Shape> shape_list = parse_shapes(shapes);
  const std::vector<int> ms_parsed = parse_int_list(ms, "m", 1, 4096);
  const std::vector<uint32_t> m_list(ms_parsed.begin(), ms_parsed.end());
  const std::vector<Isa> isas = usable_isas(isa);
  std::vector<Family> families;
  for (Family f : {Family::mad, Family::lut})
    if (family == "all" || to_string(f) == family) families.push_back(f);

  auto candidates = [&](Family f, Isa i, Shape s, uint32_t m, Backend b) {
    tuner::Problem p{m == 1 ? Op::gemv : Op::gemm, s.n, s.k, m, i, b};
    std::vector<KernelDesc> out;
    for (const KernelDesc& d : tuner::enumerate(tuner::family_space(f, p.op), tuner::base_desc(p, f)))
      if (kernel_registry().unsupported_reason(d).empty()) out.push_back(d);
    return out;
  };

  if (!vm.count("bench")) {
    nlohmann::json list = nlohmann::json::array();
    for (Family f : families)
      for (Isa i : isas)
        for (uint32_t m : m_list)
          for (Backend b : backends)
          for (const KernelDesc& d : candidates(f, i, shape_list[0], m, b)) {
            if (vm.count("json")) list.push_back(to_name(d));
            else std::cout << to_name(d) << "\n";
          }
    if (vm.count("json")) std::cout << list.dump(2) << "\n";
    return 0;
  }

#ifndef TERN_HAVE_XBYAK
  // The probes that --bench compares against are Xbyak-emitted x86 loops.
  std::cerr << "tern kernels: error: --bench is not available in this build (it needs the x86 Xbyak JIT, which "
               "this build does not have)\n";
  return 2;
#else
  ThreadPool pool(threads);
  const double bw = tuner::read_bandwidth_gbs(), peak = tuner::int8_peak_gops();
  nlohmann::json records = nlohmann::json::array();
  if (!vm.count("json"))
    std::printf("read bandwidth probe %.1f GB/s, int8 MAC peak probe %.0f GOPS (1 thread)\n\n%-62s %4s %11s %3s %5s %10s %8s %7s %6s %6s\n",
                bw, peak, "kernel", "m", "KxN", "t", "wts", "median us", "GOPS", "GB/s", "%peak", "%bw");
  for (Family f : families)
    for (Isa i : isas)
      for (Shape s : shape_list)
        for (uint32_t m : m_list)
         for (Backend b : backends) {
          std::vector<KernelDesc> descs = candidates(f, i, s, m, b);
          if (!vm.count("all")) {
            tuner::Problem p{m == 1 ? Op::gemv : Op::gemm, s.n, s.k, m, i, b};
            KernelDesc def = tuner::default_config(p);
            def.family = f;
            def.backend = b;
            descs = kernel_registry().unsupported_reason(def).empty() ? std::vector<KernelDesc>{def}
                                                                      : std::vector<KernelDesc>(descs.begin(), descs.begin() + std::min<size_t>(1, descs.size()));
          }
          for (const KernelDesc& d : descs)
            for (bool cold : {false, true}) {
              if ((cold && weights == "hot") || (!cold && weights == "cold")) continue;
              Kernel k = kernel_registry().get(d);
              tuner::Workload w(d, cold, 1);
              if (std::string bad = w.verify(k, pool); !bad.empty())
                throw Error("kernel " + to_name(d) + " computes wrong results: " + bad);
              tuner::Timing t = tuner::time_kernel(k, w, pool, 0.2, 10);
              const double gops = 2.0 * m * s.k * s.n / t.median_ns;
              const double gbs = static_cast<double>(w.layout().total_bytes) / t.median_ns;
              nlohmann::json r = {{"name", to_name(d)}, {"family", to_string(d.family)}, {"isa", to_string(d.isa)},
                                  {"backend", to_string(d.backend)}, {"m", m}, {"k", s.k}, {"n", s.n},
                                  {"threads", threads}, {"weights", cold ? "cold" : "hot"}, {"median_ns", t.median_ns},
                                  {"gops", gops}, {"gbs", gbs}, {"peak_ratio", peak > 0 ? gops / (peak * threads) : 0.0},
                                  {"bw_ratio", bw > 0 ? gbs / bw : 0.0}};
              records.push_back(r);
              if (!vm.count("json"))
                std::printf("%-62s %4u %5ux%-5u %3d %5s %10.1f %8.1f %7.1f %5.0f%% %5.0f%%\n", to_name(d).c_str(), m, s.k, s.n,
                            threads, cold ? "cold" : "hot", t.median_ns / 1000, gops, gbs,
                            100 * r["peak_ratio"].get<double>(), 100 * r["bw_ratio"].get<double>());
            }
        }
  if (vm.count("json")) std::cout << records.dump(2) << "\n";
  return 0;
#endif
}

}  // namespace tern::cli
