// Large buffers the kernels stream (packed weights, the KV cache) on transparent
// huge pages: with 4 KiB pages every 4 KiB of a weight stream is a TLB miss. Many
// systems run THP in "madvise" mode, where only memory that asks gets huge pages,
// so HugePageAllocator asks (MADV_HUGEPAGE) for the whole 2 MiB pages inside each
// allocation of at least 2 MiB, aligned to 2 MiB; a tail shorter than 2 MiB stays
// on small pages, so nothing is resident that the buffer does not use.
// TERN_HUGEPAGES=0 turns it off (for comparisons); smaller buffers are plain.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

namespace tern {

inline constexpr size_t kHugePageBytes = size_t{2} << 20;

// False when TERN_HUGEPAGES=0 or the system has no transparent huge pages (read once).
bool huge_pages_enabled();

// Memory for `bytes` (uninitialised): huge-page backed as above when bytes >=
// kHugePageBytes and huge pages are enabled; throws std::bad_alloc.
void* allocate_large(size_t bytes);
void free_large(void* p, size_t bytes);

template <class T>
struct HugePageAllocator {
  using value_type = T;
  HugePageAllocator() = default;
  template <class U>
  HugePageAllocator(const HugePageAllocator<U>&) noexcept {}
  T* allocate(size_t n) {
    if (n > SIZE_MAX / sizeof(T)) throw std::bad_alloc();
    return static_cast<T*>(allocate_large(n * sizeof(T)));
  }
  void deallocate(T* p, size_t n) noexcept { free_large(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const HugePageAllocator<U>&) const noexcept { return true; }
};

template <class T>
using LargeVector = std::vector<T, HugePageAllocator<T>>;

}  // namespace tern
