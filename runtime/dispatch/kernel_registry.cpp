#include "runtime/dispatch/kernel_registry.h"

#include "runtime/core/error.h"

namespace tern {

void KernelRegistry::add(std::unique_ptr<KernelProvider> provider) {
  std::lock_guard lock(mu_);
  for (const auto& p : providers_)
    if (p->backend() == provider->backend()) return;  // registered already
  providers_.push_back(std::move(provider));
}

const KernelProvider* KernelRegistry::provider(Backend b) const {
  std::lock_guard lock(mu_);
  for (const auto& p : providers_)
    if (p->backend() == b) return p.get();
  return nullptr;
}

std::vector<Backend> KernelRegistry::backends() const {
  std::lock_guard lock(mu_);
  std::vector<Backend> out;
  for (const auto& p : providers_) out.push_back(p->backend());
  return out;
}

std::vector<KernelDesc> KernelRegistry::offered() const {
  std::lock_guard lock(mu_);
  std::vector<KernelDesc> out;
  for (const auto& p : providers_)
    for (const KernelDesc& d : p->offered()) out.push_back(d);
  return out;
}

std::string KernelRegistry::unsupported_reason(const KernelDesc& d, const CpuInfo& cpu) const {
  const KernelProvider* p = provider(d.backend);
  if (!p) return "no " + std::string(to_string(d.backend)) + " backend in this build";
  return p->unsupported_reason(d, cpu);
}

Kernel KernelRegistry::get(const KernelDesc& d) {
  {
    std::lock_guard lock(mu_);
    if (auto it = cache_.find(d); it != cache_.end()) return it->second;
  }
  const KernelProvider* p = provider(d.backend);
  if (!p) throw Error("kernel " + to_name(d) + ": no " + std::string(to_string(d.backend)) + " backend in this build");
  Kernel k = p->build(d);
  std::lock_guard lock(mu_);
  return cache_.emplace(d, std::move(k)).first->second;
}

KernelRegistry& kernel_registry() {
  static KernelRegistry registry;
  return registry;
}

}  // namespace tern
