#include "drivers/vfs/vfs_driver.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include "core/unique_fd.h"
#include "drivers/archive/archive.h"
#include "drivers/fs_tree.h"

namespace strata::drivers::vfs {
namespace {

// Interrupted creates younger than this may still be running in another strata process.
constexpr std::chrono::seconds kLeftoverMinAge{3600};

class VfsDriver final : public Driver {
 public:
  explicit VfsDriver(std::string home) : home_(std::move(home)) {}

  std::string Name() const override { return "vfs"; }
  std::string Home() const override { return home_; }
  StatusFields Describe() const override {
    return {{"Layout", "full copy per layer (" + home_ + "/dir)"},
            {"Native diff", "false (trees are compared)"}};
  }
  archive::WhiteoutFormat Whiteouts() const override { return archive::WhiteoutFormat::kDelete; }

  Status Create(const std::string& id, const std::string& parent, LayerKind kind,
                const CreateOptions& options) override;
  Status Remove(const std::string& id) override;
  bool Exists(const std::string& id) const override {
    struct stat st {};
    return fs::ValidateLayerId(id).ok() && ::stat(Dir(id).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  }

  // No mount: the layer directory is the root filesystem.
  Result<std::string> Mount(const std::string& id) override {
    if (!Exists(id)) return Error(ENOENT, "vfs layer " + id + ": no such layer");
    return Dir(id);
  }
  Status Unmount(const std::string&) override { return Ok(); }
  std::string MountPath(const std::string& id) const override { return Dir(id); }
  Result<bool> IsMounted(const std::string& id) override { return Exists(id); }

  Result<std::vector<archive::Change>> Changes(const std::string& id) override;
  Result<archive::ExportStats> Diff(const std::string& id, int out_fd,
                                    archive::Compression compression) override;
  Result<archive::ApplyStats> ApplyDiff(const std::string& id, int in_fd) override;
  Result<uint64_t> DiffSize(const std::string& id) override;

 private:
  std::string Dir(const std::string& id) const { return home_ + "/dir/" + id; }
  std::string ParentFile(const std::string& id) const { return home_ + "/parents/" + id; }
  // The parent's directory, or "" for a base layer.
  Result<std::string> ParentDir(const std::string& id) const;

  std::string home_;
};

Status VfsDriver::Create(const std::string& id, const std::string& parent, LayerKind,
                         const CreateOptions& options) {
  const std::string what = "vfs create " + id;
  STRATA_TRY_CTX(fs::ValidateLayerId(id), what);
  if (options.size_bytes) return Error(EOPNOTSUPP, what + ": vfs cannot enforce a size limit");
  if (Exists(id)) return Error(EEXIST, what + ": layer exists");
  if (!parent.empty() && !Exists(parent)) {
    return Error(ENOENT, what + ": parent " + parent + ": no such layer");
  }
  const std::string tmp = home_ + "/dir/" + fs::TempName(id);
  auto undo = MakeGuard([&] { (void)fs::RemoveTree(tmp); });  // best effort: rollback
  if (parent.empty()) {
    if (::mkdir(tmp.c_str(), 0755) != 0) return Error::FromErrno(what + ": mkdir " + tmp);
  } else {
    STRATA_TRY_CTX(fs::CopyTree(Dir(parent), tmp), what);
  }
  // The parent record goes first: a crash before the rename leaves only a stale record, which
  // the next Create of this id overwrites; never a layer without its parent.
  if (parent.empty()) {
    if (::unlink(ParentFile(id).c_str()) != 0 && errno != ENOENT) {
      return Error::FromErrno(what + ": unlink " + ParentFile(id));
    }
  } else {
    STRATA_TRY_CTX(fs::WriteFileAtomic(ParentFile(id), parent), what);
  }
  if (::rename(tmp.c_str(), Dir(id).c_str()) != 0) {
    int err = errno;
    (void)::unlink(ParentFile(id).c_str());  // best effort: rollback of the record
    return Error::FromErrno(err, what + ": rename into place");
  }
  undo.Release();
  return Ok();
}

Status VfsDriver::Remove(const std::string& id) {
  const std::string what = "vfs remove " + id;
  STRATA_TRY_CTX(fs::ValidateLayerId(id), what);
  const std::string doomed = home_ + "/dir/" + fs::RemovingName(id);
  // Rename first so a crash never leaves a half-deleted tree under the real id; Init collects
  // ".removing-" leftovers.
  if (::rename(Dir(id).c_str(), doomed.c_str()) != 0 && errno != ENOENT) {
    return Error::FromErrno(what + ": rename " + Dir(id));
  }
  if (::unlink(ParentFile(id).c_str()) != 0 && errno != ENOENT) {
    return Error::FromErrno(what + ": unlink " + ParentFile(id));
  }
  return fs::RemoveTree(doomed).Wrap(what);
}

Result<std::string> VfsDriver::ParentDir(const std::string& id) const {
  if (!Exists(id)) return Error(ENOENT, "vfs layer " + id + ": no such layer");
  auto parent = fs::ReadFile(ParentFile(id));
  if (!parent.ok()) {
    if (parent.error().code() == ENOENT) return std::string();  // a base layer
    return std::move(parent).error();
  }
  if (!Exists(*parent))
    return Error(ENOENT, "vfs layer " + id + ": parent " + *parent + " is gone");
  return Dir(*parent);
}

Result<std::vector<archive::Change>> VfsDriver::Changes(const std::string& id) {
  STRATA_ASSIGN_OR_RETURN_CTX(std::string parent_dir, ParentDir(id), "vfs changes " + id);
  return archive::TreeChanges(Dir(id), parent_dir).Wrap("vfs changes " + id);
}

Result<archive::ExportStats> VfsDriver::Diff(const std::string& id, int out_fd,
                                             archive::Compression compression) {
  STRATA_ASSIGN_OR_RETURN(auto changes, Changes(id));
  return archive::ExportChanges(Dir(id), changes, out_fd, compression).Wrap("vfs diff " + id);
}

Result<archive::ApplyStats> VfsDriver::ApplyDiff(const std::string& id, int in_fd) {
  if (!Exists(id)) return Error(ENOENT, "vfs apply " + id + ": no such layer");
  return archive::ApplyLayerTar(in_fd, Dir(id), archive::WhiteoutFormat::kDelete)
      .Wrap("vfs apply " + id);
}

Result<uint64_t> VfsDriver::DiffSize(const std::string& id) {
  STRATA_ASSIGN_OR_RETURN(auto changes, Changes(id));
  uint64_t total = 0;
  for (const archive::Change& change : changes) {
    if (change.kind == archive::Change::Kind::kDelete) continue;
    struct stat st {};
    const std::string path = Dir(id) + "/" + change.path;
    if (::lstat(path.c_str(), &st) != 0)
      return Error::FromErrno("vfs diff size " + id + ": stat " + path);
    if (S_ISREG(st.st_mode)) total += static_cast<uint64_t>(st.st_size);
  }
  return total;
}

}  // namespace

Status ProbeVfs(const DriverEnv&) { return Ok(); }

Status CheckVfsOptions(const nlohmann::json& options) {
  if (!options.is_null() && !options.is_object()) {
    return Error(EINVAL, "driver-opts.vfs: expected an object");
  }
  if (options.is_object() && !options.empty()) {
    return Error(EINVAL, "driver-opts.vfs." + options.begin().key() +
                             ": unknown option (vfs has no options)");
  }
  return Ok();
}

Result<std::unique_ptr<Driver>> NewVfsDriver(const DriverEnv& env, const nlohmann::json& options) {
  STRATA_TRY(CheckVfsOptions(options));
  const std::string home = env.root + "/vfs";
  for (const std::string& dir : {env.root, home, home + "/dir", home + "/parents"}) {
    STRATA_TRY_CTX(fs::MakeDir(dir, 0700), "vfs init");
  }
  (void)fs::CollectLeftovers(home + "/dir", kLeftoverMinAge);      // best effort: crash GC
  (void)fs::CollectLeftovers(home + "/parents", kLeftoverMinAge);  // best effort: crash GC
  return std::unique_ptr<Driver>(std::make_unique<VfsDriver>(home));
}

}  // namespace strata::drivers::vfs
