#include "aufs/copy_up.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string_view>
#include <vector>

#include "aufs/branch_ops.h"
#include "core/unique_fd.h"

namespace strata::aufs {
namespace {

bool XattrCopied(std::string_view name, Privilege privilege) {
  if (privilege == Privilege::kRoot) return true;
  return name.starts_with("user.") || name.starts_with("system.posix_acl_");
}

// Where xattrs are read or written: an open fd, or (symlinks and special files, which have no
// fd to carry them) a path whose last component is not followed.
struct XattrEnd {
  int fd = -1;
  std::string path;

  ssize_t List(char* names, size_t size) const {
    return fd >= 0 ? flistxattr(fd, names, size) : llistxattr(path.c_str(), names, size);
  }
  ssize_t Get(const char* name, char* value, size_t size) const {
    return fd >= 0 ? fgetxattr(fd, name, value, size) : lgetxattr(path.c_str(), name, value, size);
  }
  int Set(const char* name, const char* value, size_t size) const {
    return fd >= 0 ? fsetxattr(fd, name, value, size, 0)
                   : lsetxattr(path.c_str(), name, value, size, 0);
  }
};

// dir_fd/rel as a path the l*xattr calls take: the *at forms are missing from this libc.
XattrEnd PathEnd(int dir_fd, const std::string& rel) {
  return XattrEnd{-1, "/proc/self/fd/" + std::to_string(dir_fd) + "/" + rel};
}

int CopyXattrs(const XattrEnd& src, const XattrEnd& dst, Privilege privilege) {
  std::vector<char> names(4096);
  ssize_t len;
  while ((len = src.List(names.data(), names.size())) < 0 && errno == ERANGE) {
    names.resize(names.size() * 4);
  }
  if (len < 0) return (errno == ENOTSUP) ? 0 : Errno();
  std::vector<char> value(4096);
  for (ssize_t off = 0; off < len;
       off += static_cast<ssize_t>(std::string_view(&names[off]).size()) + 1) {
    const char* name = &names[off];
    if (!XattrCopied(name, privilege)) continue;
    ssize_t vlen;
    while ((vlen = src.Get(name, value.data(), value.size())) < 0 && errno == ERANGE) {
      value.resize(value.size() * 4);
    }
    if (vlen < 0) {
      if (errno == ENODATA) continue;  // removed meanwhile
      return Errno();
    }
    if (dst.Set(name, value.data(), static_cast<size_t>(vlen)) < 0) {
      // The rw branch's filesystem may lack the namespace, or a user may not set it: the copy
      // goes on without that attribute (as overlayfs does for unsupported xattrs).
      if (errno == ENOTSUP || (errno == EPERM && privilege == Privilege::kUser)) continue;
      return Errno();
    }
  }
  return 0;
}

// Copies [off, end) of src_fd to the same offsets of dst_fd: copy_file_range, falling back to
// pread/pwrite across filesystems or where it is unsupported.
int CopyRange(int src_fd, int dst_fd, off_t off, off_t end, bool* use_cfr, std::vector<char>* buf) {
  while (off < end) {
    if (*use_cfr) {
      loff_t in = off, out = off;
      ssize_t n = copy_file_range(src_fd, &in, dst_fd, &out, static_cast<size_t>(end - off), 0);
      if (n > 0) {
        off += n;
        continue;
      }
      if (n == 0) return 0;  // the source shrank
      if (errno != EXDEV && errno != EINVAL && errno != EOPNOTSUPP && errno != ENOSYS)
        return Errno();
      *use_cfr = false;
      buf->resize(1 << 20);
    }
    ssize_t n = pread(src_fd, buf->data(),
                      std::min<size_t>(buf->size(), static_cast<size_t>(end - off)), off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno();
    }
    if (n == 0) return 0;
    for (ssize_t w = 0; w < n;) {
      ssize_t m = pwrite(dst_fd, buf->data() + w, static_cast<size_t>(n - w), off + w);
      if (m < 0) {
        if (errno == EINTR) continue;
        return Errno();
      }
      w += m;
    }
    off += n;
  }
  return 0;
}

// The first `size` bytes of src_fd into the empty dst_fd, which ends up `size` long. Only the
// data extents are copied (SEEK_DATA/SEEK_HOLE), so holes stay holes; a filesystem without
// them reports the whole file as data.
int CopyData(int src_fd, int dst_fd, off_t size) {
  bool use_cfr = true;
  std::vector<char> buf;
  for (off_t off = 0; off < size;) {
    off_t data = lseek(src_fd, off, SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) break;  // only a hole is left
      if (errno != EINVAL && errno != EOPNOTSUPP) return Errno();
      data = off;  // no hole support: all data
    }
    if (data >= size) break;
    off_t hole = lseek(src_fd, data, SEEK_HOLE);
    if (hole < 0 || hole > size) hole = size;
    if (int r = CopyRange(src_fd, dst_fd, data, hole, &use_cfr, &buf); r < 0) return r;
    off = hole;
  }
  return ftruncate(dst_fd, size) < 0 ? Errno() : 0;  // a trailing hole, or the length kept
}

// Xattrs, owner, mode and times of a path without an fd (symlinks, special files).
int CopyPathAttributes(int src_dir_fd, const std::string& src_rel, int dst_dir_fd,
                       const std::string& dst_rel, const struct stat& st, Privilege privilege) {
  if (int r = CopyXattrs(PathEnd(src_dir_fd, src_rel), PathEnd(dst_dir_fd, dst_rel), privilege);
      r < 0) {
    return r;
  }
  if (fchownat(dst_dir_fd, dst_rel.c_str(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0 &&
      privilege == Privilege::kRoot) {
    return Errno();
  }
  if (!S_ISLNK(st.st_mode) && fchmodat(dst_dir_fd, dst_rel.c_str(), st.st_mode & 07777, 0) < 0) {
    return Errno();
  }
  struct timespec ts[2] = {st.st_atim, st.st_mtim};
  if (utimensat(dst_dir_fd, dst_rel.c_str(), ts, AT_SYMLINK_NOFOLLOW) < 0) return Errno();
  return 0;
}

}  // namespace

int CopyAttributes(int src_fd, int dst_fd, const struct stat& st, Privilege privilege) {
  if (int r = CopyXattrs(XattrEnd{src_fd, {}}, XattrEnd{dst_fd, {}}, privilege); r < 0) return r;
  // chown before chmod: chown clears set-id bits.
  if (fchown(dst_fd, st.st_uid, st.st_gid) < 0 && privilege == Privilege::kRoot) return Errno();
  if (fchmod(dst_fd, st.st_mode & 07777) < 0) return Errno();
  struct timespec ts[2] = {st.st_atim, st.st_mtim};
  if (futimens(dst_fd, ts) < 0) return Errno();
  return 0;
}

int CopyEntry(int src_dir_fd, const std::string& src_rel, const struct stat& st, int dst_dir_fd,
              const std::string& dst_rel, Privilege privilege, off_t keep_bytes) {
  const char* src = src_rel.c_str();
  const char* dst = dst_rel.c_str();
  switch (st.st_mode & S_IFMT) {
    case S_IFREG: {
      UniqueFd in(openat(src_dir_fd, src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      if (!in) return Errno();
      UniqueFd out(
          openat(dst_dir_fd, dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
      if (!out) return Errno();
      off_t size = keep_bytes >= 0 ? std::min(keep_bytes, st.st_size) : st.st_size;
      if (int r = CopyData(in.Get(), out.Get(), size); r < 0) return r;
      return CopyAttributes(in.Get(), out.Get(), st, privilege);
    }
    case S_IFDIR: {
      if (mkdirat(dst_dir_fd, dst, 0700) < 0) return Errno();
      UniqueFd in(openat(src_dir_fd, src, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!in) return Errno();
      UniqueFd out(openat(dst_dir_fd, dst, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!out) return Errno();
      return CopyAttributes(in.Get(), out.Get(), st, privilege);
    }
    case S_IFLNK: {
      std::vector<char> target(static_cast<size_t>(st.st_size) + 1);
      ssize_t n = readlinkat(src_dir_fd, src, target.data(), target.size());
      if (n < 0) return Errno();
      if (static_cast<size_t>(n) >= target.size()) return -ENAMETOOLONG;  // changed under us
      target[static_cast<size_t>(n)] = '\0';
      if (symlinkat(target.data(), dst_dir_fd, dst) < 0) return Errno();
      return CopyPathAttributes(src_dir_fd, src_rel, dst_dir_fd, dst_rel, st, privilege);
    }
    default:  // fifo, socket, char and block devices (devices need root)
      if (mknodat(dst_dir_fd, dst, (st.st_mode & S_IFMT) | 0600, st.st_rdev) < 0) return Errno();
      return CopyPathAttributes(src_dir_fd, src_rel, dst_dir_fd, dst_rel, st, privilege);
  }
}

}  // namespace strata::aufs
