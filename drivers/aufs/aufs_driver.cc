// The aufs Driver: layer lifecycle, mount/unmount (kernel aufs or strata-aufs), native diff.
#include "drivers/aufs/aufs_driver.h"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <utility>

#include "core/exec.h"
#include "core/unique_fd.h"
#include "drivers/aufs/mount_plan.h"
#include "drivers/fs_tree.h"
#include "drivers/union_changes.h"

namespace strata::drivers::aufs {
namespace {

constexpr const char* kHelperFsType = "fuse.strata-aufs";

bool IsDir(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// "a\nb\n" -> {"a", "b"}; each line must be a valid layer id (a corrupt file must not become a
// branch path).
Result<std::vector<std::string>> ParseChain(const std::string& text, const std::string& where) {
  std::vector<std::string> ids;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string id = text.substr(start, end - start);
    if (!id.empty()) {
      STRATA_TRY_CTX(fs::ValidateLayerId(id), where);
      ids.push_back(std::move(id));
    }
    start = end + 1;
  }
  return ids;
}

std::string FormatChain(const std::vector<std::string>& ids) {
  std::string text;
  for (const std::string& id : ids) text += id + "\n";
  return text;
}

class AufsDriver final : public Driver {
 public:
  AufsDriver(std::string home, sys::Mounts& mounts, AufsMounter mounter)
      : home_(std::move(home)), mounts_(mounts), mounter_(std::move(mounter)) {}

  std::string Name() const override { return "aufs"; }
  std::string Home() const override { return home_; }
  StatusFields Describe() const override {
    return {{"Layout", home_ + " (diff/, layers/, mnt/)"},
            {"Mount", mounter_.kind == AufsMounter::Kind::kKernel
                          ? "kernel aufs"
                          : "strata-aufs (FUSE): " + mounter_.helper},
            {"Native diff", "true (.wh. whiteouts on disk)"}};
  }
  archive::WhiteoutFormat Whiteouts() const override { return archive::WhiteoutFormat::kAufs; }

  Status Create(const std::string& id, const std::string& parent, LayerKind kind,
                const CreateOptions& options) override;
  Status Remove(const std::string& id) override;
  bool Exists(const std::string& id) const override {
    return fs::ValidateLayerId(id).ok() && IsDir(DiffDir(id));
  }

  Result<std::string> Mount(const std::string& id) override;
  Status Unmount(const std::string& id) override;
  std::string MountPath(const std::string& id) const override {
    return IsBase(id) ? DiffDir(id) : MntDir(id);
  }
  Result<bool> IsMounted(const std::string& id) override;

  Result<std::vector<archive::Change>> Changes(const std::string& id) override;
  Result<archive::ExportStats> Diff(const std::string& id, int out_fd,
                                    archive::Compression compression) override {
    if (!Exists(id)) return Error(ENOENT, "aufs diff " + id + ": no such layer");
    // Native diff: diff/ holds exactly this layer's changes, whiteouts already in tar form.
    return archive::ExportTree(DiffDir(id), archive::WhiteoutFormat::kAufs, out_fd, compression)
        .Wrap("aufs diff " + id);
  }
  Result<archive::ApplyStats> ApplyDiff(const std::string& id, int in_fd) override {
    if (!Exists(id)) return Error(ENOENT, "aufs apply " + id + ": no such layer");
    return archive::ApplyLayerTar(in_fd, DiffDir(id), archive::WhiteoutFormat::kAufs)
        .Wrap("aufs apply " + id);
  }
  Result<uint64_t> DiffSize(const std::string& id) override {
    if (!Exists(id)) return Error(ENOENT, "aufs diff size " + id + ": no such layer");
    return fs::DirectorySize(DiffDir(id)).Wrap("aufs diff size " + id);
  }

 private:
  std::string DiffDir(const std::string& id) const { return home_ + "/diff/" + id; }
  std::string LayersFile(const std::string& id) const { return home_ + "/layers/" + id; }
  std::string MntDir(const std::string& id) const { return home_ + "/mnt/" + id; }
  std::string BranchFile(const std::string& id) const { return home_ + "/mnt/." + id + ".br"; }
  // A layer without a layers/ file counts as a base layer too (as Docker's aufs reads it).
  bool IsBase(const std::string& id) const {
    struct stat st {};
    return ::stat(LayersFile(id).c_str(), &st) != 0 || st.st_size == 0;
  }

  Result<std::vector<std::string>> ReadChain(const std::string& id) const;
  // Whether some layer's direct parent is `id` (it is then mounted read-only).
  Result<bool> HasChildren(const std::string& id) const;
  // The mount at mnt/<id>, if any, and whether it is a dead helper's (ENOTCONN).
  Result<std::optional<sys::MountEntry>> MountAt(const std::string& id);
  bool IsStale(const sys::MountEntry& entry) const;
  // Lazily unmounts mnt/<id> (which also clears a dead helper's mount).
  Status Detach(const std::string& id);
  Status MountBranches(const std::string& id, const std::vector<std::string>& branches,
                       BranchAccess access);

  std::string home_;
  sys::Mounts& mounts_;
  AufsMounter mounter_;
};

Result<std::vector<std::string>> AufsDriver::ReadChain(const std::string& id) const {
  auto text = fs::ReadFile(LayersFile(id));
  if (!text.ok()) {
    if (text.error().code() == ENOENT) return std::vector<std::string>{};
    return std::move(text).error();
  }
  return ParseChain(*text, LayersFile(id));
}

Result<bool> AufsDriver::HasChildren(const std::string& id) const {
  const std::string dir = home_ + "/layers";
  CPtr<DIR, ::closedir> d(::opendir(dir.c_str()));
  if (!d) return Error::FromErrno("opendir " + dir);
  for (;;) {
    errno = 0;
    dirent* entry = ::readdir(d.get());
    if (entry == nullptr) break;
    const std::string name = entry->d_name;
    if (name.empty() || name[0] == '.') continue;
    auto text = fs::ReadFile(dir + "/" + name);
    if (!text.ok()) continue;  // removed meanwhile: not a child
    if (text->substr(0, text->find('\n')) == id) return true;
  }
  if (errno != 0) return Error::FromErrno("readdir " + dir);
  return false;
}

Status AufsDriver::Create(const std::string& id, const std::string& parent, LayerKind,
                          const CreateOptions& options) {
  const std::string what = "aufs create " + id;
  STRATA_TRY_CTX(fs::ValidateLayerId(id), what);
  if (options.size_bytes) return Error(EOPNOTSUPP, what + ": aufs cannot enforce a size limit");
  if (Exists(id)) return Error(EEXIST, what + ": layer exists");
  std::vector<std::string> chain;
  if (!parent.empty()) {
    if (!Exists(parent)) return Error(ENOENT, what + ": parent " + parent + ": no such layer");
    STRATA_ASSIGN_OR_RETURN_CTX(chain, ReadChain(parent), what);
    chain.insert(chain.begin(), parent);
  }
  const std::string tmp = home_ + "/diff/" + fs::TempName(id);
  if (::mkdir(tmp.c_str(), 0755) != 0) return Error::FromErrno(what + ": mkdir " + tmp);
  auto undo_tmp = MakeGuard([&] { (void)fs::RemoveTree(tmp); });  // best effort: rollback
  // The chain goes first: a crash before the rename leaves only a stale layers/ file, which the
  // next Create of this id overwrites; never a diff/ dir without its chain.
  STRATA_TRY_CTX(fs::WriteFileAtomic(LayersFile(id), FormatChain(chain)), what);
  if (::rename(tmp.c_str(), DiffDir(id).c_str()) != 0) {
    const Error error = Error::FromErrno(what + ": rename into place");
    (void)::unlink(LayersFile(id).c_str());  // best effort: rollback
    return error;
  }
  undo_tmp.Release();
  return Ok();
}

Status AufsDriver::Remove(const std::string& id) {
  const std::string what = "aufs remove " + id;
  STRATA_TRY_CTX(fs::ValidateLayerId(id), what);
  STRATA_TRY_CTX(Unmount(id), what);
  if (IsDir(DiffDir(id))) {
    // Rename first so a crash never leaves a half-deleted layer under its real id; init collects
    // ".removing-" leftovers.
    const std::string doomed = home_ + "/diff/" + fs::RemovingName(id);
    STRATA_TRY_CTX(fs::RemoveTree(doomed), what);  // a leftover of an earlier interrupted Remove
    if (::rename(DiffDir(id).c_str(), doomed.c_str()) != 0) {
      return Error::FromErrno(what + ": rename " + DiffDir(id));
    }
    STRATA_TRY_CTX(fs::RemoveTree(doomed), what);
  }
  if (::unlink(LayersFile(id).c_str()) != 0 && errno != ENOENT) {
    return Error::FromErrno(what + ": unlink " + LayersFile(id));
  }
  return Ok();
}

bool AufsDriver::IsStale(const sys::MountEntry& entry) const {
  if (entry.fs_type != kHelperFsType) return false;
  struct statfs st {};
  // A FUSE mount whose daemon died answers every call with ENOTCONN until it is unmounted.
  return ::statfs(entry.mount_point.c_str(), &st) != 0 && errno == ENOTCONN;
}

Result<std::optional<sys::MountEntry>> AufsDriver::MountAt(const std::string& id) {
  STRATA_ASSIGN_OR_RETURN(auto table, mounts_.MountInfo());
  std::optional<sys::MountEntry> found;
  for (sys::MountEntry& entry : table) {
    if (entry.mount_point == MntDir(id)) found = std::move(entry);  // the last one is on top
  }
  return found;
}

Status AufsDriver::Detach(const std::string& id) {
  const std::string mnt = MntDir(id);
  Status status = mounts_.Unmount(mnt, sys::kMntDetach);
  if (status.ok() || status.error().code() != EPERM ||
      mounter_.kind == AufsMounter::Kind::kKernel) {
    return status;
  }
  // Not root (rootless layers): only the setuid fusermount3 may unmount the user's own FUSE
  // mount. umount2 says EPERM before it looks whether anything is mounted there, so look first.
  STRATA_ASSIGN_OR_RETURN(auto existing, MountAt(id));
  if (!existing) return Error(EINVAL, "umount " + mnt + ": not mounted");  // as umount2 would
  if (existing->fs_type != kHelperFsType) return status;
  auto ran = RunProgramOk({"fusermount3", "-u", "-z", mnt});
  if (!ran.ok()) return std::move(ran).error();
  return Ok();
}

Status AufsDriver::MountBranches(const std::string& id, const std::vector<std::string>& branches,
                                 BranchAccess access) {
  const std::string mnt = MntDir(id);
  if (mounter_.kind == AufsMounter::Kind::kKernel) {
    STRATA_ASSIGN_OR_RETURN(KernelAufsPlan plan,
                            PlanKernelAufsMount(branches, mounter_.page_size_bytes));
    const unsigned long flags = access == BranchAccess::kReadOnly ? sys::kMsRdonly : 0;
    STRATA_TRY(mounts_.Mount("none", mnt, "aufs", flags, plan.data));
    for (const std::string& append : plan.remounts) {
      Status status = mounts_.Mount("none", mnt, "aufs", flags | sys::kMsRemount, append);
      if (!status.ok()) {
        (void)mounts_.Unmount(mnt, sys::kMntDetach);  // best effort: rollback
        return std::move(status).Wrap("remount " + append);
      }
    }
    return Ok();
  }
  // The branch list goes through a file: one long argv item would show in ps and could pass
  // the argument length limit.
  const std::string br_file = BranchFile(id);
  STRATA_TRY(fs::WriteFileAtomic(br_file, BranchSpec(branches)));
  auto remove_br = MakeGuard([&] { (void)::unlink(br_file.c_str()); });  // read at startup only
  // strata-aufs daemonizes and exits 0 once the mount is live.
  auto ran = RunProgramOk({mounter_.helper, "-o", "br_file=" + br_file, mnt});
  if (!ran.ok()) return std::move(ran).error();
  return Ok();
}

Result<std::string> AufsDriver::Mount(const std::string& id) {
  const std::string what = "aufs mount " + id;
  if (!Exists(id)) return Error(ENOENT, what + ": no such layer");
  STRATA_ASSIGN_OR_RETURN_CTX(std::vector<std::string> chain, ReadChain(id), what);
  if (chain.empty()) return DiffDir(id);  // a base layer's diff/ is its root
  const std::string mnt = MntDir(id);
  STRATA_ASSIGN_OR_RETURN_CTX(auto existing, MountAt(id), what);
  if (existing) {
    if (!IsStale(*existing)) return mnt;
    // The helper died: detach its dead mount and mount afresh.
    STRATA_TRY_CTX(Detach(id), what + ": clean stale mount");
  }
  STRATA_ASSIGN_OR_RETURN_CTX(bool has_children, HasChildren(id), what);
  // A parent's branch must not change under its children: mount it read-only.
  const BranchAccess access = has_children ? BranchAccess::kReadOnly : BranchAccess::kReadWrite;
  std::vector<std::string> parents;
  for (const std::string& parent : chain) parents.push_back(DiffDir(parent));
  STRATA_TRY_CTX(fs::MakeDir(mnt, 0755), what);
  auto undo = MakeGuard([&] { (void)::rmdir(mnt.c_str()); });  // best effort: rollback
  STRATA_TRY_CTX(MountBranches(id, AufsBranches(DiffDir(id), access, parents), access), what);
  undo.Release();
  return mnt;
}

Status AufsDriver::Unmount(const std::string& id) {
  const std::string what = "aufs unmount " + id;
  const std::string mnt = MntDir(id);
  if (!IsDir(mnt) && ::access(mnt.c_str(), F_OK) != 0 && errno != ENOTCONN) return Ok();
  // A lazy unmount also clears a dead helper's mount (which answers ENOTCONN to anything else).
  Status status = Detach(id);
  if (!status.ok() && status.error().code() != EINVAL && status.error().code() != ENOENT) {
    return std::move(status).Wrap(what);
  }
  if (::rmdir(mnt.c_str()) != 0 && errno != ENOENT) {
    return Error::FromErrno(what + ": rmdir " + mnt);
  }
  return Ok();
}

Result<bool> AufsDriver::IsMounted(const std::string& id) {
  if (!Exists(id)) return false;
  if (IsBase(id)) return true;  // its diff/ is its root; nothing to mount
  STRATA_ASSIGN_OR_RETURN_CTX(auto existing, MountAt(id), "aufs is-mounted " + id);
  return existing.has_value() && !IsStale(*existing);
}

Result<std::vector<archive::Change>> AufsDriver::Changes(const std::string& id) {
  const std::string what = "aufs changes " + id;
  if (!Exists(id)) return Error(ENOENT, what + ": no such layer");
  STRATA_ASSIGN_OR_RETURN_CTX(std::vector<std::string> chain, ReadChain(id), what);
  std::vector<std::string> parents;
  for (const std::string& parent : chain) parents.push_back(DiffDir(parent));
  return UnionChanges(DiffDir(id), parents, archive::WhiteoutFormat::kAufs).Wrap(what);
}

}  // namespace

std::unique_ptr<Driver> MakeAufsDriver(std::string home, sys::Mounts& mounts, AufsMounter mounter) {
  return std::make_unique<AufsDriver>(std::move(home), mounts, std::move(mounter));
}

}  // namespace strata::drivers::aufs
