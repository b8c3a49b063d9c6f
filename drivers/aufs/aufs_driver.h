// aufs: Docker-aufs-style layers (FIELD-GUIDE §3.9). A layer with parents is mounted as an aufs
// union of its own diff/ (rw, or ro once it is someone's parent) over its parents' diff/ dirs
// (ro+wh); a base layer's diff/ is used as is. Diffs are native: diff/ holds the layer tar's
// content with aufs whiteouts (.wh.NAME, .wh..wh..opq) as files, which is also the tar format.
//
// Layout under <root>/aufs:
//   diff/<id>/       the layer's own files (an aufs branch)
//   layers/<id>      the parent chain, nearest first, one id per line (empty: a base layer)
//   mnt/<id>/        mount point (created by Mount, removed by Unmount)
//   mnt/.<id>.br     the branch list handed to strata-aufs (exists only during Mount)
//   diff/.tmp-*, diff/.removing-*   interrupted creates/removes, collected at init
//
// Mounting: with kernel aufs when /proc/filesystems lists it (mount(2) plus one append remount
// per branch past the first page, mount_plan.h), else with the strata-aufs FUSE helper. A helper
// that died leaves its mount answering ENOTCONN: IsMounted reports it unmounted, Unmount detaches
// it, and Mount detaches it and mounts again.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "core/result.h"
#include "core/sys/mounts.h"
#include "drivers/driver.h"
#include "drivers/registry.h"

namespace strata::drivers::aufs {

// The environment variable naming the strata-aufs helper (overrides the search next to the
// running binary and on PATH).
inline constexpr const char* kHelperEnv = "STRATA_AUFS_HELPER";

// How layers get mounted.
struct AufsMounter {
  enum class Kind { kKernel, kHelper };
  Kind kind = Kind::kHelper;
  std::string helper;             // kHelper: absolute path of strata-aufs
  size_t page_size_bytes = 4096;  // kKernel: mount(2) data limit, NUL included
};

// Registry probe. OK when /proc/filesystems lists aufs, or when /dev/fuse exists and the helper
// is found ($STRATA_AUFS_HELPER, else strata-aufs next to /proc/self/exe, else on PATH).
// EOPNOTSUPP naming what is missing otherwise.
Status ProbeAufs(const DriverEnv& env);

// driver-opts.aufs: null or an empty object (aufs has no options).
Status CheckAufsOptions(const nlohmann::json& options);

// Registry factory: picks the mounter as ProbeAufs does, creates <root>/aufs and its dirs, and
// deletes leftovers of interrupted creates/removes.
Result<std::unique_ptr<Driver>> NewAufsDriver(const DriverEnv& env, const nlohmann::json& options);

// The driver over `home` with an explicit mounter (tests). `mounts` must outlive the driver.
std::unique_ptr<Driver> MakeAufsDriver(std::string home, sys::Mounts& mounts, AufsMounter mounter);

}  // namespace strata::drivers::aufs
