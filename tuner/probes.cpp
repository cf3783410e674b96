#include "tuner/probes.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <vector>

#include <xbyak/xbyak.h>

#include "runtime/core/cpu_info.h"

namespace tern::tuner {
namespace {

double median_of(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// A read loop emitted at run time so the compiler can neither vectorise it
// differently nor drop it: 4 x 32-byte loads per iteration summed into ymm0-3.
struct ReadLoop : Xbyak::CodeGenerator {
  ReadLoop() {
    using namespace Xbyak;
    // rdi = buffer, rsi = bytes (multiple of 128)
    for (int i = 0; i < 4; ++i) vpxor(Ymm(i), Ymm(i), Ymm(i));
    add(rsi, rdi);
    L("loop");
    for (int i = 0; i < 4; ++i) vpaddq(Ymm(i), Ymm(i), ptr[rdi + 32 * i]);
    add(rdi, 128);
    cmp(rdi, rsi);
    jb("loop");
    vzeroupper();
    ret();
  }
};

struct MacLoop : Xbyak::CodeGenerator {
  MacLoop() {
    using namespace Xbyak;
    // rdi = iterations
    vpcmpeqb(ymm15, ymm15, ymm15);
    L("loop");
    for (int i = 0; i < 6; ++i) {
      vpmaddubsw(Ymm(i), ymm15, ymm15);
      vpmaddwd(Ymm(i), Ymm(i), ymm15);
      vpaddd(Ymm(6 + i), Ymm(6 + i), Ymm(i));
    }
    dec(rdi);
    jnz("loop");
    vzeroupper();
    ret();
  }
};

}  // namespace

double read_bandwidth_gbs() {
  static double cached = 0;
  if (cached > 0 || !host_cpu().features.avx2) return cached;
  const size_t bytes = std::max<size_t>(size_t(256) << 20, 8 * host_cpu().l3_bytes);
  std::vector<uint8_t> buf(bytes + 128);
  std::memset(buf.data(), 1, buf.size());
  ReadLoop loop;
  auto fn = loop.getCode<void (*)(const uint8_t*, size_t)>();
  std::vector<double> runs;
  for (int r = 0; r < 5; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    fn(buf.data(), bytes);
    runs.push_back(static_cast<double>(bytes) / seconds_since(t0) / 1e9);
  }
  return cached = median_of(runs);
}

double int8_peak_gops() {
  static double cached = 0;
  if (cached > 0 || !host_cpu().features.avx2) return cached;
  const uint64_t iters = 20'000'000;
  MacLoop loop;
  auto fn = loop.getCode<void (*)(uint64_t)>();
  std::vector<double> runs;
  for (int r = 0; r < 5; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    fn(iters);
    runs.push_back(static_cast<double>(iters) * 6 * 32 * 2 / seconds_since(t0) / 1e9);  // 32 MACs each
  }
  return cached = median_of(runs);
}

}  // namespace tern::tuner
