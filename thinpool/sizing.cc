#include "thinpool/sizing.h"

#include <algorithm>
#include <cerrno>
#include <string>

#include "core/units.h"

namespace strata::thinpool {
namespace {

uint64_t RoundUp(uint64_t value, uint64_t multiple) {
  return (value + multiple - 1) / multiple * multiple;
}

// The checks shared by the two sizing rules: a valid block size and at least one data block.
Status CheckDataSize(uint64_t data_bytes, uint32_t block_size_sectors) {
  STRATA_TRY(ValidateBlockSizeSectors(block_size_sectors));
  const uint64_t block_bytes = uint64_t{block_size_sectors} * kSectorBytes;
  if (data_bytes < block_bytes) {
    return Error(EINVAL, "data size " + std::to_string(data_bytes) + " bytes (" +
                             FormatSize(data_bytes) + ") is smaller than one data block (" +
                             FormatSize(block_bytes) + ")");
  }
  return Ok();
}

}  // namespace

Status ValidateBlockSizeSectors(uint32_t block_size_sectors) {
  const std::string what = "data block size " + std::to_string(block_size_sectors) + " sectors";
  if (block_size_sectors < kMinBlockSizeSectors || block_size_sectors > kMaxBlockSizeSectors) {
    return Error(EINVAL, what + ": must be 128 (64 KiB) to 2097152 (1 GiB) sectors");
  }
  if (block_size_sectors % kMinBlockSizeSectors != 0) {
    return Error(EINVAL, what + ": must be a multiple of 128 sectors (64 KiB)");
  }
  return Ok();
}

Result<uint32_t> BlockSizeSectorsFromBytes(uint64_t block_size_bytes) {
  const uint64_t min_bytes = uint64_t{kMinBlockSizeSectors} * kSectorBytes;
  const uint64_t max_bytes = uint64_t{kMaxBlockSizeSectors} * kSectorBytes;
  const std::string what = "block size " + std::to_string(block_size_bytes) + " bytes (" +
                           FormatSize(block_size_bytes) + ")";
  if (block_size_bytes < min_bytes || block_size_bytes > max_bytes) {
    return Error(EINVAL, what + ": must be 64K to 1G");
  }
  if (block_size_bytes % min_bytes != 0) {
    return Error(EINVAL, what + ": must be a multiple of 64K");
  }
  return static_cast<uint32_t>(block_size_bytes / kSectorBytes);
}

uint64_t DataBlocks(uint64_t data_bytes, uint32_t block_size_sectors) {
  return data_bytes / (uint64_t{block_size_sectors} * kSectorBytes);
}

Result<uint64_t> RecommendedMetadataBytes(uint64_t data_bytes, uint32_t block_size_sectors) {
  STRATA_TRY(CheckDataSize(data_bytes, block_size_sectors));
  // At most 2^64 / 2^16 = 2^48 blocks, so the product stays below 2^55: no overflow.
  const uint64_t blocks = DataBlocks(data_bytes, block_size_sectors);
  const uint64_t wanted = blocks * kKernelMetadataBytesPerBlock * kMetadataHeadroomFactor;
  const uint64_t max_bytes = kMaxMetadataBytes / kMetadataBlockBytes * kMetadataBlockBytes;
  return std::min(RoundUp(std::max(wanted, kMinMetadataBytes), kMetadataBlockBytes), max_bytes);
}

Result<uint64_t> DefaultLowWaterMarkBlocks(uint64_t data_bytes, uint32_t block_size_sectors) {
  STRATA_TRY(CheckDataSize(data_bytes, block_size_sectors));
  const uint64_t blocks = DataBlocks(data_bytes, block_size_sectors);
  const uint64_t fraction = blocks / kLowWaterMarkMaxFractionDivisor;
  return std::max<uint64_t>(1, std::min(kDockerLowWaterMarkBlocks, fraction));
}

}  // namespace strata::thinpool
