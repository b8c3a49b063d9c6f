#include "volumes/manager.h"

#include <cerrno>
#include <ctime>
#include <filesystem>
#include <system_error>
#include <utility>

#include <spdlog/spdlog.h>

#include "core/failpoint.h"
#include "core/strings.h"
#include "core/units.h"
#include "core/unique_fd.h"

namespace strata::volumes {
namespace {

int64_t NowUnix() { return static_cast<int64_t>(::time(nullptr)); }

std::string Quoted(const std::string& s) { return "\"" + s + "\""; }

std::unique_ptr<Backend> MakeRealBackend(BackendKind kind, const BackendEnv& env) {
  switch (kind) {
    case BackendKind::kThin:
      return NewThinBackend(env);
    case BackendKind::kLoop:
      return NewLoopBackend(env);
    case BackendKind::kLocal:
      return NewLocalBackend(env);
  }
  return nullptr;
}

}  // namespace

Manager::Manager(ManagerEnv env) : env_(std::move(env)), catalog_(*env_.backend_env.store) {
  if (!env_.make_backend) env_.make_backend = MakeRealBackend;
}

Manager::~Manager() = default;

Result<Backend*> Manager::BackendFor(BackendKind kind) {
  auto found = backends_.find(kind);
  if (found != backends_.end()) return found->second.get();
  std::unique_ptr<Backend> backend = env_.make_backend(kind, env_.backend_env);
  if (!backend) return Error(EINVAL, "no backend " + std::string(BackendName(kind)));
  Backend* raw = backend.get();
  backends_.emplace(kind, std::move(backend));
  return raw;
}

BackendKind Manager::DefaultBackend() {
  if (env_.defaults.backend) return *env_.defaults.backend;
  if (!default_backend_) {
    auto thin = BackendFor(BackendKind::kThin);
    default_backend_ =
        thin.ok() && (*thin)->Probe().ok() ? BackendKind::kThin : BackendKind::kLoop;
  }
  return *default_backend_;
}

std::string Manager::LockDir() {
  const std::string dir = env_.backend_env.root + "/locks/volumes";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);  // errors surface from FileLock::Acquire
  return dir;
}

Result<FileLock> Manager::LockName(const std::string& name) {
  return FileLock::Acquire(LockDir(), name,
                           "volume " + Quoted(name), FileLock::Wait::kBlock,
                           std::chrono::duration_cast<std::chrono::milliseconds>(
                               kVolumeLockTimeout));
}

Error Manager::NoSuchVolume(const std::string& name) {
  std::vector<std::string> names;
  if (auto all = catalog_.Names(); all.ok()) names = std::move(all).value();
  std::vector<std::string_view> views(names.begin(), names.end());
  return Error(ENOENT, "no such volume " + Quoted(name) + DidYouMean(name, views));
}

Result<VolumeRecord> Manager::FindReady(const std::string& name) {
  STRATA_ASSIGN_OR_RETURN(std::optional<VolumeRecord> row, catalog_.Find(name));
  if (!row || row->state == VolumeState::kCreating || row->state == VolumeState::kRemoving) {
    return NoSuchVolume(name);
  }
  return std::move(*row);
}

// --- Recovery ------------------------------------------------------------------------------

Status Manager::Recover() {
  if (recovered_) return Ok();
  STRATA_ASSIGN_OR_RETURN(std::vector<VolumeRecord> rows, catalog_.Unsettled());
  for (const VolumeRecord& row : rows) {
    auto lock = FileLock::Acquire(LockDir(), row.name,
                                  "volume " + Quoted(row.name), FileLock::Wait::kTry,
                                  std::chrono::milliseconds(0));
    if (!lock.ok()) {
      if (lock.error().code() == EWOULDBLOCK) continue;  // a live process is working on it
      return std::move(lock).error();
    }
    // Re-read under the lock: the holder may have finished between the query and the lock.
    STRATA_ASSIGN_OR_RETURN(std::optional<VolumeRecord> fresh, catalog_.Find(row.name));
    if (!fresh || fresh->state == VolumeState::kReady) continue;
    STRATA_TRY(SettleLocked(*fresh));
  }
  recovered_ = true;
  return Ok();
}

// Settles one unsettled row; the caller holds its lock.
Status Manager::SettleLocked(const VolumeRecord& row) {
  const std::string what = "recover volume " + Quoted(row.name);
  STRATA_ASSIGN_OR_RETURN_CTX(Backend * backend, BackendFor(row.backend), what);
  switch (row.state) {
    case VolumeState::kReady:
      return Ok();
    case VolumeState::kCreating:
    case VolumeState::kRemoving:
      return Destroy(row).Wrap(what);
    case VolumeState::kResizing: {
      VolumeRecord done = row;
      Status grown = backend->Grow(row, row.pending_size_bytes);
      if (grown.ok()) {
        done.size_bytes = row.pending_size_bytes;
      } else {  // keep the old size: the volume stays usable, and `vol resize` can try again
        spdlog::warn("{}: finishing an interrupted resize to {} failed, size stays {}: {}", what,
                     FormatSize(row.pending_size_bytes), FormatSize(row.size_bytes),
                     grown.error().message());
      }
      done.pending_size_bytes = 0;
      done.state = VolumeState::kReady;
      return catalog_.Update(done).Wrap(what);
    }
  }
  return Ok();
}

// Removes storage, then the row (and its attachment rows). The row is 'removing' or 'creating'.
Status Manager::Destroy(VolumeRecord volume) {
  STRATA_ASSIGN_OR_RETURN(Backend * backend, BackendFor(volume.backend));
  STRATA_ASSIGN_OR_RETURN(std::vector<Attachment> attached, catalog_.Attachments(volume.name));
  for (const Attachment& a : attached) STRATA_TRY(DetachOne(a));
  STRATA_TRY(backend->Deactivate(volume));
  Failpoint("vol.rm", "after-deactivate");
  STRATA_TRY(backend->Destroy(volume));
  Failpoint("vol.rm", "after-destroy");
  return catalog_.Delete(volume.name);
}

// --- Create and snapshot ---------------------------------------------------------------------

Result<VolumeRecord> Manager::PlanCreate(const CreateRequest& request, Backend** backend_out) {
  STRATA_TRY(CheckVolumeName(request.name));
  VolumeRecord v;
  v.name = request.name;
  v.backend = request.backend.value_or(DefaultBackend());
  v.fs = request.fs.value_or(env_.defaults.fs);
  v.size_bytes = request.size_bytes.value_or(env_.defaults.size_bytes);
  v.mkfs_options = request.mkfs_options.value_or(env_.defaults.mkfs_options);
  v.mount_options = request.mount_options.value_or(env_.defaults.mount_options);
  v.labels = request.labels;
  v.path = request.path;
  v.created_unix = NowUnix();
  if (v.backend == BackendKind::kLocal && !request.size_bytes) v.size_bytes = 0;
  if (!request.path.empty() && v.backend != BackendKind::kLocal) {
    return Error(EINVAL, "--path is for the local backend only");
  }
  STRATA_ASSIGN_OR_RETURN(Backend * backend, BackendFor(v.backend));
  STRATA_TRY_CTX(backend->Probe(), "backend " + std::string(BackendName(v.backend)));
  *backend_out = backend;
  return v;
}

// Makes the origin-based part of a create: same backend and filesystem, at least its size.
Result<VolumeRecord> FromOrigin(VolumeRecord v, const CreateRequest& request,
                                const VolumeRecord& origin) {
  if (request.backend && *request.backend != origin.backend) {
    return Error(EINVAL, "--backend " + std::string(BackendName(*request.backend)) +
                             " differs from " + Quoted(origin.name) + "'s backend " +
                             std::string(BackendName(origin.backend)));
  }
  if (request.fs && *request.fs != origin.fs) {
    return Error(EINVAL, "--fs differs from " + Quoted(origin.name) + "'s filesystem " +
                             std::string(thinpool::FilesystemName(origin.fs)));
  }
  v.backend = origin.backend;
  v.fs = origin.fs;
  v.mkfs_options = origin.mkfs_options;
  v.mount_options = request.mount_options.value_or(origin.mount_options);
  v.path.clear();
  if (!request.size_bytes) v.size_bytes = origin.size_bytes;
  if (v.size_bytes < origin.size_bytes) {
    return Error(EINVAL, "size " + FormatSize(v.size_bytes) + " is smaller than " +
                             Quoted(origin.name) + "'s " + FormatSize(origin.size_bytes) +
                             " (volumes never shrink)");
  }
  v.origin = origin.name;
  return v;
}

Result<VolumeRecord> Manager::Create(const CreateRequest& request) {
  const std::string what = "vol create " + Quoted(request.name);
  STRATA_TRY_CTX(Recover(), what);
  Backend* backend = nullptr;
  std::optional<VolumeRecord> origin;
  CreateRequest effective = request;
  if (!request.from.empty()) {
    STRATA_ASSIGN_OR_RETURN_CTX(origin, FindReady(request.from), what);
    effective.backend = request.backend.value_or(origin->backend);
  }
  STRATA_ASSIGN_OR_RETURN_CTX(VolumeRecord v, PlanCreate(effective, &backend), what);
  if (origin) {
    STRATA_ASSIGN_OR_RETURN_CTX(v, FromOrigin(std::move(v), request, *origin), what);
  }
  STRATA_TRY_CTX(backend->CheckCreate(v), what);
  return RunCreate(std::move(v), *backend, origin).Wrap(what);
}

Result<VolumeRecord> Manager::Snapshot(const std::string& origin_name, const std::string& name,
                                       const std::map<std::string, std::string>& labels) {
  const std::string what = "vol snapshot " + Quoted(origin_name) + " " + Quoted(name);
  STRATA_TRY_CTX(Recover(), what);
  STRATA_TRY_CTX(CheckVolumeName(name), what);
  STRATA_ASSIGN_OR_RETURN_CTX(VolumeRecord origin, FindReady(origin_name), what);
  VolumeRecord v = origin;
  v.name = name;
  v.labels = labels;
  v.path.clear();
  v.ref.clear();
  v.origin = origin.name;
  v.snapshot = true;
  v.state = VolumeState::kCreating;
  v.pending_size_bytes = 0;
  v.created_unix = NowUnix();
  STRATA_ASSIGN_OR_RETURN_CTX(Backend * backend, BackendFor(v.backend), what);
  return RunCreate(std::move(v), *backend, origin).Wrap(what);
}

// Locks the name (and the origin's, in name order), records 'creating', makes the storage, and
// marks the row ready. A failure destroys what was made and drops the row.
Result<VolumeRecord> Manager::RunCreate(VolumeRecord v, Backend& backend,
                                        const std::optional<VolumeRecord>& origin) {
  std::optional<FileLock> first, second;
  if (origin && origin->name < v.name) {
    STRATA_ASSIGN_OR_RETURN(first, LockName(origin->name));
  }
  STRATA_ASSIGN_OR_RETURN(second, LockName(v.name));
  std::optional<FileLock> third;
  if (origin && origin->name > v.name) {
    STRATA_ASSIGN_OR_RETURN(third, LockName(origin->name));
  }
  STRATA_ASSIGN_OR_RETURN(std::optional<VolumeRecord> leftover, catalog_.Find(v.name));
  if (leftover && leftover->state != VolumeState::kReady) {
    STRATA_TRY(SettleLocked(*leftover));  // an interrupted operation on this name
  }
  std::optional<VolumeRecord> source;
  if (origin) {  // re-read under the lock: it may have been removed or grown meanwhile
    STRATA_ASSIGN_OR_RETURN(source, FindReady(origin->name));
  }
  v.state = VolumeState::kCreating;
  STRATA_TRY(catalog_.Insert(v));
  Failpoint("vol.create", "after-record");
  Result<std::string> ref =
      source ? backend.Snapshot(*source, v) : backend.Create(v);
  if (!ref.ok()) {
    (void)Destroy(v);  // best effort: the backend already cleaned up; drop the row
    return std::move(ref).error();
  }
  Failpoint("vol.create", "after-backend");
  v.ref = std::move(ref).value();
  v.state = VolumeState::kReady;
  STRATA_TRY(catalog_.Update(v));
  return v;
}

// --- Resize and remove -----------------------------------------------------------------------

Result<VolumeRecord> Manager::Resize(const std::string& name, uint64_t size_bytes) {
  const std::string what = "vol resize " + Quoted(name);
  STRATA_TRY_CTX(Recover(), what);
  STRATA_ASSIGN_OR_RETURN_CTX(FileLock lock, LockName(name), what);
  STRATA_ASSIGN_OR_RETURN_CTX(VolumeRecord v, FindReady(name), what);
  if (v.backend == BackendKind::kLocal && v.size_bytes == 0) {
    // A local volume without a quota: Grow sets one (or says why it cannot).
  } else if (size_bytes < v.size_bytes) {
    return Error(EINVAL, what + ": " + FormatSize(size_bytes) + " is smaller than its size " +
                             FormatSize(v.size_bytes) + " (volumes only grow)");
  } else if (size_bytes == v.size_bytes) {
    return v;
  }
  STRATA_ASSIGN_OR_RETURN_CTX(Backend * backend, BackendFor(v.backend), what);
  v.state = VolumeState::kResizing;
  v.pending_size_bytes = size_bytes;
  STRATA_TRY_CTX(catalog_.Update(v), what);
  Failpoint("vol.resize", "after-record");
  Status grown = backend->Grow(v, size_bytes);
  Failpoint("vol.resize", "after-grow");
  if (grown.ok()) v.size_bytes = size_bytes;
  v.state = VolumeState::kReady;
  v.pending_size_bytes = 0;
  STRATA_TRY_CTX(catalog_.Update(v), what);
  if (!grown.ok()) return std::move(grown).error().Wrap(what);
  return v;
}

Result<bool> Manager::Remove(const std::string& name, bool force) {
  const std::string what = "vol rm " + Quoted(name);
  STRATA_TRY_CTX(Recover(), what);
  STRATA_ASSIGN_OR_RETURN_CTX(FileLock lock, LockName(name), what);
  STRATA_ASSIGN_OR_RETURN_CTX(std::optional<VolumeRecord> row, catalog_.Find(name), what);
  if (!row) return false;
  if (row->state != VolumeState::kReady) {  // interrupted earlier: settle, then remove
    STRATA_TRY_CTX(SettleLocked(*row), what);
    STRATA_ASSIGN_OR_RETURN_CTX(row, catalog_.Find(name), what);
    if (!row) return false;
  }
  STRATA_ASSIGN_OR_RETURN_CTX(std::vector<Attachment> live, LiveAttachments(name, true), what);
  if (!live.empty() && !force) {
    std::vector<std::string> targets;
    for (const Attachment& a : live) targets.push_back(a.target);
    return Error(EBUSY, what + ": attached at " + Join(targets, ", ") +
                            " (detach it first, or use --force)");
  }
  row->state = VolumeState::kRemoving;
  STRATA_TRY_CTX(catalog_.Update(*row), what);
  Failpoint("vol.rm", "after-record");
  STRATA_TRY_CTX(Destroy(*row), what);
  lock.RemoveFile();
  return true;
}

Result<std::vector<std::string>> Manager::Prune(const std::vector<VolumeFilter>& filters) {
  STRATA_ASSIGN_OR_RETURN(std::vector<VolumeInfo> all, List(filters));
  std::vector<std::string> removed;
  for (const VolumeInfo& info : all) {
    if (!info.attachments.empty()) continue;
    Result<bool> gone = Remove(info.record.name, false);
    if (!gone.ok()) {
      if (gone.error().code() == EBUSY) continue;  // attached meanwhile
      return std::move(gone).error().Wrap("vol prune");
    }
    if (*gone) removed.push_back(info.record.name);
  }
  return removed;
}

}  // namespace strata::volumes
