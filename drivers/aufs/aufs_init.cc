// aufs driver setup: the registry probe, options, and choosing kernel aufs or the FUSE helper.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <string_view>

#include "drivers/aufs/aufs_driver.h"
#include "drivers/aufs/mount_plan.h"
#include "drivers/fs_tree.h"

namespace strata::drivers::aufs {
namespace {

constexpr std::chrono::seconds kLeftoverMinAge{3600};

bool IsExecutableFile(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

std::string SelfExe() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

std::string Getenv(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

// True when a line of /proc/filesystems names `fs` ("nodev\taufs" or "\taufs").
bool ListsFilesystem(std::string_view text, std::string_view fs) {
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    const size_t tab = line.rfind('\t');
    if ((tab == std::string_view::npos ? line : line.substr(tab + 1)) == fs) return true;
    start = end + 1;
  }
  return false;
}

Result<AufsMounter> ChooseMounter() {
  auto filesystems = fs::ReadFile("/proc/filesystems");
  if (!filesystems.ok()) return std::move(filesystems).error().Wrap("aufs probe");
  AufsMounter mounter;
  if (ListsFilesystem(*filesystems, "aufs")) {
    mounter.kind = AufsMounter::Kind::kKernel;
    mounter.page_size_bytes = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    return mounter;
  }
  if (::access("/dev/fuse", F_OK) != 0) {
    return Error(EOPNOTSUPP, "aufs: no aufs in /proc/filesystems and no /dev/fuse for strata-aufs");
  }
  const std::string configured = Getenv(kHelperEnv);
  mounter.helper = FindHelper({configured}, SelfExe(), Getenv("PATH"), &IsExecutableFile);
  if (mounter.helper.empty()) {
    if (!configured.empty()) {
      return Error(EOPNOTSUPP, std::string("aufs: helper ") + configured + " (from " + kHelperEnv +
                                   ") is not an executable file");
    }
    return Error(EOPNOTSUPP,
                 "aufs: no aufs in /proc/filesystems and the strata-aufs helper is not next to " +
                     SelfExe() + " nor on PATH (or set " + kHelperEnv + ")");
  }
  return mounter;
}

}  // namespace

Status CheckAufsOptions(const nlohmann::json& options) {
  if (options.is_null()) return Ok();
  if (!options.is_object()) return Error(EINVAL, "driver-opts.aufs: expected an object");
  if (!options.empty()) {
    return Error(EINVAL, "driver-opts.aufs." + options.begin().key() +
                             ": unknown option (aufs has no options)");
  }
  return Ok();
}

Status ProbeAufs(const DriverEnv&) {
  auto mounter = ChooseMounter();
  return mounter.ok() ? Ok() : Status(std::move(mounter).error());
}

Result<std::unique_ptr<Driver>> NewAufsDriver(const DriverEnv& env, const nlohmann::json& options) {
  STRATA_TRY(CheckAufsOptions(options));
  if (env.mounts == nullptr) return Error(EINVAL, "aufs init: no mount seam");
  STRATA_ASSIGN_OR_RETURN(AufsMounter mounter, ChooseMounter());
  const std::string home = env.root + "/aufs";
  STRATA_TRY_CTX(fs::MakeDir(env.root, 0700), "aufs init");
  STRATA_TRY_CTX(fs::MakeDir(home, 0700), "aufs init");
  for (const char* dir : {"/diff", "/layers", "/mnt"}) {
    STRATA_TRY_CTX(fs::MakeDir(home + dir, 0700), "aufs init");
  }
  for (const char* dir : {"/diff", "/layers", "/mnt"}) {
    (void)fs::CollectLeftovers(home + dir, kLeftoverMinAge);  // best effort: crash GC
  }
  return MakeAufsDriver(home, *env.mounts, std::move(mounter));
}

}  // namespace strata::drivers::aufs
