// LayerStore: layer records and mount references in the metadata store, on top of one Driver.
//
// - Records: id, parent, kind, driver, created time, state. Creation is two-phase (a 'creating'
//   record, the driver step, then 'ready'), so a crash leaves a record that Open() rolls back.
// - Mount references are counted in the store, survive process exit, and are reconciled against
//   /proc/self/mountinfo: a count whose mount is gone (reboot, manual umount) is reset.
// - Operations on one id are serialised across processes with a per-id lock file
//   (<root>/locks/<id>.lock, root = the directory of the store's database). Metadata transactions
//   are short: no SQLite write transaction is held across a driver operation.
//
// Crash consistency: every driver step is bracketed by store updates ordered so that a crash at
// any point leaves either a consistent layer or a record that Open() (or the next operation on
// that id) rolls back. Mount references are persisted before the driver mounts and dropped after
// it unmounts; a count left without a live mount is reset by reconciliation.
//
// Thread-safety: one thread per LayerStore; separate processes are serialised as above.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"
#include "core/store.h"
#include "drivers/driver.h"

namespace strata::drivers {

struct LayerRecord {
  std::string id;
  std::string parent;  // empty for a base layer
  LayerKind kind = LayerKind::kReadOnly;
  std::string driver;
  int64_t created_unix = 0;
  int mount_count = 0;
  std::vector<std::string> children;  // filled by Get/List
};

struct ImportResult {
  LayerRecord layer;
  archive::ApplyStats stats;
};

// What Open() did to half-made layers left by dead processes.
struct RecoveryReport {
  std::vector<std::string> rolled_back;                     // ids removed (driver and record)
  std::vector<std::pair<std::string, std::string>> failed;  // id -> error; retried next Open
  std::vector<std::string> mounts_reset;  // ids whose stale mount count was reset to 0
};

// Layer ids: [a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}. Random ids are 64 lowercase hex digits.
bool IsValidLayerId(std::string_view id);

class LayerStore {
 public:
  // `store` and `driver` must outlive the LayerStore. Reconciles half-made layers on open: a
  // 'creating' or 'removing' record whose id lock is free (its process died) is rolled back
  // (driver.Remove, then the record is deleted); one whose lock is held belongs to a live
  // process and is left alone. Rollback failures do not fail Open; see recovery().
  static Result<std::unique_ptr<LayerStore>> Open(Store& store, Driver& driver);

  // Creates a layer. `id` empty: a random 64-hex id. ENOENT: parent unknown; EEXIST: id taken;
  // EINVAL: bad id.
  Result<LayerRecord> Create(const std::string& id, const std::string& parent, LayerKind kind,
                             const CreateOptions& options);
  // Creates a read-only layer on `parent` and applies the tar from `in_fd`. All or nothing.
  Result<ImportResult> Import(const std::string& id, const std::string& parent, int in_fd);
  // Fills a new read-only layer with `apply` (which calls driver.ApplyDiff on the id it gets,
  // and may check what it applied afterwards). An error from `apply` removes the layer.
  using ApplyFn =
      std::function<Result<archive::ApplyStats>(Driver& driver, const std::string& id)>;
  Result<ImportResult> Import(const std::string& id, const std::string& parent,
                              const ApplyFn& apply);
  Result<archive::ExportStats> Export(const std::string& id, int out_fd,
                                      archive::Compression compression);
  Result<std::vector<archive::Change>> Changes(const std::string& id);
  Result<uint64_t> DiffSize(const std::string& id);

  // Mount takes one reference and returns the root path; Unmount drops one (at zero the driver
  // unmounts). Unmount of an unmounted layer is success.
  Result<std::string> Mount(const std::string& id);
  Status Unmount(const std::string& id);

  // Removes a layer. EBUSY when mounted (names the references and path) or when it is a parent
  // (names the children). Idempotent: an unknown id is success.
  Status Remove(const std::string& id);

  // Looks up by full id or unique prefix. ENOENT: none; EINVAL: ambiguous prefix.
  Result<LayerRecord> Get(const std::string& id_or_prefix);
  Result<std::vector<LayerRecord>> List();
  // Parent chain of `id`, nearest first, `id` itself first.
  Result<std::vector<std::string>> Chain(const std::string& id);

  // Consulted (inside the removal transaction) before a ready layer is marked for removal; an
  // error refuses the removal. The image store uses one to keep image layers from `layer rm`,
  // the container store one for containers' layers. One guard per owner: setting an owner's
  // guard again replaces it.
  using RemoveGuard = std::function<Status(const std::string& id)>;
  void set_remove_guard(const std::string& owner, RemoveGuard guard) {
    remove_guards_[owner] = std::move(guard);
  }

  Driver& driver() { return driver_; }
  const RecoveryReport& recovery() const { return recovery_; }
  // How long an operation waits for another process's lock on the same id before EBUSY.
  void set_lock_timeout(std::chrono::milliseconds timeout) { lock_timeout_ = timeout; }

 private:
  struct Row {
    LayerRecord record;
    std::string state;  // 'creating', 'ready' or 'removing'
    std::string mount_path;
  };
  using Fill = std::function<Status(const std::string& id)>;

  LayerStore(Store& store, Driver& driver);
  Status Recover();
  Status RecoverOne(const std::string& id);
  Status RollBack(const std::string& id);
  Result<LayerRecord> CreateWith(const std::string& id, const std::string& parent, LayerKind kind,
                                 const CreateOptions& options, const Fill& fill);
  Status CreateInDriver(const std::string& id, const std::string& parent, LayerKind kind,
                        const CreateOptions& options);
  Status InsertCreating(const std::string& id, const std::string& parent, LayerKind kind);
  Status SetState(const std::string& id, std::string_view state);
  Status DeleteRecord(const std::string& id);
  Status SetMount(const std::string& id, int count, const std::string& path);
  Status Reconcile(Row& row);
  Status CheckRemovable(const Row& row);
  Result<std::optional<Row>> LoadRow(const std::string& id);
  Result<Row> LoadReady(const std::string& id);
  Result<std::vector<std::string>> ChildrenOf(const std::string& id);
  Result<std::string> ResolveId(const std::string& id_or_prefix);
  Result<LayerRecord> ToRecord(Row row);

  Store& store_;
  Driver& driver_;
  std::string locks_dir_;
  std::chrono::milliseconds lock_timeout_{std::chrono::minutes(2)};
  RecoveryReport recovery_;
  std::map<std::string, RemoveGuard> remove_guards_;
};

}  // namespace strata::drivers
