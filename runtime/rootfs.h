// The rootfs plan: which mounts, devices and links a container's root gets, as plain data
// (FIELD-GUIDE §5.3-5.5). Pure: no I/O. The spawner (runtime/spawn.cc) applies it in the
// container's mount namespace with one syscall or two per step.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/sys/mount_flags.h"
#include "runtime/spec.h"

namespace strata::runtime {

// mount(2) flag values, so the plan needs no kernel header: the core/sys ones (checked against
// <sys/mount.h> in core/sys/linux_mounts.cc), under the names the plan and the spec use.
using sys::kMsBind;
using sys::kMsDirsync;
using sys::kMsMandlock;
using sys::kMsNoatime;
using sys::kMsNodev;
using sys::kMsNodiratime;
using sys::kMsNoexec;
using sys::kMsNosuid;
using sys::kMsPrivate;
using sys::kMsRdonly;
using sys::kMsRec;
using sys::kMsRelatime;
using sys::kMsShared;
using sys::kMsSlave;
using sys::kMsStrictatime;
using sys::kMsSynchronous;
using sys::kMsUnbindable;

// The vfs flags kSetFlags can set (the kMountAttr* bits of mount_setattr have the same values).
inline constexpr unsigned long kMsVfsFlags = kMsRdonly | kMsNosuid | kMsNodev | kMsNoexec;

struct RootfsStep {
  enum class Kind {
    // mount(source, target, fstype, flags, data). The target is created first (see `create`).
    kMount,
    // Make the mount at `target` read-only, keeping its other flags; recursive when flags has
    // kMsRec. With `bind_first`, target is first bound onto itself (read-only paths).
    kReadonly,
    // mknod(target, S_IFCHR | mode, major:minor); on EPERM (user namespace) an empty file with the
    // host's `source` bound onto it.
    kDevice,
    // symlink(source, target): target is the link, source its content.
    kSymlink,
    // Hide target: a directory gets a read-only empty tmpfs, anything else a bind of /dev/null;
    // a missing target is skipped.
    kMask,
    // Set the vfs flags in `flags & kMsVfsFlags` on the mount at `target`, keeping the others;
    // recursive when flags has kMsRec (a bind's ro, nosuid, nodev, noexec: FIELD-GUIDE §5.7).
    kSetFlags,
  };
  // How the apply step creates a kMount target that does not exist yet.
  enum class Create { kNone, kDir, kLikeSource };

  Kind kind = Kind::kMount;
  std::string source;  // host path (bind, device fallback) or fs source name; link content
  std::string target;  // absolute; inside the rootfs (before pivot) or the new root (after)
  std::string fstype;
  unsigned long flags = 0;
  std::string data;
  Create create = Create::kNone;
  bool bind_first = false;  // kReadonly
  bool optional = false;    // a missing target (ENOENT) is not an error
  uint32_t major = 0, minor = 0, mode = 0;  // kDevice

  bool operator==(const RootfsStep&) const = default;
};

// Where /sys/fs/cgroup comes from inside the container.
enum class CgroupMountMode {
  kAuto,      // cgroup2 with a cgroup namespace, else a read-only rbind of the host's
  kCgroup2,   // a read-only cgroup2 mount (the container's cgroup namespace root)
  kBindHost,  // a read-only rbind of the host's /sys/fs/cgroup
  kNone,
};

struct RootfsPlan {
  // Before pivot_root, cwd = the rootfs: targets are resolved inside it, sources on the host.
  std::vector<RootfsStep> in_root;
  // After pivot_root: masked and read-only paths, then the read-only root remount.
  std::vector<RootfsStep> after_pivot;
};

// The steps for `spec`: default mounts (/proc, /dev, /dev/pts, /dev/shm, /dev/mqueue, /sys,
// /sys/fs/cgroup), spec.mounts in order, devices, /dev links; then spec.readonly_paths,
// spec.masked_paths and, with spec.readonly_rootfs, "/" read-only. A kFilesystem spec mount at a
// default's destination takes that default's place (at /sys and /sys/fs/cgroup the default is
// kept: it knows about network and cgroup namespaces). Without a mount namespace there is
// nothing to do: the plan is empty.
RootfsPlan PlanRootfs(const ContainerSpec& spec, CgroupMountMode cgroup = CgroupMountMode::kAuto);

// The step as an error names it: `mount /proc`, `mount /data (bind /srv/data)`, `mknod /dev/null`,
// `symlink /dev/fd`, `mask /proc/kcore`, `readonly /proc/sys`.
std::string DescribeStep(const RootfsStep& step);

}  // namespace strata::runtime
