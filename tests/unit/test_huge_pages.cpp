// HugePageAllocator: large buffers are 2 MiB aligned (so whole huge pages fit) when
// the system has transparent huge pages, small ones are plain, and both hold data.
#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>

#include "runtime/core/huge_pages.h"

namespace tern {
namespace {

TEST(HugePages, LargeBuffersAreAlignedToAHugePageAndHoldTheirData) {
  LargeVector<uint32_t> big(3 * kHugePageBytes / sizeof(uint32_t) + 5);
  std::iota(big.begin(), big.end(), 0u);
  if (huge_pages_enabled()) {
    EXPECT_EQ(reinterpret_cast<uintptr_t>(big.data()) % kHugePageBytes, 0u);
  }
  for (size_t i = 0; i < big.size(); i += 4093) ASSERT_EQ(big[i], i);
  LargeVector<uint8_t> small(1000, 7);
  EXPECT_EQ(small[999], 7);
  big = LargeVector<uint32_t>(10, 1);  // frees the large buffer through the same path
  EXPECT_EQ(big.size(), 10u);
  LargeVector<uint8_t> empty;
  empty.shrink_to_fit();
  EXPECT_TRUE(empty.empty());
}

}  // namespace
}  // namespace tern
