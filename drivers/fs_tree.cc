#include "drivers/fs_tree.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <set>
#include <utility>
#include <vector>

#include "core/unique_fd.h"

namespace strata::drivers::fs {
namespace {

using DirPtr = CPtr<DIR, ::closedir>;

bool IsDotOrDotDot(const char* name) {
  return name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

// Opens the directory `name` under `parent_fd` without following a symlink. The fd is owned by
// the returned DIR.
Result<DirPtr> OpenDirAt(int parent_fd, const char* name, const std::string& path) {
  UniqueFd fd(::openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return Error::FromErrno("open " + path);
  DIR* dir = ::fdopendir(fd.Get());
  if (dir == nullptr) return Error::FromErrno("fdopendir " + path);
  (void)fd.Release();  // ownership passed to `dir`
  return DirPtr(dir);
}

Status RemoveDirAt(int parent_fd, dev_t parent_dev, const char* name, const std::string& path);

// Unlinks every entry of the open directory `dir`, recursing into subdirectories. One fd per
// level of depth is held open.
Status RemoveChildren(DIR* dir, dev_t dev, const std::string& path) {
  const int fd = ::dirfd(dir);
  for (;;) {
    errno = 0;
    dirent* entry = ::readdir(dir);
    if (entry == nullptr) {
      if (errno != 0) return Error::FromErrno("readdir " + path);
      return Ok();
    }
    if (IsDotOrDotDot(entry->d_name)) continue;
    const std::string child = path + "/" + entry->d_name;
    bool is_dir = entry->d_type == DT_DIR;
    if (entry->d_type == DT_UNKNOWN) {
      struct stat st {};
      if (::fstatat(fd, entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;
        return Error::FromErrno("stat " + child);
      }
      is_dir = S_ISDIR(st.st_mode);
    }
    if (is_dir) {
      STRATA_TRY(RemoveDirAt(fd, dev, entry->d_name, child));
    } else if (::unlinkat(fd, entry->d_name, 0) != 0 && errno != ENOENT) {
      return Error::FromErrno("unlink " + child);
    }
  }
}

Status RemoveDirAt(int parent_fd, dev_t parent_dev, const char* name, const std::string& path) {
  auto dir = OpenDirAt(parent_fd, name, path);
  if (!dir.ok()) return dir.error().code() == ENOENT ? Ok() : std::move(dir).error();
  struct stat st {};
  if (::fstat(::dirfd(dir->get()), &st) != 0) return Error::FromErrno("stat " + path);
  // Never delete through a mount (e.g. a still-mounted overlay merged/ dir): that would write
  // whiteouts into, or fail on, somebody else's filesystem.
  if (st.st_dev != parent_dev) return Error(EBUSY, "remove " + path + ": is a mount point");
  STRATA_TRY(RemoveChildren(dir->get(), st.st_dev, path));
  dir->reset();
  if (::unlinkat(parent_fd, name, AT_REMOVEDIR) != 0 && errno != ENOENT) {
    return Error::FromErrno("rmdir " + path);
  }
  return Ok();
}

}  // namespace

Status RemoveTree(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    return errno == ENOENT ? Ok() : Error::FromErrno("stat " + path);
  }
  if (!S_ISDIR(st.st_mode)) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Error::FromErrno("unlink " + path);
    return Ok();
  }
  struct stat parent {};
  const size_t slash = path.find_last_of('/');
  const std::string parent_path = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  if (::stat(parent_path.c_str(), &parent) != 0) return Error::FromErrno("stat " + parent_path);
  return RemoveDirAt(AT_FDCWD, parent.st_dev, path.c_str(), path);
}

bool IsNonEmptyDir(const std::string& path) {
  DirPtr dir(::opendir(path.c_str()));
  if (!dir) return false;
  while (dirent* entry = ::readdir(dir.get())) {
    if (!IsDotOrDotDot(entry->d_name)) return true;
  }
  return false;
}

Status MakeDir(const std::string& path, unsigned mode) {
  if (::mkdir(path.c_str(), mode) == 0) return Ok();
  if (errno == EEXIST) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return Ok();
    return Error(ENOTDIR, "mkdir " + path + ": exists and is not a directory");
  }
  return Error::FromErrno("mkdir " + path);
}

size_t CollectLeftovers(const std::string& dir, std::chrono::seconds min_age) {
  DirPtr d(::opendir(dir.c_str()));
  if (!d) return 0;
  std::vector<std::string> doomed;
  const time_t now = ::time(nullptr);
  while (dirent* entry = ::readdir(d.get())) {
    const std::string name = entry->d_name;
    const bool removing = name.starts_with(kRemovingPrefix);
    bool stale_tmp = false;
    if (name.starts_with(kTempPrefix)) {
      struct stat st {};
      stale_tmp = ::fstatat(::dirfd(d.get()), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                  now - st.st_ctime >= min_age.count();
    }
    if (removing || stale_tmp) doomed.push_back(dir + "/" + name);
  }
  size_t removed = 0;
  for (const std::string& path : doomed) {
    if (RemoveTree(path).ok()) ++removed;  // best effort: retried at the next start
  }
  return removed;
}

std::string RemovingName(const std::string& id) { return std::string(kRemovingPrefix) + id; }

Status ValidateLayerId(const std::string& id) {
  auto bad = [&](const char* why) {
    return Error(EINVAL, "invalid layer id \"" + id + "\": " + why);
  };
  if (id.empty()) return bad("empty");
  if (id.size() > 200) return bad("longer than 200 bytes");
  if (id == "." || id == "..") return bad("reserved name");
  if (id.find('/') != std::string::npos || id.find('\0') != std::string::npos) {
    return bad("contains '/' or NUL");
  }
  if (id[0] == '.' || id[0] == '_' || id[0] == '-') {
    return bad("starts with '.', '_' or '-' (reserved for the driver's own names)");
  }
  return Ok();
}

Result<std::vector<std::string>> ListNames(const std::string& dir) {
  CPtr<DIR, ::closedir> d(::opendir(dir.c_str()));
  if (!d) return Error::FromErrno("opendir " + dir);
  std::vector<std::string> names;
  for (;;) {
    errno = 0;
    dirent* entry = ::readdir(d.get());
    if (entry == nullptr) break;
    std::string_view name = entry->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  if (errno != 0) return Error::FromErrno("readdir " + dir);
  return names;
}

Result<bool> Lstat(const std::string& path, struct stat& st) {
  if (::lstat(path.c_str(), &st) == 0) return true;
  if (errno == ENOENT || errno == ENOTDIR) return false;
  return Error::FromErrno("stat " + path);
}

namespace {

Status SumSizes(const std::string& dir, std::set<std::pair<dev_t, ino_t>>& seen, uint64_t& total) {
  STRATA_ASSIGN_OR_RETURN(auto names, ListNames(dir));
  for (const std::string& name : names) {
    const std::string path = dir + "/" + name;
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return Error::FromErrno("stat " + path);
    if (S_ISDIR(st.st_mode)) {
      STRATA_TRY(SumSizes(path, seen, total));
    } else if (st.st_nlink <= 1 || seen.insert({st.st_dev, st.st_ino}).second) {
      total += static_cast<uint64_t>(st.st_size);
    }
  }
  return Ok();
}

}  // namespace

Result<uint64_t> DirectorySize(const std::string& dir) {
  std::set<std::pair<dev_t, ino_t>> seen;
  uint64_t total = 0;
  STRATA_TRY(SumSizes(dir, seen, total));
  return total;
}

}  // namespace strata::drivers::fs
