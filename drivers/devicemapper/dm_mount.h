// How the devicemapper driver mounts a thin device's filesystem: the config's mount-options
// split into filesystem parameters (fsconfig) and per-mount attributes (fsmount), so that
// "noatime" or "nodev" work as they do with mount(8) instead of reaching ext4 as unknown options.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/sys/mounts.h"
#include "thinpool/pool_config.h"

namespace strata::drivers::devicemapper {

struct MountSpec {
  std::string fs_type;                 // "ext4" or "xfs"
  std::vector<sys::FsParam> params;    // "source" first, then the filesystem's own options
  uint64_t attrs = 0;                  // MOUNT_ATTR_* for per-mount options and read-only
};

// The mount of `device` with the configured options. xfs always gets "nouuid": every layer is a
// snapshot of the base filesystem and so carries its uuid, which xfs refuses to mount twice.
// "ro"/"rw" are not accepted in mount-options (the driver decides); EINVAL naming the option.
Result<MountSpec> PlanMount(thinpool::Filesystem fs, const std::vector<std::string>& options,
                            const std::string& device, bool read_only);

// The mkfs command line for a fresh (all-zero) thin device: ext4 without discard and with
// storage assumed zeroed (a thin device reads zeroes where nothing was written, so the inode
// tables need no writing, now or later by ext4lazyinit, which would otherwise provision blocks
// in every snapshot); xfs without discard. `extra` (mkfs-options) goes last.
std::vector<std::string> MkfsCommand(thinpool::Filesystem fs, const std::vector<std::string>& extra,
                                     const std::string& device);

// The command that grows a mounted filesystem to its device's size: resize2fs DEVICE (online)
// for ext4, xfs_growfs MOUNTPOINT for xfs.
std::vector<std::string> GrowFsCommand(thinpool::Filesystem fs, const std::string& device,
                                       const std::string& mount_point);

}  // namespace strata::drivers::devicemapper
