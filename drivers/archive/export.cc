// ExportTree (native diff of an overlay upper dir or aufs branch) and ExportChanges (naive diff
// from a full tree), both written through TarSink.
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <set>

#include "drivers/archive/archive.h"
#include "drivers/archive/dir_resolver.h"
#include "drivers/archive/disk_entry.h"
#include "drivers/archive/entry_name.h"
#include "drivers/archive/tar_sink.h"

namespace strata::drivers::archive {
namespace {

constexpr char kOpaqueXattr[] = "trusted.overlay.opaque";

// Writes disk objects as entries: hardlinks to an inode already written become link entries
// (libarchive's link resolver, tar strategy: the first path in write order carries the data).
class EntryWriter {
 public:
  explicit EntryWriter(TarSink& sink)
      : sink_(sink), links_(archive_entry_linkresolver_new()), buffer_(new char[kCopyBufferBytes]) {
    archive_entry_linkresolver_set_strategy(links_.get(), ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE);
  }

  Status Write(DiskObject& obj) {
    archive_entry* entry = obj.entry.get();
    archive_entry* spare = nullptr;  // only other strategies defer entries; tar never does
    if (!S_ISDIR(obj.st.st_mode)) archive_entry_linkify(links_.get(), &entry, &spare);
    // A link entry only names its target; the inode's metadata came with the first path.
    if (archive_entry_hardlink(entry) != nullptr) archive_entry_xattr_clear(entry);
    const char* name = EntryPathname(entry);
    STRATA_TRY(sink_.WriteHeader(entry, name));
    if (S_ISREG(obj.st.st_mode) && archive_entry_hardlink(entry) == nullptr &&
        archive_entry_size(entry) > 0) {
      STRATA_TRY(CopyContent(sink_, entry, obj.fd.Get(), buffer_.get()));
    }
    return Ok();
  }

  Status WriteMarker(const std::string& rel, const struct stat& like) {
    Entry marker = MarkerEntry(rel, like);
    return sink_.WriteHeader(marker.get(), rel);
  }

 private:
  TarSink& sink_;
  LinkResolver links_;
  std::unique_ptr<char[]> buffer_;  // file content on its way to the sink, reused
};

// A char device 0/0: overlayfs's whiteout.
bool IsOverlayWhiteout(const struct stat& st) { return S_ISCHR(st.st_mode) && st.st_rdev == 0; }

class TreeExporter {
 public:
  TreeExporter(TarSink& sink, WhiteoutFormat format) : writer_(sink), format_(format) {}

  // Exports the children of `dir_fd` (the directory `dir`) in name order, depth first.
  Status ExportDir(int dir_fd, const std::string& dir) {
    STRATA_ASSIGN_OR_RETURN_CTX(std::vector<std::string> names, ListDirSorted(dir_fd),
                                "list \"" + dir + "\"");
    for (const std::string& name : names) {
      std::string rel = JoinEntryName(dir, name);
      // aufs bookkeeping is never layer content (and apply would skip it anyway).
      Result<WhiteoutName> kind = ParseWhiteout(rel, rel);
      if (kind.ok() && kind->kind == WhiteoutName::Kind::kAufsMeta) continue;
      Result<DiskObject> obj = LoadDiskObject(dir_fd, name, rel);
      if (!obj.ok() && obj.error().code() == EOPNOTSUPP) continue;  // sockets
      if (!obj.ok()) return std::move(obj).error();
      STRATA_TRY(ExportOne(*obj, rel));
    }
    return Ok();
  }

 private:
  Status ExportOne(DiskObject& obj, const std::string& rel) {
    if (format_ == WhiteoutFormat::kOverlay && IsOverlayWhiteout(obj.st)) {
      SplitName split = SplitEntryName(rel);
      std::string marker =
          JoinEntryName(split.dir, std::string(kWhiteoutPrefix) + std::string(split.base));
      return writer_.WriteMarker(marker, obj.st);
    }
    STRATA_TRY(writer_.Write(obj));
    if (!S_ISDIR(obj.st.st_mode)) return Ok();
    auto opaque = obj.xattrs.find(kOpaqueXattr);
    if (format_ == WhiteoutFormat::kOverlay && opaque != obj.xattrs.end() &&
        opaque->second == "y") {
      STRATA_TRY(writer_.WriteMarker(JoinEntryName(rel, kOpaqueMarker), obj.st));
    }
    return ExportDir(obj.fd.Get(), rel);
  }

  EntryWriter writer_;
  WhiteoutFormat format_;
};

// Naive diff: each change is written after its not-yet-written parent directories, so the tar
// recreates them with the layer's metadata (and a kDelete apply restores their mtimes).
class ChangeExporter {
 public:
  ChangeExporter(TarSink& sink, DirResolver dirs) : writer_(sink), dirs_(std::move(dirs)) {}

  Status Export(const Change& change) {
    STRATA_ASSIGN_OR_RETURN_CTX(std::string path, CleanRelativePath(change.path),
                                "change \"" + change.path + "\"");
    if (path.empty()) return Ok();  // the root itself: not an entry
    SplitName split = SplitEntryName(path);
    STRATA_TRY(WriteDirs(split.dir));
    std::string base(split.base);
    STRATA_ASSIGN_OR_RETURN(int dir_fd, dirs_.Resolve(split.dir, MissingDirs::kFail));
    if (change.kind == Change::Kind::kDelete) {
      // A deleted directory needs only its own whiteout. The marker takes the parent's owner and
      // mtime: deterministic, and the parent's times are restored from its own entry anyway.
      struct stat parent;
      if (fstat(dir_fd, &parent) != 0)
        return Error::FromErrno("stat \"" + std::string(split.dir) + "\"");
      return writer_.WriteMarker(JoinEntryName(split.dir, std::string(kWhiteoutPrefix) + base),
                                 parent);
    }
    STRATA_ASSIGN_OR_RETURN(DiskObject obj, LoadDiskObject(dir_fd, base, path));
    if (S_ISDIR(obj.st.st_mode) && !written_dirs_.insert(path).second) return Ok();
    return writer_.Write(obj);
  }

 private:
  // Writes `dir` and its ancestors that are not written yet, outermost first.
  Status WriteDirs(std::string_view dir) {
    for (size_t end = 0; end < dir.size();) {
      end = dir.find('/', end + 1);
      if (end == std::string_view::npos) end = dir.size();
      std::string path(dir.substr(0, end));
      if (written_dirs_.contains(path)) continue;
      SplitName split = SplitEntryName(path);
      STRATA_ASSIGN_OR_RETURN(int parent_fd, dirs_.Resolve(split.dir, MissingDirs::kFail));
      STRATA_ASSIGN_OR_RETURN(DiskObject obj,
                              LoadDiskObject(parent_fd, std::string(split.base), path));
      STRATA_TRY(writer_.Write(obj));
      written_dirs_.insert(std::move(path));
    }
    return Ok();
  }

  EntryWriter writer_;
  DirResolver dirs_;  // the tree is trusted, but the walk costs nothing and follows no symlink
  std::set<std::string> written_dirs_;
};

}  // namespace

Result<ExportStats> ExportChanges(const std::string& root, const std::vector<Change>& changes,
                                  int out_fd, Compression compression) {
  STRATA_ASSIGN_OR_RETURN(DirResolver dirs, DirResolver::Open(root));
  std::vector<const Change*> sorted;
  sorted.reserve(changes.size());
  for (const Change& change : changes) sorted.push_back(&change);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const Change* a, const Change* b) { return a->path < b->path; });
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<TarSink> sink, TarSink::Open(out_fd, compression));
  ChangeExporter exporter(*sink, std::move(dirs));
  for (const Change* change : sorted) {
    STRATA_TRY_CTX(exporter.Export(*change), "export changes of " + root);
  }
  return sink->Finish();
}

Result<ExportStats> ExportTree(const std::string& root, WhiteoutFormat format, int out_fd,
                               Compression compression) {
  int fd = open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Error::FromErrno("open " + root);
  UniqueFd root_fd(fd);
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<TarSink> sink, TarSink::Open(out_fd, compression));
  TreeExporter exporter(*sink, format);
  STRATA_TRY_CTX(exporter.ExportDir(root_fd.Get(), ""), "export " + root);
  return sink->Finish();
}

}  // namespace strata::drivers::archive
