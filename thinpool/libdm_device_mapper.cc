// sys::DeviceMapper over libdevmapper: one dm_task per seam call (thinpool/libdm_task.h), with
// /dev/mapper nodes kept by strata itself (thinpool/dm_nodes.h) and no udev cookies.
//
// Node handling, and why: with udev sync off libdevmapper only *stacks* node operations and runs
// them at the next dm_task_update_nodes()/dm_udev_wait()/dm_lib_release() (verified in the VM:
// they do run with sync off). Its add uses stat(), so it leaves a dangling symlink in place, and
// its process-global stack outlives the call. So resume tasks ask for "add node on create" (which
// makes libdevmapper stack no add for a resume) and strata makes the node from the resume's
// reply; the NODE_DEL libdevmapper stacks for every remove is flushed at once by LibdmTask::Run,
// and strata removes the node too (idempotently).
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cerrno>
#include <cstring>

#include "core/sys/device_mapper.h"
#include "core/unique_fd.h"
#include "thinpool/dm_nodes.h"
#include "thinpool/libdm_task.h"

namespace strata::sys {
namespace {

using thinpool::LibdmTask;

// Starts a task under the caller's LibdmLock(): library set up, device name set.
// `what` labels errors; the device name is appended unless `what` is given whole.
Result<LibdmTask> Begin(int type, const std::string& op, const std::string& name,
                        std::string what = "") {
  STRATA_TRY(thinpool::InitLibdm());
  if (what.empty()) what = name.empty() ? op : op + " " + name;
  return LibdmTask::Create(type, std::move(what), name);
}

// Names the kernel accepts and that are safe as a file name under /dev/mapper.
Status CheckName(const std::string& name) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos) {
    return Error(EINVAL, "invalid device-mapper name \"" + name + "\"");
  }
  return Ok();
}

// Walks the targets a STATUS or TABLE task returned.
std::vector<DmTarget> TargetsOf(const LibdmTask& task) {
  std::vector<DmTarget> out;
  void* next = nullptr;
  do {
    uint64_t start = 0, length = 0;
    char* type = nullptr;
    char* params = nullptr;
    next = dm_get_next_target(task.get(), next, &start, &length, &type, &params);
    if (type == nullptr) break;  // no targets at all
    out.push_back({start, length, type, params ? params : ""});
  } while (next != nullptr);
  return out;
}

DmDeviceInfo ToInfo(const LibdmTask& task, const dm_info& info) {
  DmDeviceInfo out;
  const char* name = dm_task_get_name(task.get());
  const char* uuid = dm_task_get_uuid(task.get());
  out.name = name ? name : "";
  out.uuid = uuid ? uuid : "";
  out.major = info.major;
  out.minor = info.minor;
  out.open_count = info.open_count;
  out.event_nr = info.event_nr;
  out.target_count = static_cast<uint32_t>(info.target_count);
  out.suspended = info.suspended != 0;
  out.live_table = info.live_table != 0;
  out.inactive_table = info.inactive_table != 0;
  out.read_only = info.read_only != 0;
  out.deferred_remove = info.deferred_remove != 0;
  return out;
}

class LibdmDeviceMapper final : public DeviceMapper {
 public:
  Status Create(const std::string& name, const std::string& uuid) override;
  Status Load(const std::string& name, const std::vector<DmTarget>& table) override;
  Status Suspend(const std::string& name, DmFlush flush, DmLockFs lockfs) override;
  Status Resume(const std::string& name) override;
  Status Remove(const std::string& name, DmRemove mode) override;
  Result<DmDeviceInfo> Info(const std::string& name) override;
  Result<std::vector<DmTarget>> Table(const std::string& name) override;
  Result<std::vector<DmTarget>> TargetStatus(const std::string& name, DmFlush flush) override;
  Result<std::string> Message(const std::string& name, uint64_t sector,
                              const std::string& message) override;
  Result<std::vector<DmListEntry>> List() override;
  Result<std::vector<uint32_t>> TargetVersion(const std::string& target_type) override;

 private:
  Result<std::vector<DmTarget>> Targets(int type, const std::string& op, const std::string& name,
                                        DmFlush flush);
};

Status LibdmDeviceMapper::Create(const std::string& name, const std::string& uuid) {
  STRATA_TRY(CheckName(name).Wrap("DM_DEV_CREATE"));
  if (uuid.size() > kDmMaxUuidLength) {
    return Error(EINVAL, "DM_DEV_CREATE " + name + ": uuid longer than 128 characters");
  }
  auto lock = thinpool::LibdmLock();
  STRATA_ASSIGN_OR_RETURN(LibdmTask task, Begin(DM_DEVICE_CREATE, "DM_DEV_CREATE", name));
  if (!uuid.empty()) STRATA_TRY(task.Check(dm_task_set_uuid(task.get(), uuid.c_str()), "set uuid"));
  Status created = task.Run();
  // The kernel answers EBUSY when the name or uuid is taken (dm_hash_insert); that is its only
  // EBUSY for DM_DEV_CREATE, and the seam promises EEXIST for it.
  if (!created.ok() && created.error().code() == EBUSY) {
    return Error(EEXIST, "DM_DEV_CREATE " + name + ": name or uuid already in use");
  }
  return created;
}

Status LibdmDeviceMapper::Load(const std::string& name, const std::vector<DmTarget>& table) {
  auto lock = thinpool::LibdmLock();
  STRATA_ASSIGN_OR_RETURN(LibdmTask task, Begin(DM_DEVICE_RELOAD, "DM_TABLE_LOAD", name));
  for (const DmTarget& t : table) {
    STRATA_TRY(task.Check(dm_task_add_target(task.get(), t.start_sectors, t.length_sectors,
                                             t.type.c_str(), t.params.c_str()),
                          "add target"));
  }
  return task.Run();
}

Status LibdmDeviceMapper::Suspend(const std::string& name, DmFlush flush, DmLockFs lockfs) {
  auto lock = thinpool::LibdmLock();
  STRATA_ASSIGN_OR_RETURN(LibdmTask task, Begin(DM_DEVICE_SUSPEND, "DM_DEV_SUSPEND", name));
  if (flush == DmFlush::kNoFlush) STRATA_TRY(task.Check(dm_task_no_flush(task.get()), "no flush"));
  if (lockfs == DmLockFs::kSkipLockFs) {
    STRATA_TRY(task.Check(dm_task_skip_lockfs(task.get()), "skip lockfs"));
  }
  return task.Run();
}

Status LibdmDeviceMapper::Resume(const std::string& name) {
  auto lock = thinpool::LibdmLock();
  STRATA_ASSIGN_OR_RETURN(LibdmTask task, Begin(DM_DEVICE_RESUME, "DM_DEV_SUSPEND(resume)", name));
  // "Add the node on create" means: libdevmapper stacks no node add for this resume (we make it).
  STRATA_TRY(task.Check(dm_task_set_add_node(task.get(), DM_ADD_NODE_ON_CREATE), "add node"));
  // udev flags only, never a cookie (see kUdevLeaveAloneFlags).
  STRATA_TRY(
      task.Check(dm_task_set_event_nr(task.get(), thinpool::kUdevLeaveAloneFlags), "udev flags"));
  STRATA_TRY(task.Run());
  dm_info info{};
  if (dm_task_get_info(task.get(), &info) == 0 || info.exists == 0) {
    return Error(ENXIO, "DM_DEV_SUSPEND(resume) " + name + ": no device number in the reply");
  }
  return thinpool::EnsureDmNode(kDmNodeDir, name, info.major, info.minor)
      .Wrap("resume " + name + ": /dev/mapper node");
}

Status LibdmDeviceMapper::Remove(const std::string& name, DmRemove mode) {
  STRATA_TRY(CheckName(name).Wrap("DM_DEV_REMOVE"));
  auto lock = thinpool::LibdmLock();
  STRATA_ASSIGN_OR_RETURN(LibdmTask task, Begin(DM_DEVICE_REMOVE, "DM_DEV_REMOVE", name));
  STRATA_TRY(
      task.Check(dm_task_set_event_nr(task.get(), thinpool::kUdevLeaveAloneFlags), "udev flags"));
  if (mode == DmRemove::kDeferred) {
    STRATA_TRY(task.Check(dm_task_deferred_remove(task.get()), "deferred remove"));
  }
  Status removed = task.Run();
  if (!removed.ok() && removed.error().code() != ENXIO) return removed;
  // The node goes now even when the kernel only scheduled the removal (kDeferred while open):
  // nothing should open a device that is going away, and no event would remove the node at the
  // last close. On ENXIO a stale node of that name is cleaned up too.
  STRATA_TRY(
      thinpool::RemoveDmNode(kDmNodeDir, name).Wrap("remove " + name + ": /dev/mapper node"));
  return removed;
}

Result<DmDeviceInfo> LibdmDeviceMapper::Info(const std::string& name) {
  auto lock = thinpool::LibdmLock();
  STRATA_ASSIGN_OR_RETURN(LibdmTask task, Begin(DM_DEVICE_INFO, "DM_DEV_STATUS", name));
  STRATA_TRY(task.Run());
  dm_info info{};
  // libdevmapper turns the ioctl's ENXIO into success with exists == 0.
  if (dm_task_get_info(task.get(), &info) == 0 || info.exists == 0) {
    return Error::FromErrno(ENXIO, "DM_DEV_STATUS " + name);
  }
  return ToInfo(task, info);
}

Result<std::vector<DmTarget>> LibdmDeviceMapper::Targets(int type, const std::string& op,
                                                         const std::string& name, DmFlush flush) {
  auto lock = thinpool::LibdmLock();
  STRATA_ASSIGN_OR_RETURN(LibdmTask task, Begin(type, op, name));
  if (flush == DmFlush::kNoFlush) STRATA_TRY(task.Check(dm_task_no_flush(task.get()), "no flush"));
  STRATA_TRY(task.Run());
  return TargetsOf(task);
}

Result<std::vector<DmTarget>> LibdmDeviceMapper::Table(const std::string& name) {
  return Targets(DM_DEVICE_TABLE, "DM_TABLE_STATUS(table)", name, DmFlush::kFlush);
}

Result<std::vector<DmTarget>> LibdmDeviceMapper::TargetStatus(const std::string& name,
                                                              DmFlush flush) {
  return Targets(DM_DEVICE_STATUS, "DM_TABLE_STATUS", name, flush);
}

Result<std::string> LibdmDeviceMapper::Message(const std::string& name, uint64_t sector,
                                               const std::string& message) {
  auto lock = thinpool::LibdmLock();
  STRATA_ASSIGN_OR_RETURN(LibdmTask task, Begin(DM_DEVICE_TARGET_MSG, "DM_TARGET_MSG", name,
                                                "DM_TARGET_MSG " + name + " \"" + message + "\""));
  STRATA_TRY(task.Check(dm_task_set_sector(task.get(), sector), "set sector"));
  STRATA_TRY(task.Check(dm_task_set_message(task.get(), message.c_str()), "set message"));
  STRATA_TRY(task.Run());
  const char* response = dm_task_get_message_response(task.get());
  return std::string(response ? response : "");
}

Result<std::vector<DmListEntry>> LibdmDeviceMapper::List() {
  auto lock = thinpool::LibdmLock();
  STRATA_ASSIGN_OR_RETURN(LibdmTask task, Begin(DM_DEVICE_LIST, "DM_LIST_DEVICES", ""));
  STRATA_TRY(task.Run());
  std::vector<DmListEntry> out;
  dm_names* names = dm_task_get_names(task.get());
  if (names == nullptr || names->dev == 0) return out;  // dev 0 marks an empty list
  uint32_t next = 0;
  do {
    names = reinterpret_cast<dm_names*>(reinterpret_cast<char*>(names) + next);
    out.push_back({names->name, major(names->dev), minor(names->dev)});
    next = names->next;  // offset from this entry to the next; 0 ends the list
  } while (next != 0);
  return out;
}

Result<std::vector<uint32_t>> LibdmDeviceMapper::TargetVersion(const std::string& target_type) {
  auto lock = thinpool::LibdmLock();
  // DM_GET_TARGET_VERSION (ioctl 4.41) loads the target's module on demand, unlike
  // DM_LIST_VERSIONS, which shows only loaded targets.
  STRATA_ASSIGN_OR_RETURN(
      LibdmTask task, Begin(DM_DEVICE_GET_TARGET_VERSION, "DM_GET_TARGET_VERSION", target_type));
  Status run = task.Run();
  // The kernel answers EINVAL for a target type it cannot find or load.
  if (!run.ok() && run.error().code() == EINVAL) {
    return Error(ENOENT, "device-mapper target \"" + target_type + "\" not available");
  }
  STRATA_TRY(std::move(run));
  dm_versions* v = dm_task_get_versions(task.get());
  return std::vector<uint32_t>{v->version[0], v->version[1], v->version[2]};
}

}  // namespace

DeviceMapper& LinuxDeviceMapper() {
  static LibdmDeviceMapper* instance = new LibdmDeviceMapper();  // never destroyed: used at exit
  return *instance;
}

Status ProbeDeviceMapper() {
  std::string control = std::string(kDmNodeDir) + "/control";
  struct stat st {};
  if (::stat(control.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      return Error(EOPNOTSUPP, "device-mapper: " + control + " not found (dm_mod not loaded?)");
    }
    return Error::FromErrno("device-mapper: stat " + control);
  }
  if (!S_ISCHR(st.st_mode)) {
    return Error(EOPNOTSUPP, "device-mapper: " + control + " is not a character device");
  }
  UniqueFd fd(::open(control.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd) {
    int code = errno;
    if (code == ENODEV || code == ENXIO || code == ENOENT) {
      return Error(EOPNOTSUPP, "device-mapper: open " + control + ": " + std::strerror(code) +
                                   " (no device-mapper in this kernel?)");
    }
    return Error::FromErrno(code, "device-mapper: open " + control);
  }
  return Ok();
}

}  // namespace strata::sys
