// The local backend: a volume is a plain directory, <root>/volumes/local/<name>/ (0755), or a
// directory the user names with --path, which is adopted: strata never deletes it or its data;
// Destroy only takes off the quota and project id strata put on it.
//
// A size (--size) is enforced with project quotas, where the filesystem enforces them (XFS
// mounted with prjquota; ext4 with the "project" feature likewise): the directory and everything
// in it get a project id of their own with PROJINHERIT, so new entries inherit it, and the
// project gets a hard block limit. Without enforcement a size is refused (EOPNOTSUPP), never
// silently ignored.
//
// Project ids: the next candidate is kept in <root>/volumes/local/.next-project-id (under a
// FileLock), and a candidate the filesystem already has a quota record for (another strata root,
// an administrator's project) is skipped. A crash wastes at most one id.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "core/file_lock.h"
#include "core/sys/quota.h"
#include "core/units.h"
#include "drivers/fs_tree.h"
#include "volumes/backend.h"

namespace strata::volumes {
namespace {

constexpr uint32_t kFirstProjectId = 100000;  // above ids administrators hand-assign
constexpr int kProjectIdAttempts = 1000;
constexpr std::chrono::seconds kProjectLockTimeout{10};

// Whether Unlimit also takes the project id off the directory tree.
enum class ClearIds { kYes, kNo };

std::string Quoted(const std::string& name) { return "volume \"" + name + "\""; }

// Errnos meaning "this filesystem has no (enabled) project quotas".
bool QuotaUnsupported(int code) {
  return code == ENOTTY || code == EOPNOTSUPP || code == ENOSYS || code == ESRCH ||
         code == EINVAL;
}

bool Exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

// The canonical form of `path`, or of its nearest existing ancestor when it does not exist yet.
std::string ExistingAncestor(std::string path) {
  while (!path.empty()) {
    char resolved[PATH_MAX];
    if (::realpath(path.c_str(), resolved) != nullptr) return resolved;
    const size_t slash = path.find_last_of('/');
    path = slash == 0 ? "/" : path.substr(0, slash == std::string::npos ? 0 : slash);
  }
  return "/";
}

// The mount holding canonical `path`: the longest mount point above it, the last one mounted
// when several are stacked there.
const sys::MountEntry* MountOf(const std::vector<sys::MountEntry>& table, const std::string& path) {
  const sys::MountEntry* best = nullptr;
  for (const sys::MountEntry& entry : table) {
    const std::string& mp = entry.mount_point;
    const bool above = mp == "/" || path == mp || path.rfind(mp + "/", 0) == 0;
    if (above && (best == nullptr || mp.size() >= best->mount_point.size())) best = &entry;
  }
  return best;
}

// Sets `project_id` on `dir` and every directory and regular file below it (symlinks and
// special files have no fsxattr to set; they hold no data blocks). `dir` itself goes last, so a
// non-zero id on it means the whole walk finished: a redo after a crash starts over.
Status ApplyProject(sys::Quota& quota, const std::string& dir, uint32_t project_id) {
  namespace stdfs = std::filesystem;
  std::error_code ec;
  const sys::ProjectInherit inherit =
      project_id == 0 ? sys::ProjectInherit::kNo : sys::ProjectInherit::kYes;
  for (auto it = stdfs::recursive_directory_iterator(dir, ec);
       !ec && it != stdfs::recursive_directory_iterator(); it.increment(ec)) {
    const stdfs::file_type type = it->symlink_status(ec).type();
    if (ec) break;
    if (type == stdfs::file_type::directory) {
      STRATA_TRY(quota.SetProjectId(it->path(), project_id, inherit));
    } else if (type == stdfs::file_type::regular) {
      STRATA_TRY(quota.SetProjectId(it->path(), project_id, sys::ProjectInherit::kNo));
    }
  }
  if (ec) return Error(ec.value(), "walk " + dir + ": " + ec.message());
  return quota.SetProjectId(dir, project_id, inherit);
}

class LocalBackend final : public Backend {
 public:
  explicit LocalBackend(const BackendEnv& env)
      : env_(env), quota_(env.quota != nullptr ? *env.quota : sys::LinuxQuota()) {}

  BackendKind kind() const override { return BackendKind::kLocal; }
  Status Probe() override { return Ok(); }  // a directory works anywhere
  Status CheckCreate(const VolumeRecord& volume) override;
  Result<std::string> Create(const VolumeRecord& volume) override;
  Result<std::string> Snapshot(const VolumeRecord& origin, const VolumeRecord& volume) override;
  Status Grow(const VolumeRecord& volume, uint64_t new_size_bytes) override;
  Status Destroy(const VolumeRecord& volume) override;
  Result<std::string> Activate(const VolumeRecord& volume) override;
  Status Deactivate(const VolumeRecord&) override { return Ok(); }  // nothing is mounted
  Result<BackendDetails> Details(const VolumeRecord& volume) override;

 private:
  std::string Home() const { return env_.root + "/volumes/local"; }
  std::string Dir(const VolumeRecord& volume) const {
    if (!volume.ref.empty()) return volume.ref;
    return volume.path.empty() ? Home() + "/" + volume.name : volume.path;
  }
  Status MakeHome() const;
  Status CheckPath(const VolumeRecord& volume) const;
  Status CheckQuota(const VolumeRecord& volume, const std::string& dir);
  Result<uint32_t> AllocateProjectId(const std::string& dir);
  Status Limit(const std::string& dir, uint64_t size_bytes);
  Status Unlimit(const std::string& dir, ClearIds clear_ids);

  BackendEnv env_;
  sys::Quota& quota_;
};

Status LocalBackend::MakeHome() const {
  STRATA_TRY(drivers::fs::MakeDir(env_.root + "/volumes", 0700));
  return drivers::fs::MakeDir(Home(), 0700);
}

// --path: an existing absolute directory.
Status LocalBackend::CheckPath(const VolumeRecord& volume) const {
  const std::string what = Quoted(volume.name) + ": --path " + volume.path;
  if (volume.path.front() != '/') return Error(EINVAL, what + ": not an absolute path");
  struct stat st {};
  if (::stat(volume.path.c_str(), &st) != 0) return Error::FromErrno(what);
  if (!S_ISDIR(st.st_mode)) return Error(ENOTDIR, what + ": not a directory");
  return Ok();
}

// Ok when project quotas are enforced on the filesystem that holds (or will hold) `dir`;
// EOPNOTSUPP naming the filesystem and the fix otherwise.
Status LocalBackend::CheckQuota(const VolumeRecord& volume, const std::string& dir) {
  const std::string at = ExistingAncestor(dir);
  Result<sys::ProjectQuotaState> state = quota_.GetProjectQuotaState(at);
  if (state.ok() && state->enforced) return Ok();
  if (!state.ok() && !QuotaUnsupported(state.error().code())) {
    return std::move(state).error().Wrap(Quoted(volume.name) + ": --size");
  }
  std::string found = "unknown filesystem";
  Result<std::vector<sys::MountEntry>> table = env_.mounts->MountInfo();
  const sys::MountEntry* mount = table.ok() ? MountOf(*table, at) : nullptr;
  if (mount != nullptr) {
    found = mount->fs_type + " (mounted at " + mount->mount_point + ")";
    if (mount->fs_type == "xfs") found += " without project quota enforcement";
  }
  return Error(EOPNOTSUPP, Quoted(volume.name) +
                               ": --size on the local backend needs XFS with project quotas "
                               "(mount option prjquota) under " + dir + "; " + at + " is on " +
                               found);
}

Status LocalBackend::CheckCreate(const VolumeRecord& volume) {
  if (!volume.path.empty()) STRATA_TRY(CheckPath(volume));
  if (volume.size_bytes > 0) STRATA_TRY(CheckQuota(volume, Dir(volume)));
  return Ok();
}

// A project id nothing on `dir`'s filesystem uses yet (no quota record, or an empty one).
Result<uint32_t> LocalBackend::AllocateProjectId(const std::string& dir) {
  STRATA_TRY(MakeHome());
  STRATA_ASSIGN_OR_RETURN(FileLock lock,
                          FileLock::Acquire(Home(), ".project-ids", "local volume project ids",
                                            FileLock::Wait::kBlock, kProjectLockTimeout));
  const std::string counter = Home() + "/.next-project-id";
  uint32_t id = kFirstProjectId;
  Result<std::string> text = drivers::fs::ReadFile(counter);
  if (text.ok()) {
    id = static_cast<uint32_t>(std::strtoul(text->c_str(), nullptr, 10));
    if (id < kFirstProjectId) id = kFirstProjectId;
  } else if (text.error().code() != ENOENT) {
    return std::move(text).error();
  }
  for (int attempt = 0; attempt < kProjectIdAttempts; ++attempt, ++id) {
    Result<sys::ProjectUsage> usage = quota_.GetProjectUsage(dir, id);
    const bool free = usage.ok() ? usage->used_bytes == 0 && usage->hard_limit_bytes == 0
                                 : usage.error().code() == ENOENT;
    if (!usage.ok() && !free) return std::move(usage).error();
    if (!free) continue;
    // Persisted before use: a crash after this wastes the id, never hands it out twice.
    STRATA_TRY(drivers::fs::WriteFileAtomic(counter, std::to_string(id + 1) + "\n"));
    return id;
  }
  return Error(ENOSPC, "no free project id from " + std::to_string(id - kProjectIdAttempts));
}

// Gives `dir` a project of its own (unless it has one) and a hard limit of `size_bytes`.
// Idempotent: a redo reuses the project id the directory carries.
Status LocalBackend::Limit(const std::string& dir, uint64_t size_bytes) {
  STRATA_ASSIGN_OR_RETURN(uint32_t id, quota_.GetProjectId(dir));
  if (id == 0) {
    STRATA_ASSIGN_OR_RETURN(id, AllocateProjectId(dir));
    STRATA_TRY(ApplyProject(quota_, dir, id));
  }
  return quota_.SetProjectLimit(dir, id, size_bytes);
}

// Removes the limit of `dir`'s project and, for an adopted directory, the project id itself.
// A filesystem without project ids or quotas has nothing to remove.
Status LocalBackend::Unlimit(const std::string& dir, ClearIds clear_ids) {
  Result<uint32_t> id = quota_.GetProjectId(dir);
  if (!id.ok()) return QuotaUnsupported(id.error().code()) ? Ok() : std::move(id).error();
  if (*id == 0) return Ok();
  Status cleared = quota_.SetProjectLimit(dir, *id, 0);
  if (!cleared.ok() && !QuotaUnsupported(cleared.error().code())) return cleared;
  if (clear_ids == ClearIds::kYes) STRATA_TRY(ApplyProject(quota_, dir, 0));
  return Ok();
}

Result<std::string> LocalBackend::Create(const VolumeRecord& volume) {
  const std::string what = "create local " + Quoted(volume.name);
  STRATA_TRY_CTX(CheckCreate(volume), what);
  const std::string dir = Dir(volume);
  const bool adopted = !volume.path.empty();
  if (!adopted) {
    STRATA_TRY_CTX(MakeHome(), what);
    if (::mkdir(dir.c_str(), 0755) != 0) return Error::FromErrno("mkdir " + dir).Wrap(what);
    (void)::chmod(dir.c_str(), 0755);  // best effort: umask-proof, mkdir already made it
  }
  auto undo = MakeGuard([&] { (void)Destroy(volume); });  // best effort: rollback
  if (volume.size_bytes > 0) STRATA_TRY_CTX(Limit(dir, volume.size_bytes), what);
  undo.Release();
  return dir;
}

// A copy of the origin's tree (modes, owners, times, xattrs, holes: drivers::fs::CopyTree). A
// directory cannot be frozen: files the origin's users write during the copy may be copied
// half-written, so snapshot quiet volumes.
Result<std::string> LocalBackend::Snapshot(const VolumeRecord& origin, const VolumeRecord& volume) {
  const std::string what = "snapshot local " + Quoted(origin.name) + " as " + Quoted(volume.name);
  if (!volume.path.empty()) {
    return Error(EINVAL, what + ": a snapshot lives under " + Home() + " (no --path)");
  }
  const std::string dir = Dir(volume);
  if (volume.size_bytes > 0) STRATA_TRY_CTX(CheckQuota(volume, dir), what);
  STRATA_TRY_CTX(MakeHome(), what);
  if (Exists(dir)) return Error(EEXIST, what + ": " + dir + " exists");
  auto undo = MakeGuard([&] { (void)Destroy(volume); });  // best effort: rollback
  STRATA_TRY_CTX(drivers::fs::CopyTree(Dir(origin), dir), what);
  if (volume.size_bytes > 0) STRATA_TRY_CTX(Limit(dir, volume.size_bytes), what);
  undo.Release();
  return dir;
}

Status LocalBackend::Grow(const VolumeRecord& volume, uint64_t new_size_bytes) {
  const std::string what = "grow local " + Quoted(volume.name) + " to " + FormatSize(new_size_bytes);
  const std::string dir = Dir(volume);
  STRATA_TRY_CTX(CheckQuota(volume, dir), what);
  STRATA_TRY_CTX(Limit(dir, new_size_bytes), what);
  return Ok();
}

Status LocalBackend::Destroy(const VolumeRecord& volume) {
  const std::string what = "destroy local " + Quoted(volume.name);
  const std::string dir = Dir(volume);
  if (!Exists(dir)) return Ok();
  if (!volume.path.empty()) {
    // Adopted: the data is the user's; only strata's project id and limit go.
    return Unlimit(dir, ClearIds::kYes).Wrap(what);
  }
  STRATA_TRY_CTX(Unlimit(dir, ClearIds::kNo), what);
  return drivers::fs::RemoveTree(dir).Wrap(what);
}

Result<std::string> LocalBackend::Activate(const VolumeRecord& volume) {
  const std::string dir = Dir(volume);
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    return Error::FromErrno(dir).Wrap("activate local " + Quoted(volume.name));
  }
  return dir;
}

Result<BackendDetails> LocalBackend::Details(const VolumeRecord& volume) {
  BackendDetails details;
  details.location = Dir(volume);
  Result<uint32_t> id = quota_.GetProjectId(details.location);
  if (id.ok() && *id != 0) {
    Result<sys::ProjectUsage> usage = quota_.GetProjectUsage(details.location, *id);
    if (usage.ok()) details.used_bytes = usage->used_bytes;
  }
  return details;
}

}  // namespace

std::unique_ptr<Backend> NewLocalBackend(const BackendEnv& env) {
  return std::make_unique<LocalBackend>(env);
}

}  // namespace strata::volumes
