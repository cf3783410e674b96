#include "runtime/dispatch/tuning_cache.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>

#include "runtime/core/error.h"
#include "runtime/core/layout.h"
#include "runtime/dispatch/kernel_registry.h"

namespace tern {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Field readers that say which field is wrong; nlohmann's own getters would
// silently wrap a negative number into an unsigned one.
const json& field(const json& j, const char* key, const std::string& where) {
  if (!j.is_object()) throw Error(where + ": expected a JSON object");
  auto it = j.find(key);
  if (it == j.end()) throw Error("missing field '" + where + "." + key + "'");
  return *it;
}

uint32_t get_u32(const json& j, const char* key, const std::string& where) {
  const json& v = field(j, key, where);
  // Parsed text gives unsigned numbers; a json built in memory from an int is signed.
  if (!v.is_number_integer() || (!v.is_number_unsigned() && v.get<int64_t>() < 0) ||
      v.get<uint64_t>() > std::numeric_limits<uint32_t>::max())
    throw Error("field '" + where + "." + key + "' = " + v.dump() + ", expected a non-negative integer");
  return static_cast<uint32_t>(v.get<uint64_t>());
}

// For the int fields (counts): a uint32 above INT_MAX would wrap negative and be written
// back that way, which the next load rejects (found by fuzz_cache_json).
int get_int(const json& j, const char* key, const std::string& where) {
  const uint32_t v = get_u32(j, key, where);
  if (v > static_cast<uint32_t>(std::numeric_limits<int>::max()))
    throw Error("field '" + where + "." + key + "' = " + std::to_string(v) + ", expected at most " +
                std::to_string(std::numeric_limits<int>::max()));
  return static_cast<int>(v);
}

uint64_t get_u64(const json& j, const char* key, const std::string& where) {
  const json& v = field(j, key, where);
  if (!v.is_number_integer() || (!v.is_number_unsigned() && v.get<int64_t>() < 0))
    throw Error("field '" + where + "." + key + "' = " + v.dump() + ", expected a non-negative integer");
  return v.get<uint64_t>();
}

double get_number(const json& j, const char* key, const std::string& where) {
  const json& v = field(j, key, where);
  if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0)
    throw Error("field '" + where + "." + key + "' = " + v.dump() + ", expected a non-negative number");
  return v.get<double>();
}

const std::string& get_string(const json& j, const char* key, const std::string& where) {
  const json& v = field(j, key, where);
  if (!v.is_string()) throw Error("field '" + where + "." + key + "' = " + v.dump() + ", expected a string");
  return v.get_ref<const std::string&>();
}

template <class E>
E get_enum(const json& j, const char* key, const std::string& where) {
  const std::string& s = get_string(j, key, where);
  for (E e : EnumValues<E>::all)
    if (to_string(e) == s) return e;
  throw Error("field '" + where + "." + key + "' = \"" + s + "\" is not a value tern knows");
}

std::string describe(const TuningRecord& r) { return to_string(r.problem); }

// A whole file: records, or why the file as a whole cannot be used.
struct FileContent {
  bool exists = false;
  bool usable = false;  // parsed as a tern-tuning file of this schema
  std::vector<TuningRecord> records;
};

FileContent read_file(const std::string& path, std::vector<std::string>* warnings) {
  FileContent out;
  auto warn = [&](const std::string& w) {
    if (warnings) warnings->push_back(path + ": " + w);
  };
  std::error_code ec;
  if (!fs::exists(path, ec)) return out;
  out.exists = true;
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    warn(std::string("cannot read (") + std::strerror(errno) + "): skipped");
    return out;
  }
  std::stringstream ss;
  ss << f.rdbuf();
  json doc;
  try {
    doc = json::parse(ss.str());
  } catch (const json::exception& e) {
    warn(std::string("not valid JSON (") + e.what() + "): skipped");
    return out;
  }
  if (!doc.is_object() || !doc.contains("format") || doc["format"] != kTuningFormat) {
    warn(std::string("not a tern tuning file (no \"format\": \"") + kTuningFormat + "\"): skipped");
    return out;
  }
  if (!doc.contains("schema") || !doc["schema"].is_number_integer() || doc["schema"] != kTuningSchema) {
    warn("schema " + (doc.contains("schema") ? doc["schema"].dump() : std::string("missing")) +
         ", this tern reads schema " + std::to_string(kTuningSchema) +
         " (written by another tern version?): skipped");
    return out;
  }
  if (!doc.contains("records") || !doc["records"].is_array()) {
    warn("\"records\" is not an array: skipped");
    return out;
  }
  out.usable = true;
  const json& records = doc["records"];
  for (size_t i = 0; i < records.size(); ++i) {
    try {
      out.records.push_back(records[i].get<TuningRecord>());
    } catch (const std::exception& e) {  // tern::Error, or a JSON type error nested deeper
      warn("record " + std::to_string(i) + ": " + e.what() + ": skipped");
    }
  }
  return out;
}

// Why `cpu` cannot use a record's kernel, or empty.
std::string unusable_reason(const KernelDesc& d, const CpuInfo& cpu, const KernelRegistry& registry) {
  if (!cpu.supports(d.isa))
    return "names " + std::string(to_string(d.isa)) + ", which this CPU (or TERN_MAX_ISA) cannot run";
  return registry.unsupported_reason(d, cpu);
}

}  // namespace

std::string to_string(const KernelProblem& p) {
  return std::string(tern::to_string(p.op)) + " KxN " + std::to_string(p.k) + "x" + std::to_string(p.n) +
         " m=" + std::to_string(p.m) + " t=" + std::to_string(p.threads);
}

bool TuningRecord::same_key(const TuningRecord& o) const {
  return problem == o.problem && cpu.cpu_id() == o.cpu.cpu_id();
}

void to_json(json& j, const KernelProblem& p) {
  j = {
      {"op", std::string(tern::to_string(p.op))}, {"n", p.n}, {"k", p.k}, {"m", p.m}, {"threads", p.threads}};
}

void from_json(const json& j, KernelProblem& p) {
  KernelProblem out;
  out.op = get_enum<Op>(j, "op", "problem");
  out.n = get_u32(j, "n", "problem");
  out.k = get_u32(j, "k", "problem");
  out.m = get_u32(j, "m", "problem");
  out.threads = get_u32(j, "threads", "problem");
  if (out.n == 0 || out.k == 0 || out.m == 0 || out.threads == 0)
    throw Error("problem " + to_string(out) + ": sizes and threads must be positive");
  if (out.op != (out.m == 1 ? Op::gemv : Op::gemm))
    throw Error("problem " + to_string(out) + ": op must be gemv for m = 1 and gemm otherwise");
  p = out;
}

void to_json(json& j, const TuningRecord& r) {
  j = {{"schema", r.schema},
       {"tern_version", r.tern_version},
       {"cpu", r.cpu},
       {"problem", r.problem},
       {"config", {{"name", to_name(r.config)}, {"desc", r.config}}},
       {"backend", std::string(tern::to_string(r.config.backend))},
       {"metrics",
        {{"median_ns", r.metrics.median_ns},
         {"gops", r.metrics.gops},
         {"gbs", r.metrics.gbs},
         {"runs", r.metrics.runs},
         {"threads", r.metrics.threads},
         {"weights", r.metrics.cold_weights ? "cold" : "hot"}}},
       {"verified", r.verified}};
  if (!r.tuned_at.empty()) j["tuned_at"] = r.tuned_at;
  if (r.paired)
    j["paired"] = {{"gemv", r.paired->gemv},
                   {"config", {{"name", to_name(r.paired->config)}, {"desc", r.paired->config}}},
                   {"median_ns", r.paired->median_ns}};
  if (r.search) {
    const TuningSearch& s = *r.search;
    j["search"] = {{"strategy", s.strategy},
                   {"candidates", s.candidates},
                   {"rejected", s.rejected},
                   {"space", s.space},
                   {"default_median_ns", s.default_median_ns},
                   {"worst_median_ns", s.worst_median_ns},
                   {"seconds", s.seconds}};
  }
}

void from_json(const json& j, TuningRecord& r) {
  if (!j.is_object()) throw Error("expected a JSON object");
  TuningRecord out;
  const json& schema = field(j, "schema", "record");
  if (!schema.is_number_integer() || schema != kTuningSchema)
    throw Error("schema " + schema.dump() + ", this tern reads schema " + std::to_string(kTuningSchema));
  out.tern_version = get_string(j, "tern_version", "record");
  const json& cpu = field(j, "cpu", "record");
  // CpuInfo's from_json converts with nlohmann's get_to, which wraps a negative number into
  // an unsigned field and is undefined behaviour for a float out of range ("family": 1e300,
  // found by fuzz_cache_json): a file is input, so its numbers are checked here first.
  for (const char* key : {"family", "model", "stepping", "cores"}) (void)get_u32(cpu, key, "cpu");
  for (const char* key : {"l1d_bytes", "l2_bytes", "l3_bytes"}) (void)get_u64(cpu, key, "cpu");
  from_json(cpu, out.cpu);
  if (cpu.contains("cpu_id") && cpu["cpu_id"] != out.cpu.cpu_id())
    throw Error("cpu.cpu_id " + cpu["cpu_id"].dump() + " disagrees with the fingerprint (" +
                out.cpu.cpu_id() + ")");
  out.problem = field(j, "problem", "record").get<KernelProblem>();

  const json& config = field(j, "config", "record");
  const std::string& name = get_string(config, "name", "config");
  from_json(field(config, "desc", "config"), out.config);
  if (to_name(out.config) != name)
    throw Error("config.name " + name + " disagrees with config.desc (" + to_name(out.config) + ")");
  const KernelDesc& d = out.config;
  if (d.op != out.problem.op || d.n != out.problem.n || d.k != out.problem.k || d.m != out.problem.m)
    throw Error("config " + name + " is not for the record's problem (" + to_string(out.problem) + ")");
  if (get_enum<Backend>(j, "backend", "record") != d.backend)
    throw Error("backend " + j["backend"].dump() + " disagrees with config " + name);

  const json& m = field(j, "metrics", "record");
  out.metrics.median_ns = get_number(m, "median_ns", "metrics");
  if (!(out.metrics.median_ns > 0)) throw Error("metrics.median_ns must be positive");
  out.metrics.gops = get_number(m, "gops", "metrics");
  out.metrics.gbs = get_number(m, "gbs", "metrics");
  out.metrics.runs = get_int(m, "runs", "metrics");
  out.metrics.threads = get_u32(m, "threads", "metrics");
  if (out.metrics.threads != out.problem.threads)
    throw Error("metrics.threads " + std::to_string(out.metrics.threads) +
                " disagrees with problem.threads " + std::to_string(out.problem.threads));
  if (m.contains("weights")) out.metrics.cold_weights = get_string(m, "weights", "metrics") == "cold";

  const json& verified = field(j, "verified", "record");
  if (verified != true) throw Error("not verified (\"verified\": " + verified.dump() + ")");
  if (j.contains("tuned_at")) out.tuned_at = get_string(j, "tuned_at", "record");
  if (auto it = j.find("paired"); it != j.end()) {
    PairedConfig pc;
    pc.gemv = get_string(*it, "gemv", "paired");
    const json& pcfg = field(*it, "config", "paired");
    const std::string& pname = get_string(pcfg, "name", "paired.config");
    from_json(field(pcfg, "desc", "paired.config"), pc.config);
    if (to_name(pc.config) != pname)
      throw Error("paired.config.name " + pname + " disagrees with its desc (" + to_name(pc.config) + ")");
    const KernelDesc& q = pc.config;
    if (q.op != d.op || q.n != d.n || q.k != d.k || q.m != d.m)
      throw Error("paired config " + pname + " is not for the record's problem");
    std::optional<KernelDesc> gemv = try_parse_name(pc.gemv);
    if (!gemv || !same_packed_layout(*gemv, q))
      throw Error("paired config " + pname + " does not share the packed layout of " + pc.gemv);
    pc.median_ns = get_number(*it, "median_ns", "paired");
    out.paired = pc;
  }
  // The search summary is informative only: a malformed one is dropped, not fatal.
  if (auto it = j.find("search"); it != j.end() && it->is_object()) {
    try {
      TuningSearch s;
      s.strategy = get_string(*it, "strategy", "search");
      s.candidates = get_int(*it, "candidates", "search");
      s.rejected = get_int(*it, "rejected", "search");
      s.space = get_int(*it, "space", "search");
      s.default_median_ns = get_number(*it, "default_median_ns", "search");
      s.worst_median_ns = get_number(*it, "worst_median_ns", "search");
      s.seconds = get_number(*it, "seconds", "search");
      out.search = s;
    } catch (const Error&) {
    }
  }
  r = std::move(out);
}

bool same_packed_layout(const KernelDesc& a, const KernelDesc& b) {
  try {
    const PackedLayout x = layout_of(a), y = layout_of(b);
    return x.family == y.family && x.group == y.group && x.vec_bytes == y.vec_bytes && x.n_tile == y.n_tile &&
           x.k_block == y.k_block && x.n == y.n && x.k == y.k && x.n_padded == y.n_padded &&
           x.k_padded == y.k_padded && x.row_bytes == y.row_bytes && x.tile_bytes == y.tile_bytes &&
           x.total_bytes == y.total_bytes && x.lut_group == y.lut_group && x.unit_groups == y.unit_groups &&
           x.unit_elems == y.unit_elems && x.unit_bytes == y.unit_bytes && x.lut_signs == y.lut_signs &&
           x.lut_pn == y.lut_pn && x.corr_offset == y.corr_offset;
  } catch (const Error&) {
    return false;
  }
}

std::string utc_timestamp() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::vector<TuningRecord> load_tuning_records(const std::string& path, std::vector<std::string>* warnings) {
  return read_file(path, warnings).records;
}

std::vector<TuningRecord> merge_tuning_records(std::vector<TuningRecord> existing,
                                               const std::vector<TuningRecord>& fresh, MergePolicy policy) {
  for (const TuningRecord& f : fresh) {
    bool placed = false;
    for (auto it = existing.begin(); it != existing.end();) {
      if (!it->same_key(f)) {
        ++it;
        continue;
      }
      if (placed) {  // a duplicate key already in the file: keep one
        it = existing.erase(it);
        continue;
      }
      if (policy == MergePolicy::newer || f.metrics.median_ns < it->metrics.median_ns) *it = f;
      placed = true;
      ++it;
    }
    if (!placed) existing.push_back(f);
  }
  return existing;
}

void write_tuning_records(const std::string& path, const std::vector<TuningRecord>& records) {
  json doc = {{"format", kTuningFormat}, {"schema", kTuningSchema}, {"records", records}};
  const std::string text = doc.dump(2) + "\n";
  const fs::path target(path);
  std::error_code ec;
  if (target.has_parent_path()) {
    fs::create_directories(target.parent_path(), ec);
    if (ec)
      throw Error(path + ": cannot create the directory " + target.parent_path().string() + " (" +
                  ec.message() + ")");
  }
  const std::string temp = path + ".tmp." + std::to_string(getpid());
  auto fail = [&](const std::string& what) {
    const std::string why = std::strerror(errno);
    ::unlink(temp.c_str());
    throw Error(path + ": cannot " + what + " (" + why + ")");
  };
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(path + ": cannot create " + temp + " (" + std::strerror(errno) + ")");
  size_t done = 0;
  while (done < text.size()) {
    ssize_t w = ::write(fd, text.data() + done, text.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      ::close(fd);
      fail("write");
    }
    done += static_cast<size_t>(w);
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    fail("sync");
  }
  if (::close(fd) != 0) fail("close");
  if (std::rename(temp.c_str(), path.c_str()) != 0) fail("rename the temporary file onto it");
  // Make the rename itself durable.
  const std::string dir = target.has_parent_path() ? target.parent_path().string() : ".";
  if (int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

std::vector<TuningRecord> save_tuning_records(const std::string& path, const std::vector<TuningRecord>& fresh,
                                              std::vector<std::string>* warnings, MergePolicy policy) {
  FileContent old = read_file(path, warnings);
  if (old.exists && !old.usable) {
    std::string stamp = utc_timestamp();
    stamp.erase(std::remove(stamp.begin(), stamp.end(), ':'), stamp.end());
    const std::string aside = path + ".bad-" + stamp;
    if (std::rename(path.c_str(), aside.c_str()) != 0)
      throw Error(path + ": cannot be used and cannot be moved aside to " + aside + " (" +
                  std::strerror(errno) + ")");
    if (warnings) warnings->push_back(path + ": kept the unusable file as " + aside + " and wrote a new one");
  }
  std::vector<TuningRecord> merged = merge_tuning_records(std::move(old.records), fresh, policy);
  write_tuning_records(path, merged);
  return merged;
}

TuningSearchPaths TuningSearchPaths::from_env() {
  TuningSearchPaths p;
  p.user_cache_dir = default_cache_dir();
  if (const char* r = std::getenv("TERN_RESULTS_DIR")) {
    p.results_dir = r;  // set but empty: no shipped results
  } else {
#ifdef TERN_RESULTS_DIR
    p.results_dir = TERN_RESULTS_DIR;
#endif
  }
  return p;
}

std::string tuning_file(const std::string& dir, const CpuInfo& cpu) {
  return (fs::path(dir) / (cpu.cpu_id() + ".json")).string();
}

std::string_view to_string(TuningSource s) {
  switch (s) {
    case TuningSource::user_cache:
      return "user cache";
    case TuningSource::results_exact:
      return "shipped results (this CPU)";
    case TuningSource::results_isa_class:
      return "shipped results (same ISA class)";
  }
  return "?";
}

TuningCache TuningCache::load(const CpuInfo& cpu, const TuningSearchPaths& paths) {
  return load(cpu, paths, kernel_registry());
}

TuningCache TuningCache::load(const CpuInfo& cpu, const TuningSearchPaths& paths,
                              const KernelRegistry& registry) {
  TuningCache c;
  const std::string id = cpu.cpu_id(), cls = cpu.isa_class();
  size_t order = 0;
  // Records above TERN_MAX_ISA are left out by the user's choice: one line per file says so.
  const std::optional<Isa> cap = max_isa_from_env();
  std::map<std::string, std::pair<size_t, std::set<std::string_view>>> capped;
  auto add = [&](const std::string& file, size_t index, TuningRecord r, TuningSource src, int affinity) {
    if (cap && !isa_within(r.config.isa, *cap)) {
      auto& [count, isas] = capped[file];
      ++count;
      isas.insert(to_string(r.config.isa));
      return;
    }
    const std::string where = file + ": record " + std::to_string(index) + " (" + describe(r) + "): ";
    if (std::string why = unusable_reason(r.config, cpu, registry); !why.empty()) {
      c.warnings_.push_back(where + "kernel " + to_name(r.config) + " " + why + ": skipped");
      return;
    }
    if (r.paired) {
      if (std::string why = unusable_reason(r.paired->config, cpu, registry); !why.empty()) {
        c.warnings_.push_back(where + "paired kernel " + to_name(r.paired->config) + " " + why + ": ignored");
        r.paired.reset();
      }
    }
    const KernelDesc d = r.config;
    c.entries_.push_back({{d, src, file, std::move(r)}, affinity, order++});
  };
  // An exact-CPU file: every record must be this CPU's.
  auto read_exact = [&](const std::string& file, TuningSource src) {
    std::vector<TuningRecord> recs = load_tuning_records(file, &c.warnings_);
    for (size_t i = 0; i < recs.size(); ++i) {
      if (recs[i].cpu.cpu_id() != id) {
        c.warnings_.push_back(file + ": record " + std::to_string(i) + " (" + describe(recs[i]) +
                              ") is for CPU " + recs[i].cpu.cpu_id() + ", not this CPU (" + id +
                              "): skipped");
        continue;
      }
      add(file, i, recs[i], src, 0);
    }
  };

  if (!paths.user_cache_dir.empty())
    read_exact(tuning_file(paths.user_cache_dir, cpu), TuningSource::user_cache);

  std::error_code ec;
  if (!paths.results_dir.empty() && fs::is_directory(paths.results_dir, ec)) {
    const std::string exact = tuning_file(paths.results_dir, cpu);
    read_exact(exact, TuningSource::results_exact);
    std::vector<std::string> others;
    for (const auto& e : fs::directory_iterator(paths.results_dir, ec))
      if (e.path().extension() == ".json" && e.path().string() != exact && e.is_regular_file(ec))
        others.push_back(e.path().string());
    std::sort(others.begin(), others.end());
    for (const std::string& file : others) {
      std::vector<TuningRecord> recs = load_tuning_records(file, &c.warnings_);
      for (size_t i = 0; i < recs.size(); ++i) {
        const CpuInfo& o = recs[i].cpu;
        if (o.cpu_id() == id) {
          add(file, i, recs[i], TuningSource::results_exact, 0);
        } else if (o.isa_class() == cls) {
          const int affinity = o.vendor != cpu.vendor   ? 0
                               : o.family != cpu.family ? 1
                               : o.model != cpu.model   ? 2
                                                        : 3;
          add(file, i, recs[i], TuningSource::results_isa_class, affinity);
        }
        // Records of other ISA classes are other machines' data, not an error.
      }
    }
  }
  for (const auto& [file, what] : capped) {
    std::string isas;
    for (std::string_view i : what.second) isas += (isas.empty() ? "" : ", ") + std::string(i);
    c.warnings_.push_back(file + ": " + std::to_string(what.first) + (what.first == 1 ? " record names " : " records name ") +
                          isas + ", above TERN_MAX_ISA=" + std::string(to_string(*cap)) + ": skipped");
  }
  return c;
}

std::optional<TunedKernel> TuningCache::find(const KernelProblem& p) const {
  for (TuningSource tier :
       {TuningSource::user_cache, TuningSource::results_exact, TuningSource::results_isa_class}) {
    const Entry* best = nullptr;
    auto dist = [&](const Entry& e) {
      const uint32_t t = e.kernel.record.problem.threads;
      return t > p.threads ? t - p.threads : p.threads - t;
    };
    // Larger m (not above p.m) first, then a closer CPU, then the nearest thread count
    // (ties: fewer threads), then file order.
    auto better = [&](const Entry& a, const Entry& b) {
      const KernelProblem &pa = a.kernel.record.problem, &pb = b.kernel.record.problem;
      if (pa.m != pb.m) return pa.m > pb.m;
      if (a.affinity != b.affinity) return a.affinity > b.affinity;
      if (dist(a) != dist(b)) return dist(a) < dist(b);
      if (pa.threads != pb.threads) return pa.threads < pb.threads;
      return a.order < b.order;
    };
    for (const Entry& e : entries_) {
      const KernelProblem& rp = e.kernel.record.problem;
      if (e.kernel.source != tier || rp.n != p.n || rp.k != p.k || rp.m > p.m) continue;
      if (!best || better(e, *best)) best = &e;
    }
    if (best) return best->kernel;
  }
  return std::nullopt;
}

std::optional<TunedPair> TuningCache::find_pair(uint32_t n, uint32_t k, uint32_t m, uint32_t threads) const {
  std::optional<TunedKernel> gemv = find(KernelProblem::make(n, k, 1, threads));
  if (!gemv) return std::nullopt;
  TunedPair out{*gemv, std::nullopt, false};
  if (m <= 1) return out;
  std::optional<TunedKernel> g = find(KernelProblem::make(n, k, m, threads));
  if (!g || g->record.problem.m == 1) return out;
  if (same_packed_layout(gemv->desc, g->desc)) {
    out.gemm = g->desc;
    out.gemm_is_winner = true;
  } else if (g->record.paired && g->record.paired->gemv == to_name(gemv->desc)) {
    out.gemm = g->record.paired->config;
  }
  return out;
}

std::optional<KernelDesc> lookup_kernel(const KernelProblem& p, const CpuInfo& cpu,
                                        std::vector<std::string>* warnings, const TuningSearchPaths& paths) {
  TuningCache c = TuningCache::load(cpu, paths);
  if (warnings) warnings->insert(warnings->end(), c.warnings().begin(), c.warnings().end());
  std::optional<TunedKernel> k = c.find(p);
  if (!k) return std::nullopt;
  return k->desc;
}

}  // namespace tern
