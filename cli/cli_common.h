// Shared pieces of the `tern` subcommands: option parsing with --help, and
// the table of subcommands main() dispatches to.
#pragma once

#include <boost/program_options.hpp>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "tuner/tune.h"

namespace tern::model {
enum class KvType;  // runtime/model/model.h
}

namespace tern::cli {

namespace po = boost::program_options;

// A bad value on the command line: main() prints it as one line and exits with 2,
// like an unknown option.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Command {
  const char* name;
  const char* summary;
  int (*run)(const std::vector<std::string>& args);
};

const std::vector<Command>& commands();

// Parses args against desc (positional names optional). Returns false when
// --help was asked for (usage already printed to stdout). Throws po::error on
// unknown options or bad values; main() turns that into a one-line error.
bool parse_options(const std::string& command, const std::vector<std::string>& args,
                   po::options_description& desc, po::variables_map& vm,
                   const char* usage, const char* examples,
                   const po::positional_options_description* positional = nullptr);

// A comma-separated list of integers in lo..hi ("1,2,8"); UsageError naming the option otherwise.
std::vector<int> parse_int_list(const std::string& s, const char* option, int lo, int hi);

// The matmul shapes of --shapes (a KxN list) and then of -m (a GGUF model's projections), each
// once, in that order. UsageError for a bad list; tern::Error for a bad model file.
std::vector<tuner::Shape> shapes_from_options(const std::string& shapes, const std::string& model);

// "invalid UTF-8 at byte offset 7 (byte 0xC3)" for the first bad byte of `text`; empty when it
// is valid UTF-8.
std::string utf8_problem(std::string_view text);

// A UTF-8 text file's bytes; tern::Error naming the file when it cannot be read or is not UTF-8.
std::string read_text_file(const std::string& path);

// The text of `-p TEXT` or `-f FILE` (the options "prompt" and "file"), which must not both be
// given; `-p` alone may be left at its default. UsageError for a bad -p, tern::Error for a bad file.
std::string prompt_or_file(const po::variables_map& vm, const std::string& prompt, const std::string& file);

// The KV cache element type of `--kv` (f16 | f32); UsageError otherwise.
model::KvType parse_kv_type(const std::string& value);

// "1.5 MiB"
std::string human_bytes(uint64_t bytes);

// This process's resident set now (/proc/self/statm) and its peak so far
// (getrusage); 0 where the system does not say.
uint64_t current_rss_bytes();
uint64_t peak_rss_bytes();

// Registers the kernel backends this build has (Xbyak on x86) with the runtime's registry.
void register_backends();

int cmd_info(const std::vector<std::string>& args);
int cmd_kernels(const std::vector<std::string>& args);
int cmd_inspect(const std::vector<std::string>& args);
int cmd_synth(const std::vector<std::string>& args);
int cmd_eval(const std::vector<std::string>& args);
int cmd_tune(const std::vector<std::string>& args);
int cmd_gen(const std::vector<std::string>& args);
int cmd_run(const std::vector<std::string>& args);
int cmd_bench(const std::vector<std::string>& args);
int cmd_tokenize(const std::vector<std::string>& args);
int cmd_perplexity(const std::vector<std::string>& args);

}  // namespace tern::cli
