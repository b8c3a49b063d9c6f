// ThinPool: creating, opening, reporting on, extending and deactivating the pool device.
// Thin device operations are in pool_thin.cc.
#include "thinpool/pool.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

#include "core/failpoint.h"
#include "core/loop.h"
#include "core/unique_fd.h"
#include "thinpool/pool_backing.h"

namespace strata::thinpool {
namespace {

std::string PoolUuid(const std::string& name) { return kPoolUuidPrefix + name; }

Status MakeDir(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) == 0 || errno == EEXIST) return Ok();
  return Error::FromErrno("create " + path);
}

// Loop files are attached with autoclear: once the pool table holds a loop device, removing
// the pool detaches it, so a torn-down pool can never leak loops.
sys::LoopConfig PoolLoopConfig() {
  sys::LoopConfig config;
  config.autoclear = sys::LoopAutoclear::kOnLastClose;
  return config;
}

// Resets the store's view of pool `name` to an empty pool (a new pool over fresh metadata
// knows no thin ids; rows of an earlier pool of that name would lie).
Status ResetPoolRows(Store& store, const std::string& name) {
  return store.Transaction([&]() -> Status {
    for (const char* sql :
         {"DELETE FROM thin_devices WHERE pool = ?", "DELETE FROM thin_journal WHERE pool = ?",
          "INSERT OR REPLACE INTO thin_pools (name, last_thin_id) VALUES (?, 0)"}) {
      STRATA_ASSIGN_OR_RETURN(Statement stmt, store.Prepare(sql));
      STRATA_TRY(stmt.Bind(1, name));
      STRATA_TRY(stmt.Run());
    }
    return Ok();
  });
}

Status EnsurePoolRow(Store& store, const std::string& name) {
  STRATA_ASSIGN_OR_RETURN(Statement stmt,
                          store.Prepare("INSERT OR IGNORE INTO thin_pools (name) VALUES (?)"));
  STRATA_TRY(stmt.Bind(1, name));
  return stmt.Run();
}

// A loop device for `file`: the one already bound to it (after a crash the pool may be gone but
// another holder keeps it), else a new attachment (owned by the caller until the pool holds it).
Result<std::pair<DevRef, std::optional<LoopAttachment>>> LoopFor(sys::Loop& loop,
                                                                 const std::string& file) {
  Result<sys::LoopDevice> found = loop.FindByBackingFile(file);
  if (found.ok()) return std::pair{LoopDevRef(*found), std::optional<LoopAttachment>()};
  if (found.error().code() != ENOENT) return std::move(found).error();
  STRATA_ASSIGN_OR_RETURN(LoopAttachment attached, AttachLoop(loop, file, PoolLoopConfig()));
  DevRef ref = LoopDevRef(attached.device());
  return std::pair{ref, std::optional<LoopAttachment>(std::move(attached))};
}

// --- The pool_create record -------------------------------------------------------------------
// args: {"device": <dm name>, "data_file": <path>, "metadata_file": <path>} (files: loop files
// only). The loops are not named: they are found by their backing files.

Result<std::optional<JournalRecord>> OpenPoolCreate(Journal& journal) {
  STRATA_ASSIGN_OR_RETURN(std::vector<JournalRecord> open, journal.OpenRecords());
  for (JournalRecord& r : open) {
    if (r.kind == JournalKind::kPoolCreate) return std::optional<JournalRecord>(std::move(r));
  }
  return std::optional<JournalRecord>();
}

// The files a loop-file pool's Create would make must not exist: they hold a pool made before
// (deactivated, or after a reboot), which Open brings back.
Status RefuseExistingFiles(const PoolEnv& env, const std::string& name) {
  for (const std::string& path : {DataFilePath(env.root), MetadataFilePath(env.root)}) {
    if (::access(path.c_str(), F_OK) == 0) {
      return Error(EEXIST, "create pool " + name + ": " + path +
                               " exists: a pool was made here before (`strata pool status` "
                               "reopens it; remove " +
                               env.root + "/devicemapper to start over)");
    }
  }
  return Ok();
}

// Step 1 of Create: resets the store's rows of the pool and records the intent, together.
Result<JournalRecord> BeginPoolCreate(const PoolEnv& env, const PoolConfig& config,
                                      Journal& journal) {
  nlohmann::json args = {{"device", config.pool_name.value}};
  if (config.backing == PoolBacking::kLoopFiles) {
    args["data_file"] = DataFilePath(env.root);
    args["metadata_file"] = MetadataFilePath(env.root);
  }
  JournalRecord record;
  Status begun = env.store->Transaction([&]() -> Status {
    STRATA_TRY(ResetPoolRows(*env.store, config.pool_name.value));
    STRATA_ASSIGN_OR_RETURN(record,
                            journal.Begin(JournalKind::kPoolCreate, std::nullopt, args.dump(), 0));
    return Ok();
  });
  STRATA_TRY_CTX(std::move(begun), "create pool " + config.pool_name.value);
  return record;
}

// Undoes what the interrupted Create of `r` made: the pool device (only with our uuid: EEXIST
// when the name now belongs to someone else's device), loops still bound to its files (autoclear
// normally freed them with the device or the dead process), the files. Then drops the record.
Status RemoveInterruptedCreate(const PoolEnv& env, Journal& journal, const JournalRecord& r) {
  STRATA_ASSIGN_OR_RETURN(bool exists, DmDeviceExists(*env.dm, r.pool));
  if (exists) {
    STRATA_ASSIGN_OR_RETURN(sys::DmDeviceInfo info, env.dm->Info(r.pool));
    if (info.uuid != PoolUuid(r.pool)) {
      return Error(EEXIST, "dm device " + r.pool + " (uuid \"" + info.uuid +
                               "\") is not the one an interrupted pool create made");
    }
    STRATA_TRY_CTX(env.dm->Remove(r.pool, sys::DmRemove::kNow),
                   "remove the pool device of an interrupted create");
  }
  nlohmann::json args = nlohmann::json::parse(r.args, nullptr, /*allow_exceptions=*/false);
  for (const char* key : {"data_file", "metadata_file"}) {
    if (!args.is_object() || !args.contains(key) || !args[key].is_string()) continue;
    std::string path = args[key].get<std::string>();
    Result<sys::LoopDevice> loop = env.loop->FindByBackingFile(path);
    if (loop.ok()) (void)env.loop->Detach(*loop);  // best effort: ENXIO if autoclear won the race
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return Error::FromErrno("remove " + path + " (left by an interrupted pool create)");
    }
  }
  return journal.Drop(r.id);
}

// Open over an interrupted Create: a live pool device means only the commit was missing (the
// rows were reset with the intent, no thin device can exist while the record is open): commit.
// Anything less is removed, and the pool does not exist (ENOENT).
Status FinishInterruptedCreate(const PoolEnv& env, Journal& journal, const JournalRecord& r) {
  Result<sys::DmDeviceInfo> info = env.dm->Info(r.pool);
  if (info.ok() && info->uuid == PoolUuid(r.pool) && info->live_table && !info->suspended) {
    return journal.Commit(r.id);
  }
  STRATA_TRY(RemoveInterruptedCreate(env, journal, r));
  return Error(ENOENT, "pool " + r.pool +
                           ": its creation was interrupted; removed what it had made (run "
                           "`strata pool create` again)");
}

}  // namespace

std::string DataFilePath(const std::string& root) { return root + "/devicemapper/data"; }
std::string MetadataFilePath(const std::string& root) { return root + "/devicemapper/metadata"; }

ThinPool::ThinPool(const PoolEnv& env, const PoolConfig& config, PoolBackingInfo backing)
    : env_(env),
      config_(config),
      name_(config.pool_name.value),
      backing_(std::move(backing)),
      journal_(*env.store, config.pool_name.value) {}

namespace {

// A pool under construction: what Create made so far, undone in reverse order (loops before
// files: members are destroyed in reverse declaration order) unless Released.
struct StagedBacking {
  PoolBackingInfo info;
  uint64_t data_bytes = 0;
  std::optional<CreatedFileGuard> data_file, metadata_file;
  std::optional<LoopAttachment> data_loop, metadata_loop;

  // Success: the files stay, and the pool table holds the loops (autoclear frees them with it).
  void Release() {
    if (data_file) data_file->Release();
    if (metadata_file) metadata_file->Release();
    if (data_loop) (void)data_loop->Release();
    if (metadata_loop) (void)metadata_loop->Release();
  }
};

Status StageLoopFiles(const PoolEnv& env, const PoolConfig& config, StagedBacking& staged) {
  STRATA_TRY(MakeDir(env.root + "/devicemapper"));
  staged.info.data_path = DataFilePath(env.root);
  staged.info.metadata_path = MetadataFilePath(env.root);
  staged.data_bytes = config.data_size_bytes.value;
  STRATA_ASSIGN_OR_RETURN(uint64_t metadata_bytes, MetadataBytesFor(config));
  STRATA_ASSIGN_OR_RETURN(CreatedFileGuard d,
                          CreateSparseFile(staged.info.data_path, staged.data_bytes, false));
  staged.data_file.emplace(std::move(d));
  STRATA_ASSIGN_OR_RETURN(CreatedFileGuard m,
                          CreateSparseFile(staged.info.metadata_path, metadata_bytes, true));
  staged.metadata_file.emplace(std::move(m));
  Failpoint("pool.create.files");
  STRATA_ASSIGN_OR_RETURN(LoopAttachment dl,
                          AttachLoop(*env.loop, staged.info.data_path, PoolLoopConfig()));
  staged.data_loop.emplace(std::move(dl));
  STRATA_ASSIGN_OR_RETURN(LoopAttachment ml,
                          AttachLoop(*env.loop, staged.info.metadata_path, PoolLoopConfig()));
  staged.metadata_loop.emplace(std::move(ml));
  staged.info.data_dev = LoopDevRef(staged.data_loop->device());
  staged.info.metadata_dev = LoopDevRef(staged.metadata_loop->device());
  Failpoint("pool.create.loops");
  return Ok();
}

Status StageDevices(const PoolConfig& config, StagedBacking& staged) {
  staged.info.data_path = config.data_device.value;
  staged.info.metadata_path = config.metadata_device.value;
  STRATA_ASSIGN_OR_RETURN(staged.info.data_dev, BlockDevRef(staged.info.data_path));
  STRATA_ASSIGN_OR_RETURN(staged.info.metadata_dev, BlockDevRef(staged.info.metadata_path));
  STRATA_ASSIGN_OR_RETURN(staged.data_bytes, SizeOfPath(staged.info.data_path));
  return ZeroHead(staged.info.metadata_path);
}

}  // namespace

// Order: the pool_create intent (with the store rows reset), the backing (files, loops), the
// pool device, the commit. Each step's guard undoes it if a later one fails, so a failure leaves
// nothing behind; after a crash the record names what to remove (RemoveInterruptedCreate).
namespace {

// The pool's cross-process lock (pool.h, "Thread-safety").
Result<FileLock> AcquirePoolLock(const PoolEnv& env, const std::string& name) {
  STRATA_TRY(MakeDir(env.root + "/locks"));
  return FileLock::Acquire(env.root + "/locks/pools", name, "pool " + name,
                           FileLock::Wait::kBlock, kPoolLockTimeout);
}

}  // namespace

ThinPool::LockScope::~LockScope() {
  if (pool_ != nullptr && --pool_->lock_depth_ == 0) pool_->lock_.reset();
}

Result<ThinPool::LockScope> ThinPool::Lock() {
  if (lock_depth_ == 0) {
    STRATA_ASSIGN_OR_RETURN(FileLock lock, AcquirePoolLock(env_, name_));
    lock_ = std::move(lock);
  }
  ++lock_depth_;
  return LockScope(this);
}

Result<std::unique_ptr<ThinPool>> ThinPool::Create(const PoolEnv& env, const PoolConfig& config) {
  const std::string& name = config.pool_name.value;
  if (config.backing == PoolBacking::kExistingPool) return Open(env, config);
  STRATA_ASSIGN_OR_RETURN(FileLock lock, AcquirePoolLock(env, name));
  Journal journal(*env.store, name);
  STRATA_ASSIGN_OR_RETURN(std::optional<JournalRecord> interrupted, OpenPoolCreate(journal));
  if (interrupted) {
    STRATA_TRY_CTX(RemoveInterruptedCreate(env, journal, *interrupted), "create pool " + name);
  }
  STRATA_ASSIGN_OR_RETURN(bool exists, DmDeviceExists(*env.dm, name));
  if (exists) return Error(EEXIST, "pool " + name + " already exists");
  if (config.backing == PoolBacking::kLoopFiles) STRATA_TRY(RefuseExistingFiles(env, name));
  STRATA_ASSIGN_OR_RETURN(JournalRecord record, BeginPoolCreate(env, config, journal));
  // Declared before the staged steps, so it runs after their guards undid them.
  auto drop_record = MakeGuard([&] { (void)journal.Drop(record.id); });  // best effort: see above
  Failpoint("pool.create.intent");
  StagedBacking staged;
  staged.info.kind = config.backing;
  STRATA_TRY_CTX(config.backing == PoolBacking::kLoopFiles ? StageLoopFiles(env, config, staged)
                                                           : StageDevices(config, staged),
                 "create pool " + name);
  STRATA_ASSIGN_OR_RETURN(
      MappingTable table,
      PoolTableFor(config, staged.info.metadata_dev, staged.info.data_dev, staged.data_bytes));
  STRATA_TRY_CTX(CreateDmDevice(*env.dm, name, PoolUuid(name), table), "create pool " + name);
  DmDeviceGuard pool_guard(*env.dm, name);
  Failpoint("pool.create.device");
  STRATA_TRY_CTX(journal.Commit(record.id), "create pool " + name);
  pool_guard.Release();
  staged.Release();
  drop_record.Release();
  return std::unique_ptr<ThinPool>(new ThinPool(env, config, std::move(staged.info)));
}

namespace {

// After a reboot or a Deactivate: the loop files are there, the pool device is not. The
// metadata on the file still holds the pool (thin ids, transaction id); a new table over it
// brings it back. Loops this makes are released to the pool table once it is live.
Status RecreateLoopPool(const PoolEnv& env, const PoolConfig& config, const std::string& name,
                        PoolBackingInfo& info) {
  info.data_path = DataFilePath(env.root);
  info.metadata_path = MetadataFilePath(env.root);
  STRATA_ASSIGN_OR_RETURN_CTX(uint64_t data_bytes, SizeOfPath(info.data_path),
                              "pool " + name + " (run `strata pool create`)");
  STRATA_ASSIGN_OR_RETURN(auto data, LoopFor(*env.loop, info.data_path));
  STRATA_ASSIGN_OR_RETURN(auto metadata, LoopFor(*env.loop, info.metadata_path));
  info.data_dev = data.first;
  info.metadata_dev = metadata.first;
  STRATA_ASSIGN_OR_RETURN(MappingTable table,
                          PoolTableFor(config, info.metadata_dev, info.data_dev, data_bytes));
  STRATA_TRY_CTX(CreateDmDevice(*env.dm, name, PoolUuid(name), table), "reopen pool " + name);
  if (data.second) (void)data.second->Release();  // held by the pool table now
  if (metadata.second) (void)metadata.second->Release();
  return Ok();
}

// The pool device runs: its table names the devices.
Status AdoptRunningPool(const PoolEnv& env, const PoolConfig& config, const std::string& name,
                        PoolBackingInfo& info) {
  STRATA_ASSIGN_OR_RETURN(MappingTable table, env.dm->Table(name));
  STRATA_ASSIGN_OR_RETURN_CTX(ThinPoolParams params, ParseThinPoolTable(table), "pool " + name);
  info.data_dev = params.data;
  info.metadata_dev = params.metadata;
  if (config.backing == PoolBacking::kLoopFiles) {
    info.data_path = DataFilePath(env.root);
    info.metadata_path = MetadataFilePath(env.root);
  } else {
    info.data_path = config.data_device.value;
    info.metadata_path = config.metadata_device.value;
  }
  return Ok();
}

}  // namespace

Result<std::unique_ptr<ThinPool>> ThinPool::Open(const PoolEnv& env, const PoolConfig& config) {
  std::string name = config.backing == PoolBacking::kExistingPool ? config.thin_pool_device.value
                                                                  : config.pool_name.value;
  const std::string node_prefix = std::string(sys::kDmNodeDir) + "/";
  if (name.starts_with(node_prefix)) name.erase(0, node_prefix.size());  // a path: its dm name
  // Held through recovery: an open journal entry of a live process is not a crash to undo.
  STRATA_ASSIGN_OR_RETURN(FileLock lock, AcquirePoolLock(env, name));
  if (config.backing != PoolBacking::kExistingPool) {
    Journal journal(*env.store, name);
    STRATA_ASSIGN_OR_RETURN(std::optional<JournalRecord> interrupted, OpenPoolCreate(journal));
    if (interrupted) STRATA_TRY(FinishInterruptedCreate(env, journal, *interrupted));
  }
  PoolBackingInfo backing;
  backing.kind = config.backing;
  STRATA_ASSIGN_OR_RETURN(bool exists, DmDeviceExists(*env.dm, name));
  if (exists) {
    STRATA_TRY(AdoptRunningPool(env, config, name, backing));
  } else if (config.backing == PoolBacking::kLoopFiles) {
    STRATA_TRY(RecreateLoopPool(env, config, name, backing));
  } else {
    return Error(ENOENT, "pool device " + name + " not found");
  }
  PoolConfig effective = config;
  effective.pool_name.value = name;
  STRATA_TRY(EnsurePoolRow(*env.store, name));
  std::unique_ptr<ThinPool> pool(new ThinPool(env, effective, std::move(backing)));
  pool->lock_ = std::move(lock);  // the pool's own operations below nest in it
  LockScope held(pool.get());
  pool->lock_depth_ = 1;
  STRATA_TRY(pool->RedoInterruptedExtend());
  STRATA_TRY(pool->ReconcileJournal());
  // A pool that filled up while nothing of strata ran grows now. Not growing is no reason to
  // refuse the pool: the next new device tries again, and says why if it must refuse.
  Result<AutoExtendOutcome> grown = pool->AutoExtend();
  if (grown.ok()) {
    pool->open_auto_extend_ = std::move(grown).value();
  } else {
    spdlog::warn("pool {}: auto-extend on open failed: {}", name, grown.error().message());
  }
  return pool;
}

Result<PoolReport> ThinPool::Report() {
  PoolReport report;
  report.name = name_;
  report.backing = backing_;
  STRATA_ASSIGN_OR_RETURN(MappingTable table, env_.dm->Table(name_));
  STRATA_ASSIGN_OR_RETURN(ThinPoolParams params, ParseThinPoolTable(table));
  report.block_size_sectors = params.block_size_sectors;
  report.low_water_mark_blocks = params.low_water_mark_blocks;
  report.data_length_sectors = params.data_length_sectors;
  STRATA_ASSIGN_OR_RETURN(auto status, env_.dm->TargetStatus(name_, sys::DmFlush::kNoFlush));
  if (status.size() != 1 || status[0].type != "thin-pool") {
    return Error(EINVAL, "pool " + name_ + ": status is not one thin-pool target");
  }
  STRATA_ASSIGN_OR_RETURN_CTX(report.status, ParseThinPoolStatus(status[0].params),
                              "pool " + name_);
  return report;
}

namespace {

// The extend record's args: {"data_bytes": N, "metadata_bytes": M}, each only when it grows.
std::string ExtendArgs(std::optional<uint64_t> data_bytes, std::optional<uint64_t> metadata_bytes) {
  nlohmann::json args = nlohmann::json::object();
  if (data_bytes) args["data_bytes"] = *data_bytes;
  if (metadata_bytes) args["metadata_bytes"] = *metadata_bytes;
  return args.dump();
}

Result<std::pair<std::optional<uint64_t>, std::optional<uint64_t>>> ParseExtendArgs(
    const std::string& text) {
  nlohmann::json args = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!args.is_object()) return Error(EINVAL, "extend journal entry: bad args " + text);
  std::pair<std::optional<uint64_t>, std::optional<uint64_t>> out;
  for (auto [key, slot] :
       {std::pair{"data_bytes", &out.first}, std::pair{"metadata_bytes", &out.second}}) {
    if (!args.contains(key)) continue;
    if (!args[key].is_number_unsigned()) {
      return Error(EINVAL, "extend journal entry: bad " + std::string(key) + " in " + text);
    }
    *slot = args[key].get<uint64_t>();
  }
  return out;
}

}  // namespace

// Extend is journaled though it sends no pool message: a crash after the files grew but before
// the reload leaves a pool smaller than its files, which nothing else would notice.
Status ThinPool::Extend(std::optional<uint64_t> data_bytes,
                        std::optional<uint64_t> metadata_bytes) {
  STRATA_ASSIGN_OR_RETURN(LockScope locked, Lock());
  if (backing_.kind != PoolBacking::kLoopFiles) {
    return Error(EOPNOTSUPP, "pool " + name_ + ": only loop-file pools can be extended by strata");
  }
  // An out-of-data-space pool is exactly what extending is for; fail mode and needs_check are
  // not (the kernel refuses to resize those).
  STRATA_ASSIGN_OR_RETURN(PoolReport report, Report());
  Status usable = CheckPoolUsable(report.status);
  if (!usable.ok() && usable.error().code() != ENOSPC) {
    return std::move(usable).error().Wrap("extend pool " + name_);
  }
  JournalRecord record;
  Status begun = env_.store->Transaction([&]() -> Status {
    STRATA_ASSIGN_OR_RETURN(record, journal_.Begin(JournalKind::kExtend, std::nullopt,
                                                   ExtendArgs(data_bytes, metadata_bytes),
                                                   report.status.transaction_id));
    return Ok();
  });
  STRATA_TRY_CTX(std::move(begun), "extend pool " + name_);
  // In-process failure: the files may have grown, but the old table is still valid over them.
  auto drop_record = MakeGuard([&] { (void)journal_.Drop(record.id); });  // best effort
  STRATA_TRY_CTX(ApplyExtend(data_bytes, metadata_bytes), "extend pool " + name_);
  drop_record.Release();
  return journal_.Commit(record.id).Wrap("extend pool " + name_);
}

// Grow the files first, then make the loops see it, then reload the pool table: the kernel
// refuses a table longer than its data device, and a reload over the same metadata device that
// grew makes the pool extend its metadata space in place. The resume is also what takes an
// out_of_data_space pool back to rw (the pool's preresume rebinds it with the table's mode).
// Every step is idempotent, so RedoInterruptedExtend can run it again.
Status ThinPool::ApplyExtend(std::optional<uint64_t> data_bytes,
                             std::optional<uint64_t> metadata_bytes) {
  for (auto [path, size] : {std::pair{backing_.data_path, data_bytes},
                            std::pair{backing_.metadata_path, metadata_bytes}}) {
    if (!size) continue;
    STRATA_TRY(GrowFile(path, *size));
    STRATA_ASSIGN_OR_RETURN(sys::LoopDevice dev, env_.loop->FindByBackingFile(path));
    STRATA_TRY(env_.loop->SetCapacity(dev));
  }
  Failpoint("pool.extend.files");
  STRATA_ASSIGN_OR_RETURN(uint64_t data_now, SizeOfPath(backing_.data_path));
  STRATA_ASSIGN_OR_RETURN(MappingTable table, PoolTableFor(config_, backing_.metadata_dev,
                                                           backing_.data_dev, data_now));
  STRATA_TRY(env_.dm->Load(name_, table));
  return env_.dm->Resume(name_);
}

Status ThinPool::RedoInterruptedExtend() {
  STRATA_ASSIGN_OR_RETURN(std::vector<JournalRecord> open, journal_.OpenRecords());
  for (const JournalRecord& r : open) {
    if (r.kind != JournalKind::kExtend) continue;
    auto targets = ParseExtendArgs(r.args);
    Status redone = targets.ok() ? Ok() : Status(targets.error());
    if (redone.ok()) redone = ApplyExtend(targets->first, targets->second);
    if (redone.ok()) {
      STRATA_TRY(journal_.Commit(r.id));
      continue;
    }
    // The pool still runs on its old table, which is consistent: give the entry up rather than
    // fail every Open (an extend can be run again).
    spdlog::warn("pool {}: could not redo the interrupted extend (journal entry {}): {}", name_,
                 r.id, redone.error().message());
    STRATA_TRY(journal_.Drop(r.id));
  }
  return Ok();
}

Status ThinPool::Deactivate() {
  if (backing_.kind == PoolBacking::kExistingPool) return Ok();  // not ours to remove
  STRATA_ASSIGN_OR_RETURN(LockScope locked, Lock());
  STRATA_ASSIGN_OR_RETURN(bool exists, DmDeviceExists(*env_.dm, name_));
  if (!exists) return Ok();
  return env_.dm->Remove(name_, sys::DmRemove::kNow).Wrap("deactivate pool " + name_);
}

}  // namespace strata::thinpool
