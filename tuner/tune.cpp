#include "tuner/tune.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <list>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "runtime/core/cpu_info.h"
#include "runtime/core/error.h"
#include "runtime/core/layout.h"
#include "runtime/dispatch/kernel_registry.h"
#include "runtime/gguf/gguf.h"
#include "runtime/threads/thread_pool.h"
#include "tuner/measure.h"
#include "tuner/search_space.h"

namespace tern::tuner {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

uint64_t mix(uint64_t a, uint64_t b) {
  // splitmix64 step over a ^ b: seeds that differ in one bit give unrelated streams.
  uint64_t z = a ^ (b + 0x9e3779b97f4a7c15ull + (a << 6) + (a >> 2));
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t problem_hash(const KernelProblem& p) { return mix(mix(mix(p.n, p.k), p.m), p.threads); }

// The desc fields that decide the packed weights (layout_of) and what
// Workload::run does with them; configs equal here share one Workload.
KernelDesc layout_key(KernelDesc d) {
  d.unroll = 1;
  d.accumulators = 1;
  d.prefetch = 0;
  d.m_tile = 1;
  return d;
}

auto group_order(const KernelDesc& d) {
  return std::make_tuple(d.backend, d.isa, d.family, d.lut_group, d.lut_entry, d.n_tile, d.k_block, d.m_tile,
                         d.unroll, d.accumulators, d.prefetch);
}

// Packed problems are expensive to make (random trits, packing, cold copies): keep
// the recent ones, up to a memory cap, for candidates that share a layout.
class WorkloadCache {
 public:
  explicit WorkloadCache(uint64_t cap_bytes) : cap_(cap_bytes) {}

  // Shared: an evicted workload lives on while a caller still holds it.
  std::shared_ptr<Workload> get(const KernelDesc& key, bool cold, uint64_t seed) {
    const Key k{key, cold};
    for (auto it = items_.begin(); it != items_.end(); ++it)
      if (it->key == k) {
        items_.splice(items_.begin(), items_, it);
        return items_.front().w;
      }
    const uint64_t bytes = estimate(key, cold);
    while (!items_.empty() && used_ + bytes > cap_) {
      used_ -= items_.back().bytes;
      items_.pop_back();
    }
    items_.push_front({k, std::make_shared<Workload>(key, cold, seed), bytes});
    used_ += bytes;
    return items_.front().w;
  }

 private:
  struct Key {
    KernelDesc desc;
    bool cold;
    bool operator==(const Key&) const = default;
  };
  struct Item {
    Key key;
    std::shared_ptr<Workload> w;
    uint64_t bytes;
  };
  static uint64_t estimate(const KernelDesc& d, bool cold) {
    const PackedLayout l = layout_of(d);
    const uint64_t copies =
        cold ? std::max<uint64_t>(2, 4 * host_cpu().l3_bytes / std::max<uint64_t>(1, l.total_bytes) + 1) : 1;
    const uint64_t m = std::max<uint32_t>(d.m, 1);
    return uint64_t(d.n) * d.k + copies * l.total_bytes + m * (l.k_padded + d.k) + m * d.n * 8;
  }
  uint64_t cap_;
  uint64_t used_ = 0;
  std::list<Item> items_;
};

// One family's space on one (backend, ISA): for neighbours.
struct Part {
  FamilySpace space;
  KernelDesc base;
};

struct Candidates {
  std::vector<KernelDesc> all;
  std::unordered_set<KernelDesc> set;
  std::vector<Part> parts;

  const Part* part_of(const KernelDesc& d) const {
    for (const Part& p : parts)
      if (p.base.backend == d.backend && p.base.isa == d.isa && p.base.family == d.family) return &p;
    return nullptr;
  }

  // One axis step away, or the same axis values on another ISA of the backend.
  std::vector<KernelDesc> neighbours_of(const KernelDesc& d) const {
    std::vector<KernelDesc> out;
    const Part* own = part_of(d);
    if (!own) return out;
    for (const KernelDesc& n : neighbours(own->space, own->base, d))
      if (set.count(n)) out.push_back(n);
    const std::vector<size_t> idx = axis_indices(own->space, own->base, d);
    if (idx.empty() && !own->space.axes.empty()) return out;
    for (const Part& p : parts)
      if (&p != own && p.base.backend == d.backend && p.base.family == d.family) {
        KernelDesc sibling = config_at(p.space, p.base, idx);
        if (set.count(sibling)) out.push_back(sibling);
      }
    return out;
  }
};

std::vector<Isa> isas_to_try(const TuneOptions& o, const CpuInfo& cpu) {
  std::vector<Isa> out;
  // Best first: the default config is the best ISA's.
  for (auto it = std::rbegin(EnumValues<Isa>::all); it != std::rend(EnumValues<Isa>::all); ++it) {
    const Isa i = *it;
    if (i == Isa::scalar || !cpu.supports(i)) continue;
    if (!o.isas.empty() && std::find(o.isas.begin(), o.isas.end(), i) == o.isas.end()) continue;
    out.push_back(i);
  }
  return out;
}

std::vector<Backend> backends_to_try(const TuneOptions& o) {
  std::vector<Backend> out = o.backends.empty() ? kernel_registry().backends() : o.backends;
  out.erase(std::remove(out.begin(), out.end(), Backend::ref), out.end());
  return out;
}

Candidates candidates_for(const KernelProblem& p, const TuneOptions& o, const CpuInfo& cpu) {
  Candidates c;
  for (Backend b : backends_to_try(o))
    for (Isa isa : isas_to_try(o, cpu))
      for (Family f : o.families) {
        const Problem pr{p.op, p.n, p.k, p.m, isa, b};
        Part part{family_space(f, p.op), base_desc(pr, f)};
        if (part.space.axes.empty()) continue;  // no space for this family
        for (const KernelDesc& d : enumerate(part.space, part.base))
          if (kernel_registry().unsupported_reason(d, cpu).empty() && c.set.insert(d).second)
            c.all.push_back(d);
        c.parts.push_back(std::move(part));
      }
  return c;
}

std::optional<KernelDesc> default_for(const KernelProblem& p, const TuneOptions& o, const CpuInfo& cpu) {
  for (Backend b : backends_to_try(o))
    for (Isa isa : isas_to_try(o, cpu)) {
      KernelDesc d = default_config(Problem{p.op, p.n, p.k, p.m, isa, b});
      d.backend = b;
      if (kernel_registry().unsupported_reason(d, cpu).empty()) return d;
    }
  return std::nullopt;
}

// Verification problem: the same K and config; N cut to a few tiles per thread plus
// the real N's tail tile; m cut to two token tiles plus the real m's tail.
KernelDesc verify_desc(const KernelDesc& d, uint32_t threads) {
  KernelDesc v = d;
  const uint32_t tile = std::max<uint32_t>(1, d.n_tile);
  const uint32_t rows = (std::max<uint32_t>(256, 2 * tile * threads) + tile - 1) / tile * tile + d.n % tile;
  v.n = std::min(d.n, rows);
  const uint32_t mt = std::max<uint32_t>(1, d.m_tile);
  v.m = std::min(d.m, std::max<uint32_t>(3, 2 * mt + d.m % mt));
  return v;
}

class ProblemTuner {
 public:
  ProblemTuner(const KernelProblem& p, const TuneOptions& o, ThreadPool& pool, WorkloadCache& cache,
               const CpuInfo& cpu)
      : p_(p), o_(o), pool_(pool), cache_(cache), cpu_(cpu), cold_(p.m <= o.cold_max_m) {}

  ProblemResult run(Clock::time_point deadline, const std::vector<KernelDesc>& seeds,
                    const std::optional<KernelDesc>& pair_with,
                    const std::function<void(const ProblemResult&, double best)>& tick) {
    const auto start = Clock::now();
    tick_ = tick;
    res_.problem = p_;
    res_.cold = cold_;
    Candidates cands = candidates_for(p_, o_, cpu_);
    res_.space = cands.all.size();
    std::optional<KernelDesc> def = default_for(p_, o_, cpu_);
    if (cands.all.empty() && !def) {
      res_.status = ProblemResult::Status::no_candidate;
      res_.note = "no registered backend can build a kernel for this problem here";
      return finish(start);
    }
    // 1. The default, then earlier winners: always measured.
    if (def) res_.fallback_default = measure(*def);
    for (const KernelDesc& s : seeds)
      if (kernel_registry().unsupported_reason(s, cpu_).empty()) measure(s);

    // Time left for the search, keeping some for pairing and the finals.
    const double slice = std::chrono::duration<double>(deadline - start).count();
    auto before_deadline = [&](double share) {
      return deadline - std::chrono::duration_cast<Clock::duration>(
                            std::chrono::duration<double>(std::max(0.0, share * slice)));
    };
    const bool pairing = pair_with && p_.m > 1;
    const auto pair_end = before_deadline(0.12);
    const auto search_end = before_deadline(pairing ? 0.32 : 0.12);
    std::vector<KernelDesc> rest;
    for (const KernelDesc& d : cands.all)
      if (!results_.count(d)) rest.push_back(d);
    const double left = std::chrono::duration<double>(search_end - Clock::now()).count();
    if (static_cast<double>(rest.size()) * cost() <= left) {
      res_.strategy = "exhaustive";
      std::stable_sort(rest.begin(), rest.end(), [](const KernelDesc& a, const KernelDesc& b) {
        return group_order(a) < group_order(b);
      });
      for (const KernelDesc& d : rest) {
        if (!fits(search_end)) {
          res_.strategy = "exhaustive, cut short";  // the cost estimate was optimistic
          break;
        }
        measure(d);
      }
    } else {
      res_.strategy = "sampled";
      std::mt19937_64 rng(mix(o_.seed, problem_hash(p_)));
      std::shuffle(rest.begin(), rest.end(), rng);
      size_t next = 0;
      // A first sample of about half of what the slice affords; then refine around the
      // best, then alternate further samples and refinement while time is left.
      size_t batch = std::max<size_t>(4, static_cast<size_t>(0.5 * left / std::max(cost(), 1e-3)));
      while (next < rest.size() && fits(search_end)) {
        const size_t end = std::min(rest.size(), next + batch);
        std::vector<KernelDesc> chunk(rest.begin() + next, rest.begin() + end);
        next = end;
        std::stable_sort(chunk.begin(), chunk.end(), [](const KernelDesc& a, const KernelDesc& b) {
          return group_order(a) < group_order(b);
        });
        for (const KernelDesc& d : chunk) {
          if (!fits(search_end)) break;
          if (!results_.count(d)) measure(d);
        }
        refine(cands, search_end);
        batch = 8;
      }
    }
    if (pairing) pair(cands, *pair_with, pair_end);
    finals(deadline);
    return finish(start);
  }

 private:
  // Average wall time of one candidate so far (build, pack, verify, time).
  double cost() const { return measured_ ? spent_ / measured_ : 0.2; }
  bool fits(Clock::time_point end) const {
    return Clock::now() +
               std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(cost())) <=
           end;
  }

  const CandidateResult* best() const {
    const CandidateResult* b = nullptr;
    for (const auto& [d, r] : results_)
      if (r.ok && (!b || r.score_ns < b->score_ns)) b = &r;
    return b;
  }

  // Hill climbing: measure the best one's neighbours; move when one is faster.
  void refine(const Candidates& cands, Clock::time_point end) {
    std::unordered_set<KernelDesc> expanded;
    while (true) {
      const CandidateResult* b = best();
      if (!b || !expanded.insert(b->desc).second) return;
      const KernelDesc from = b->desc;
      for (const KernelDesc& n : cands.neighbours_of(from)) {
        if (!fits(end)) return;
        if (!results_.count(n)) measure(n);
      }
    }
  }

  struct Timed {
    double median_ns = 0;
    int runs = 0;
  };

  // Warm-up, then runs until min_time and min_runs (at most 10000); a candidate
  // already 1.5x slower than the best after 3 runs stops early (its median stands).
  Timed time(const Kernel& k, Workload& w, double cutoff_ns) {
    const auto t0 = Clock::now();
    w.run(k, pool_, 0);
    const double first = seconds_since(t0);
    for (size_t i = 1; i < 3 && first < 0.02; ++i)
      w.run(k, pool_, i);  // one warm-up is enough for slow calls
    std::vector<double> ns;
    size_t copy = 3;
    const auto start = Clock::now();
    while (ns.size() < 10000) {
      const auto a = Clock::now();
      w.run(k, pool_, copy++);
      ns.push_back(std::chrono::duration<double, std::nano>(Clock::now() - a).count());
      const bool enough = static_cast<int>(ns.size()) >= o_.min_runs && seconds_since(start) >= o_.min_time_s;
      if (enough) break;
      if (cutoff_ns > 0 && ns.size() >= 3 && *std::min_element(ns.begin(), ns.end()) > cutoff_ns) break;
    }
    std::nth_element(ns.begin(), ns.begin() + ns.size() / 2, ns.end());
    return {ns[ns.size() / 2], static_cast<int>(ns.size())};
  }

  const CandidateResult& measure(const KernelDesc& d) {
    if (auto it = results_.find(d); it != results_.end()) return it->second;
    const auto t0 = Clock::now();
    CandidateResult r;
    r.desc = d;
    try {
      Kernel k = kernel_registry().get(d);
      const KernelDesc vd = verify_desc(d, p_.threads);
      std::shared_ptr<Workload> vw =
          cache_.get(layout_key(vd), false, mix(o_.seed, hash_value(layout_key(vd))));
      if (std::string bad = vw->verify(k, pool_); !bad.empty()) {
        r.why = "computes wrong results: " + bad;
      } else {
        std::shared_ptr<Workload> w = timing_workload(d);
        const CandidateResult* b = best();
        Timed t = time(k, *w, b ? 1.5 * b->score_ns : 0);
        r.ok = true;
        r.median_ns = r.score_ns = t.median_ns;
        r.runs = t.runs;
      }
    } catch (const std::exception& e) {
      r.why = std::string("cannot build or run: ") + e.what();
    }
    spent_ += seconds_since(t0);
    ++measured_;
    if (r.ok) {
      ++res_.measured;
    } else {
      ++res_.rejected;
      if (res_.rejections.size() < 10) res_.rejections.push_back(to_name(d) + ": " + r.why);
    }
    auto [it, inserted] = results_.emplace(d, std::move(r));
    if (tick_) {
      const CandidateResult* b = best();
      tick_(res_, b ? b->score_ns : 0);
    }
    return it->second;
  }

  // The best config packed like `gemv`: its own shape for this m first, then hill
  // climbing inside that layout, then random ones of it while time is left.
  void pair(const Candidates& cands, const KernelDesc& gemv, Clock::time_point end) {
    res_.paired_with = gemv;
    same_.clear();
    for (const KernelDesc& d : cands.all)
      if (same_packed_layout(d, gemv)) same_.insert(d);
    KernelDesc start = gemv;
    start.op = p_.op;
    start.m = p_.m;
    start.m_tile = default_config(Problem{p_.op, p_.n, p_.k, p_.m, gemv.isa, gemv.backend}).m_tile;
    if (same_packed_layout(start, gemv) &&
        kernel_registry().unsupported_reason(start, cpu_).empty())
      same_.insert(start);
    if (same_.empty()) return;
    if (same_.count(start)) measure(start);
    std::unordered_set<KernelDesc> expanded;
    while (true) {
      const CandidateResult* b = best_of(same_);
      if (!b || !expanded.insert(b->desc).second) break;
      const KernelDesc from = b->desc;
      for (const KernelDesc& n : cands.neighbours_of(from)) {
        if (!fits(end)) return;
        if (same_.count(n) && !results_.count(n)) measure(n);
      }
    }
    std::vector<KernelDesc> rest;
    for (const KernelDesc& d : same_)
      if (!results_.count(d)) rest.push_back(d);
    std::sort(rest.begin(), rest.end(),
              [](const KernelDesc& a, const KernelDesc& b) { return group_order(a) < group_order(b); });
    std::shuffle(rest.begin(), rest.end(), std::mt19937_64(mix(o_.seed, problem_hash(p_) + 1)));
    for (const KernelDesc& d : rest) {
      if (!fits(end)) return;
      measure(d);
    }
  }

  const CandidateResult* best_of(const std::unordered_set<KernelDesc>& among) const {
    const CandidateResult* b = nullptr;
    for (const KernelDesc& d : among)
      if (auto it = results_.find(d);
          it != results_.end() && it->second.ok && (!b || it->second.score_ns < b->score_ns))
        b = &it->second;
    return b;
  }

  std::shared_ptr<Workload> timing_workload(const KernelDesc& d) {
    return cache_.get(layout_key(d), cold_, mix(o_.seed + 1, hash_value(layout_key(d))));
  }

  // The best few by screening, the default and the best paired one, timed again
  // interleaved call by call, so that load on a shared machine (another process
  // taking a core for a while) hits them alike; their final scores are these medians.
  void finals(Clock::time_point deadline) {
    std::vector<CandidateResult*> ok;
    for (auto& [d, r] : results_)
      if (r.ok) ok.push_back(&r);
    std::sort(ok.begin(), ok.end(), [](const auto* a, const auto* b) { return a->score_ns < b->score_ns; });
    std::vector<CandidateResult*> finalists(ok.begin(),
                                            ok.begin() + std::min<size_t>(ok.size(), o_.finalists));
    auto add = [&](const KernelDesc& d) {
      CandidateResult* r = &results_.at(d);
      if (std::find(finalists.begin(), finalists.end(), r) == finalists.end()) finalists.push_back(r);
    };
    if (res_.fallback_default && res_.fallback_default->ok) add(res_.fallback_default->desc);
    if (const CandidateResult* pb = best_of(same_)) add(pb->desc);
    if (finalists.size() < 2) return;

    // About as long as screening them took, if that fits before the deadline.
    double screen_ns = 0;
    for (const CandidateResult* f : finalists) screen_ns += f->median_ns;
    const double left_s = std::chrono::duration<double>(deadline - Clock::now()).count();
    const double want_s =
        std::max(o_.min_time_s * static_cast<double>(finalists.size()), 3 * o_.min_runs * screen_ns * 1e-9);
    const int rounds = static_cast<int>(std::min(want_s, left_s - 0.1) / (screen_ns * 1e-9));
    if (rounds < 3) return;

    std::vector<Kernel> kernels;
    std::vector<std::shared_ptr<Workload>> work;
    for (CandidateResult* f : finalists) {
      kernels.push_back(kernel_registry().get(f->desc));
      work.push_back(timing_workload(f->desc));
      work.back()->run(kernels.back(), pool_, 0);  // warm-up
    }
    std::vector<std::vector<double>> ns(finalists.size());
    const size_t max_rounds = static_cast<size_t>(std::min(rounds, 2000));
    for (size_t r = 0; r < max_rounds; ++r)
      for (size_t i = 0; i < finalists.size(); ++i) {
        const auto a = Clock::now();
        work[i]->run(kernels[i], pool_, r + 1);
        ns[i].push_back(std::chrono::duration<double, std::nano>(Clock::now() - a).count());
      }
    for (size_t i = 0; i < finalists.size(); ++i) {
      std::nth_element(ns[i].begin(), ns[i].begin() + ns[i].size() / 2, ns[i].end());
      finalists[i]->score_ns = ns[i][ns[i].size() / 2];
      finalists[i]->runs += static_cast<int>(ns[i].size());
    }
    res_.finals = static_cast<int>(max_rounds);
  }

  ProblemResult finish(Clock::time_point start) {
    res_.seconds = seconds_since(start);
    const CandidateResult *b = nullptr, *w = nullptr;
    for (const auto& [d, r] : results_) {
      if (!r.ok) continue;
      if (!b || r.score_ns < b->score_ns) b = &r;
      if (!w || r.score_ns > w->score_ns) w = &r;
    }
    if (res_.fallback_default) res_.fallback_default = results_.at(res_.fallback_default->desc);
    if (!b) {
      if (res_.status == ProblemResult::Status::tuned) {
        res_.status = ProblemResult::Status::failed;
        res_.note = "no candidate passed verification (" + std::to_string(res_.rejected) + " rejected)";
      }
      return res_;
    }
    res_.winner = *b;
    res_.worst = *w;
    const CandidateResult* pb = best_of(same_);
    if (res_.paired_with && pb && !same_packed_layout(b->desc, *res_.paired_with)) res_.paired = *pb;
    const PackedLayout l = layout_of(b->desc);
    res_.weight_bytes = l.total_bytes;
    res_.gops = 2.0 * p_.m * p_.n * p_.k / b->score_ns;
    res_.gbs = static_cast<double>(l.total_bytes) / b->score_ns;

    TuningRecord rec;
    rec.tern_version = TERN_VERSION;
    rec.cpu = cpu_;
    rec.problem = p_;
    rec.config = b->desc;
    rec.metrics = {b->score_ns, res_.gops, res_.gbs, b->runs, p_.threads, cold_};
    rec.verified = true;
    rec.tuned_at = utc_timestamp();
    TuningSearch s;
    s.strategy = res_.strategy;
    s.candidates = res_.measured;
    s.rejected = res_.rejected;
    s.space = static_cast<int>(res_.space);
    s.default_median_ns =
        res_.fallback_default && res_.fallback_default->ok ? res_.fallback_default->score_ns : 0;
    s.worst_median_ns = w->score_ns;
    s.seconds = res_.seconds;
    rec.search = s;
    if (res_.paired)
      rec.paired = PairedConfig{to_name(*res_.paired_with), res_.paired->desc, res_.paired->score_ns};
    res_.record = rec;
    return res_;
  }

  const KernelProblem p_;
  const TuneOptions& o_;
  ThreadPool& pool_;
  WorkloadCache& cache_;
  const CpuInfo& cpu_;
  const bool cold_;
  std::unordered_map<KernelDesc, CandidateResult> results_;
  std::unordered_set<KernelDesc> same_;  // pairing: configs with the gemv winner's layout
  ProblemResult res_;
  double spent_ = 0;
  int measured_ = 0;
  std::function<void(const ProblemResult&, double)> tick_;
};

bool is_projection(const std::string& name) {
  // blk.<layer>.<projection>.weight
  static const char* kProjections[] = {"attn_q",   "attn_k", "attn_v",  "attn_output",
                                       "ffn_gate", "ffn_up", "ffn_down"};
  if (name.rfind("blk.", 0) != 0) return false;
  size_t i = 4;
  while (i < name.size() && std::isdigit(static_cast<unsigned char>(name[i]))) ++i;
  if (i == 4 || i >= name.size() || name[i] != '.') return false;
  const std::string rest = name.substr(i + 1);
  for (const char* p : kProjections)
    if (rest == std::string(p) + ".weight") return true;
  return false;
}

}  // namespace

std::vector<Shape> model_shapes(const gguf::File& file) {
  std::vector<Shape> out;
  for (const gguf::TensorInfo& t : file.tensors()) {
    if (!is_projection(t.name)) continue;
    if (t.n_dims != 2 || t.ne[0] == 0 || t.ne[1] == 0 || t.ne[0] > UINT32_MAX || t.ne[1] > UINT32_MAX)
      throw Error(file.name() + ": tensor " + t.name + " is not a 2-D matrix");
    const Shape s{static_cast<uint32_t>(t.ne[0]), static_cast<uint32_t>(t.ne[1])};
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
  }
  if (out.empty())
    throw Error(file.name() +
                ": no ternary projection tensors (blk.N.attn_q.weight, ..., blk.N.ffn_down.weight)");
  return out;
}

std::vector<Shape> parse_shapes(const std::string& list) {
  std::vector<Shape> out;
  if (!list.empty() && list.back() == ',') throw Error("shape list '" + list + "' ends with a comma");
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ',')) {
    unsigned long k = 0, n = 0;
    char x = 0, extra = 0;
    if (std::sscanf(item.c_str(), "%lu%c%lu%c", &k, &x, &n, &extra) != 3 || (x != 'x' && x != 'X') ||
        k == 0 || n == 0 || k > (1u << 20) || n > (1u << 24) || item.find('-') != std::string::npos)
      throw Error("shape '" + item +
                  "': expected KxN with positive sizes (K inputs, N outputs), e.g. 2560x6912");
    const Shape s{static_cast<uint32_t>(k), static_cast<uint32_t>(n)};
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
  }
  if (out.empty()) throw Error("no shapes: expected KxN[,KxN...], e.g. 2560x2560,6912x2560");
  return out;
}

std::vector<KernelProblem> make_problems(const std::vector<Shape>& shapes, const std::vector<uint32_t>& ms,
                                         const std::vector<uint32_t>& threads) {
  std::vector<uint32_t> sorted_ms = ms;
  std::sort(sorted_ms.begin(), sorted_ms.end());
  sorted_ms.erase(std::unique(sorted_ms.begin(), sorted_ms.end()), sorted_ms.end());
  std::vector<KernelProblem> out;
  for (uint32_t t : threads)
    for (const Shape& s : shapes)
      for (uint32_t m : sorted_ms) {
        KernelProblem p = KernelProblem::make(s.n, s.k, m, t);
        if (std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
      }
  return out;
}

double ProblemResult::speedup_over_default() const {
  if (!winner || !fallback_default || !fallback_default->ok) return 0;
  return fallback_default->score_ns / winner->score_ns;
}

double ProblemResult::speedup_over_worst() const {
  if (!winner || !worst) return 0;
  return worst->score_ns / winner->score_ns;
}

TuneReport tune(const std::vector<KernelProblem>& problems, const TuneOptions& o) {
  if (!(o.budget_s > 0) || !std::isfinite(o.budget_s))
    throw Error("the tuning budget must be a positive number of seconds");
  const auto start = Clock::now();
  const CpuInfo& cpu = host_cpu();
  TuneReport report;
  report.cache_path = o.cache_path;
  std::set<std::string> seen_warnings;
  auto add_warnings = [&](std::vector<std::string>& ws) {
    for (std::string& w : ws)
      if (seen_warnings.insert(w).second) report.warnings.push_back(std::move(w));
    ws.clear();
  };

  // Fail before tuning, not after the first problem, when the cache cannot be written.
  if (!o.cache_path.empty()) {
    const std::filesystem::path dir = std::filesystem::path(o.cache_path).parent_path();
    std::error_code ec;
    // Else the save would take the directory for a corrupt cache and move it aside.
    if (std::error_code ignored; std::filesystem::is_directory(o.cache_path, ignored))
      throw Error(o.cache_path + ": is a directory; expected the path of the file to write");
    if (!dir.empty()) std::filesystem::create_directories(dir, ec);
    if (ec || access(dir.empty() ? "." : dir.c_str(), W_OK) != 0)
      throw Error(o.cache_path + ": cannot write into " + (dir.empty() ? std::string(".") : dir.string()) +
                  (ec ? " (" + ec.message() + ")" : std::string(" (not writable)")));
  }

  // This CPU's records already in the output file: skipped with --resume, else
  // re-measured as candidates.
  std::vector<TuningRecord> existing;
  if (!o.cache_path.empty()) {
    std::vector<std::string> ws;
    for (TuningRecord& r : load_tuning_records(o.cache_path, &ws))
      if (r.cpu.cpu_id() == cpu.cpu_id()) existing.push_back(std::move(r));
    add_warnings(ws);
  }

  // m = 1 winners per (n, k, threads), for pairing the gemm problems with their layout.
  std::map<std::tuple<uint32_t, uint32_t, uint32_t>, KernelDesc> gemv_winners;
  for (const TuningRecord& r : existing)
    if (r.problem.m == 1) gemv_winners[{r.problem.n, r.problem.k, r.problem.threads}] = r.config;

  std::map<uint32_t, std::unique_ptr<ThreadPool>> pools;
  WorkloadCache cache(768ull << 20);
  for (size_t i = 0; i < problems.size(); ++i) {
    const KernelProblem& p = problems[i];
    std::vector<KernelDesc> seeds;
    bool done = false;
    for (const TuningRecord& r : existing)
      if (r.problem == p) {
        done = true;
        seeds.push_back(r.config);
        if (r.paired) seeds.push_back(r.paired->config);
      }
    if (o.resume && done) {
      ProblemResult r;
      r.problem = p;
      r.status = ProblemResult::Status::resumed;
      r.note = "already tuned in " + o.cache_path;
      report.problems.push_back(std::move(r));
      continue;
    }
    const double left = o.budget_s - seconds_since(start);
    if (left <= 0) {
      ProblemResult r;
      r.problem = p;
      r.status = ProblemResult::Status::skipped_budget;
      r.note = "budget spent; run again with --resume (or a larger --budget)";
      report.problems.push_back(std::move(r));
      continue;
    }
    // Problems still to tune share what is left equally (resumed ones cost nothing).
    size_t todo = 0;
    for (size_t j = i; j < problems.size(); ++j) {
      bool cached = false;
      for (const TuningRecord& r : existing) cached |= o.resume && r.problem == problems[j];
      todo += !cached;
    }
    const double slice = left / static_cast<double>(std::max<size_t>(1, todo));
    const auto pstart = Clock::now();
    const auto deadline =
        pstart + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(slice));

    auto& pool = pools[p.threads];
    if (!pool) pool = std::make_unique<ThreadPool>(static_cast<int>(p.threads));
    ProblemTuner tuner(p, o, *pool, cache, cpu);
    auto tick = [&](const ProblemResult& r, double best_ns) {
      if (!o.progress) return;
      TuneProgress g;
      g.problem = i;
      g.problems = problems.size();
      g.current = p;
      g.measured = r.measured;
      g.rejected = r.rejected;
      g.best_ns = best_ns;
      g.elapsed_s = seconds_since(start);
      g.budget_s = o.budget_s;
      const double within = std::min(1.0, seconds_since(pstart) / std::max(slice, 1e-9));
      g.fraction = std::min(1.0, (static_cast<double>(i) + within) / static_cast<double>(problems.size()));
      o.progress(g);
    };
    std::optional<KernelDesc> pair_with;
    if (auto it = gemv_winners.find({p.n, p.k, p.threads}); it != gemv_winners.end() && p.m > 1)
      pair_with = it->second;
    ProblemResult r = tuner.run(deadline, seeds, pair_with, tick);
    if (p.m == 1 && r.winner) gemv_winners[{p.n, p.k, p.threads}] = r.winner->desc;
    if (r.record && !o.cache_path.empty()) {
      std::vector<std::string> ws;
      save_tuning_records(o.cache_path, {*r.record}, &ws, o.merge);
      add_warnings(ws);
    }
    report.problems.push_back(std::move(r));
  }
  report.seconds = seconds_since(start);
  return report;
}

}  // namespace tern::tuner
