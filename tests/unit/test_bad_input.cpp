// The bad input table: every input the reliability issue lists, driven through the real
// `tern` binary. Each must give a one-line error naming the file / tensor / field / offset
// and what was expected, a non-zero exit, and no partial output file: a failed run neither
// creates its output nor replaces (or truncates) an existing one.
//
// row                                   -> the tests that prove it (CLI end to end unless noted)
// ------------------------------------------------------------------------------------------------
// truncated or corrupt GGUF             -> BadInput.TruncatedOrCorruptGgufFailsEveryCommand (empty,
//                                          bad magic, cut in the header / metadata / tensor data, a
//                                          tensor offset past the end; inspect, tokenize, run, eval,
//                                          perplexity, bench, tune); in process: GgufMalformed.* in
//                                          test_gguf.cpp (every truncated prefix, random corruption)
// wrong arch                            -> BadInput.ModelsTheGraphCannotRunFailWithTheTensorNamed
//                                          (in process: ModelLoad.RejectsAWrongArchitecture)
// missing tensors                       -> BadInput.ModelsTheGraphCannotRunFailWithTheTensorNamed
//                                          (in process: ModelLoad.RejectsAMissingTensor)
// shape mismatches                      -> BadInput.ModelsTheGraphCannotRunFailWithTheTensorNamed
//                                          (in process: ModelLoad.RejectsAWrongShape)
// non-ternary values in a ternary tensor-> BadInput.ModelsTheGraphCannotRunFailWithTheTensorNamed
//                                          (in process: ModelLoad.RejectsANonTernaryF16Projection,
//                                          ModelLinear.FloatTensorsMustHoldTernaryValues)
// unsupported tensor types              -> BadInput.UnsupportedTensorTypesAreNamed (a type id ggml
//                                          does not have; a Q4_0 projection; a Q4_0 embedding)
// vocab without merges                  -> BadInput.AVocabWithoutMergesIsRefused (tokenize, run)
//                                          (in process: TokenizerBadVocab.MissingMerges)
// prompt longer than the context,       -> RunBench.APromptLongerThanTheContextIsAnErrorUnlessTruncated
//   truncate or refuse as the user chose   (refused by default, naming the prompt's token count and
//                                          the context -c; --truncate keeps BOS and the last tokens);
//                                          BadInput.EvalTokensBeyondTheContextWriteNothing (eval)
// invalid UTF-8 prompt                  -> RunBench.BadArgumentsAreOneLineErrors (run -p),
//                                          TokenizePerplexity.TokenizeErrorsAreOneLine (tokenize -p, -f),
//                                          TokenizePerplexity.PerplexityErrors (perplexity -f),
//                                          RunBench.PromptFromAFileAndTheKvCacheType (run -f: a missing
//                                          or non-UTF-8 file, -p with -f; --kv of another type)
// corrupt / foreign / future-schema     -> the cache is advisory (DESIGN.md: "skipped with a warning,
//   cache                                  never trusted"): one warning line naming the file and why,
//                                          the run goes on with the defaults, exit 0.
//                                          Corrupt: TunedModel.ACorruptCacheIsSkippedWithAWarning;
//                                          foreign and future schema:
//                                          BadInput.ForeignAndFutureSchemaCachesAreSkippedWithOneWarning;
//                                          in process: TuneTest.CorruptFilesAndRecordsAreSkippedWith-
//                                          AWarningNeverACrash, TuneTest.AnotherSchemaIsSkipped,
//                                          TuneTest.AnotherCpusRecordsInThisCpusFileAreSkipped; tune -o
//                                          over a corrupt cache keeps it aside:
//                                          TuneTest.WritesAreAtomicAndLeaveNoTemporaryFile
// --threads 0 / negative / too many     -> BadInput.ThreadCountsOutOfRangeAreRefused (run, eval,
//                                          perplexity, bench, tune, kernels --bench; 0, -1, 100000)
// unwritable output paths               -> BadInput.UnwritableOutputPathsFailBeforeAnyWork (synth -o,
//                                          eval --logits, tune -o: a missing directory, a directory,
//                                          a regular file as the parent); BadInput.AFullStdoutIsAnError
//                                          (stdout on /dev/full: inspect, tokenize, run, perplexity,
//                                          info, kernels)
// disk full while writing               -> BadInput.DiskFullLeavesNoPartialFile (RLIMIT_FSIZE with
//                                          SIGXFSZ ignored: synth writes <out>.tmp.<pid> and renames;
//                                          eval --logits; tune -o)
// TERN_MAX_ISA naming an unknown ISA    -> BadInput.AnUnknownMaxIsaIsRefused (run, eval, perplexity,
//                                          bench, kernels, tune, info); Cli.InfoHonoursAndValidatesMaxIsa
// a JIT failure                         -> BadInput.AJitFailureFallsBackToTheDefaultsAndSaysSo (in
//                                          process: a tuned kernel whose build throws; the model loader
//                                          falls back to the dispatcher's next choice, one note per
//                                          failing kernel naming it, same logits). The registry itself
//                                          does not fall back: BadInput.TheRegistryReportsABuildFailure-
//                                          ByName pins down what it does (one error naming the kernel,
//                                          nothing cached).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>

#include "runtime/core/cpu_info.h"
#include "runtime/core/error.h"
#include "runtime/dispatch/kernel_choice.h"
#include "runtime/dispatch/kernel_registry.h"
#include "runtime/dispatch/tuning_cache.h"
#include "runtime/gguf/gguf.h"
#include "runtime/model/model.h"
#include "runtime/model/session.h"
#include "runtime/ref/fp16.h"
#include "test_helpers.h"
#if defined(__x86_64__)
#include "jit/x86/xbyak_provider.h"
#endif

namespace tern {
namespace {

using test::RunResult;
using test::TempDir;

// `tern tune` and `tern kernels --bench` run the Xbyak kernels: x86-64 builds only.
#if defined(__x86_64__)
constexpr bool kHaveXbyak = true;
#else
constexpr bool kHaveXbyak = false;
#endif

const std::string kTiny = test::data_path("tiny-bitnet-tq2_0.gguf");
const std::string kTinyF16 = test::data_path("tiny-bitnet-f16.gguf");
const std::string kOld = "existing output, must survive a failed run\n";

// ---- running tern ----------------------------------------------------------------------

struct RunOptions {
  std::optional<rlim_t> max_file_bytes;  // RLIMIT_FSIZE: writes past it fail with EFBIG
  std::string stdout_to;                 // a path for stdout instead of a pipe (/dev/full)
  std::vector<std::pair<std::string, std::string>> env;
  std::string cwd;
};

// fork + exec of the tern binary with argv as given (no shell), both streams read through
// pipes (a pipe is not subject to RLIMIT_FSIZE, so the limit hits only the files tern writes).
RunResult run_argv(const std::vector<std::string>& args, const RunOptions& o = {}) {
  int out_pipe[2], err_pipe[2];
  if (pipe(out_pipe) != 0 || pipe(err_pipe) != 0) throw std::runtime_error("pipe failed");
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    int out_fd = out_pipe[1];
    if (!o.stdout_to.empty()) out_fd = ::open(o.stdout_to.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(out_fd, 1);
    dup2(err_pipe[1], 2);
    int in = ::open("/dev/null", O_RDONLY);
    dup2(in, 0);
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) close(fd);
    for (const auto& [k, v] : o.env) setenv(k.c_str(), v.c_str(), 1);
    if (!o.cwd.empty() && chdir(o.cwd.c_str()) != 0) _exit(126);
    if (o.max_file_bytes) {
      // Ignored, SIGXFSZ stays ignored across exec: write() then fails with EFBIG, as on a full disk.
      signal(SIGXFSZ, SIG_IGN);
      rlimit lim{*o.max_file_bytes, *o.max_file_bytes};
      setrlimit(RLIMIT_FSIZE, &lim);
    }
    // TERN_BINARY may start with an emulator and its options (a cross build under qemu).
    std::vector<std::string> words;
    std::istringstream binary(TERN_BINARY);
    for (std::string w; binary >> w;) words.push_back(w);
    words.insert(words.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& w : words) argv.push_back(w.data());
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  RunResult r;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&r.out, &r.err};
  int open_fds = 2;
  char buf[4096];
  while (open_fds > 0) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<size_t>(n));
      } else {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

RunResult run(const std::string& args, const RunOptions& o = {}) { return run_argv(split(args), o); }

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// stderr is exactly one line, "tern CMD: error: ...", holding every needle.
void expect_one_line_error(const RunResult& r, int exit_code, const std::vector<std::string>& needles,
                           const std::string& what) {
  SCOPED_TRACE(what);
  EXPECT_EQ(r.exit_code, exit_code) << r.err;
  EXPECT_EQ(test::count_lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find(": error: "), std::string::npos) << r.err;
  for (const std::string& n : needles)
    EXPECT_NE(r.err.find(n), std::string::npos) << "no '" << n << "' in: " << r.err;
}

// For commands that print progress lines before failing: the error is the last line and
// the only error line.
void expect_last_line_error(const RunResult& r, int exit_code, const std::vector<std::string>& needles,
                            const std::string& what) {
  SCOPED_TRACE(what);
  EXPECT_EQ(r.exit_code, exit_code) << r.err;
  const std::vector<std::string> lines = lines_of(r.err);
  ASSERT_FALSE(lines.empty());
  size_t errors = 0;
  for (const std::string& l : lines) errors += l.find(": error: ") != std::string::npos;
  EXPECT_EQ(errors, 1u) << r.err;
  EXPECT_NE(lines.back().find(": error: "), std::string::npos) << r.err;
  for (const std::string& n : needles)
    EXPECT_NE(lines.back().find(n), std::string::npos) << "no '" << n << "' in: " << lines.back();
}

std::set<std::string> entries(const TempDir& d) {
  std::set<std::string> s;
  for (const std::string& e : d.entries()) s.insert(e);
  return s;
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
}

std::string read_text(const std::string& path) {
  const std::vector<uint8_t> b = test::read_bytes(path);
  return std::string(b.begin(), b.end());
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// ---- bad files -------------------------------------------------------------------------

struct Replacement {
  GgmlType type;
  std::vector<uint64_t> dims;
  std::vector<uint8_t> data;
};

// A copy of a GGUF with metadata set or removed and tensors dropped or replaced.
struct Edits {
  std::map<std::string, gguf::Value> set;
  std::set<std::string> unset, drop;
  std::map<std::string, Replacement> replace;
};

std::string edited(const TempDir& dir, const std::string& name, const std::string& src, const Edits& e) {
  const std::string path = dir.file(name);
  gguf::File f = gguf::File::open(src);
  gguf::Writer w(path);
  for (const auto& kv : f.metadata())
    if (!e.unset.count(kv.key)) w.set(kv.key, kv.value);
  for (const auto& [k, v] : e.set) w.set(k, v);
  for (const auto& t : f.tensors()) {
    if (e.drop.count(t.name)) continue;
    auto r = e.replace.find(t.name);
    if (r != e.replace.end())
      w.add_tensor(t.name, r->second.type, r->second.dims);
    else
      w.add_tensor(t.name, t.type, t.dims());
  }
  for (const auto& t : f.tensors()) {
    if (e.drop.count(t.name)) continue;
    auto r = e.replace.find(t.name);
    w.write_tensor(t.name, r != e.replace.end() ? std::span<const uint8_t>(r->second.data) : t.span());
  }
  w.finish();
  return path;
}

// The byte offset of the u32 type id in the tensor info of `tensor`.
size_t type_field_offset(const std::vector<uint8_t>& bytes, const std::string& tensor) {
  const uint64_t len = tensor.size();
  std::string needle(8, '\0');  // the name as GGUF stores it: u64 length, then the bytes
  std::memcpy(needle.data(), &len, 8);
  needle += tensor;
  const auto it = std::search(bytes.begin(), bytes.end(), needle.begin(), needle.end());
  EXPECT_NE(it, bytes.end());
  size_t pos = static_cast<size_t>(it - bytes.begin()) + 8 + tensor.size();
  uint32_t n_dims = 0;
  std::memcpy(&n_dims, bytes.data() + pos, 4);
  return pos + 4 + 8 * n_dims;
}

// Every command that reads a model file, with its output (if any) going to `out`.
std::vector<std::pair<std::string, std::string>> model_commands(const std::string& model,
                                                                const std::string& out,
                                                                const std::string& text) {
  std::vector<std::pair<std::string, std::string>> c = {
      {"inspect", "inspect " + model},
      {"tokenize", "tokenize -m " + model + " -p hi"},
      {"run", "run -m " + model + " -p hi -n 2 -t 1"},
      {"eval", "eval -m " + model + " --tokens 1,2,3 --logits " + out},
      {"perplexity", "perplexity -m " + model + " -f " + text + " --ctx 8 -t 1"},
      {"bench", "bench -m " + model + " -p 4 -n 2 -r 1 -t 1"},
  };
  if (kHaveXbyak) c.emplace_back("tune", "tune -m " + model + " -t 1 --m 1 --budget 1 -o " + out);
  return c;
}

TEST(BadInput, TruncatedOrCorruptGgufFailsEveryCommand) {
  TempDir dir;
  const std::vector<uint8_t> good = test::read_bytes(kTiny);
  const gguf::File parsed = gguf::File::open(kTiny);
  const std::string text = dir.file("text.txt");
  write_text(text, "hello there, this is a little text\n");

  struct Case {
    std::string name;
    std::vector<uint8_t> bytes;
    std::vector<std::string> needles;  // besides the file name
  };
  std::vector<Case> cases;
  cases.push_back({"empty.gguf", {}, {}});
  std::vector<uint8_t> magic = good;
  std::memcpy(magic.data(), "GGML", 4);
  cases.push_back({"magic.gguf", magic, {"offset 0", "GGUF"}});
  cases.push_back({"in-header.gguf", std::vector<uint8_t>(good.begin(), good.begin() + 10), {"offset"}});
  cases.push_back({"in-metadata.gguf", std::vector<uint8_t>(good.begin(), good.begin() + 2000), {"offset"}});
  // Cut inside the tensor data: the tensor table is whole, the last tensors are not.
  cases.push_back({"in-data.gguf", std::vector<uint8_t>(good.begin(), good.end() - 4096), {"offset"}});
  // A tensor whose offset points past the end of the file.
  std::vector<uint8_t> far = good;
  const size_t type_at = type_field_offset(far, "output_norm.weight");
  const uint64_t huge = uint64_t{1} << 40;
  std::memcpy(far.data() + type_at + 4, &huge, 8);
  cases.push_back({"offset.gguf", far, {"offset", "output_norm.weight"}});

  for (const Case& c : cases) {
    const std::string path = dir.file(c.name);
    write_bytes(path, c.bytes);
    for (const auto& [cmd, args] : model_commands(path, dir.file("out"), text)) {
      const std::string what = c.name + " / tern " + cmd;
      write_text(dir.file("out"), kOld);
      const RunResult r = run(args);
      std::vector<std::string> needles = c.needles;
      needles.push_back(c.name);
      expect_one_line_error(r, 1, needles, what);
      EXPECT_EQ(read_text(dir.file("out")), kOld) << what;
      EXPECT_TRUE(r.out.empty()) << what << ": " << r.out;
    }
    std::filesystem::remove(dir.file("out"));
    const RunResult r = run("eval -m " + path + " --tokens 1 --logits " + dir.file("new.f32"));
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_FALSE(std::filesystem::exists(dir.file("new.f32"))) << c.name;
    std::filesystem::remove(path);
  }
  EXPECT_EQ(entries(dir), (std::set<std::string>{"text.txt"}));  // no temporary file anywhere
}

// A model the graph cannot run: `tern run`, `eval` and `perplexity` name the file, the
// tensor or key and what was expected, and write nothing.
void expect_model_refused(const TempDir& dir, const std::string& model,
                          const std::vector<std::string>& needles) {
  const std::string text = dir.file("text.txt");
  write_text(text, "hello there, this is a little text\n");
  const std::string out = dir.file("out.f32");
  std::vector<std::string> with_file = needles;
  with_file.push_back(model);
  for (const std::string& args : std::vector<std::string>{
           "run -m " + model + " -p hi -n 2 -t 1", "eval -m " + model + " --tokens 1,2,3 --logits " + out,
           "perplexity -m " + model + " -f " + text + " --ctx 8 -t 1",
           "bench -m " + model + " -p 4 -n 2 -r 1 -t 1"}) {
    std::filesystem::remove(out);
    RunResult r = run(args);
    expect_one_line_error(r, 1, with_file, args);
    EXPECT_FALSE(std::filesystem::exists(out)) << args;
    EXPECT_TRUE(r.out.empty()) << args << ": " << r.out;
  }
  write_text(out, kOld);
  run("eval -m " + model + " --tokens 1,2,3 --logits " + out);
  EXPECT_EQ(read_text(out), kOld);
  std::filesystem::remove(out);
}

TEST(BadInput, ModelsTheGraphCannotRunFailWithTheTensorNamed) {
  TempDir dir;
  {
    Edits e;
    e.set.emplace("general.architecture", gguf::Value("llama"));
    expect_model_refused(dir, edited(dir, "arch.gguf", kTiny, e),
                         {"architecture 'llama' is not supported", "expected bitnet"});
  }
  {
    Edits e;
    e.drop.insert("blk.1.ffn_down.weight");
    expect_model_refused(dir, edited(dir, "missing.gguf", kTiny, e),
                         {"tensor blk.1.ffn_down.weight is missing"});
  }
  {
    Edits e;
    e.unset.insert("bitnet.embedding_length");
    expect_model_refused(dir, edited(dir, "key.gguf", kTiny, e), {"bitnet.embedding_length"});
  }
  {
    const gguf::File f = gguf::File::open(kTinyF16);
    const gguf::TensorInfo& t = f.tensor("blk.0.attn_k.weight");
    Edits e;
    e.replace["blk.0.attn_k.weight"] = {
        t.type, {256, 64}, std::vector<uint8_t>(t.data, t.data + t.bytes / 2)};
    expect_model_refused(dir, edited(dir, "shape.gguf", kTinyF16, e),
                         {"tensor blk.0.attn_k.weight has shape [256, 64], expected [256, 128]"});
  }
  {
    const gguf::File f = gguf::File::open(kTinyF16);
    const gguf::TensorInfo& t = f.tensor("blk.1.ffn_up.weight");
    std::vector<uint8_t> data(t.data, t.data + t.bytes);
    const uint16_t h = ref::f32_to_f16(0.05f);
    std::memcpy(data.data() + 2 * 1000, &h, 2);
    Edits e;
    e.replace["blk.1.ffn_up.weight"] = {t.type, {256, 768}, data};
    expect_model_refused(dir, edited(dir, "nonternary.gguf", kTinyF16, e),
                         {"tensor blk.1.ffn_up.weight is not ternary: element 1000 (row 3, column 232)"});
  }
  EXPECT_EQ(entries(dir), (std::set<std::string>{"arch.gguf", "missing.gguf", "key.gguf", "shape.gguf",
                                                 "nonternary.gguf", "text.txt"}));
}

TEST(BadInput, UnsupportedTensorTypesAreNamed) {
  TempDir dir;
  // A type id ggml does not have: the reader refuses the file, naming the offset and the tensor.
  std::vector<uint8_t> bytes = test::read_bytes(kTiny);
  const size_t at = type_field_offset(bytes, "blk.0.attn_q.weight");
  const uint32_t unknown = 99;
  std::memcpy(bytes.data() + at, &unknown, 4);
  write_bytes(dir.file("type99.gguf"), bytes);
  const std::string offset = "offset " + std::to_string(at);
  for (const std::string& args : std::vector<std::string>{
           "inspect " + dir.file("type99.gguf"), "run -m " + dir.file("type99.gguf") + " -p hi -n 1 -t 1",
           "eval -m " + dir.file("type99.gguf") + " --tokens 1 --logits " + dir.file("o")})
    expect_one_line_error(run(args), 1, {"type99.gguf", offset, "99"}, args);

  // Known ggml types that hold no ternary weights, or no embedding tern can read.
  const gguf::File f = gguf::File::open(kTiny);
  const uint64_t q4_bytes = *ggml_tensor_bytes(GgmlType::Q4_0, std::vector<uint64_t>{256, 256});
  Edits e;
  e.replace["blk.0.attn_q.weight"] = {GgmlType::Q4_0, {256, 256}, std::vector<uint8_t>(q4_bytes, 0)};
  expect_model_refused(dir, edited(dir, "q4proj.gguf", kTiny, e), {"blk.0.attn_q.weight", "Q4_0"});

  const uint64_t q4_embd = *ggml_tensor_bytes(GgmlType::Q4_0, std::vector<uint64_t>{256, 1024});
  Edits e2;
  e2.replace["token_embd.weight"] = {GgmlType::Q4_0, {256, 1024}, std::vector<uint8_t>(q4_embd, 0)};
  expect_model_refused(dir, edited(dir, "q4embd.gguf", kTiny, e2),
                       {"tensor token_embd.weight has type Q4_0, expected F32, F16, BF16, Q8_0 or Q6_K"});
  EXPECT_EQ(entries(dir), (std::set<std::string>{"type99.gguf", "q4proj.gguf", "q4embd.gguf", "text.txt"}));
}

TEST(BadInput, AVocabWithoutMergesIsRefused) {
  TempDir dir;
  Edits e;
  e.unset.insert("tokenizer.ggml.merges");
  const std::string model = edited(dir, "nomerges.gguf", kTiny, e);
  for (const std::string& args : std::vector<std::string>{"tokenize -m " + model + " -p hello",
                                                          "run -m " + model + " -p hello -n 2 -t 1"}) {
    const RunResult r = run(args);
    expect_one_line_error(r, 1, {"nomerges.gguf", "tokenizer.ggml.merges", "vocab without merges"}, args);
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
}

TEST(BadInput, EvalTokensBeyondTheContextWriteNothing) {
  TempDir dir;
  const std::string out = dir.file("out.f32");
  RunResult r = run("eval -m " + kTiny + " --tokens 1,2,3,4,5 --n-ctx 4 --logits " + out);
  expect_one_line_error(r, 1, {kTiny, "5 tokens do not fit the context", "n_ctx 4"}, "eval --n-ctx 4");
  EXPECT_TRUE(entries(dir).empty());
  write_text(out, kOld);
  run("eval -m " + kTiny + " --tokens 1,2,3,4,5 --n-ctx 4 --logits " + out);
  EXPECT_EQ(read_text(out), kOld);
  EXPECT_EQ(entries(dir), std::set<std::string>{"out.f32"});
}

TEST(BadInput, ThreadCountsOutOfRangeAreRefused) {
  TempDir dir;
  const std::string text = dir.file("text.txt");
  write_text(text, "hello there\n");
  const std::string out = dir.file("out");
  std::vector<std::string> commands = {
      "run -m " + kTiny + " -p hi -n 2", "eval -m " + kTiny + " --tokens 1,2 --logits " + out,
      "perplexity -m " + kTiny + " -f " + text + " --ctx 8", "bench -m " + kTiny + " -p 4 -n 2 -r 1"};
  if (kHaveXbyak) {
    commands.push_back("tune -m " + kTiny + " --budget 1 -o " + out);
    commands.push_back("kernels --bench --shapes 256x128");
  }
  for (const char* t : {"0", "-1", "100000"}) {
    for (const std::string& args : commands) {
      const std::string cmd = args + " -t " + t;
      const RunResult r = run(cmd);
      expect_one_line_error(r, 2, {"--threads", t, "1..1024"}, cmd);
      EXPECT_TRUE(r.out.empty()) << cmd << ": " << r.out;
    }
  }
  EXPECT_EQ(entries(dir), std::set<std::string>{"text.txt"});
}

TEST(BadInput, UnwritableOutputPathsFailBeforeAnyWork) {
  TempDir dir;
  write_text(dir.file("plain"), "a regular file\n");
  std::filesystem::create_directory(dir.file("a-directory"));
  const std::vector<std::pair<std::string, std::string>> paths = {
      {dir.file("no/such/dir/out"), "No such file or directory"},
      {dir.file("plain/out"), "Not a directory"},
      {dir.file("a-directory"), "directory"},
  };
  for (const auto& [path, why] : paths) {
    std::vector<std::string> commands = {"synth --preset tiny -o " + path,
                                         "eval -m " + kTiny + " --tokens 1,2 --logits " + path};
    // tune creates a missing cache directory on purpose (the user cache may not exist yet).
    if (kHaveXbyak && path != dir.file("no/such/dir/out"))
      commands.push_back("tune -m " + kTiny + " -t 1 --m 1 --budget 1 -o " + path);
    for (const std::string& args : commands) {
      const RunResult r = run(args);
      expect_one_line_error(r, 1, {path, why}, args);
      EXPECT_TRUE(r.out.empty()) << args << ": " << r.out;
    }
  }
  EXPECT_EQ(entries(dir), (std::set<std::string>{"plain", "a-directory"}));
  EXPECT_TRUE(std::filesystem::is_empty(dir.file("a-directory")));
  EXPECT_EQ(read_text(dir.file("plain")), "a regular file\n");
}

TEST(BadInput, AFullStdoutIsAnError) {
  TempDir dir;
  const std::string text = dir.file("text.txt");
  std::string words;
  for (int i = 0; i < 200; ++i) words += "the cat sat on the mat and ";
  write_text(text, words);
  RunOptions full;
  full.stdout_to = "/dev/full";  // every write fails with ENOSPC
  for (const std::string& args : std::vector<std::string>{
           "inspect " + kTiny, "tokenize -m " + kTiny + " -p hello",
           "run -m " + kTiny + " -p hello -n 4 -t 1 --temp 0",
           "run -m " + kTiny + " -p hello -n 4 -t 1 --temp 0 --json",
           "perplexity -m " + kTiny + " -f " + text + " --ctx 16 -t 1 --chunks 1", "info"}) {
    const RunResult r = run(args, full);
    expect_last_line_error(r, 1, {"cannot write standard output", "No space left on device"}, args);
  }
  // Commands without a check of their own are caught when they return (the reason may be lost).
  // (Builds without Xbyak list no kernel variants: nothing to write.)
  if (kHaveXbyak) {
    const RunResult r = run("kernels --shapes 256x128", full);
    expect_last_line_error(r, 1, {"cannot write standard output"}, "kernels");
  }
}

TEST(BadInput, DiskFullLeavesNoPartialFile) {
  TempDir dir;
  RunOptions limited;
  limited.max_file_bytes = 64 * 1024;  // the tiny model is ~950 KB, 20 tokens of logits 80 KB
  const std::string model = dir.file("tiny.gguf"), logits = dir.file("logits.f32");

  RunResult r = run("synth --preset tiny -o " + model, limited);
  expect_last_line_error(r, 1, {model, ".tmp.", "File too large"}, "synth, nothing there before");
  EXPECT_TRUE(entries(dir).empty()) << "the temporary file is left behind";

  write_text(model, kOld);
  r = run("synth --preset tiny -o " + model, limited);
  expect_last_line_error(r, 1, {model, "File too large"}, "synth over an existing file");
  EXPECT_EQ(read_text(model), kOld);
  EXPECT_EQ(entries(dir), std::set<std::string>{"tiny.gguf"});
  std::filesystem::remove(model);

  std::string tokens = "1";
  for (int i = 2; i <= 20; ++i) tokens.append(",").append(std::to_string(i));  // not "," + (GCC 12 -Wrestrict)
  r = run("eval -m " + kTiny + " --tokens " + tokens + " --logits " + logits, limited);
  expect_one_line_error(r, 1, {logits, "File too large"}, "eval --logits");
  EXPECT_TRUE(entries(dir).empty());
  write_text(logits, kOld);
  r = run("eval -m " + kTiny + " --tokens " + tokens + " --logits " + logits, limited);
  expect_one_line_error(r, 1, {logits, "File too large"}, "eval --logits over an existing file");
  EXPECT_EQ(read_text(logits), kOld);
  std::filesystem::remove(logits);

  // The tuning cache: every save is a whole new file renamed onto the old one.
#if defined(__x86_64__)
  if (host_cpu().supports(Isa::avx2)) {
    const std::string cache = dir.file("cache.json");
    const std::string before = "{\"format\": \"tern-tuning\", \"schema\": 1, \"records\": []}\n";
    write_text(cache, before);
    RunOptions tiny_limit;
    tiny_limit.max_file_bytes = 256;
    r = run("tune --shapes 256x128 --m 1 -t 1 --budget 1 --family mad -o " + cache, tiny_limit);
    expect_last_line_error(r, 1, {cache, "File too large"}, "tune -o");
    EXPECT_EQ(read_text(cache), before);
    EXPECT_EQ(entries(dir), std::set<std::string>{"cache.json"});
  }
#endif
}

TEST(BadInput, AnUnknownMaxIsaIsRefused) {
  TempDir dir;
  const std::string text = dir.file("text.txt");
  write_text(text, "hello there\n");
  const std::string out = dir.file("out");
  RunOptions o;
  o.env = {{"TERN_MAX_ISA", "avx9000"}};
  std::vector<std::string> commands = {"run -m " + kTiny + " -p hi -n 2 -t 1",
                                       "eval -m " + kTiny + " --tokens 1,2 --logits " + out,
                                       "perplexity -m " + kTiny + " -f " + text + " --ctx 8 -t 1",
                                       "bench -m " + kTiny + " -p 4 -n 2 -r 1 -t 1",
                                       "kernels",
                                       "info"};
  if (kHaveXbyak) commands.push_back("tune -m " + kTiny + " -t 1 --m 1 --budget 1 -o " + out);
  for (const std::string& args : commands) {
    const RunResult r = run(args, o);
    expect_one_line_error(r, 1, {"TERN_MAX_ISA", "avx9000", "expected one of", "scalar"}, args);
    EXPECT_TRUE(r.out.empty()) << args << ": " << r.out;
  }
  EXPECT_EQ(entries(dir), std::set<std::string>{"text.txt"});
}

// ---- the tuning cache --------------------------------------------------------------------

TEST(BadInput, ForeignAndFutureSchemaCachesAreSkippedWithOneWarning) {
  TempDir dir;
  const std::string cache_dir = dir.file("cache");
  std::filesystem::create_directories(cache_dir);
  const std::string file = tuning_file(cache_dir, host_cpu());
  RunOptions o;
  o.env = {{"TERN_CACHE_DIR", cache_dir}, {"TERN_RESULTS_DIR", ""}};
  const std::string args = "run -m " + kTiny + " -p hi -n 2 -t 1 --temp 0";

  // Another CPU's record in this CPU's file (copied from another machine).
  CpuInfo other = host_cpu();
  other.brand = "Imaginary Sibling 9000";
  other.model += 1;
  TuningRecord rec;
  rec.tern_version = TERN_VERSION;
  rec.cpu = other;
  rec.problem = KernelProblem::make(256, 256, 1, 1);
  rec.config = default_kernel(Op::gemv, 256, 256, 1, Isa::avx2);
  rec.metrics = {1000, 1, 1, 10, 1, true};
  write_tuning_records(file, {rec});
  RunResult r = run(args, o);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> warnings;
  for (const std::string& l : lines_of(r.err))
    if (l.find(file) != std::string::npos) warnings.push_back(l);
  ASSERT_EQ(warnings.size(), 1u) << r.err;
  EXPECT_NE(warnings[0].find("is for CPU " + other.cpu_id() + ", not this CPU"), std::string::npos)
      << warnings[0];
  EXPECT_NE(r.err.find("kernels: 14 x"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("tuned"), std::string::npos) << r.err;

  // A file of a future schema.
  write_text(file, "{\"format\": \"tern-tuning\", \"schema\": " + std::to_string(kTuningSchema + 1) +
                       ", \"records\": [{\"anything\": \"a newer tern wrote\"}]}\n");
  r = run(args, o);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  warnings.clear();
  for (const std::string& l : lines_of(r.err))
    if (l.find(file) != std::string::npos) warnings.push_back(l);
  ASSERT_EQ(warnings.size(), 1u) << r.err;
  EXPECT_NE(warnings[0].find("schema " + std::to_string(kTuningSchema + 1)), std::string::npos)
      << warnings[0];
  EXPECT_EQ(r.err.find("tuned"), std::string::npos) << r.err;
}

// ---- a JIT failure -------------------------------------------------------------------------

using test::ScopedEnv;

#if defined(__x86_64__)
// The `template` backend, stood in by Xbyak: it accepts what Xbyak accepts, and while
// g_fail_builds is set, every build fails as a JIT that runs out of code memory would.
// It stays registered for the rest of the test binary (the registry cannot remove a
// provider), so it builds correctly whenever the flag is off.
bool g_fail_builds = false;

class FlakyJitProvider : public KernelProvider {
 public:
  Backend backend() const override { return Backend::tmpl; }
  std::string unsupported_reason(const KernelDesc& d, const CpuInfo& cpu) const override {
    return xbyak_->unsupported_reason(as_xbyak(d), cpu);
  }
  Kernel build(const KernelDesc& d) const override {
    if (g_fail_builds) throw Error("JIT failure emitting " + to_name(d) + ": out of code memory (simulated)");
    Kernel k = xbyak_->build(as_xbyak(d));
    k.desc = d;
    return k;
  }

 private:
  static KernelDesc as_xbyak(KernelDesc d) {
    d.backend = Backend::xbyak;
    return d;
  }
  std::unique_ptr<KernelProvider> xbyak_ = jit::make_xbyak_provider();
};

std::vector<float> logits_of(const model::Model& m) {
  const std::vector<int32_t> tokens = {1008, 811, 362, 799, 5};
  model::Session s(m);
  std::vector<float> out(tokens.size() * m.hparams().n_vocab);
  s.eval(tokens.data(), tokens.size(), out.data(), true);
  return out;
}

TEST(BadInput, AJitFailureFallsBackToTheDefaultsAndSaysSo) {
  kernel_registry().add(jit::make_xbyak_provider());
  kernel_registry().add(std::make_unique<FlakyJitProvider>());
  if (!host_cpu().supports(Isa::avx2))
    GTEST_SKIP() << "no AVX2 (or TERN_MAX_ISA below it): no JIT kernels here";
  ASSERT_NE(dynamic_cast<const FlakyJitProvider*>(kernel_registry().provider(Backend::tmpl)), nullptr)
      << "another test registered the template backend first";

  // A user cache whose records name `template` kernels for every shape of the tiny model.
  TempDir dir;
  const std::string cache_dir = dir.file("cache");
  Isa isa = Isa::avx2;
  for (Isa i : {Isa::avx512vnni, Isa::avxvnni})
    if (host_cpu().supports(i)) {
      isa = i;
      break;
    }
  std::vector<TuningRecord> records;
  for (auto [k, n] :
       std::vector<std::pair<uint32_t, uint32_t>>{{256, 256}, {256, 128}, {256, 768}, {768, 256}}) {
    TuningRecord r;
    r.tern_version = TERN_VERSION;
    r.cpu = host_cpu();
    r.problem = KernelProblem::make(n, k, 1, 1);
    r.config = default_kernel(Op::gemv, n, k, 1, isa);
    r.config.backend = Backend::tmpl;
    r.metrics = {1000, 1, 1, 10, 1, true};
    records.push_back(r);
  }
  write_tuning_records(tuning_file(cache_dir, host_cpu()), records);
  ScopedEnv cache_env("TERN_CACHE_DIR", cache_dir.c_str());
  ScopedEnv results_env("TERN_RESULTS_DIR", "");

  // The failing load comes first: the registry caches what it built, and a cached kernel is
  // never built again.
  g_fail_builds = true;
  std::optional<model::Model> m;
  try {
    m.emplace(model::Model::load(kTiny));
  } catch (const Error& e) {
    g_fail_builds = false;
    FAIL() << "a JIT failure failed the load instead of falling back: " << e.what();
  }
  g_fail_builds = false;
  EXPECT_EQ(m->kernels().rfind("kernels: 14 x defaults", 0), 0u) << m->kernels();
  // One note per failing kernel pair (four shapes), each naming the kernel and the fallback.
  std::vector<std::string> notes;
  for (const std::string& n : m->notes())
    if (n.find("kernel build failed") != std::string::npos) notes.push_back(n);
  ASSERT_EQ(notes.size(), 4u) << testing::PrintToString(m->notes());
  for (const std::string& n : notes) {
    EXPECT_NE(n.find("JIT failure emitting tern_gemv_"), std::string::npos) << n;
    EXPECT_NE(n.find("_template"), std::string::npos) << n;
    EXPECT_NE(n.find("projections fall back to defaults"), std::string::npos) << n;
    EXPECT_EQ(n.find('\n'), std::string::npos) << n;
  }

  const model::Model tuned = model::Model::load(kTiny);
  EXPECT_EQ(tuned.kernels().rfind("kernels: 14 x tuned", 0), 0u)
      << "the records are not used, so this test proves nothing";
  EXPECT_EQ(logits_of(*m), logits_of(tuned));  // every kernel is exact: the fallback changes no logit
}

// The registry's own contract for a failing build (runtime/dispatch): get() throws one
// tern::Error naming the kernel and the failure, and caches nothing, so a later get()
// tries again. It does not try another provider itself: the model loader does that
// (AJitFailureFallsBackToTheDefaultsAndSaysSo).
TEST(BadInput, TheRegistryReportsABuildFailureByName) {
  if (!host_cpu().supports(Isa::avx2)) GTEST_SKIP() << "no AVX2: no JIT kernels here";
  KernelRegistry registry;
  registry.add(std::make_unique<FlakyJitProvider>());
  KernelDesc d = default_kernel(Op::gemv, 128, 256, 1, Isa::avx2);
  d.backend = Backend::tmpl;
  EXPECT_TRUE(registry.unsupported_reason(d).empty());
  g_fail_builds = true;
  try {
    registry.get(d);
    ADD_FAILURE() << "the failing build returned a kernel";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("JIT failure emitting " + to_name(d)), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
  g_fail_builds = false;
  EXPECT_NE(registry.get(d).fn, nullptr);  // the failure was not cached
}
#endif

}  // namespace
}  // namespace tern
