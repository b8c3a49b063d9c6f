#include "drivers/devicemapper/dm_mount.h"

#include <cerrno>
#include <string_view>

namespace strata::drivers::devicemapper {
namespace {

struct AttrOption {
  std::string_view name;
  uint64_t attr;
};

// Per-mount options of mount(8) and their MOUNT_ATTR_ bits. "relatime" is the kernel's default
// (no bit); "atime" likewise.
constexpr AttrOption kAttrOptions[] = {
    {"nosuid", sys::kMountAttrNosuid},     {"nodev", sys::kMountAttrNodev},
    {"noexec", sys::kMountAttrNoexec},     {"noatime", sys::kMountAttrNoatime},
    {"strictatime", sys::kMountAttrStrictatime}, {"nodiratime", sys::kMountAttrNodiratime},
    {"relatime", 0},                       {"atime", 0},
    {"suid", 0},                           {"dev", 0},
    {"exec", 0},
};

}  // namespace

Result<MountSpec> PlanMount(thinpool::Filesystem fs, const std::vector<std::string>& options,
                            const std::string& device, bool read_only) {
  MountSpec spec;
  spec.fs_type = std::string(thinpool::FilesystemName(fs));
  spec.params.push_back({sys::FsParam::Kind::kString, "source", device});
  if (fs == thinpool::Filesystem::kXfs) spec.params.push_back({sys::FsParam::Kind::kFlag, "nouuid", ""});
  if (read_only) spec.attrs |= sys::kMountAttrRdonly;
  for (const std::string& option : options) {
    if (option == "ro" || option == "rw") {
      return Error(EINVAL, "driver-opts.devicemapper.mount-options: \"" + option +
                               "\" is decided by the driver (parent layers mount read-only)");
    }
    bool is_attr = false;
    for (const AttrOption& a : kAttrOptions) {
      if (option == a.name) {
        spec.attrs |= a.attr;
        is_attr = true;
      }
    }
    if (is_attr) continue;
    if (fs == thinpool::Filesystem::kXfs && option == "nouuid") continue;  // already there
    size_t eq = option.find('=');
    if (eq == std::string::npos) {
      spec.params.push_back({sys::FsParam::Kind::kFlag, option, ""});
    } else {
      spec.params.push_back({sys::FsParam::Kind::kString, option.substr(0, eq), option.substr(eq + 1)});
    }
  }
  return spec;
}

std::vector<std::string> MkfsCommand(thinpool::Filesystem fs, const std::vector<std::string>& extra,
                                     const std::string& device) {
  std::vector<std::string> argv;
  if (fs == thinpool::Filesystem::kXfs) {
    argv = {"mkfs.xfs", "-q", "-f", "-K"};
  } else {
    argv = {"mkfs.ext4", "-q", "-F", "-E", "nodiscard,assume_storage_prezeroed=1", "-m", "0"};
  }
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back(device);
  return argv;
}

std::vector<std::string> GrowFsCommand(thinpool::Filesystem fs, const std::string& device,
                                       const std::string& mount_point) {
  if (fs == thinpool::Filesystem::kXfs) return {"xfs_growfs", mount_point};
  return {"resize2fs", device};
}

}  // namespace strata::drivers::devicemapper
