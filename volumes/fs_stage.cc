// The filesystem steps of the block-device backends (see fs_stage.h for the contracts).
#include "volumes/fs_stage.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "core/exec.h"
#include "drivers/devicemapper/dm_mount.h"
#include "drivers/fs_tree.h"

namespace strata::volumes {
namespace {

using drivers::devicemapper::GrowFsCommand;
using drivers::devicemapper::MkfsCommand;
using drivers::devicemapper::MountSpec;
using drivers::devicemapper::PlanMount;

ExecOptions FsToolOptions(Filesystem fs) {
  ExecOptions options;
  options.install_hint = fs == Filesystem::kXfs ? "install xfsprogs" : "install e2fsprogs";
  return options;
}

// Creates the stage directory and its parent (<root>/volumes/mnt), 0700: only root looks inside
// a volume through its stage; attachments are the way in.
Status MakeStageDir(const std::string& stage_dir) {
  const size_t slash = stage_dir.find_last_of('/');
  if (slash != std::string::npos && slash > 0) {
    const std::string parent = stage_dir.substr(0, slash);
    const size_t grand = parent.find_last_of('/');
    if (grand != std::string::npos && grand > 0) {
      STRATA_TRY(drivers::fs::MakeDir(parent.substr(0, grand), 0700));  // <root>/volumes
    }
    STRATA_TRY(drivers::fs::MakeDir(parent, 0700));
  }
  return drivers::fs::MakeDir(stage_dir, 0700);
}

}  // namespace

Status MakeFilesystem(Filesystem fs, const std::vector<std::string>& mkfs_options,
                      const std::string& device) {
  STRATA_TRY_CTX(RunProgramOk(MkfsCommand(fs, mkfs_options, device), FsToolOptions(fs)),
                 "make " + std::string(thinpool::FilesystemName(fs)) + " on " + device);
  return Ok();
}

Result<bool> IsStageMounted(sys::Mounts& mounts, const std::string& stage_dir) {
  STRATA_ASSIGN_OR_RETURN(std::vector<sys::MountEntry> table, mounts.MountInfo());
  return sys::HasMountPoint(table, stage_dir);
}

Status MountStage(sys::Mounts& mounts, Filesystem fs,
                  const std::vector<std::string>& mount_options, const std::string& device,
                  const std::string& stage_dir) {
  const std::string what = "mount " + device + " on " + stage_dir;
  STRATA_ASSIGN_OR_RETURN_CTX(bool mounted, IsStageMounted(mounts, stage_dir), what);
  if (mounted) return Ok();
  STRATA_ASSIGN_OR_RETURN_CTX(MountSpec spec, PlanMount(fs, mount_options, device, false), what);
  STRATA_TRY_CTX(MakeStageDir(stage_dir), what);
  // The new mount API only: strata needs Linux >= 5.2 for volumes (no classic fallback), so a
  // per-mount option such as "noatime" always becomes a mount attribute.
  STRATA_TRY_CTX(mounts.MountNewApi(spec.fs_type, spec.params, spec.attrs, stage_dir), what);
  return Ok();
}

Status UnmountStage(sys::Mounts& mounts, const std::string& stage_dir) {
  Status unmounted = mounts.Unmount(stage_dir, 0);
  // EINVAL: not a mount point (already unmounted); ENOENT: the directory is gone too.
  if (!unmounted.ok() && unmounted.error().code() != EINVAL &&
      unmounted.error().code() != ENOENT) {
    return std::move(unmounted).Wrap("unmount stage");
  }
  if (::rmdir(stage_dir.c_str()) != 0 && errno != ENOENT) {
    return Error::FromErrno("rmdir stage " + stage_dir);
  }
  return Ok();
}

Status GrowFilesystem(Filesystem fs, const std::string& device, const std::string& stage_dir) {
  const std::string what = "grow " + std::string(thinpool::FilesystemName(fs)) + " on " + device;
  Result<ExecResult> ran = RunProgram(GrowFsCommand(fs, device, stage_dir), FsToolOptions(fs));
  if (!ran.ok()) return std::move(ran).error().Wrap(what);
  if (ran->exit_code == 0) return Ok();
  // ext4's online resize ioctl needs CAP_SYS_RESOURCE (resize2fs then says "Permission
  // denied to resize filesystem"); containers often drop it.
  if (fs == Filesystem::kExt4 && ran->err.find("Permission denied") != std::string::npos) {
    return Error(EPERM, what + ": online ext4 resize needs CAP_SYS_RESOURCE, which this process "
                               "lacks; detach the volume and resize it offline");
  }
  return RunProgramOk(GrowFsCommand(fs, device, stage_dir), FsToolOptions(fs)).error().Wrap(what);
}

Status GrowExt4Offline(const std::string& device) {
  const std::string what = "grow ext4 on " + device + " offline";
  // resize2fs wants a freshly checked filesystem; -p fixes only what is safe without asking.
  STRATA_ASSIGN_OR_RETURN_CTX(ExecResult fsck,
                              RunProgram({"e2fsck", "-f", "-p", device},
                                         FsToolOptions(Filesystem::kExt4)),
                              what);
  if (fsck.exit_code > 1) {  // 1: errors corrected; 2 and up: reboot needed, uncorrected, ...
    return Error(EIO, what + ": e2fsck -f -p: exit status " + std::to_string(fsck.exit_code) +
                          ": " + fsck.err + fsck.out);
  }
  STRATA_TRY_CTX(RunProgramOk({"resize2fs", device}, FsToolOptions(Filesystem::kExt4)), what);
  return Ok();
}

Status RemoveLostFound(const std::string& stage_dir) {
  const std::string path = stage_dir + "/lost+found";
  if (::rmdir(path.c_str()) != 0 && errno != ENOENT) return Error::FromErrno("rmdir " + path);
  return Ok();
}

}  // namespace strata::volumes
