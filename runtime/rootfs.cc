#include "runtime/rootfs.h"

#include <utility>

namespace strata::runtime {
namespace {

using Kind = RootfsStep::Kind;
using Create = RootfsStep::Create;

constexpr unsigned long kNoSuidDevExec = kMsNosuid | kMsNodev | kMsNoexec;

RootfsStep MountStep(std::string source, std::string target, std::string fstype,
                     unsigned long flags, std::string data, Create create = Create::kDir) {
  RootfsStep s;
  s.kind = Kind::kMount;
  s.source = std::move(source);
  s.target = std::move(target);
  s.fstype = std::move(fstype);
  s.flags = flags;
  s.data = std::move(data);
  s.create = create;
  return s;
}

RootfsStep ReadonlyStep(std::string target, bool recursive, bool bind_first, bool optional) {
  RootfsStep s;
  s.kind = Kind::kReadonly;
  s.target = std::move(target);
  s.flags = recursive ? kMsRec : 0;
  s.bind_first = bind_first;
  s.optional = optional;
  return s;
}

RootfsStep DeviceStep(const char* name, uint32_t major, uint32_t minor) {
  RootfsStep s;
  s.kind = Kind::kDevice;
  s.source = std::string("/dev/") + name;
  s.target = s.source;
  s.major = major;
  s.minor = minor;
  s.mode = 0666;
  return s;
}

RootfsStep LinkStep(std::string content, std::string link) {
  RootfsStep s;
  s.kind = Kind::kSymlink;
  s.source = std::move(content);
  s.target = std::move(link);
  return s;
}

// A read-only bind of a host tree: recursive (rbind + recursive read-only) or only its top.
void AddHostBind(std::vector<RootfsStep>& steps, const std::string& path, bool recursive) {
  steps.push_back(MountStep(path, path, "", kMsBind | (recursive ? kMsRec : 0), ""));
  steps.push_back(ReadonlyStep(path, recursive, /*bind_first=*/false, false));
}

// Destinations the default mounts own: a kFilesystem spec mount there replaces (or, for /sys
// and /sys/fs/cgroup, is absorbed by) the default.
constexpr const char* kDefaultDestinations[] = {"/proc",       "/dev", "/dev/pts", "/dev/shm",
                                                "/dev/mqueue", "/sys", "/sys/fs/cgroup"};

bool IsDefaultDestination(const Mount& m) {
  if (m.kind != Mount::Kind::kFilesystem) return false;
  for (const char* d : kDefaultDestinations) {
    if (m.destination == d) return true;
  }
  return false;
}

// The last kFilesystem spec mount at `destination`, or nullptr.
const Mount* Override(const ContainerSpec& spec, const std::string& destination) {
  const Mount* found = nullptr;
  for (const Mount& m : spec.mounts) {
    if (m.kind == Mount::Kind::kFilesystem && m.destination == destination) found = &m;
  }
  return found;
}

// A default mount, or the spec's kFilesystem mount at the same destination in its place.
void AddDefault(const ContainerSpec& spec, std::vector<RootfsStep>& steps, RootfsStep step) {
  if (const Mount* m = Override(spec, step.target); m != nullptr) {
    step = MountStep(m->source, m->destination, m->fstype, m->flags, m->options);
  }
  steps.push_back(std::move(step));
}

void AddDefaultMounts(const ContainerSpec& spec, CgroupMountMode cgroup,
                      std::vector<RootfsStep>& steps) {
  AddDefault(spec, steps, MountStep("proc", "/proc", "proc", kNoSuidDevExec, ""));
  AddDefault(spec, steps, MountStep("tmpfs", "/dev", "tmpfs", kMsNosuid | kMsStrictatime,
                                    "mode=755,size=65536k"));
  AddDefault(spec, steps, MountStep("devpts", "/dev/pts", "devpts", kMsNosuid | kMsNoexec,
                                    "newinstance,ptmxmode=0666,mode=0620,gid=5"));
  AddDefault(spec, steps,
             MountStep("shm", "/dev/shm", "tmpfs", kNoSuidDevExec, "mode=1777,size=65536k"));
  AddDefault(spec, steps, MountStep("mqueue", "/dev/mqueue", "mqueue", kNoSuidDevExec, ""));
  // sysfs shows the network devices of the mounter's net namespace: without one of its own the
  // container sees the host's /sys, read-only.
  if (spec.namespaces.net) {
    steps.push_back(MountStep("sysfs", "/sys", "sysfs", kNoSuidDevExec | kMsRdonly, ""));
  } else {
    // Only sysfs itself, not the host's mounts below it (debugfs, securityfs, the cgroup
    // mounts): on pure v2 a cgroup2 mount would then meet the host's own cgroup2 at
    // /sys/fs/cgroup and fail with EBUSY.
    AddHostBind(steps, "/sys", /*recursive=*/false);
  }
  if (cgroup == CgroupMountMode::kAuto) {
    cgroup = spec.namespaces.cgroup ? CgroupMountMode::kCgroup2 : CgroupMountMode::kBindHost;
  }
  if (cgroup == CgroupMountMode::kCgroup2) {
    steps.push_back(MountStep("cgroup", "/sys/fs/cgroup", "cgroup2",
                              kNoSuidDevExec | kMsRelatime | kMsRdonly, ""));
  } else if (cgroup == CgroupMountMode::kBindHost) {
    AddHostBind(steps, "/sys/fs/cgroup", /*recursive=*/true);
  }
}

// A bind: the bind, then its vfs flags (a bind never changes them by itself, §5.7).
void AddBind(const Mount& m, std::vector<RootfsStep>& steps) {
  const unsigned long rec = m.recursive ? kMsRec : 0;
  steps.push_back(MountStep(m.source, m.destination, "", kMsBind | rec, "", Create::kLikeSource));
  const unsigned long vfs = m.flags & (kMsNosuid | kMsNodev | kMsNoexec);
  if (vfs != 0) {
    RootfsStep s;
    s.kind = Kind::kSetFlags;
    s.target = m.destination;
    s.flags = vfs | (m.read_only ? kMsRdonly : 0) | rec;
    steps.push_back(std::move(s));
  } else if (m.read_only) {
    steps.push_back(ReadonlyStep(m.destination, m.recursive, false, false));
  }
}

void AddSpecMounts(const ContainerSpec& spec, std::vector<RootfsStep>& steps) {
  for (const Mount& m : spec.mounts) {
    if (IsDefaultDestination(m)) continue;  // placed by AddDefaultMounts
    if (m.kind == Mount::Kind::kTmpfs) {
      unsigned long flags = kMsNosuid | kMsNodev | (m.read_only ? kMsRdonly : 0);
      steps.push_back(MountStep("tmpfs", m.destination, "tmpfs", flags, m.options));
    } else if (m.kind == Mount::Kind::kFilesystem) {
      unsigned long flags = m.flags | (m.read_only ? kMsRdonly : 0);
      steps.push_back(MountStep(m.source, m.destination, m.fstype, flags, m.options));
    } else {
      AddBind(m, steps);
    }
    if (m.propagation != 0) {
      steps.push_back(MountStep("", m.destination, "", m.propagation, "", Create::kNone));
    }
  }
}

void AddDevices(std::vector<RootfsStep>& steps) {
  steps.push_back(DeviceStep("null", 1, 3));
  steps.push_back(DeviceStep("zero", 1, 5));
  steps.push_back(DeviceStep("full", 1, 7));
  steps.push_back(DeviceStep("random", 1, 8));
  steps.push_back(DeviceStep("urandom", 1, 9));
  steps.push_back(DeviceStep("tty", 5, 0));
  steps.push_back(LinkStep("/proc/self/fd", "/dev/fd"));
  steps.push_back(LinkStep("/proc/self/fd/0", "/dev/stdin"));
  steps.push_back(LinkStep("/proc/self/fd/1", "/dev/stdout"));
  steps.push_back(LinkStep("/proc/self/fd/2", "/dev/stderr"));
  steps.push_back(LinkStep("pts/ptmx", "/dev/ptmx"));
}

}  // namespace

RootfsPlan PlanRootfs(const ContainerSpec& spec, CgroupMountMode cgroup) {
  RootfsPlan plan;
  if (!spec.namespaces.mount) return plan;
  AddDefaultMounts(spec, cgroup, plan.in_root);
  AddSpecMounts(spec, plan.in_root);
  AddDevices(plan.in_root);
  // Read-only paths before masks (runc's order): a masked path under a read-only one still gets
  // its mask.
  for (const std::string& path : spec.readonly_paths) {
    plan.after_pivot.push_back(ReadonlyStep(path, /*recursive=*/true, /*bind_first=*/true,
                                            /*optional=*/true));
  }
  for (const std::string& path : spec.masked_paths) {
    RootfsStep s;
    s.kind = Kind::kMask;
    s.target = path;
    s.optional = true;
    plan.after_pivot.push_back(std::move(s));
  }
  if (spec.readonly_rootfs) {
    plan.after_pivot.push_back(ReadonlyStep("/", /*recursive=*/false, false, false));
  }
  // Shared or unbindable only works once the new root is in place (runc#4724).
  if (spec.rootfs_propagation & (kMsShared | kMsUnbindable)) {
    plan.after_pivot.push_back(MountStep("", "/", "", spec.rootfs_propagation, "", Create::kNone));
  }
  return plan;
}

std::string DescribeStep(const RootfsStep& step) {
  switch (step.kind) {
    case Kind::kMount:
      if (step.flags & kMsBind) return "mount " + step.target + " (bind " + step.source + ")";
      return "mount " + step.target;
    case Kind::kReadonly:
      return "readonly " + step.target;
    case Kind::kDevice:
      return "mknod " + step.target;
    case Kind::kSymlink:
      return "symlink " + step.target;
    case Kind::kMask:
      return "mask " + step.target;
    case Kind::kSetFlags:
      return "set mount flags " + step.target;
  }
  return "rootfs step " + step.target;
}

}  // namespace strata::runtime
