// One persistent pool of worker threads (no OpenMP, no per-op thread start).
// run(fn) calls fn(i) on threads 0..size()-1, the caller being thread 0, and
// returns when all are done. Idle workers spin briefly (the next matmul of a
// forward pass usually follows within microseconds), then sleep.
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
  // n_threads >= 1 counts the calling thread. Throws tern::Error on 0 or more than 1024.
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }
  // Not reentrant: one run() at a time.
  void run(const std::function<void(int thread)>& fn);

  // Splits [0, n) into size() contiguous ranges in multiples of `unit` (the last
  // takes the remainder) and calls fn(begin, end) for the non-empty ones.
  void parallel_for(uint64_t n, uint64_t unit, const std::function<void(uint64_t, uint64_t)>& fn);

 private:
  void worker(int index);

  std::vector<std::thread> workers_;
  const std::function<void(int)>* job_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  std::atomic<int> sleepers_{0};
  std::mutex mu_;
  std::condition_variable wake_;
};

}  // namespace tern
