// Internal to thinpool/pool*.cc: the owning guards of a pool under construction, and the
// file, device and table helpers for its backing.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "core/result.h"
#include "core/sys/device_mapper.h"
#include "core/sys/loop.h"
#include "core/unique_fd.h"
#include "thinpool/pool_config.h"
#include "thinpool/tables.h"

namespace strata::thinpool {

// Removes a dm device on destruction unless Released. Best effort (the error has nowhere to go;
// a leftover carries our uuid prefix and `strata pool check` finds it).
class DmDeviceGuard {
 public:
  DmDeviceGuard(sys::DeviceMapper& dm, std::string name) : dm_(&dm), name_(std::move(name)) {}
  DmDeviceGuard(const DmDeviceGuard&) = delete;
  DmDeviceGuard& operator=(const DmDeviceGuard&) = delete;
  ~DmDeviceGuard() {
    if (armed_) (void)dm_->Remove(name_, sys::DmRemove::kNow);  // best effort: rollback
  }
  void Release() { armed_ = false; }

 private:
  sys::DeviceMapper* dm_;
  std::string name_;
  bool armed_ = true;
};

// Unlinks a file this process created, on destruction unless Released.
class CreatedFileGuard {
 public:
  explicit CreatedFileGuard(std::string path) : path_(std::move(path)) {}
  CreatedFileGuard(CreatedFileGuard&& o) noexcept
      : path_(std::move(o.path_)), armed_(std::exchange(o.armed_, false)) {}
  CreatedFileGuard(const CreatedFileGuard&) = delete;
  CreatedFileGuard& operator=(const CreatedFileGuard&) = delete;
  ~CreatedFileGuard() {
    if (armed_) (void)::unlink(path_.c_str());  // best effort: rollback of our own file
  }
  void Release() { armed_ = false; }

 private:
  std::string path_;
  bool armed_ = true;
};

// Creates `path` (O_EXCL: EEXIST when it exists) as a sparse file of `size_bytes`; with
// `zero_head`, writes zeroes over the first 4 KiB and fsyncs. The returned guard unlinks it.
Result<CreatedFileGuard> CreateSparseFile(const std::string& path, uint64_t size_bytes,
                                          bool zero_head);
// Writes 4 KiB of zeroes at offset 0 of an existing file or block device and fsyncs: a thin-pool
// over metadata with a stale superblock would adopt that old pool's devices.
Status ZeroHead(const std::string& path);
// Grows a file to `size_bytes` (sparse). EINVAL when that is smaller than its size.
Status GrowFile(const std::string& path, uint64_t size_bytes);
// The size of a regular file or a block device (lseek to the end works for both).
Result<uint64_t> SizeOfPath(const std::string& path);
// The device number of a block device node. ENOTBLK for anything else.
Result<DevRef> BlockDevRef(const std::string& path);
// The device number of a loop device: its node's, or 7:<index> when the node is not there
// (loop minors are the index unless max_part is set, and then the node exists).
DevRef LoopDevRef(const sys::LoopDevice& device);
// The metadata size for `config`: the configured one, else RecommendedMetadataBytes.
Result<uint64_t> MetadataBytesFor(const PoolConfig& config);
// The thin-pool table for `config` over these devices, `data_bytes` of data.
Result<MappingTable> PoolTableFor(const PoolConfig& config, DevRef metadata, DevRef data,
                                  uint64_t data_bytes);
// DM_DEV_CREATE + TABLE_LOAD + resume; the device is removed again when a step fails.
Status CreateDmDevice(sys::DeviceMapper& dm, const std::string& name, const std::string& uuid,
                      const MappingTable& table);
// Whether dm device `name` exists (Info; ENXIO/ENODEV/ENOENT mean no).
Result<bool> DmDeviceExists(sys::DeviceMapper& dm, const std::string& name);

}  // namespace strata::thinpool
