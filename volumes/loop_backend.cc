// The loop backend: a volume is a sparse image file, <root>/volumes/loop/<name>.img, attached to
// a loop device and mounted at the volume's stage while active.
//
// The loop device is configured with autoclear (LoopAutoclear::kOnLastClose) and our fd is
// closed right after mounting, so the stage mount is the device's only holder: unmounting the
// stage frees the device, and nothing outlives a crash except what is mounted. Activate still
// reuses a device already bound to the image (a leftover of another tool, or one being set up),
// and Destroy detaches every one it finds.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "core/exec.h"
#include "core/loop.h"
#include "core/unique_fd.h"
#include "core/units.h"
#include "drivers/fs_tree.h"
#include "volumes/backend.h"
#include "volumes/fs_stage.h"
#include "volumes/loop_backend_internal.h"

namespace strata::volumes {
namespace {

// Large enough that a copy takes few syscalls, small enough that each stays short.
constexpr uint64_t kCopyChunkBytes = 64ull << 20;

std::string Quoted(const std::string& name) { return "volume \"" + name + "\""; }

bool CloneUnsupported(int code) {
  return code == EOPNOTSUPP || code == ENOTTY || code == EINVAL || code == EXDEV;
}

// Copies [offset, end) with copy_file_range, which may copy less than asked per call.
Status CopyExtent(sys::Files& files, int src_fd, int dst_fd, uint64_t offset, uint64_t end) {
  while (offset < end) {
    const uint64_t want = std::min(end - offset, kCopyChunkBytes);
    STRATA_ASSIGN_OR_RETURN(uint64_t copied, files.CopyRange(src_fd, dst_fd, offset, want));
    if (copied == 0) return Error(EIO, "copy: source ended early at " + std::to_string(offset));
    offset += copied;
  }
  return Ok();
}

Result<UniqueFd> OpenImage(const std::string& path, int flags) {
  UniqueFd fd(::open(path.c_str(), flags | O_CLOEXEC, 0600));
  if (!fd) return Error::FromErrno("open " + path);
  return fd;
}

Status SyncImage(const std::string& path) {
  STRATA_ASSIGN_OR_RETURN(UniqueFd fd, OpenImage(path, O_RDONLY));
  if (::fdatasync(fd.Get()) != 0) return Error::FromErrno("fdatasync " + path);
  return Ok();
}

Result<struct stat> StatImage(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Error::FromErrno("stat " + path);
  return st;
}

// Autoclear: the stage mount will hold the device; see the file comment.
sys::LoopConfig ImageLoopConfig() {
  sys::LoopConfig config;
  config.autoclear = sys::LoopAutoclear::kOnLastClose;
  return config;
}

class LoopBackend final : public Backend {
 public:
  LoopBackend(const BackendEnv& env, sys::Files& files) : env_(env), files_(files) {}

  BackendKind kind() const override { return BackendKind::kLoop; }
  Status Probe() override;
  Status CheckCreate(const VolumeRecord& volume) override;
  Result<std::string> Create(const VolumeRecord& volume) override;
  Result<std::string> Snapshot(const VolumeRecord& origin, const VolumeRecord& volume) override;
  Status Grow(const VolumeRecord& volume, uint64_t new_size_bytes) override;
  Status Destroy(const VolumeRecord& volume) override;
  Result<std::string> Activate(const VolumeRecord& volume) override;
  Status Deactivate(const VolumeRecord& volume) override;
  Result<BackendDetails> Details(const VolumeRecord& volume) override;

 private:
  std::string Image(const VolumeRecord& volume) const {
    return volume.ref.empty() ? LoopImagePath(env_.root, volume.name) : volume.ref;
  }
  std::string Stage(const VolumeRecord& volume) const { return StageDir(env_.root, volume.name); }
  Status MakeHome() const;
  Result<UniqueFd> NewImage(const std::string& path, uint64_t size_bytes) const;
  Status Format(const VolumeRecord& volume, const std::string& image);
  Status CopyFrozen(const VolumeRecord& origin, int dst_fd);
  Status DetachAll(const std::string& image);

  BackendEnv env_;
  sys::Files& files_;
};

Status LoopBackend::Probe() {
  if (::access("/dev/loop-control", F_OK) != 0) {
    return Error(EOPNOTSUPP,
                 std::string("loop devices not available: /dev/loop-control: ") + std::strerror(errno));
  }
  return Ok();
}

Status LoopBackend::CheckCreate(const VolumeRecord& volume) {
  const std::string fs(thinpool::FilesystemName(volume.fs));
  if (volume.size_bytes == 0) {
    return Error(EINVAL, Quoted(volume.name) + ": the loop backend needs a size (--size)");
  }
  if (volume.size_bytes < MinFilesystemBytes(volume.fs)) {
    return Error(EINVAL, Quoted(volume.name) + ": size " + FormatSize(volume.size_bytes) +
                             " is below the " + fs + " minimum of " +
                             FormatSize(MinFilesystemBytes(volume.fs)));
  }
  ExecOptions exec;
  exec.install_hint = volume.fs == Filesystem::kXfs ? "install xfsprogs" : "install e2fsprogs";
  // -V prints the version and exits: only whether the tool runs matters here.
  STRATA_TRY_CTX(RunProgram({"mkfs." + fs, "-V"}, exec), Quoted(volume.name));
  return Ok();
}

Status LoopBackend::MakeHome() const {
  STRATA_TRY(drivers::fs::MakeDir(env_.root + "/volumes", 0700));
  return drivers::fs::MakeDir(env_.root + "/volumes/loop", 0700);
}

// A new empty image of `size_bytes` (sparse). EEXIST when one is there already.
Result<UniqueFd> LoopBackend::NewImage(const std::string& path, uint64_t size_bytes) const {
  STRATA_TRY(MakeHome());
  STRATA_ASSIGN_OR_RETURN(UniqueFd fd, OpenImage(path, O_RDWR | O_CREAT | O_EXCL));
  if (::ftruncate(fd.Get(), static_cast<off_t>(size_bytes)) != 0) {
    return Error::FromErrno("truncate " + path + " to " + FormatSize(size_bytes));
  }
  return fd;
}

// Attaches `image`, makes the filesystem, mounts it once to remove lost+found, and leaves the
// volume inactive (stage unmounted, device detached), also on error.
Status LoopBackend::Format(const VolumeRecord& volume, const std::string& image) {
  STRATA_ASSIGN_OR_RETURN(LoopAttachment loop, AttachLoop(*env_.loop, image, ImageLoopConfig()));
  const std::string& device = loop.device().path;
  STRATA_TRY(MakeFilesystem(volume.fs, volume.mkfs_options, device));
  const std::string stage = Stage(volume);
  // Armed before mounting: a failed mount may still have made the stage directory.
  auto unmount = MakeGuard([&] { (void)UnmountStage(*env_.mounts, stage); });  // best effort
  STRATA_TRY(MountStage(*env_.mounts, volume.fs, volume.mount_options, device, stage));
  STRATA_TRY(RemoveLostFound(stage));
  unmount.Release();
  STRATA_TRY(UnmountStage(*env_.mounts, stage));
  return loop.Detach();
}

Result<std::string> LoopBackend::Create(const VolumeRecord& volume) {
  const std::string what = "create loop " + Quoted(volume.name);
  STRATA_TRY_CTX(CheckCreate(volume), what);
  const std::string image = Image(volume);
  STRATA_ASSIGN_OR_RETURN_CTX(UniqueFd fd, NewImage(image, volume.size_bytes), what);
  auto unlink = MakeGuard([&] { (void)::unlink(image.c_str()); });  // best effort: rollback
  STRATA_TRY_CTX(Format(volume, image), what);
  // The filesystem went through the loop device into the image's page cache: make it durable
  // before the catalog says the volume exists.
  if (::fdatasync(fd.Get()) != 0) return Error::FromErrno("fdatasync " + image).Wrap(what);
  unlink.Release();
  return image;
}

// Copies the origin's image into `dst_fd`. An active origin is frozen around the copy so the
// image holds a consistent filesystem (FIFREEZE flushes it through the loop device into the
// image); it is thawed on every path.
Status LoopBackend::CopyFrozen(const VolumeRecord& origin, int dst_fd) {
  const std::string src = Image(origin);
  STRATA_ASSIGN_OR_RETURN(UniqueFd src_fd, OpenImage(src, O_RDONLY));
  const std::string stage = Stage(origin);
  STRATA_ASSIGN_OR_RETURN(bool active, IsStageMounted(*env_.mounts, stage));
  if (active) STRATA_TRY_CTX(files_.Freeze(stage), "freeze " + Quoted(origin.name));
  auto thaw = MakeGuard([&] {
    if (active) (void)files_.Thaw(stage);  // best effort: the error path; see below
  });
  STRATA_ASSIGN_OR_RETURN(struct stat st, StatImage(src));
  STRATA_TRY_CTX(CopyImage(files_, src_fd.Get(), dst_fd, static_cast<uint64_t>(st.st_size)),
                 "copy " + src);
  thaw.Release();
  if (active) STRATA_TRY_CTX(files_.Thaw(stage), "thaw " + Quoted(origin.name));
  return Ok();
}

Result<std::string> LoopBackend::Snapshot(const VolumeRecord& origin, const VolumeRecord& volume) {
  const std::string what = "snapshot loop " + Quoted(origin.name) + " as " + Quoted(volume.name);
  const std::string image = Image(volume);
  STRATA_ASSIGN_OR_RETURN_CTX(UniqueFd fd, NewImage(image, 0), what);
  // Destroy also unmounts and detaches a copy that failed half-way through growing.
  auto destroy = MakeGuard([&] { (void)Destroy(volume); });  // best effort: rollback
  STRATA_TRY_CTX(CopyFrozen(origin, fd.Get()), what);
  if (::fdatasync(fd.Get()) != 0) return Error::FromErrno("fdatasync " + image).Wrap(what);
  STRATA_ASSIGN_OR_RETURN_CTX(struct stat st, StatImage(image), what);
  if (volume.size_bytes > static_cast<uint64_t>(st.st_size)) {
    VolumeRecord copy = volume;
    copy.ref = image;
    STRATA_TRY_CTX(Grow(copy, volume.size_bytes), what);
  }
  destroy.Release();
  return image;
}

// Grows the image file, then the device and the filesystem. Each step is a no-op when done, so
// a redo after a crash finishes the job. An inactive ext4 grows offline on the image file;
// xfs_growfs needs a mounted filesystem, so an inactive xfs volume is activated for the duration.
Status LoopBackend::Grow(const VolumeRecord& volume, uint64_t new_size_bytes) {
  const std::string what = "grow loop " + Quoted(volume.name) + " to " + FormatSize(new_size_bytes);
  const std::string image = Image(volume);
  STRATA_ASSIGN_OR_RETURN_CTX(struct stat st, StatImage(image), what);
  if (static_cast<uint64_t>(st.st_size) < new_size_bytes &&
      ::truncate(image.c_str(), static_cast<off_t>(new_size_bytes)) != 0) {
    return Error::FromErrno("truncate " + image).Wrap(what);
  }
  const std::string stage = Stage(volume);
  STRATA_ASSIGN_OR_RETURN_CTX(bool active, IsStageMounted(*env_.mounts, stage), what);
  if (!active && volume.fs == Filesystem::kExt4) {  // offline, on the image itself
    STRATA_TRY_CTX(GrowExt4Offline(image), what);
    STRATA_TRY_CTX(SyncImage(image), what);
    return Ok();
  }
  if (!active) {
    STRATA_TRY_CTX(Activate(volume), what);  // attaches at the new size
  }
  auto deactivate = MakeGuard([&] {
    if (!active) (void)Deactivate(volume);  // best effort: the error path
  });
  STRATA_ASSIGN_OR_RETURN_CTX(sys::LoopDevice device, env_.loop->FindByBackingFile(image), what);
  STRATA_TRY_CTX(env_.loop->SetCapacity(device), what);
  STRATA_TRY_CTX(GrowFilesystem(volume.fs, device.path, stage), what);
  deactivate.Release();
  if (!active) STRATA_TRY_CTX(Deactivate(volume), what);
  STRATA_TRY_CTX(SyncImage(image), what);
  return Ok();
}

// Detaches every loop device bound to `image`. A device still open elsewhere is only marked
// for detach by the kernel and keeps showing up; it goes at its last close, so stop there.
Status LoopBackend::DetachAll(const std::string& image) {
  int last_index = -1;
  while (true) {
    Result<sys::LoopDevice> found = env_.loop->FindByBackingFile(image);
    if (!found.ok()) {
      if (found.error().code() == ENOENT) return Ok();  // none bound, or no image
      return std::move(found).error();
    }
    if (found->index == last_index) return Ok();
    last_index = found->index;
    Status detached = env_.loop->Detach(*found);
    if (!detached.ok() && detached.error().code() != ENXIO) return detached;
  }
}

Status LoopBackend::Destroy(const VolumeRecord& volume) {
  const std::string what = "destroy loop " + Quoted(volume.name);
  STRATA_TRY_CTX(UnmountStage(*env_.mounts, Stage(volume)), what);
  const std::string image = Image(volume);
  STRATA_TRY_CTX(DetachAll(image), what);
  if (::unlink(image.c_str()) != 0 && errno != ENOENT) {
    return Error::FromErrno("unlink " + image).Wrap(what);
  }
  return Ok();
}

Result<std::string> LoopBackend::Activate(const VolumeRecord& volume) {
  const std::string what = "activate loop " + Quoted(volume.name);
  const std::string stage = Stage(volume);
  STRATA_ASSIGN_OR_RETURN_CTX(bool active, IsStageMounted(*env_.mounts, stage), what);
  if (active) return stage;
  const std::string image = Image(volume);
  STRATA_TRY_CTX(StatImage(image), what);
  Result<sys::LoopDevice> bound = env_.loop->FindByBackingFile(image);
  if (!bound.ok() && bound.error().code() != ENOENT) return std::move(bound).error().Wrap(what);
  // A failed mount may still have made the stage directory.
  auto cleanup = MakeGuard([&] { (void)UnmountStage(*env_.mounts, stage); });  // best effort
  if (bound.ok()) {
    STRATA_TRY_CTX(MountStage(*env_.mounts, volume.fs, volume.mount_options, bound->path, stage),
                   what);
    cleanup.Release();
    return stage;
  }
  STRATA_ASSIGN_OR_RETURN_CTX(LoopAttachment loop,
                              AttachLoop(*env_.loop, image, ImageLoopConfig()), what);
  STRATA_TRY_CTX(
      MountStage(*env_.mounts, volume.fs, volume.mount_options, loop.device().path, stage), what);
  cleanup.Release();
  // Hand-off: the mount now holds the autoclear device; closing our fd leaves it attached until
  // the stage is unmounted.
  (void)loop.Release();
  return stage;
}

Status LoopBackend::Deactivate(const VolumeRecord& volume) {
  // The autoclear device goes away with the last unmount of its filesystem.
  return UnmountStage(*env_.mounts, Stage(volume)).Wrap("deactivate loop " + Quoted(volume.name));
}

Result<BackendDetails> LoopBackend::Details(const VolumeRecord& volume) {
  BackendDetails details;
  details.location = Image(volume);
  STRATA_ASSIGN_OR_RETURN(struct stat st, StatImage(details.location));
  details.used_bytes = static_cast<uint64_t>(st.st_blocks) * 512;  // st_blocks: 512-byte units
  STRATA_ASSIGN_OR_RETURN(bool active, IsStageMounted(*env_.mounts, Stage(volume)));
  if (active) {
    Result<sys::LoopDevice> device = env_.loop->FindByBackingFile(details.location);
    if (device.ok()) details.device = device->path;
  }
  return details;
}

}  // namespace

std::string LoopImagePath(const std::string& root, const std::string& name) {
  return root + "/volumes/loop/" + name + ".img";
}

Status CopyImage(sys::Files& files, int src_fd, int dst_fd, uint64_t size_bytes) {
  Status cloned = files.Clone(src_fd, dst_fd);
  if (cloned.ok()) return Ok();
  if (!CloneUnsupported(cloned.error().code())) return cloned;
  if (::ftruncate(dst_fd, static_cast<off_t>(size_bytes)) != 0) {
    return Error::FromErrno("truncate copy");
  }
  uint64_t offset = 0;
  while (offset < size_bytes) {
    STRATA_ASSIGN_OR_RETURN(std::optional<uint64_t> data, files.SeekData(src_fd, offset));
    if (!data) break;  // only a hole is left, and the truncate made it
    STRATA_ASSIGN_OR_RETURN(uint64_t hole, files.SeekHole(src_fd, *data));
    STRATA_TRY(CopyExtent(files, src_fd, dst_fd, *data, std::min(hole, size_bytes)));
    offset = hole;
  }
  return Ok();
}

std::unique_ptr<Backend> NewLoopBackendWithFiles(const BackendEnv& env, sys::Files& files) {
  return std::make_unique<LoopBackend>(env, files);
}

std::unique_ptr<Backend> NewLoopBackend(const BackendEnv& env) {
  return NewLoopBackendWithFiles(env, sys::LinuxFiles());
}

}  // namespace strata::volumes
