#include "runtime/threads/thread_pool.h"

#include <algorithm>
#include <exception>
#include <limits>
#include <string>

#include "runtime/core/error.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define TERN_PAUSE() _mm_pause()
#elif defined(__aarch64__)
#define TERN_PAUSE() asm volatile("yield")
#else
#define TERN_PAUSE() ((void)0)
#endif

namespace tern {
namespace {
// About 50-100 microseconds of spinning before a worker sleeps.
constexpr int kSpinIterations = 20000;
// Chunks per thread: enough to rebalance when a thread starts late.
constexpr uint64_t kChunksPerThread = 4;

uint32_t generation_of(uint64_t state) { return static_cast<uint32_t>(state >> 32); }
}  // namespace

ThreadPool::ThreadPool(int n_threads) {
  if (n_threads < 1 || n_threads > 1024)
    throw Error("thread count " + std::to_string(n_threads) + " is out of range (1..1024)");
  for (int i = 1; i < n_threads; ++i) workers_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    state_.fetch_add(uint64_t{1} << 32);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::help(int thread) {
  while (true) {
    uint64_t s = state_.load(std::memory_order_acquire);
    Job& job = jobs_[generation_of(s) & 1];
    const uint64_t chunk = static_cast<uint32_t>(s);
    const uint64_t chunks = job.chunks.load(std::memory_order_acquire);
    if (chunk >= chunks) return;
    // The claim succeeds only while state_ still names this generation, and a
    // generation's slot is not rewritten before all its chunks are done.
    if (!state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel)) continue;
    const uint64_t n = job.n.load(std::memory_order_relaxed), unit = job.unit.load(std::memory_order_relaxed);
    const uint64_t units = (n + unit - 1) / unit;
    const uint64_t begin = std::min(n, units * chunk / chunks * unit);
    const uint64_t end = std::min(n, units * (chunk + 1) / chunks * unit);
    if (begin < end) (*job.fn.load(std::memory_order_acquire))(begin, end, thread);
    job.done.fetch_add(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::worker(int index) {
  uint32_t seen = 0;
  while (true) {
    int spins = 0;
    while (generation_of(state_.load(std::memory_order_acquire)) == seen && spins < kSpinIterations) {
      TERN_PAUSE();
      ++spins;
    }
    if (generation_of(state_.load(std::memory_order_acquire)) == seen) {
      std::unique_lock lock(mu_);
      sleepers_.fetch_add(1);
      wake_.wait(lock, [&] { return generation_of(state_.load(std::memory_order_acquire)) != seen; });
      sleepers_.fetch_sub(1);
    }
    seen = generation_of(state_.load(std::memory_order_acquire));
    if (stop_) return;
    help(index);
  }
}

void ThreadPool::parallel_for(uint64_t n, uint64_t unit, const RangeFn& fn) {
  if (n == 0) return;
  unit = std::max<uint64_t>(unit, 1);
  const uint64_t units = (n + unit - 1) / unit;
  const uint64_t chunks = std::min<uint64_t>(units, kChunksPerThread * static_cast<uint64_t>(size()));
  if (workers_.empty() || chunks == 1) {
    fn(0, n, 0);
    return;
  }
  const uint32_t gen = generation_of(state_.load(std::memory_order_acquire)) + 1;
  Job& job = jobs_[gen & 1];
  job.fn.store(&fn, std::memory_order_relaxed);
  job.n.store(n, std::memory_order_relaxed);
  job.unit.store(unit, std::memory_order_relaxed);
  job.done.store(0, std::memory_order_relaxed);
  job.chunks.store(chunks, std::memory_order_release);
  {
    // The lock orders publishing against a worker going to sleep.
    std::lock_guard lock(mu_);
    state_.store(static_cast<uint64_t>(gen) << 32, std::memory_order_release);
  }
  if (sleepers_.load() > 0) wake_.notify_all();
  help(0);
  while (job.done.load(std::memory_order_acquire) < chunks) TERN_PAUSE();
}

void ThreadPool::parallel_for_or_throw(uint64_t n, uint64_t unit, const std::function<void(uint64_t, uint64_t)>& fn) {
  std::mutex mu;
  uint64_t first = std::numeric_limits<uint64_t>::max();
  std::exception_ptr error;
  parallel_for(n, unit, [&](uint64_t begin, uint64_t end) {
    try {
      fn(begin, end);
    } catch (...) {
      std::lock_guard lock(mu);
      if (begin < first) first = begin, error = std::current_exception();
    }
  });
  if (error) std::rethrow_exception(error);
}

}  // namespace tern
