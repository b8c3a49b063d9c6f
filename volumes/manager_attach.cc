// Manager: attachments, listing and filters.
#include <sys/stat.h>

#include <cerrno>
#include <ctime>
#include <filesystem>
#include <system_error>
#include <utility>

#include "core/strings.h"
#include "volumes/manager.h"

namespace strata::volumes {
namespace {

std::string Quoted(const std::string& s) { return "\"" + s + "\""; }

Error FsError(const std::error_code& ec, const std::string& what) {
  return Error(ec.value(), what + ": " + ec.message());
}

}  // namespace

Result<VolumeFilter> ParseVolumeFilter(const std::string& text) {
  const size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size()) {
    return Error(EINVAL, "filter " + Quoted(text) +
                             ": expected KEY=VALUE (label=KEY, label=KEY=VALUE, backend=NAME, "
                             "name=TEXT)");
  }
  VolumeFilter filter{text.substr(0, eq), text.substr(eq + 1), std::nullopt};
  if (filter.key == "label") {
    const size_t inner = filter.value.find('=');
    if (inner != std::string::npos) {
      filter.label_value = filter.value.substr(inner + 1);
      filter.value.resize(inner);
    }
    return filter;
  }
  if (filter.key == "backend") {
    STRATA_TRY_CTX(ParseBackend(filter.value), "filter " + Quoted(text));
    return filter;
  }
  if (filter.key == "name") return filter;
  return Error(EINVAL, "filter " + Quoted(text) + ": unknown key " + Quoted(filter.key) +
                           DidYouMean(filter.key, {"label", "backend", "name"}) +
                           " (known: label, backend, name)");
}

bool Matches(const VolumeRecord& volume, const std::vector<VolumeFilter>& filters) {
  for (const VolumeFilter& f : filters) {
    if (f.key == "label") {
      auto found = volume.labels.find(f.value);
      if (found == volume.labels.end()) return false;
      if (f.label_value && found->second != *f.label_value) return false;
    } else if (f.key == "backend") {
      if (BackendName(volume.backend) != f.value) return false;
    } else if (f.key == "name") {
      if (volume.name.find(f.value) == std::string::npos) return false;
    }
  }
  return true;
}

// Absolute and canonical (symlinks resolved), created as a directory first when `create`.
Result<std::string> Manager::ResolveTarget(const std::string& target, bool create) {
  if (target.empty()) return Error(EINVAL, "empty target path");
  std::error_code ec;
  std::filesystem::path path = std::filesystem::absolute(target, ec);
  if (ec) return FsError(ec, target);
  if (create) {
    std::filesystem::create_directories(path, ec);
    if (ec) return FsError(ec, "create " + path.string());
    if (!std::filesystem::is_directory(path, ec)) {
      return Error(ENOTDIR, path.string() + ": not a directory");
    }
  }
  std::filesystem::path canonical = std::filesystem::weakly_canonical(path, ec);
  if (ec) return FsError(ec, path.string());
  std::string out = canonical.lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

// The volume's attachment rows whose targets are still mount points. With drop_stale (the
// caller holds the volume's lock) the others are deleted.
Result<std::vector<Attachment>> Manager::LiveAttachments(const std::string& name,
                                                         bool drop_stale) {
  STRATA_ASSIGN_OR_RETURN(std::vector<Attachment> rows, catalog_.Attachments(name));
  if (rows.empty()) return rows;
  STRATA_ASSIGN_OR_RETURN(std::vector<sys::MountEntry> table,
                          env_.backend_env.mounts->MountInfo());
  std::vector<Attachment> live;
  for (Attachment& a : rows) {
    if (sys::HasMountPoint(table, a.target)) {
      live.push_back(std::move(a));
    } else if (drop_stale) {
      STRATA_TRY(catalog_.RemoveAttachment(a.volume, a.target));
    }
  }
  return live;
}

// No mount-table read first: umount2 says EINVAL (not a mount point) or ENOENT (gone) itself.
Status Manager::DetachOne(const Attachment& attachment) {
  Status unmounted = env_.backend_env.mounts->Unmount(attachment.target, 0);
  if (!unmounted.ok() && unmounted.error().code() != EINVAL &&
      unmounted.error().code() != ENOENT) {
    return std::move(unmounted).error().Wrap("unmount " + attachment.target);
  }
  return catalog_.RemoveAttachment(attachment.volume, attachment.target);
}

Status Manager::DeactivateIfUnused(const VolumeRecord& volume) {
  STRATA_ASSIGN_OR_RETURN(std::vector<Attachment> rows, catalog_.Attachments(volume.name));
  if (!rows.empty()) return Ok();
  STRATA_ASSIGN_OR_RETURN(Backend * backend, BackendFor(volume.backend));
  return backend->Deactivate(volume);
}

Result<Attachment> Manager::Attach(const std::string& name, const std::string& target,
                                   bool read_only) {
  const std::string what = "vol attach " + Quoted(name);
  STRATA_TRY_CTX(Recover(), what);
  STRATA_ASSIGN_OR_RETURN_CTX(FileLock lock, LockName(name), what);
  STRATA_ASSIGN_OR_RETURN_CTX(VolumeRecord v, FindReady(name), what);
  if (v.snapshot && !read_only) {
    return Error(EINVAL, what + ": " + Quoted(name) +
                             " is a snapshot: attach it with --ro, or make a writable volume "
                             "from it (vol create NEW --from " + name + ")");
  }
  STRATA_ASSIGN_OR_RETURN_CTX(std::string path, ResolveTarget(target, true), what);
  STRATA_TRY_CTX(LiveAttachments(name, true), what);
  STRATA_ASSIGN_OR_RETURN_CTX(std::optional<Attachment> existing, catalog_.AttachmentAt(path),
                              what);
  if (existing) {
    if (existing->volume == name && existing->read_only == read_only) return *existing;
    return Error(EBUSY, what + ": " + path + " already has volume " +
                            Quoted(existing->volume) + " attached" +
                            (existing->volume == name ? " with another mode" : ""));
  }
  STRATA_ASSIGN_OR_RETURN_CTX(Backend * backend, BackendFor(v.backend), what);
  STRATA_ASSIGN_OR_RETURN_CTX(std::string source, backend->Activate(v), what);
  Attachment a{name, path, read_only, static_cast<int64_t>(::time(nullptr))};
  Status mounted = catalog_.AddAttachment(a);
  sys::Mounts& mounts = *env_.backend_env.mounts;
  if (mounted.ok()) mounted = mounts.Mount(source, path, "", sys::kMsBind, "");
  if (mounted.ok() && read_only) {
    mounted = mounts.Mount("", path, "", sys::kMsBind | sys::kMsRemount | sys::kMsRdonly, "");
    if (!mounted.ok()) (void)mounts.Unmount(path, 0);  // best effort: the rw bind must not stay
  }
  if (!mounted.ok()) {
    (void)catalog_.RemoveAttachment(name, path);  // best effort: reconcile drops it anyway
    (void)DeactivateIfUnused(v);                  // best effort: nothing else uses it
    return std::move(mounted).error().Wrap(what + ": bind " + source + " at " + path);
  }
  return a;
}

Result<std::vector<Attachment>> Manager::Detach(const std::string& name,
                                                const std::optional<std::string>& target) {
  const std::string what = "vol detach " + Quoted(name);
  STRATA_TRY_CTX(Recover(), what);
  STRATA_ASSIGN_OR_RETURN_CTX(FileLock lock, LockName(name), what);
  STRATA_ASSIGN_OR_RETURN_CTX(VolumeRecord v, FindReady(name), what);
  STRATA_ASSIGN_OR_RETURN_CTX(std::vector<Attachment> rows, catalog_.Attachments(name), what);
  std::vector<Attachment> chosen;
  if (target) {
    STRATA_ASSIGN_OR_RETURN_CTX(std::string path, ResolveTarget(*target, false), what);
    for (const Attachment& a : rows) {
      if (a.target == path) chosen.push_back(a);
    }
  } else {
    chosen = rows;
  }
  for (const Attachment& a : chosen) STRATA_TRY_CTX(DetachOne(a), what);
  STRATA_TRY_CTX(LiveAttachments(name, true), what);
  STRATA_TRY_CTX(DeactivateIfUnused(v), what);
  return chosen;
}

Result<std::vector<VolumeInfo>> Manager::List(const std::vector<VolumeFilter>& filters) {
  STRATA_TRY_CTX(Recover(), "vol ls");
  STRATA_ASSIGN_OR_RETURN(std::vector<VolumeRecord> rows, catalog_.List());
  STRATA_ASSIGN_OR_RETURN(std::vector<Attachment> attachments, catalog_.Attachments());
  std::vector<sys::MountEntry> table;
  if (!attachments.empty()) {
    STRATA_ASSIGN_OR_RETURN(table, env_.backend_env.mounts->MountInfo());
  }
  std::map<std::string, std::vector<Attachment>> by_volume;
  for (Attachment& a : attachments) {
    if (sys::HasMountPoint(table, a.target)) by_volume[a.volume].push_back(std::move(a));
  }
  std::vector<VolumeInfo> out;
  for (VolumeRecord& v : rows) {
    if (v.state == VolumeState::kCreating || v.state == VolumeState::kRemoving) continue;
    if (!Matches(v, filters)) continue;
    VolumeInfo info{std::move(v), {}, std::nullopt};
    auto found = by_volume.find(info.record.name);
    if (found != by_volume.end()) info.attachments = std::move(found->second);
    out.push_back(std::move(info));
  }
  return out;
}

Result<VolumeInfo> Manager::Inspect(const std::string& name) {
  const std::string what = "vol inspect " + Quoted(name);
  STRATA_TRY_CTX(Recover(), what);
  STRATA_ASSIGN_OR_RETURN_CTX(VolumeRecord v, FindReady(name), what);
  VolumeInfo info{v, {}, std::nullopt};
  STRATA_ASSIGN_OR_RETURN_CTX(info.attachments, LiveAttachments(name, false), what);
  STRATA_ASSIGN_OR_RETURN_CTX(Backend * backend, BackendFor(v.backend), what);
  STRATA_ASSIGN_OR_RETURN_CTX(info.details, backend->Details(v), what);
  return info;
}

}  // namespace strata::volumes
