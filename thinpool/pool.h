// ThinPool: a device-mapper thin pool and its thin devices, over the dm seam, the loop seam and
// the metadata store.
//
// Backing (PoolConfig::backing):
//   loop files     <root>/devicemapper/data and .../metadata, sparse, attached to loop devices
//                  with autoclear: once the pool table holds them, removing the pool frees them.
//   devices        a data and a metadata block device given by path.
//   existing pool  a thin-pool dm device made by someone else, adopted as is (never removed).
// The pool's dm name is the config's pool-name, its uuid `STRATA-pool-<name>`. Thin devices are
// `strata-thin-<id>` with uuid `STRATA-thin-<pool>-<id>`.
//
// Store tables (schema step 2): thin_pools(name, last_thin_id): the id counter, never reused
// (thinpool/thin_ids.h); thin_devices(pool, thin_id, size_sectors, name, state) with state
// 'creating' while a create's journal entry is open, 'ready' after it, 'deleting' while a
// delete's is; thin_journal: see thinpool/journal.h, which every message-sending operation
// follows (intent -> messages -> set_transaction_id -> commit).
//
// Failure atomicity: each step of Create and of the thin operations has an owning guard, so a
// failure leaves no dm device, loop attachment, file or store row it made. A crash (no
// destructors run) is covered by the journal for the thin operations; a crash inside Create can
// leave the loop files (the next Create fails with EEXIST; remove <root>/devicemapper) and, for
// loop files, nothing else once the process is gone (autoclear loops; the pool device, if it was
// made, carries the STRATA-pool- uuid and Open adopts it).
//
// Thread-safety: one thread at a time (like the Store). Between processes the store's write lock
// serialises journal entries; two processes racing on one pool get EBUSY from Journal::Begin.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/store.h"
#include "core/sys/device_mapper.h"
#include "core/sys/loop.h"
#include "thinpool/journal.h"
#include "thinpool/pool_config.h"
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

// "strata-thin-<id>" and "STRATA-thin-<pool>-<id>".
std::string ThinDmName(uint32_t thin_id);
std::string ThinDmUuid(const std::string& pool, uint32_t thin_id);
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
  // Creates strata-thin-<id> with a thin table of the recorded size. ENOENT for an unknown id;
  // EEXIST when it is already active.
  Status Activate(uint32_t thin_id);
  // Removes strata-thin-<id>; kDeferred lets a busy device go at last close. Not active: Ok.
  Status Deactivate(uint32_t thin_id, sys::DmRemove mode = sys::DmRemove::kNow);
  // Deactivates, then deletes the id from the pool and the store. Unknown id: Ok (idempotent).
  Status Delete(uint32_t thin_id);
  // Grows a thin device to `new_size_sectors` (EINVAL when smaller). Active: reload + resume.
  Status Grow(uint32_t thin_id, uint64_t new_size_sectors);
  // Thin devices recorded in the store.
  Result<std::vector<ThinRecord>> List();
  // The thin device recorded under `name` (the lowest id if several), or nullopt.
  Result<std::optional<ThinRecord>> FindByName(const std::string& name);
  // Renames the store record of `thin_id` (the kernel knows ids only). ENOENT for an unknown id.
  Status Rename(uint32_t thin_id, const std::string& name);
  // /dev/mapper/strata-thin-<id>: the block node Activate makes.
  static std::string DevicePath(uint32_t thin_id);

  // Grows the loop files (data, metadata or both) to the given sizes, refreshes the loops and
  // reloads the pool table. EINVAL when shrinking; EOPNOTSUPP unless loop-backed.
  Status Extend(std::optional<uint64_t> data_bytes, std::optional<uint64_t> metadata_bytes);

  // Removes the pool device (its loops go with it); files and store rows stay, so Open brings it
  // back. EBUSY while thin devices are active. An adopted pool is left alone.
  Status Deactivate();

 private:
  ThinPool(const PoolEnv& env, const PoolConfig& config, PoolBackingInfo backing);

  // pool_thin.cc
  Result<ThinRecord> FindThin(uint32_t thin_id);
  Result<ThinPoolStatus> UsableStatus(bool for_new_device);
  Result<uint32_t> AllocateId();
  Result<uint32_t> CreateJournaled(JournalKind kind, uint64_t size_sectors, const std::string& name,
                                   std::optional<uint32_t> origin);
  Status SendCreate(JournalKind kind, uint32_t id, std::optional<uint32_t> origin);
  Status FinishJournaled(const JournalRecord& record, const std::function<Status()>& store_done);
  Status ResumeInterruptedOrigins();
  Status ReconcileJournal();
  Result<bool> IsActive(const std::string& dm_name);

  PoolEnv env_;
  PoolConfig config_;
  std::string name_;
  PoolBackingInfo backing_;
  Journal journal_;
};

}  // namespace strata::thinpool
