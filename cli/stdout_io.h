// Standard output that fails loudly: a write that does not reach stdout (a full disk,
// /dev/full, a closed file) is a tern::Error with the system's reason, so a command stops
// at once instead of working into the void and exiting 0.
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <string_view>

#include "runtime/core/error.h"

namespace tern::cli {

[[noreturn]] inline void throw_stdout_error(int e) {
  throw Error(std::string("cannot write standard output: ") + (e ? std::strerror(e) : "a write failed"));
}

// Flushes std::cout and stdout; throws if anything written so far did not get through.
inline void flush_stdout() {
  errno = 0;
  std::cout.flush();
  if (std::fflush(stdout) != 0 || std::ferror(stdout) || !std::cout.good()) throw_stdout_error(errno);
}

// Writes s and flushes it (text streamed as it is made).
inline void write_stdout(std::string_view s) {
  errno = 0;
  if (std::fwrite(s.data(), 1, s.size(), stdout) != s.size()) throw_stdout_error(errno);
  flush_stdout();
}

}  // namespace tern::cli
