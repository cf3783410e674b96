// One persistent pool of worker threads (no OpenMP, no per-op thread start).
//
// parallel_for splits [0, n) into chunks (multiples of `unit`) that the caller
// and the workers claim one at a time. Idle workers spin briefly (the next op
// of a forward pass usually follows within microseconds), then sleep. Because
// chunks are claimed rather than assigned, a worker that the OS has not
// scheduled yet (a busy machine) delays nothing: the others take its chunks.
// Which thread computes a chunk never changes the result.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace tern {

class ThreadPool {
 public:
  using RangeFn = std::function<void(uint64_t begin, uint64_t end, int thread)>;

  // n_threads >= 1 counts the calling thread. Throws tern::Error on 0 or more than 1024.
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(begin, end, thread) over chunks covering [0, n), each a multiple of
  // `unit` long (the last takes the remainder); `thread` (0..size()-1) names the
  // thread running the chunk, for per-thread scratch. Not reentrant.
  void parallel_for(uint64_t n, uint64_t unit, const RangeFn& fn);
  void parallel_for(uint64_t n, uint64_t unit, const std::function<void(uint64_t, uint64_t)>& fn) {
    parallel_for(n, unit, RangeFn([&fn](uint64_t b, uint64_t e, int) { fn(b, e); }));
  }
  // parallel_for for work that may throw (loading a file): every chunk runs, a failing one stops
  // only itself, and then the exception of the lowest failing chunk is rethrown here. When fn
  // walks its range in order, that is the error a serial loop would have met first.
  void parallel_for_or_throw(uint64_t n, uint64_t unit, const std::function<void(uint64_t, uint64_t)>& fn);

 private:
  // Two job slots: a worker that wakes late may still read the previous one,
  // and the generation in state_ tells it the slot is stale.
  struct Job {
    std::atomic<const RangeFn*> fn{nullptr};
    std::atomic<uint64_t> n{0}, unit{1}, chunks{0}, done{0};
  };

  void worker(int index);
  // Claims and runs chunks of the current job until none are left.
  void help(int thread);

  std::vector<std::thread> workers_;
  Job jobs_[2];
  std::atomic<uint64_t> state_{0};  // generation << 32 | next unclaimed chunk
  std::atomic<bool> stop_{false};
  std::atomic<int> sleepers_{0};
  std::mutex mu_;
  std::condition_variable wake_;
};

}  // namespace tern
