// TreeWriter's metadata setters and whiteout handling.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>

#include "drivers/archive/tree_writer.h"

namespace strata::drivers::archive {
namespace {

constexpr char kOpaqueXattr[] = "trusted.overlay.opaque";

}  // namespace

bool RefusedToUser() { return errno == EPERM && geteuid() != 0; }

Status SetEntryXattrs(archive_entry* entry, int fd, const std::string& proc_path) {
  const char* name;
  const void* value;
  size_t size;
  archive_entry_xattr_reset(entry);
  while (archive_entry_xattr_next(entry, &name, &value, &size) == ARCHIVE_OK) {
    if (IsOverlayXattr(name)) continue;
    int r = fd >= 0 ? fsetxattr(fd, name, value, size, 0)
                    : lsetxattr(proc_path.c_str(), name, value, size, 0);
    // A filesystem without xattr support (or this namespace) skips them, as docker does; so does
    // a non-root user for the namespaces only root may set (trusted.*, security.*).
    if (r != 0 && errno != EOPNOTSUPP && !RefusedToUser()) {
      return Error::FromErrno(std::string("set xattr ") + name);
    }
  }
  return Ok();
}

bool IsOverlayXattr(std::string_view name) {
  return name.starts_with("trusted.overlay.") || name.starts_with("user.overlay.");
}

void EntryTimes(archive_entry* entry, struct timespec times[2]) {
  times[0].tv_nsec = UTIME_OMIT;
  times[1].tv_nsec = UTIME_OMIT;
  if (archive_entry_atime_is_set(entry)) {
    times[0] = {archive_entry_atime(entry), archive_entry_atime_nsec(entry)};
  }
  if (archive_entry_mtime_is_set(entry)) {
    times[1] = {archive_entry_mtime(entry), archive_entry_mtime_nsec(entry)};
  }
}

Status SetOwnerModeXattrsTimes(int fd, archive_entry* entry, bool need_chown, bool need_chmod) {
  if (need_chown && fchown(fd, archive_entry_uid(entry), archive_entry_gid(entry)) != 0 &&
      !RefusedToUser()) {
    return Error::FromErrno("chown");
  }
  if (need_chmod && fchmod(fd, archive_entry_perm(entry)) != 0) return Error::FromErrno("chmod");
  STRATA_TRY(SetEntryXattrs(entry, fd, ""));
  struct timespec times[2];
  EntryTimes(entry, times);
  if (futimens(fd, times) != 0) return Error::FromErrno("set times");
  return Ok();
}

Status SetMetadataAt(int parent_fd, const std::string& base, archive_entry* entry) {
  const char* name = base.c_str();
  if (fchownat(parent_fd, name, archive_entry_uid(entry), archive_entry_gid(entry),
               AT_SYMLINK_NOFOLLOW) != 0 &&
      !RefusedToUser()) {
    return Error::FromErrno("chown");
  }
  bool is_symlink = archive_entry_filetype(entry) == AE_IFLNK;
  // mknod applied the umask; the object was just created here, so this follows no symlink.
  if (!is_symlink && fchmodat(parent_fd, name, archive_entry_perm(entry), 0) != 0) {
    return Error::FromErrno("chmod");
  }
  // No *at() xattr call in this glibc: name the object through the checked directory's fd.
  // lsetxattr does not follow the final component, and /proc/self/fd/N is that directory.
  STRATA_TRY(SetEntryXattrs(entry, -1, "/proc/self/fd/" + std::to_string(parent_fd) + "/" + base));
  struct timespec times[2];
  EntryTimes(entry, times);
  if (utimensat(parent_fd, name, times, AT_SYMLINK_NOFOLLOW) != 0) {
    return Error::FromErrno("set times");
  }
  return Ok();
}

Status TreeWriter::ApplyWhiteout(const WhiteoutName& whiteout, archive_entry* entry) {
  bool opaque = whiteout.kind == WhiteoutName::Kind::kOpaque;
  if (whiteouts_ == WhiteoutFormat::kDelete) {
    Result<int> dir_fd = dirs_.Resolve(whiteout.dir, MissingDirs::kFail);
    // No such directory (or a file where it would be): nothing below it to delete.
    if (!dir_fd.ok() && (dir_fd.error().code() == ENOENT || dir_fd.error().code() == ENOTDIR)) {
      return Ok();
    }
    if (!dir_fd.ok()) return std::move(dir_fd).error();
    if (opaque) return RemoveUnwritten(*dir_fd, whiteout.dir);
    std::string base(SplitEntryName(whiteout.target).base);
    return Clear(*dir_fd, base, whiteout.target);
  }
  STRATA_ASSIGN_OR_RETURN(int dir_fd, ResolveParent(whiteout.dir));
  if (opaque) {
    if (fsetxattr(dir_fd, kOpaqueXattr, "y", 1, 0) != 0) {
      return Error::FromErrno("set " + std::string(kOpaqueXattr) + " on \"" + whiteout.dir + "\"");
    }
    return Ok();
  }
  // overlayfs's own whiteout: a 0/0 character device with mode 0, as the kernel creates them.
  std::string base(SplitEntryName(whiteout.target).base);
  STRATA_TRY(Clear(dir_fd, base, whiteout.target));
  if (mknodat(dir_fd, base.c_str(), S_IFCHR, makedev(0, 0)) != 0) {
    return Error::FromErrno("mknod whiteout \"" + whiteout.target + "\"");
  }
  if (fchownat(dir_fd, base.c_str(), archive_entry_uid(entry), archive_entry_gid(entry),
               AT_SYMLINK_NOFOLLOW) != 0 &&
      !RefusedToUser()) {
    return Error::FromErrno("chown whiteout \"" + whiteout.target + "\"");
  }
  struct timespec times[2];
  EntryTimes(entry, times);
  if (utimensat(dir_fd, base.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
    return Error::FromErrno("set times of whiteout \"" + whiteout.target + "\"");
  }
  return Ok();
}

// kDelete's opaque directory: everything below `dir` that this archive did not write came from a
// lower layer and is removed. A directory the archive wrote is kept but searched, since the lower
// layer's copy of it may hold more. `dir_fd` may be the resolver's: only Clear touches the cache.
Status TreeWriter::RemoveUnwritten(int dir_fd, const std::string& dir) {
  STRATA_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDirSorted(dir_fd));
  for (const std::string& name : names) {
    std::string path = JoinEntryName(dir, name);
    if (!written_.contains(path)) {
      STRATA_TRY(Clear(dir_fd, name, path));
      continue;
    }
    struct stat st;
    if (fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return Error::FromErrno("stat \"" + path + "\"");
    }
    if (!S_ISDIR(st.st_mode)) continue;
    STRATA_ASSIGN_OR_RETURN(UniqueFd sub, OpenAt(dir_fd, name, O_RDONLY | O_DIRECTORY, "open"));
    STRATA_TRY(RemoveUnwritten(sub.Get(), path));
  }
  return Ok();
}

}  // namespace strata::drivers::archive
