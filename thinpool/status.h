// Parsers for the status lines of thin-pool and thin targets (DM_TABLE_STATUS, the `params` of
// each sys::DmTarget from DeviceMapper::TargetStatus), and the checks strata makes on a pool's
// status before it sends messages or creates devices. All pure.
//
// Pool status, fields in the kernel's emission order (pool_status in dm-thin.c):
//   1 <transaction id>  2 <used>/<total> metadata blocks (4 KiB)  3 <used>/<total> data blocks
//   4 <held metadata root>|-  5 rw|ro|out_of_data_space
//   6 discard_passdown|no_discard_passdown|ignore_discard  7 queue_if_no_space|error_if_no_space
//   8 needs_check|-  9 <metadata low watermark> (newer kernels)
// or the single word "Fail" (pool in fail mode) or "Error" (reading the counters failed).
// Fields 6-9 were added over kernel releases; a line that ends early parses with their defaults.
// Fields after the 9th (future kernels) are ignored.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"
#include "thinpool/tables.h"

namespace strata::thinpool {

enum class PoolMode { kReadWrite, kReadOnly, kOutOfDataSpace, kFail, kError };
// "rw", "ro", "out_of_data_space", "Fail", "Error": the kernel's words.
std::string_view PoolModeName(PoolMode mode);

struct ThinPoolStatus {
  uint64_t transaction_id = 0;
  uint64_t used_metadata_blocks = 0;  // 4 KiB blocks
  uint64_t total_metadata_blocks = 0;
  uint64_t used_data_blocks = 0;  // blocks of the pool's block size
  uint64_t total_data_blocks = 0;
  std::optional<uint64_t> held_metadata_root;  // set while a metadata snapshot is reserved
  PoolMode mode = PoolMode::kReadWrite;
  // The effective discard mode: passdown silently becomes no-passdown when the data device
  // cannot discard.
  DiscardMode discards = DiscardMode::kPassdown;
  bool error_if_no_space = false;  // also flips to true on its own after no_space_timeout
  bool needs_check = false;
  std::optional<uint64_t> metadata_low_watermark_blocks;  // field 9, 4 KiB blocks

  // Byte figures. Saturate at 2^64 - 1 rather than wrap (only a corrupt line gets there).
  uint64_t DataUsedBytes(uint32_t block_size_sectors) const;
  uint64_t DataTotalBytes(uint32_t block_size_sectors) const;
  uint64_t DataFreeBlocks() const;  // 0 if used > total
  uint64_t MetadataUsedBytes() const;
  uint64_t MetadataTotalBytes() const;
  uint64_t MetadataFreeBlocks() const;
  // Used / total * 100, 0 when the total is 0 (Fail and Error have no counters).
  double DataUsedPercent() const;
  double MetadataUsedPercent() const;

  bool operator==(const ThinPoolStatus&) const = default;
};

// EINVAL naming the line and the bad field: a missing field 1-5, a non-numeric counter, a count
// with used > total, an unknown word in fields 5-8.
Result<ThinPoolStatus> ParseThinPoolStatus(std::string_view status);

struct ThinStatus {
  uint64_t mapped_sectors = 0;  // provisioned sectors (a multiple of the block size)
  // The last sector of the highest mapped block; nullopt when nothing is mapped.
  std::optional<uint64_t> highest_mapped_sector;
  // The pool is in fail mode ("Fail") or the counters could not be read ("Error").
  bool failed = false;

  bool operator==(const ThinStatus&) const = default;
};

// "<mapped sectors> <highest mapped sector>|-", "-" (device not yet opened by the pool),
// "Fail" or "Error". EINVAL for anything else.
Result<ThinStatus> ParseThinStatus(std::string_view status);

// Before sending a message or creating a device (LVM refuses the same states):
//   Fail / Error        -> EOPNOTSUPP, "pool is in fail mode ..." / "pool status is Error ..."
//   needs_check         -> EOPNOTSUPP, "pool metadata needs checking ... `strata pool check
//                          --repair`"
//   ro                  -> EOPNOTSUPP, "pool is in read-only mode: run `strata pool check
//                          --repair`"
//   out_of_data_space   -> ENOSPC, "... extend it with `strata pool extend`"
Status CheckPoolUsable(const ThinPoolStatus& status);

// The minimum-free-space rule for new devices (docker's dm.min_free_space): fails with ENOSPC
// when free data blocks, or free metadata blocks, are fewer than `min_free_percent` % of the
// total (at least one block when the percentage is not 0):
//   "thin pool has 9 free data blocks (576K), less than the minimum free space of 10% (10 blocks,
//    640K); extend it with `strata pool extend`"
// 0% disables the rule. EINVAL for a percentage above 100 or a bad block size.
Status MinFreeSpaceCheck(const ThinPoolStatus& status, uint32_t block_size_sectors,
                         uint32_t min_free_percent);

}  // namespace strata::thinpool
