#include "aufs/fuse_fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "aufs/branch_ops.h"
#include "aufs/union_fs.h"

namespace strata::aufs {
namespace {

// Entries: lower branches never change while mounted and the rw branch changes only through the
// union, so names are cached for a day. Attributes for a second: a crashed helper must show up
// as ENOTCONN on stat(2) of the mountpoint soon (statfs(2) always asks, so it sees it at once).
constexpr double kEntryTimeoutSeconds = 86400;
constexpr double kAttrTimeoutSeconds = 1;
constexpr unsigned kMaxIoBytes = 1u << 20;

// Owned by fi->fh between open/create and release.
struct FileHandle {
  int fd;
  uint64_t ino;
};
// Owned by fi->fh between opendir and releasedir: the merged listing, taken once at opendir so
// offsets stay valid across readdir calls.
struct DirHandle {
  std::string path;
  std::vector<ListedEntry> entries;
};

UnionFs* U() { return static_cast<UnionFs*>(fuse_get_context()->private_data); }
FileHandle* FH(fuse_file_info* fi) { return reinterpret_cast<FileHandle*>(fi->fh); }
Caller CallerOf() {
  fuse_context* ctx = fuse_get_context();
  return Caller{ctx->uid, ctx->gid};
}

void* Init(fuse_conn_info* conn, fuse_config* cfg) {
  conn->want |=
      conn->capable & (FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE |
                       FUSE_CAP_PARALLEL_DIROPS | FUSE_CAP_CACHE_SYMLINKS | FUSE_CAP_READDIRPLUS |
                       FUSE_CAP_ASYNC_READ | FUSE_CAP_WRITEBACK_CACHE);
  conn->max_write = kMaxIoBytes;
  conn->max_readahead = kMaxIoBytes;
  cfg->use_ino = 1;
  cfg->readdir_ino = 1;
  cfg->nullpath_ok = 1;
  cfg->hard_remove = 1;
  cfg->entry_timeout = cfg->negative_timeout = kEntryTimeoutSeconds;
  cfg->attr_timeout = kAttrTimeoutSeconds;
  return fuse_get_context()->private_data;
}

int GetAttr(const char* path, struct stat* st, fuse_file_info* fi) {
  if (path == nullptr) {  // an unlinked open file (nullpath_ok)
    if (fi == nullptr) return -ENOENT;
    if (fstat(FH(fi)->fd, st) < 0) return Errno();
    st->st_ino = FH(fi)->ino;
    return 0;
  }
  return U()->GetAttr(path, st);
}

int ReadLink(const char* path, char* buf, size_t size) { return U()->ReadLink(path, buf, size); }
int MakeNode(const char* path, mode_t mode, dev_t rdev) {
  return U()->MakeNode(path, mode, rdev, CallerOf());
}
int MakeDir(const char* path, mode_t mode) {
  return U()->MakeDir(path, mode | S_IFDIR, CallerOf());
}
int Unlink(const char* path) { return U()->Unlink(path); }
int RemoveDir(const char* path) { return U()->RemoveDir(path); }
int Symlink(const char* target, const char* path) {
  return U()->MakeSymlink(target, path, CallerOf());
}
int Rename(const char* from, const char* to, unsigned int flags) {
  return U()->Rename(from, to, flags);
}
int Link(const char* from, const char* to) { return U()->Link(from, to); }

int Chmod(const char* path, mode_t mode, fuse_file_info* fi) {
  if (path == nullptr) return fchmod(FH(fi)->fd, mode) < 0 ? Errno() : 0;
  return U()->Chmod(path, mode);
}
int Chown(const char* path, uid_t uid, gid_t gid, fuse_file_info* fi) {
  if (path == nullptr) return fchown(FH(fi)->fd, uid, gid) < 0 ? Errno() : 0;
  return U()->Chown(path, uid, gid);
}
int Truncate(const char* path, off_t size, fuse_file_info* fi) {
  // An open handle the kernel truncates through was opened for writing, so it is on the rw branch.
  if (fi != nullptr) return ftruncate(FH(fi)->fd, size) < 0 ? Errno() : 0;
  return U()->Truncate(path, size);
}
int Utimens(const char* path, const struct timespec ts[2], fuse_file_info* fi) {
  if (path == nullptr) return futimens(FH(fi)->fd, ts) < 0 ? Errno() : 0;
  return U()->Utimens(path, ts);
}

// With the kernel's writeback cache (FUSE_CAP_WRITEBACK_CACHE: writes gather in the page cache
// and reach the helper in large, parallel requests) the kernel may read pages of a file opened
// write-only, and it keeps the file size itself, so O_APPEND is its job: the branch file is
// opened read-write without O_APPEND. A write-only file the owner may not read (a user helper,
// mode 0200) falls back to its own flags.
int WritebackFlags(int flags) {
  if ((flags & O_ACCMODE) == O_WRONLY) flags = (flags & ~O_ACCMODE) | O_RDWR;
  return flags & ~O_APPEND;
}

int Open(const char* path, fuse_file_info* fi) {
  int fd;
  bool from_lower;
  int r = U()->OpenFile(path, WritebackFlags(fi->flags), &fd, &from_lower);
  if (r == -EACCES && WritebackFlags(fi->flags) != fi->flags) {
    r = U()->OpenFile(path, fi->flags & ~O_APPEND, &fd, &from_lower);
  }
  if (r < 0) return r;
  fi->fh = reinterpret_cast<uint64_t>(new FileHandle{fd, U()->inodes().Get(path)});
  fi->keep_cache = from_lower;  // read-only branches never change while mounted
  return 0;
}

int Create(const char* path, mode_t mode, fuse_file_info* fi) {
  int fd;
  if (int r = U()->Create(path, mode, WritebackFlags(fi->flags), CallerOf(), &fd); r < 0) return r;
  fi->fh = reinterpret_cast<uint64_t>(new FileHandle{fd, U()->inodes().Get(path)});
  return 0;
}

int ReadBuf(const char*, fuse_bufvec** bufp, size_t size, off_t off, fuse_file_info* fi) {
  // An fd-backed buffer: libfuse splices straight from the branch file to /dev/fuse.
  auto* vec = static_cast<fuse_bufvec*>(malloc(sizeof(fuse_bufvec)));  // freed by libfuse
  if (vec == nullptr) return -ENOMEM;
  *vec = FUSE_BUFVEC_INIT(size);
  vec->buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
  vec->buf[0].fd = FH(fi)->fd;
  vec->buf[0].pos = off;
  *bufp = vec;
  return 0;
}

int WriteBuf(const char*, fuse_bufvec* buf, off_t off, fuse_file_info* fi) {
  fuse_bufvec dst = FUSE_BUFVEC_INIT(fuse_buf_size(buf));
  dst.buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
  dst.buf[0].fd = FH(fi)->fd;
  dst.buf[0].pos = off;
  return static_cast<int>(fuse_buf_copy(&dst, buf, FUSE_BUF_SPLICE_NONBLOCK));
}

int StatFs(const char*, struct statvfs* st) {
  return fstatvfs(U()->branch_fd(0), st) < 0 ? Errno() : 0;
}
int Release(const char*, fuse_file_info* fi) {
  FileHandle* h = FH(fi);
  close(h->fd);
  delete h;
  return 0;
}
int Fsync(const char*, int datasync, fuse_file_info* fi) {
  int r = datasync ? fdatasync(FH(fi)->fd) : fsync(FH(fi)->fd);
  return r < 0 ? Errno() : 0;
}

int SetXattr(const char* path, const char* name, const char* value, size_t size, int flags) {
  return U()->SetXattr(path, name, value, size, flags);
}
int GetXattr(const char* path, const char* name, char* value, size_t size) {
  return static_cast<int>(U()->GetXattr(path, name, value, size));
}
int ListXattr(const char* path, char* list, size_t size) {
  return static_cast<int>(U()->ListXattr(path, list, size));
}
int RemoveXattr(const char* path, const char* name) { return U()->RemoveXattr(path, name); }

int OpenDir(const char* path, fuse_file_info* fi) {
  auto h = std::make_unique<DirHandle>();
  h->path = path;
  if (int r = U()->List(path, &h->entries); r < 0) return r;
  fi->fh = reinterpret_cast<uint64_t>(h.release());
  return 0;
}

int ReadDir(const char*, void* buf, fuse_fill_dir_t filler, off_t off, fuse_file_info* fi,
            fuse_readdir_flags flags) {
  auto* h = reinterpret_cast<DirHandle*>(fi->fh);
  UnionFs* u = U();
  bool plus = flags & FUSE_READDIR_PLUS;
  // Offsets: 1 after ".", 2 after "..", 3 + i after entries[i].
  for (off_t i = off; i < static_cast<off_t>(h->entries.size()) + 2; ++i) {
    struct stat st = {};
    const char* name;
    fuse_fill_dir_flags fill = static_cast<fuse_fill_dir_flags>(0);
    if (i < 2) {
      // A zero d_ino makes glibc's readdir skip the entry.
      name = i == 0 ? "." : "..";
      st.st_mode = S_IFDIR;
      st.st_ino = u->inodes().Get(i == 0 ? h->path : std::string(ParentPath(h->path)));
    } else {
      const ListedEntry& e = h->entries[static_cast<size_t>(i - 2)];
      name = e.name.c_str();
      st.st_mode = static_cast<mode_t>(e.d_type) << 12;
      if (plus) {
        std::string child = JoinPath(h->path, e.name);
        std::string rel(BranchRelative(child));
        if (fstatat(u->branch_fd(e.branch), rel.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
          if (S_ISDIR(st.st_mode)) st.st_nlink = 1;  // as GetAttr
          fill = FUSE_FILL_DIR_PLUS;
        }
      }
      st.st_ino = e.ino;
    }
    if (filler(buf, name, &st, i + 1, fill) != 0) break;  // buffer full
  }
  return 0;
}

int ReleaseDir(const char*, fuse_file_info* fi) {
  delete reinterpret_cast<DirHandle*>(fi->fh);
  return 0;
}

int Fallocate(const char*, int mode, off_t off, off_t len, fuse_file_info* fi) {
  return fallocate(FH(fi)->fd, mode, off, len) < 0 ? Errno() : 0;
}

ssize_t CopyFileRange(const char*, fuse_file_info* fi_in, off_t off_in, const char*,
                      fuse_file_info* fi_out, off_t off_out, size_t len, int flags) {
  ssize_t n = copy_file_range(FH(fi_in)->fd, &off_in, FH(fi_out)->fd, &off_out, len,
                              static_cast<unsigned>(flags));
  return n < 0 ? Errno() : n;
}

off_t Lseek(const char*, off_t off, int whence, fuse_file_info* fi) {
  off_t r = lseek(FH(fi)->fd, off, whence);
  return r < 0 ? Errno() : r;
}

fuse_operations MakeOperations() {
  fuse_operations ops = {};
  ops.init = Init;
  ops.getattr = GetAttr;
  ops.readlink = ReadLink;
  ops.mknod = MakeNode;
  ops.mkdir = MakeDir;
  ops.unlink = Unlink;
  ops.rmdir = RemoveDir;
  ops.symlink = Symlink;
  ops.rename = Rename;
  ops.link = Link;
  ops.chmod = Chmod;
  ops.chown = Chown;
  ops.truncate = Truncate;
  ops.utimens = Utimens;
  ops.open = Open;
  ops.create = Create;
  ops.read_buf = ReadBuf;
  ops.write_buf = WriteBuf;
  ops.statfs = StatFs;
  // No flush: every close(2) would cost a round trip for nothing (writes go straight to the
  // branch file; dirty writeback-cache pages are written before the kernel would send FLUSH).
  // libfuse answers ENOSYS once and the kernel stops sending it.
  ops.release = Release;
  ops.fsync = Fsync;
  ops.setxattr = SetXattr;
  ops.getxattr = GetXattr;
  ops.listxattr = ListXattr;
  ops.removexattr = RemoveXattr;
  ops.opendir = OpenDir;
  ops.readdir = ReadDir;
  ops.releasedir = ReleaseDir;
  ops.fallocate = Fallocate;
  ops.copy_file_range = CopyFileRange;
  ops.lseek = Lseek;
  return ops;
}

}  // namespace

const fuse_operations& Operations() {
  static const fuse_operations ops = MakeOperations();
  return ops;
}

}  // namespace strata::aufs
