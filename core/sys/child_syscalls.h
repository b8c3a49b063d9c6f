// The syscalls a container child makes between clone3 and execve (runtime/linux_child.cc), behind
// the seam so that the kernel headers stay in core/sys/linux_child_syscalls.cc.
//
// Contract: each function is exactly one kernel call, with no retries and no policy, and
// returns 0 (or the kernel's non-negative result) or -1 with errno set, like the syscall. They
// take C strings and integers, never allocate and never take a lock, so they are safe in a child
// cloned from a multi-threaded parent, where only async-signal-safe code may run: another thread
// may have held the malloc lock at the clone, and it never lets go in the child. That is why
// these return an errno, not Result<T>: an Error carries a std::string, which allocates. The
// credential calls are raw syscalls because glibc's setresuid/setresgid/setgroups wrappers
// signal every thread in the process's thread list to change its credentials too; in the child
// those threads do not exist (only their memory was copied), and the wrapper would wait for them.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/sys/mount_flags.h"  // kMs*, kMountAttr*, kMntDetach, kAtRecursive for the calls

namespace strata::sys::child {

inline constexpr unsigned kCloseRangeCloexec = 1u << 2;  // close_range(2) CLOSE_RANGE_CLOEXEC

// struct clone_args (<linux/sched.h>, CLONE_ARGS_SIZE_VER2), spelled out because that header's
// CLONE_* macros clash with <sched.h>; core/sys/linux_child_syscalls.cc checks the layout.
struct CloneArgs {
  uint64_t flags = 0;
  uint64_t pidfd = 0;
  uint64_t child_tid = 0;
  uint64_t parent_tid = 0;
  uint64_t exit_signal = 0;
  uint64_t stack = 0;
  uint64_t stack_size = 0;
  uint64_t tls = 0;
  uint64_t set_tid = 0;
  uint64_t set_tid_size = 0;
  uint64_t cgroup = 0;
};

// clone3(2). Returns twice, like fork: the child's pid in the parent, 0 in the child. Only for
// clones without CLONE_VM and with args.stack 0: the child returns through this function on its
// copy of the parent's stack.
long Clone3(CloneArgs& args);

// mount(2). Any pointer may be nullptr where the kernel allows it (a remount, a propagation
// change).
int Mount(const char* source, const char* target, const char* fs_type, unsigned long flags,
          const char* data);

// umount2(2). flags: kMntDetach. EINVAL when target is not a mount point.
int Umount2(const char* target, int flags);

// mount_setattr(2) on `path` relative to the cwd: sets the kMountAttr* bits in attr_set, clears
// those in attr_clr, and sets `propagation` (a kMs* propagation flag, 0: unchanged). at_flags:
// kAtRecursive for the whole subtree. ENOSYS before Linux 5.12.
int MountSetattr(const char* path, unsigned at_flags, uint64_t attr_set, uint64_t attr_clr,
                 uint64_t propagation);

// pivot_root(2). EINVAL among others when the current root is the initramfs (rootfs).
int PivotRoot(const char* new_root, const char* put_old);

// capset(2) of the calling thread, capability version 3: bit n of a mask is capability n.
int Capset(uint64_t effective, uint64_t permitted, uint64_t inheritable);

// mknod(2) of a character device `major`:`minor` with permission bits `mode` (less the umask).
int MknodChar(const char* path, uint32_t mode, uint32_t major, uint32_t minor);

// setresuid(2), setresgid(2), setgroups(2) of the calling thread only (raw syscalls, see above).
int Setresuid(uint32_t ruid, uint32_t euid, uint32_t suid);
int Setresgid(uint32_t rgid, uint32_t egid, uint32_t sgid);
int Setgroups(size_t count, const uint32_t* groups);

// prlimit64(2) of the calling process: sets `resource` (RLIMIT_*) to soft/hard.
int SetRlimit(int resource, uint64_t soft, uint64_t hard);

// close_range(2) of first..last. flags: kCloseRangeCloexec to mark them close-on-exec instead.
// ENOSYS before Linux 5.9 (CLOSE_RANGE_CLOEXEC: 5.11, EINVAL before).
int CloseRange(unsigned first, unsigned last, unsigned flags);

}  // namespace strata::sys::child
