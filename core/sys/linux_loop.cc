// The Linux Loop seam: /dev/loop-control and LOOP_* ioctls on /dev/loopN.
#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "core/sys/loop.h"

namespace strata::sys {
namespace {

Result<UniqueFd> OpenFile(const std::string& path, int flags) {
  UniqueFd fd(::open(path.c_str(), flags | O_CLOEXEC));
  if (!fd) return Error::FromErrno("open " + path);
  return fd;
}

Status DeviceIoctl(const LoopDevice& device, unsigned long request, unsigned long arg,
                   const char* name) {
  STRATA_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(device.path, O_RDONLY));
  if (::ioctl(fd.Get(), request, arg) < 0) {
    return Error::FromErrno(std::string(name) + " " + device.path);
  }
  return Ok();
}

// The sysfs backing_file text without its newline; "" when the device is unbound (the attribute
// does not exist then). An unlinked file reads "<path> (deleted)", which matches nothing.
std::string SysfsBackingFile(const std::string& block_name) {
  std::string path = "/sys/block/" + block_name + "/loop/backing_file";
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return "";
  char buf[4097];
  ssize_t n = ::read(fd.Get(), buf, sizeof(buf) - 1);
  if (n <= 0) return "";
  std::string text(buf, static_cast<size_t>(n));
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

// Indexes of /sys/block/loop<N>, sorted.
std::vector<int> LoopIndexes() {
  std::vector<int> indexes;
  DIR* dir = ::opendir("/sys/block");
  if (!dir) return indexes;
  while (const dirent* ent = ::readdir(dir)) {
    std::string name = ent->d_name;
    if (name.rfind("loop", 0) != 0 || name.size() == 4) continue;
    if (name.find_first_not_of("0123456789", 4) != std::string::npos) continue;
    indexes.push_back(std::stoi(name.substr(4)));
  }
  (void)::closedir(dir);  // best effort: read-only directory handle
  std::sort(indexes.begin(), indexes.end());
  return indexes;
}

bool SameFile(const std::string& sysfs_path, const struct stat& target, const std::string& name) {
  struct stat st {};
  if (::stat(sysfs_path.c_str(), &st) == 0) {
    return st.st_dev == target.st_dev && st.st_ino == target.st_ino;
  }
  return sysfs_path == name;  // not stat()able from here (other mount namespace, deleted)
}

class LinuxLoopImpl final : public Loop {
 public:
  Result<int> GetFree() override {
    STRATA_ASSIGN_OR_RETURN(UniqueFd ctl, OpenFile("/dev/loop-control", O_RDWR));
    int index = ::ioctl(ctl.Get(), LOOP_CTL_GET_FREE);
    if (index < 0) return Error::FromErrno("LOOP_CTL_GET_FREE");
    return index;
  }

  Result<UniqueFd> Configure(int index, const std::string& backing_file,
                             const LoopConfig& config) override {
    const bool read_only = config.access == LoopAccess::kReadOnly;
    const int mode = read_only ? O_RDONLY : O_RDWR;
    STRATA_ASSIGN_OR_RETURN(UniqueFd file, OpenFile(backing_file, mode));
    LoopDevice device = LoopDeviceFor(index);
    STRATA_ASSIGN_OR_RETURN(UniqueFd dev, OpenFile(device.path, mode));
    loop_config lc;
    std::memset(&lc, 0, sizeof(lc));
    lc.fd = static_cast<uint32_t>(file.Get());
    lc.block_size = config.block_size_bytes;
    if (read_only) lc.info.lo_flags |= LO_FLAGS_READ_ONLY;
    if (config.io == LoopIo::kDirect) lc.info.lo_flags |= LO_FLAGS_DIRECT_IO;
    if (config.autoclear == LoopAutoclear::kOnLastClose) lc.info.lo_flags |= LO_FLAGS_AUTOCLEAR;
    std::strncpy(reinterpret_cast<char*>(lc.info.lo_file_name), backing_file.c_str(),
                 LO_NAME_SIZE - 1);
    if (::ioctl(dev.Get(), LOOP_CONFIGURE, &lc) < 0) {
      return Error::FromErrno("LOOP_CONFIGURE " + device.path + " " + backing_file);
    }
    return dev;  // the kernel holds its own reference to the backing file; `file` may close
  }

  Status Detach(const LoopDevice& device) override {
    return DeviceIoctl(device, LOOP_CLR_FD, 0, "LOOP_CLR_FD");
  }

  Result<LoopDevice> FindByBackingFile(const std::string& backing_file) override {
    struct stat target {};
    if (::stat(backing_file.c_str(), &target) < 0) return Error::FromErrno("stat " + backing_file);
    for (int index : LoopIndexes()) {
      std::string bound = SysfsBackingFile("loop" + std::to_string(index));
      if (!bound.empty() && SameFile(bound, target, backing_file)) return LoopDeviceFor(index);
    }
    return Error(ENOENT, "no loop device backed by " + backing_file);
  }

  Status SetCapacity(const LoopDevice& device) override {
    return DeviceIoctl(device, LOOP_SET_CAPACITY, 0, "LOOP_SET_CAPACITY");
  }

  Result<uint64_t> SizeBytes(const LoopDevice& device) override {
    STRATA_ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(device.path, O_RDONLY));
    uint64_t size_bytes = 0;
    if (::ioctl(fd.Get(), BLKGETSIZE64, &size_bytes) < 0) {
      return Error::FromErrno("BLKGETSIZE64 " + device.path);
    }
    return size_bytes;
  }
};

}  // namespace

Loop& LinuxLoop() {
  static LinuxLoopImpl* impl = new LinuxLoopImpl();  // never destroyed: process lifetime
  return *impl;
}

}  // namespace strata::sys
