#include "cli/progress.h"

#include <unistd.h>

#include <cstdio>

namespace tern::cli {

Progress::Progress(std::string label)
    : label_(std::move(label)), tty_(isatty(STDERR_FILENO)), start_(std::chrono::steady_clock::now()) {}

void Progress::update(uint64_t done, uint64_t total, const std::string& detail) {
  auto now = std::chrono::steady_clock::now();
  int percent = total ? static_cast<int>(100.0 * static_cast<double>(done) / static_cast<double>(total)) : 100;
  double elapsed = std::chrono::duration<double>(now - start_).count();
  double eta = done ? elapsed * static_cast<double>(total - done) / static_cast<double>(done) : 0.0;
  if (tty_) {
    if (percent == last_percent_ && now - last_draw_ < std::chrono::milliseconds(200)) return;
    const int width = 30;
    int filled = percent * width / 100;
    std::fprintf(stderr, "\r%s [%s%s] %3d%% %s  ETA %.0fs ", label_.c_str(),
                 std::string(filled, '#').c_str(), std::string(width - filled, '.').c_str(), percent,
                 detail.c_str(), eta);
    std::fflush(stderr);
  } else {
    if (percent / 10 == last_percent_ / 10) return;
    std::fprintf(stderr, "%s %3d%% %s (%.1fs)\n", label_.c_str(), percent, detail.c_str(), elapsed);
  }
  last_percent_ = percent;
  last_draw_ = now;
}

void Progress::finish() {
  if (tty_ && last_percent_ >= 0) std::fprintf(stderr, "\n");
}

}  // namespace tern::cli
