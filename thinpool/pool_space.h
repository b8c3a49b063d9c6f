// Space management for loop-file pools: the pure auto-extend rule, and the host-filesystem
// figure it needs. ThinPool applies it (pool_space.cc): before every new device (CreateThin,
// Snapshot), when the pool is opened, and on `strata pool extend --auto`.
//
// The rule (AutoExtendDecision), with T = auto-extend-threshold and P = auto-extend-percent:
//   - only loop-file pools in rw or out_of_data_space mode are grown (the kernel refuses to
//     resize a ro, failed or needs_check pool; devices and adopted pools are not strata's);
//   - data grows when its use is >= T% of the pool's data blocks; metadata likewise, on its own
//     4 KiB blocks. Each grows by P% of its current file size, or by more when that is not
//     enough to bring its use back under T% (so one auto-extend always clears the threshold, and
//     with it the min-free-space rule, which is validated to sit above T);
//   - data sizes are rounded up to whole data blocks, metadata sizes to 4 KiB and capped at the
//     kernel's maximum (kMaxMetadataBytes): metadata at the cap cannot grow;
//   - the host filesystem under the root must have the growth plus kHostFreeMarginBytes free:
//     loop files are sparse, so a pool larger than its host can hold would fail writes with EIO
//     (the loop device's error) instead of the pool's clean ENOSPC.
// There is no daemon: nothing waits on the kernel's low-water-mark event. A timer running
// `strata pool extend --auto` covers pools that fill up between new devices.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/result.h"
#include "thinpool/pool_config.h"
#include "thinpool/status.h"

namespace strata::thinpool {

// Room left on the host filesystem after an auto-extend, for everything else living there.
inline constexpr uint64_t kHostFreeMarginBytes = uint64_t{64} << 20;

// The sizes of a loop-file pool's backing files, in bytes.
struct PoolFileSizes {
  uint64_t data_bytes = 0;
  uint64_t metadata_bytes = 0;
  bool operator==(const PoolFileSizes&) const = default;
};

enum class AutoExtendVerdict {
  kNotNeeded,   // below the threshold (or not a pool strata may grow): nothing to do
  kExtend,      // grow to `new_sizes`
  kNoHostRoom,  // over the threshold, but the host filesystem cannot hold `new_sizes`
  kCannotGrow,  // over the threshold, but nothing can grow (metadata at the kernel's maximum)
};
// "not needed", "extend", "no host room", "cannot grow".
std::string_view AutoExtendVerdictName(AutoExtendVerdict verdict);

struct AutoExtendPlan {
  AutoExtendVerdict verdict = AutoExtendVerdict::kNotNeeded;
  // kExtend: the sizes to grow to; kNoHostRoom: the sizes it would have grown to.
  std::optional<PoolFileSizes> new_sizes;
  uint64_t growth_bytes = 0;  // sum of both files' growth
  // One line for humans: "data 85% used (threshold 80%): grow data 64M -> 77M".
  std::string reason;
  bool operator==(const AutoExtendPlan&) const = default;
};

// The pure rule above. `block_size_sectors` is the pool's data block size, `sizes` the current
// file sizes, `host_free_bytes` what statvfs says an unprivileged writer may still use (f_bavail)
// on the filesystem holding the loop files. Total: never fails.
AutoExtendPlan AutoExtendDecision(const ThinPoolStatus& status, uint32_t block_size_sectors,
                                  const PoolFileSizes& sizes, const PoolConfig& config,
                                  uint64_t host_free_bytes);

// What ThinPool::AutoExtend did: the plan, and whether the files were grown and the table
// reloaded (only for kExtend, and only when Extend succeeded).
struct AutoExtendOutcome {
  AutoExtendPlan plan;
  PoolFileSizes old_sizes;
  bool extended = false;
};

// statvfs(path): f_bavail * f_frsize. Errors: statvfs's errno, naming the path.
Result<uint64_t> HostFreeBytes(const std::string& path);

}  // namespace strata::thinpool
