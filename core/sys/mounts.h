// The mount seam: one thin call per kernel operation, no retries, no fallbacks, no policy.
// Policy (new API first, classic mount(2) on ENOSYS, relative paths when data is too long) lives
// in core/mount.h. Fakes live in tests/fakes/.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"

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

// Flag values for the calls below, so callers need no kernel header (those stay in
// core/sys/linux_*.cc, which checks these against them at compile time).
inline constexpr unsigned long kMsRdonly = 1;      // mount(2) MS_RDONLY
inline constexpr unsigned long kMsBind = 4096;     // mount(2) MS_BIND
inline constexpr unsigned long kMsRemount = 32;    // mount(2) MS_REMOUNT
inline constexpr unsigned long kMsRec = 16384;     // mount(2) MS_REC
inline constexpr unsigned long kMsPrivate = 1ul << 18;  // mount(2) MS_PRIVATE
inline constexpr uint64_t kMountAttrRdonly = 0x1;  // fsmount(2) MOUNT_ATTR_RDONLY
inline constexpr uint64_t kMountAttrNosuid = 0x2;       // MOUNT_ATTR_NOSUID
inline constexpr uint64_t kMountAttrNodev = 0x4;        // MOUNT_ATTR_NODEV
inline constexpr uint64_t kMountAttrNoexec = 0x8;       // MOUNT_ATTR_NOEXEC
inline constexpr uint64_t kMountAttrNoatime = 0x10;     // MOUNT_ATTR_NOATIME
inline constexpr uint64_t kMountAttrStrictatime = 0x20; // MOUNT_ATTR_STRICTATIME
inline constexpr uint64_t kMountAttrNodiratime = 0x80;  // MOUNT_ATTR_NODIRATIME
inline constexpr int kMntDetach = 2;               // umount2(2) MNT_DETACH

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
