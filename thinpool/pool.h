// ThinPool: a device-mapper thin pool and its thin devices, over the dm seam, the loop seam and
// the metadata store.
//
// Backing (PoolConfig::backing):
//   loop files     <root>/devicemapper/data and .../metadata, sparse, attached to loop devices
//                  with autoclear: once the pool table holds them, removing the pool frees them.
//   devices        a data and a metadata block device given by path.
//   existing pool  a thin-pool dm device made by someone else, adopted as is (never removed).
// The pool's dm name is the config's pool-name, its uuid `STRATA-pool-<name>`. Thin devices are
// `<pool>-thin-<id>` with uuid `STRATA-thin-<pool>-<id>` (dm names are per host: two pools may
// both have a thin id 5).
//
// Store tables (schema step 2): thin_pools(name, last_thin_id): the id counter, never reused
// (thinpool/thin_ids.h); thin_devices(pool, thin_id, size_sectors, name, state) with state
// 'creating' while a create's journal entry is open, 'ready' after it, 'deleting' while a
// delete's is; thin_journal: see thinpool/journal.h, which every message-sending operation
// follows (intent -> messages -> set_transaction_id -> commit).
//
// Failure atomicity: each step of Create and of the thin operations has an owning guard, so a
// failure leaves no dm device, loop attachment, file or store row it made. A crash (no
// destructors run) is covered by the journal (journal.h): the thin operations by their records
// and the kernel's transaction id; Create by a pool_create record written before it makes
// anything (it names the loop files and the pool device): the next Create removes what an
// interrupted one made and starts again, and Open completes it when the pool device is live
// (nothing else was left to do) or else removes the leftovers and says ENOENT (loops are
// autoclear: they go with the pool device or the dead process). Extend writes an extend record
// with the target sizes; Open redoes the (idempotent) grow and reload.
//
// Thread-safety: one thread at a time (like the Store). Between processes, every operation that
// changes the pool or settles its journal (Create, Open's recovery, CreateThin, Snapshot, Delete,
// Grow, Extend, AutoExtend, Deactivate, repairs) holds the pool's FileLock,
// <root>/locks/pools/<name>.lock, waiting up to kPoolLockTimeout: a second process waits its turn
// instead of failing, and Open never mistakes another process's operation in flight for one a
// crash interrupted.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/file_lock.h"
#include "core/result.h"
#include "core/store.h"
#include "core/sys/device_mapper.h"
#include "core/sys/loop.h"
#include "thinpool/journal.h"
#include "thinpool/pool_config.h"
#include "thinpool/pool_space.h"
#include "thinpool/status.h"
#include "thinpool/tables.h"

namespace strata::thinpool {

// What a pool needs from the outside. All references must outlive the pool.
struct PoolEnv {
  sys::DeviceMapper* dm = nullptr;
  sys::Loop* loop = nullptr;
  Store* store = nullptr;
  std::string root;  // the strata root; loop files live in <root>/devicemapper/
};

inline constexpr char kPoolUuidPrefix[] = "STRATA-pool-";
inline constexpr std::chrono::seconds kPoolLockTimeout{60};
inline constexpr char kThinUuidPrefix[] = "STRATA-thin-";

// Where the pool's data and metadata live.
struct PoolBackingInfo {
  PoolBacking kind = PoolBacking::kLoopFiles;
  std::string data_path;  // loop file or block device path; "" for an existing pool
  std::string metadata_path;
  DevRef data_dev;  // as in the pool table
  DevRef metadata_dev;
};

// `strata pool status`: the kernel's status plus the table's fixed parameters.
struct PoolReport {
  std::string name;
  ThinPoolStatus status;
  uint32_t block_size_sectors = 0;
  uint64_t low_water_mark_blocks = 0;
  uint64_t data_length_sectors = 0;
  PoolBackingInfo backing;
};

// One row of thin_devices.
struct ThinRecord {
  uint32_t thin_id = 0;
  uint64_t size_sectors = 0;
  std::string name;
  std::string state;  // "creating", "ready", "deleting"
};

// "<pool>-thin-<id>" and "STRATA-thin-<pool>-<id>".
std::string ThinDmName(const std::string& pool, uint32_t thin_id);
std::string ThinDmUuid(const std::string& pool, uint32_t thin_id);
// The thin_devices rows of `pool`, any state, by id (ThinPool::List; the census, which may run
// without opening the pool).
Result<std::vector<ThinRecord>> ListThinRecords(Store& store, const std::string& pool);
// <root>/devicemapper/data and .../metadata.
std::string DataFilePath(const std::string& root);
std::string MetadataFilePath(const std::string& root);

class ThinPool {
 public:
  // Builds the pool described by `config`. Loop files: creates both files (EEXIST when either
  // exists: open it instead), attaches them, creates the pool device. Devices: zeroes the first
  // 4 KiB of the metadata device (a stale superblock would be adopted by the kernel) and creates
  // the pool device. Existing pool: checks it is a thin-pool and adopts it. EEXIST when the pool
  // device already exists (for the first two kinds). Nothing is left behind on failure.
  static Result<std::unique_ptr<ThinPool>> Create(const PoolEnv& env, const PoolConfig& config);
  // Opens a pool made by Create: adopts the running pool device, or after a reboot re-attaches
  // the loop files (reusing a loop device already bound to a file) and reloads the pool table.
  // Then reconciles the journal (journal.h). ENOENT when there is no such pool.
  static Result<std::unique_ptr<ThinPool>> Open(const PoolEnv& env, const PoolConfig& config);

  const std::string& name() const { return name_; }
  const PoolBackingInfo& backing() const { return backing_; }
  Journal& journal() { return journal_; }

  // Parses a no-flush TargetStatus of the pool device.
  Result<PoolReport> Report();

  // New empty thin device of `size_sectors`; returns its id. Refused when the pool is not
  // usable (CheckPoolUsable) or below the minimum free space (ENOSPC).
  Result<uint32_t> CreateThin(uint64_t size_sectors, const std::string& name = "");
  // Snapshot of `origin_id` (same size). An active origin is suspended around create_snap and
  // always resumed, even when create_snap fails. ENOENT for an origin the store does not know.
  Result<uint32_t> Snapshot(uint32_t origin_id, const std::string& name = "");
  // Creates <pool>-thin-<id> with a thin table of the recorded size. ENOENT for an unknown id;
  // EEXIST when it is already active.
  Status Activate(uint32_t thin_id);
  // Activate unless already active; true when this call activated it. EEXIST when a device of
  // that name exists but is not this pool's (its uuid says so): never use someone else's.
  Result<bool> EnsureActive(uint32_t thin_id);
  // Removes <pool>-thin-<id>; kDeferred lets a busy device go at last close. Not active: Ok.
  Status Deactivate(uint32_t thin_id, sys::DmRemove mode = sys::DmRemove::kNow);
  // Deactivates, then deletes the id from the pool and the store. Unknown id: Ok (idempotent).
  Status Delete(uint32_t thin_id);
  // Grows a thin device to `new_size_sectors` (EINVAL when smaller). Active: reload + resume.
  Status Grow(uint32_t thin_id, uint64_t new_size_sectors);
  // Thin devices recorded in the store.
  Result<std::vector<ThinRecord>> List();
  // The record of `thin_id`; ENOENT for an id the store does not know.
  Result<ThinRecord> FindThin(uint32_t thin_id);
  // The thin device recorded under `name` (the lowest id if several), or nullopt.
  Result<std::optional<ThinRecord>> FindByName(const std::string& name);
  // Renames the store record of `thin_id` (the kernel knows ids only). ENOENT for an unknown id.
  Status Rename(uint32_t thin_id, const std::string& name);
  // /dev/mapper/<pool>-thin-<id>: the block node Activate makes.
  std::string DevicePath(uint32_t thin_id) const;

  // Grows the loop files (data, metadata or both) to the given sizes, refreshes the loops and
  // reloads the pool table; the resume also takes an out_of_data_space pool back to rw. Journaled
  // (an extend record with the targets: Open redoes it after a crash). EINVAL when shrinking;
  // EOPNOTSUPP unless loop-backed; EBUSY while another journal entry of the pool is open.
  Status Extend(std::optional<uint64_t> data_bytes, std::optional<uint64_t> metadata_bytes);

  // Removes the pool device (its loops go with it); files and store rows stay, so Open brings it
  // back. EBUSY while thin devices are active. An adopted pool is left alone.
  Status Deactivate();

  // Holds the pool's cross-process lock until destroyed. Nested scopes in one ThinPool share the
  // one flock (a depth count): public operations take it themselves, callers that run several
  // as one step (a repair) may take it around them.
  class LockScope {
   public:
    explicit LockScope(ThinPool* pool) : pool_(pool) {}
    LockScope(LockScope&& other) noexcept : pool_(std::exchange(other.pool_, nullptr)) {}
    LockScope& operator=(LockScope&&) = delete;
    ~LockScope();

   private:
    ThinPool* pool_;
  };
  Result<LockScope> Lock();

 private:
  ThinPool(const PoolEnv& env, const PoolConfig& config, PoolBackingInfo backing);

  // pool_thin.cc
  Result<ThinPoolStatus> UsableStatus(bool for_new_device);
  Result<uint32_t> AllocateId();
  Result<uint32_t> CreateJournaled(JournalKind kind, uint64_t size_sectors, const std::string& name,
                                   std::optional<uint32_t> origin);
  Status SendCreate(JournalKind kind, uint32_t id, std::optional<uint32_t> origin);
  Status FinishJournaled(const JournalRecord& record, const std::function<Status()>& store_done);
  Status MarkKernelDoneLazily(int64_t record_id);
  Status CommitLazily(const std::function<Status()>& body);
  Status ResumeInterruptedOrigins();
  Status ReconcileJournal();
  Result<bool> IsActive(const std::string& dm_name);

  PoolEnv env_;
  PoolConfig config_;
  std::string name_;
  PoolBackingInfo backing_;
  Journal journal_;
  std::optional<FileLock> lock_;  // held while lock_depth_ > 0
  int lock_depth_ = 0;

  // --- Space management and the pool_create/extend journal (pool_space.cc, pool.cc) ----------
 public:
  // Grows a loop-file pool by the auto-extend rule (pool_space.h) when its data or metadata use
  // crossed auto-extend-threshold and the host filesystem has room; otherwise changes nothing
  // (a kNoHostRoom or kCannotGrow plan is also logged as a warning). CreateThin and Snapshot
  // run it first, and so does Open. Errors: Report's, Extend's, statvfs's.
  Result<AutoExtendOutcome> AutoExtend();
  // What the auto-extend run by Open did (nullopt when it failed: Open does not fail for it).
  const std::optional<AutoExtendOutcome>& open_auto_extend() const { return open_auto_extend_; }

 private:
  Result<AutoExtendOutcome> AutoExtendFrom(const PoolReport& report);
  // The hook in UsableStatus for new devices; updates `report` when the pool grew. ENOSPC,
  // saying why, when the pool is full and cannot auto-extend.
  Status PrepareSpaceForNewDevice(PoolReport& report);
  // Grow files, set the loops' capacity, reload and resume: the idempotent body of Extend.
  Status ApplyExtend(std::optional<uint64_t> data_bytes, std::optional<uint64_t> metadata_bytes);
  // Open: redoes an extend a crash interrupted (its journal entry holds the target sizes).
  Status RedoInterruptedExtend();

  std::optional<AutoExtendOutcome> open_auto_extend_;
  // --- end space management -------------------------------------------------------------------
};

// --- Census and repair: `strata pool check` (thinpool/pool_check.cc) -------------------------
// The pool's metadata, the store and the dm device list can drift apart in ways the journal does
// not cover: an id made by hand (`dmsetup message ... create_thin`), a store row deleted or
// restored from an old copy, a thin device left active or suspended by a killed process.
// TakeCensus collects the three views; DiffCensus (pure) names the drift; RepairDrift fixes it.

// One of this pool's thin dm devices (uuid "STRATA-thin-<pool>-<id>"), or the pool device.
struct ThinDmDevice {
  std::string dm_name;
  std::optional<uint32_t> thin_id;  // nullopt for the pool device itself
  bool suspended = false;
  bool operator==(const ThinDmDevice&) const = default;
};

struct PoolCensus {
  std::set<uint32_t> pool_ids;        // thin ids in the pool metadata (thin_ls of a metadata snap)
  std::vector<ThinRecord> records;    // thin_devices rows of the pool, any state
  std::set<uint32_t> pending_ids;     // ids of open journal entries: recovery decides those
  std::vector<ThinDmDevice> devices;  // this pool's STRATA-thin- devices and the pool device
};

struct PoolDrift {
  std::vector<uint32_t> leaked_ids;               // in the pool, no store record: space lost
  std::vector<uint32_t> lost_ids;                 // a store record, not in the pool: data gone
  std::vector<std::string> unreferenced_devices;  // thin dm devices no store record names
  std::vector<std::string> suspended_devices;     // every writer on them hangs
  bool clean() const {
    return leaked_ids.empty() && lost_ids.empty() && unreferenced_devices.empty() &&
           suspended_devices.empty();
  }
  bool operator==(const PoolDrift&) const = default;
};

// Pure. Ids in pending_ids count as neither leaked nor lost. Each list is sorted.
PoolDrift DiffCensus(const PoolCensus& census);
// `thin_ls --no-headers -o DEV` output: one decimal id per line. EINVAL naming a bad line.
Result<std::set<uint32_t>> ParseThinLsIds(std::string_view text);
// The thin ids in running pool `pool_dm_name`'s metadata: reserve_metadata_snap, thin_ls
// --metadata-snap on the metadata device's node, release_metadata_snap (always). A snapshot
// already held (EBUSY) is taken as left by a killed check: released and reserved again.
// EOPNOTSUPP from a read-only or failed pool; ENOENT when thin_ls is not installed.
Result<std::set<uint32_t>> PoolThinIds(sys::DeviceMapper& dm, const std::string& pool_dm_name);
// The census of running pool `pool_dm_name`. Reads only (sends no message that changes the pool).
Result<PoolCensus> TakeCensus(const PoolEnv& env, const std::string& pool_dm_name);
// Resumes suspended devices, removes unreferenced thin devices (deferred: a busy one goes at its
// last close), drops lost records, and deletes leaked ids through the journaled ThinPool::Delete
// (a placeholder record is written first). `pool` must be open (journal reconciled).
Status RepairDrift(ThinPool& pool, const PoolEnv& env, const PoolDrift& drift);
// --- end census and repair ---------------------------------------------------------------------

}  // namespace strata::thinpool
