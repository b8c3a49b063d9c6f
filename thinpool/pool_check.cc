// The census behind `strata pool check`: the pool's thin ids (from a metadata snapshot), the
// store's records and the dm devices, compared (DiffCensus) and repaired (RepairDrift).
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <string>
#include <utility>

#include "core/exec.h"
#include "core/unique_fd.h"
#include "thinpool/pool.h"
#include "thinpool/pool_backing.h"

namespace strata::thinpool {
namespace {

// The /dev node of block device `dev`: /dev/<DEVNAME> from sysfs (devtmpfs names nodes so; no
// udev needed), checked to be that very device. ENOENT when there is no such node.
Result<std::string> BlockNodeFor(DevRef dev) {
  std::string uevent = "/sys/dev/block/" + dev.ToString() + "/uevent";
  std::ifstream in(uevent);
  if (!in) return Error(ENOENT, "block device " + dev.ToString() + ": no " + uevent);
  std::string line;
  std::string node;
  while (std::getline(in, line)) {
    if (line.starts_with("DEVNAME=")) node = "/dev/" + line.substr(8);
  }
  struct stat st {};
  if (node.empty() || ::stat(node.c_str(), &st) != 0 || !S_ISBLK(st.st_mode) ||
      major(st.st_rdev) != dev.major || minor(st.st_rdev) != dev.minor) {
    return Error(ENOENT, "block device " + dev.ToString() + ": no node in /dev");
  }
  return node;
}

// reserve_metadata_snap, taking over a snapshot a killed check left held (EBUSY). strata is the
// only user of the pool's metadata snapshot; a stale one would give thin_ls an old view.
Status ReserveMetadataSnap(sys::DeviceMapper& dm, const std::string& pool) {
  Status reserved = SendPoolMessage(dm, pool, "reserve_metadata_snap");
  if (reserved.ok() || reserved.error().code() != EBUSY) return reserved;
  STRATA_TRY(SendPoolMessage(dm, pool, "release_metadata_snap"));
  return SendPoolMessage(dm, pool, "reserve_metadata_snap");
}

// The id in "STRATA-thin-<pool>-<id>", or nullopt for any other uuid (another pool's devices
// included: "STRATA-thin-a-1-5" is not pool "a"'s, its suffix is not a number).
std::optional<uint32_t> ThinIdOfUuid(const std::string& uuid, const std::string& pool) {
  std::string prefix = std::string(kThinUuidPrefix) + pool + "-";
  if (!uuid.starts_with(prefix)) return std::nullopt;
  Result<uint64_t> id = ParseDecimal(std::string_view(uuid).substr(prefix.size()), "thin id");
  if (!id.ok() || *id > 0xffffff) return std::nullopt;
  return static_cast<uint32_t>(*id);
}

// The pool device and its thin devices. A device that vanishes between List and Info is skipped.
Result<std::vector<ThinDmDevice>> PoolDevices(sys::DeviceMapper& dm, const std::string& pool) {
  STRATA_ASSIGN_OR_RETURN(std::vector<sys::DmListEntry> all, dm.List());
  std::vector<ThinDmDevice> out;
  for (const sys::DmListEntry& entry : all) {
    Result<sys::DmDeviceInfo> info = dm.Info(entry.name);
    if (!info.ok()) {
      int code = info.error().code();
      if (code == ENXIO || code == ENODEV || code == ENOENT) continue;
      return std::move(info).error();
    }
    if (entry.name == pool) {
      out.push_back({entry.name, std::nullopt, info->suspended});
    } else if (std::optional<uint32_t> id = ThinIdOfUuid(info->uuid, pool)) {
      out.push_back({entry.name, id, info->suspended});
    }
  }
  return out;
}

Status InsertPlaceholder(Store& store, const std::string& pool, uint32_t id) {
  STRATA_ASSIGN_OR_RETURN(
      Statement insert,
      store.Prepare("INSERT INTO thin_devices (pool, thin_id, size_sectors, name, state) "
                    "VALUES (?, ?, 0, 'pool-check: leaked', 'ready')"));
  STRATA_TRY(insert.Bind(1, pool));
  STRATA_TRY(insert.Bind(2, int64_t{id}));
  return insert.Run();
}

Status DeleteRecord(Store& store, const std::string& pool, uint32_t id) {
  STRATA_ASSIGN_OR_RETURN(Statement del,
                          store.Prepare("DELETE FROM thin_devices WHERE pool = ? AND thin_id = ?"));
  STRATA_TRY(del.Bind(1, pool));
  STRATA_TRY(del.Bind(2, int64_t{id}));
  return del.Run();
}

}  // namespace

PoolDrift DiffCensus(const PoolCensus& census) {
  PoolDrift drift;
  std::set<uint32_t> recorded;
  for (const ThinRecord& r : census.records) recorded.insert(r.thin_id);
  for (uint32_t id : census.pool_ids) {
    if (!recorded.contains(id) && !census.pending_ids.contains(id)) drift.leaked_ids.push_back(id);
  }
  for (uint32_t id : recorded) {
    if (!census.pool_ids.contains(id) && !census.pending_ids.contains(id)) {
      drift.lost_ids.push_back(id);
    }
  }
  for (const ThinDmDevice& d : census.devices) {
    if (d.thin_id && !recorded.contains(*d.thin_id)) {
      drift.unreferenced_devices.push_back(d.dm_name);
    }
    if (d.suspended) drift.suspended_devices.push_back(d.dm_name);
  }
  std::sort(drift.unreferenced_devices.begin(), drift.unreferenced_devices.end());
  std::sort(drift.suspended_devices.begin(), drift.suspended_devices.end());
  return drift;
}

Result<std::set<uint32_t>> ParseThinLsIds(std::string_view text) {
  std::set<uint32_t> ids;
  for (std::string_view field : SplitFields(text)) {
    STRATA_ASSIGN_OR_RETURN_CTX(uint64_t id, ParseDecimal(field, "thin id"), "thin_ls output");
    if (id > 0xffffff) return Error(EINVAL, "thin_ls output: thin id " + std::string(field));
    ids.insert(static_cast<uint32_t>(id));
  }
  return ids;
}

Result<std::set<uint32_t>> PoolThinIds(sys::DeviceMapper& dm, const std::string& pool_dm_name) {
  std::string context = "census of pool " + pool_dm_name;
  STRATA_ASSIGN_OR_RETURN_CTX(MappingTable table, dm.Table(pool_dm_name), context);
  STRATA_ASSIGN_OR_RETURN_CTX(ThinPoolParams params, ParseThinPoolTable(table), context);
  STRATA_ASSIGN_OR_RETURN_CTX(std::string node, BlockNodeFor(params.metadata), context);
  STRATA_TRY_CTX(ReserveMetadataSnap(dm, pool_dm_name), context);
  // The held snapshot pins metadata blocks: always let it go, whatever thin_ls did.
  auto release = MakeGuard([&] {
    (void)SendPoolMessage(dm, pool_dm_name, "release_metadata_snap");  // best effort: next
  });                                                                  // reserve takes it over
  ExecOptions options;
  options.install_hint = "install thin-provisioning-tools";
  STRATA_ASSIGN_OR_RETURN_CTX(
      ExecResult thin_ls,
      RunProgramOk({"thin_ls", "--metadata-snap", "--no-headers", "-o", "DEV", node}, options),
      context);
  return ParseThinLsIds(thin_ls.out).Wrap(context);
}

Result<PoolCensus> TakeCensus(const PoolEnv& env, const std::string& pool_dm_name) {
  PoolCensus census;
  STRATA_ASSIGN_OR_RETURN(census.pool_ids, PoolThinIds(*env.dm, pool_dm_name));
  STRATA_ASSIGN_OR_RETURN(census.records, ListThinRecords(*env.store, pool_dm_name));
  Journal journal(*env.store, pool_dm_name);
  STRATA_ASSIGN_OR_RETURN(std::vector<JournalRecord> open, journal.OpenRecords());
  for (const JournalRecord& r : open) {
    if (r.thin_id) census.pending_ids.insert(*r.thin_id);
  }
  STRATA_ASSIGN_OR_RETURN(census.devices, PoolDevices(*env.dm, pool_dm_name));
  return census;
}

// Order: resume first (a suspended device blocks its users and a remove of it), then the
// devices, then the records, then the leaked ids (whose delete needs their devices gone).
Status RepairDrift(ThinPool& pool, const PoolEnv& env, const PoolDrift& drift) {
  STRATA_ASSIGN_OR_RETURN(ThinPool::LockScope locked, pool.Lock());  // one step for others
  for (const std::string& name : drift.suspended_devices) {
    STRATA_TRY_CTX(env.dm->Resume(name), "repair: resume " + name);
  }
  for (const std::string& name : drift.unreferenced_devices) {
    Status removed = env.dm->Remove(name, sys::DmRemove::kDeferred);
    if (!removed.ok() && removed.error().code() != ENXIO && removed.error().code() != ENODEV) {
      return std::move(removed).Wrap("repair: remove " + name);
    }
  }
  for (uint32_t id : drift.lost_ids) {
    STRATA_TRY_CTX(DeleteRecord(*env.store, pool.name(), id),
                   "repair: drop lost thin device " + std::to_string(id));
  }
  // A placeholder record makes the leaked id an ordinary device, so its delete goes through the
  // journal like any other. A crash in between leaves an adopted (recorded) id: no drift.
  for (uint32_t id : drift.leaked_ids) {
    std::string what = "repair: delete leaked thin id " + std::to_string(id);
    STRATA_TRY_CTX(InsertPlaceholder(*env.store, pool.name(), id), what);
    STRATA_TRY_CTX(pool.Delete(id), what);
  }
  return Ok();
}

}  // namespace strata::thinpool
