#include "drivers/devicemapper/dm_driver.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <dirent.h>
#include <optional>

#include "core/exec.h"
#include "core/strings.h"
#include "core/sys/device_mapper.h"
#include "core/sys/loop.h"
#include "core/units.h"
#include "drivers/devicemapper/dm_mount.h"
#include "drivers/fs_tree.h"
#include "drivers/layer_lock.h"
#include "thinpool/pool.h"
#include "thinpool/pool_config.h"
#include "thinpool/pool_open.h"

namespace strata::drivers::devicemapper {
namespace {

using thinpool::ThinPool;
using thinpool::ThinRecord;

constexpr char kBaseName[] = "base";
constexpr char kUnformattedBaseName[] = "base.unformatted";
constexpr std::chrono::seconds kInitLockTimeout{120};

std::string ThinName(const std::string& id) { return "layer:" + id; }

struct LayerRow {
  uint32_t thin_id = 0;
  std::string parent;
  std::string kind;  // "ro" or "rw"
};

class DmDriver;

void CollectStaleTempMounts(const std::string& tmp_dir, sys::Mounts& mounts);

// A layer's filesystem mounted for the driver's own use (apply, diff): the layer's regular mount
// when it has one, or a private mount under tmp/ that goes away with this object (and the thin
// device too, if this view activated it).
class View {
 public:
  View() = default;
  View(const View&) = delete;
  View& operator=(const View&) = delete;
  ~View();

  std::string root;  // the layer's root directory (".../rootfs")

 private:
  friend class DmDriver;
  DmDriver* driver_ = nullptr;
  std::string temp_dir_;  // set when this view made its own mount
  std::optional<uint32_t> deactivate_;
};

class DmDriver final : public Driver {
 public:
  DmDriver(const DriverEnv& env, thinpool::PoolConfig config, std::string home)
      : env_(env), config_(std::move(config)), home_(std::move(home)) {}

  std::string Name() const override { return "devicemapper"; }
  std::string Home() const override { return home_; }
  StatusFields Describe() const override;
  archive::WhiteoutFormat Whiteouts() const override { return archive::WhiteoutFormat::kDelete; }

  Status Create(const std::string& id, const std::string& parent, LayerKind kind,
                const CreateOptions& options) override;
  Status Remove(const std::string& id) override;
  bool Exists(const std::string& id) const override {
    auto row = Row(id);
    return row.ok() && row->has_value();
  }

  Result<std::string> Mount(const std::string& id) override;
  Status Unmount(const std::string& id) override;
  std::string MountPath(const std::string& id) const override { return MountDir(id); }
  Result<bool> IsMounted(const std::string& id) override { return IsMountPoint(MountDir(id)); }

  Result<std::vector<archive::Change>> Changes(const std::string& id) override;
  Result<archive::ExportStats> Diff(const std::string& id, int out_fd,
                                    archive::Compression compression) override;
  Result<archive::ApplyStats> ApplyDiff(const std::string& id, int in_fd) override;
  Result<uint64_t> DiffSize(const std::string& id) override;

  // View support.
  void CloseView(View& view);

 private:
  std::string MountDir(const std::string& id) const { return home_ + "/mnt/" + id; }
  Result<std::optional<LayerRow>> Row(const std::string& id) const;
  Result<LayerRow> MustRow(const std::string& id) const;
  Result<bool> HasChildren(const std::string& id) const;
  Result<bool> IsMountPoint(const std::string& path) const;

  // The pool, opened on first use; `create` also builds it when there is none yet.
  Result<ThinPool*> Pool(bool create) const;
  Result<uint32_t> BaseThin();
  Result<uint32_t> MakeBase();
  Result<LayerLock> LockInit() const;

  Status MountThin(uint32_t thin_id, const std::string& target, bool read_only);
  // A private mount of `thin_id` under tmp/ (the caller unmounts it).
  Result<std::string> TempMount(uint32_t thin_id, bool read_only);
  Status OpenView(const std::string& id, bool read_only, View& view);
  Status GrowTo(uint32_t thin_id, uint64_t size_bytes);

  // Changes of `id` with both views held while `use` runs (so it can read the files).
  template <typename Fn>
  auto WithChanges(const std::string& id, Fn use)
      -> decltype(use(std::string(), std::vector<archive::Change>()));

  DriverEnv env_;
  thinpool::PoolConfig config_;
  std::string home_;
  mutable std::unique_ptr<ThinPool> pool_;
  std::optional<uint32_t> base_thin_;
};

View::~View() {
  if (driver_ != nullptr) driver_->CloseView(*this);
}

void DmDriver::CloseView(View& view) {
  if (!view.temp_dir_.empty()) {
    (void)env_.mounts->Unmount(view.temp_dir_, sys::kMntDetach);  // best effort: cleanup
    (void)::rmdir(view.temp_dir_.c_str());
  }
  if (view.deactivate_ && pool_) {
    (void)pool_->Deactivate(*view.deactivate_, sys::DmRemove::kDeferred);  // best effort
  }
  view.driver_ = nullptr;
}

Result<std::optional<LayerRow>> DmDriver::Row(const std::string& id) const {
  STRATA_ASSIGN_OR_RETURN(Statement stmt,
                          env_.store->Prepare("SELECT thin_id, parent, kind FROM dm_layers "
                                              "WHERE id = ? AND pool = ?"));
  STRATA_TRY(stmt.Bind(1, id));
  STRATA_TRY(stmt.Bind(2, config_.pool_name.value));
  STRATA_ASSIGN_OR_RETURN(bool found, stmt.Step());
  if (!found) return std::optional<LayerRow>();
  return std::optional<LayerRow>(
      LayerRow{static_cast<uint32_t>(stmt.ColumnInt(0)), stmt.ColumnText(1), stmt.ColumnText(2)});
}

Result<LayerRow> DmDriver::MustRow(const std::string& id) const {
  STRATA_ASSIGN_OR_RETURN(std::optional<LayerRow> row, Row(id));
  if (!row) return Error(ENOENT, "devicemapper layer " + id + ": no such layer");
  return std::move(*row);
}

Result<bool> DmDriver::HasChildren(const std::string& id) const {
  STRATA_ASSIGN_OR_RETURN(
      Statement stmt,
      env_.store->Prepare("SELECT 1 FROM dm_layers WHERE parent = ? AND pool = ? LIMIT 1"));
  STRATA_TRY(stmt.Bind(1, id));
  STRATA_TRY(stmt.Bind(2, config_.pool_name.value));
  return stmt.Step();
}

Result<bool> DmDriver::IsMountPoint(const std::string& path) const {
  STRATA_ASSIGN_OR_RETURN(std::vector<sys::MountEntry> mounts, env_.mounts->MountInfo());
  return sys::HasMountPoint(mounts, path);
}

// Serialises building the base device between strata processes (the pool has its own init
// lock: thinpool/pool_open.h).
Result<LayerLock> DmDriver::LockInit() const {
  return LayerLock::Acquire(home_ + "/locks", "init", LayerLock::Wait::kBlock, kInitLockTimeout);
}

Result<ThinPool*> DmDriver::Pool(bool create) const {
  if (pool_) return pool_.get();
  thinpool::PoolEnv env{&sys::LinuxDeviceMapper(), &sys::LinuxLoop(), env_.store, env_.root};
  if (create) {
    STRATA_ASSIGN_OR_RETURN(pool_, thinpool::OpenOrCreatePool(env, config_, "devicemapper"));
    return pool_.get();
  }
  STRATA_ASSIGN_OR_RETURN_CTX(pool_, ThinPool::Open(env, config_),
                              "devicemapper: open pool " + config_.pool_name.value);
  return pool_.get();
}

Result<uint32_t> DmDriver::BaseThin() {
  if (base_thin_) return *base_thin_;
  STRATA_ASSIGN_OR_RETURN(ThinPool * pool, Pool(true));
  STRATA_ASSIGN_OR_RETURN(std::optional<ThinRecord> base, pool->FindByName(kBaseName));
  if (!base) {
    STRATA_ASSIGN_OR_RETURN(LayerLock lock, LockInit());
    STRATA_ASSIGN_OR_RETURN(base, pool->FindByName(kBaseName));
    if (!base) {
      STRATA_ASSIGN_OR_RETURN(uint32_t id, MakeBase());
      base_thin_ = id;
      return id;
    }
  }
  base_thin_ = base->thin_id;
  return base->thin_id;
}

// A fresh thin device of base-size, formatted, with an empty rootfs/ (0755, root). Named
// "base.unformatted" until done, so a crash midway is recognised and redone.
Result<uint32_t> DmDriver::MakeBase() {
  ThinPool& pool = *pool_;
  while (true) {
    STRATA_ASSIGN_OR_RETURN(std::optional<ThinRecord> stale, pool.FindByName(kUnformattedBaseName));
    if (!stale) break;
    STRATA_TRY_CTX(pool.Delete(stale->thin_id), "devicemapper: delete half-made base device");
  }
  const std::string fs(thinpool::FilesystemName(config_.fs.value));
  spdlog::info("devicemapper: formatting the base device ({}, {}), once", fs,
               FormatSize(config_.base_size_bytes.value));
  const uint64_t sectors = (config_.base_size_bytes.value + 511) / 512;
  STRATA_ASSIGN_OR_RETURN(uint32_t id, pool.CreateThin(sectors, kUnformattedBaseName));
  auto undo = MakeGuard([&] { (void)pool.Delete(id); });  // best effort: rollback
  STRATA_TRY(pool.Activate(id));
  const std::string device = pool.DevicePath(id);
  ExecOptions exec;
  exec.install_hint = fs == "xfs" ? "install xfsprogs" : "install e2fsprogs";
  STRATA_TRY_CTX(RunProgramOk(MkfsCommand(config_.fs.value, config_.mkfs_options.value, device),
                              exec),
                 "devicemapper: format base device");
  {
    STRATA_ASSIGN_OR_RETURN(std::string dir, TempMount(id, false));
    auto unmount = MakeGuard([&] {
      (void)env_.mounts->Unmount(dir, 0);  // best effort: cleanup
      (void)::rmdir(dir.c_str());
    });
    if (::mkdir((dir + "/rootfs").c_str(), 0755) != 0) {
      return Error::FromErrno("devicemapper: mkdir rootfs on the base device");
    }
    (void)::chmod((dir + "/rootfs").c_str(), 0755);  // umask-proof
  }
  STRATA_TRY(pool.Deactivate(id));
  STRATA_TRY(pool.Rename(id, kBaseName));
  undo.Release();
  return id;
}

Status DmDriver::MountThin(uint32_t thin_id, const std::string& target, bool read_only) {
  const std::string device = pool_->DevicePath(thin_id);
  STRATA_ASSIGN_OR_RETURN(MountSpec spec, PlanMount(config_.fs.value, config_.mount_options.value,
                                                    device, read_only));
  Status mounted = env_.mounts->MountNewApi(spec.fs_type, spec.params, spec.attrs, target);
  if (mounted.ok() || mounted.error().code() != ENOSYS) {
    return std::move(mounted).Wrap("mount " + device + " on " + target);
  }
  // Kernels before 5.2: classic mount(2); per-mount attributes other than read-only are lost.
  std::vector<std::string> data;
  for (size_t i = 1; i < spec.params.size(); ++i) {
    const sys::FsParam& p = spec.params[i];
    data.push_back(p.kind == sys::FsParam::Kind::kFlag ? p.key : p.key + "=" + p.value);
  }
  return env_.mounts
      ->Mount(device, target, spec.fs_type, read_only ? sys::kMsRdonly : 0, Join(data, ","))
      .Wrap("mount " + device + " on " + target);
}

Result<std::string> DmDriver::TempMount(uint32_t thin_id, bool read_only) {
  static std::atomic<int> counter{0};
  const std::string dir = home_ + "/tmp/" + std::to_string(::getpid()) + "-" +
                          std::to_string(counter.fetch_add(1));
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Error::FromErrno("devicemapper: mkdir " + dir);
  }
  Status mounted = MountThin(thin_id, dir, read_only);
  if (!mounted.ok()) {
    (void)::rmdir(dir.c_str());  // best effort: cleanup
    return std::move(mounted).error();
  }
  return dir;
}

Status DmDriver::OpenView(const std::string& id, bool read_only, View& view) {
  STRATA_ASSIGN_OR_RETURN(LayerRow row, MustRow(id));
  STRATA_ASSIGN_OR_RETURN(bool mounted, IsMountPoint(MountDir(id)));
  view.driver_ = this;
  if (mounted) {
    view.root = MountPath(id);
    return Ok();
  }
  STRATA_TRY(Pool(false));
  STRATA_ASSIGN_OR_RETURN(bool activated, pool_->EnsureActive(row.thin_id));
  if (activated) view.deactivate_ = row.thin_id;
  STRATA_ASSIGN_OR_RETURN(view.temp_dir_, TempMount(row.thin_id, read_only));
  view.root = view.temp_dir_ + "/rootfs";
  return Ok();
}

Status DmDriver::GrowTo(uint32_t thin_id, uint64_t size_bytes) {
  ThinPool& pool = *pool_;
  STRATA_ASSIGN_OR_RETURN(ThinRecord thin, pool.FindThin(thin_id));
  const uint64_t current = thin.size_sectors * 512;
  const uint64_t wanted = (size_bytes + 4095) / 4096 * 4096;
  if (wanted < current) {
    return Error(EINVAL, "size " + FormatSize(size_bytes) + " is smaller than the parent's " +
                             FormatSize(current) + " (a thin snapshot cannot shrink)");
  }
  if (wanted == current) return Ok();
  STRATA_TRY(pool.Grow(thin_id, wanted / 512));
  STRATA_ASSIGN_OR_RETURN(bool activated, pool_->EnsureActive(thin_id));
  auto deactivate = MakeGuard([&] {
    if (activated) (void)pool.Deactivate(thin_id, sys::DmRemove::kDeferred);  // best effort
  });
  STRATA_ASSIGN_OR_RETURN(std::string dir, TempMount(thin_id, false));
  auto unmount = MakeGuard([&] {
    (void)env_.mounts->Unmount(dir, 0);  // best effort: cleanup
    (void)::rmdir(dir.c_str());
  });
  STRATA_TRY_CTX(RunProgramOk(GrowFsCommand(config_.fs.value, pool.DevicePath(thin_id), dir)),
                 "grow the filesystem to " + FormatSize(wanted));
  return Ok();
}

Status DmDriver::Create(const std::string& id, const std::string& parent, LayerKind kind,
                        const CreateOptions& options) {
  const std::string what = "devicemapper create " + id;
  STRATA_TRY_CTX(fs::ValidateLayerId(id), what);
  STRATA_ASSIGN_OR_RETURN_CTX(std::optional<LayerRow> existing, Row(id), what);
  if (existing) return Error(EEXIST, what + ": layer exists");
  std::optional<LayerRow> parent_row;
  if (!parent.empty()) {
    STRATA_ASSIGN_OR_RETURN_CTX(parent_row, Row(parent), what);
    if (!parent_row) return Error(ENOENT, what + ": parent " + parent + ": no such layer");
  }
  if (options.size_bytes && kind != LayerKind::kReadWrite) {
    return Error(EINVAL, what + ": a size applies to read-write layers only");
  }
  STRATA_ASSIGN_OR_RETURN_CTX(ThinPool * pool, Pool(true), what);
  uint32_t origin = 0;
  if (parent_row) {
    origin = parent_row->thin_id;
  } else {
    STRATA_ASSIGN_OR_RETURN_CTX(origin, BaseThin(), what);
  }
  STRATA_ASSIGN_OR_RETURN_CTX(uint32_t thin, pool->Snapshot(origin, ThinName(id)), what);
  auto undo = MakeGuard([&] { (void)pool->Delete(thin); });  // best effort: rollback
  if (options.size_bytes) STRATA_TRY_CTX(GrowTo(thin, *options.size_bytes), what);
  STRATA_ASSIGN_OR_RETURN(Statement stmt,
                          env_.store->Prepare("INSERT INTO dm_layers (id, pool, thin_id, parent, "
                                              "kind) VALUES (?, ?, ?, ?, ?)"));
  STRATA_TRY(stmt.Bind(1, id));
  STRATA_TRY(stmt.Bind(2, config_.pool_name.value));
  STRATA_TRY(stmt.Bind(3, static_cast<int64_t>(thin)));
  STRATA_TRY(stmt.Bind(4, parent));
  STRATA_TRY(stmt.Bind(5, kind == LayerKind::kReadOnly ? "ro" : "rw"));
  STRATA_TRY_CTX(stmt.Run(), what);
  undo.Release();
  return Ok();
}

Status DmDriver::Remove(const std::string& id) {
  const std::string what = "devicemapper remove " + id;
  STRATA_TRY_CTX(fs::ValidateLayerId(id), what);
  // A process killed while it had the layer mounted for an apply or a diff left that mount.
  CollectStaleTempMounts(home_ + "/tmp", *env_.mounts);
  STRATA_TRY_CTX(Unmount(id), what);
  // The row goes first: a crash after it leaves a thin device named layer:<id>, found below by
  // the next Remove; never a row pointing at a deleted device.
  STRATA_ASSIGN_OR_RETURN(Statement stmt,
                          env_.store->Prepare("DELETE FROM dm_layers WHERE id = ? AND pool = ?"));
  STRATA_TRY(stmt.Bind(1, id));
  STRATA_TRY(stmt.Bind(2, config_.pool_name.value));
  STRATA_TRY_CTX(stmt.Run(), what);
  auto pool = Pool(false);
  if (!pool.ok()) {
    // No pool at all: nothing of the layer can exist.
    if (pool.error().code() == ENOENT) return Ok();
    return std::move(pool).error().Wrap(what);
  }
  while (true) {
    STRATA_ASSIGN_OR_RETURN_CTX(std::optional<ThinRecord> thin, (*pool)->FindByName(ThinName(id)),
                                what);
    if (!thin) return Ok();
    STRATA_TRY_CTX((*pool)->Delete(thin->thin_id), what);
  }
}

Result<std::string> DmDriver::Mount(const std::string& id) {
  const std::string what = "devicemapper mount " + id;
  STRATA_ASSIGN_OR_RETURN_CTX(LayerRow row, MustRow(id), what);
  const std::string dir = MountDir(id);
  STRATA_ASSIGN_OR_RETURN(bool mounted, IsMountPoint(dir));
  if (mounted) return MountPath(id);
  STRATA_TRY_CTX(Pool(false), what);
  STRATA_ASSIGN_OR_RETURN_CTX(bool activated, pool_->EnsureActive(row.thin_id), what);
  auto deactivate = MakeGuard([&] {
    if (activated) (void)pool_->Deactivate(row.thin_id, sys::DmRemove::kDeferred);  // rollback
  });
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Error::FromErrno(what + ": mkdir " + dir);
  }
  // A layer that is someone's parent is mounted read-only, as in overlay: its children are
  // snapshots of it, so writing it now would make its diff disagree with what they contain.
  STRATA_ASSIGN_OR_RETURN(bool read_only, HasChildren(id));
  // The filesystem goes up on a private stage; only its rootfs/ is bound at mnt/<id> (a mount
  // point, as runtimes want for pivot_root; lost+found stays out). The bind inherits read-only.
  STRATA_ASSIGN_OR_RETURN_CTX(std::string stage, TempMount(row.thin_id, read_only), what);
  Status bound = env_.mounts->Mount(stage + "/rootfs", dir, "", sys::kMsBind, "");
  (void)env_.mounts->Unmount(stage, sys::kMntDetach);  // the bind keeps the filesystem
  (void)::rmdir(stage.c_str());
  STRATA_TRY_CTX(std::move(bound), what + ": bind rootfs on " + dir);
  deactivate.Release();
  return MountPath(id);
}

Status DmDriver::Unmount(const std::string& id) {
  const std::string what = "devicemapper unmount " + id;
  const std::string dir = MountDir(id);
  STRATA_ASSIGN_OR_RETURN(bool mounted, IsMountPoint(dir));
  if (mounted) STRATA_TRY_CTX(env_.mounts->Unmount(dir, sys::kMntDetach), what);
  if (::rmdir(dir.c_str()) != 0 && errno != ENOENT) return Error::FromErrno(what + ": rmdir " + dir);
  STRATA_ASSIGN_OR_RETURN(std::optional<LayerRow> row, Row(id));
  if (!row) return Ok();
  auto pool = Pool(false);
  if (!pool.ok()) return pool.error().code() == ENOENT ? Ok() : std::move(pool).error().Wrap(what);
  // Deferred: a lazily detached mount may still hold the device; it goes at its last close.
  return (*pool)->Deactivate(row->thin_id, sys::DmRemove::kDeferred).Wrap(what);
}

template <typename Fn>
auto DmDriver::WithChanges(const std::string& id, Fn use)
    -> decltype(use(std::string(), std::vector<archive::Change>())) {
  STRATA_ASSIGN_OR_RETURN(LayerRow row, MustRow(id));
  View child;
  STRATA_TRY(OpenView(id, true, child));
  View parent;
  if (!row.parent.empty()) STRATA_TRY(OpenView(row.parent, true, parent));
  STRATA_ASSIGN_OR_RETURN(std::vector<archive::Change> changes,
                          archive::TreeChanges(child.root, parent.root));
  return use(child.root, std::move(changes));
}

Result<std::vector<archive::Change>> DmDriver::Changes(const std::string& id) {
  return WithChanges(id, [](const std::string&, std::vector<archive::Change> changes)
                             -> Result<std::vector<archive::Change>> { return changes; })
      .Wrap("devicemapper changes " + id);
}

Result<archive::ExportStats> DmDriver::Diff(const std::string& id, int out_fd,
                                            archive::Compression compression) {
  return WithChanges(id,
                     [&](const std::string& root, std::vector<archive::Change> changes) {
                       return archive::ExportChanges(root, changes, out_fd, compression);
                     })
      .Wrap("devicemapper diff " + id);
}

Result<archive::ApplyStats> DmDriver::ApplyDiff(const std::string& id, int in_fd) {
  const std::string what = "devicemapper apply " + id;
  View view;
  STRATA_TRY_CTX(OpenView(id, false, view), what);
  return archive::ApplyLayerTar(in_fd, view.root, archive::WhiteoutFormat::kDelete).Wrap(what);
}

Result<uint64_t> DmDriver::DiffSize(const std::string& id) {
  return WithChanges(id,
                     [&](const std::string& root,
                         std::vector<archive::Change> changes) -> Result<uint64_t> {
                       uint64_t total = 0;
                       for (const archive::Change& change : changes) {
                         if (change.kind == archive::Change::Kind::kDelete) continue;
                         struct stat st {};
                         const std::string path = root + "/" + change.path;
                         if (::lstat(path.c_str(), &st) != 0) {
                           return Error::FromErrno("stat " + path);
                         }
                         if (S_ISREG(st.st_mode)) total += static_cast<uint64_t>(st.st_size);
                       }
                       return total;
                     })
      .Wrap("devicemapper diff size " + id);
}

StatusFields DmDriver::Describe() const {
  StatusFields fields;
  fields.emplace_back("Pool", config_.pool_name.value + " (" +
                                  std::string(thinpool::PoolBackingName(config_.backing)) + ")");
  fields.emplace_back("Base device", std::string(thinpool::FilesystemName(config_.fs.value)) +
                                         ", " + FormatSize(config_.base_size_bytes.value));
  auto pool = Pool(false);
  if (!pool.ok()) {
    fields.emplace_back("Pool state", pool.error().code() == ENOENT
                                          ? "not created yet (made on first use)"
                                          : pool.error().message());
    return fields;
  }
  auto report = (*pool)->Report();
  if (!report.ok()) {
    fields.emplace_back("Pool state", report.error().message());
    return fields;
  }
  const thinpool::ThinPoolStatus& s = report->status;
  const uint64_t block = uint64_t{report->block_size_sectors} * 512;
  fields.emplace_back("Data space", FormatSize(s.used_data_blocks * block) + " used of " +
                                        FormatSize(s.total_data_blocks * block));
  fields.emplace_back("Mode", std::string(thinpool::PoolModeName(s.mode)));
  return fields;
}

// Private mounts under tmp/ left by a process that died: named <pid>-<n>.
void CollectStaleTempMounts(const std::string& tmp_dir, sys::Mounts& mounts) {
  DIR* dir = ::opendir(tmp_dir.c_str());
  if (dir == nullptr) return;
  while (dirent* entry = ::readdir(dir)) {
    std::string name = entry->d_name;
    if (name == "." || name == "..") continue;
    pid_t pid = static_cast<pid_t>(std::atoi(name.c_str()));
    if (pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM)) continue;  // still running
    const std::string path = tmp_dir + "/" + name;
    (void)mounts.Unmount(path, sys::kMntDetach);  // best effort: crash GC
    (void)::rmdir(path.c_str());
  }
  ::closedir(dir);
}

}  // namespace

Status ProbeDevicemapper(const DriverEnv&) { return sys::ProbeDeviceMapper(); }

Status CheckDevicemapperOptions(const nlohmann::json& options) {
  auto config = thinpool::ParsePoolConfig(options);
  if (!config.ok()) return std::move(config).error();
  return Ok();
}

Result<std::unique_ptr<Driver>> NewDevicemapperDriver(const DriverEnv& env,
                                                      const nlohmann::json& options) {
  if (env.store == nullptr) return Error(EINVAL, "devicemapper: needs the metadata store");
  if (env.mounts == nullptr) return Error(EINVAL, "devicemapper: needs the mount seam");
  STRATA_ASSIGN_OR_RETURN(thinpool::PoolConfig config, thinpool::ParsePoolConfig(options));
  const std::string home = env.root + "/devicemapper";
  for (const std::string& dir : {env.root, home, home + "/mnt", home + "/tmp"}) {
    STRATA_TRY_CTX(fs::MakeDir(dir, 0700), "devicemapper init");
  }
  CollectStaleTempMounts(home + "/tmp", *env.mounts);
  return std::unique_ptr<Driver>(std::make_unique<DmDriver>(env, std::move(config), home));
}

}  // namespace strata::drivers::devicemapper
