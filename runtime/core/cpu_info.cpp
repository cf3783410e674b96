#include "runtime/core/cpu_info.h"

#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "runtime/core/error.h"

#if defined(__x86_64__)
#include <cpuid.h>

#include <xbyak/xbyak_util.h>
#elif defined(__aarch64__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace tern {
namespace {

std::string read_line(const std::string& path) {
  std::ifstream f(path);
  std::string s;
  std::getline(f, s);
  return s;
}

// "32K" / "1024K" / "32M" as in sysfs cache/index*/size.
uint64_t parse_size(const std::string& s) {
  if (s.empty() || !std::isdigit(static_cast<unsigned char>(s[0]))) return 0;
  uint64_t v = std::stoull(s);
  if (s.back() == 'K') v <<= 10;
  if (s.back() == 'M') v <<= 20;
  return v;
}

void read_caches(CpuInfo& c) {
  for (int i = 0; i < 8; ++i) {
    std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/";
    std::string level = read_line(dir + "level");
    if (level.empty()) break;
    std::string type = read_line(dir + "type");
    uint64_t size = parse_size(read_line(dir + "size"));
    if (level == "1" && type == "Data") c.l1d_bytes = size;
    if (level == "2" && type != "Instruction") c.l2_bytes = size;
    if (level == "3" && type != "Instruction") c.l3_bytes = size;
  }
  // Fallback where sysfs has no cache directory.
  if (!c.l1d_bytes) c.l1d_bytes = static_cast<uint64_t>(std::max(0L, sysconf(_SC_LEVEL1_DCACHE_SIZE)));
  if (!c.l2_bytes) c.l2_bytes = static_cast<uint64_t>(std::max(0L, sysconf(_SC_LEVEL2_CACHE_SIZE)));
  if (!c.l3_bytes) c.l3_bytes = static_cast<uint64_t>(std::max(0L, sysconf(_SC_LEVEL3_CACHE_SIZE)));
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

#if defined(__x86_64__)
void detect_arch(CpuInfo& c) {
  c.arch = "x86_64";
  unsigned a = 0, b = 0, cc = 0, d = 0;
  __get_cpuid(0, &a, &b, &cc, &d);
  char vendor[13] = {};
  std::memcpy(vendor, &b, 4);
  std::memcpy(vendor + 4, &d, 4);
  std::memcpy(vendor + 8, &cc, 4);
  std::string v = vendor;
  c.vendor = v == "AuthenticAMD" ? "amd" : v == "GenuineIntel" ? "intel" : v;

  __get_cpuid(1, &a, &b, &cc, &d);
  uint32_t family = (a >> 8) & 0xf, model = (a >> 4) & 0xf;
  if (family == 0xf) family += (a >> 20) & 0xff;
  if (family == 0x6 || family >= 0xf) model += ((a >> 16) & 0xf) << 4;
  c.family = family;
  c.model = model;
  c.stepping = a & 0xf;

  unsigned max_ext = __get_cpuid_max(0x80000000, nullptr);
  if (max_ext >= 0x80000004) {
    char brand[49] = {};
    for (unsigned leaf = 0; leaf < 3; ++leaf) {
      __get_cpuid(0x80000002 + leaf, &a, &b, &cc, &d);
      std::memcpy(brand + 16 * leaf, &a, 4);
      std::memcpy(brand + 16 * leaf + 4, &b, 4);
      std::memcpy(brand + 16 * leaf + 8, &cc, 4);
      std::memcpy(brand + 16 * leaf + 12, &d, 4);
    }
    c.brand = trim(brand);
  }

  // Xbyak's Cpu also checks that the OS saves the AVX / AVX-512 / AMX state (XGETBV).
  Xbyak::util::Cpu cpu;
  using X = Xbyak::util::Cpu;
  CpuFeatures& f = c.features;
  f.sse42 = cpu.has(X::tSSE42);
  f.avx = cpu.has(X::tAVX);
  f.avx2 = cpu.has(X::tAVX2);
  f.fma = cpu.has(X::tFMA);
  f.f16c = cpu.has(X::tF16C);
  f.avx512f = cpu.has(X::tAVX512F);
  f.avx512bw = cpu.has(X::tAVX512BW);
  f.avx512vl = cpu.has(X::tAVX512VL);
  f.avx512vnni = cpu.has(X::tAVX512_VNNI);
  f.avxvnni = cpu.has(X::tAVX_VNNI);
  f.amx_tile = cpu.has(X::tAMX_TILE);
  f.amx_int8 = cpu.has(X::tAMX_INT8);
}
#elif defined(__aarch64__)
static_assert(arm_hwcap::asimd == HWCAP_ASIMD && arm_hwcap::cpuid == HWCAP_CPUID &&
              arm_hwcap::asimddp == HWCAP_ASIMDDP && arm_hwcap::sve == HWCAP_SVE);
#ifdef HWCAP2_I8MM
static_assert(arm_hwcap::i8mm == HWCAP2_I8MM);
#endif

void detect_arch(CpuInfo& c) {
  const uint64_t hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
  std::ifstream f("/proc/cpuinfo");
  const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::optional<uint64_t> midr;
  if (hw & arm_hwcap::cpuid) {
    // The kernel (and qemu-user) emulate this EL1 register read for user space.
    uint64_t v;
    asm volatile("mrs %0, midr_el1" : "=r"(v));
    midr = v;
  }
  c = arm_cpu_info(hw, hw2, text, midr);
}
#else
void detect_arch(CpuInfo& c) { c.arch = "unknown"; }
#endif

std::string slug(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (std::isalnum(static_cast<unsigned char>(ch)))
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    else if (!out.empty() && out.back() != '-')
      out += '-';
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out;
}

// MIDR_EL1 implementer codes (Arm ARM, "Main ID Register") tern names.
std::string arm_vendor(uint32_t implementer) {
  switch (implementer) {
    case 0x41: return "arm";
    case 0x42: return "broadcom";
    case 0x43: return "cavium";
    case 0x46: return "fujitsu";
    case 0x48: return "hisilicon";
    case 0x4e: return "nvidia";
    case 0x50: return "apm";
    case 0x51: return "qualcomm";
    case 0x53: return "samsung";
    case 0x61: return "apple";
    case 0x6d: return "microsoft";
    case 0xc0: return "ampere";
  }
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%02x", implementer);
  return buf;
}

// Arm's own cores (implementer 0x41) by part number, for `tern info`; not part of the cpu-id.
std::string arm_core_name(uint32_t implementer, uint32_t part) {
  if (implementer != 0x41) return "";
  switch (part) {
    case 0xd03: return "Cortex-A53";
    case 0xd05: return "Cortex-A55";
    case 0xd07: return "Cortex-A57";
    case 0xd08: return "Cortex-A72";
    case 0xd09: return "Cortex-A73";
    case 0xd0a: return "Cortex-A75";
    case 0xd0b: return "Cortex-A76";
    case 0xd0c: return "Neoverse-N1";
    case 0xd0d: return "Cortex-A77";
    case 0xd40: return "Neoverse-V1";
    case 0xd41: return "Cortex-A78";
    case 0xd44: return "Cortex-X1";
    case 0xd46: return "Cortex-A510";
    case 0xd47: return "Cortex-A710";
    case 0xd48: return "Cortex-X2";
    case 0xd49: return "Neoverse-N2";
    case 0xd4d: return "Cortex-A715";
    case 0xd4e: return "Cortex-X3";
    case 0xd4f: return "Neoverse-V2";
    case 0xd80: return "Cortex-A520";
    case 0xd81: return "Cortex-A720";
    case 0xd82: return "Cortex-X4";
  }
  return "";
}

bool hardware_has(const CpuFeatures& f, Isa isa) {
  switch (isa) {
    case Isa::scalar: return true;
    case Isa::avx2: return f.avx2 && f.fma;
    case Isa::avxvnni: return f.avx2 && f.avxvnni;
    case Isa::avx512vnni: return f.avx512f && f.avx512bw && f.avx512vl && f.avx512vnni;
    case Isa::neon: return f.neon;
    case Isa::neondot: return f.neon && f.dotprod;
    // Cumulative like the caps: i8mm kernels may use SDOT too (every Armv8.6 core has both).
    case Isa::i8mm: return f.neon && f.dotprod && f.i8mm;
  }
  return false;
}

}  // namespace

// Cumulative ISA levels per architecture (oneDNN's cpu_isa_traits): a cap admits
// its own level and those below it. avxvnni (VEX-encoded VNNI on 256-bit) sits
// below avx512vnni: every AVX-512 VNNI CPU can run the 256-bit EVEX forms.
bool isa_within(Isa isa, Isa cap) {
  auto rank = [](Isa i) -> int {
    switch (i) {
      case Isa::scalar: return 0;
      case Isa::avx2: case Isa::neon: return 1;
      case Isa::avxvnni: case Isa::neondot: return 2;
      case Isa::avx512vnni: case Isa::i8mm: return 3;
    }
    return 0;
  };
  auto arm = [](Isa i) { return i == Isa::neon || i == Isa::neondot || i == Isa::i8mm; };
  if (isa != Isa::scalar && cap != Isa::scalar && arm(isa) != arm(cap)) return false;
  return rank(isa) <= rank(cap);
}

std::optional<Isa> max_isa_from_env() {
  const char* env = std::getenv("TERN_MAX_ISA");
  if (!env || !*env) return std::nullopt;
  std::string s = env;
  for (Isa i : EnumValues<Isa>::all)
    if (to_string(i) == s) return i;
  std::string known;
  for (Isa i : EnumValues<Isa>::all) known += (known.empty() ? "" : ", ") + std::string(to_string(i));
  throw Error("TERN_MAX_ISA='" + s + "' is not an ISA tern knows; expected one of: " + known);
}

Isa CpuInfo::best_isa() const {
  Isa best = Isa::scalar;
  for (Isa i : EnumValues<Isa>::all)
    if (hardware_has(features, i) && isa_within(best, i)) best = i;
  return best;
}

bool CpuInfo::supports(Isa isa) const {
  if (!hardware_has(features, isa)) return false;
  std::optional<Isa> cap = max_isa_from_env();
  return !cap || isa_within(isa, *cap);
}

std::string CpuInfo::isa_class() const { return arch + "-" + std::string(to_string(best_isa())); }

CpuFeatures arm_features(uint64_t hwcap, uint64_t hwcap2) {
  CpuFeatures f;
  f.neon = hwcap & arm_hwcap::asimd;
  f.dotprod = hwcap & arm_hwcap::asimddp;
  f.sve = hwcap & arm_hwcap::sve;
  f.i8mm = hwcap2 & arm_hwcap::i8mm;
  return f;
}

CpuInfo arm_cpu_info(uint64_t hwcap, uint64_t hwcap2, const std::string& proc_cpuinfo, std::optional<uint64_t> midr) {
  CpuInfo c;
  c.arch = "aarch64";
  c.features = arm_features(hwcap, hwcap2);
  // The first processor's lines: on big.LITTLE parts the processors differ, and the first is
  // what every run of this machine reads alike.
  std::optional<uint32_t> implementer, part, revision;
  std::istringstream in(proc_cpuinfo);
  std::string line;
  while (std::getline(in, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = trim(line.substr(0, colon)), value = trim(line.substr(colon + 1));
    const auto num = [&] { return static_cast<uint32_t>(std::strtoul(value.c_str(), nullptr, 0)); };
    if (key == "CPU implementer" && !implementer) implementer = num();
    if (key == "CPU part" && !part) part = num();
    if (key == "CPU revision" && !revision) revision = num();
  }
  if (implementer && part) {
    c.family = *implementer;
    c.model = *part;
    c.stepping = revision.value_or(0);
  } else if (midr) {
    c.family = static_cast<uint32_t>((*midr >> 24) & 0xff);
    c.model = static_cast<uint32_t>((*midr >> 4) & 0xfff);
    c.stepping = static_cast<uint32_t>(*midr & 0xf);
  }
  c.vendor = arm_vendor(c.family);
  c.brand = arm_core_name(c.family, c.model);
  return c;
}

std::string CpuInfo::cpu_id() const {
  if (arch == "aarch64") {
    // The part number as MIDR and /proc/cpuinfo spell it.
    char part[16];
    std::snprintf(part, sizeof part, "0x%03x", model);
    return arch + "-" + slug(vendor) + "-" + part + "-" + std::string(to_string(best_isa()));
  }
  std::string id = arch + "-" + slug(vendor) + "-f" + std::to_string(family) + "m" + std::to_string(model);
  std::string b = slug(brand);
  if (!b.empty()) id += "-" + b;
  return id + "-" + std::string(to_string(best_isa()));
}

CpuInfo detect_cpu() {
  CpuInfo c;
  detect_arch(c);
  read_caches(c);
  long online = sysconf(_SC_NPROCESSORS_ONLN);
  c.cores = online > 0 ? static_cast<uint32_t>(online) : std::thread::hardware_concurrency();
  return c;
}

const CpuInfo& host_cpu() {
  static const CpuInfo info = detect_cpu();
  return info;
}

void to_json(nlohmann::json& j, const CpuInfo& c) {
  nlohmann::json isa = nlohmann::json::object();
#define TERN_FEATURE_TO_JSON(f, s) isa[s] = c.features.f;
  TERN_CPU_FEATURES(TERN_FEATURE_TO_JSON)
#undef TERN_FEATURE_TO_JSON
  j = {{"arch", c.arch},         {"vendor", c.vendor},     {"family", c.family},
       {"model", c.model},       {"stepping", c.stepping}, {"brand", c.brand},
       {"isa", isa},             {"l1d_bytes", c.l1d_bytes}, {"l2_bytes", c.l2_bytes},
       {"l3_bytes", c.l3_bytes}, {"cores", c.cores},       {"cpu_id", c.cpu_id()},
       {"isa_class", c.isa_class()}};
}

void from_json(const nlohmann::json& j, CpuInfo& c) {
  try {
    CpuInfo out;
    j.at("arch").get_to(out.arch);
    j.at("vendor").get_to(out.vendor);
    j.at("family").get_to(out.family);
    j.at("model").get_to(out.model);
    j.at("stepping").get_to(out.stepping);
    j.at("brand").get_to(out.brand);
    const auto& isa = j.at("isa");
#define TERN_FEATURE_FROM_JSON(f, s) isa.at(s).get_to(out.features.f);
    TERN_CPU_FEATURES(TERN_FEATURE_FROM_JSON)
#undef TERN_FEATURE_FROM_JSON
    j.at("l1d_bytes").get_to(out.l1d_bytes);
    j.at("l2_bytes").get_to(out.l2_bytes);
    j.at("l3_bytes").get_to(out.l3_bytes);
    j.at("cores").get_to(out.cores);
    c = out;
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("CPU fingerprint: ") + e.what());
  }
}

std::string default_cache_dir() {
  if (const char* d = std::getenv("TERN_CACHE_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/tern";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/tern";
  return ".tern-cache";
}

}  // namespace tern
