// overlay driver setup: the registry probe, options, and init-time checks.
#include <sys/utsname.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <string_view>

#include "core/strings.h"
#include "drivers/overlay/layout.h"
#include "drivers/overlay/overlay_driver.h"
#include "drivers/fs_tree.h"

namespace strata::drivers::overlay {
namespace {

constexpr std::string_view kKnownOptions = "mount-options";

// Options strata sets itself on every mount; letting config override them would break the
// layout (paths) or native diff (redirect_dir, metacopy).
constexpr std::array<std::string_view, 10> kManagedOptions = {
    "lowerdir", "lowerdir+",    "upperdir", "workdir", "datadir+",
    "index",    "redirect_dir", "metacopy", "source",  "userxattr"};

// The deepest existing ancestor of `path` (itself if it exists): where its files would live.
std::string ExistingAncestor(std::string path) {
  while (::access(path.c_str(), F_OK) != 0) {
    const size_t slash = path.find_last_of('/');
    if (slash == std::string::npos || slash == 0) return "/";
    path.resize(slash);
  }
  return path;
}

Status CheckMountOption(const nlohmann::json& value, size_t index) {
  const std::string where = "driver-opts.overlay.mount-options[" + std::to_string(index) + "]";
  if (!value.is_string()) return Error(EINVAL, where + ": expected a string");
  const std::string option = value.get<std::string>();
  if (option.empty() || option.find(',') != std::string::npos) {
    return Error(EINVAL, where + ": \"" + option + "\": expected one option, non-empty, no ','");
  }
  const std::string key = option.substr(0, option.find('='));
  for (std::string_view managed : kManagedOptions) {
    if (key == managed) {
      return Error(EINVAL,
                   where + ": \"" + option + "\" is set by strata and cannot be overridden");
    }
  }
  return Ok();
}

// Docker's wording, so the usual search finds the usual fix.
Error NoDTypeError(const std::string& backing_fs) {
  return Error(EOPNOTSUPP,
               "overlay: the backing " + backing_fs +
                   " filesystem is formatted without d_type support, which leads to incorrect "
                   "behavior. Reformat the filesystem with ftype=1 to enable d_type support. "
                   "Running without d_type is not supported.");
}

constexpr std::chrono::seconds kLeftoverMinAge{3600};

}  // namespace

Result<std::vector<std::string>> ParseOverlayOptions(const nlohmann::json& options) {
  std::vector<std::string> extra;
  if (options.is_null()) return extra;
  if (!options.is_object()) return Error(EINVAL, "driver-opts.overlay: expected an object");
  for (const auto& [key, value] : options.items()) {
    if (key != kKnownOptions) {
      return Error(EINVAL, "driver-opts.overlay." + key +
                               ": unknown option (known: " + std::string(kKnownOptions) + ")" +
                               strata::DidYouMean(key, {kKnownOptions}));
    }
    if (!value.is_array()) {
      return Error(EINVAL, "driver-opts.overlay.mount-options: expected an array of strings");
    }
    for (size_t i = 0; i < value.size(); ++i) {
      STRATA_TRY(CheckMountOption(value[i], i));
      extra.push_back(value[i].get<std::string>());
    }
  }
  return extra;
}

Status CheckOverlayOptions(const nlohmann::json& options) {
  auto parsed = ParseOverlayOptions(options);
  return parsed.ok() ? Ok() : Status(std::move(parsed).error());
}

Status ProbeOverlay(const DriverEnv& env) {
  auto filesystems = fs::ReadFile("/proc/filesystems");
  if (!filesystems.ok()) return std::move(filesystems).error().Wrap("overlay probe");
  if (!ListsOverlay(*filesystems)) {
    return Error(EOPNOTSUPP, "overlay: not in /proc/filesystems (module not loaded?)");
  }
  struct utsname uts {};
  if (::uname(&uts) != 0) return Error::FromErrno("overlay probe: uname");
  STRATA_ASSIGN_OR_RETURN_CTX(KernelVersion kernel, ParseKernelRelease(uts.release),
                              "overlay probe");
  if (!kernel.AtLeast(4, 8)) {
    return Error(EOPNOTSUPP, std::string("overlay: kernel ") + uts.release +
                                 " is older than 4.8 (copy-up marks directories opaque, so "
                                 "native diff would be wrong)");
  }
  const std::string where = ExistingAncestor(env.root + "/overlay");
  STRATA_ASSIGN_OR_RETURN_CTX(int64_t magic, FsMagic(where), "overlay probe");
  if (magic == kOverlayFsMagic) {
    return Error(EOPNOTSUPP, "overlay: " + where +
                                 " is on overlayfs, which cannot hold an overlay upper directory");
  }
  return Ok();
}

Result<std::unique_ptr<Driver>> NewOverlayDriver(const DriverEnv& env,
                                                 const nlohmann::json& options) {
  STRATA_ASSIGN_OR_RETURN(std::vector<std::string> extra, ParseOverlayOptions(options));
  if (env.mounts == nullptr) return Error(EINVAL, "overlay init: no mount seam");
  const std::string home = env.root + "/overlay";
  STRATA_TRY_CTX(fs::MakeDir(env.root, 0700), "overlay init");
  const bool fresh = !fs::IsNonEmptyDir(home);
  STRATA_TRY_CTX(fs::MakeDir(home, 0700), "overlay init");
  STRATA_ASSIGN_OR_RETURN_CTX(int64_t magic, FsMagic(home), "overlay init");
  STRATA_ASSIGN_OR_RETURN_CTX(bool d_type, SupportsDType(home), "overlay init");
  if (!d_type) {
    // Leave no empty home behind: auto-detection reads a non-empty home as existing state.
    if (fresh) (void)::rmdir(home.c_str());  // best effort
    return NoDTypeError(FsName(magic));
  }
  STRATA_TRY_CTX(fs::MakeDir(home + "/l", 0700), "overlay init");
  STRATA_ASSIGN_OR_RETURN_CTX(OverlayFeatures features, DetectFeatures(kOverlayParamDir),
                              "overlay init");
  features.extra_options = std::move(extra);
  (void)fs::CollectLeftovers(home, kLeftoverMinAge);  // best effort: crash GC
  return MakeOverlayDriver(home, *env.mounts, std::move(features), FsName(magic));
}

}  // namespace strata::drivers::overlay
