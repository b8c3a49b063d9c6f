#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/statfs.h>

#include <cerrno>
#include <cstdint>

#include "core/sys/fs_resize.h"
#include "core/unique_fd.h"

namespace strata::sys {
namespace {

// fs/ext4/ext4.h; not in the uapi headers (linux/ext4.h does not exist).
constexpr unsigned long kExt4IocResizeFs = _IOW('f', 16, uint64_t);

}  // namespace

Result<uint64_t> FsBlockBytes(const std::string& mount_point) {
  struct statfs st {};
  if (::statfs(mount_point.c_str(), &st) != 0) return Error::FromErrno("statfs " + mount_point);
  return static_cast<uint64_t>(st.f_bsize);
}

Status Ext4GrowFs(const std::string& mount_point, uint64_t new_blocks) {
  UniqueFd fd(::open(mount_point.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return Error::FromErrno("open " + mount_point);
  uint64_t blocks = new_blocks;
  if (::ioctl(fd.Get(), kExt4IocResizeFs, &blocks) != 0) {
    return Error::FromErrno("EXT4_IOC_RESIZE_FS " + mount_point + " to " +
                            std::to_string(new_blocks) + " blocks");
  }
  return Ok();
}

}  // namespace strata::sys
