// ThinPool: thin device operations (create, snapshot, activate, deactivate, delete, grow) and
// journal reconciliation. Every operation that sends a pool message follows journal.h.
#include <cerrno>
#include <string>
#include <utility>

#include "core/failpoint.h"
#include "thinpool/pool.h"
#include "thinpool/pool_backing.h"
#include "thinpool/thin_ids.h"

namespace strata::thinpool {
namespace {

Status RunSql(Store& store, std::string_view sql, const std::string& pool, int64_t thin_id) {
  STRATA_ASSIGN_OR_RETURN(Statement stmt, store.Prepare(sql));
  STRATA_TRY(stmt.Bind(1, pool));
  STRATA_TRY(stmt.Bind(2, thin_id));
  return stmt.Run();
}

Status SetThinState(Store& store, const std::string& pool, uint32_t id, std::string_view state) {
  std::string sql =
      "UPDATE thin_devices SET state = '" + std::string(state) + "' WHERE pool = ? AND thin_id = ?";
  return RunSql(store, sql, pool, id);
}

Status DeleteThinRow(Store& store, const std::string& pool, uint32_t id) {
  return RunSql(store, "DELETE FROM thin_devices WHERE pool = ? AND thin_id = ?", pool, id);
}

// Failpoints (core/failpoint.h, test hook): "thin.<kind>.<step>", kind create_thin, create_snap
// or delete; steps after-intent, after-message, after-kernel-done, after-txid, after-commit, and
// for a snapshot of an active origin origin-suspended and before-resume.
std::string_view FailScope(JournalKind kind) {
  switch (kind) {
    case JournalKind::kCreateThin: return "thin.create_thin";
    case JournalKind::kCreateSnap: return "thin.create_snap";
    case JournalKind::kDelete: return "thin.delete";
    default: return "thin.other";
  }
}

}  // namespace

std::string ThinDmName(const std::string& pool, uint32_t thin_id) {
  return pool + "-thin-" + std::to_string(thin_id);
}
std::string ThinDmUuid(const std::string& pool, uint32_t thin_id) {
  return kThinUuidPrefix + pool + "-" + std::to_string(thin_id);
}

namespace {
// The current row of a thin_devices SELECT (thin_id, size_sectors, name, state).
ThinRecord ThinRow(const Statement& stmt) {
  return {static_cast<uint32_t>(stmt.ColumnInt(0)), static_cast<uint64_t>(stmt.ColumnInt(1)),
          stmt.ColumnText(2), stmt.ColumnText(3)};
}

// Runs a thin_devices SELECT and returns its first row.
Result<std::optional<ThinRecord>> FirstThinRow(Statement& stmt) {
  STRATA_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return std::optional<ThinRecord>();
  return std::optional<ThinRecord>(ThinRow(stmt));
}
}  // namespace

Result<std::vector<ThinRecord>> ListThinRecords(Store& store, const std::string& pool) {
  STRATA_ASSIGN_OR_RETURN(Statement stmt,
                          store.Prepare("SELECT thin_id, size_sectors, name, state FROM "
                                        "thin_devices WHERE pool = ? ORDER BY thin_id"));
  STRATA_TRY(stmt.Bind(1, pool));
  std::vector<ThinRecord> out;
  while (true) {
    STRATA_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return out;
    out.push_back(ThinRow(stmt));
  }
}

Result<std::vector<ThinRecord>> ThinPool::List() { return ListThinRecords(*env_.store, name_); }

Result<ThinRecord> ThinPool::FindThin(uint32_t thin_id) {
  STRATA_ASSIGN_OR_RETURN(Statement stmt,
                          env_.store->Prepare("SELECT thin_id, size_sectors, name, state FROM "
                                              "thin_devices WHERE pool = ? AND thin_id = ?"));
  STRATA_TRY(stmt.Bind(1, name_));
  STRATA_TRY(stmt.Bind(2, static_cast<int64_t>(thin_id)));
  STRATA_ASSIGN_OR_RETURN(std::optional<ThinRecord> found, FirstThinRow(stmt));
  if (found) return std::move(*found);
  return Error(ENOENT, "pool " + name_ + ": no thin device " + std::to_string(thin_id));
}

Result<std::optional<ThinRecord>> ThinPool::FindByName(const std::string& name) {
  STRATA_ASSIGN_OR_RETURN(
      Statement stmt,
      env_.store->Prepare("SELECT thin_id, size_sectors, name, state FROM thin_devices "
                          "WHERE pool = ? AND name = ? ORDER BY thin_id LIMIT 1"));
  STRATA_TRY(stmt.Bind(1, name_));
  STRATA_TRY(stmt.Bind(2, name));
  return FirstThinRow(stmt);
}

Status ThinPool::Rename(uint32_t thin_id, const std::string& name) {
  STRATA_TRY(FindThin(thin_id));
  STRATA_ASSIGN_OR_RETURN(
      Statement stmt,
      env_.store->Prepare("UPDATE thin_devices SET name = ? WHERE pool = ? AND thin_id = ?"));
  STRATA_TRY(stmt.Bind(1, name));
  STRATA_TRY(stmt.Bind(2, name_));
  STRATA_TRY(stmt.Bind(3, static_cast<int64_t>(thin_id)));
  return stmt.Run();
}

std::string ThinPool::DevicePath(uint32_t thin_id) const {
  return "/dev/mapper/" + ThinDmName(name_, thin_id);
}

Result<ThinPoolStatus> ThinPool::UsableStatus(bool for_new_device) {
  // LVM records the pool's transaction id in its own metadata: moving it would stop the VG from
  // activating (moby#15629). strata never sends messages to a pool LVM owns.
  STRATA_ASSIGN_OR_RETURN(sys::DmDeviceInfo info, env_.dm->Info(name_));
  if (info.uuid.starts_with("LVM-")) {
    return Error(EOPNOTSUPP,
                 "pool " + name_ + " is managed by LVM; use an LVM thin volume instead");
  }
  STRATA_ASSIGN_OR_RETURN(PoolReport report, Report());
  if (for_new_device) STRATA_TRY(PrepareSpaceForNewDevice(report));  // auto-extend: pool_space.cc
  // A full pool still takes messages: deleting and deactivating are how space comes back.
  const bool full = report.status.mode == PoolMode::kOutOfDataSpace;
  if (for_new_device || !full) STRATA_TRY_CTX(CheckPoolUsable(report.status), "pool " + name_);
  if (for_new_device) {
    STRATA_TRY_CTX(MinFreeSpaceCheck(report.status, report.block_size_sectors,
                                     config_.min_free_space_percent.value),
                   "pool " + name_);
  }
  return report.status;
}

// Must run inside the store Transaction that records the intent, so the counter and the
// intent land together (thin_ids.h).
Result<uint32_t> ThinPool::AllocateId() {
  STRATA_ASSIGN_OR_RETURN(
      Statement last, env_.store->Prepare("SELECT last_thin_id FROM thin_pools WHERE name = ?"));
  STRATA_TRY(last.Bind(1, name_));
  STRATA_ASSIGN_OR_RETURN(bool row, last.Step());
  uint32_t last_id = row ? static_cast<uint32_t>(last.ColumnInt(0)) : 0;
  std::set<uint32_t> in_use;
  STRATA_ASSIGN_OR_RETURN(std::vector<ThinRecord> all, List());
  for (const ThinRecord& r : all) in_use.insert(r.thin_id);
  STRATA_ASSIGN_OR_RETURN(uint32_t id, NextThinId(last_id, in_use));
  STRATA_TRY(
      RunSql(*env_.store, "UPDATE thin_pools SET last_thin_id = ?2 WHERE name = ?1", name_, id));
  return id;
}

// create_snap needs the origin suspended when it is active: the kernel does not check, and
// in-flight writes would make an inconsistent snapshot (containerd#4374). The origin is resumed
// whatever create_snap did: a suspended origin would hang every writer on it.
Status ThinPool::SendCreate(JournalKind kind, uint32_t id, std::optional<uint32_t> origin) {
  if (kind == JournalKind::kCreateThin) {
    return SendPoolMessage(*env_.dm, name_, "create_thin " + std::to_string(id));
  }
  std::string message = "create_snap " + std::to_string(id) + " " + std::to_string(*origin);
  std::string origin_dm = ThinDmName(name_, *origin);
  STRATA_ASSIGN_OR_RETURN(bool active, IsActive(origin_dm));
  if (!active) return SendPoolMessage(*env_.dm, name_, message);
  STRATA_TRY_CTX(env_.dm->Suspend(origin_dm, sys::DmFlush::kFlush, sys::DmLockFs::kLockFs),
                 "snapshot: suspend origin");
  Failpoint(FailScope(kind), "origin-suspended");
  Status sent = SendPoolMessage(*env_.dm, name_, message);
  Failpoint(FailScope(kind), "before-resume");
  Status resumed = env_.dm->Resume(origin_dm);
  STRATA_TRY(std::move(sent));
  return std::move(resumed).Wrap("snapshot: resume origin " + origin_dm);
}

// Only the intent must reach the disk before the kernel hears of the operation. The kernel-done
// mark and the commit are written without a sync of their own (Store::NonDurable): if a power
// cut loses them, recovery decides from the pool's transaction id and reaches the same state
// (journal.h), and the next durable write syncs them anyway. One fdatasync per operation, not 3.
Status ThinPool::MarkKernelDoneLazily(int64_t record_id) {
  return env_.store->NonDurable([&] { return journal_.MarkKernelDone(record_id); });
}

Status ThinPool::CommitLazily(const std::function<Status()>& body) {
  return env_.store->NonDurable([&] { return env_.store->Transaction(body); });
}

// Steps 3-5 of the protocol. Once set_transaction_id succeeded the kernel has committed, so a
// failure after it leaves the record open for ReconcileJournal to roll forward.
Status ThinPool::FinishJournaled(const JournalRecord& record,
                                 const std::function<Status()>& store_done) {
  STRATA_TRY(MarkKernelDoneLazily(record.id));
  Failpoint(FailScope(record.kind), "after-kernel-done");
  STRATA_TRY(SendPoolMessage(*env_.dm, name_,
                             SetTransactionIdMessage(record.txid_before, record.txid_after)));
  Failpoint(FailScope(record.kind), "after-txid");
  Status committed = CommitLazily([&]() -> Status {
    STRATA_TRY(store_done());
    return journal_.Commit(record.id);
  });
  STRATA_TRY(committed);
  Failpoint(FailScope(record.kind), "after-commit");
  return Ok();
}

Result<uint32_t> ThinPool::CreateJournaled(JournalKind kind, uint64_t size_sectors,
                                           const std::string& name,
                                           std::optional<uint32_t> origin) {
  STRATA_ASSIGN_OR_RETURN(ThinPoolStatus status, UsableStatus(true));
  JournalRecord record;
  uint32_t id = 0;
  Status intent = env_.store->Transaction([&]() -> Status {
    STRATA_ASSIGN_OR_RETURN(id, AllocateId());
    STRATA_ASSIGN_OR_RETURN(
        Statement insert,
        env_.store->Prepare("INSERT INTO thin_devices (pool, thin_id, size_sectors, name, state) "
                            "VALUES (?, ?, ?, ?, 'creating')"));
    STRATA_TRY(insert.Bind(1, name_));
    STRATA_TRY(insert.Bind(2, int64_t{id}));
    STRATA_TRY(insert.Bind(3, static_cast<int64_t>(size_sectors)));
    STRATA_TRY(insert.Bind(4, name));
    STRATA_TRY(insert.Run());
    std::string args = origin ? "origin=" + std::to_string(*origin) : "";
    STRATA_ASSIGN_OR_RETURN(record, journal_.Begin(kind, id, args, status.transaction_id));
    return Ok();
  });
  STRATA_TRY(intent);
  Failpoint(FailScope(kind), "after-intent");
  // Until the kernel commits, a failure undoes the create: `delete` the id (ENODATA: it never
  // happened), then drop the row and the record. If the undo itself fails the record stays
  // open and the next Open rolls it back. EEXIST means the id was someone else's (an orphan
  // the store did not know): never delete that.
  bool id_may_be_ours = true;
  auto undo = MakeGuard([&] {
    if (id_may_be_ours && !SendPoolMessage(*env_.dm, name_, "delete " + std::to_string(id)).ok()) {
      return;
    }
    (void)env_.store->Transaction([&]() -> Status {  // best effort: reconcile retries
      STRATA_TRY(DeleteThinRow(*env_.store, name_, id));
      return journal_.Drop(record.id);
    });
  });
  Status created = SendCreate(kind, id, origin);
  if (!created.ok()) {
    id_may_be_ours = created.error().code() != EEXIST;
    return std::move(created).error().Wrap("pool " + name_ + ": create thin " + std::to_string(id));
  }
  Failpoint(FailScope(kind), "after-message");
  STRATA_TRY(MarkKernelDoneLazily(record.id));
  Failpoint(FailScope(kind), "after-kernel-done");
  STRATA_TRY(SendPoolMessage(*env_.dm, name_,
                             SetTransactionIdMessage(record.txid_before, record.txid_after)));
  Failpoint(FailScope(kind), "after-txid");
  undo.Release();  // the kernel committed: from here only forward
  Status committed = CommitLazily([&]() -> Status {
    STRATA_TRY(SetThinState(*env_.store, name_, id, "ready"));
    return journal_.Commit(record.id);
  });
  STRATA_TRY(committed);
  Failpoint(FailScope(kind), "after-commit");
  return id;
}

Result<uint32_t> ThinPool::CreateThin(uint64_t size_sectors, const std::string& name) {
  if (size_sectors == 0) return Error(EINVAL, "thin device size must not be 0");
  STRATA_ASSIGN_OR_RETURN(LockScope locked, Lock());
  return CreateJournaled(JournalKind::kCreateThin, size_sectors, name, std::nullopt);
}

Result<uint32_t> ThinPool::Snapshot(uint32_t origin_id, const std::string& name) {
  STRATA_ASSIGN_OR_RETURN(LockScope locked, Lock());
  STRATA_ASSIGN_OR_RETURN(ThinRecord origin, FindThin(origin_id));
  return CreateJournaled(JournalKind::kCreateSnap, origin.size_sectors, name, origin_id);
}

Result<bool> ThinPool::IsActive(const std::string& dm_name) {
  return DmDeviceExists(*env_.dm, dm_name);
}

Status ThinPool::Activate(uint32_t thin_id) {
  STRATA_ASSIGN_OR_RETURN(ThinRecord thin, FindThin(thin_id));
  if (thin.state != "ready") {
    return Error(EBUSY, "thin device " + std::to_string(thin_id) + " is " + thin.state);
  }
  STRATA_ASSIGN_OR_RETURN(sys::DmDeviceInfo pool, env_.dm->Info(name_));
  STRATA_ASSIGN_OR_RETURN(MappingTable table,
                          ThinTable({pool.major, pool.minor}, thin_id, thin.size_sectors));
  return CreateDmDevice(*env_.dm, ThinDmName(name_, thin_id), ThinDmUuid(name_, thin_id), table)
      .Wrap("activate thin device " + std::to_string(thin_id));
}

Result<bool> ThinPool::EnsureActive(uint32_t thin_id) {
  Status activated = Activate(thin_id);
  if (activated.ok()) return true;
  if (activated.error().code() != EEXIST) return std::move(activated).error();
  const std::string dm_name = ThinDmName(name_, thin_id);
  STRATA_ASSIGN_OR_RETURN(sys::DmDeviceInfo info, env_.dm->Info(dm_name));
  const std::string want = ThinDmUuid(name_, thin_id);
  if (info.uuid != want) {
    return Error(EEXIST, "dm device " + dm_name + " is not this pool's (uuid \"" + info.uuid +
                             "\", expected \"" + want + "\")");
  }
  return false;
}

Status ThinPool::Deactivate(uint32_t thin_id, sys::DmRemove mode) {
  std::string dm_name = ThinDmName(name_, thin_id);
  STRATA_ASSIGN_OR_RETURN(bool active, IsActive(dm_name));
  if (!active) return Ok();
  return env_.dm->Remove(dm_name, mode).Wrap("deactivate thin device " + std::to_string(thin_id));
}

// `delete` needs the device deactivated first (EBUSY otherwise). A delete is never undone once
// the message went out, so only failures before it revert the store.
Status ThinPool::Delete(uint32_t thin_id) {
  STRATA_ASSIGN_OR_RETURN(LockScope locked, Lock());
  Result<ThinRecord> thin = FindThin(thin_id);
  if (!thin.ok()) return thin.error().code() == ENOENT ? Ok() : std::move(thin).error();
  STRATA_TRY(Deactivate(thin_id));
  STRATA_ASSIGN_OR_RETURN(ThinPoolStatus status, UsableStatus(false));
  JournalRecord record;
  Status intent = env_.store->Transaction([&]() -> Status {
    STRATA_TRY(SetThinState(*env_.store, name_, thin_id, "deleting"));
    STRATA_ASSIGN_OR_RETURN(
        record, journal_.Begin(JournalKind::kDelete, thin_id, "", status.transaction_id));
    return Ok();
  });
  STRATA_TRY(intent);
  Failpoint(FailScope(JournalKind::kDelete), "after-intent");
  Status sent = SendPoolMessage(*env_.dm, name_, "delete " + std::to_string(thin_id));
  if (!sent.ok()) {
    (void)env_.store->Transaction([&]() -> Status {  // best effort: else reconcile replays it
      STRATA_TRY(SetThinState(*env_.store, name_, thin_id, "ready"));
      return journal_.Drop(record.id);
    });
    return std::move(sent).Wrap("delete thin device " + std::to_string(thin_id));
  }
  Failpoint(FailScope(JournalKind::kDelete), "after-message");
  return FinishJournaled(record, [&] { return DeleteThinRow(*env_.store, name_, thin_id); });
}

// The store is updated first: a larger recorded size with the old table is harmless (the next
// activation uses it), a larger table with the old record would later shrink the device.
Status ThinPool::Grow(uint32_t thin_id, uint64_t new_size_sectors) {
  STRATA_ASSIGN_OR_RETURN(LockScope locked, Lock());
  STRATA_ASSIGN_OR_RETURN(ThinRecord thin, FindThin(thin_id));
  if (new_size_sectors < thin.size_sectors) {
    return Error(EINVAL, "thin device " + std::to_string(thin_id) + " cannot shrink");
  }
  STRATA_ASSIGN_OR_RETURN(
      Statement update,
      env_.store->Prepare(
          "UPDATE thin_devices SET size_sectors = ? WHERE pool = ? AND thin_id = ?"));
  STRATA_TRY(update.Bind(1, static_cast<int64_t>(new_size_sectors)));
  STRATA_TRY(update.Bind(2, name_));
  STRATA_TRY(update.Bind(3, int64_t{thin_id}));
  STRATA_TRY(update.Run());
  std::string dm_name = ThinDmName(name_, thin_id);
  STRATA_ASSIGN_OR_RETURN(bool active, IsActive(dm_name));
  if (!active) return Ok();
  STRATA_ASSIGN_OR_RETURN(sys::DmDeviceInfo pool, env_.dm->Info(name_));
  STRATA_ASSIGN_OR_RETURN(MappingTable table,
                          ThinTable({pool.major, pool.minor}, thin_id, new_size_sectors));
  STRATA_TRY_CTX(env_.dm->Load(dm_name, table), "grow thin device " + std::to_string(thin_id));
  return env_.dm->Resume(dm_name).Wrap("grow thin device " + std::to_string(thin_id));
}

// A process that died between suspending a snapshot's origin and resuming it left the origin
// suspended: every writer on it hangs until it is resumed. Resume it before anything else.
Status ThinPool::ResumeInterruptedOrigins() {
  STRATA_ASSIGN_OR_RETURN(std::vector<JournalRecord> open, journal_.OpenRecords());
  for (const JournalRecord& r : open) {
    if (r.kind != JournalKind::kCreateSnap || !r.args.starts_with("origin=")) continue;
    STRATA_ASSIGN_OR_RETURN(uint64_t origin, ParseDecimal(r.args.substr(7), "origin"));
    std::string origin_dm = ThinDmName(name_, static_cast<uint32_t>(origin));
    Result<sys::DmDeviceInfo> info = env_.dm->Info(origin_dm);
    if (!info.ok() || !info->suspended) continue;  // gone or running: nothing to do
    STRATA_TRY_CTX(env_.dm->Resume(origin_dm), "resume interrupted snapshot origin");
  }
  return Ok();
}

Status ThinPool::ReconcileJournal() {
  STRATA_TRY(ResumeInterruptedOrigins());
  STRATA_ASSIGN_OR_RETURN(PoolReport report, Report());
  ReconcileHooks hooks;
  hooks.on_roll_forward = [this](const JournalRecord& r) -> Status {
    if (!r.thin_id) return Ok();
    if (r.kind == JournalKind::kDelete) return DeleteThinRow(*env_.store, name_, *r.thin_id);
    return SetThinState(*env_.store, name_, *r.thin_id, "ready");
  };
  hooks.on_roll_back = [this](const JournalRecord& r) -> Status {
    if (!r.thin_id || r.kind == JournalKind::kDelete) return Ok();
    return DeleteThinRow(*env_.store, name_, *r.thin_id);
  };
  STRATA_TRY(Reconcile(journal_, *env_.dm, name_, report.status.transaction_id, hooks));
  return journal_.PruneCommitted();
}

}  // namespace strata::thinpool
