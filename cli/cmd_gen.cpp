// tern gen: an ahead-of-time kernel library for a target (codegen/llvm/aot.h).
#include <algorithm>
#include <cstdio>
#include <iostream>

#include "cli_common.h"
#include "runtime/core/error.h"
#include "runtime/dispatch/kernel_choice.h"
#include "runtime/dispatch/tuning_cache.h"
#include "tuner/tune.h"
#if TERN_WITH_LLVM
#include "codegen/llvm/aot.h"
#include "codegen/llvm/kernel_ir.h"
#include "jit/llvm/llvm_backend.h"
#endif

namespace tern::cli {

int cmd_gen(const std::vector<std::string>& args) {
  po::options_description desc("options");
  std::string target, cpu, shapes, model, from, isa_list, output;
  std::vector<std::string> kernels;
  // clang-format off
  desc.add_options()
      ("target", po::value(&target)->default_value("aarch64-linux-gnu"),
       "target triple: aarch64-linux-gnu, x86_64-linux-gnu, ...")
      ("cpu", po::value(&cpu)->default_value(""),
       "target CPU as LLVM names it (neoverse-n1, cortex-a76, apple-m1, x86-64-v3, znver4, ...); "
       "empty: generic")
      ("shapes", po::value(&shapes), "KxN list (K inputs, N outputs): the default kernels of each shape")
      ("model,m", po::value(&model), "GGUF model: the default kernels of every matmul shape it has")
      ("from", po::value(&from), "a tuning cache (tern tune -o FILE): its winners, for the target's ISAs")
      ("kernel", po::value(&kernels)->composing(),
       "one more kernel by its canonical name with its shape (..._N<n>K<k>M<m>), e.g. a lut or a "
       "tuned config; repeatable")
      ("isa", po::value(&isa_list), "only these ISAs, e.g. neondot,neon (default: every ISA the CPU has)")
      ("output,o", po::value(&output), "directory for tern_kernels.{o,h,json} and libtern_kernels.a")
      ("asm", "also write tern_kernels.s");
  // clang-format on
  po::variables_map vm;
  if (!parse_options("gen", args, desc, vm, "--target TRIPLE [--cpu CPU] (--shapes KxN,... | -m FILE | --from FILE | --kernel NAME)... -o DIR",
                     "  tern gen --target aarch64-linux-gnu --cpu neoverse-n1 -m model.gguf -o kernels-n1\n"
                     "  tern gen --target aarch64-linux-gnu --cpu cortex-a53 --shapes 2560x2560,2560x6912 -o k53\n"
                     "  tern gen --target x86_64-linux-gnu --cpu znver4 --from results/x86_64-...json -o kz4\n"
                     "  tern gen --cpu neoverse-n2 --kernel tern_gemv_t2_i8f32_mad_n8k256u4__i8mm_aot_N2560K2560M1 -o k\n"
                     "then build the runtime with it: cmake -DTERN_AOT_DIR=kernels-n1 ... (README: ARM build)\n"))
    return 0;
  if (output.empty()) throw UsageError("give the output directory (-o DIR)");
  if (shapes.empty() && model.empty() && from.empty() && kernels.empty())
    throw UsageError("give the kernels to generate: --shapes KxN,..., -m FILE.gguf, --from CACHE.json or --kernel NAME");
#if !TERN_WITH_LLVM
  std::cerr << "tern gen: error: this build has no LLVM (configure with -DTERN_WITH_LLVM=ON on an x86-64 host)\n";
  return 2;
#else
  const codegen::AotTarget tgt{target, cpu};
  std::vector<Isa> isas = codegen::target_isas(tgt);
  if (vm.count("isa")) {
    std::vector<Isa> chosen;
    size_t i = 0;
    while (i <= isa_list.size()) {
      size_t j = std::min(isa_list.find(',', i), isa_list.size());
      const std::string item = isa_list.substr(i, j - i);
      bool found = false;
      for (Isa v : isas)
        if (to_string(v) == item) chosen.push_back(v), found = true;
      if (!found) throw UsageError("--isa " + item + ": not an ISA of " + target + " cpu '" + cpu + "'");
      i = j + 1;
    }
    isas = chosen;
  }

  const std::vector<tuner::Shape> shape_list = shapes_from_options(shapes, model);
  std::vector<KernelDesc> descs;
  // The runtime's compiled-in defaults (choose_kernels) with backend aot: gemv and the gemm of its layout.
  for (const tuner::Shape& s : shape_list)
    for (Isa isa : isas)
      for (Op op : {Op::gemv, Op::gemm}) {
        KernelDesc d = default_kernel(op, s.n, s.k, op == Op::gemv ? 1 : 8, isa, Backend::aot);
        if (std::string why = codegen::ir_unsupported_reason(d); !why.empty())
          throw Error("tern gen: " + to_name(d) + ": " + why);
        descs.push_back(d);
      }
  if (!from.empty()) {
    std::vector<std::string> warnings;
    std::vector<TuningRecord> records = load_tuning_records(from, &warnings);
    for (const std::string& w : warnings) std::cerr << "tern gen: warning: " << w << "\n";
    if (records.empty()) throw Error(from + ": no tuning records to generate from");
    size_t used = 0;
    for (const TuningRecord& r : records) {
      std::vector<KernelDesc> configs = {r.config};
      if (r.paired) configs.push_back(r.paired->config);
      for (KernelDesc d : configs) {
        d.backend = Backend::aot;
        if (std::find(isas.begin(), isas.end(), d.isa) == isas.end()) continue;
        if (!codegen::ir_unsupported_reason(d).empty()) continue;  // e.g. lut winners: no LLVM lut yet
        descs.push_back(d);
        ++used;
      }
    }
    std::printf("%zu of the %zu records of %s fit %s\n", used, records.size(), from.c_str(), target.c_str());
  }
  for (const std::string& name : kernels) {
    KernelDesc d;
    try {
      d = parse_name(name);
    } catch (const Error& e) {
      throw UsageError(std::string("--kernel: ") + e.what());
    }
    if (d.n == 0 || d.k == 0) throw UsageError("--kernel " + name + ": give its shape (_N<n>K<k>M<m>)");
    d.backend = Backend::aot;
    if (std::find(isas.begin(), isas.end(), d.isa) == isas.end())
      throw UsageError("--kernel " + name + ": " + std::string(to_string(d.isa)) + " is not an ISA of " + target +
                       " cpu '" + cpu + "'");
    if (std::string why = codegen::ir_unsupported_reason(d); !why.empty())
      throw Error("tern gen: --kernel " + name + ": " + why);
    descs.push_back(d);
  }
  codegen::AotResult r = codegen::generate_library(descs, tgt, output, vm.count("asm") > 0);
  std::printf("generated %zu kernels for %s (cpu %s, ISAs", r.kernels.size(), target.c_str(),
              cpu.empty() ? "generic" : cpu.c_str());
  for (Isa i : isas) std::printf(" %s", std::string(to_string(i)).c_str());
  std::printf(") with LLVM %s in %.2f s:\n", jit::llvm_version().c_str(), r.compile_s);
  for (const std::string& f : r.files) std::printf("  %s\n", f.c_str());
  std::printf("build the runtime with it: cmake -DTERN_AOT_DIR=%s ...\n", output.c_str());
  return 0;
#endif
}

}  // namespace tern::cli
