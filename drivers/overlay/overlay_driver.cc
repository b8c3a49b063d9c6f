// The overlay Driver: layer lifecycle, mount/unmount over the seam, native diff.
#include "drivers/overlay/overlay_driver.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "core/strings.h"
#include "core/unique_fd.h"
#include "drivers/fs_tree.h"
#include "drivers/overlay/layout.h"
#include "drivers/union_changes.h"

namespace strata::drivers::overlay {
namespace {

// Attempts at a fresh link id when the random one is taken (1 in 2^128: a corrupt l/ dir).
constexpr int kLinkAttempts = 5;

bool PathExists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

// A layer's directory name under the home: its id, except for the one valid id that collides
// with the layout's own l/ directory, which moves to "_l" (no valid id starts with '_').
std::string DirName(const std::string& id) { return id == "l" ? "_l" : id; }

class OverlayDriver final : public Driver {
 public:
  OverlayDriver(std::string home, sys::Mounts& mounts, OverlayFeatures features,
                std::string backing_fs)
      : home_(std::move(home)),
        mounts_(mounts),
        features_(std::move(features)),
        backing_fs_(std::move(backing_fs)) {}

  std::string Name() const override { return "overlay"; }
  std::string Home() const override { return home_; }
  StatusFields Describe() const override;
  archive::WhiteoutFormat Whiteouts() const override { return archive::WhiteoutFormat::kOverlay; }

  Status Create(const std::string& id, const std::string& parent, LayerKind kind,
                const CreateOptions& options) override;
  Status Remove(const std::string& id) override;
  bool Exists(const std::string& id) const override {
    return fs::ValidateLayerId(id).ok() && PathExists(DiffDir(id));
  }

  Result<std::string> Mount(const std::string& id) override;
  Status Unmount(const std::string& id) override;
  std::string MountPath(const std::string& id) const override {
    return IsBase(id) ? DiffDir(id) : MergedDir(id);
  }
  Result<bool> IsMounted(const std::string& id) override;

  Result<std::vector<archive::Change>> Changes(const std::string& id) override;
  Result<archive::ExportStats> Diff(const std::string& id, int out_fd,
                                    archive::Compression compression) override {
    if (!Exists(id)) return Error(ENOENT, "overlay diff " + id + ": no such layer");
    // Native diff: diff/ holds exactly this layer's changes in overlay whiteout form.
    return archive::ExportTree(DiffDir(id), archive::WhiteoutFormat::kOverlay, out_fd, compression)
        .Wrap("overlay diff " + id);
  }
  Result<archive::ApplyStats> ApplyDiff(const std::string& id, int in_fd) override {
    if (!Exists(id)) return Error(ENOENT, "overlay apply " + id + ": no such layer");
    return archive::ApplyLayerTar(in_fd, DiffDir(id), archive::WhiteoutFormat::kOverlay)
        .Wrap("overlay apply " + id);
  }
  Result<uint64_t> DiffSize(const std::string& id) override {
    if (!Exists(id)) return Error(ENOENT, "overlay diff size " + id + ": no such layer");
    return fs::DirectorySize(DiffDir(id)).Wrap("overlay diff size " + id);
  }

 private:
  std::string LayerDir(const std::string& id) const { return home_ + "/" + DirName(id); }
  std::string DiffDir(const std::string& id) const { return LayerDir(id) + "/diff"; }
  std::string MergedDir(const std::string& id) const { return LayerDir(id) + "/merged"; }
  bool IsBase(const std::string& id) const { return !PathExists(LayerDir(id) + "/lower"); }

  // The parents' link ids, nearest first; empty for a base layer.
  Result<std::vector<std::string>> ReadLowers(const std::string& id) const;
  Result<std::string> ReadLink(const std::string& id) const;
  // Creates l/<new link id> -> ../<id>/diff and returns the link id.
  Result<std::string> CreateLink(const std::string& id);
  // Mounts per `plan`, falling back to classic mount(2) once when fsopen is unavailable.
  Status MountPlanned(const std::string& id, OverlayMountPlan& plan,
                      const std::vector<std::string>& links);

  std::string home_;
  sys::Mounts& mounts_;
  OverlayFeatures features_;
  std::string backing_fs_;
};

StatusFields OverlayDriver::Describe() const {
  StatusFields fields = {
      {"Backing Filesystem", backing_fs_},
      {"Supports d_type", "true"},
      // Native diff holds because every mount turns off the features that would break it (and
      // the probe refuses kernels < 4.8, whose copy-up marked directories opaque).
      {"Native Overlay Diff", "true"},
      {"Mount API", features_.new_mount_api ? "new (fsopen, lowerdir+)" : "classic mount(2)"},
      {"index", features_.index_off ? "off" : "kernel default (no index parameter)"},
      {"redirect_dir", features_.redirect_dir_off ? "off" : "not supported by kernel"},
      {"metacopy", features_.metacopy_off ? "off" : "not supported by kernel"},
      {"Max lower layers", std::to_string(features_.max_lower_layers)},
  };
  if (!features_.extra_options.empty()) {
    fields.emplace_back("Extra mount options", Join(features_.extra_options, ","));
  }
  return fields;
}

Result<std::vector<std::string>> OverlayDriver::ReadLowers(const std::string& id) const {
  auto text = fs::ReadFile(LayerDir(id) + "/lower");
  if (!text.ok()) {
    if (text.error().code() == ENOENT) return std::vector<std::string>{};
    return std::move(text).error();
  }
  return ParseLowerFile(*text).Wrap(LayerDir(id) + "/lower");
}

Result<std::string> OverlayDriver::ReadLink(const std::string& id) const {
  STRATA_ASSIGN_OR_RETURN(std::string link, fs::ReadFile(LayerDir(id) + "/link"));
  while (!link.empty() && link.back() == '\n') link.pop_back();
  if (!IsLinkId(link)) return Error(EINVAL, LayerDir(id) + "/link: bad link id \"" + link + "\"");
  return link;
}

Result<std::string> OverlayDriver::CreateLink(const std::string& id) {
  const std::string target = "../" + DirName(id) + "/diff";
  for (int attempt = 0; attempt < kLinkAttempts; ++attempt) {
    std::string link = NewLinkId();
    const std::string path = home_ + "/l/" + link;
    if (::symlink(target.c_str(), path.c_str()) == 0) return link;
    if (errno != EEXIST) return Error::FromErrno("symlink " + path);
  }
  return Error(EEXIST, "no free link id under " + home_ + "/l after " +
                           std::to_string(kLinkAttempts) + " attempts");
}

Status OverlayDriver::Create(const std::string& id, const std::string& parent, LayerKind,
                             const CreateOptions& options) {
  const std::string what = "overlay create " + id;
  STRATA_TRY_CTX(fs::ValidateLayerId(id), what);
  if (options.size_bytes) {
    return Error(EOPNOTSUPP, what +
                                 ": overlay cannot enforce a size limit (needs XFS project "
                                 "quota, not implemented)");
  }
  if (PathExists(LayerDir(id))) return Error(EEXIST, what + ": layer exists");
  std::vector<std::string> links;
  if (!parent.empty()) {
    if (!Exists(parent)) return Error(ENOENT, what + ": parent " + parent + ": no such layer");
    STRATA_ASSIGN_OR_RETURN_CTX(std::string parent_link, ReadLink(parent), what);
    STRATA_ASSIGN_OR_RETURN_CTX(links, ReadLowers(parent), what);
    links.insert(links.begin(), parent_link);
  }
  // Build under a temp name and rename into place: a failure or crash leaves nothing under `id`.
  const std::string tmp = home_ + "/" + fs::TempName(id);
  if (::mkdir(tmp.c_str(), 0700) != 0) return Error::FromErrno(what + ": mkdir " + tmp);
  auto undo_tmp = MakeGuard([&] { (void)fs::RemoveTree(tmp); });  // best effort: rollback
  if (::mkdir((tmp + "/diff").c_str(), 0755) != 0) return Error::FromErrno(what + ": mkdir diff");
  if (!parent.empty()) {
    if (::mkdir((tmp + "/work").c_str(), 0700) != 0) return Error::FromErrno(what + ": mkdir work");
    STRATA_TRY_CTX(fs::WriteFileAtomic(tmp + "/lower", FormatLowerFile(links)), what);
  }
  STRATA_ASSIGN_OR_RETURN_CTX(std::string link, CreateLink(id), what);
  const std::string link_path = home_ + "/l/" + link;
  auto undo_link = MakeGuard([&] { (void)::unlink(link_path.c_str()); });  // best effort
  STRATA_TRY_CTX(fs::WriteFileAtomic(tmp + "/link", link), what);
  // Mark the parent first: a spurious marker only makes it mount read-only, while a child over a
  // parent still mounted read-write would see its lower layer change under it.
  if (!parent.empty())
    STRATA_TRY_CTX(fs::WriteFileAtomic(LayerDir(parent) + "/committed", ""), what);
  if (::rename(tmp.c_str(), LayerDir(id).c_str()) != 0) {
    return Error::FromErrno(what + ": rename into place");
  }
  undo_link.Release();
  undo_tmp.Release();
  return Ok();
}

Status OverlayDriver::Remove(const std::string& id) {
  const std::string what = "overlay remove " + id;
  STRATA_TRY_CTX(fs::ValidateLayerId(id), what);
  if (!PathExists(LayerDir(id))) return Ok();
  STRATA_TRY_CTX(Unmount(id), what);
  auto link = ReadLink(id);
  if (link.ok() && ::unlink((home_ + "/l/" + *link).c_str()) != 0 && errno != ENOENT) {
    return Error::FromErrno(what + ": unlink l/" + *link);
  }
  // Rename first so a crash never leaves a half-deleted layer under its real id; init collects
  // ".removing-" leftovers.
  const std::string doomed = home_ + "/" + fs::RemovingName(id);
  STRATA_TRY_CTX(fs::RemoveTree(doomed), what);  // a leftover of an earlier interrupted Remove
  if (::rename(LayerDir(id).c_str(), doomed.c_str()) != 0) {
    return Error::FromErrno(what + ": rename " + LayerDir(id));
  }
  return fs::RemoveTree(doomed).Wrap(what);
}

Status OverlayDriver::MountPlanned(const std::string& id, OverlayMountPlan& plan,
                                   const std::vector<std::string>& links) {
  Status status = ApplyOverlayMount(mounts_, plan);
  if (status.ok() || status.error().code() != ENOSYS ||
      plan.method != OverlayMountPlan::Method::kNewApi) {
    return status;
  }
  // fsopen is missing or filtered (seccomp in a container): use mount(2) from now on.
  features_.new_mount_api = false;
  STRATA_ASSIGN_OR_RETURN(plan,
                          PlanOverlayMount({home_, DirName(id), links}, plan.access, features_));
  return ApplyOverlayMount(mounts_, plan);
}

Result<std::string> OverlayDriver::Mount(const std::string& id) {
  const std::string what = "overlay mount " + id;
  if (!Exists(id)) return Error(ENOENT, what + ": no such layer");
  STRATA_ASSIGN_OR_RETURN_CTX(std::vector<std::string> links, ReadLowers(id), what);
  // A committed layer is a lower layer of its children: since Linux 5.2 a directory in use as a
  // lower elsewhere cannot also be an upper (EBUSY), and writing it would change the children.
  const MountAccess access =
      PathExists(LayerDir(id) + "/committed") ? MountAccess::kReadOnly : MountAccess::kReadWrite;
  STRATA_ASSIGN_OR_RETURN(OverlayMountPlan plan,
                          PlanOverlayMount({home_, DirName(id), links}, access, features_));
  if (plan.method == OverlayMountPlan::Method::kNone) return plan.root_path;
  const std::string merged = MergedDir(id);
  STRATA_TRY_CTX(fs::MakeDir(merged, 0755), what);
  auto undo = MakeGuard([&] { (void)::rmdir(merged.c_str()); });  // best effort: rollback
  STRATA_TRY_CTX(MountPlanned(id, plan, links), what);
  undo.Release();
  return plan.root_path;
}

Status OverlayDriver::Unmount(const std::string& id) {
  const std::string what = "overlay unmount " + id;
  const std::string merged = MergedDir(id);
  if (!PathExists(merged)) return Ok();  // never mounted, or already unmounted
  Status status = mounts_.Unmount(merged, kMntDetach);
  if (!status.ok() && status.error().code() != EINVAL && status.error().code() != ENOENT) {
    return std::move(status).Wrap(what);
  }
  // Removing the mount point makes the kernel drop copies of this mount that propagated into
  // other mount namespaces (FIELD-GUIDE §3.8), which a detach alone leaves behind.
  if (::rmdir(merged.c_str()) != 0 && errno != ENOENT) {
    return Error::FromErrno(what + ": rmdir " + merged);
  }
  return Ok();
}

Result<bool> OverlayDriver::IsMounted(const std::string& id) {
  if (!Exists(id)) return false;
  if (IsBase(id)) return true;  // its diff/ is its root; nothing to mount
  STRATA_ASSIGN_OR_RETURN_CTX(auto table, mounts_.MountInfo(), "overlay is-mounted " + id);
  return sys::HasMountPoint(table, MergedDir(id));
}

Result<std::vector<archive::Change>> OverlayDriver::Changes(const std::string& id) {
  const std::string what = "overlay changes " + id;
  if (!Exists(id)) return Error(ENOENT, what + ": no such layer");
  STRATA_ASSIGN_OR_RETURN_CTX(std::vector<std::string> links, ReadLowers(id), what);
  std::vector<std::string> lowers;
  lowers.reserve(links.size());
  for (const std::string& link : links) lowers.push_back(home_ + "/l/" + link);
  return UnionChanges(DiffDir(id), lowers, archive::WhiteoutFormat::kOverlay).Wrap(what);
}

}  // namespace

std::unique_ptr<Driver> MakeOverlayDriver(std::string home, sys::Mounts& mounts,
                                          OverlayFeatures features, std::string backing_fs) {
  return std::make_unique<OverlayDriver>(std::move(home), mounts, std::move(features),
                                         std::move(backing_fs));
}

}  // namespace strata::drivers::overlay
