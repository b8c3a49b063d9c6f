// LayerStore, part 1: the operations. Records, lookup and recovery are in layer_records.cc.
//
// Every operation on an id runs under that id's LayerLock; metadata updates are short
// transactions between driver steps, ordered so a crash leaves something Open() can roll back.
#include "drivers/layer_store.h"

#include <fcntl.h>
#include <unistd.h>

#include "core/random_id.h"
#include "drivers/layer_lock.h"

namespace strata::drivers {
namespace {

std::string References(int count) {
  return std::to_string(count) + (count == 1 ? " reference" : " references");
}

}  // namespace

LayerStore::LayerStore(Store& store, Driver& driver)
    : store_(store), driver_(driver), locks_dir_(store.Dir() + "/locks") {}

Result<std::unique_ptr<LayerStore>> LayerStore::Open(Store& store, Driver& driver) {
  std::unique_ptr<LayerStore> layers(new LayerStore(store, driver));
  STRATA_TRY_CTX(layers->Recover(), "open layer store");
  return layers;
}

// --- Create -----------------------------------------------------------------------------------

Result<LayerRecord> LayerStore::Create(const std::string& id, const std::string& parent,
                                       LayerKind kind, const CreateOptions& options) {
  return CreateWith(id, parent, kind, options, nullptr);
}

Result<ImportResult> LayerStore::Import(const std::string& id, const std::string& parent,
                                        int in_fd) {
  return Import(id, parent, [in_fd](Driver& driver, const std::string& new_id) {
    return driver.ApplyDiff(new_id, in_fd);
  });
}

Result<ImportResult> LayerStore::Import(const std::string& id, const std::string& parent,
                                        const ApplyFn& apply) {
  archive::ApplyStats stats;
  Fill fill = [&](const std::string& new_id) -> Status {
    STRATA_ASSIGN_OR_RETURN(stats, apply(driver_, new_id));
    return Ok();
  };
  STRATA_ASSIGN_OR_RETURN(LayerRecord layer,
                          CreateWith(id, parent, LayerKind::kReadOnly, CreateOptions{}, fill));
  return ImportResult{std::move(layer), stats};
}

// Two-phase create: 'creating' record, driver.Create (+ `fill`), then 'ready'. Any failure
// removes what was made. A crash leaves a 'creating' record with a free lock: Open rolls it back.
Result<LayerRecord> LayerStore::CreateWith(const std::string& id, const std::string& parent,
                                           LayerKind kind, const CreateOptions& options,
                                           const Fill& fill) {
  std::string new_id = id;
  if (new_id.empty()) {
    STRATA_ASSIGN_OR_RETURN(new_id, RandomHexId());
  } else if (!IsValidLayerId(new_id)) {
    return Error(EINVAL, "layer \"" + id + "\": invalid id, want [a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}");
  }
  std::string parent_id;
  if (!parent.empty()) {
    STRATA_ASSIGN_OR_RETURN_CTX(parent_id, ResolveId(parent), "parent");
  }
  STRATA_ASSIGN_OR_RETURN(
      LayerLock lock,
      LayerLock::Acquire(locks_dir_, new_id, LayerLock::Wait::kBlock, lock_timeout_));
  // Holding the lock, an unfinished record of this id is a dead process's leftover.
  STRATA_ASSIGN_OR_RETURN(std::optional<Row> stale, LoadRow(new_id));
  if (stale && stale->state != "ready") STRATA_TRY(RollBack(new_id));
  Status created = CreateInDriver(new_id, parent_id, kind, options);
  if (!created.ok()) {
    if (created.error().code() != EEXIST) lock.RemoveFile();
    return std::move(created).error().Wrap("create layer " + new_id);
  }
  Status done = fill ? fill(new_id) : Ok();
  if (done.ok()) done = SetState(new_id, "ready");
  if (!done.ok()) {
    // Best effort: a leftover 'creating' record is rolled back by the next Open.
    if (RollBack(new_id).ok()) lock.RemoveFile();
    return std::move(done).error().Wrap("create layer " + new_id);
  }
  STRATA_ASSIGN_OR_RETURN(Row row, LoadReady(new_id));
  return ToRecord(std::move(row));
}

// The 'creating' record and driver.Create, under the parent's lock too: the driver may touch the
// parent (overlay's "committed" marker). That lock is not held across `fill`, which may be a long
// ApplyDiff. On error nothing is left but possibly a 'creating' record for Open to roll back.
Status LayerStore::CreateInDriver(const std::string& id, const std::string& parent, LayerKind kind,
                                  const CreateOptions& options) {
  std::optional<LayerLock> parent_lock;
  if (!parent.empty()) {
    STRATA_ASSIGN_OR_RETURN(
        parent_lock,
        LayerLock::Acquire(locks_dir_, parent, LayerLock::Wait::kBlock, lock_timeout_));
  }
  STRATA_TRY(InsertCreating(id, parent, kind));
  Status created = driver_.Create(id, parent, kind, options);
  if (!created.ok()) {
    // The driver leaves nothing behind on error; a failed delete is retried by Open.
    (void)DeleteRecord(id);
    return created;
  }
  return Ok();
}

// --- Mount references -------------------------------------------------------------------------

Result<std::string> LayerStore::Mount(const std::string& id) {
  STRATA_ASSIGN_OR_RETURN(std::string full, ResolveId(id));
  STRATA_ASSIGN_OR_RETURN(
      LayerLock lock, LayerLock::Acquire(locks_dir_, full, LayerLock::Wait::kBlock, lock_timeout_));
  STRATA_ASSIGN_OR_RETURN(Row row, LoadReady(full));
  STRATA_TRY(Reconcile(row));
  const int count = row.record.mount_count;
  if (count > 0 && !row.mount_path.empty()) {
    STRATA_TRY(SetMount(full, count + 1, row.mount_path));
    return row.mount_path;
  }
  // The reference is persisted before the mount: a crash in between leaves a count without a
  // mount, which Reconcile resets. The other order could leak a mount nobody counts.
  const std::string expected_path = driver_.MountPath(full);
  STRATA_TRY(SetMount(full, count + 1, expected_path));
  Result<std::string> path = driver_.Mount(full);
  if (!path.ok()) {
    (void)SetMount(full, count, "");  // best effort: Reconcile fixes a stale count
    return std::move(path).error().Wrap("mount layer " + full);
  }
  if (*path == expected_path) return path;
  // A driver whose Mount put the layer elsewhere than MountPath said: record where.
  Status recorded = SetMount(full, count + 1, *path);
  if (!recorded.ok()) {
    (void)driver_.Unmount(full);  // best effort: undo what nobody can count
    (void)SetMount(full, count, "");
    return std::move(recorded).error().Wrap("mount layer " + full);
  }
  return path;
}

Status LayerStore::Unmount(const std::string& id) {
  STRATA_ASSIGN_OR_RETURN(std::string full, ResolveId(id));
  STRATA_ASSIGN_OR_RETURN(
      LayerLock lock, LayerLock::Acquire(locks_dir_, full, LayerLock::Wait::kBlock, lock_timeout_));
  STRATA_ASSIGN_OR_RETURN(Row row, LoadReady(full));
  // No Reconcile here: dropping the last reference unmounts, which is idempotent, so a mount
  // that vanished behind our back needs no check (and the hot path parses no mountinfo).
  const int count = row.record.mount_count;
  if (count == 0) return Ok();
  if (count > 1) return SetMount(full, count - 1, row.mount_path);
  // Unmount before dropping the last reference: a crash in between leaves a count whose mount
  // is gone, which Reconcile resets.
  STRATA_TRY_CTX(driver_.Unmount(full), "unmount layer " + full);
  return SetMount(full, 0, "");
}

// --- Remove -----------------------------------------------------------------------------------

Status LayerStore::CheckRemovable(const Row& row) {
  const std::string& id = row.record.id;
  STRATA_ASSIGN_OR_RETURN(std::vector<std::string> children, ChildrenOf(id));
  if (!children.empty()) {
    std::string names;
    for (const std::string& child : children) names += (names.empty() ? "" : ", ") + child;
    return Error(EBUSY, "layer " + id + " is the parent of " + names);
  }
  if (row.record.mount_count > 0) {
    return Error(EBUSY, "layer " + id + " is mounted (" + References(row.record.mount_count) +
                            ") at " + row.mount_path + "; unmount it first");
  }
  return Ok();
}

Status LayerStore::Remove(const std::string& id) {
  std::string full = id;
  STRATA_ASSIGN_OR_RETURN(std::optional<Row> exact, LoadRow(id));
  if (!exact) {
    Result<std::string> resolved = ResolveId(id);
    if (!resolved.ok()) return resolved.error().code() == ENOENT ? Ok() : resolved.error();
    full = *resolved;
  }
  STRATA_ASSIGN_OR_RETURN(
      LayerLock lock, LayerLock::Acquire(locks_dir_, full, LayerLock::Wait::kBlock, lock_timeout_));
  STRATA_ASSIGN_OR_RETURN(std::optional<Row> row, LoadRow(full));
  if (!row) return Ok();  // removed meanwhile
  if (row->state == "ready") {
    STRATA_TRY(Reconcile(*row));
    // Checked and marked in one transaction: a child cannot be inserted in between, since
    // InsertCreating needs a 'ready' parent.
    Status marked = store_.Transaction([&]() -> Status {
      STRATA_ASSIGN_OR_RETURN(Row current, LoadReady(full));
      STRATA_TRY(CheckRemovable(current));
      for (const auto& [owner, guard] : remove_guards_) {
        STRATA_TRY(guard(full));
      }
      return SetState(full, "removing");
    });
    if (!marked.ok()) return marked;
  }
  // 'removing' (or a dead creator's 'creating'): finish the removal. If the driver fails, the
  // record stays 'removing' and the next Remove or Open retries.
  STRATA_TRY_CTX(driver_.Remove(full), "remove layer " + full);
  STRATA_TRY(DeleteRecord(full));
  lock.RemoveFile();
  return Ok();
}

// --- Diffs ------------------------------------------------------------------------------------

Result<archive::ExportStats> LayerStore::Export(const std::string& id, int out_fd,
                                                archive::Compression compression) {
  STRATA_ASSIGN_OR_RETURN(std::string full, ResolveId(id));
  STRATA_ASSIGN_OR_RETURN(
      LayerLock lock, LayerLock::Acquire(locks_dir_, full, LayerLock::Wait::kBlock, lock_timeout_));
  STRATA_TRY(LoadReady(full));
  STRATA_ASSIGN_OR_RETURN_CTX(archive::ExportStats stats, driver_.Diff(full, out_fd, compression),
                              "export layer " + full);
  if (compression == archive::Compression::kNone) {
    // Cached for `layer inspect`; the tar is the layer's uncompressed diff.
    STRATA_ASSIGN_OR_RETURN(Statement stmt, store_.Prepare("UPDATE layers SET diff_digest = ?2, "
                                                           "diff_size = ?3 WHERE id = ?1"));
    STRATA_TRY(stmt.Bind(1, full));
    STRATA_TRY(stmt.Bind(2, stats.digest));
    STRATA_TRY(stmt.Bind(3, static_cast<int64_t>(stats.size_bytes)));
    STRATA_TRY(stmt.Run());
  }
  return stats;
}

Result<std::vector<archive::Change>> LayerStore::Changes(const std::string& id) {
  STRATA_ASSIGN_OR_RETURN(std::string full, ResolveId(id));
  STRATA_ASSIGN_OR_RETURN(
      LayerLock lock, LayerLock::Acquire(locks_dir_, full, LayerLock::Wait::kBlock, lock_timeout_));
  STRATA_TRY(LoadReady(full));
  return driver_.Changes(full).Wrap("changes of layer " + full);
}

Result<uint64_t> LayerStore::DiffSize(const std::string& id) {
  STRATA_ASSIGN_OR_RETURN(std::string full, ResolveId(id));
  STRATA_ASSIGN_OR_RETURN(
      LayerLock lock, LayerLock::Acquire(locks_dir_, full, LayerLock::Wait::kBlock, lock_timeout_));
  STRATA_TRY(LoadReady(full));
  return driver_.DiffSize(full).Wrap("diff size of layer " + full);
}

}  // namespace strata::drivers
