#include "runtime/core/huge_pages.h"

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace tern {

bool huge_pages_enabled() {
  static const bool enabled = [] {
    if (const char* v = std::getenv("TERN_HUGEPAGES"); v && std::strcmp(v, "0") == 0) return false;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    std::ifstream f("/sys/kernel/mm/transparent_hugepage/enabled");
    std::string modes;
    std::getline(f, modes);
    return modes.find("[never]") == std::string::npos && !modes.empty();
#else
    return false;
#endif
  }();
  return enabled;
}

namespace {
bool is_large(size_t bytes) { return bytes >= kHugePageBytes && huge_pages_enabled(); }
}  // namespace

void* allocate_large(size_t bytes) {
  if (!is_large(bytes)) return ::operator new(bytes == 0 ? 1 : bytes);
  void* p = nullptr;
  if (posix_memalign(&p, kHugePageBytes, bytes) != 0 || !p) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  // Best effort: without it the buffer is still good, on small pages.
  madvise(p, bytes / kHugePageBytes * kHugePageBytes, MADV_HUGEPAGE);
#endif
  return p;
}

void free_large(void* p, size_t bytes) {
  if (!p) return;
  if (is_large(bytes))
    std::free(p);
  else
    ::operator delete(p);
}

}  // namespace tern
