// One libdevmapper task per device-mapper ioctl, owned RAII, with the kernel's errno and
// libdevmapper's last error message turned into an Error. Private to thinpool/ (the only place
// libdevmapper.h is included, behind core/sys/device_mapper.h).
//
// libdevmapper keeps process-global state: the control fd, a stack of pending /dev/mapper node
// operations, the log callback, a suspended-device counter. It is not thread-safe, so every use
// holds LibdmLock() from task creation to the last read of its results.
#pragma once

#include <libdevmapper.h>

#include <mutex>
#include <string>

#include "core/result.h"
#include "core/unique_fd.h"

namespace strata::thinpool {

// The lock serialising all libdevmapper use in this process.
std::unique_lock<std::mutex> LibdmLock();

// Prepares libdevmapper once per process (call under LibdmLock(), before any task):
// ProbeDeviceMapper() first (libdevmapper would otherwise mknod a missing control node), then
// the log callback, udev sync off, the control fd held open and marked close-on-exec.
// Returns the probe's error while device-mapper is missing; retried on the next call.
Status InitLibdm();

// udev flags for uevents of resume and remove (FIELD-GUIDE §1.12): with a zero cookie base no
// semaphore exists and nothing waits, and a running udev's rules skip the device entirely
// (no /dev/mapper links from the dm rules, no blkid scan, no subsystem or foreign rules).
inline constexpr uint32_t kUdevLeaveAloneFlags =
    (DM_UDEV_DISABLE_DM_RULES_FLAG | DM_UDEV_DISABLE_SUBSYSTEM_RULES_FLAG |
     DM_UDEV_DISABLE_DISK_RULES_FLAG | DM_UDEV_DISABLE_OTHER_RULES_FLAG)
    << DM_UDEV_FLAGS_SHIFT;

// One dm_task. `what` names the operation in errors: "DM_TABLE_LOAD strata-pool-thin-17".
class LibdmTask {
 public:
  // dm_task_create(type) and, when `name` is not empty, dm_task_set_name. EINVAL for a name the
  // kernel would refuse (empty where needed is the caller's business; too long here).
  static Result<LibdmTask> Create(int type, std::string what, const std::string& name);

  dm_task* get() const { return task_.get(); }

  // Fails with EIO and libdevmapper's message when a setter returned 0 (`setter` names it).
  Status Check(int setter_result, const char* setter) const;

  // dm_task_run. On failure the Error has the ioctl's errno (dm_task_get_errno), or EIO when
  // libdevmapper failed before the ioctl; its text is "<what>: <strerror>", plus libdevmapper's
  // last error message when that says more than "ioctl failed".
  Status Run();

 private:
  LibdmTask(CPtr<dm_task, dm_task_destroy> task, std::string what)
      : task_(std::move(task)), what_(std::move(what)) {}

  CPtr<dm_task, dm_task_destroy> task_;
  std::string what_;
};

}  // namespace strata::thinpool
