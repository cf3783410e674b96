#include "cli/cli_common.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>

#include <sys/resource.h>
#include <unistd.h>

#include "runtime/core/error.h"
#include "runtime/dispatch/kernel_registry.h"
#include "runtime/gguf/gguf.h"
#include "runtime/model/model.h"
#include "runtime/tokenizer/utf8.h"
#ifdef TERN_HAVE_XBYAK
#include "jit/x86/xbyak_provider.h"
#endif
#if TERN_WITH_LLVM
#include "jit/llvm/llvm_backend.h"
#endif
#if TERN_HAVE_AOT
#include "tern_kernels.h"  // from `tern gen`, in TERN_AOT_DIR
#endif

namespace tern::cli {

const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {"info", "show this CPU's fingerprint, ISA, caches and compiled-in backends", cmd_info},
      {"inspect", "print a GGUF file's metadata and tensor table", cmd_inspect},
      {"kernels", "list the kernel variants this CPU runs; --bench times them", cmd_kernels},
      {"tune", "find the fastest verified kernel per matmul shape on this CPU and cache it", cmd_tune},
      {"gen", "compile kernels ahead of time into a static library for a target (ARM, x86), via LLVM", cmd_gen},
      {"synth", "write a BitNet GGUF with random ternary weights of real shapes", cmd_synth},
      {"eval", "run token ids through a model and write every position's logits", cmd_eval},
      {"run", "generate text from a prompt (greedy or sampled), streaming it", cmd_run},
      {"bench", "prompt and generation tokens/s like llama-bench, with a bandwidth roofline", cmd_bench},
      {"tokenize", "split a text into token ids and pieces like llama-tokenize (vocab-only files work)", cmd_tokenize},
      {"perplexity", "perplexity of a model on a text file, by llama-perplexity's method", cmd_perplexity},
  };
  return table;
}

bool parse_options(const std::string& command, const std::vector<std::string>& args,
                   po::options_description& desc, po::variables_map& vm, const char* usage,
                   const char* examples, const po::positional_options_description* positional) {
  desc.add_options()("help,h", "show this help");
  po::command_line_parser parser(args);
  parser.options(desc).style(po::command_line_style::unix_style);
  if (positional) parser.positional(*positional);
  po::store(parser.run(), vm);
  if (vm.count("help")) {
    std::cout << "usage: tern " << command << " " << usage << "\n\n" << desc << "\nexamples:\n" << examples;
    return false;
  }
  po::notify(vm);
  return true;
}

void register_backends() {
#ifdef TERN_HAVE_XBYAK
  kernel_registry().add(jit::make_xbyak_provider());
#endif
#if TERN_WITH_LLVM
  // Used only where asked for (a tuned winner, --backend llvm): compiling costs ~30 ms a kernel.
  kernel_registry().add(jit::make_llvm_provider());
#endif
#if TERN_HAVE_AOT
  // The kernel library linked into this build (-DTERN_AOT_DIR): preferred over the defaults.
  kernel_registry().add(make_aot_provider(tern_aot_kernels, tern_aot_kernel_count));
#endif
}

std::vector<tuner::Shape> shapes_from_options(const std::string& shapes, const std::string& model) {
  std::vector<tuner::Shape> out;
  if (!shapes.empty()) {
    try {
      out = tuner::parse_shapes(shapes);
    } catch (const Error& e) {
      throw UsageError(std::string("--shapes: ") + e.what());
    }
  }
  if (!model.empty()) {
    gguf::File file = gguf::File::open(model);  // tensor infos only; nothing is loaded
    for (const tuner::Shape& s : tuner::model_shapes(file))
      if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
  }
  return out;
}

std::vector<int> parse_int_list(const std::string& s, const char* option, int lo, int hi) {
  std::vector<int> out;
  size_t i = 0;
  while (i <= s.size()) {
    size_t j = s.find(',', i);
    if (j == std::string::npos) j = s.size();
    const std::string item = s.substr(i, j - i);
    char* end = nullptr;
    errno = 0;
    const long v = item.empty() ? 0 : std::strtol(item.c_str(), &end, 10);
    if (item.empty() || errno || *end || v < lo || v > hi)
      throw UsageError(std::string("--") + option + " " + s + ": '" + item + "' is not a number in " +
                       std::to_string(lo) + ".." + std::to_string(hi) +
                       " (a comma-separated list, e.g. 1,2)");
    out.push_back(static_cast<int>(v));
    i = j + 1;
  }
  return out;
}

uint64_t current_rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t pages = 0, resident = 0;
  if (!(statm >> pages >> resident)) return 0;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

uint64_t peak_rss_bytes() {
  rusage u{};
  if (getrusage(RUSAGE_SELF, &u) != 0) return 0;
  return static_cast<uint64_t>(u.ru_maxrss) * 1024;  // Linux reports KiB
}

std::string utf8_problem(std::string_view text) {
  const size_t at = tokenizer::utf8::first_invalid(text);
  if (at == std::string_view::npos) return {};
  char byte[8];
  std::snprintf(byte, sizeof byte, "0x%02X", static_cast<unsigned char>(text[at]));
  return "invalid UTF-8 at byte offset " + std::to_string(at) + " (byte " + byte + ")";
}

std::string read_text_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path + ": cannot open the text file");
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (f.bad()) throw Error(path + ": cannot read the text file");
  if (const std::string why = utf8_problem(text); !why.empty()) throw Error(path + ": " + why);
  return text;
}

std::string prompt_or_file(const po::variables_map& vm, const std::string& prompt, const std::string& file) {
  const bool has_prompt = vm.count("prompt") && !vm["prompt"].defaulted(), has_file = vm.count("file") > 0;
  if (has_prompt && has_file) throw UsageError("give the text with one of --prompt (-p) and --file (-f), not both");
  if (has_file) return read_text_file(file);
  if (const std::string why = utf8_problem(prompt); !why.empty()) throw UsageError("--prompt: " + why);
  return prompt;
}

model::KvType parse_kv_type(const std::string& value) {
  if (value == "f16") return model::KvType::F16;
  if (value == "f32") return model::KvType::F32;
  throw UsageError("--kv " + value + ": expected f16|f32");
}

std::string human_bytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

}  // namespace tern::cli
