// tern inspect: a GGUF file's metadata and tensor table.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/cli_common.h"
#include "runtime/gguf/gguf.h"

namespace tern::cli {

int cmd_inspect(const std::vector<std::string>& args) {
  po::options_description desc("options");
  std::string file;
  desc.add_options()
      ("file", po::value(&file)->required(), "GGUF file to read")
      ("full", "print arrays whole instead of abbreviated")
      ("json", "print one JSON object instead of text");
  po::positional_options_description pos;
  pos.add("file", 1);
  po::variables_map vm;
  if (!parse_options("inspect", args, desc, vm, "FILE [--full] [--json]",
                     "  tern inspect model.gguf\n  tern inspect model.gguf --json | jq '.tensors[0]'\n", &pos))
    return 0;
  gguf::File f = gguf::File::open(file);
  if (vm.count("json")) {
    std::cout << gguf::to_json(f).dump(2) << "\n";
  } else {
    gguf::print_summary(f, std::cout, vm.count("full") > 0);
  }
  return 0;
}

}  // namespace tern::cli
