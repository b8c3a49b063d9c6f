#include "drivers/aufs/mount_plan.h"

#include <cerrno>
#include <string_view>

namespace strata::drivers::aufs {

std::vector<std::string> AufsBranches(const std::string& top, BranchAccess access,
                                      const std::vector<std::string>& parents) {
  std::vector<std::string> branches;
  branches.reserve(parents.size() + 1);
  branches.push_back(top + (access == BranchAccess::kReadWrite ? "=rw" : "=ro"));
  for (const std::string& parent : parents) branches.push_back(parent + "=ro+wh");
  return branches;
}

std::string BranchSpec(const std::vector<std::string>& branches) {
  std::string spec;
  for (const std::string& branch : branches) {
    if (!spec.empty()) spec += ':';
    spec += branch;
  }
  return spec;
}

Result<KernelAufsPlan> PlanKernelAufsMount(const std::vector<std::string>& branches,
                                           size_t page_size_bytes) {
  if (branches.empty()) return Error(EINVAL, "aufs mount plan: no branches");
  const size_t max_bytes = page_size_bytes - 1;
  const std::string_view options = kKernelOptions;
  KernelAufsPlan plan;
  std::string br = "br:" + branches[0];
  if (br.size() + options.size() > max_bytes) {
    return Error(E2BIG, "aufs mount plan: branch \"" + branches[0] + "\" does not fit one page (" +
                            std::to_string(max_bytes) + " bytes)");
  }
  size_t next = 1;
  for (; next < branches.size(); ++next) {
    if (br.size() + 1 + branches[next].size() + options.size() > max_bytes) break;
    br += ":" + branches[next];
  }
  plan.data = br + std::string(options);
  for (; next < branches.size(); ++next) {
    std::string append = "append:" + branches[next];
    if (append.size() > max_bytes) {
      return Error(E2BIG, "aufs mount plan: branch \"" + branches[next] +
                              "\" does not fit one page (" + std::to_string(max_bytes) + " bytes)");
    }
    plan.remounts.push_back(std::move(append));
  }
  return plan;
}

std::string FindHelper(const std::vector<std::string>& configured, const std::string& self_exe,
                       const std::string& path_env, bool (*exists)(const std::string&)) {
  for (const std::string& path : configured) {
    if (!path.empty()) return exists(path) ? path : "";
  }
  const size_t slash = self_exe.rfind('/');
  if (slash != std::string::npos) {
    std::string beside = self_exe.substr(0, slash) + "/strata-aufs";
    if (exists(beside)) return beside;
  }
  size_t start = 0;
  while (start <= path_env.size()) {
    size_t end = path_env.find(':', start);
    if (end == std::string::npos) end = path_env.size();
    const std::string dir = path_env.substr(start, end - start);
    if (!dir.empty() && exists(dir + "/strata-aufs")) return dir + "/strata-aufs";
    start = end + 1;
  }
  return "";
}

}  // namespace strata::drivers::aufs
