#include "thinpool/libdm_task.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/sys/device_mapper.h"

namespace strata::thinpool {
namespace {

// libdevmapper's log levels (lib/log/log.h); higher bits of `level` are flags.
constexpr int kLogLevelMask = 0x7;
constexpr int kLogErr = 3;

// The last error-level message libdevmapper logged during the current task. A plain array, not a
// std::string: libdevmapper's destructor (dm_lib_exit) may log after static destructors ran.
// Written and read only under LibdmLock().
char g_last_error[512];

bool g_initialised = false;
bool g_control_cloexec = false;

// Captures errors instead of letting libdevmapper print to stderr; drops everything else
// (library code does not log: the caller gets the message in its Error).
__attribute__((format(printf, 5, 6))) void CaptureLog(int level, const char* /*file*/, int /*line*/,
                                                      int /*dm_errno_or_class*/, const char* format,
                                                      ...) {
  if ((level & kLogLevelMask) > kLogErr) return;
  va_list args;
  va_start(args, format);
  std::vsnprintf(g_last_error, sizeof(g_last_error), format, args);
  va_end(args);
}

// libdevmapper 1.02.185 opens /dev/mapper/control with plain O_RDWR (no O_CLOEXEC), so every
// child strata spawns would inherit it. It offers no way to reach the fd, so find it: any fd on
// the control device (char 10:236 or whatever the node says) gets FD_CLOEXEC. strata never opens
// the control device itself, so nothing of ours is affected. Racy against a fork in another
// thread between libdevmapper's open and this call; strata spawns from one thread.
bool MarkControlFdCloexec() {
  struct stat control {};
  std::string control_path = std::string(sys::kDmNodeDir) + "/control";
  if (::stat(control_path.c_str(), &control) != 0) return false;
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return false;
  bool found = false;
  while (dirent* entry = ::readdir(dir)) {
    int fd = std::atoi(entry->d_name);
    struct stat st {};
    if (entry->d_name[0] == '.' || fd == ::dirfd(dir) || ::fstat(fd, &st) != 0) continue;
    if (!S_ISCHR(st.st_mode) || st.st_rdev != control.st_rdev) continue;
    int flags = ::fcntl(fd, F_GETFD);
    if (flags >= 0 && ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC) == 0) found = true;
  }
  (void)::closedir(dir);  // best effort: a read-only directory stream
  return found;
}

}  // namespace

std::unique_lock<std::mutex> LibdmLock() {
  static std::mutex mutex;
  return std::unique_lock<std::mutex>(mutex);
}

Status InitLibdm() {
  if (g_initialised) return Ok();
  STRATA_TRY(sys::ProbeDeviceMapper());
  dm_log_with_errno_init(CaptureLog);
  // Names and uuids go to the kernel verbatim (no \xNN mangling): strata's are plain ASCII and
  // the /dev/mapper node is named by strata from the same string.
  (void)dm_set_name_mangling_mode(DM_STRING_MANGLING_NONE);  // cannot fail for a valid mode
  // Never a udev cookie: no semaphore to leak, no wait that can hang (FIELD-GUIDE §1.14). This
  // also runs libdevmapper's version check, which opens the control fd.
  dm_udev_set_sync_support(0);
  dm_udev_set_checking(0);
  // Keep the control fd across dm_lib_release so it is opened (and marked) once.
  dm_hold_control_dev(1);
  g_initialised = true;
  g_control_cloexec = MarkControlFdCloexec();
  return Ok();
}

Result<LibdmTask> LibdmTask::Create(int type, std::string what, const std::string& name) {
  if (name.size() > sys::kDmMaxNameLength) {
    return Error(EINVAL, what + ": name longer than 127 characters");
  }
  g_last_error[0] = '\0';
  CPtr<dm_task, dm_task_destroy> task(dm_task_create(type));
  if (!task) {
    return Error(EIO, what + ": dm_task_create failed" +
                          (g_last_error[0] ? std::string(": ") + g_last_error : std::string()));
  }
  LibdmTask out(std::move(task), std::move(what));
  if (!name.empty()) STRATA_TRY(out.Check(dm_task_set_name(out.get(), name.c_str()), "set name"));
  return out;
}

Status LibdmTask::Check(int setter_result, const char* setter) const {
  if (setter_result != 0) return Ok();
  std::string detail = g_last_error[0] ? g_last_error : "failed";
  return Error(EIO, what_ + ": " + setter + ": " + detail);
}

Status LibdmTask::Run() {
  g_last_error[0] = '\0';
  int ok = dm_task_run(task_.get());
  if (!g_control_cloexec) g_control_cloexec = MarkControlFdCloexec();
  // Execute any /dev/mapper node operation libdevmapper stacked (it stacks a NODE_DEL for every
  // remove). Left pending, it would run at some later flush or at exit, possibly deleting the
  // node of a device re-created under the same name in between.
  dm_task_update_nodes();
  if (ok != 0) return Ok();
  int code = dm_task_get_errno(task_.get());
  std::string message = what_ + ": " + (code != 0 ? std::strerror(code) : "libdevmapper failed");
  // "device-mapper: reload ioctl on x failed: ..." repeats the errno; anything else says more.
  if (g_last_error[0] && (code == 0 || std::strstr(g_last_error, "ioctl on") == nullptr)) {
    message += std::string(" (libdevmapper: ") + g_last_error + ")";
  }
  return Error(code != 0 ? code : EIO, message);
}

}  // namespace strata::thinpool
