// The device-mapper model: a mapped device has a mapping table, a vector of targets
// (sys::DmTarget: start, length, type, params), each of which maps a range of the device onto
// target devices. Pure builders for the tables strata loads and parsers for the tables the kernel
// reports back (DM_TABLE_STATUS with DM_STATUS_TABLE_FLAG), all in 512-byte sectors.
//
// Target devices are referenced as `major:minor`, never by path: there is no udev in the VM
// and a path can be renamed or stale, while the kernel resolves major:minor directly and reports
// tables back in that form.
//
// Every builder validates its inputs and returns EINVAL with a message naming the bad value.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/sys/device_mapper.h"

namespace strata::thinpool {

using MappingTable = std::vector<sys::DmTarget>;

// A block device by number. The kernel's dev_t has a 12-bit major and a 20-bit minor.
struct DevRef {
  uint32_t major = 0;
  uint32_t minor = 0;

  std::string ToString() const;  // "253:3"
  bool operator==(const DevRef&) const = default;
};

inline constexpr uint32_t kMaxDevMajor = (1u << 12) - 1;
inline constexpr uint32_t kMaxDevMinor = (1u << 20) - 1;

// "253:3" (decimal, nothing else). EINVAL naming the text otherwise, or for numbers out of the
// dev_t range.
Result<DevRef> ParseDevRef(std::string_view text);

// How the pool handles discards (feature args ignore_discard, no_discard_passdown).
enum class DiscardMode {
  kPassdown,    // default: unmap blocks in the pool and pass discards down to the data device
  kNoPassdown,  // unmap blocks in the pool, keep the data device untouched
  kIgnore,      // no discard support at all
};
// "passdown", "no-passdown", "ignore" (the config file spelling).
std::string_view DiscardModeName(DiscardMode mode);

// The arguments of a thin-pool target.
struct ThinPoolParams {
  DevRef metadata;
  DevRef data;
  uint64_t data_length_sectors = 0;    // the target length: data blocks * block size (tail unused)
  uint32_t block_size_sectors = 128;   // 128..2097152, a multiple of 128; fixed for the pool's life
  uint64_t low_water_mark_blocks = 0;  // in data blocks, not sectors
  bool zero_blocks = true;             // false -> skip_block_zeroing
  DiscardMode discard = DiscardMode::kPassdown;
  bool error_if_no_space = false;  // fail writes at once instead of queueing (no_space_timeout)
  bool read_only = false;          // only valid for a pool that has been used read-write

  bool operator==(const ThinPoolParams&) const = default;
};

// The arguments of a thin target.
struct ThinParams {
  DevRef pool;
  uint32_t thin_id = 0;                   // 24 bits
  uint64_t length_sectors = 0;            // the target length: the pool stores no device size
  std::optional<DevRef> external_origin;  // read-only device serving unprovisioned reads

  bool operator==(const ThinParams&) const = default;
};

// `0 <length> linear <dev> <offset>`. EINVAL for length 0, offset + length past 2^64 sectors,
// or a bad device number.
Result<MappingTable> LinearTable(DevRef dev, uint64_t offset_sectors, uint64_t length_sectors);
// `0 <length> zero`: reads return zeroes, writes are discarded.
Result<MappingTable> ZeroTable(uint64_t length_sectors);
// `0 <length> error`: every I/O fails. Used to fence a device before removal.
Result<MappingTable> ErrorTable(uint64_t length_sectors);

// `0 <len> thin-pool <meta> <data> <block size> <low water mark> <#features> <features...>`,
// features in the kernel's emission order: skip_block_zeroing ignore_discard
// no_discard_passdown read_only error_if_no_space. The count is always written ("0" for none),
// as the kernel does, so a built table compares equal to the one read back.
// EINVAL: bad device numbers, metadata == data, bad block size, a length shorter than one block,
// or a low-water mark above the number of data blocks (the mark is in blocks: such a value is
// almost always sectors or bytes, and would raise the low-water event on every resume).
Result<MappingTable> ThinPoolTable(const ThinPoolParams& params);

// `0 <length> thin <pool> <id> [<external origin>]`. EINVAL: bad device numbers, an id above
// 0xffffff, length 0, or an origin equal to the pool.
Result<MappingTable> ThinTable(DevRef pool, uint32_t thin_id, uint64_t length_sectors,
                               std::optional<DevRef> external_origin = std::nullopt);

// Parse a thin-pool target's params as the kernel reports them. Accepts what the kernel accepts
// (a low-water mark above the block count is allowed; feature args may repeat; the feature count
// may be absent, as in a hand-written table) and sets data_length_sectors = 0: the length is the
// target's, see ParseThinPoolTarget. EINVAL naming the bad field: unknown feature, a count that
// does not match the features, bad block size, bad or missing fields.
Result<ThinPoolParams> ParseThinPoolParams(std::string_view params);
// Parse a thin target's params ("253:3 7" or "253:3 7 8:16"); length_sectors = 0.
Result<ThinParams> ParseThinParams(std::string_view params);

// The single-target tables of a pool or thin device: checks the type is "thin-pool" / "thin",
// and fills in the length. EINVAL for another type or a table that is not one target at 0.
Result<ThinPoolParams> ParseThinPoolTable(const MappingTable& table);
Result<ThinParams> ParseThinTable(const MappingTable& table);

// Field helpers shared by the table and status parsers.
// The whitespace-separated fields of a kernel line (spaces, tabs, newlines; runs collapse).
std::vector<std::string_view> SplitFields(std::string_view line);
// A decimal unsigned 64-bit number and nothing else. EINVAL "<field> \"<text>\": expected a
// number"; ERANGE past 2^64 - 1.
Result<uint64_t> ParseDecimal(std::string_view text, std::string_view field);

// "0 2097152 thin 253:3 7" (dmsetup's format, for `strata dm table`).
std::string FormatTableLine(const sys::DmTarget& target);
// One line per target, each ending in '\n'.
std::string FormatTable(const MappingTable& table);
// The reverse of FormatTableLine: "<start> <length> <type> [<params>]"; params keep their
// internal spacing, surrounding whitespace is dropped. EINVAL for missing or non-numeric fields.
Result<sys::DmTarget> ParseTableLine(std::string_view line);

}  // namespace strata::thinpool
