// Flag values of mount(2), umount2(2), fsmount(2)/mount_setattr(2) and openat-style AT_* flags,
// so that callers of the seam need no kernel header. The one copy of these values in strata:
// core/sys/mounts.h and core/sys/child_syscalls.h use them, runtime/rootfs.h re-exports the
// kMs* ones for the rootfs plan. core/sys/linux_mounts.cc checks every value against the kernel
// headers at compile time.
#pragma once

#include <cstdint>

namespace strata::sys {

// mount(2) flags (MS_*).
inline constexpr unsigned long kMsRdonly = 0x1;
inline constexpr unsigned long kMsNosuid = 0x2;
inline constexpr unsigned long kMsNodev = 0x4;
inline constexpr unsigned long kMsNoexec = 0x8;
inline constexpr unsigned long kMsSynchronous = 0x10;
inline constexpr unsigned long kMsRemount = 0x20;
inline constexpr unsigned long kMsMandlock = 0x40;
inline constexpr unsigned long kMsDirsync = 0x80;
inline constexpr unsigned long kMsNoatime = 0x400;
inline constexpr unsigned long kMsNodiratime = 0x800;
inline constexpr unsigned long kMsBind = 0x1000;
inline constexpr unsigned long kMsMove = 0x2000;
inline constexpr unsigned long kMsRec = 0x4000;
inline constexpr unsigned long kMsUnbindable = 1ul << 17;
inline constexpr unsigned long kMsPrivate = 1ul << 18;
inline constexpr unsigned long kMsSlave = 1ul << 19;
inline constexpr unsigned long kMsShared = 1ul << 20;
inline constexpr unsigned long kMsRelatime = 1ul << 21;
inline constexpr unsigned long kMsStrictatime = 1ul << 24;

// fsmount(2) / mount_setattr(2) attributes (MOUNT_ATTR_*). The first four have the values of
// the matching kMs* flags.
inline constexpr uint64_t kMountAttrRdonly = 0x1;
inline constexpr uint64_t kMountAttrNosuid = 0x2;
inline constexpr uint64_t kMountAttrNodev = 0x4;
inline constexpr uint64_t kMountAttrNoexec = 0x8;
inline constexpr uint64_t kMountAttrNoatime = 0x10;
inline constexpr uint64_t kMountAttrStrictatime = 0x20;
inline constexpr uint64_t kMountAttrNodiratime = 0x80;
static_assert(kMountAttrRdonly == kMsRdonly && kMountAttrNosuid == kMsNosuid &&
              kMountAttrNodev == kMsNodev && kMountAttrNoexec == kMsNoexec);

inline constexpr int kMntDetach = 2;              // umount2(2) MNT_DETACH
inline constexpr unsigned kAtRecursive = 0x8000;  // mount_setattr(2) AT_RECURSIVE

}  // namespace strata::sys
