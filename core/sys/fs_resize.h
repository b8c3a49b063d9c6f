// Growing a mounted ext4 filesystem with the kernel's online-resize ioctl instead of running
// resize2fs: resize2fs makes the same ioctl after reading the whole group descriptor table
// through libext2fs, and a process start alone costs ~100 ms under emulation. One syscall per
// call, no policy (the caller picks the block count).
#pragma once

#include <cstdint>
#include <string>

#include "core/result.h"

namespace strata::sys {

// statfs(2) f_bsize of the filesystem mounted at `mount_point`: its block size for ext4 and xfs.
Result<uint64_t> FsBlockBytes(const std::string& mount_point);

// EXT4_IOC_RESIZE_FS on the filesystem mounted at `mount_point` (opened O_RDONLY|O_DIRECTORY):
// grows it to `new_blocks` blocks of its block size; the same size is a no-op (Ok). Errors (the
// kernel's): ENOTTY when it is not ext4, EINVAL when shrinking or the device is too small,
// EPERM without CAP_SYS_RESOURCE, EOPNOTSUPP for layouts the kernel cannot grow online, EBUSY
// while another resize runs.
Status Ext4GrowFs(const std::string& mount_point, uint64_t new_blocks);

}  // namespace strata::sys
