#include "runtime/threads/thread_pool.h"

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
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::worker(int index) {
  uint64_t seen = 0;
  while (true) {
    int spins = 0;
    while (generation_.load(std::memory_order_acquire) == seen && spins < kSpinIterations) {
      TERN_PAUSE();
      ++spins;
    }
    if (generation_.load(std::memory_order_acquire) == seen) {
      std::unique_lock lock(mu_);
      sleepers_.fetch_add(1);
      wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
      sleepers_.fetch_sub(1);
    }
    seen = generation_.load(std::memory_order_acquire);
    if (stop_) return;
    (*job_)(index);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::run(const std::function<void(int)>& fn) {
  if (workers_.empty()) {
    fn(0);
    return;
  }
  job_ = &fn;
  pending_.store(static_cast<int>(workers_.size()), std::memory_order_release);
  {
    // The lock orders the generation bump against a worker going to sleep.
    std::lock_guard lock(mu_);
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  if (sleepers_.load() > 0) wake_.notify_all();
  fn(0);
  while (pending_.load(std::memory_order_acquire) != 0) TERN_PAUSE();
}

void ThreadPool::parallel_for(uint64_t n, uint64_t unit, const std::function<void(uint64_t, uint64_t)>& fn) {
  const uint64_t units = (n + unit - 1) / unit;
  const uint64_t threads = static_cast<uint64_t>(size());
  run([&](int t) {
    const uint64_t ti = static_cast<uint64_t>(t);
    const uint64_t begin = units * ti / threads * unit, end = std::min(n, units * (ti + 1) / threads * unit);
    if (begin < end) fn(begin, end);
  });
}

}  // namespace tern
