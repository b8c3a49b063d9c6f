// The filesystem steps shared by the block-device backends (thin, loop): make a filesystem on a
// device, mount it privately at the volume's stage (<root>/volumes/mnt/<name>), grow it, and
// unmount it. Mount options follow drivers/devicemapper/dm_mount.h (PlanMount): per-mount ones
// ("noatime", "nodev") become mount attributes, the rest go to the filesystem; xfs always gets
// "nouuid" (snapshots carry their origin's uuid).
#pragma once
#include <string>
#include <vector>

#include "core/result.h"
#include "core/sys/mounts.h"
#include "volumes/volume.h"

namespace strata::volumes {

// mkfs (drivers::devicemapper::MkfsCommand: no discard, storage assumed zeroed for ext4) on
// `device`; EIO with mkfs's own message on failure, ENOENT with an install hint when missing.
Status MakeFilesystem(Filesystem fs, const std::vector<std::string>& mkfs_options,
                      const std::string& device);

// Mounts `device` at `stage_dir` (created 0700 if missing). Already mounted there: Ok.
Status MountStage(sys::Mounts& mounts, Filesystem fs,
                  const std::vector<std::string>& mount_options, const std::string& device,
                  const std::string& stage_dir);

// Whether something is mounted at `stage_dir`.
Result<bool> IsStageMounted(sys::Mounts& mounts, const std::string& stage_dir);

// Unmounts `stage_dir` and removes the empty directory. Not mounted: Ok. EBUSY when in use.
Status UnmountStage(sys::Mounts& mounts, const std::string& stage_dir);

// Grows the filesystem mounted at `stage_dir` (on `device`) to fill the device
// (resize2fs / xfs_growfs, online). EPERM, saying so, when ext4's online resize lacks
// CAP_SYS_RESOURCE.
Status GrowFilesystem(Filesystem fs, const std::string& device, const std::string& stage_dir);

// Grows the unmounted ext4 on `device` (a block device or an image file) to fill it:
// e2fsck -f -p, then resize2fs. Needs no capability beyond writing the device.
Status GrowExt4Offline(const std::string& device);

// Removes lost+found at the top of a freshly made filesystem mounted at `stage_dir` (volumes
// start empty, as consumers such as initdb expect). Absent: Ok.
Status RemoveLostFound(const std::string& stage_dir);

}  // namespace strata::volumes
