#include "codegen/llvm/target.h"

#include <llvm/ADT/StringMap.h>
#include <llvm/Config/llvm-config.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/MC/MCSubtargetInfo.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/CodeGen.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/Target/TargetOptions.h>
#if __has_include(<llvm/MC/TargetRegistry.h>)
#include <llvm/MC/TargetRegistry.h>
#else
#include <llvm/Support/TargetRegistry.h>
#endif
#if __has_include(<llvm/TargetParser/Host.h>)
#include <llvm/TargetParser/Host.h>
#else
#include <llvm/Support/Host.h>
#endif

#include <mutex>

#include "runtime/core/error.h"

namespace tern::codegen {

// Spellings that moved between the LLVM versions Debian ships (14 to 19).
#if LLVM_VERSION_MAJOR >= 18
using FileType = llvm::CodeGenFileType;
constexpr FileType kObjectFile = FileType::ObjectFile, kAssemblyFile = FileType::AssemblyFile;
constexpr auto kOptAggressive = llvm::CodeGenOptLevel::Aggressive;
#else
using FileType = llvm::CodeGenFileType;
constexpr FileType kObjectFile = llvm::CGFT_ObjectFile, kAssemblyFile = llvm::CGFT_AssemblyFile;
constexpr auto kOptAggressive = llvm::CodeGenOpt::Aggressive;
#endif
#if LLVM_VERSION_MAJOR >= 16
#define TERN_LLVM_NONE std::nullopt
#else
#define TERN_LLVM_NONE llvm::None
#endif

void initialize_llvm_targets() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeAllTargetInfos();
    llvm::InitializeAllTargets();
    llvm::InitializeAllTargetMCs();
    llvm::InitializeAllAsmPrinters();
  });
}

std::string host_triple() { return llvm::sys::getProcessTriple(); }

std::unique_ptr<llvm::TargetMachine> make_target_machine(const std::string& triple, const std::string& cpu,
                                                         const std::string& features) {
  initialize_llvm_targets();
  std::string err;
  const llvm::Target* target = llvm::TargetRegistry::lookupTarget(triple, err);
  if (!target) throw Error("LLVM has no target for triple '" + triple + "': " + err);
  llvm::TargetOptions options;
  // No fused multiply-add unless the IR asks: float results equal runtime/ref's.
  options.AllowFPOpFusion = llvm::FPOpFusion::Strict;
  std::unique_ptr<llvm::TargetMachine> tm(target->createTargetMachine(
      triple, cpu.empty() ? "generic" : cpu, features, options, llvm::Reloc::PIC_, TERN_LLVM_NONE, kOptAggressive));
  if (!tm) throw Error("LLVM could not make a target machine for " + triple + " cpu '" + cpu + "'");
  if (!cpu.empty() && cpu != "generic" && !tm->getMCSubtargetInfo()->isCPUStringValid(cpu))
    throw Error("LLVM does not know the CPU '" + cpu + "' for " + triple);
  return tm;
}

std::unique_ptr<llvm::TargetMachine> make_host_target_machine() {
  llvm::StringMap<bool> host_features;
  std::string features;
  if (llvm::sys::getHostCPUFeatures(host_features))
    for (const auto& f : host_features) {  // appended piece by piece: GCC 12's -Wrestrict misfires on "" + string
      if (!features.empty()) features += ',';
      features += f.second ? '+' : '-';
      features += f.first().str();
    }
  return make_target_machine(host_triple(), llvm::sys::getHostCPUName().str(), features);
}

bool cpu_has_feature(const llvm::TargetMachine& tm, const std::string& feature) {
  return tm.getMCSubtargetInfo()->checkFeatures("+" + feature);
}

void optimize(llvm::Module& m, llvm::TargetMachine& tm) {
  m.setTargetTriple(tm.getTargetTriple().str());
  m.setDataLayout(tm.createDataLayout());
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PassBuilder pb(&tm);
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  llvm::ModulePassManager mpm = pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3);
  mpm.run(m, mam);
}

namespace {

std::string emit(llvm::Module& m, llvm::TargetMachine& tm, FileType type) {
  m.setTargetTriple(tm.getTargetTriple().str());
  m.setDataLayout(tm.createDataLayout());
  llvm::SmallVector<char, 0> bytes;
  llvm::raw_svector_ostream out(bytes);
  llvm::legacy::PassManager pm;
  if (tm.addPassesToEmitFile(pm, out, nullptr, type))
    throw Error("LLVM cannot emit this file type for " + tm.getTargetTriple().str());
  pm.run(m);
  return std::string(bytes.begin(), bytes.end());
}

}  // namespace

std::string emit_object(llvm::Module& m, llvm::TargetMachine& tm) { return emit(m, tm, kObjectFile); }

std::string emit_assembly(llvm::Module& m, llvm::TargetMachine& tm) { return emit(m, tm, kAssemblyFile); }

}  // namespace tern::codegen
