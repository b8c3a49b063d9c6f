#include "thinpool/pool_backing.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "thinpool/sizing.h"

namespace strata::thinpool {
namespace {

constexpr uint32_t kLoopMajor = 7;
constexpr size_t kHeadBytes = 4096;

Status WriteZeroHead(int fd, const std::string& path) {
  char zeroes[kHeadBytes] = {};
  ssize_t n = ::pwrite(fd, zeroes, sizeof(zeroes), 0);
  if (n < 0) return Error::FromErrno("zero the first 4 KiB of " + path);
  if (static_cast<size_t>(n) != sizeof(zeroes)) {
    return Error(EIO, "zero the first 4 KiB of " + path + ": short write");
  }
  if (::fsync(fd) != 0) return Error::FromErrno("fsync " + path);
  return Ok();
}

}  // namespace

Result<CreatedFileGuard> CreateSparseFile(const std::string& path, uint64_t size_bytes,
                                          bool zero_head) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd) return Error::FromErrno("create " + path);
  CreatedFileGuard guard(path);  // from here on the file is ours to remove on failure
  if (::ftruncate(fd.Get(), static_cast<off_t>(size_bytes)) != 0) {
    return Error::FromErrno("set the size of " + path);
  }
  if (zero_head) STRATA_TRY(WriteZeroHead(fd.Get(), path));
  return guard;
}

Status ZeroHead(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return Error::FromErrno("open " + path);
  return WriteZeroHead(fd.Get(), path);
}

Status GrowFile(const std::string& path, uint64_t size_bytes) {
  STRATA_ASSIGN_OR_RETURN(uint64_t current, SizeOfPath(path));
  if (size_bytes < current) {
    return Error(EINVAL, "cannot shrink " + path + " from " + std::to_string(current) + " to " +
                             std::to_string(size_bytes) + " bytes");
  }
  if (size_bytes == current) return Ok();
  // Sparse growth: the host filesystem may later run out under the pool; error-if-no-space and
  // the minimum-free-space rule are the guard rails (fallocate would reserve it all up front).
  if (::truncate(path.c_str(), static_cast<off_t>(size_bytes)) != 0) {
    return Error::FromErrno("grow " + path);
  }
  return Ok();
}

Result<uint64_t> SizeOfPath(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Error::FromErrno("open " + path);
  off_t end = ::lseek(fd.Get(), 0, SEEK_END);
  if (end < 0) return Error::FromErrno("size of " + path);
  return static_cast<uint64_t>(end);
}

Result<DevRef> BlockDevRef(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Error::FromErrno("stat " + path);
  if (!S_ISBLK(st.st_mode)) return Error(ENOTBLK, path + ": not a block device");
  return DevRef{::major(st.st_rdev), ::minor(st.st_rdev)};
}

DevRef LoopDevRef(const sys::LoopDevice& device) {
  Result<DevRef> node = BlockDevRef(device.path);
  if (node.ok()) return *node;
  return DevRef{kLoopMajor, static_cast<uint32_t>(device.index)};
}

Result<uint64_t> MetadataBytesFor(const PoolConfig& config) {
  if (config.metadata_size_bytes.value != 0) return config.metadata_size_bytes.value;
  return RecommendedMetadataBytes(config.data_size_bytes.value, config.block_size_sectors.value);
}

Result<MappingTable> PoolTableFor(const PoolConfig& config, DevRef metadata, DevRef data,
                                  uint64_t data_bytes) {
  ThinPoolParams params;
  params.metadata = metadata;
  params.data = data;
  params.block_size_sectors = config.block_size_sectors.value;
  STRATA_TRY(ValidateBlockSizeSectors(params.block_size_sectors));
  params.data_length_sectors =
      DataBlocks(data_bytes, params.block_size_sectors) * params.block_size_sectors;
  STRATA_ASSIGN_OR_RETURN(params.low_water_mark_blocks,
                          EffectiveLowWaterMarkBlocks(config, data_bytes));
  params.zero_blocks = config.zero_blocks.value;
  params.discard = config.discard.value;
  params.error_if_no_space = config.error_if_no_space.value;
  return ThinPoolTable(params);
}

Status CreateDmDevice(sys::DeviceMapper& dm, const std::string& name, const std::string& uuid,
                      const MappingTable& table) {
  STRATA_TRY(dm.Create(name, uuid));
  DmDeviceGuard guard(dm, name);  // a device without a live table is useless: remove on failure
  STRATA_TRY(dm.Load(name, table));
  STRATA_TRY(dm.Resume(name));
  guard.Release();
  return Ok();
}

Result<bool> DmDeviceExists(sys::DeviceMapper& dm, const std::string& name) {
  Result<sys::DmDeviceInfo> info = dm.Info(name);
  if (info.ok()) return true;
  int code = info.error().code();
  if (code == ENXIO || code == ENODEV || code == ENOENT) return false;
  return std::move(info).error();
}

}  // namespace strata::thinpool
