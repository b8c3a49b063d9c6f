#include "volumes/thin_base.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <optional>

#include "core/digest.h"
#include "core/failpoint.h"
#include "core/file_lock.h"
#include "core/unique_fd.h"
#include "core/units.h"
#include "volumes/backend.h"
#include "volumes/fs_stage.h"

namespace strata::volumes {
namespace {

using thinpool::ThinPool;
using thinpool::ThinRecord;

constexpr char kBasePrefix[] = "volbase:";
constexpr char kUnformattedBasePrefix[] = "volbase.unformatted:";
// Formatting a base takes seconds under emulation; a second process waits for it.
constexpr std::chrono::seconds kBaseLockTimeout{120};

// Volume names start with a letter or digit, so this stage never is a volume's.
std::string BaseStageDir(const std::string& root, const std::string& pool) {
  return root + "/volumes/mnt/.volbase-" + pool;
}

Result<FileLock> LockBases(const std::string& root, const std::string& pool) {
  const std::string locks = root + "/locks";
  if (::mkdir(locks.c_str(), 0700) != 0 && errno != EEXIST) {
    return Error::FromErrno("create " + locks);
  }
  return FileLock::Acquire(locks + "/pools", pool + ".volbase", "thin volume bases of pool " + pool,
                           FileLock::Wait::kBlock, kBaseLockTimeout);
}

ThinBase BaseOf(const ThinRecord& record) { return {record.thin_id, record.size_sectors * 512}; }

// Called with the bases' lock held: nobody else is making or using an unformatted base.
Result<ThinBase> MakeThinBase(ThinPool& pool, sys::Mounts& mounts, const std::string& root,
                              Filesystem fs, const std::vector<std::string>& mkfs_options) {
  const std::string name = ThinBaseName(fs, mkfs_options);
  const std::string unformatted = kUnformattedBasePrefix + name.substr(sizeof(kBasePrefix) - 1);
  const std::string stage = BaseStageDir(root, pool.name());
  // A process killed while formatting left the stage mounted and the device active.
  STRATA_TRY_CTX(UnmountStage(mounts, stage), "remove a half-made thin volume base");
  while (true) {
    STRATA_ASSIGN_OR_RETURN(std::optional<ThinRecord> stale, pool.FindByName(unformatted));
    if (!stale) break;
    STRATA_TRY_CTX(pool.Delete(stale->thin_id), "remove a half-made thin volume base");
  }
  spdlog::info("volumes: formatting the {} base of thin volumes ({}), once for these mkfs options",
               FilesystemName(fs), FormatSize(kThinBaseBytes));
  STRATA_ASSIGN_OR_RETURN(uint32_t id, pool.CreateThin(kThinBaseBytes / 512, unformatted));
  auto undo = MakeGuard([&] { (void)pool.Delete(id); });  // best effort: rollback
  Failpoint("vol.thin", "base-created");
  STRATA_TRY_CTX(FormatThin(pool, mounts, id, fs, mkfs_options, stage),
                 "format the " + std::string(FilesystemName(fs)) + " base of thin volumes");
  Failpoint("vol.thin", "base-formatted");
  STRATA_TRY(pool.Rename(id, name));
  undo.Release();
  return ThinBase{id, kThinBaseBytes};
}

}  // namespace

bool UsesThinBase(Filesystem fs, uint64_t size_bytes) {
  if (size_bytes < kThinBaseBytes) return false;
  return fs != Filesystem::kXfs || size_bytes <= kThinXfsBaseMaxBytes;
}

std::string ThinBaseName(Filesystem fs, const std::vector<std::string>& mkfs_options) {
  Sha256 sha;
  for (const std::string& option : mkfs_options) sha.Update(option.c_str(), option.size() + 1);
  auto digest = sha.Final();  // "sha256:<hex>"
  std::string hash = digest.ok() ? digest->substr(7, 12) : "nohash";
  return kBasePrefix + std::string(FilesystemName(fs)) + ":" + hash;
}

Status FormatThin(ThinPool& pool, sys::Mounts& mounts, uint32_t thin_id, Filesystem fs,
                  const std::vector<std::string>& mkfs_options, const std::string& stage_dir) {
  STRATA_ASSIGN_OR_RETURN(bool activated, pool.EnsureActive(thin_id));
  auto deactivate = MakeGuard([&] {
    if (activated) (void)pool.Deactivate(thin_id);  // best effort: rollback
  });
  const std::string device = pool.DevicePath(thin_id);
  STRATA_TRY(MakeFilesystem(fs, mkfs_options, device));
  STRATA_TRY(MountStage(mounts, fs, {}, device, stage_dir));
  auto unmount = MakeGuard([&] { (void)UnmountStage(mounts, stage_dir); });  // best effort
  STRATA_TRY(RemoveLostFound(stage_dir));
  unmount.Release();
  STRATA_TRY(UnmountStage(mounts, stage_dir));
  deactivate.Release();
  return pool.Deactivate(thin_id);
}

Result<ThinBase> EnsureThinBase(ThinPool& pool, sys::Mounts& mounts, const std::string& root,
                                Filesystem fs, const std::vector<std::string>& mkfs_options) {
  const std::string name = ThinBaseName(fs, mkfs_options);
  STRATA_ASSIGN_OR_RETURN(std::optional<ThinRecord> base, pool.FindByName(name));
  if (base) return BaseOf(*base);
  STRATA_ASSIGN_OR_RETURN(FileLock lock, LockBases(root, pool.name()));
  STRATA_ASSIGN_OR_RETURN(base, pool.FindByName(name));  // made meanwhile by another process?
  if (base) return BaseOf(*base);
  return MakeThinBase(pool, mounts, root, fs, mkfs_options);
}

std::string SizedThinBaseName(Filesystem fs, const std::vector<std::string>& mkfs_options,
                              uint64_t size_bytes) {
  return ThinBaseName(fs, mkfs_options) + "@" + std::to_string(size_bytes);
}

Result<std::optional<ThinBase>> FindSizedThinBase(ThinPool& pool, Filesystem fs,
                                                  const std::vector<std::string>& mkfs_options,
                                                  uint64_t size_bytes) {
  STRATA_ASSIGN_OR_RETURN(std::optional<ThinRecord> found,
                          pool.FindByName(SizedThinBaseName(fs, mkfs_options, size_bytes)));
  if (!found) return std::optional<ThinBase>();
  return std::optional<ThinBase>(BaseOf(*found));
}

Status KeepSizedThinBase(ThinPool& pool, const std::string& root, uint32_t fresh_id,
                         Filesystem fs, const std::vector<std::string>& mkfs_options,
                         uint64_t size_bytes) {
  const std::string name = SizedThinBaseName(fs, mkfs_options, size_bytes);
  STRATA_ASSIGN_OR_RETURN(FileLock lock, LockBases(root, pool.name()));
  STRATA_ASSIGN_OR_RETURN(std::optional<ThinRecord> existing, pool.FindByName(name));
  if (existing) return Ok();
  STRATA_TRY_CTX(pool.Snapshot(fresh_id, name), "keep a base of " + FormatSize(size_bytes));
  const std::string prefix = ThinBaseName(fs, mkfs_options) + "@";
  STRATA_ASSIGN_OR_RETURN(std::vector<ThinRecord> all, pool.List());
  std::vector<uint32_t> sized;  // List is by thin id: oldest first
  for (const ThinRecord& r : all) {
    if (r.name.rfind(prefix, 0) == 0 && r.state == "ready") sized.push_back(r.thin_id);
  }
  for (size_t i = 0; i + kMaxSizedBases < sized.size(); ++i) {
    STRATA_TRY_CTX(pool.Delete(sized[i]), "drop an old sized base");
  }
  return Ok();
}

}  // namespace strata::volumes
