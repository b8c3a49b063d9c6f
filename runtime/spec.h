// ContainerSpec: everything the runtime needs to start one container, as plain data. Built by
// `strata run` (from an image config and flags) or from an OCI bundle's config.json; consumed by
// the cgroup manager (runtime/cgroup.h) and the spawner (runtime/spawn.h). No I/O here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace strata::runtime {

struct IdMap {
  uint32_t container_id = 0;
  uint32_t host_id = 0;
  uint32_t size = 0;
};

struct Namespaces {
  bool pid = true;
  bool mount = true;  // always on for containers; false only in tests of the spawner
  bool uts = true;
  bool ipc = true;
  bool net = true;     // false: share the host's network (--network host)
  bool cgroup = true;  // unshared after the process is in its cgroup
  bool user = false;   // with uid_map / gid_map below
  std::vector<IdMap> uid_map;
  std::vector<IdMap> gid_map;
};

// One mount inside the container, done in order after the default mounts.
struct Mount {
  // kFilesystem: any filesystem (an OCI config.json mount). One whose destination is a default
  // mount's (/proc, /dev, /dev/pts, /dev/shm, /dev/mqueue) replaces that default in place; at
  // /sys (sysfs) or /sys/fs/cgroup (cgroup, cgroup2) the default is kept (runtime/rootfs.h).
  enum class Kind { kBind, kTmpfs, kFilesystem };
  Mount() = default;
  // The `strata run` shape: {kind, source, destination, read_only, options}.
  Mount(Kind k, std::string src, std::string dst, bool ro, std::string opts)
      : kind(k), source(std::move(src)), destination(std::move(dst)), read_only(ro),
        options(std::move(opts)) {}

  Kind kind = Kind::kBind;
  std::string source;       // host path (bind); the fs source name (kFilesystem); tmpfs: ignored
  std::string destination;  // absolute path inside the container
  bool read_only = false;
  std::string options;      // tmpfs / kFilesystem data ("size=64m,mode=1777"); empty: defaults
  std::string fstype;       // kFilesystem: "proc", "tmpfs", "devpts", "mqueue", ...
  // mount(2) flags (runtime/rootfs.h's kMs* values). kFilesystem: the mount's flags. kBind: vfs
  // flags among nosuid, nodev, noexec set on the bind after it is made (as read_only is).
  unsigned long flags = 0;
  bool recursive = true;            // kBind: rbind, or a plain bind
  unsigned long propagation = 0;    // kMsPrivate/kMsSlave/kMsShared/kMsUnbindable [| kMsRec]
                                    // applied after the mount; 0: left as it comes
};

struct Rlimit {
  int resource = 0;  // RLIMIT_*
  uint64_t soft = 0;
  uint64_t hard = 0;
};

struct Resources {
  std::optional<int64_t> memory_bytes;     // memory.max / memory.limit_in_bytes
  std::optional<int64_t> cpu_quota_us;     // with cpu_period_us: cpu.max / cfs_quota_us
  int64_t cpu_period_us = 100000;
  std::optional<int64_t> pids_max;         // pids.max
  std::optional<uint16_t> io_weight;       // 1..10000 (v2 io.weight; v1 blkio.weight scaled)
};

struct ContainerSpec {
  std::string id;      // names the cgroup and the container: [a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}
  std::string rootfs;  // absolute host path of the root filesystem (a mounted layer)
  bool readonly_rootfs = false;

  std::vector<std::string> args;  // argv; args[0] resolved against PATH in env inside the root
  std::vector<std::string> env;   // "KEY=value"
  std::string cwd = "/";
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::vector<uint32_t> additional_gids;
  std::string hostname;

  Namespaces namespaces;
  std::vector<Mount> mounts;
  std::vector<std::string> masked_paths;    // default: DefaultMaskedPaths()
  std::vector<std::string> readonly_paths;  // default: DefaultReadonlyPaths()
  std::vector<std::string> capabilities;    // "CAP_CHOWN", ...: bounding, effective, permitted
  bool no_new_privileges = true;
  std::vector<Rlimit> rlimits;
  Resources resources;
  bool init = false;  // run a reaping init as PID 1 that forwards signals to the payload
  // Propagation of the container's mounts (OCI linux.rootfsPropagation), kMs* of rootfs.h:
  // 0 = rprivate (the default); kMsSlave|kMsRec makes the whole tree rslave before the rootfs
  // bind; kMsShared or kMsUnbindable (| kMsRec) is applied to the new / after the pivot.
  unsigned long rootfs_propagation = 0;
};

// The defaults docker, runc and crun use (FIELD-GUIDE §5.4-5.6).
std::vector<std::string> DefaultMaskedPaths();
std::vector<std::string> DefaultReadonlyPaths();
std::vector<std::string> DefaultCapabilities();  // docker's 14
std::vector<Rlimit> DefaultRlimits();            // RLIMIT_NOFILE 1024/1024

// A spec with every default filled in, for `id` on `rootfs` running `args`.
ContainerSpec DefaultSpec(std::string id, std::string rootfs, std::vector<std::string> args);

}  // namespace strata::runtime
