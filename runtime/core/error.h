// One exception type for bad input from outside (model files, caches, names,
// command lines). Its message is the one line the user sees: it names the
// file, field or offset and what was expected.
#pragma once

#include <stdexcept>
#include <string>

namespace tern {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace tern
