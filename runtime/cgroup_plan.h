// Pure cgroup decisions: which cgroup layout this host has, which directories a container gets,
// and which files to write for its Resources. No I/O here: everything takes text or data and is
// tested with literal mountinfo and /proc/<pid>/cgroup samples (tests/unit/runtime_cgroup_test.cc).
// runtime/cgroup.h applies these plans to the real cgroup filesystems.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/sys/mounts.h"
#include "runtime/spec.h"

namespace strata::runtime {

// kV1: controller hierarchies only. kV2: one unified cgroup2 tree with the controllers.
// kHybrid: v1 controller hierarchies plus a cgroup2 mount that holds none of the controllers
// strata uses (systemd's "unified" layout, /sys/fs/cgroup/unified). In hybrid mode limits go to v1;
// the unified dir is still created because it gives clone3(CLONE_INTO_CGROUP) and cgroup.kill.
enum class CgroupMode { kV1, kV2, kHybrid };

// One mounted cgroup hierarchy.
struct CgroupMount {
  std::string mount_point;  // absolute, "/sys/fs/cgroup/memory"
  std::string root;         // mountinfo field 4: the cgroup the mount shows, "/" unless a subtree
  std::string self;         // this process's cgroup there (/proc/self/cgroup), "" when unknown
};

struct CgroupLayout {
  CgroupMode mode = CgroupMode::kV2;
  std::optional<CgroupMount> v2;          // the cgroup2 mount: kV2, and kHybrid's unified mount
  std::map<std::string, CgroupMount> v1;  // controller -> its hierarchy; co-mounted controllers
                                          // ("cpu,cpuacct") map to the same mount point
};

// One line of /proc/<pid>/cgroup: "4:memory:/a/b" or "0::/a" (controllers empty: the v2 tree).
// Named hierarchies ("name=systemd") keep their "name=" entry in `controllers`.
struct ProcCgroup {
  std::vector<std::string> controllers;
  std::string path;
};
// Errors: EINVAL naming the 1-based line when a line lacks its two ':' separators.
Result<std::vector<ProcCgroup>> ParseProcCgroup(std::string_view text);

// Decides the layout from the mount table and this process's /proc/self/cgroup text.
// v1 controllers are recognised by name in the super options ("rw,cpu,cpuacct"); a hierarchy
// with only "name=..." (systemd's) is not a controller hierarchy. When a hierarchy is mounted
// twice (bind mounts), the mount whose root is "/" wins, else the first. Same for cgroup2.
// Errors: EOPNOTSUPP "no cgroup2 mount and no cgroup v1 controller hierarchy" when neither is
// usable.
Result<CgroupLayout> DecideCgroupLayout(const std::vector<sys::MountEntry>& mounts,
                                        std::string_view proc_self_cgroup);

// What to write for Resources. Order matters and is kept by the apply loop.
struct CgroupWrite {
  std::string controller;  // v1: the controller whose hierarchy holds `file`; "" on v2
  std::string file;        // "memory.max"
  std::string value;
  // When non-empty, written (with alt_value) instead if `file` does not exist (ENOENT): the
  // weight files depend on the I/O scheduler (v1 blkio.weight was CFQ's, removed in 5.0, and
  // BFQ's is blkio.bfq.weight; v2 io.weight is iocost's, io.bfq.weight BFQ's, range 1..1000).
  std::string alt_file;
  std::string alt_value;
};

struct ResourcePlan {
  std::vector<CgroupWrite> writes;
  // v2: controllers the limits need: "+c" in the subtree_control of every ancestor of the leaf,
  // else EOPNOTSUPP. memory and pids are enabled on top of these when available (for Stats) but
  // are not required when no limit needs them.
  std::vector<std::string> v2_required;
};

// The v1 hierarchies strata creates a dir in, when mounted: accounting for Stats and `ps` even
// without limits. cpuacct, cpuset, devices, freezer, hugetlb, net_* are not used: device policy
// is runtime/devices, pausing is not supported, and KillAll needs no freezer (see cgroup.h).
inline constexpr const char* kV1Controllers[] = {"memory", "cpu", "pids", "blkio"};
// v2 controllers enabled when available even without a limit (Stats reads their files).
inline constexpr const char* kV2OptionalControllers[] = {"memory", "pids"};

// The writes for `resources` on `layout`:
//   v2: memory.max, cpu.max "QUOTA PERIOD", pids.max, io.weight "default N" (alt io.bfq.weight
//       scaled to 1..1000). Swap is left alone (memory.swap.max keeps its default).
//   v1 and hybrid: memory.limit_in_bytes, cpu.cfs_period_us then cpu.cfs_quota_us (the period
//       first: the kernel checks the quota against it), pids.max, blkio.weight (alt
//       blkio.bfq.weight) with io_weight 1..10000 scaled linearly to 10..1000.
// cpu_period_us is written only with a quota. Errors: EINVAL naming the field for a value <= 0
// or an io_weight outside 1..10000 (kernel-specific bounds, such as a quota under 1 ms or a
// period over 1 s, are left to the kernel); EOPNOTSUPP naming the controller when a limit needs a
// v1 controller that is not mounted.
Result<ResourcePlan> PlanResources(const CgroupLayout& layout, const Resources& resources);

// Scalings, exposed for tests. Linear, rounded to nearest; the ends map to the ends.
uint16_t IoWeightToBlkioWeight(uint16_t io_weight);  // 1..10000 -> 10..1000
uint16_t IoWeightToBfqWeight(uint16_t io_weight);    // 1..10000 -> 1..1000

// Where the container's cgroups go.
//   kHierarchyRoot: <mount>/strata/<id>. Stable across invocations from different cgroups (the
//     CLI that creates is not the one that deletes), like docker's cgroupfs driver. Needs write
//     access to the hierarchy root. The default; verified on the hybrid dev host where this
//     process itself sits in a nested memory cgroup.
//   kOwnCgroup: <mount><own cgroup>/strata/<id>, for delegated subtrees (rootless, nested
//     containers). On v2 this only works when the own cgroup holds no processes (the
//     no-internal-process rule: enabling controllers in its subtree_control fails with EBUSY).
enum class CgroupParent { kHierarchyRoot, kOwnCgroup };

// One directory of the container in one hierarchy.
struct CgroupDir {
  std::vector<std::string> controllers;  // v1: the kV1Controllers it serves; empty: the v2 tree
  std::string mount_point;
  std::string parent;     // absolute: the shared "strata" dir, created if missing, never removed
  std::string leaf;       // absolute: parent + "/" + id; processes go here, never children
  std::string proc_path;  // the leaf as /proc/<pid>/cgroup names it (mount root + relative path)
  // kV2 only: the dirs whose cgroup.subtree_control must enable the controllers, from the mount
  // point down to `parent` (the leaf itself enables nothing: it holds the processes).
  std::vector<std::string> enable_chain;
  // kHybrid's unified dir: carries no limits, so Create skips it when its mount is read-only or
  // not writable (EROFS, EACCES, EPERM) instead of failing.
  bool optional = false;
};

// The dirs for container `id`: the v2 dir (kV2, kHybrid) first, then one per mounted v1
// hierarchy among kV1Controllers (kV1, kHybrid), co-mounted ones once, in kV1Controllers order.
// Errors: EINVAL for an id outside [a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}; ENOENT naming the mount
// with kOwnCgroup when this process's cgroup there is unknown or outside the mount's root.
Result<std::vector<CgroupDir>> PlanCgroupDirs(const CgroupLayout& layout, std::string_view id,
                                              CgroupParent parent);

// The value of `key` in a flat-keyed cgroup file ("oom_kill 3\nmax 0\n": memory.events,
// memory.oom_control); nullopt when absent or not a number.
std::optional<uint64_t> FlatKeyedValue(std::string_view text, std::string_view key);

}  // namespace strata::runtime
