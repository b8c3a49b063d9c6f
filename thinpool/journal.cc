#include "thinpool/journal.h"

#include <cerrno>
#include <utility>

namespace strata::thinpool {
namespace {

constexpr std::pair<JournalKind, std::string_view> kKindNames[] = {
    {JournalKind::kPoolCreate, "pool_create"},
    {JournalKind::kCreateThin, "create_thin"},
    {JournalKind::kCreateSnap, "create_snap"},
    {JournalKind::kDelete, "delete"},
    {JournalKind::kGrow, "grow"},
    {JournalKind::kExtend, "extend"},
};

constexpr std::pair<JournalState, std::string_view> kStateNames[] = {
    {JournalState::kIntent, "intent"},
    {JournalState::kKernelDone, "kernel-done"},
    {JournalState::kCommitted, "committed"},
};

constexpr std::string_view kSelectColumns =
    "SELECT id, pool, kind, args, thin_id, state, txid_before, txid_after FROM thin_journal ";

Result<JournalRecord> ReadRecord(const Statement& stmt) {
  JournalRecord r;
  r.id = stmt.ColumnInt(0);
  r.pool = stmt.ColumnText(1);
  STRATA_ASSIGN_OR_RETURN(r.kind, ParseJournalKind(stmt.ColumnText(2)));
  r.args = stmt.ColumnText(3);
  if (!stmt.ColumnIsNull(4)) r.thin_id = static_cast<uint32_t>(stmt.ColumnInt(4));
  STRATA_ASSIGN_OR_RETURN(r.state, ParseJournalState(stmt.ColumnText(5)));
  r.txid_before = static_cast<uint64_t>(stmt.ColumnInt(6));
  r.txid_after = static_cast<uint64_t>(stmt.ColumnInt(7));
  return r;
}

std::string IdText(const JournalRecord& r) {
  return r.thin_id ? std::to_string(*r.thin_id) : std::string("?");
}

std::string Describe(const JournalRecord& r) {
  return "journal entry " + std::to_string(r.id) + " (" + std::string(JournalKindName(r.kind)) +
         " " + IdText(r) + ", " + std::string(JournalStateName(r.state)) + ")";
}

// The plan for a record whose kernel steps the pool has not committed (pool tid == before).
ReconcilePlan PlanUncommitted(const JournalRecord& r) {
  std::string set_txid = SetTransactionIdMessage(r.txid_before, r.txid_after);
  if (r.state == JournalState::kKernelDone) {
    return {ReconcileAction::kRollForward,
            {set_txid},
            Describe(r) + ": messages done, transaction id not set: replaying set_transaction_id"};
  }
  if (r.kind == JournalKind::kDelete) {
    return {ReconcileAction::kRollForward,
            {"delete " + IdText(r), set_txid},
            Describe(r) + ": replaying the delete (a delete is never undone)"};
  }
  return {ReconcileAction::kRollBack,
          {"delete " + IdText(r)},
          Describe(r) + ": the create may have run: deleting thin id " + IdText(r) +
              " and dropping the entry"};
}

}  // namespace

std::string_view JournalKindName(JournalKind kind) {
  for (const auto& [k, name] : kKindNames) {
    if (k == kind) return name;
  }
  return "?";
}

Result<JournalKind> ParseJournalKind(std::string_view text) {
  for (const auto& [k, name] : kKindNames) {
    if (name == text) return k;
  }
  return Error(EINVAL, "unknown journal kind \"" + std::string(text) + "\"");
}

std::string_view JournalStateName(JournalState state) {
  for (const auto& [s, name] : kStateNames) {
    if (s == state) return name;
  }
  return "?";
}

Result<JournalState> ParseJournalState(std::string_view text) {
  for (const auto& [s, name] : kStateNames) {
    if (name == text) return s;
  }
  return Error(EINVAL, "unknown journal state \"" + std::string(text) + "\"");
}

bool KindMovesTransactionId(JournalKind kind) {
  return kind == JournalKind::kCreateThin || kind == JournalKind::kCreateSnap ||
         kind == JournalKind::kDelete;
}

std::string SetTransactionIdMessage(uint64_t before, uint64_t after) {
  return "set_transaction_id " + std::to_string(before) + " " + std::to_string(after);
}

ReconcilePlan ReconcileDecision(const JournalRecord& r, uint64_t pool_txid) {
  if (r.state == JournalState::kCommitted) {
    return {ReconcileAction::kRollForward, {}, Describe(r) + ": already committed"};
  }
  if (!KindMovesTransactionId(r.kind)) {
    // No kernel commit point. ThinPool::Open (and Create, for pool_create) deals with these kinds
    // before the generic reconcile runs; what is left is forgotten.
    std::string what = ": interrupted; dropping the entry";
    if (r.kind == JournalKind::kPoolCreate) {
      what = ": interrupted pool create (" + r.args +
             "); `strata pool create` removes what it made and starts again, opening the pool "
             "completes it if the pool device is live";
    } else if (r.kind == JournalKind::kExtend) {
      what = ": interrupted extend (" + r.args + "); opening the pool redoes the grow and reload";
    }
    return {ReconcileAction::kRollBack, {}, Describe(r) + what};
  }
  if (!r.thin_id) {
    return {ReconcileAction::kRefuse, {}, Describe(r) + ": no thin id recorded"};
  }
  if (pool_txid == r.txid_after) {
    return {ReconcileAction::kRollForward,
            {},
            Describe(r) + ": the pool committed it (transaction id " + std::to_string(pool_txid) +
                "): rolling forward"};
  }
  if (pool_txid == r.txid_before) return PlanUncommitted(r);
  return {ReconcileAction::kRefuse,
          {},
          Describe(r) + ": pool transaction id is " + std::to_string(pool_txid) + ", expected " +
              std::to_string(r.txid_before) + " or " + std::to_string(r.txid_after) +
              " (was the pool changed by another tool?)"};
}

// --- Journal ---------------------------------------------------------------------------------

Result<JournalRecord> Journal::Begin(JournalKind kind, std::optional<uint32_t> thin_id,
                                     std::string_view args, uint64_t cur_txid) {
  STRATA_ASSIGN_OR_RETURN(std::vector<JournalRecord> open, OpenRecords());
  if (!open.empty()) {
    return Error(EBUSY, "pool " + pool_ + ": " + Describe(open.front()) +
                            " is still open; run `strata pool check --repair`");
  }
  JournalRecord r{0,        pool_,
                  kind,     std::string(args),
                  thin_id,  JournalState::kIntent,
                  cur_txid, KindMovesTransactionId(kind) ? cur_txid + 1 : cur_txid};
  STRATA_ASSIGN_OR_RETURN(
      Statement insert,
      store_->Prepare("INSERT INTO thin_journal (pool, kind, args, thin_id, state, txid_before, "
                      "txid_after) VALUES (?, ?, ?, ?, 'intent', ?, ?)"));
  STRATA_TRY(insert.Bind(1, pool_));
  STRATA_TRY(insert.Bind(2, JournalKindName(kind)));
  STRATA_TRY(insert.Bind(3, args));
  STRATA_TRY(thin_id ? insert.Bind(4, int64_t{*thin_id}) : insert.BindNull(4));
  STRATA_TRY(insert.Bind(5, static_cast<int64_t>(r.txid_before)));
  STRATA_TRY(insert.Bind(6, static_cast<int64_t>(r.txid_after)));
  STRATA_TRY_CTX(insert.Run(), "journal " + std::string(JournalKindName(kind)));
  STRATA_ASSIGN_OR_RETURN(Statement last, store_->Prepare("SELECT last_insert_rowid()"));
  STRATA_TRY(last.Step());
  r.id = last.ColumnInt(0);
  return r;
}

Status Journal::SetState(int64_t id, JournalState state) {
  STRATA_ASSIGN_OR_RETURN(Statement update,
                          store_->Prepare("UPDATE thin_journal SET state = ? WHERE id = ?"));
  STRATA_TRY(update.Bind(1, JournalStateName(state)));
  STRATA_TRY(update.Bind(2, id));
  STRATA_TRY(update.Run());
  if (store_->ChangedRows() == 0) {
    return Error(ENOENT, "journal entry " + std::to_string(id) + " not found");
  }
  return Ok();
}

Status Journal::MarkKernelDone(int64_t id) { return SetState(id, JournalState::kKernelDone); }

Status Journal::Commit(int64_t id) { return SetState(id, JournalState::kCommitted); }

Status Journal::Drop(int64_t id) {
  STRATA_ASSIGN_OR_RETURN(Statement del, store_->Prepare("DELETE FROM thin_journal WHERE id = ?"));
  STRATA_TRY(del.Bind(1, id));
  return del.Run();
}

Result<std::vector<JournalRecord>> Journal::OpenRecords() {
  STRATA_ASSIGN_OR_RETURN(Statement stmt,
                          store_->Prepare(std::string(kSelectColumns) +
                                          "WHERE pool = ? AND state != 'committed' ORDER BY id"));
  STRATA_TRY(stmt.Bind(1, pool_));
  std::vector<JournalRecord> out;
  while (true) {
    STRATA_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    STRATA_ASSIGN_OR_RETURN(JournalRecord r, ReadRecord(stmt));
    out.push_back(std::move(r));
  }
  return out;
}

Status Journal::PruneCommitted() {
  STRATA_ASSIGN_OR_RETURN(
      Statement del,
      store_->Prepare("DELETE FROM thin_journal WHERE pool = ? AND state = 'committed'"));
  STRATA_TRY(del.Bind(1, pool_));
  return del.Run();
}

// --- Apply -----------------------------------------------------------------------------------

Status SendPoolMessage(sys::DeviceMapper& dm, const std::string& pool_dm_name,
                       const std::string& message) {
  Result<std::string> reply = dm.Message(pool_dm_name, 0, message);
  if (reply.ok()) return Ok();
  if (reply.error().code() == ENODATA && message.starts_with("delete ")) return Ok();
  return std::move(reply).error().Wrap("pool " + pool_dm_name + ": message \"" + message + "\"");
}

namespace {

Status ApplyPlan(Journal& journal, sys::DeviceMapper& dm, const std::string& pool_dm_name,
                 const JournalRecord& r, const ReconcilePlan& plan, const ReconcileHooks& hooks) {
  if (plan.action == ReconcileAction::kRefuse) return Error(EUCLEAN, plan.reason);
  for (const std::string& message : plan.messages) {
    STRATA_TRY_CTX(SendPoolMessage(dm, pool_dm_name, message), Describe(r));
  }
  // The userspace result and the record's fate land in one store transaction.
  return journal.store().Transaction([&]() -> Status {
    if (plan.action == ReconcileAction::kRollForward) {
      if (hooks.on_roll_forward) STRATA_TRY(hooks.on_roll_forward(r));
      return journal.Commit(r.id);
    }
    if (hooks.on_roll_back) STRATA_TRY(hooks.on_roll_back(r));
    return journal.Drop(r.id);
  });
}

}  // namespace

Result<std::vector<ReconcileOutcome>> Reconcile(Journal& journal, sys::DeviceMapper& dm,
                                                const std::string& pool_dm_name, uint64_t pool_txid,
                                                const ReconcileHooks& hooks) {
  STRATA_ASSIGN_OR_RETURN(std::vector<JournalRecord> open, journal.OpenRecords());
  std::vector<ReconcileOutcome> outcomes;
  for (const JournalRecord& r : open) {
    ReconcilePlan plan = ReconcileDecision(r, pool_txid);
    STRATA_TRY_CTX(ApplyPlan(journal, dm, pool_dm_name, r, plan, hooks),
                   "reconcile pool " + journal.pool());
    // A replayed set_transaction_id moved the pool to the record's txid_after.
    if (plan.action == ReconcileAction::kRollForward && KindMovesTransactionId(r.kind)) {
      pool_txid = r.txid_after;
    }
    outcomes.push_back({r, std::move(plan)});
  }
  return outcomes;
}

}  // namespace strata::thinpool
