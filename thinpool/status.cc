#include "thinpool/status.h"

#include <cerrno>
#include <limits>
#include <utility>
#include <vector>

#include "core/units.h"
#include "thinpool/sizing.h"

namespace strata::thinpool {
namespace {

using Fields = std::vector<std::string_view>;

std::string Quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

uint64_t SaturatingMul(uint64_t a, uint64_t b) {
  uint64_t product = 0;
  if (__builtin_mul_overflow(a, b, &product)) return std::numeric_limits<uint64_t>::max();
  return product;
}

double Percent(uint64_t used, uint64_t total) {
  if (total == 0) return 0;
  return static_cast<double>(used) * 100.0 / static_cast<double>(total);
}

// "<used>/<total>", with used <= total.
Result<std::pair<uint64_t, uint64_t>> ParseRatio(std::string_view text, std::string_view field) {
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos) {
    return Error(EINVAL, std::string(field) + " " + Quoted(text) + ": expected <used>/<total>");
  }
  STRATA_ASSIGN_OR_RETURN(uint64_t used, ParseDecimal(text.substr(0, slash), field));
  STRATA_ASSIGN_OR_RETURN(uint64_t total, ParseDecimal(text.substr(slash + 1), field));
  if (used > total) {
    return Error(EINVAL, std::string(field) + " " + Quoted(text) + ": more used than total");
  }
  return std::make_pair(used, total);
}

Error UnknownWord(std::string_view field, std::string_view word) {
  return Error(EINVAL, std::string(field) + " " + Quoted(word) + ": unknown value");
}

Result<PoolMode> ParseMode(std::string_view word) {
  if (word == "rw") return PoolMode::kReadWrite;
  if (word == "ro") return PoolMode::kReadOnly;
  if (word == "out_of_data_space") return PoolMode::kOutOfDataSpace;
  return UnknownWord("mode", word);
}

Result<DiscardMode> ParseDiscards(std::string_view word) {
  if (word == "discard_passdown") return DiscardMode::kPassdown;
  if (word == "no_discard_passdown") return DiscardMode::kNoPassdown;
  if (word == "ignore_discard") return DiscardMode::kIgnore;
  return UnknownWord("discards", word);
}

// Fields 1-5: transaction id, metadata and data counts, held root, mode.
Status ParseRequiredFields(const Fields& f, ThinPoolStatus& s) {
  if (f.size() < 5) {
    return Error(EINVAL,
                 "expected at least 5 fields (<transaction id> <used>/<total> metadata "
                 "<used>/<total> data <held root> <mode>), got " +
                     std::to_string(f.size()));
  }
  STRATA_ASSIGN_OR_RETURN(s.transaction_id, ParseDecimal(f[0], "transaction id"));
  STRATA_ASSIGN_OR_RETURN(auto metadata, ParseRatio(f[1], "metadata blocks"));
  STRATA_ASSIGN_OR_RETURN(auto data, ParseRatio(f[2], "data blocks"));
  s.used_metadata_blocks = metadata.first;
  s.total_metadata_blocks = metadata.second;
  s.used_data_blocks = data.first;
  s.total_data_blocks = data.second;
  if (f[3] != "-") {
    STRATA_ASSIGN_OR_RETURN(s.held_metadata_root, ParseDecimal(f[3], "held metadata root"));
  }
  STRATA_ASSIGN_OR_RETURN(s.mode, ParseMode(f[4]));
  return Ok();
}

// Fields 6-9, each present only on kernels new enough to emit it.
Status ParseOptionalFields(const Fields& f, ThinPoolStatus& s) {
  if (f.size() > 5) {
    STRATA_ASSIGN_OR_RETURN(s.discards, ParseDiscards(f[5]));
  }
  if (f.size() > 6) {
    if (f[6] == "error_if_no_space") {
      s.error_if_no_space = true;
    } else if (f[6] != "queue_if_no_space") {
      return UnknownWord("no-space policy", f[6]);
    }
  }
  if (f.size() > 7) {
    if (f[7] == "needs_check") {
      s.needs_check = true;
    } else if (f[7] != "-") {
      return UnknownWord("needs_check flag", f[7]);
    }
  }
  if (f.size() > 8) {
    STRATA_ASSIGN_OR_RETURN(s.metadata_low_watermark_blocks,
                            ParseDecimal(f[8], "metadata low watermark"));
  }
  return Ok();
}

// ceil(total * percent / 100) without overflow (percent <= 100), at least 1 when percent > 0.
uint64_t MinFreeBlocks(uint64_t total, uint32_t percent) {
  if (percent == 0) return 0;
  const uint64_t min = total / 100 * percent + ((total % 100) * percent + 99) / 100;
  return min == 0 ? 1 : min;
}

Status CheckFree(std::string_view kind, uint64_t free, uint64_t total, uint64_t block_bytes,
                 uint32_t percent) {
  const uint64_t min = MinFreeBlocks(total, percent);
  if (free >= min) return Ok();
  return Error(ENOSPC, "thin pool has " + std::to_string(free) + " free " + std::string(kind) +
                           " blocks (" + FormatSize(SaturatingMul(free, block_bytes)) +
                           "), less than the minimum free space of " + std::to_string(percent) +
                           "% (" + std::to_string(min) + " blocks, " +
                           FormatSize(SaturatingMul(min, block_bytes)) +
                           "); extend it with `strata pool extend`");
}

}  // namespace

std::string_view PoolModeName(PoolMode mode) {
  switch (mode) {
    case PoolMode::kReadWrite:
      return "rw";
    case PoolMode::kReadOnly:
      return "ro";
    case PoolMode::kOutOfDataSpace:
      return "out_of_data_space";
    case PoolMode::kFail:
      return "Fail";
    case PoolMode::kError:
      return "Error";
  }
  return "Error";
}

uint64_t ThinPoolStatus::DataUsedBytes(uint32_t block_size_sectors) const {
  return SaturatingMul(used_data_blocks, uint64_t{block_size_sectors} * kSectorBytes);
}
uint64_t ThinPoolStatus::DataTotalBytes(uint32_t block_size_sectors) const {
  return SaturatingMul(total_data_blocks, uint64_t{block_size_sectors} * kSectorBytes);
}
uint64_t ThinPoolStatus::DataFreeBlocks() const {
  return used_data_blocks > total_data_blocks ? 0 : total_data_blocks - used_data_blocks;
}
uint64_t ThinPoolStatus::MetadataUsedBytes() const {
  return SaturatingMul(used_metadata_blocks, kMetadataBlockBytes);
}
uint64_t ThinPoolStatus::MetadataTotalBytes() const {
  return SaturatingMul(total_metadata_blocks, kMetadataBlockBytes);
}
uint64_t ThinPoolStatus::MetadataFreeBlocks() const {
  return used_metadata_blocks > total_metadata_blocks
             ? 0
             : total_metadata_blocks - used_metadata_blocks;
}
double ThinPoolStatus::DataUsedPercent() const {
  return Percent(used_data_blocks, total_data_blocks);
}
double ThinPoolStatus::MetadataUsedPercent() const {
  return Percent(used_metadata_blocks, total_metadata_blocks);
}

Result<ThinPoolStatus> ParseThinPoolStatus(std::string_view status) {
  const Fields fields = SplitFields(status);
  ThinPoolStatus s;
  if (fields.size() == 1 && fields[0] == "Fail") {
    s.mode = PoolMode::kFail;
    return s;
  }
  if (fields.size() == 1 && fields[0] == "Error") {
    s.mode = PoolMode::kError;
    return s;
  }
  const std::string context = "thin-pool status " + Quoted(status);
  STRATA_TRY_CTX(ParseRequiredFields(fields, s), context);
  STRATA_TRY_CTX(ParseOptionalFields(fields, s), context);
  return s;
}

Result<ThinStatus> ParseThinStatus(std::string_view status) {
  const Fields f = SplitFields(status);
  const std::string context = "thin status " + Quoted(status);
  ThinStatus s;
  if (f.size() == 1 && (f[0] == "Fail" || f[0] == "Error")) {
    s.failed = true;
    return s;
  }
  if (f.size() == 1 && f[0] == "-") return s;  // no device opened in the pool yet
  if (f.size() != 2) {
    return Error(EINVAL, context + ": expected <mapped sectors> <highest mapped sector>|-");
  }
  STRATA_ASSIGN_OR_RETURN_CTX(s.mapped_sectors, ParseDecimal(f[0], "mapped sectors"), context);
  if (f[1] != "-") {
    STRATA_ASSIGN_OR_RETURN_CTX(s.highest_mapped_sector,
                                ParseDecimal(f[1], "highest mapped sector"), context);
  }
  return s;
}

Status CheckPoolUsable(const ThinPoolStatus& status) {
  switch (status.mode) {
    case PoolMode::kFail:
      return Error(EOPNOTSUPP,
                   "pool is in fail mode (a metadata or device failure): deactivate "
                   "it and run `strata pool check --repair`");
    case PoolMode::kError:
      return Error(EOPNOTSUPP,
                   "pool status is Error (the kernel could not read its metadata): "
                   "run `strata pool check --repair`");
    default:
      break;
  }
  if (status.needs_check) {
    return Error(EOPNOTSUPP,
                 "pool metadata needs checking (needs_check is set after a metadata "
                 "failure): run `strata pool check --repair`");
  }
  if (status.mode == PoolMode::kReadOnly) {
    return Error(EOPNOTSUPP, "pool is in read-only mode: run `strata pool check --repair`");
  }
  if (status.mode == PoolMode::kOutOfDataSpace) {
    return Error(ENOSPC,
                 "pool is out of data space (writes needing new blocks are queued or "
                 "failing): extend it with `strata pool extend`");
  }
  return Ok();
}

Status MinFreeSpaceCheck(const ThinPoolStatus& status, uint32_t block_size_sectors,
                         uint32_t min_free_percent) {
  STRATA_TRY(ValidateBlockSizeSectors(block_size_sectors));
  if (min_free_percent > 100) {
    return Error(
        EINVAL, "minimum free space " + std::to_string(min_free_percent) + "%: must be 0% to 100%");
  }
  STRATA_TRY(CheckFree("data", status.DataFreeBlocks(), status.total_data_blocks,
                       uint64_t{block_size_sectors} * kSectorBytes, min_free_percent));
  return CheckFree("metadata", status.MetadataFreeBlocks(), status.total_metadata_blocks,
                   kMetadataBlockBytes, min_free_percent);
}

}  // namespace strata::thinpool
