// The device-mapper seam: one thin call per dm ioctl (DM_DEV_CREATE, DM_TABLE_LOAD, resume,
// suspend, remove, status, table, message, list). No retries, no fallbacks, no policy: callers
// (thinpool/) decide ordering, retries and rollback. The Linux implementation is libdevmapper,
// in thinpool/libdm_device_mapper.cc (the only place libdevmapper.h may be included, with
// core/sys/); fakes live in tests/fakes/.
//
// Node handling: strata never depends on udev. The implementation keeps /dev/mapper/<name> in
// step with the kernel itself (created on Resume of a new device, removed on Remove) and tells a
// running udev to leave strata's devices alone; it never creates a udev cookie semaphore, so no
// call can hang waiting for udev.
//
// Errors carry the kernel's errno: ENXIO/ENODEV when the device does not exist, EBUSY when it is
// open, EEXIST for a taken name or thin id, ENODATA for a message naming an unknown thin id,
// EINVAL for a rejected table or message, EOPNOTSUPP from a pool in read-only or fail mode.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"

namespace strata::sys {

// One line of a mapping table, in 512-byte sectors.
struct DmTarget {
  uint64_t start_sectors = 0;
  uint64_t length_sectors = 0;
  std::string type;    // "linear", "zero", "error", "thin-pool", "thin"
  std::string params;  // the target's argument string (table) or its status line (status)
  bool operator==(const DmTarget&) const = default;
};

struct DmDeviceInfo {
  std::string name;
  std::string uuid;
  uint32_t major = 0;
  uint32_t minor = 0;
  int32_t open_count = 0;
  uint32_t event_nr = 0;
  uint32_t target_count = 0;
  bool suspended = false;
  bool live_table = false;      // an active table is loaded
  bool inactive_table = false;  // a table waits in the inactive slot
  bool read_only = false;
  bool deferred_remove = false;  // removal scheduled for the last close
};

struct DmListEntry {
  std::string name;
  uint32_t major = 0;
  uint32_t minor = 0;
};

enum class DmFlush { kFlush, kNoFlush };        // DM_NOFLUSH_FLAG
enum class DmLockFs { kLockFs, kSkipLockFs };   // DM_SKIP_LOCKFS_FLAG
enum class DmRemove { kNow, kDeferred };        // DM_DEFERRED_REMOVE

class DeviceMapper {
 public:
  virtual ~DeviceMapper() = default;

  // DM_DEV_CREATE: a device with no table (size 0 until a table is loaded and resumed).
  virtual Status Create(const std::string& name, const std::string& uuid) = 0;
  // DM_TABLE_LOAD into the inactive slot.
  virtual Status Load(const std::string& name, const std::vector<DmTarget>& table) = 0;
  // DM_DEV_SUSPEND with DM_SUSPEND_FLAG; waits for in-flight I/O.
  virtual Status Suspend(const std::string& name, DmFlush flush, DmLockFs lockfs) = 0;
  // DM_DEV_SUSPEND without the flag: swaps in the inactive table (if any) and resumes I/O.
  virtual Status Resume(const std::string& name) = 0;
  // DM_DEV_REMOVE (and the /dev/mapper node). kDeferred: an open device goes at last close.
  virtual Status Remove(const std::string& name, DmRemove mode) = 0;
  // DM_DEV_STATUS. ENXIO when there is no such device.
  virtual Result<DmDeviceInfo> Info(const std::string& name) = 0;
  // DM_TABLE_STATUS with DM_STATUS_TABLE_FLAG: the active table.
  virtual Result<std::vector<DmTarget>> Table(const std::string& name) = 0;
  // DM_TABLE_STATUS: each target's status line in DmTarget::params. kNoFlush: do not commit the
  // pool first (a thin-pool status otherwise commits metadata; never block a monitor on that).
  virtual Result<std::vector<DmTarget>> TargetStatus(const std::string& name, DmFlush flush) = 0;
  // DM_TARGET_MSG to `sector` (0 for thin-pool messages). Returns the target's reply, if any.
  virtual Result<std::string> Message(const std::string& name, uint64_t sector,
                                      const std::string& message) = 0;
  // DM_LIST_DEVICES: every dm device on the system (callers filter by uuid prefix via Info).
  virtual Result<std::vector<DmListEntry>> List() = 0;
  // DM_GET_TARGET_VERSION / DM_LIST_VERSIONS: {major, minor, patch}; ENOENT if not loaded.
  virtual Result<std::vector<uint32_t>> TargetVersion(const std::string& target_type) = 0;
};

// Names and sizes the kernel allows (without the trailing NUL).
inline constexpr size_t kDmMaxNameLength = 127;
inline constexpr size_t kDmMaxUuidLength = 128;
// Where the implementation keeps a block node per mapped device.
inline constexpr const char* kDmNodeDir = "/dev/mapper";

// The Linux implementation over libdevmapper (thinpool/libdm_device_mapper.cc, in
// strata_thinpool). Lives for the whole process. Thread-safe: calls are serialised under one
// mutex, because libdevmapper's state is process-global. On a kernel without device-mapper every
// call fails with ProbeDeviceMapper()'s error.
DeviceMapper& LinuxDeviceMapper();

// Whether this kernel offers device-mapper, without side effects (libdevmapper itself would mknod
// a missing /dev/mapper/control). Ok, or EOPNOTSUPP with the reason ("device-mapper:
// /dev/mapper/control not found (dm_mod not loaded?)", or the control device cannot be opened:
// no driver behind it); EACCES/EPERM when not privileged. Drivers use it as their probe.
Status ProbeDeviceMapper();

}  // namespace strata::sys
