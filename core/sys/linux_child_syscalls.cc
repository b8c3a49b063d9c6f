// The Linux container-child syscalls: raw syscall(2) or glibc wrappers that are one syscall and
// touch no shared state (mount, umount2, mknod).
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <linux/sched.h>  // struct clone_args only: no <sched.h> here, its CLONE_* clash
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstddef>

#include "core/sys/child_syscalls.h"

#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

namespace strata::sys::child {
namespace {

// struct mount_attr: <linux/mount.h> would define it, but it clashes with <sys/mount.h> in
// glibc 2.36 (both define the MOUNT_ATTR_* and fsconfig names).
struct MountAttr {
  uint64_t attr_set = 0, attr_clr = 0, propagation = 0, userns_fd = 0;
};

}  // namespace

static_assert(kCloseRangeCloexec == CLOSE_RANGE_CLOEXEC);
static_assert(sizeof(CloneArgs) == CLONE_ARGS_SIZE_VER2 && sizeof(clone_args) >= sizeof(CloneArgs));
static_assert(offsetof(CloneArgs, exit_signal) == offsetof(clone_args, exit_signal));
static_assert(offsetof(CloneArgs, cgroup) == offsetof(clone_args, cgroup));
static_assert(_LINUX_CAPABILITY_U32S_3 == 2);  // Capset fills caps 0-31 and 32-63

int Mount(const char* source, const char* target, const char* fs_type, unsigned long flags,
          const char* data) {
  return ::mount(source, target, fs_type, flags, data);
}

int Umount2(const char* target, int flags) { return ::umount2(target, flags); }

int MountSetattr(const char* path, unsigned at_flags, uint64_t attr_set, uint64_t attr_clr,
                 uint64_t propagation) {
  MountAttr attr;
  attr.attr_set = attr_set;
  attr.attr_clr = attr_clr;
  attr.propagation = propagation;
  return static_cast<int>(
      ::syscall(SYS_mount_setattr, AT_FDCWD, path, at_flags, &attr, sizeof attr));
}

int PivotRoot(const char* new_root, const char* put_old) {
  return static_cast<int>(::syscall(SYS_pivot_root, new_root, put_old));
}

int Capset(uint64_t effective, uint64_t permitted, uint64_t inheritable) {
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};  // pid 0: this thread
  struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  data[0].effective = static_cast<uint32_t>(effective);
  data[1].effective = static_cast<uint32_t>(effective >> 32);
  data[0].permitted = static_cast<uint32_t>(permitted);
  data[1].permitted = static_cast<uint32_t>(permitted >> 32);
  data[0].inheritable = static_cast<uint32_t>(inheritable);
  data[1].inheritable = static_cast<uint32_t>(inheritable >> 32);
  return static_cast<int>(::syscall(SYS_capset, &header, data));
}

int MknodChar(const char* path, uint32_t mode, uint32_t major, uint32_t minor) {
  return ::mknod(path, S_IFCHR | mode, makedev(major, minor));
}

int Setresuid(uint32_t ruid, uint32_t euid, uint32_t suid) {
  return static_cast<int>(::syscall(SYS_setresuid, ruid, euid, suid));
}

int Setresgid(uint32_t rgid, uint32_t egid, uint32_t sgid) {
  return static_cast<int>(::syscall(SYS_setresgid, rgid, egid, sgid));
}

int Setgroups(size_t count, const uint32_t* groups) {
  return static_cast<int>(::syscall(SYS_setgroups, count, groups));
}

int SetRlimit(int resource, uint64_t soft, uint64_t hard) {
  uint64_t limit[2] = {soft, hard};  // struct rlimit64
  return static_cast<int>(::syscall(SYS_prlimit64, 0, resource, limit, nullptr));
}

long Clone3(CloneArgs& args) { return ::syscall(SYS_clone3, &args, sizeof args); }

int CloseRange(unsigned first, unsigned last, unsigned flags) {
  return static_cast<int>(::syscall(SYS_close_range, first, last, flags));
}

}  // namespace strata::sys::child
