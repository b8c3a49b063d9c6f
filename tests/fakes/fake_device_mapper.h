// FakeDeviceMapper: an in-memory sys::DeviceMapper modelling the kernel side, for unit tests.
//
// - Devices with an active and an inactive table, a suspended flag, an open count and deferred
//   removal. Device numbers are kFakeMajor:<lowest free minor>. A device's open count is what a
//   test set (SetOpenCount: a mount, an open fd) plus one per loaded table (active or inactive)
//   of another device that names it ("/dev/mapper/NAME" or "MAJ:MIN"), as in the kernel, so a
//   pool used by thin tables cannot be removed.
// - A simulated thin pool per thin-pool table, keyed by its metadata device (so a pool device
//   removed and re-created over the same metadata keeps its thin ids and transaction id, as
//   real metadata does). Messages: create_thin N, create_snap N ORIGIN, delete N,
//   set_transaction_id CUR NEW, reserve_metadata_snap, release_metadata_snap, with the kernel's
//   errnos (EEXIST, ENODATA, EBUSY, EINVAL; EOPNOTSUPP in a ro or failed pool). A thin table,
//   like the kernel's thin target constructor, opens its thin id at load time: loading one for an
//   unknown id fails (ENODATA), and `delete` of an id any loaded table uses fails with EBUSY.
// - Status lines in the kernel's formats (FIELD-GUIDE §1.6); linear/zero/error report "".
// - Records every mutating call; fails on demand:
//     FakeDeviceMapper dm;
//     dm.FailNext("resume", EBUSY);
//     EXPECT_THAT(dm.calls(), ElementsAre("create pool", "load pool thin-pool", "resume pool"));
// Not thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/sys/device_mapper.h"

namespace strata {

class FakeDeviceMapper : public sys::DeviceMapper {
 public:
  static constexpr uint32_t kFakeMajor = 253;

  // What a thin-pool status reports as its mode.
  enum class PoolMode { kReadWrite, kReadOnly, kOutOfDataSpace, kFail };

  struct Device {
    std::string uuid;
    uint32_t minor = 0;
    std::optional<std::vector<sys::DmTarget>> active;
    std::optional<std::vector<sys::DmTarget>> inactive;
    bool suspended = false;
    int32_t open_count = 0;  // set by tests; table references are added on top
    bool deferred_remove = false;
    uint32_t event_nr = 0;
  };

  struct Thin {
    uint64_t mapped_blocks = 0;  // data blocks provisioned (sets thin and pool usage)
  };

  struct Pool {  // the state the kernel keeps in the pool's metadata device
    uint64_t transaction_id = 0;
    std::map<uint32_t, Thin> thins;
    uint64_t total_metadata_blocks = 4096;  // 16 MiB of 4 KiB blocks; SetPoolMetadataBlocks
    bool metadata_snap_held = false;
    PoolMode mode = PoolMode::kReadWrite;
  };

  // The next call of `op` fails with `code` and changes nothing; queued per op, each used once.
  // ops: "create", "load", "suspend", "resume", "remove", "info", "table", "status", "message",
  // "list", "target_version".
  void FailNext(const std::string& op, int code) { failures_[op].push_back(code); }

  // Mutating calls, in order, failed ones included:
  //   "create NAME", "load NAME TYPE[ TYPE...]", "suspend NAME[ noflush][ skiplockfs]",
  //   "resume NAME", "remove NAME[ deferred]", "message NAME MESSAGE".
  // Queries (Info, Table, TargetStatus, List, TargetVersion) are not recorded.
  const std::vector<std::string>& calls() const { return calls_; }
  void ClearCalls() { calls_.clear(); }

  // Opens (n > 0) or closes the device for the model. Dropping to 0 completes a deferred removal.
  void SetOpenCount(const std::string& name, int32_t n);
  // Removes a target type (TargetVersion then says ENOENT; loading it fails with EINVAL).
  void RemoveTargetType(const std::string& type) { target_versions_.erase(type); }
  // Pool simulation knobs; `pool` is the pool device's name (its active table's metadata dev).
  void SetPoolMode(const std::string& pool, PoolMode mode);
  void SetPoolMetadataBlocks(const std::string& pool, uint64_t blocks);
  void SetThinMappedBlocks(const std::string& pool, uint32_t thin_id, uint64_t blocks);

  const std::map<std::string, Device>& devices() const { return devices_; }
  bool Exists(const std::string& name) const { return devices_.count(name) != 0; }
  // The pool state behind pool device `pool` (nullptr when it has no thin-pool table loaded).
  const Pool* PoolOf(const std::string& pool) const;

  Status Create(const std::string& name, const std::string& uuid) override;
  Status Load(const std::string& name, const std::vector<sys::DmTarget>& table) override;
  Status Suspend(const std::string& name, sys::DmFlush flush, sys::DmLockFs lockfs) override;
  Status Resume(const std::string& name) override;
  Status Remove(const std::string& name, sys::DmRemove mode) override;
  Result<sys::DmDeviceInfo> Info(const std::string& name) override;
  Result<std::vector<sys::DmTarget>> Table(const std::string& name) override;
  Result<std::vector<sys::DmTarget>> TargetStatus(const std::string& name,
                                                  sys::DmFlush flush) override;
  Result<std::string> Message(const std::string& name, uint64_t sector,
                              const std::string& message) override;
  Result<std::vector<sys::DmListEntry>> List() override;
  Result<std::vector<uint32_t>> TargetVersion(const std::string& target_type) override;

 private:
  int TakeFailure(const std::string& op);
  Result<Device*> Find(const std::string& name, const std::string& what);
  // The device a table argument names ("/dev/mapper/NAME", "MAJ:MIN"), or "" when none.
  std::string Resolve(const std::string& dev_arg) const;
  int32_t References(const std::string& name) const;  // tables of others naming `name`
  Status CheckTable(const std::vector<sys::DmTarget>& table);
  // The metadata device argument of `pool`'s thin-pool table (active, else inactive), or "".
  std::string PoolKey(const std::string& pool) const;
  Pool* MutablePool(const std::string& pool);
  std::string PoolStatus(const sys::DmTarget& target);
  std::string ThinStatus(const sys::DmTarget& target);
  // create_thin (no origin) or create_snap.
  Status CreateThin(Pool& pool, uint64_t id, std::optional<uint64_t> origin_id);
  Result<std::string> PoolMessage(const std::string& pool_name,
                                  const std::vector<std::string>& argv);
  bool ThinInUse(const std::string& pool_name, uint32_t thin_id) const;
  void Erase(const std::string& name);

  std::map<std::string, std::deque<int>> failures_;
  std::vector<std::string> calls_;
  std::map<std::string, Device> devices_;
  std::map<std::string, Pool> pools_;  // by metadata device argument
  std::set<uint32_t> used_minors_;
  std::map<std::string, std::vector<uint32_t>> target_versions_ = {{"linear", {1, 4, 0}},
                                                                   {"zero", {1, 2, 0}},
                                                                   {"error", {1, 6, 0}},
                                                                   {"thin", {1, 22, 0}},
                                                                   {"thin-pool", {1, 22, 0}}};
};

}  // namespace strata
