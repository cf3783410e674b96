#include "jit/llvm/llvm_backend.h"

#include <llvm/ADT/StringRef.h>
#include <llvm/Config/llvm-config.h>
#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ObjectLinkingLayer.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
// LLVM 17 moved Host.h from Support/ to TargetParser/.
#if __has_include(<llvm/TargetParser/Host.h>)
#include <llvm/TargetParser/Host.h>
#else
#include <llvm/Support/Host.h>
#endif

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "codegen/llvm/kernel_ir.h"
#include "codegen/llvm/target.h"
#include "runtime/core/cpu_info.h"
#include "runtime/core/error.h"

namespace tern::jit {

std::string llvm_version() { return LLVM_VERSION_STRING; }

std::string llvm_host_cpu() { return llvm::sys::getHostCPUName().str(); }

std::string default_llvm_object_cache_dir() {
  if (const char* v = std::getenv("TERN_LLVM_CACHE"); v && *v) return std::string(v) == "off" ? "" : v;
  return default_cache_dir() + "/llvm";
}

namespace {

std::atomic<uint64_t> g_compiled{0}, g_compile_ns{0}, g_hits{0}, g_hit_ns{0};

std::string llvm_error(llvm::Error e) { return llvm::toString(std::move(e)); }

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// One LLJIT per provider; kept alive by every kernel it made. Objects are cached on
// disk under (kernel name, hash of LLVM version, target, CPU, features and the IR).
class LlvmJit {
 public:
  explicit LlvmJit(std::string cache_dir) : cache_dir_(std::move(cache_dir)) {
    codegen::initialize_llvm_targets();
    tm_ = codegen::make_host_target_machine();
    // JITLink (ObjectLinkingLayer) puts all of an object's sections in one allocation.
    // RuntimeDyld, LLJIT's default in LLVM 14, maps code and constants separately, and
    // with other JITs' code in between (the tuner keeps thousands of Xbyak buffers) the
    // two can end up more than 2 GB apart, out of reach of the small code model's
    // RIP-relative constant loads: a kernel then reads the wrong address.
    auto jit = llvm::orc::LLJITBuilder()
                   .setObjectLinkingLayerCreator(
                       [](llvm::orc::ExecutionSession& es,
                          const llvm::Triple&) -> llvm::Expected<std::unique_ptr<llvm::orc::ObjectLayer>> {
                         return std::make_unique<llvm::orc::ObjectLinkingLayer>(es);
                       })
                   .create();
    if (!jit) throw Error("LLVM ORC JIT: " + llvm_error(jit.takeError()));
    jit_ = std::move(*jit);
    // Kernels may call memset / memcpy (LLVM turns zeroing loops into them): resolve them in this process.
    auto libc = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
        jit_->getDataLayout().getGlobalPrefix());
    if (!libc) throw Error("LLVM ORC JIT: " + llvm_error(libc.takeError()));
    jit_->getMainJITDylib().addGenerator(std::move(*libc));
    // The cache key: what makes an object valid for this process.
    key_ = std::string(LLVM_VERSION_STRING) + "|" + tm_->getTargetTriple().str() + "|" + tm_->getTargetCPU().str() +
           "|" + tm_->getTargetFeatureString().str();
  }

  // Thread-safe; kernels compile in parallel (each with its own context, module and
  // target machine), and only loading into the JIT is serialised.
  KernelFn build(const KernelDesc& d) {
    const std::string name = to_name(d);
    const auto start = std::chrono::steady_clock::now();
    std::string object, path;
    bool hit = false;
    // The IR is built either way (about a millisecond): its text is part of the cache key,
    // so a tern whose IR builders changed never loads an object an older one compiled.
    llvm::LLVMContext context;
    auto module = std::make_unique<llvm::Module>(name, context);
    codegen::emit_kernel(*module, d, tm_->getTargetCPU().str());
    if (!cache_dir_.empty()) {
      std::string ir;
      llvm::raw_string_ostream ir_os(ir);
      module->print(ir_os, nullptr);
      ir_os.flush();
      std::ostringstream file;
      file << name << "-" << std::hex << fnv1a(key_ + "|" + ir) << ".o";
      path = cache_dir_ + "/" + file.str();
      hit = read_file(path, object);
    }
    if (!hit) {
      // A TargetMachine is not safe to share between threads compiling at once.
      std::unique_ptr<llvm::TargetMachine> tm = codegen::make_host_target_machine();
      codegen::optimize(*module, *tm);
      object = codegen::emit_object(*module, *tm);
      // TERN_JIT_DUMP=dir, as for the Xbyak kernels: the object and its assembly.
      if (const char* dump = std::getenv("TERN_JIT_DUMP"); dump && *dump) {
        std::ofstream(std::string(dump) + "/" + name + ".o", std::ios::binary) << object;
        std::ofstream(std::string(dump) + "/" + name + ".s") << codegen::emit_assembly(*module, *tm);
      }
      if (!path.empty()) write_file_atomically(path, object);
    }
    std::lock_guard lock(mu_);
    // Two threads that built the same kernel: the second must not define its symbol again.
    if (auto it = loaded_.find(name); it != loaded_.end()) return it->second;
    if (llvm::Error e = jit_->addObjectFile(llvm::MemoryBuffer::getMemBufferCopy(object, name)))
      throw Error("LLVM ORC JIT could not load " + name + ": " + llvm_error(std::move(e)));
    auto symbol = jit_->lookup(name);
    if (!symbol) throw Error("LLVM ORC JIT: no symbol " + name + ": " + llvm_error(symbol.takeError()));
#if LLVM_VERSION_MAJOR >= 15
    auto fn = reinterpret_cast<KernelFn>(symbol->getValue());
#else
    auto fn = reinterpret_cast<KernelFn>(symbol->getAddress());
#endif
    const uint64_t ns = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count());
    (hit ? g_hits : g_compiled) += 1;
    (hit ? g_hit_ns : g_compile_ns) += ns;
    loaded_.emplace(name, fn);
    return fn;
  }

 private:
  static bool read_file(const std::string& path, std::string& out) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return false;
    std::ostringstream ss;
    ss << f.rdbuf();
    out = ss.str();
    // An ELF object starts with \x7fELF; anything else (a truncated write) is recompiled.
    return out.size() > 64 && out.compare(0, 4, "\x7f" "ELF") == 0;
  }

  // Best effort: a cache that cannot be written only costs a recompile next time.
  static void write_file_atomically(const std::string& path, const std::string& bytes) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
    // Unique per process and thread: two threads may write the same kernel at once.
    const std::string tmp = path + ".tmp" +
                            std::to_string(std::hash<std::string>{}(path) ^ uint64_t(::getpid()) ^
                                           (std::hash<std::thread::id>{}(std::this_thread::get_id()) << 1));
    {
      std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
      if (!f) return;
      f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      if (!f.good()) {
        f.close();
        std::filesystem::remove(tmp, ec);
        return;
      }
    }
    std::filesystem::rename(tmp, path, ec);
    if (ec) std::filesystem::remove(tmp, ec);
  }

  std::mutex mu_;  // guards jit_ and loaded_
  std::string cache_dir_, key_;
  std::unique_ptr<llvm::TargetMachine> tm_;  // read only after construction: the cache key and CPU name
  std::unordered_map<std::string, KernelFn> loaded_;
  std::unique_ptr<llvm::orc::LLJIT> jit_;
};

class LlvmProvider : public KernelProvider {
 public:
  explicit LlvmProvider(std::string cache_dir) : cache_dir_(std::move(cache_dir)) {}

  Backend backend() const override { return Backend::llvm; }

  std::string unsupported_reason(const KernelDesc& d, const CpuInfo& cpu) const override {
    if (d.backend != Backend::llvm) return "not the llvm backend";
    if (std::string why = codegen::ir_unsupported_reason(d); !why.empty()) return why;
    if (!cpu.supports(d.isa)) return "this CPU (or TERN_MAX_ISA) does not allow " + std::string(to_string(d.isa));
    return {};
  }

  Kernel build(const KernelDesc& d) const override {
    if (std::string why = unsupported_reason(d, host_cpu()); !why.empty())
      throw Error("cannot build " + to_name(d) + ": " + why);
    std::shared_ptr<LlvmJit> jit = this->jit();
    return Kernel{d, jit->build(d), jit};
  }

 private:
  std::shared_ptr<LlvmJit> jit() const {
    std::lock_guard lock(mu_);
    if (!jit_) jit_ = std::make_shared<LlvmJit>(cache_dir_);
    return jit_;
  }

  std::string cache_dir_;
  mutable std::mutex mu_;
  mutable std::shared_ptr<LlvmJit> jit_;
};

}  // namespace

std::unique_ptr<KernelProvider> make_llvm_provider(const std::string& object_cache_dir) {
  return std::make_unique<LlvmProvider>(object_cache_dir);
}

LlvmStats llvm_stats() { return {g_compiled.load(), g_compile_ns.load(), g_hits.load(), g_hit_ns.load()}; }

}  // namespace tern::jit
