// The thin backend: each volume is a thin device named "vol:<name>" in the devicemapper pool,
// made as a snapshot of a pre-formatted base (thin_base.h) grown to the volume's size, or
// formatted at its size when smaller than a base. Snapshots are thin snapshots: instant, sharing
// blocks with their origin.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>

#include <spdlog/spdlog.h>

#include "core/failpoint.h"
#include "core/sys/fs_resize.h"
#include "core/unique_fd.h"
#include "core/units.h"
#include "drivers/fs_tree.h"
#include "thinpool/pool.h"
#include "thinpool/pool_open.h"
#include "volumes/backend.h"
#include "volumes/fs_stage.h"
#include "volumes/thin_base.h"

namespace strata::volumes {
namespace {

using thinpool::ThinPool;
using thinpool::ThinRecord;

constexpr char kFailpointScope[] = "vol.thin";

std::string ThinName(const std::string& volume) { return "vol:" + volume; }

// Thin devices and filesystems are sized in whole 4 KiB blocks.
uint64_t RoundUpToBlock(uint64_t bytes) { return (bytes + 4095) / 4096 * 4096; }

// Whether `program` is an executable file in a directory of $PATH.
bool OnPath(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/sbin:/usr/bin:/sbin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string dir = dirs.substr(start, end - start);
    if (!dir.empty() && ::access((dir + "/" + program).c_str(), X_OK) == 0) return true;
    start = end + 1;
  }
  return false;
}

// Grows the filesystem mounted at `stage` to fill `device` of `device_bytes`: ext4 with the
// kernel's online-resize ioctl (resize2fs makes the same call, after a process start and a read
// of every group descriptor: ~0.4 s of a ~0.5 s create under emulation); xfs with xfs_growfs.
// The kernel leaves out a last group too small for its metadata, as resize2fs does.
Status GrowMountedFs(Filesystem fs, const std::string& device, const std::string& stage,
                     uint64_t device_bytes) {
  if (fs != Filesystem::kExt4) return GrowFilesystem(fs, device, stage);
  STRATA_ASSIGN_OR_RETURN(uint64_t block_bytes, sys::FsBlockBytes(stage));
  return sys::Ext4GrowFs(stage, device_bytes / block_bytes).Wrap("grow ext4 on " + device);
}

Status MakeDirs(const std::string& root) {
  for (const std::string& dir : {root, root + "/volumes", root + "/volumes/mnt"}) {
    STRATA_TRY(drivers::fs::MakeDir(dir, 0700));
  }
  return Ok();
}

// Whether the pool is needed at all: Destroy and Deactivate of a pool that does not exist have
// nothing to do, and must not build one.
enum class PoolUse { kOpenExisting, kOpenOrCreate };

class ThinBackend final : public Backend {
 public:
  explicit ThinBackend(const BackendEnv& env) : env_(env) {}

  BackendKind kind() const override { return BackendKind::kThin; }
  Status Probe() override;
  Status CheckCreate(const VolumeRecord& volume) override;
  Result<std::string> Create(const VolumeRecord& volume) override;
  Result<std::string> Snapshot(const VolumeRecord& origin, const VolumeRecord& volume) override;
  Status Grow(const VolumeRecord& volume, uint64_t new_size_bytes) override;
  Status Destroy(const VolumeRecord& volume) override;
  Result<std::string> Activate(const VolumeRecord& volume) override;
  Status Deactivate(const VolumeRecord& volume) override;
  Result<BackendDetails> Details(const VolumeRecord& volume) override;

 private:
  const std::string& pool_name() const { return env_.pool_config.pool_name.value; }
  std::string Stage(const VolumeRecord& volume) const { return StageDir(env_.root, volume.name); }
  Result<ThinPool*> Pool(PoolUse use);
  Result<uint32_t> MakeFromBase(ThinPool& pool, const VolumeRecord& volume);
  Result<uint32_t> MakeFormatted(ThinPool& pool, const VolumeRecord& volume);
  Status GrowTo(ThinPool& pool, uint32_t thin_id, const VolumeRecord& volume, uint64_t size_bytes);
  Status GrowFs(ThinPool& pool, uint32_t thin_id, const VolumeRecord& volume,
                uint64_t device_bytes);

  BackendEnv env_;
  std::unique_ptr<ThinPool> pool_;  // opened on first use
};

// The thin id a ready volume's ref holds. EINVAL for anything but a decimal id.
Result<uint32_t> ThinId(const VolumeRecord& volume) {
  const std::string& ref = volume.ref;
  uint32_t id = 0;
  auto [end, ec] = std::from_chars(ref.data(), ref.data() + ref.size(), id);
  if (ref.empty() || ec != std::errc() || end != ref.data() + ref.size()) {
    return Error(EINVAL, "thin volume " + volume.name + ": bad thin id \"" + ref + "\"");
  }
  return id;
}

Result<ThinPool*> ThinBackend::Pool(PoolUse use) {
  if (pool_) return pool_.get();
  STRATA_TRY(MakeDirs(env_.root));
  thinpool::PoolEnv env{env_.dm, env_.loop, env_.store, env_.root};
  if (use == PoolUse::kOpenOrCreate) {
    STRATA_ASSIGN_OR_RETURN(pool_, thinpool::OpenOrCreatePool(env, env_.pool_config, "volumes"));
  } else {
    STRATA_ASSIGN_OR_RETURN_CTX(pool_, ThinPool::Open(env, env_.pool_config),
                                "volumes: open pool " + pool_name());
  }
  return pool_.get();
}

Status ThinBackend::Probe() {
  Status probed = sys::ProbeDeviceMapper();
  if (!probed.ok()) {
    return Error(EOPNOTSUPP, "device-mapper not available: " + probed.error().message());
  }
  return Ok();
}

Status ThinBackend::CheckCreate(const VolumeRecord& volume) {
  const std::string fs(FilesystemName(volume.fs));
  const uint64_t min = MinFilesystemBytes(volume.fs);
  if (volume.size_bytes < min) {
    return Error(EINVAL, "size " + FormatSize(volume.size_bytes) + " is below the " + fs +
                             " minimum of " + FormatSize(min));
  }
  if (!OnPath("mkfs." + fs)) {
    return Error(ENOENT, "mkfs." + fs + ": not found on PATH (install " +
                             (volume.fs == Filesystem::kXfs ? "xfsprogs" : "e2fsprogs") + ")");
  }
  return Ok();
}

// The fast path: a snapshot of the sized base when there is one (thin_base.h); else of the base,
// grown, and then kept as the sized base for the next volume of this size. Falls back to
// formatting when the base is larger than the volume (a base made by another strata version).
Result<uint32_t> ThinBackend::MakeFromBase(ThinPool& pool, const VolumeRecord& volume) {
  const uint64_t size = RoundUpToBlock(volume.size_bytes);
  STRATA_ASSIGN_OR_RETURN(std::optional<ThinBase> sized,
                          FindSizedThinBase(pool, volume.fs, volume.mkfs_options, size));
  ThinBase base;
  if (sized) {
    base = *sized;
  } else {
    STRATA_ASSIGN_OR_RETURN(base, EnsureThinBase(pool, *env_.mounts, env_.root, volume.fs,
                                                 volume.mkfs_options));
  }
  if (base.size_bytes > size) return MakeFormatted(pool, volume);
  STRATA_ASSIGN_OR_RETURN_CTX(uint32_t id, pool.Snapshot(base.thin_id, ThinName(volume.name)),
                              "snapshot the base");
  auto undo = MakeGuard([&] { (void)pool.Delete(id); });  // best effort: rollback
  Failpoint(kFailpointScope, "after-snapshot");
  if (size > base.size_bytes) {
    STRATA_TRY(GrowTo(pool, id, volume, size));
    Status kept = KeepSizedThinBase(pool, env_.root, id, volume.fs, volume.mkfs_options, size);
    if (!kept.ok()) {
      spdlog::warn("volumes: {} (the next volume of this size grows a base again)",
                   kept.error().message());
    }
  }
  undo.Release();
  return id;
}

// The slow path: a new thin device of the volume's size, formatted.
Result<uint32_t> ThinBackend::MakeFormatted(ThinPool& pool, const VolumeRecord& volume) {
  const uint64_t size = RoundUpToBlock(volume.size_bytes);
  STRATA_ASSIGN_OR_RETURN(uint32_t id, pool.CreateThin(size / 512, ThinName(volume.name)));
  auto undo = MakeGuard([&] { (void)pool.Delete(id); });  // best effort: rollback
  Failpoint(kFailpointScope, "after-create-thin");
  STRATA_TRY(FormatThin(pool, *env_.mounts, id, volume.fs, volume.mkfs_options, Stage(volume)));
  undo.Release();
  return id;
}

Result<std::string> ThinBackend::Create(const VolumeRecord& volume) {
  STRATA_TRY(CheckCreate(volume));
  STRATA_ASSIGN_OR_RETURN(ThinPool * pool, Pool(PoolUse::kOpenOrCreate));
  STRATA_ASSIGN_OR_RETURN(uint32_t id, UsesThinBase(volume.fs, volume.size_bytes)
                                           ? MakeFromBase(*pool, volume)
                                           : MakeFormatted(*pool, volume));
  return std::to_string(id);
}

Result<std::string> ThinBackend::Snapshot(const VolumeRecord& origin, const VolumeRecord& volume) {
  STRATA_ASSIGN_OR_RETURN(uint32_t origin_id, ThinId(origin));
  STRATA_ASSIGN_OR_RETURN(ThinPool * pool, Pool(PoolUse::kOpenExisting));
  STRATA_ASSIGN_OR_RETURN(ThinRecord record, pool->FindThin(origin_id));
  const uint64_t origin_bytes = record.size_sectors * 512;
  if (volume.size_bytes != 0 && RoundUpToBlock(volume.size_bytes) < origin_bytes) {
    return Error(EINVAL, "size " + FormatSize(volume.size_bytes) + " is smaller than " +
                             origin.name + "'s " + FormatSize(origin_bytes) +
                             " (a thin snapshot cannot shrink)");
  }
  // An active origin is suspended around create_snap, which freezes its filesystem: the copy is
  // consistent without unmounting it.
  STRATA_ASSIGN_OR_RETURN_CTX(uint32_t id, pool->Snapshot(origin_id, ThinName(volume.name)),
                              "snapshot " + origin.name);
  auto undo = MakeGuard([&] { (void)pool->Delete(id); });  // best effort: rollback
  Failpoint(kFailpointScope, "after-snapshot");
  if (RoundUpToBlock(volume.size_bytes) > origin_bytes) {
    STRATA_TRY(GrowTo(*pool, id, volume, volume.size_bytes));
  }
  undo.Release();
  return std::to_string(id);
}

// Device first, then filesystem; each step is idempotent, so a redo finishes a crashed grow.
Status ThinBackend::GrowTo(ThinPool& pool, uint32_t thin_id, const VolumeRecord& volume,
                           uint64_t size_bytes) {
  const uint64_t wanted = RoundUpToBlock(size_bytes);
  STRATA_ASSIGN_OR_RETURN(ThinRecord record, pool.FindThin(thin_id));
  const uint64_t device_bytes = std::max(wanted, record.size_sectors * 512);
  if (wanted > record.size_sectors * 512) {
    STRATA_TRY_CTX(pool.Grow(thin_id, wanted / 512),
                   "grow thin device " + std::to_string(thin_id) + " to " + FormatSize(wanted));
    Failpoint(kFailpointScope, "after-grow");
  }
  STRATA_TRY_CTX(GrowFs(pool, thin_id, volume, device_bytes),
                 "grow the filesystem to " + FormatSize(device_bytes));
  Failpoint(kFailpointScope, "after-fs-grow");
  return Ok();
}

// Online on the stage when the volume is active; otherwise through a temporary mount there (the
// manager serialises calls for one volume, so nobody activates it meanwhile).
Status ThinBackend::GrowFs(ThinPool& pool, uint32_t thin_id, const VolumeRecord& volume,
                           uint64_t device_bytes) {
  const std::string stage = Stage(volume);
  const std::string device = pool.DevicePath(thin_id);
  STRATA_ASSIGN_OR_RETURN(bool mounted, IsStageMounted(*env_.mounts, stage));
  if (mounted) return GrowMountedFs(volume.fs, device, stage, device_bytes);
  STRATA_ASSIGN_OR_RETURN(bool activated, pool.EnsureActive(thin_id));
  auto deactivate = MakeGuard([&] {
    if (activated) (void)pool.Deactivate(thin_id);  // best effort: rollback
  });
  STRATA_TRY(MountStage(*env_.mounts, volume.fs, volume.mount_options, device, stage));
  auto unmount = MakeGuard([&] { (void)UnmountStage(*env_.mounts, stage); });  // best effort
  STRATA_TRY(GrowMountedFs(volume.fs, device, stage, device_bytes));
  unmount.Release();
  STRATA_TRY(UnmountStage(*env_.mounts, stage));
  deactivate.Release();
  return activated ? pool.Deactivate(thin_id) : Ok();
}

Status ThinBackend::Grow(const VolumeRecord& volume, uint64_t new_size_bytes) {
  STRATA_ASSIGN_OR_RETURN(uint32_t id, ThinId(volume));
  STRATA_ASSIGN_OR_RETURN(ThinPool * pool, Pool(PoolUse::kOpenExisting));
  return GrowTo(*pool, id, volume, new_size_bytes);
}

// By name, not by ref: a crash may have left a device the catalog never learned the id of.
Status ThinBackend::Destroy(const VolumeRecord& volume) {
  STRATA_TRY(UnmountStage(*env_.mounts, Stage(volume)));
  auto pool = Pool(PoolUse::kOpenExisting);
  if (!pool.ok()) return pool.error().code() == ENOENT ? Ok() : std::move(pool).error();
  std::optional<uint32_t> last;
  while (true) {
    STRATA_ASSIGN_OR_RETURN(std::optional<ThinRecord> thin,
                            (*pool)->FindByName(ThinName(volume.name)));
    if (!thin) return Ok();
    if (last == thin->thin_id) {
      return Error(EIO, "thin device " + std::to_string(thin->thin_id) + " is still recorded");
    }
    last = thin->thin_id;
    STRATA_TRY((*pool)->Delete(thin->thin_id));
  }
}

Result<std::string> ThinBackend::Activate(const VolumeRecord& volume) {
  STRATA_ASSIGN_OR_RETURN(uint32_t id, ThinId(volume));
  STRATA_ASSIGN_OR_RETURN(ThinPool * pool, Pool(PoolUse::kOpenExisting));
  STRATA_ASSIGN_OR_RETURN(bool activated, pool->EnsureActive(id));
  auto deactivate = MakeGuard([&] {
    if (activated) (void)pool->Deactivate(id);  // best effort: rollback
  });
  const std::string stage = Stage(volume);
  STRATA_TRY(MountStage(*env_.mounts, volume.fs, volume.mount_options, pool->DevicePath(id), stage));
  deactivate.Release();
  return stage;
}

Status ThinBackend::Deactivate(const VolumeRecord& volume) {
  STRATA_TRY(UnmountStage(*env_.mounts, Stage(volume)));
  if (volume.ref.empty()) return Ok();
  STRATA_ASSIGN_OR_RETURN(uint32_t id, ThinId(volume));
  auto pool = Pool(PoolUse::kOpenExisting);
  if (!pool.ok()) return pool.error().code() == ENOENT ? Ok() : std::move(pool).error();
  return (*pool)->Deactivate(id);
}

// Reads the dm device only: no pool open, no lock.
Result<BackendDetails> ThinBackend::Details(const VolumeRecord& volume) {
  BackendDetails details;
  if (volume.ref.empty()) {
    details.location = "pool " + pool_name() + " (no thin device yet)";
    return details;
  }
  STRATA_ASSIGN_OR_RETURN(uint32_t id, ThinId(volume));
  details.location = "pool " + pool_name() + " thin id " + volume.ref;
  const std::string dm_name = thinpool::ThinDmName(pool_name(), id);
  auto info = env_.dm->Info(dm_name);
  if (!info.ok() || info->uuid != thinpool::ThinDmUuid(pool_name(), id)) return details;
  details.device = std::string(sys::kDmNodeDir) + "/" + dm_name;
  // A thin target's status: "<mapped sectors> <highest mapped sector>".
  auto status = env_.dm->TargetStatus(dm_name, sys::DmFlush::kNoFlush);
  if (status.ok() && status->size() == 1) {
    uint64_t mapped = 0;
    const std::string& params = (*status)[0].params;
    auto [end, ec] = std::from_chars(params.data(), params.data() + params.size(), mapped);
    if (ec == std::errc()) details.used_bytes = mapped * 512;
  }
  return details;
}

}  // namespace

std::unique_ptr<Backend> NewThinBackend(const BackendEnv& env) {
  return std::make_unique<ThinBackend>(env);
}

}  // namespace strata::volumes
