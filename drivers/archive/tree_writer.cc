#include "drivers/archive/tree_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fstream>

#include "drivers/archive/archive_handles.h"

namespace strata::drivers::archive {
namespace {

// The process umask without umask(2), which would change it for every thread for a moment.
mode_t ReadUmask() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    unsigned mask = 0;
    if (std::sscanf(line.c_str(), "Umask: %o", &mask) == 1) return static_cast<mode_t>(mask);
  }
  return 0777;  // unknown: every mode needs its fchmod
}

Error SyscallError(std::string_view what, const std::string& path) {
  return Error::FromErrno(std::string(what) + " \"" + path + "\"");
}

struct DataCopy {
  uint64_t written = 0;  // content bytes
  uint64_t end = 0;      // end of the last block: less than the size when the file ends in a hole
};

// Copies the current entry's content into `fd`. Blocks carry offsets: a sparse entry's holes are
// simply never written, so they stay holes.
Result<DataCopy> CopyData(struct archive* reader, int fd, const std::string& path) {
  DataCopy copy;
  for (;;) {
    const void* buf;
    size_t size;
    la_int64_t offset;
    int r = archive_read_data_block(reader, &buf, &size, &offset);
    if (r == ARCHIVE_EOF) return copy;
    if (r < ARCHIVE_WARN) return ArchiveError(reader, "read data");
    for (size_t done = 0; done < size;) {
      ssize_t n = pwrite(fd, static_cast<const char*>(buf) + done, size - done, offset + done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return SyscallError("write", path);
      done += static_cast<size_t>(n);
    }
    copy.written += size;
    copy.end = std::max<uint64_t>(copy.end, offset + size);
  }
}

}  // namespace

TreeWriter::TreeWriter(DirResolver dirs, DirResolver link_dirs, WhiteoutFormat whiteouts,
                       mode_t umask)
    : dirs_(std::move(dirs)),
      link_dirs_(std::move(link_dirs)),
      whiteouts_(whiteouts),
      umask_(umask),
      euid_(geteuid()),
      egid_(getegid()) {}

Result<std::unique_ptr<TreeWriter>> TreeWriter::Open(const std::string& root,
                                                     WhiteoutFormat whiteouts) {
  STRATA_ASSIGN_OR_RETURN(DirResolver dirs, DirResolver::Open(root));
  STRATA_ASSIGN_OR_RETURN(DirResolver link_dirs, DirResolver::Open(root));
  return std::unique_ptr<TreeWriter>(
      new TreeWriter(std::move(dirs), std::move(link_dirs), whiteouts, ReadUmask()));
}

Result<int> TreeWriter::ResolveParent(std::string_view dir) {
  if (whiteouts_ != WhiteoutFormat::kDelete) return dirs_.Resolve(dir, MissingDirs::kCreate);
  std::vector<std::string> created;
  Result<int> fd = dirs_.Resolve(dir, MissingDirs::kCreate, &created);
  for (std::string& path : created) written_.insert(std::move(path));
  return fd;
}

Status TreeWriter::Clear(int parent_fd, const std::string& base, const std::string& path) {
  STRATA_TRY(RemoveTreeAt(parent_fd, base));
  dirs_.Invalidate(path);
  link_dirs_.Invalidate(path);
  // "a" < "a-b" < "a/b" in the map, so the children are the range ["a/", "a0"), '0' being '/'+1.
  fixups_.erase(path);
  fixups_.erase(fixups_.lower_bound(path + '/'), fixups_.lower_bound(path + '0'));
  return Ok();
}

// Runs `create` (a syscall wrapper returning 0 or -1 with errno); on EEXIST clears the path and
// retries once. Archives may legitimately replace an earlier entry or a parent layer's file.
template <class Create>
Status TreeWriter::CreateReplacing(int parent_fd, const std::string& base, const std::string& path,
                                   Create create, std::string_view what) {
  if (create() == 0) return Ok();
  if (errno != EEXIST) return SyscallError(what, path);
  STRATA_TRY(Clear(parent_fd, base, path));
  if (create() != 0) return SyscallError(what, path);
  return Ok();
}

Result<uint64_t> TreeWriter::Write(struct archive* reader, archive_entry* entry,
                                   const std::string& path) {
  SplitName split = SplitEntryName(path);
  std::string base(split.base);
  STRATA_ASSIGN_OR_RETURN(int parent_fd, ResolveParent(split.dir));
  Result<uint64_t> written = uint64_t{0};
  if (archive_entry_hardlink(entry) != nullptr) {
    written = WriteHardlink(reader, entry, parent_fd, base, path);
  } else {
    switch (archive_entry_filetype(entry)) {
      case AE_IFREG:
        written = WriteRegular(reader, entry, parent_fd, base, path);
        break;
      case AE_IFDIR:
        if (Status s = WriteDirectory(entry, parent_fd, base, path); !s)
          return std::move(s).error();
        break;
      case AE_IFLNK:
        if (Status s = WriteSymlink(entry, parent_fd, base, path); !s) return std::move(s).error();
        break;
      case AE_IFCHR:
      case AE_IFBLK:
      case AE_IFIFO:
        if (Status s = WriteNode(entry, parent_fd, base, path); !s) return std::move(s).error();
        break;
      default:
        return Error(EINVAL, "unsupported entry type");
    }
  }
  if (written.ok() && whiteouts_ == WhiteoutFormat::kDelete) written_.insert(path);
  return written;
}

Status TreeWriter::WriteDirectory(archive_entry* entry, int parent_fd, const std::string& base,
                                  const std::string& path) {
  if (path.empty()) return Ok();  // "./": the layer root keeps its own metadata, as in docker
  // 0700 until Finish: the real mode may deny a non-root writer the children to come.
  if (mkdirat(parent_fd, base.c_str(), 0700) != 0) {
    if (errno != EEXIST) return SyscallError("create directory", path);
    struct stat st;
    if (fstatat(parent_fd, base.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return SyscallError("stat", path);
    }
    if (!S_ISDIR(st.st_mode)) {
      STRATA_TRY(Clear(parent_fd, base, path));
      if (mkdirat(parent_fd, base.c_str(), 0700) != 0) {
        return SyscallError("create directory", path);
      }
    }
  }
  STRATA_ASSIGN_OR_RETURN(int dir_fd, ResolveParent(path));
  if (fchown(dir_fd, archive_entry_uid(entry), archive_entry_gid(entry)) != 0 && !RefusedToUser()) {
    return SyscallError("chown", path);
  }
  DirFixup fixup{archive_entry_perm(entry), {}};
  EntryTimes(entry, fixup.times);
  fixups_[path] = fixup;
  // Mode and times wait for Finish; xattrs go on now.
  return SetEntryXattrs(entry, dir_fd, "").Wrap("\"" + path + "\"");
}

Result<uint64_t> TreeWriter::WriteRegular(struct archive* reader, archive_entry* entry,
                                          int parent_fd, const std::string& base,
                                          const std::string& path) {
  mode_t perm = archive_entry_perm(entry);
  int fd = -1;
  STRATA_TRY(CreateReplacing(
      parent_fd, base, path,
      [&] {
        fd = openat(parent_fd, base.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                    perm & 0777);
        return fd < 0 ? -1 : 0;
      },
      "create"));
  UniqueFd file(fd);
  STRATA_ASSIGN_OR_RETURN(DataCopy copy, CopyData(reader, fd, path));
  la_int64_t size = archive_entry_size(entry);
  if (size > 0 && copy.end < static_cast<uint64_t>(size) && ftruncate(fd, size) != 0) {
    return SyscallError("truncate", path);  // a trailing hole
  }
  // Most layer files are root's 0644/0755: open() already made them right. Skipping the chown
  // and chmod leaves open, write, futimens, close per file, where GNU tar makes six calls.
  bool need_chown =
      static_cast<uid_t>(archive_entry_uid(entry)) != euid_ ||
      static_cast<gid_t>(archive_entry_gid(entry)) != dirs_.InheritedGid().value_or(egid_);
  bool need_chmod = (perm & 07000) != 0 || (perm & umask_) != 0;
  STRATA_TRY_CTX(SetOwnerModeXattrsTimes(fd, entry, need_chown, need_chmod), "\"" + path + "\"");
  return copy.written;
}

Status TreeWriter::WriteSymlink(archive_entry* entry, int parent_fd, const std::string& base,
                                const std::string& path) {
  const char* target = archive_entry_symlink(entry);
  if (target == nullptr) return Error(EINVAL, "symlink without a target");
  STRATA_TRY(CreateReplacing(
      parent_fd, base, path, [&] { return symlinkat(target, parent_fd, base.c_str()); },
      "create symlink"));
  return SetMetadataAt(parent_fd, base, entry).Wrap("\"" + path + "\"");
}

Status TreeWriter::WriteNode(archive_entry* entry, int parent_fd, const std::string& base,
                             const std::string& path) {
  mode_t mode = archive_entry_filetype(entry) | archive_entry_perm(entry);
  dev_t rdev = makedev(archive_entry_rdevmajor(entry), archive_entry_rdevminor(entry));
  STRATA_TRY(CreateReplacing(
      parent_fd, base, path, [&] { return mknodat(parent_fd, base.c_str(), mode, rdev); },
      "mknod"));
  return SetMetadataAt(parent_fd, base, entry).Wrap("\"" + path + "\"");
}

Result<uint64_t> TreeWriter::WriteHardlink(struct archive* reader, archive_entry* entry,
                                           int parent_fd, const std::string& base,
                                           const std::string& path) {
  const char* raw_target = archive_entry_hardlink(entry);
  STRATA_ASSIGN_OR_RETURN_CTX(std::string target, CleanRelativePath(raw_target),
                              "hardlink target \"" + std::string(raw_target) + "\"");
  if (target.empty()) return Error(EPERM, "hardlink to the layer root");
  // The target's directory is resolved as strictly as any entry's (a link through a symlink would
  // import a file from outside), in a resolver of its own so `parent_fd` stays valid.
  SplitName split = SplitEntryName(target);
  STRATA_ASSIGN_OR_RETURN_CTX(int target_dir_fd, link_dirs_.Resolve(split.dir, MissingDirs::kFail),
                              "hardlink target \"" + std::string(raw_target) + "\"");
  std::string target_base(split.base);
  STRATA_TRY(CreateReplacing(
      parent_fd, base, path,
      [&] { return linkat(target_dir_fd, target_base.c_str(), parent_fd, base.c_str(), 0); },
      "link \"" + target + "\" to"));
  if (archive_entry_size(entry) <= 0) return uint64_t{0};
  // A pax hardlink may carry data (the file's content once more): rewrite it through the link.
  STRATA_ASSIGN_OR_RETURN(UniqueFd fd, OpenAt(parent_fd, base, O_WRONLY | O_TRUNC, "open"));
  STRATA_ASSIGN_OR_RETURN(DataCopy copy, CopyData(reader, fd.Get(), path));
  return copy.written;
}

Status TreeWriter::Finish() {
  for (const auto& [path, fixup] : fixups_) {
    STRATA_ASSIGN_OR_RETURN(int fd, dirs_.Resolve(path, MissingDirs::kFail));
    if (fchmod(fd, fixup.mode) != 0) return SyscallError("chmod", path);
    if (futimens(fd, fixup.times) != 0) return SyscallError("set times of", path);
  }
  fixups_.clear();
  return Ok();
}

}  // namespace strata::drivers::archive
