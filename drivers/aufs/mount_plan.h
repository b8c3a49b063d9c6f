// The aufs mount planner (pure): the branch list of a layer and, for kernel aufs, the mount(2)
// data string plus the remounts that append what does not fit one page (FIELD-GUIDE §3.9).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "core/result.h"

namespace strata::drivers::aufs {

enum class BranchAccess { kReadWrite, kReadOnly };

// Kernel aufs mount options after the branches: an external inode table on tmpfs (works on any
// backing filesystem) and permission checks on the topmost directory branch only.
inline constexpr const char* kKernelOptions = ",xino=/dev/shm/aufs.xino,dirperm1";

// "<top>=rw" (or "=ro" for kReadOnly), then "<parent>=ro+wh" for each parent diff dir, nearest
// first. `top` and `parents` are absolute diff/<id> paths.
std::vector<std::string> AufsBranches(const std::string& top, BranchAccess access,
                                      const std::vector<std::string>& parents);

// The branch string: branches joined with ':' (the br= value; also a br_file's content).
std::string BranchSpec(const std::vector<std::string>& branches);

struct KernelAufsPlan {
  // mount(2) data of the first mount: "br:<b1>:<b2>...,xino=...,dirperm1".
  std::string data;
  // One mount(2) with MS_REMOUNT each, in order: "append:<path>=ro+wh".
  std::vector<std::string> remounts;
};

// Packs as many branches as fit into the first mount's data (at most page_size - 1 bytes:
// mount(2) copies one page and NUL-terminates it) and appends each remaining one with its own
// remount. E2BIG when the first branch alone, or one append, does not fit a page; EINVAL when
// `branches` is empty.
Result<KernelAufsPlan> PlanKernelAufsMount(const std::vector<std::string>& branches,
                                           size_t page_size_bytes);

// Where the strata-aufs helper is, in this order: `configured` (driver-opts.aufs.helper or
// $STRATA_AUFS_HELPER, first non-empty), "<dir of self_exe>/strata-aufs", then each PATH entry.
// `exists` tells whether an executable file is at a path (a seam for tests). ENOENT-free:
// returns "" when not found; a configured path is returned only when it exists.
std::string FindHelper(const std::vector<std::string>& configured, const std::string& self_exe,
                       const std::string& path_env, bool (*exists)(const std::string&));

}  // namespace strata::drivers::aufs
