// Helpers for the driver conformance suite: layer tars built with libarchive, tree snapshots for
// comparing mounted views, and mount-table checks against the real kernel.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"
#include "core/unique_fd.h"

struct archive;

namespace strata::testing {

// Builds an OCI layer tar (pax format) in an unlinked temp file. Entries are written in the
// order added; all get mtime kMtime unless given.
class TarBuilder {
 public:
  static constexpr int64_t kMtime = 1700000000;

  TarBuilder& Dir(const std::string& path, int mode = 0755, int uid = 0, int gid = 0);
  TarBuilder& File(const std::string& path, const std::string& content, int mode = 0644,
                   int uid = 0, int gid = 0,
                   std::vector<std::pair<std::string, std::string>> xattrs = {});
  TarBuilder& Symlink(const std::string& path, const std::string& target);
  TarBuilder& Hardlink(const std::string& path, const std::string& target);
  TarBuilder& CharDevice(const std::string& path, int major, int minor, int mode = 0666);
  TarBuilder& BlockDevice(const std::string& path, int major, int minor, int mode = 0660);
  TarBuilder& Fifo(const std::string& path, int mode = 0644);
  // `dir/name` deleted: the entry dir/.wh.name.
  TarBuilder& Whiteout(const std::string& path);
  // `dir` opaque: the entry dir/.wh..wh..opq (hides everything below dir from lower layers).
  TarBuilder& Opaque(const std::string& dir);

  // Writes the tar and returns an fd positioned at its start.
  Result<UniqueFd> Finish() const;

 private:
  struct Entry {
    enum class Type { kDir, kFile, kSymlink, kHardlink, kChar, kBlock, kFifo } type;
    std::string path;
    std::string content;  // file content, or link target
    int mode = 0;
    int uid = 0;
    int gid = 0;
    int major = 0;
    int minor = 0;
    std::vector<std::pair<std::string, std::string>> xattrs;
  };
  static Status WriteEntry(struct archive* a, const Entry& e);

  std::vector<Entry> entries_;
};

// Describes every entry under `root` (lstat, not following symlinks), keyed by relative path
// ("" is the root itself): type, mode, owner, content, link target, device numbers, xattrs
// (trusted.overlay.* excluded), and hardlink groups. Directory sizes and mtimes, and all atimes,
// are left out: they legitimately differ between equivalent trees.
Result<std::map<std::string, std::string>> SnapshotTree(const std::string& root);

// Human-readable differences of two snapshots ("" when equal).
std::string DiffSnapshots(const std::map<std::string, std::string>& want,
                          const std::map<std::string, std::string>& got);

bool PathExists(const std::string& path);  // lstat succeeds
std::string ReadFileOr(const std::string& path, const std::string& fallback);
// Whether `path` is a mount point in /proc/self/mountinfo.
bool IsMountPoint(const std::string& path);
// Lazily unmounts everything mounted at or below `dir`, deepest first. For test cleanup.
void DetachMountsUnder(const std::string& dir);
// Paths under `dir` whose file name starts with `prefix`.
std::vector<std::string> FindNamed(const std::string& dir, const std::string& prefix);

}  // namespace strata::testing
