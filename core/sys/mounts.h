// The mount seam: one thin call per kernel operation, no retries, no fallbacks, no policy.
// Policy (new API first, classic mount(2) on ENOSYS, relative paths when data is too long) lives
// in core/mount.h. Fakes live in tests/fakes/.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"
#include "core/sys/mount_flags.h"  // the kMs*, kMountAttr*, kMnt* values for the calls below

namespace strata::sys {

// One fsconfig(2) call. kFlag: FSCONFIG_SET_FLAG (value unused); kString: FSCONFIG_SET_STRING.
struct FsParam {
  enum class Kind { kFlag, kString };
  Kind kind = Kind::kString;
  std::string key;
  std::string value;
};

struct MountEntry {  // one line of /proc/self/mountinfo
  int mount_id = 0;
  int parent_id = 0;
  std::string root;
  std::string mount_point;
  std::string fs_type;
  std::string source;
  std::string super_options;
};

class Mounts {
 public:
  virtual ~Mounts() = default;

  // The new mount API: fsopen(fs_type) + fsconfig(params..., CMD_CREATE) + fsmount(mount_attrs) +
  // move_mount(target). Errors: ENOSYS when the kernel lacks the API (fsopen), or the errno of the
  // failing step, with the kernel's fs-context log text appended to the message where it gave one.
  virtual Status MountNewApi(const std::string& fs_type, const std::vector<FsParam>& params,
                             uint64_t mount_attrs, const std::string& target) = 0;

  // Classic mount(2). `data` must fit in one page (the kernel copies one page).
  virtual Status Mount(const std::string& source, const std::string& target,
                       const std::string& fs_type, unsigned long flags,
                       const std::string& data) = 0;

  // umount2(2). flags: MNT_DETACH etc. EINVAL when target is not a mount point.
  virtual Status Unmount(const std::string& target, int flags) = 0;

  // The current process's mount table.
  virtual Result<std::vector<MountEntry>> MountInfo() = 0;
};

// Whether some entry of `table` (MountInfo()) is mounted at exactly `path`.
inline bool HasMountPoint(const std::vector<MountEntry>& table, const std::string& path) {
  for (const MountEntry& entry : table) {
    if (entry.mount_point == path) return true;
  }
  return false;
}

// The Linux implementation (core/sys/linux_mounts.cc). Lives for the whole process.
Mounts& LinuxMounts();

}  // namespace strata::sys
