// The thin pool's crash-safety journal: one row per multi-step operation in the SQLite store
// (table thin_journal, schema step 2 in core/store.cc), tied to the pool's kernel transaction id.
//
// Why: the pool keeps only thin ids and mappings; names, sizes and owners live in the store. A
// crash between a kernel message and the store update would leak a thin id (space lost for good)
// or leave a record pointing at nothing. The kernel's only commit point a manager can tie its own
// metadata to is `set_transaction_id <cur> <new>`, a compare-and-swap committed together with the
// messages sent before it (FIELD-GUIDE §2.1). Docker (open transaction + pool tid) and LVM
// (queued messages + expected tid) both build on it (§2.2, §2.3); strata does the same.
//
// Protocol for an operation that sends pool messages (create_thin, create_snap, delete), with
// `cur` the pool's transaction id read from its status:
//   1. Begin: insert the record, state 'intent', txid_before = cur, txid_after = cur + 1, in the
//      same store transaction as the userspace side of the intent (e.g. a thin_devices row in
//      state 'creating'). Synchronous=FULL: the intent is on disk before the kernel hears of it.
//   2. Send the kernel message(s).
//   3. MarkKernelDone: the messages succeeded (so recovery knows it need not roll back).
//   4. Send `set_transaction_id cur cur+1`: the kernel-side commit point.
//   5. Commit the record, in the same store transaction as the userspace result (the thin_devices
//      row becomes 'ready', or goes away for a delete).
// Only one operation per pool is open at a time (Begin refuses a second one with EBUSY), so the
// pool's transaction id identifies exactly which record the kernel has committed.
//
// Recovery on open (ReconcileDecision, pure; Reconcile applies it):
//   pool tid == txid_after            -> the kernel committed: roll forward (commit the record).
//   pool tid == txid_before, and
//     'kernel-done'                   -> the messages succeeded: replay only set_transaction_id,
//                                        then roll forward.
//     'intent', create_thin/_snap     -> the message may or may not have run: `delete <id>`
//                                        (ENODATA: it never ran), then roll back (drop it).
//     'intent', delete                -> replay `delete <id>` (ENODATA: it already ran) and
//                                        set_transaction_id, then roll forward: a delete is
//                                        never undone (the data may already be gone).
//   anything else                     -> refuse (EUCLEAN): someone else moved the pool's id
//                                        (LVM, another manager, a restored metadata device).
// Operations without pool messages (pool_create, grow, extend) have no kernel commit point;
// records of those kinds use txid_before == txid_after == cur. ThinPool journals two of them and
// recovers them itself, before the generic Reconcile (which would just drop them):
//   pool_create  written (with the pool's store rows reset) before Create makes anything; args
//                name the pool device and loop files. An open one is undone by the next Create
//                (remove the device if it carries our uuid, detach loops, unlink the files) or,
//                by Open, committed when the pool device is live, else undone (ENOENT).
//   extend       args hold the target sizes; Open redoes the idempotent grow + reload, then
//                commits (or drops it with a warning when the redo fails: the old table stands).
// Grow is not journaled: it updates the store before the idempotent reload.
//
// Thread-safety: as the Store (one thread at a time).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/store.h"
#include "core/sys/device_mapper.h"

namespace strata::thinpool {

enum class JournalKind { kPoolCreate, kCreateThin, kCreateSnap, kDelete, kGrow, kExtend };
enum class JournalState { kIntent, kKernelDone, kCommitted };

// "pool_create", "create_thin", "create_snap", "delete", "grow", "extend".
std::string_view JournalKindName(JournalKind kind);
// The reverse; EINVAL naming the text.
Result<JournalKind> ParseJournalKind(std::string_view text);
// "intent", "kernel-done", "committed".
std::string_view JournalStateName(JournalState state);
Result<JournalState> ParseJournalState(std::string_view text);
// Whether operations of `kind` send pool messages and so move the transaction id.
bool KindMovesTransactionId(JournalKind kind);

struct JournalRecord {
  int64_t id = 0;
  std::string pool;
  JournalKind kind = JournalKind::kCreateThin;
  std::string args;                 // free text for humans and `pool check` (e.g. "origin=3")
  std::optional<uint32_t> thin_id;  // the thin device the operation creates or deletes
  JournalState state = JournalState::kIntent;
  uint64_t txid_before = 0;
  uint64_t txid_after = 0;
  bool operator==(const JournalRecord&) const = default;
};

// What recovery does with one open record.
enum class ReconcileAction {
  kRollForward,  // send `messages` (tolerating ENODATA on delete), then commit the record
  kRollBack,     // send `messages` (tolerating ENODATA on delete), then drop the record
  kRefuse,       // touch nothing; report `reason`
};

struct ReconcilePlan {
  ReconcileAction action = ReconcileAction::kRefuse;
  std::vector<std::string> messages;  // pool messages, in order
  std::string reason;                 // one line, for `pool check` and errors
  bool operator==(const ReconcilePlan&) const = default;
};

// The pure recovery rule (see the table above). `pool_txid` is the pool's current transaction
// id. A committed record gets kRollForward with no messages (nothing to do).
ReconcilePlan ReconcileDecision(const JournalRecord& record, uint64_t pool_txid);

// The journal of one pool over a Store. The Store must outlive it.
class Journal {
 public:
  Journal(Store& store, std::string pool) : store_(&store), pool_(std::move(pool)) {}

  // Step 1: records the intent with txid_after = cur + 1 for message kinds, cur otherwise.
  // Call it inside the store Transaction that writes the userspace side of the intent (it
  // joins). EBUSY when another record of this pool is open (finish or reconcile it first).
  Result<JournalRecord> Begin(JournalKind kind, std::optional<uint32_t> thin_id,
                              std::string_view args, uint64_t cur_txid);
  // Step 3. ENOENT when the record is gone.
  Status MarkKernelDone(int64_t id);
  // Step 5 (roll forward). Joins an enclosing Transaction. ENOENT when the record is gone.
  Status Commit(int64_t id);
  // Roll back: deletes the record. Joins an enclosing Transaction. Idempotent.
  Status Drop(int64_t id);
  // Records of this pool not yet committed, oldest first.
  Result<std::vector<JournalRecord>> OpenRecords();
  // Deletes this pool's committed records (they are history only).
  Status PruneCommitted();

  Store& store() { return *store_; }
  const std::string& pool() const { return pool_; }

 private:
  Status SetState(int64_t id, JournalState state);

  Store* store_;
  std::string pool_;
};

// Hooks with which the pool code applies the userspace side of a recovered record. Each runs
// inside the store Transaction that commits or drops the record, so both land together.
struct ReconcileHooks {
  std::function<Status(const JournalRecord&)> on_roll_forward;
  std::function<Status(const JournalRecord&)> on_roll_back;
};

// What Reconcile did with one record.
struct ReconcileOutcome {
  JournalRecord record;
  ReconcilePlan plan;
};

// The apply loop: for each open record, ReconcileDecision against `pool_txid`, send the plan's
// messages to `pool_dm_name` (ENODATA on `delete` counts as done: the id is gone either way),
// then commit or drop the record with the matching hook. Stops at the first error (the records
// after it stay open) and at a kRefuse plan, which fails with EUCLEAN and the plan's reason.
// Returns the outcomes of the records handled.
Result<std::vector<ReconcileOutcome>> Reconcile(Journal& journal, sys::DeviceMapper& dm,
                                                const std::string& pool_dm_name, uint64_t pool_txid,
                                                const ReconcileHooks& hooks);

// Sends one pool message, treating ENODATA on a `delete` as success (the id does not exist:
// already deleted, or its create never ran).
Status SendPoolMessage(sys::DeviceMapper& dm, const std::string& pool_dm_name,
                       const std::string& message);

// "set_transaction_id <before> <after>".
std::string SetTransactionIdMessage(uint64_t before, uint64_t after);

}  // namespace strata::thinpool
