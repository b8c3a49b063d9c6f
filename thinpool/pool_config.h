// The thin pool and devicemapper driver options from the config file:
//   "driver-opts": {"devicemapper": {...}}
// parsed into typed settings, each remembering whether it came from the file or is a default.
//
// Where the pool lives (exactly one of):
//   loop files (default)  "data-size" (100G), "metadata-size" (computed from data-size and
//                         block-size, see RecommendedMetadataBytes); sparse files under the root
//   devices               "data-device" + "metadata-device" (absolute paths, both required)
//   an existing pool      "thin-pool-device" (a /dev/mapper path or a dm name; its devices and
//                         block size are its own, so none of the keys above may be combined)
// Pool table:
//   "pool-name"           dm name of a pool strata creates (default "strata-pool")
//   "block-size"          size string, 64K..1G, multiple of 64K (default 64K)
//   "low-water-mark"      integer, in data blocks (default: DefaultLowWaterMarkBlocks)
//   "zero-blocks"         bool (default true: a partial first write into a fresh block must not
//                         expose stale data of deleted devices; docker and containerd turn it
//                         off for speed, LVM keeps it on, and so does strata)
//   "discard"             "passdown" | "no-passdown" | "ignore" (default "passdown": deleted
//                         devices give their space back, loop-backed pools punch holes)
//   "error-if-no-space"   bool (default true: a full pool fails writes at once instead of
//                         queueing them for no_space_timeout, so processes never hang in D state)
// Space management:
//   "min-free-space"        "N%", 0..99 (default "10%"): new devices are refused below it
//   "auto-extend-threshold" "N%", 1..99 (default "80%"): loop-backed pools grow past this use;
//                           at most 100% - min-free-space, or creation would be refused before
//                           the pool grows
//   "auto-extend-percent"   "N%", 1..1000 (default "20%"): how much to grow by
// Devices and filesystems (the devicemapper driver):
//   "base-size"           size string (default 10G), at least 16M (300M for xfs: mkfs.xfs
//                         refuses smaller), a multiple of 4K
//   "fs"                  "ext4" | "xfs" (default ext4)
//   "mkfs-options"        array of strings, one argv word each
//   "mount-options"       array of strings, one mount option each (no ',')
// Every error is EINVAL and starts with the key path: `driver-opts.devicemapper.<key>: ...`.
// The auto-extend keys apply to loop-backed pools only and are rejected with the others.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/result.h"
#include "thinpool/sizing.h"
#include "thinpool/tables.h"

namespace strata::thinpool {

enum class PoolBacking { kLoopFiles, kDevices, kExistingPool };
// "loop files", "devices", "existing pool".
std::string_view PoolBackingName(PoolBacking backing);

enum class Filesystem { kExt4, kXfs };
std::string_view FilesystemName(Filesystem fs);  // "ext4", "xfs"

inline constexpr char kDefaultPoolName[] = "strata-pool";
inline constexpr uint64_t kDefaultDataSizeBytes = uint64_t{100} << 30;
inline constexpr uint64_t kDefaultBaseSizeBytes = uint64_t{10} << 30;
inline constexpr uint64_t kMinBaseSizeBytes = uint64_t{16} << 20;
inline constexpr uint64_t kMinXfsBaseSizeBytes = uint64_t{300} << 20;
inline constexpr uint32_t kDefaultMinFreeSpacePercent = 10;
inline constexpr uint32_t kDefaultAutoExtendThresholdPercent = 80;
inline constexpr uint32_t kDefaultAutoExtendPercent = 20;

struct PoolConfig {
  PoolBacking backing = PoolBacking::kLoopFiles;  // derived from the keys given

  Setting<std::string> pool_name{kDefaultPoolName};
  Setting<uint64_t> data_size_bytes{kDefaultDataSizeBytes};  // loop files only
  // Loop files only. The default is computed: RecommendedMetadataBytes(data size, block size).
  Setting<uint64_t> metadata_size_bytes{0};
  Setting<std::string> data_device;       // devices only; "" otherwise
  Setting<std::string> metadata_device;   // devices only; "" otherwise
  Setting<std::string> thin_pool_device;  // existing pool only; "" otherwise
  Setting<uint32_t> block_size_sectors{kDefaultBlockSizeSectors};
  // nullopt: DefaultLowWaterMarkBlocks of the actual data size (see EffectiveLowWaterMarkBlocks).
  Setting<std::optional<uint64_t>> low_water_mark_blocks;
  Setting<bool> zero_blocks{true};
  Setting<DiscardMode> discard{DiscardMode::kPassdown};
  Setting<bool> error_if_no_space{true};
  Setting<uint32_t> min_free_space_percent{kDefaultMinFreeSpacePercent};
  Setting<uint32_t> auto_extend_threshold_percent{kDefaultAutoExtendThresholdPercent};
  Setting<uint32_t> auto_extend_percent{kDefaultAutoExtendPercent};
  Setting<uint64_t> base_size_bytes{kDefaultBaseSizeBytes};
  Setting<Filesystem> fs{Filesystem::kExt4};
  Setting<std::vector<std::string>> mkfs_options;
  Setting<std::vector<std::string>> mount_options;
};

// Parses the "devicemapper" object of "driver-opts" (null or absent: all defaults).
// Errors: EINVAL, `driver-opts.devicemapper.<key>: ...`, for unknown keys (with a did-you-mean),
// wrong types, values out of range and conflicting keys.
Result<PoolConfig> ParsePoolConfig(const nlohmann::json& options);

// The low-water mark to put in the pool table for a pool of `data_bytes`: the configured one,
// or DefaultLowWaterMarkBlocks. EINVAL if a configured mark exceeds the pool's data blocks.
Result<uint64_t> EffectiveLowWaterMarkBlocks(const PoolConfig& config, uint64_t data_bytes);

// For `strata info --json`: {"<key>": {"value": ..., "source": "default"|"config file"}, ...}
// plus "backing". Values use the config file's spelling (sizes as size strings, percentages as
// "N%"), so the values of the keys from the file parse back to the same config.
nlohmann::json PoolConfigToJson(const PoolConfig& config);

}  // namespace strata::thinpool
