// The Linux Files seam: FICLONE, SEEK_DATA/SEEK_HOLE, copy_file_range, FIFREEZE/FITHAW.
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "core/sys/files.h"
#include "core/unique_fd.h"

namespace strata::sys {
namespace {

// FIFREEZE/FITHAW want an fd of any file on the filesystem; the mount point's directory is one.
Status MountPointIoctl(const std::string& mount_point, unsigned long request, const char* name) {
  UniqueFd fd(::open(mount_point.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return Error::FromErrno(std::string("open ") + mount_point);
  if (::ioctl(fd.Get(), request, 0) < 0) {
    return Error::FromErrno(std::string(name) + " " + mount_point);
  }
  return Ok();
}

class LinuxFilesImpl final : public Files {
 public:
  Status Clone(int src_fd, int dst_fd) override {
    if (::ioctl(dst_fd, FICLONE, src_fd) < 0) return Error::FromErrno("FICLONE");
    return Ok();
  }

  Result<std::optional<uint64_t>> SeekData(int fd, uint64_t offset_bytes) override {
    off_t at = ::lseek(fd, static_cast<off_t>(offset_bytes), SEEK_DATA);
    if (at < 0) {
      if (errno == ENXIO) return std::optional<uint64_t>();
      return Error::FromErrno("lseek SEEK_DATA");
    }
    return std::optional<uint64_t>(static_cast<uint64_t>(at));
  }

  Result<uint64_t> SeekHole(int fd, uint64_t offset_bytes) override {
    off_t at = ::lseek(fd, static_cast<off_t>(offset_bytes), SEEK_HOLE);
    if (at < 0) return Error::FromErrno("lseek SEEK_HOLE");
    return static_cast<uint64_t>(at);
  }

  Result<uint64_t> CopyRange(int src_fd, int dst_fd, uint64_t offset_bytes,
                             uint64_t length_bytes) override {
    loff_t in = static_cast<loff_t>(offset_bytes);
    loff_t out = in;
    ssize_t n = ::copy_file_range(src_fd, &in, dst_fd, &out, length_bytes, 0);
    if (n < 0) return Error::FromErrno("copy_file_range");
    return static_cast<uint64_t>(n);
  }

  Status Freeze(const std::string& mount_point) override {
    return MountPointIoctl(mount_point, FIFREEZE, "FIFREEZE");
  }

  Status Thaw(const std::string& mount_point) override {
    return MountPointIoctl(mount_point, FITHAW, "FITHAW");
  }
};

}  // namespace

Files& LinuxFiles() {
  static LinuxFilesImpl* impl = new LinuxFilesImpl();  // never destroyed: process lifetime
  return *impl;
}

}  // namespace strata::sys
