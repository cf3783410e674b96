// A progress line for long work: redrawn in place on a terminal, a few plain
// lines (every 10 %) when stderr is a pipe or a file.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace tern::cli {

class Progress {
 public:
  explicit Progress(std::string label);
  // done/total in any unit; `detail` is shown after the percentage.
  void update(uint64_t done, uint64_t total, const std::string& detail = "");
  void finish();

 private:
  std::string label_;
  bool tty_;
  int last_percent_ = -1;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace tern::cli
