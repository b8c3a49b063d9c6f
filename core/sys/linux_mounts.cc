// The Linux Mounts seam: fsopen/fsconfig/fsmount/move_mount, mount(2), umount2(2), mountinfo.
// <sys/mount.h> (glibc 2.36) declares the new-API wrappers; <linux/mount.h> is deliberately not
// included because the two headers redefine the same enums and macros in glibc 2.36.
#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "core/sys/mountinfo.h"
#include "core/sys/mounts.h"
#include "core/unique_fd.h"

namespace strata::sys {

// core/sys/mount_flags.h mirrors these so callers need no kernel header.
static_assert(kMsRdonly == MS_RDONLY && kMsNosuid == MS_NOSUID && kMsNodev == MS_NODEV);
static_assert(kMsNoexec == MS_NOEXEC && kMsSynchronous == MS_SYNCHRONOUS);
static_assert(kMsRemount == MS_REMOUNT && kMsMandlock == MS_MANDLOCK && kMsDirsync == MS_DIRSYNC);
static_assert(kMsNoatime == MS_NOATIME && kMsNodiratime == MS_NODIRATIME && kMsBind == MS_BIND);
static_assert(kMsMove == MS_MOVE && kMsRec == MS_REC && kMsUnbindable == MS_UNBINDABLE);
static_assert(kMsPrivate == MS_PRIVATE && kMsSlave == MS_SLAVE && kMsShared == MS_SHARED);
static_assert(kMsRelatime == MS_RELATIME && kMsStrictatime == MS_STRICTATIME);
static_assert(kMountAttrRdonly == MOUNT_ATTR_RDONLY && kMountAttrNosuid == MOUNT_ATTR_NOSUID);
static_assert(kMountAttrNodev == MOUNT_ATTR_NODEV && kMountAttrNoexec == MOUNT_ATTR_NOEXEC);
static_assert(kMountAttrNoatime == MOUNT_ATTR_NOATIME);
static_assert(kMountAttrStrictatime == MOUNT_ATTR_STRICTATIME);
static_assert(kMountAttrNodiratime == MOUNT_ATTR_NODIRATIME);
static_assert(kMntDetach == MNT_DETACH && kAtRecursive == AT_RECURSIVE);

namespace {

// Drains the fs-context log of an fsopen fd: each read() returns one message "e|w|i <text>"
// until ENODATA. Returns "; kernel: msg1; msg2" or "" when there is nothing.
std::string ReadFsContextLog(int fs_fd) {
  std::string out;
  char buf[4096];
  for (int i = 0; i < 32; ++i) {  // bounded: the kernel keeps at most 8 messages
    ssize_t n = ::read(fs_fd, buf, sizeof(buf) - 1);
    if (n <= 0) break;
    std::string msg(buf, static_cast<size_t>(n));
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    out += out.empty() ? " (kernel: " : "; ";
    out += msg;
  }
  if (!out.empty()) out += ")";
  return out;
}

// An errno-carrying error from a new-API step, with the fs-context log appended.
Error NewApiError(int code, int fs_fd, const std::string& what) {
  Error e = Error::FromErrno(code, what);
  std::string log = ReadFsContextLog(fs_fd);
  if (log.empty()) return e;
  return Error(code, e.message() + log);
}

Status ConfigureParams(int fs_fd, const std::string& fs_type, const std::vector<FsParam>& params) {
  for (const FsParam& p : params) {
    int rc = p.kind == FsParam::Kind::kFlag
                 ? ::fsconfig(fs_fd, FSCONFIG_SET_FLAG, p.key.c_str(), nullptr, 0)
                 : ::fsconfig(fs_fd, FSCONFIG_SET_STRING, p.key.c_str(), p.value.c_str(), 0);
    if (rc < 0) {
      int err = errno;
      std::string what = "fsconfig " + fs_type + " " + p.key;
      if (p.kind == FsParam::Kind::kString) what += "=" + p.value;
      return NewApiError(err, fs_fd, what);
    }
  }
  return Ok();
}

Result<std::string> ReadWholeFile(const char* path) {
  UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC));
  if (!fd) return Error::FromErrno(std::string("open ") + path);
  std::string text;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd.Get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::FromErrno(std::string("read ") + path);
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  return text;
}

class LinuxMountsImpl final : public Mounts {
 public:
  Status MountNewApi(const std::string& fs_type, const std::vector<FsParam>& params,
                     uint64_t mount_attrs, const std::string& target) override {
    UniqueFd fs_fd(::fsopen(fs_type.c_str(), FSOPEN_CLOEXEC));
    if (!fs_fd) return Error::FromErrno("fsopen " + fs_type);  // ENOSYS: no new mount API
    STRATA_TRY(ConfigureParams(fs_fd.Get(), fs_type, params));
    if (::fsconfig(fs_fd.Get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) < 0) {
      return NewApiError(errno, fs_fd.Get(), "fsconfig " + fs_type + " create");
    }
    UniqueFd mnt_fd(::fsmount(fs_fd.Get(), FSMOUNT_CLOEXEC, static_cast<unsigned>(mount_attrs)));
    if (!mnt_fd) return NewApiError(errno, fs_fd.Get(), "fsmount " + fs_type);
    // Until move_mount succeeds the mount is detached; closing mnt_fd then discards it.
    if (::move_mount(mnt_fd.Get(), "", AT_FDCWD, target.c_str(), MOVE_MOUNT_F_EMPTY_PATH) < 0) {
      return Error::FromErrno("move_mount " + fs_type + " to " + target);
    }
    return Ok();
  }

  Status Mount(const std::string& source, const std::string& target, const std::string& fs_type,
               unsigned long flags, const std::string& data) override {
    if (::mount(source.c_str(), target.c_str(), fs_type.empty() ? nullptr : fs_type.c_str(), flags,
                data.empty() ? nullptr : data.c_str()) < 0) {
      return Error::FromErrno("mount " + (fs_type.empty() ? "" : fs_type + " ") + source + " on " +
                              target);
    }
    return Ok();
  }

  Status Unmount(const std::string& target, int flags) override {
    if (::umount2(target.c_str(), flags) < 0) return Error::FromErrno("umount " + target);
    return Ok();
  }

  Result<std::vector<MountEntry>> MountInfo() override {
    STRATA_ASSIGN_OR_RETURN(std::string text, ReadWholeFile("/proc/self/mountinfo"));
    return ParseMountInfo(text).Wrap("/proc/self/mountinfo");
  }
};

}  // namespace

Mounts& LinuxMounts() {
  static LinuxMountsImpl* impl = new LinuxMountsImpl();  // never destroyed: process lifetime
  return *impl;
}

}  // namespace strata::sys
