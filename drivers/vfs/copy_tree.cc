// CopyTree: a faithful copy of a directory tree (see fs_tree.h for the contract).
#include <dirent.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/unique_fd.h"
#include "drivers/fs_tree.h"

namespace strata::drivers::fs {
namespace {

// FICLONE = _IOW(0x94, 9, int) from <linux/fs.h>; spelled out here because kernel headers stay
// in core/sys. The ioctl number is ABI and never changes.
constexpr unsigned long kFiClone = 0x40049409;

struct CopyContext {
  dev_t src_dev = 0;
  int dst_root_fd = -1;
  bool try_reflink = true;  // cleared after the first "not supported" from FICLONE
  // Inode of a multiply-linked source file -> its first copy, relative to the dst root.
  std::unordered_map<ino_t, std::string> links;
  CopyStats stats;
};

// Copies every xattr from `src` to `dst` through the given list/get/set calls (fd- or
// path-based). A filesystem without xattr support on the source side is not an error.
template <class List, class Get, class Set>
Status CopyXattrs(List list, Get get, Set set, const std::string& what) {
  ssize_t n = list(nullptr, 0);
  if (n < 0) {
    return (errno == ENOTSUP || errno == ENODATA) ? Ok() : Error::FromErrno("listxattr " + what);
  }
  std::vector<char> names(static_cast<size_t>(n) + 1);
  n = list(names.data(), names.size());
  if (n < 0) return Error::FromErrno("listxattr " + what);
  std::vector<char> value;
  for (ssize_t off = 0; off < n;) {
    const char* name = names.data() + off;
    off += static_cast<ssize_t>(std::char_traits<char>::length(name)) + 1;
    ssize_t size = get(name, nullptr, 0);
    if (size < 0) return Error::FromErrno("getxattr " + what + " " + name);
    value.resize(static_cast<size_t>(size) + 1);
    size = get(name, value.data(), value.size());
    if (size < 0) return Error::FromErrno("getxattr " + what + " " + name);
    if (set(name, value.data(), static_cast<size_t>(size)) != 0) {
      return Error::FromErrno("setxattr " + what + " " + name);
    }
  }
  return Ok();
}

// Owner, then mode (chown clears set-id bits), then xattrs (chown clears security.capability),
// then times last (every other step bumps them). For an open file or directory.
Status CopyMetadataFd(int src_fd, int dst_fd, const struct stat& st, const std::string& what) {
  if (::fchown(dst_fd, st.st_uid, st.st_gid) != 0) return Error::FromErrno("chown " + what);
  if (::fchmod(dst_fd, st.st_mode & 07777) != 0) return Error::FromErrno("chmod " + what);
  STRATA_TRY(CopyXattrs(
      [&](char* b, size_t s) { return ::flistxattr(src_fd, b, s); },
      [&](const char* k, void* b, size_t s) { return ::fgetxattr(src_fd, k, b, s); },
      [&](const char* k, const void* b, size_t s) { return ::fsetxattr(dst_fd, k, b, s, 0); },
      what));
  const struct timespec times[2] = {st.st_atim, st.st_mtim};
  if (::futimens(dst_fd, times) != 0) return Error::FromErrno("set times " + what);
  return Ok();
}

// The same for entries that cannot be opened for metadata (symlinks, devices, fifos, sockets).
Status CopyMetadataPath(const std::string& src, int dst_dir_fd, const char* name,
                        const std::string& dst, const struct stat& st) {
  if (::fchownat(dst_dir_fd, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) != 0) {
    return Error::FromErrno("chown " + dst);
  }
  if (!S_ISLNK(st.st_mode) && ::fchmodat(dst_dir_fd, name, st.st_mode & 07777, 0) != 0) {
    return Error::FromErrno("chmod " + dst);
  }
  STRATA_TRY(CopyXattrs(
      [&](char* b, size_t s) { return ::llistxattr(src.c_str(), b, s); },
      [&](const char* k, void* b, size_t s) { return ::lgetxattr(src.c_str(), k, b, s); },
      [&](const char* k, const void* b, size_t s) { return ::lsetxattr(dst.c_str(), k, b, s, 0); },
      dst));
  const struct timespec times[2] = {st.st_atim, st.st_mtim};
  if (::utimensat(dst_dir_fd, name, times, AT_SYMLINK_NOFOLLOW) != 0) {
    return Error::FromErrno("set times " + dst);
  }
  return Ok();
}

// Copies [begin, end) with copy_file_range, falling back to read/write where the kernel refuses.
Status CopyRange(int in, int out, off_t begin, off_t end, const std::string& what) {
  off_t in_off = begin, out_off = begin;
  while (in_off < end) {
    const auto len = static_cast<size_t>(end - in_off);
    ssize_t n = ::copy_file_range(in, &in_off, out, &out_off, len, 0);
    if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
      char buf[1 << 16];
      n = ::pread(in, buf, std::min(sizeof(buf), len), in_off);
      if (n > 0 && ::pwrite(out, buf, static_cast<size_t>(n), out_off) != n) n = -1;
      if (n > 0) in_off += n, out_off += n;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::FromErrno("copy " + what);
    if (n == 0) break;  // the source shrank under us; the final ftruncate restores the size
  }
  return Ok();
}

// Copies the data extents of a file and recreates its holes (SEEK_DATA/SEEK_HOLE).
Status CopyExtents(int in, int out, off_t size, CopyStats& stats, const std::string& what) {
  off_t pos = 0;
  while (pos < size) {
    off_t data = ::lseek(in, pos, SEEK_DATA);
    if (data < 0 && errno == ENXIO) break;  // only a hole is left
    if (data < 0) return Error::FromErrno("seek data " + what);
    off_t hole = ::lseek(in, data, SEEK_HOLE);
    if (hole < 0) return Error::FromErrno("seek hole " + what);
    STRATA_TRY(CopyRange(in, out, data, hole, what));
    stats.bytes += static_cast<uint64_t>(hole - data);
    pos = hole;
  }
  if (::ftruncate(out, size) != 0) return Error::FromErrno("truncate " + what);
  return Ok();
}

Status CopyRegular(CopyContext& ctx, int src_dir, int dst_dir, const char* name,
                   const struct stat& st, const std::string& rel) {
  if (st.st_nlink > 1) {
    auto [it, inserted] = ctx.links.try_emplace(st.st_ino, rel);
    if (!inserted) {
      if (::linkat(ctx.dst_root_fd, it->second.c_str(), dst_dir, name, 0) != 0) {
        return Error::FromErrno("link " + rel + " to " + it->second);
      }
      return Ok();
    }
  }
  UniqueFd in(::openat(src_dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!in) return Error::FromErrno("open " + rel);
  UniqueFd out(::openat(dst_dir, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!out) return Error::FromErrno("create " + rel);
  bool cloned = false;
  if (ctx.try_reflink && st.st_size > 0) {
    cloned = ::ioctl(out.Get(), kFiClone, in.Get()) == 0;
    if (!cloned && (errno == EOPNOTSUPP || errno == ENOTTY || errno == EXDEV || errno == EINVAL)) {
      ctx.try_reflink = false;  // this filesystem cannot reflink: do not ask again per file
    }
  }
  if (!cloned) STRATA_TRY(CopyExtents(in.Get(), out.Get(), st.st_size, ctx.stats, rel));
  return CopyMetadataFd(in.Get(), out.Get(), st, rel);
}

Status CopyDir(CopyContext& ctx, int src_fd, int dst_fd, const std::string& src_path,
               const std::string& dst_path, const std::string& rel);

Status CopyEntry(CopyContext& ctx, int src_fd, int dst_fd, const char* name,
                 const std::string& src_path, const std::string& dst_path, const std::string& rel) {
  struct stat st {};
  if (::fstatat(src_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
    return Error::FromErrno("stat " + rel);
  ++ctx.stats.entries;
  const std::string src_child = src_path + "/" + name, dst_child = dst_path + "/" + name;
  const std::string rel_child = rel.empty() ? name : rel + "/" + name;
  if (S_ISDIR(st.st_mode)) {
    if (st.st_dev != ctx.src_dev) return Error(EXDEV, "copy " + rel_child + ": is a mount point");
    if (::mkdirat(dst_fd, name, 0700) != 0) return Error::FromErrno("mkdir " + rel_child);
    UniqueFd sub_src(::openat(src_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    UniqueFd sub_dst(::openat(dst_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!sub_src || !sub_dst) return Error::FromErrno("open " + rel_child);
    STRATA_TRY(CopyDir(ctx, sub_src.Get(), sub_dst.Get(), src_child, dst_child, rel_child));
    return CopyMetadataFd(sub_src.Get(), sub_dst.Get(), st, rel_child);
  }
  if (S_ISREG(st.st_mode)) return CopyRegular(ctx, src_fd, dst_fd, name, st, rel_child);
  if (S_ISLNK(st.st_mode)) {
    std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
    ssize_t n = ::readlinkat(src_fd, name, target.data(), target.size());
    if (n < 0) return Error::FromErrno("readlink " + rel_child);
    target.resize(static_cast<size_t>(n));
    if (::symlinkat(target.c_str(), dst_fd, name) != 0)
      return Error::FromErrno("symlink " + rel_child);
  } else if (::mknodat(dst_fd, name, st.st_mode, st.st_rdev) != 0) {  // device, fifo, socket
    return Error::FromErrno("mknod " + rel_child);
  }
  return CopyMetadataPath(src_child, dst_fd, name, dst_child, st);
}

Status CopyDir(CopyContext& ctx, int src_fd, int dst_fd, const std::string& src_path,
               const std::string& dst_path, const std::string& rel) {
  UniqueFd list_fd(::openat(src_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!list_fd) return Error::FromErrno("open " + src_path);
  DIR* raw = ::fdopendir(list_fd.Get());
  if (raw == nullptr) return Error::FromErrno("opendir " + src_path);
  (void)list_fd.Release();  // owned by `dir` now
  CPtr<DIR, ::closedir> dir(raw);
  for (;;) {
    errno = 0;
    dirent* entry = ::readdir(dir.get());
    if (entry == nullptr) {
      return errno == 0 ? Ok() : Error::FromErrno("readdir " + src_path);
    }
    const char* name = entry->d_name;
    if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'))) continue;
    STRATA_TRY(CopyEntry(ctx, src_fd, dst_fd, name, src_path, dst_path, rel));
  }
}

}  // namespace

Result<CopyStats> CopyTree(const std::string& src, const std::string& dst) {
  UniqueFd src_fd(::open(src.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!src_fd) return Error::FromErrno("open " + src);
  struct stat st {};
  if (::fstat(src_fd.Get(), &st) != 0) return Error::FromErrno("stat " + src);
  if (::mkdir(dst.c_str(), 0700) != 0) return Error::FromErrno("mkdir " + dst);
  UniqueFd dst_fd(::open(dst.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dst_fd) return Error::FromErrno("open " + dst);
  CopyContext ctx;
  ctx.src_dev = st.st_dev;
  ctx.dst_root_fd = dst_fd.Get();
  STRATA_TRY_CTX(CopyDir(ctx, src_fd.Get(), dst_fd.Get(), src, dst, ""), "copy " + src);
  STRATA_TRY_CTX(CopyMetadataFd(src_fd.Get(), dst_fd.Get(), st, dst), "copy " + src);
  return ctx.stats;
}

}  // namespace strata::drivers::fs
