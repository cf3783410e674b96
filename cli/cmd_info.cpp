// tern info: the CPU fingerprint (the tuning cache key) and what tern can run here.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/cli_common.h"
#include "jit/x86/xbyak_backend.h"
#include "runtime/core/cpu_info.h"
#ifdef TERN_WITH_LLVM
#include "jit/llvm/llvm_backend.h"
#endif

namespace tern::cli {

int cmd_info(const std::vector<std::string>& args) {
  po::options_description desc("options");
  desc.add_options()("json", "print one JSON object instead of text");
  po::variables_map vm;
  if (!parse_options("info", args, desc, vm, "[--json]",
                     "  tern info\n  tern info --json | jq .cpu.cpu_id\n"))
    return 0;

  const CpuInfo& cpu = host_cpu();
  std::optional<Isa> cap = max_isa_from_env();  // validates TERN_MAX_ISA
  Isa best = cpu.best_isa();
  Isa usable = Isa::scalar;
  for (Isa i : EnumValues<Isa>::all)
    if (cpu.supports(i) && isa_within(usable, i)) usable = i;

  nlohmann::json backends = nlohmann::json::array();
  backends.push_back({{"name", "ref"}});
#if defined(__x86_64__)
  backends.push_back({{"name", "xbyak"}, {"version", jit::xbyak_version()}});
#endif
#ifdef TERN_WITH_LLVM
  backends.push_back({{"name", "llvm"}, {"version", jit::llvm_version()}, {"host_cpu", jit::llvm_host_cpu()}});
#endif

  if (vm.count("json")) {
    nlohmann::json j;
    j["tern_version"] = TERN_VERSION;
    j["cpu"] = cpu;
    j["best_isa"] = to_string(best);
    j["max_isa"] = cap ? nlohmann::json(std::string(to_string(*cap))) : nlohmann::json(nullptr);
    j["usable_isa"] = to_string(usable);
    j["backends"] = backends;
    j["cache_dir"] = default_cache_dir();
    std::cout << j.dump(2) << "\n";
    return 0;
  }

  std::string isa_bits;
#define TERN_FEATURE_TEXT(f, s) \
  if (cpu.features.f) isa_bits += std::string(isa_bits.empty() ? "" : " ") + s;
  TERN_CPU_FEATURES(TERN_FEATURE_TEXT)
#undef TERN_FEATURE_TEXT
  std::string backend_text;
  for (const auto& b : backends) {
    if (!backend_text.empty()) backend_text += ", ";
    backend_text += b["name"].get<std::string>();
    // Appended piece by piece: GCC 12 warns (-Wrestrict, a false positive) on "literal" + string.
    if (b.contains("version")) backend_text.append(" ").append(b["version"].get<std::string>());
    if (b.contains("host_cpu")) backend_text.append(" (host cpu ").append(b["host_cpu"].get<std::string>()).append(")");
  }
  auto row = [](const char* k, const std::string& v) {
    std::cout << k << std::string(12 - std::string(k).size(), ' ') << v << "\n";
  };
  row("cpu-id", cpu.cpu_id());
  row("arch", cpu.arch);
  row("vendor", cpu.vendor + " (family " + std::to_string(cpu.family) + ", model " +
                    std::to_string(cpu.model) + ", stepping " + std::to_string(cpu.stepping) + ")");
  row("brand", cpu.brand.empty() ? "(none reported)" : cpu.brand);
  row("isa", isa_bits.empty() ? "(none)" : isa_bits);
  row("kernel isa", std::string(to_string(usable)) + (cap ? " (capped by TERN_MAX_ISA=" + std::string(to_string(*cap)) + ", hardware " + std::string(to_string(best)) + ")" : ""));
  row("caches", "L1d " + human_bytes(cpu.l1d_bytes) + ", L2 " + human_bytes(cpu.l2_bytes) + ", L3 " +
                    human_bytes(cpu.l3_bytes));
  row("cores", std::to_string(cpu.cores));
  row("backends", backend_text);
  row("cache dir", default_cache_dir());
  return 0;
}

}  // namespace tern::cli
