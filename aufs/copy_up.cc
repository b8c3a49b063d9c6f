#include "aufs/copy_up.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <string_view>
#include <vector>

#include "core/unique_fd.h"

namespace strata::aufs {
namespace {

int Errno() { return -errno; }

bool XattrCopied(std::string_view name, Privilege privilege) {
  if (privilege == Privilege::kRoot) return true;
  return name.starts_with("user.") || name.starts_with("system.posix_acl_");
}

int CopyXattrs(int src_fd, int dst_fd, Privilege privilege) {
  std::vector<char> names(4096);
  ssize_t len;
  while ((len = flistxattr(src_fd, names.data(), names.size())) < 0 && errno == ERANGE) {
    names.resize(names.size() * 4);
  }
  if (len < 0) return (errno == ENOTSUP) ? 0 : Errno();
  std::vector<char> value(4096);
  for (ssize_t off = 0; off < len; off += static_cast<ssize_t>(std::string_view(&names[off]).size()) + 1) {
    const char* name = &names[off];
    if (!XattrCopied(name, privilege)) continue;
    ssize_t vlen;
    while ((vlen = fgetxattr(src_fd, name, value.data(), value.size())) < 0 && errno == ERANGE) {
      value.resize(value.size() * 4);
    }
    if (vlen < 0) {
      if (errno == ENODATA) continue;  // removed meanwhile
      return Errno();
    }
    if (fsetxattr(dst_fd, name, value.data(), static_cast<size_t>(vlen), 0) < 0) {
      // The rw branch's filesystem may lack the namespace, or a user may not set it: the copy
      // goes on without that attribute (as overlayfs does for unsupported xattrs).
      if (errno == ENOTSUP || (errno == EPERM && privilege == Privilege::kUser)) continue;
      return Errno();
    }
  }
  return 0;
}

int CopyData(int src_fd, int dst_fd, off_t size) {
  off_t done = 0;
  bool use_cfr = true;
  std::vector<char> buf;
  while (done < size) {
    if (use_cfr) {
      ssize_t n = copy_file_range(src_fd, nullptr, dst_fd, nullptr,
                                  static_cast<size_t>(size - done), 0);
      if (n > 0) {
        done += n;
        continue;
      }
      if (n == 0) break;  // the source shrank
      if (errno != EXDEV && errno != EINVAL && errno != EOPNOTSUPP && errno != ENOSYS) return Errno();
      use_cfr = false;  // cross-filesystem or unsupported: plain copy from the current offsets
      buf.resize(1 << 20);
    }
    ssize_t n = read(src_fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno();
    }
    if (n == 0) break;
    for (ssize_t w = 0; w < n;) {
      ssize_t m = write(dst_fd, buf.data() + w, static_cast<size_t>(n - w));
      if (m < 0) {
        if (errno == EINTR) continue;
        return Errno();
      }
      w += m;
    }
    done += n;
  }
  return 0;
}

// Owner, mode and times of a path without an fd (symlinks, special files).
int CopyPathAttributes(int dst_dir_fd, const std::string& dst_rel, const struct stat& st,
                       Privilege privilege) {
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
  if (int r = CopyXattrs(src_fd, dst_fd, privilege); r < 0) return r;
  // chown before chmod: chown clears set-id bits.
  if (fchown(dst_fd, st.st_uid, st.st_gid) < 0 && privilege == Privilege::kRoot) return Errno();
  if (fchmod(dst_fd, st.st_mode & 07777) < 0) return Errno();
  struct timespec ts[2] = {st.st_atim, st.st_mtim};
  if (futimens(dst_fd, ts) < 0) return Errno();
  return 0;
}

int CopyEntry(int src_dir_fd, const std::string& src_rel, const struct stat& st, int dst_dir_fd,
              const std::string& dst_rel, Privilege privilege) {
  const char* src = src_rel.c_str();
  const char* dst = dst_rel.c_str();
  switch (st.st_mode & S_IFMT) {
    case S_IFREG: {
      UniqueFd in(openat(src_dir_fd, src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      if (!in) return Errno();
      UniqueFd out(openat(dst_dir_fd, dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
      if (!out) return Errno();
      if (int r = CopyData(in.Get(), out.Get(), st.st_size); r < 0) return r;
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
      return CopyPathAttributes(dst_dir_fd, dst_rel, st, privilege);
    }
    default:  // fifo, socket, char and block devices (devices need root)
      if (mknodat(dst_dir_fd, dst, (st.st_mode & S_IFMT) | 0600, st.st_rdev) < 0) return Errno();
      return CopyPathAttributes(dst_dir_fd, dst_rel, st, privilege);
  }
}

}  // namespace strata::aufs
