// tern: tune, generate and run ternary-weight kernels and models.
#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "cli/cli_common.h"
#include "cli/stdout_io.h"
#include "runtime/core/error.h"

namespace {

void print_usage(std::ostream& os) {
  os << "usage: tern <command> [options]    (tern <command> --help for each)\n\ncommands:\n";
  size_t width = 0;
  for (const auto& c : tern::cli::commands()) width = std::max(width, std::string(c.name).size());
  for (const auto& c : tern::cli::commands()) {
    os << "  " << c.name << std::string(width + 2 - std::string(c.name).size(), ' ') << c.summary << "\n";
  }
  os << "\nexample:\n  tern info\n  tern synth --preset tiny -o tiny.gguf && tern inspect tiny.gguf\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    print_usage(std::cerr);
    return 2;
  }
  std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    print_usage(std::cout);
    return 0;
  }
  if (name == "--version") {
    std::cout << "tern " << TERN_VERSION << "\n";
    return 0;
  }
  std::vector<std::string> args(argv + 2, argv + argc);
  tern::cli::register_backends();
  for (const auto& c : tern::cli::commands()) {
    if (name != c.name) continue;
    try {
      const int rc = c.run(args);
      // Output that never reached stdout is a failure, not a success with a short result.
      if (rc == 0) tern::cli::flush_stdout();
      return rc;
    } catch (const tern::cli::UsageError& e) {
      std::cerr << "tern " << name << ": error: " << e.what() << " (see tern " << name << " --help)\n";
      return 2;
    } catch (const boost::program_options::error& e) {
      std::cerr << "tern " << name << ": error: " << e.what() << " (see tern " << name << " --help)\n";
      return 2;
    } catch (const tern::Error& e) {
      std::cerr << "tern " << name << ": error: " << e.what() << "\n";
      return 1;
    } catch (const std::exception& e) {
      std::cerr << "tern " << name << ": internal error: " << e.what() << "\n";
      return 3;
    }
  }
  std::cerr << "tern: unknown command '" << name << "'\n\n";
  print_usage(std::cerr);
  return 2;
}
