#include "drivers/archive/disk_entry.h"

#include <fcntl.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "drivers/archive/entry_name.h"
#include "drivers/archive/tree_writer.h"

namespace strata::drivers::archive {
namespace {

std::string ProcPath(int dir_fd, const std::string& name) {
  return "/proc/self/fd/" + std::to_string(dir_fd) + "/" + name;
}

// list/get through fd, or through the /proc path of `name` in its checked directory without
// following a final symlink (this glibc has no getxattrat).
ssize_t List(int fd, const std::string& path, char* buf, size_t size) {
  return fd >= 0 ? flistxattr(fd, buf, size) : llistxattr(path.c_str(), buf, size);
}
ssize_t Get(int fd, const std::string& path, const char* name, void* buf, size_t size) {
  return fd >= 0 ? fgetxattr(fd, name, buf, size) : lgetxattr(path.c_str(), name, buf, size);
}

Result<std::string> GetXattr(int fd, const std::string& path, const char* name) {
  for (;;) {
    ssize_t size = Get(fd, path, name, nullptr, 0);
    if (size < 0) return Error::FromErrno(std::string("get xattr ") + name);
    std::string value(static_cast<size_t>(size), '\0');
    ssize_t got = Get(fd, path, name, value.data(), value.size());
    if (got < 0 && errno == ERANGE) continue;  // grew in between
    if (got < 0) return Error::FromErrno(std::string("get xattr ") + name);
    value.resize(static_cast<size_t>(got));
    return value;
  }
}

Status AddSparseMap(archive_entry* entry, int fd, const struct stat& st) {
  // Fewer allocated bytes than the size is the only way a file can have holes.
  if (st.st_size <= 0 || st.st_blocks * 512 >= st.st_size) return Ok();
  std::vector<std::pair<off_t, off_t>> regions;
  for (off_t pos = 0; pos < st.st_size;) {
    off_t data = lseek(fd, pos, SEEK_DATA);
    if (data < 0 && errno == ENXIO) break;  // only a hole up to the end
    if (data < 0) return Ok();              // SEEK_DATA unsupported: export it dense
    off_t hole = lseek(fd, data, SEEK_HOLE);
    if (hole < 0) return Error::FromErrno("seek hole");
    hole = std::min<off_t>(hole, st.st_size);
    regions.emplace_back(data, hole - data);
    pos = hole;
  }
  if (regions.size() == 1 && regions[0].first == 0 && regions[0].second == st.st_size) return Ok();
  // A map must not be empty to mark the entry sparse: an all-hole file gets a 0-length region.
  if (regions.empty()) regions.emplace_back(st.st_size, 0);
  for (const auto& [offset, length] : regions)
    archive_entry_sparse_add_entry(entry, offset, length);
  return Ok();
}

// In name order, so the same tree always gives the same PAX records.
void AddEntryXattrs(archive_entry* entry, const Xattrs& xattrs) {
  for (const auto& [name, value] : xattrs) {
    if (IsOverlayXattr(name)) continue;
    archive_entry_xattr_add_entry(entry, name.c_str(), value.data(), value.size());
  }
}

}  // namespace

Result<Xattrs> ReadXattrs(int fd, int dir_fd, const std::string& name) {
  std::string path = fd >= 0 ? std::string() : ProcPath(dir_fd, name);
  Xattrs xattrs;
  std::string names;
  for (;;) {
    ssize_t size = List(fd, path, nullptr, 0);
    if (size < 0 && (errno == EOPNOTSUPP || errno == EPERM)) return xattrs;
    if (size < 0) return Error::FromErrno("list xattrs");
    if (size == 0) return xattrs;
    names.assign(static_cast<size_t>(size), '\0');
    ssize_t got = List(fd, path, names.data(), names.size());
    if (got < 0 && errno == ERANGE) continue;
    if (got < 0) return Error::FromErrno("list xattrs");
    names.resize(static_cast<size_t>(got));
    break;
  }
  for (size_t pos = 0; pos < names.size();) {
    const char* attr = names.c_str() + pos;
    pos += std::char_traits<char>::length(attr) + 1;
    Result<std::string> value = GetXattr(fd, path, attr);
    if (!value.ok() && value.error().code() == ENODATA) continue;  // removed in between
    if (!value.ok()) return std::move(value).error();
    xattrs.emplace(attr, std::move(value).value());
  }
  return xattrs;
}

Result<DiskObject> LoadDiskObject(int dir_fd, const std::string& name, const std::string& rel) {
  DiskObject obj;
  if (fstatat(dir_fd, name.c_str(), &obj.st, AT_SYMLINK_NOFOLLOW) != 0) {
    return Error::FromErrno("stat \"" + rel + "\"");
  }
  const struct stat& st = obj.st;
  if (S_ISSOCK(st.st_mode)) return Error(EOPNOTSUPP, "\"" + rel + "\" is a socket");
  if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
    int flags = S_ISDIR(st.st_mode) ? O_RDONLY | O_DIRECTORY : O_RDONLY;
    STRATA_ASSIGN_OR_RETURN(obj.fd, OpenAt(dir_fd, name, flags, "open"));
  }
  obj.entry.reset(archive_entry_new());
  archive_entry* e = obj.entry.get();
  archive_entry_copy_stat(e, &st);
  archive_entry_unset_atime(e);
  archive_entry_unset_ctime(e);
  archive_entry_unset_birthtime(e);
  archive_entry_copy_pathname(e, rel.c_str());
  if (!S_ISREG(st.st_mode)) archive_entry_set_size(e, 0);
  if (S_ISLNK(st.st_mode)) {
    std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
    ssize_t n = readlinkat(dir_fd, name.c_str(), target.data(), target.size());
    if (n < 0) return Error::FromErrno("readlink \"" + rel + "\"");
    target.resize(static_cast<size_t>(n));
    archive_entry_copy_symlink(e, target.c_str());
  }
  STRATA_ASSIGN_OR_RETURN_CTX(obj.xattrs, ReadXattrs(obj.fd.Get(), dir_fd, name),
                              "\"" + rel + "\"");
  AddEntryXattrs(e, obj.xattrs);
  if (S_ISREG(st.st_mode)) STRATA_TRY_CTX(AddSparseMap(e, obj.fd.Get(), st), "\"" + rel + "\"");
  return obj;
}

Status CopyContent(TarSink& sink, archive_entry* entry, int fd, char* buffer) {
  static const std::vector<char> zeros(kCopyBufferBytes, '\0');
  const char* name = EntryPathname(entry);
  off_t size = archive_entry_size(entry);
  // Data regions to read: the sparse map, or the whole file.
  std::vector<std::pair<off_t, off_t>> regions;
  la_int64_t offset, length;
  if (archive_entry_sparse_reset(entry) > 0) {
    while (archive_entry_sparse_next(entry, &offset, &length) == ARCHIVE_OK) {
      regions.emplace_back(offset, length);
    }
  } else {
    regions.emplace_back(0, size);
  }
  off_t pos = 0;
  for (const auto& [start, len] : regions) {
    for (; pos < start; pos += std::min<off_t>(start - pos, kCopyBufferBytes)) {
      STRATA_TRY(
          sink.WriteData(zeros.data(), std::min<off_t>(start - pos, kCopyBufferBytes), name));
    }
    for (off_t end = start + len; pos < end;) {
      ssize_t n = pread(fd, buffer, std::min<off_t>(end - pos, kCopyBufferBytes), pos);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Error::FromErrno(EntryContext(name) + ": read");
      if (n == 0) return Error(EIO, EntryContext(name) + ": file shrank while exporting");
      STRATA_TRY(sink.WriteData(buffer, static_cast<size_t>(n), name));
      pos += n;
    }
  }
  return Ok();  // a trailing hole needs no bytes: finishing the entry pads it
}

Entry MarkerEntry(const std::string& rel, const struct stat& like) {
  Entry entry(archive_entry_new());
  archive_entry_copy_pathname(entry.get(), rel.c_str());
  archive_entry_set_filetype(entry.get(), AE_IFREG);
  archive_entry_set_perm(entry.get(), 0600);
  archive_entry_set_size(entry.get(), 0);
  archive_entry_set_uid(entry.get(), like.st_uid);
  archive_entry_set_gid(entry.get(), like.st_gid);
  archive_entry_set_mtime(entry.get(), like.st_mtim.tv_sec, like.st_mtim.tv_nsec);
  return entry;
}

}  // namespace strata::drivers::archive
