// ThinPool: creating, opening, reporting on, extending and deactivating the pool device.
// Thin device operations are in pool_thin.cc.
#include "thinpool/pool.h"

#include <sys/stat.h>

#include <cerrno>
#include <optional>
#include <utility>

#include "core/loop.h"
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
  STRATA_ASSIGN_OR_RETURN(LoopAttachment dl,
                          AttachLoop(*env.loop, staged.info.data_path, PoolLoopConfig()));
  staged.data_loop.emplace(std::move(dl));
  STRATA_ASSIGN_OR_RETURN(LoopAttachment ml,
                          AttachLoop(*env.loop, staged.info.metadata_path, PoolLoopConfig()));
  staged.metadata_loop.emplace(std::move(ml));
  staged.info.data_dev = LoopDevRef(staged.data_loop->device());
  staged.info.metadata_dev = LoopDevRef(staged.metadata_loop->device());
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

// Order: backing (files, loops), then the pool device, then the store rows; each step's guard
// undoes it if a later one fails, so a failure leaves nothing behind.
Result<std::unique_ptr<ThinPool>> ThinPool::Create(const PoolEnv& env, const PoolConfig& config) {
  const std::string& name = config.pool_name.value;
  if (config.backing == PoolBacking::kExistingPool) return Open(env, config);
  STRATA_ASSIGN_OR_RETURN(bool exists, DmDeviceExists(*env.dm, name));
  if (exists) return Error(EEXIST, "pool " + name + " already exists");
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
  STRATA_TRY_CTX(ResetPoolRows(*env.store, name), "create pool " + name);
  pool_guard.Release();
  staged.Release();
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
  STRATA_TRY(pool->ReconcileJournal());
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

// Grow the files first, then make the loops see it, then reload the pool table: the kernel
// refuses a table longer than its data device, and a reload over the same metadata device that
// grew makes the pool extend its metadata space in place.
Status ThinPool::Extend(std::optional<uint64_t> data_bytes,
                        std::optional<uint64_t> metadata_bytes) {
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
  for (auto [path, size] : {std::pair{backing_.data_path, data_bytes},
                            std::pair{backing_.metadata_path, metadata_bytes}}) {
    if (!size) continue;
    STRATA_TRY(GrowFile(path, *size));
    STRATA_ASSIGN_OR_RETURN(sys::LoopDevice dev, env_.loop->FindByBackingFile(path));
    STRATA_TRY_CTX(env_.loop->SetCapacity(dev), "extend pool " + name_);
  }
  STRATA_ASSIGN_OR_RETURN(uint64_t data_now, SizeOfPath(backing_.data_path));
  STRATA_ASSIGN_OR_RETURN(MappingTable table, PoolTableFor(config_, backing_.metadata_dev,
                                                           backing_.data_dev, data_now));
  STRATA_TRY_CTX(env_.dm->Load(name_, table), "extend pool " + name_);
  STRATA_TRY_CTX(env_.dm->Resume(name_), "extend pool " + name_);
  return Ok();
}

Status ThinPool::Deactivate() {
  if (backing_.kind == PoolBacking::kExistingPool) return Ok();  // not ours to remove
  STRATA_ASSIGN_OR_RETURN(bool exists, DmDeviceExists(*env_.dm, name_));
  if (!exists) return Ok();
  return env_.dm->Remove(name_, sys::DmRemove::kNow).Wrap("deactivate pool " + name_);
}

}  // namespace strata::thinpool
