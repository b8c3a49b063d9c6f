// The volume manager: `strata vol` as a library. Names, the catalog, per-volume locks,
// attachments and crash recovery on top of the backends (backend.h).
//
// Crash safety. Every operation that changes a volume moves its catalog row through durable
// states, with the backend step in between:
//   create/snapshot  insert 'creating' -> backend Create/Snapshot -> 'ready' (ref recorded)
//   resize           'resizing' (target recorded) -> backend Grow -> 'ready' (new size)
//   rm               'removing' -> backend Deactivate + Destroy -> row deleted
// Only 'ready' and 'resizing' volumes are visible (ls, inspect, attach). A process killed at any
// step leaves a row saying what was in flight; the next manager call settles it (Recover):
// 'creating' is rolled back (Destroy finds the storage by name), 'removing' and 'resizing' are
// finished (Destroy and Grow are idempotent). Rows whose lock is held belong to a live process
// and are left alone.
//
// Concurrency. Each volume name has a lock file, <root>/locks/volumes/<name>.lock, held for the
// whole of any operation on it (an operation on two volumes takes both, in name order). Two
// creates of one name: the second waits, then finds the row and fails with EEXIST.
//
// Attachments are rows (volume, target, read-only) and bind mounts of the backend's directory.
// They are checked against the mount table: a row whose target is no longer a mount point
// (reboot, manual umount) is dropped by the next operation on the volume, and ls/inspect show
// only live ones. When a volume's last attachment goes, the backend is deactivated.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/file_lock.h"
#include "core/result.h"
#include "volumes/backend.h"
#include "volumes/catalog.h"
#include "volumes/volume.h"

namespace strata::volumes {

inline constexpr std::chrono::seconds kVolumeLockTimeout{60};

struct ManagerEnv {
  BackendEnv backend_env;
  VolumeDefaults defaults;
  // Makes a backend; empty = the real ones (NewThinBackend...). Tests inject fakes.
  std::function<std::unique_ptr<Backend>(BackendKind, const BackendEnv&)> make_backend;
};

// `vol create`. Unset fields take the config's defaults (for --from: the origin's).
struct CreateRequest {
  std::string name;
  std::optional<BackendKind> backend;
  std::optional<uint64_t> size_bytes;
  std::optional<Filesystem> fs;
  std::optional<std::vector<std::string>> mkfs_options;
  std::optional<std::vector<std::string>> mount_options;
  std::map<std::string, std::string> labels;
  std::string path;  // local only: adopt this directory
  std::string from;  // make the volume from this one (a snapshot or any volume)
};

// `vol ls --filter`: label=KEY, label=KEY=VALUE, backend=NAME, name=SUBSTRING.
struct VolumeFilter {
  std::string key;
  std::string value;
  std::optional<std::string> label_value;  // label=KEY=VALUE
};
// EINVAL for an unknown key or a malformed filter.
Result<VolumeFilter> ParseVolumeFilter(const std::string& text);
bool Matches(const VolumeRecord& volume, const std::vector<VolumeFilter>& filters);

struct VolumeInfo {
  VolumeRecord record;
  std::vector<Attachment> attachments;  // live ones
  std::optional<BackendDetails> details;  // inspect only
};

class Manager {
 public:
  explicit Manager(ManagerEnv env);
  ~Manager();

  // The backend `vol create` uses when none is given: the config's, else thin where
  // device-mapper works, else loop.
  BackendKind DefaultBackend();

  Result<VolumeRecord> Create(const CreateRequest& request);
  // A point-in-time copy of `origin` named `name`, marked as a snapshot (attach read-only).
  Result<VolumeRecord> Snapshot(const std::string& origin, const std::string& name,
                                const std::map<std::string, std::string>& labels = {});
  // Grows to size_bytes. EINVAL when smaller (volumes never shrink); equal: Ok, nothing done.
  Result<VolumeRecord> Resize(const std::string& name, uint64_t size_bytes);
  // Bind-mounts the volume at `target` (created if missing; made absolute and canonical).
  // Attaching again at the same target with the same mode is Ok (nothing done).
  // EBUSY when the target holds another attachment; EINVAL for a read-write attach of a snapshot.
  Result<Attachment> Attach(const std::string& name, const std::string& target, bool read_only);
  // Unmounts the attachment at `target`, or all of the volume's when nullopt. Idempotent: a
  // target that is not attached is Ok. Returns the attachments removed.
  Result<std::vector<Attachment>> Detach(const std::string& name,
                                         const std::optional<std::string>& target);
  // Removes the volume. Absent: Ok, returns false. Attached: EBUSY listing the targets, unless
  // `force`, which detaches first.
  Result<bool> Remove(const std::string& name, bool force);
  // Removes every ready volume with no live attachment that matches `filters`. Returns the names.
  Result<std::vector<std::string>> Prune(const std::vector<VolumeFilter>& filters);

  // Ready (and resizing) volumes matching `filters`, by name, with their live attachments.
  Result<std::vector<VolumeInfo>> List(const std::vector<VolumeFilter>& filters);
  // One volume with backend details. ENOENT "no such volume" (with did-you-mean).
  Result<VolumeInfo> Inspect(const std::string& name);

  // Settles rows left by interrupted operations (see above). Every public call runs it first.
  Status Recover();

 private:
  struct Locked;
  Result<Backend*> BackendFor(BackendKind kind);
  std::string LockDir();
  Result<FileLock> LockName(const std::string& name);
  Status SettleLocked(const VolumeRecord& row);
  Result<VolumeRecord> FindReady(const std::string& name);
  Error NoSuchVolume(const std::string& name);
  Result<VolumeRecord> PlanCreate(const CreateRequest& request, Backend** backend);
  Result<VolumeRecord> RunCreate(VolumeRecord volume, Backend& backend,
                                 const std::optional<VolumeRecord>& origin);
  Result<std::vector<Attachment>> LiveAttachments(const std::string& name, bool drop_stale);
  Status DetachOne(const Attachment& attachment);
  Status DeactivateIfUnused(const VolumeRecord& volume);
  Status Destroy(VolumeRecord volume);
  Result<std::string> ResolveTarget(const std::string& target, bool create);

  ManagerEnv env_;
  Catalog catalog_;
  std::map<BackendKind, std::unique_ptr<Backend>> backends_;
  std::optional<BackendKind> default_backend_;
  bool recovered_ = false;
};

}  // namespace strata::volumes
