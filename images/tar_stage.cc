#include "images/tar_stage.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <map>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "drivers/archive/archive_handles.h"
#include "drivers/archive/dir_resolver.h"
#include "drivers/archive/entry_name.h"
#include "drivers/fs_tree.h"

namespace strata::images {
namespace {

using drivers::archive::ArchiveError;
using drivers::archive::CleanRelativePath;
using drivers::archive::DirResolver;
using drivers::archive::EntryContext;
using drivers::archive::EntryPathname;
using drivers::archive::JoinEntryName;
using drivers::archive::MissingDirs;
using drivers::archive::ReadArchive;
using drivers::archive::SplitEntryName;
using drivers::archive::SplitName;

// As in ApplyLayerTar: an uncompressed tar is served from libarchive's buffer of this size.
constexpr size_t kReadBlockBytes = 64 * 1024;

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

// An entry name cleaned to a path relative to the archive root ("" is the root itself).
// EPERM naming the entry when it is absolute or has a ".." component.
Result<std::string> CleanName(std::string_view raw) {
  Result<std::string> clean = CleanRelativePath(raw);
  if (clean.ok()) return clean;
  if (!raw.empty() && raw.front() == '/') return Error(EPERM, EntryContext(raw) + " is absolute");
  return Error(EPERM, EntryContext(raw) + " escapes the archive");
}

// A symlink's target resolved lexically against `link_dir` (a cleaned path). nullopt when it
// leaves the archive: an absolute target, or ".." past the root.
std::optional<std::string> ResolveSymlinkTarget(std::string_view link_dir,
                                                std::string_view target) {
  if (!target.empty() && target.front() == '/') return std::nullopt;
  std::vector<std::string_view> parts;
  for (std::string_view path : {link_dir, target}) {
    for (size_t pos = 0; pos <= path.size();) {
      size_t slash = path.find('/', pos);
      if (slash == std::string_view::npos) slash = path.size();
      std::string_view component = path.substr(pos, slash - pos);
      pos = slash + 1;
      if (component.empty() || component == ".") continue;
      if (component != "..") {
        parts.push_back(component);
      } else if (parts.empty()) {
        return std::nullopt;
      } else {
        parts.pop_back();
      }
    }
  }
  std::string out;
  for (std::string_view part : parts) out = JoinEntryName(out, part);
  return out;
}

Result<ReadArchive> OpenReader(int in_fd) {
  ReadArchive reader(archive_read_new());
  if (!reader) return Error(ENOMEM, "archive_read_new");
  struct archive* a = reader.get();
  // The compressions `docker load` accepts, all decoded in-process. support_filter_all would
  // also run external programs (lrzip, lzop, grzip) on untrusted input.
  if (archive_read_support_filter_gzip(a) != ARCHIVE_OK ||
      archive_read_support_filter_bzip2(a) != ARCHIVE_OK ||
      archive_read_support_filter_xz(a) != ARCHIVE_OK ||
      archive_read_support_filter_zstd(a) != ARCHIVE_OK ||
      archive_read_support_format_tar(a) != ARCHIVE_OK) {
    return ArchiveError(a, "set up archive reader");
  }
  if (archive_read_open_fd(a, in_fd, kReadBlockBytes) != ARCHIVE_OK) {
    return ArchiveError(a, "open archive");
  }
  return reader;
}

// Copies the current entry's data into `fd` block by block (holes of a sparse entry stay holes).
Status CopyData(struct archive* reader, archive_entry* entry, int fd) {
  for (;;) {
    const void* buf;
    size_t size;
    la_int64_t offset;
    int r = archive_read_data_block(reader, &buf, &size, &offset);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) return ArchiveError(reader, "read data");
    for (size_t done = 0; done < size;) {
      ssize_t n = ::pwrite(fd, static_cast<const char*>(buf) + done, size - done,
                           static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Error::FromErrno("write");
      done += static_cast<size_t>(n);
    }
  }
  // A sparse entry may end in a hole, which no block covers.
  if (archive_entry_size_is_set(entry) != 0 && ::ftruncate(fd, archive_entry_size(entry)) != 0) {
    return Error::FromErrno("truncate");
  }
  return Ok();
}

// A link entry waiting for the end of the archive.
struct PendingLink {
  std::string raw;     // the entry name as written, for errors
  std::string target;  // cleaned, relative to the archive root
};

// Writes entries below a staging directory. Thread-safety: none.
class Extractor {
 public:
  Extractor(DirResolver dirs, DirResolver link_dirs)
      : dirs_(std::move(dirs)), link_dirs_(std::move(link_dirs)) {}

  // Every entry of `reader`, then the links.
  Status Run(struct archive* reader) {
    std::string last = "(none)";
    for (;;) {
      archive_entry* entry = nullptr;  // owned by the reader, valid until the next header
      int r = archive_read_next_header(reader, &entry);
      if (r == ARCHIVE_EOF) break;
      // ARCHIVE_WARN: a name not convertible to the locale's charset; the raw bytes are kept.
      if (r < ARCHIVE_WARN) return ArchiveError(reader, "read header after entry " + Quote(last));
      last = EntryPathname(entry);
      STRATA_TRY(ExtractEntry(reader, entry));
    }
    return LinkAll();
  }

 private:
  Status ExtractEntry(struct archive* reader, archive_entry* entry) {
    const std::string raw = EntryPathname(entry);
    STRATA_ASSIGN_OR_RETURN(std::string path, CleanName(raw));
    if (const char* hardlink = archive_entry_hardlink(entry)) {
      Result<std::string> target = CleanRelativePath(hardlink);
      if (!target.ok()) {
        return Error(
            EPERM, EntryContext(raw) + ": hardlink to " + Quote(hardlink) + " escapes the archive");
      }
      return RecordLink(path, raw, std::move(target).value());
    }
    switch (archive_entry_filetype(entry)) {
      case AE_IFDIR: {
        links_.erase(path);
        Result<int> dir_fd = dirs_.Resolve(path, MissingDirs::kCreate);
        if (!dir_fd.ok()) return std::move(dir_fd).error().Wrap(EntryContext(raw));
        return Ok();
      }
      case AE_IFREG:
        links_.erase(path);
        return WriteFile(reader, entry, path).Wrap(EntryContext(raw));
      case AE_IFLNK: {
        const char* link = archive_entry_symlink(entry);
        std::string_view target = link != nullptr ? link : "";
        std::optional<std::string> resolved =
            ResolveSymlinkTarget(SplitEntryName(path).dir, target);
        if (!resolved) {
          return Error(
              EPERM, EntryContext(raw) + ": symlink to " + Quote(target) + " escapes the archive");
        }
        return RecordLink(path, raw, std::move(*resolved));
      }
      default:
        return Ok();  // devices, fifos, sockets: nothing an image reader uses
    }
  }

  Status WriteFile(struct archive* reader, archive_entry* entry, const std::string& path) {
    if (path.empty()) return Error(EPERM, "a regular file cannot replace the archive root");
    SplitName split = SplitEntryName(path);
    STRATA_ASSIGN_OR_RETURN(int dir_fd, dirs_.Resolve(split.dir, MissingDirs::kCreate));
    const std::string base(split.base);
    constexpr int kFlags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    UniqueFd fd(::openat(dir_fd, base.c_str(), kFlags, 0600));
    // A later entry of the same name replaces the earlier one, as tar does.
    if (!fd && errno == EEXIST && ::unlinkat(dir_fd, base.c_str(), 0) == 0) {
      fd.Reset(::openat(dir_fd, base.c_str(), kFlags, 0600));
    }
    if (!fd) return Error::FromErrno("create file");
    return CopyData(reader, entry, fd.Get());
  }

  Status RecordLink(const std::string& path, const std::string& raw, std::string target) {
    if (path.empty()) return Error(EPERM, EntryContext(raw) + ": a link cannot replace the root");
    // The link replaces what an earlier entry wrote there. Best effort: a directory stays and
    // fails the link later with EEXIST; a missing parent is created then.
    SplitName split = SplitEntryName(path);
    Result<int> dir_fd = dirs_.Resolve(split.dir, MissingDirs::kFail);
    if (dir_fd.ok()) (void)::unlinkat(*dir_fd, std::string(split.base).c_str(), 0);
    links_[path] = PendingLink{raw, std::move(target)};
    return Ok();
  }

  // Links whose target is an extracted regular file, in passes, so a link to a link resolves
  // once its target has; the rest (to directories, to nothing, cycles) are skipped.
  Status LinkAll() {
    bool progress = true;
    while (progress) {
      progress = false;
      for (auto it = links_.begin(); it != links_.end();) {
        STRATA_ASSIGN_OR_RETURN_CTX(
            bool linked, TryLink(it->first, it->second.target),
            EntryContext(it->second.raw) + ": link to " + Quote(it->second.target));
        if (!linked) {
          ++it;
          continue;
        }
        it = links_.erase(it);
        progress = true;
      }
    }
    return Ok();
  }

  // Hardlinks `path` to `target` when `target` is a regular file on disk. False when it is not.
  Result<bool> TryLink(const std::string& path, const std::string& target) {
    if (target.empty()) return false;  // the root
    SplitName to = SplitEntryName(target);
    Result<int> to_dir = link_dirs_.Resolve(to.dir, MissingDirs::kFail);
    if (!to_dir.ok()) {
      if (to_dir.error().code() == ENOENT || to_dir.error().code() == ENOTDIR) return false;
      return std::move(to_dir).error();
    }
    const std::string to_base(to.base);
    struct stat st;
    if (::fstatat(*to_dir, to_base.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) return false;
      return Error::FromErrno("stat");
    }
    if (!S_ISREG(st.st_mode)) return false;
    SplitName from = SplitEntryName(path);
    STRATA_ASSIGN_OR_RETURN(int from_dir, dirs_.Resolve(from.dir, MissingDirs::kCreate));
    // flags 0: linkat does not follow a symlink at the target (there are none: none is created).
    if (::linkat(*to_dir, to_base.c_str(), from_dir, std::string(from.base).c_str(), 0) != 0) {
      return Error::FromErrno("link");
    }
    return true;
  }

  DirResolver dirs_;       // entries and link names
  DirResolver link_dirs_;  // link targets: a second resolver, as each invalidates its last fd
  std::map<std::string, PendingLink> links_;  // keyed by the link's cleaned path
};

// Creates `staging_parent` if missing and a fresh load-XXXXXX below it; its absolute path.
Result<std::string> MakeStagingDir(const std::string& staging_parent) {
  if (staging_parent.empty()) return Error(EINVAL, "no staging directory given");
  STRATA_TRY(drivers::fs::MakeDir(staging_parent, 0700));
  char resolved[PATH_MAX];
  if (::realpath(staging_parent.c_str(), resolved) == nullptr) {
    return Error::FromErrno("resolve staging directory " + staging_parent);
  }
  std::string dir = std::string(resolved) + "/load-XXXXXX";
  if (::mkdtemp(dir.data()) == nullptr) {
    return Error::FromErrno("create staging directory in " + staging_parent);
  }
  return dir;
}

}  // namespace

Result<StagedArchive> StagedArchive::Extract(const std::string& archive_path,
                                             const std::string& staging_parent) {
  const std::string context = "image archive " + archive_path;
  UniqueFd in(::open(archive_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!in) return Error::FromErrno(context);
  STRATA_ASSIGN_OR_RETURN_CTX(std::string dir, MakeStagingDir(staging_parent), context);
  StagedArchive staged(std::move(dir));  // from here its destructor removes the directory
  STRATA_ASSIGN_OR_RETURN_CTX(DirResolver dirs, DirResolver::Open(staged.dir()), context);
  STRATA_ASSIGN_OR_RETURN_CTX(DirResolver link_dirs, DirResolver::Open(staged.dir()), context);
  STRATA_ASSIGN_OR_RETURN_CTX(ReadArchive reader, OpenReader(in.Get()), context);
  Extractor extractor(std::move(dirs), std::move(link_dirs));
  STRATA_TRY_CTX(extractor.Run(reader.get()), context);
  return staged;
}

StagedArchive::StagedArchive(StagedArchive&& other) noexcept
    : dir_(std::exchange(other.dir_, std::string())) {}

StagedArchive& StagedArchive::operator=(StagedArchive&& other) noexcept {
  if (this != &other) {
    Remove();
    dir_ = std::exchange(other.dir_, std::string());
  }
  return *this;
}

StagedArchive::~StagedArchive() { Remove(); }

void StagedArchive::Remove() {
  if (dir_.empty()) return;
  (void)drivers::fs::RemoveTree(dir_);  // best effort: a destructor cannot report
  dir_.clear();
}

}  // namespace strata::images
