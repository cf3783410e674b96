#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "runtime/core/error.h"
#include "runtime/threads/thread_pool.h"

namespace tern {
namespace {

TEST(ThreadPool, EveryIndexOnceInUnitAlignedChunks) {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.size(), threads);
    for (uint64_t n : {1ull, 7ull, 8ull, 64ull, 1000ull, 4097ull})
      for (uint64_t unit : {1ull, 8ull, 64ull}) {
        std::vector<std::atomic<int>> hits(n);
        std::atomic<bool> bad_thread{false}, misaligned{false};
        pool.parallel_for(n, unit, [&](uint64_t b, uint64_t e, int t) {
          if (t < 0 || t >= threads) bad_thread = true;
          if (b % unit != 0 || (e % unit != 0 && e != n)) misaligned = true;
          for (uint64_t i = b; i < e; ++i) hits[i]++;
        });
        for (uint64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "threads " << threads << " n " << n << " i " << i;
        EXPECT_FALSE(bad_thread.load());
        EXPECT_FALSE(misaligned.load());
      }
  }
}

TEST(ThreadPool, ManyJobsBackToBack) {
  // Thousands of tiny jobs, as a forward pass issues them: no job may be lost,
  // repeated or overlap the next one.
  ThreadPool pool(3);
  std::vector<uint64_t> sums(20000, 0);
  for (size_t j = 0; j < sums.size(); ++j) {
    std::atomic<uint64_t> sum{0};
    pool.parallel_for(100 + j % 17, 1, [&](uint64_t b, uint64_t e) {
      for (uint64_t i = b; i < e; ++i) sum += i + 1;
    });
    sums[j] = sum;
  }
  for (size_t j = 0; j < sums.size(); ++j) {
    const uint64_t n = 100 + j % 17;
    ASSERT_EQ(sums[j], n * (n + 1) / 2) << "job " << j;
  }
}

TEST(ThreadPool, SleepingWorkersWakeUp) {
  ThreadPool pool(2);
  for (int round = 0; round < 3; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // workers go to sleep
    std::atomic<int> threads_seen{0};
    std::vector<std::atomic<int>> hits(64);
    pool.parallel_for(64, 1, [&](uint64_t b, uint64_t e, int) {
      for (uint64_t i = b; i < e; ++i) hits[i]++;
    });
    for (auto& h : hits) ASSERT_EQ(h.load(), 1);
  }
}

TEST(ThreadPool, BadThreadCounts) {
  EXPECT_THROW(ThreadPool(0), Error);
  EXPECT_THROW(ThreadPool(-2), Error);
  EXPECT_THROW(ThreadPool(5000), Error);
}

}  // namespace
}  // namespace tern
