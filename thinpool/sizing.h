// Pure sizing rules for thin pools: data block size limits, metadata size, low-water mark.
//
// Units: sizes in bytes are `_bytes`, in 512-byte sectors `_sectors`, in pool data blocks
// `_blocks` (block_size_sectors each), in metadata blocks `_metadata_blocks` (always 4 KiB).
// Every function is pure and total over its inputs: bad inputs are EINVAL naming the value.
#pragma once

#include <cstdint>

#include "core/result.h"

namespace strata::thinpool {

inline constexpr uint64_t kSectorBytes = 512;

// dm-thin data block size limits (DATA_DEV_BLOCK_SIZE_{MIN,MAX}_SECTORS): 64 KiB to 1 GiB, a
// multiple of 64 KiB. The size is fixed for the life of the pool metadata.
inline constexpr uint32_t kMinBlockSizeSectors = 128;
inline constexpr uint32_t kMaxBlockSizeSectors = 2097152;
// 64 KiB: what docker, containerd and LVM's "generic" profile use; best for snapshot-heavy use
// (a first write to a shared block copies at most 64 KiB).
inline constexpr uint32_t kDefaultBlockSizeSectors = 128;

// Metadata is managed in 4 KiB blocks (THIN_METADATA_BLOCK_SIZE); status counts these.
inline constexpr uint64_t kMetadataBlockBytes = 4096;
// Kernel documentation: at least 2 MiB of metadata.
inline constexpr uint64_t kMinMetadataBytes = uint64_t{2} << 20;
// THIN_METADATA_MAX_SECTORS = 255 * 16384 * 8 sectors (about 15.9 GiB). The kernel warns about
// and ignores anything past it, so a bigger metadata device only wastes space.
inline constexpr uint64_t kMaxMetadataSectors = uint64_t{255} * 16384 * 8;
inline constexpr uint64_t kMaxMetadataBytes = kMaxMetadataSectors * kSectorBytes;

// Kernel doc: metadata needs about 48 bytes per data block. strata provisions twice that
// (96 bytes per block): snapshots with divergent writes, which a layer tree is made of, are what
// consume metadata, and running out of metadata aborts the transaction and sets needs_check.
// (LVM estimates 64 bytes per chunk; measured use without snapshots is about 19.)
inline constexpr uint64_t kKernelMetadataBytesPerBlock = 48;
inline constexpr uint64_t kMetadataHeadroomFactor = 2;

// Docker's and containerd's low-water mark, in data blocks (2 GiB at 64 KiB blocks).
inline constexpr uint64_t kDockerLowWaterMarkBlocks = 32768;
// Small pools: the mark is at most this fraction (1/10) of the data blocks, so the low-water
// event fires when the pool is about 90% full instead of immediately.
inline constexpr uint64_t kLowWaterMarkMaxFractionDivisor = 10;

// OK when `block_size_sectors` is 128..2097152 and a multiple of 128; else EINVAL naming it
// ("data block size 129 sectors: must be a multiple of 128 sectors (64 KiB)").
Status ValidateBlockSizeSectors(uint32_t block_size_sectors);

// A block size given in bytes (config "block-size": "64K") as sectors, validated as above
// (64 KiB..1 GiB, a multiple of 64 KiB). EINVAL names the byte value.
Result<uint32_t> BlockSizeSectorsFromBytes(uint64_t block_size_bytes);

// The whole data blocks in `data_bytes` (a partial block at the end is never used by the pool).
// Precondition: a valid block size (checked by the callers below).
uint64_t DataBlocks(uint64_t data_bytes, uint32_t block_size_sectors);

// Metadata size for a pool with `data_bytes` of data in blocks of `block_size_sectors`:
//   96 bytes (48 per the kernel doc, times 2 for snapshots) per whole data block,
//   at least 2 MiB, rounded up to 4 KiB, at most kMaxMetadataBytes (rounded down to 4 KiB).
// Errors: EINVAL for a bad block size or a data size smaller than one data block.
Result<uint64_t> RecommendedMetadataBytes(uint64_t data_bytes, uint32_t block_size_sectors);

// The default low-water mark in data blocks:
//   min(32768 blocks (docker/containerd), data blocks / 10), and at least 1.
// Rationale: the mark raises one dm event, which strata's monitor uses to check free space and
// auto-extend; 32768 blocks is 2 GiB at 64 KiB, and for pools under ~20 GiB the 1/10 clamp keeps
// the event meaningful instead of firing on an empty pool.
// Errors: EINVAL for a bad block size or a data size smaller than one data block.
Result<uint64_t> DefaultLowWaterMarkBlocks(uint64_t data_bytes, uint32_t block_size_sectors);

}  // namespace strata::thinpool
