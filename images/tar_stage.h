// Extracting an image archive (a `docker save` tar or an OCI layout tar; plain, gzip, bzip2, xz
// or zstd) into a private staging directory, so images/source.cc can read it as a directory.
//
// The archive is untrusted. Only directories and regular files are written, each by *at() calls
// on directory fds opened component by component with O_NOFOLLOW from the staging directory
// (drivers/archive DirResolver), so no entry lands outside it. Symlink and hardlink entries are
// not created as such: after the last entry, each link whose target names an extracted regular
// file becomes a hardlink to that file (a symlink's target is resolved lexically against the
// link's directory, a hardlink's against the archive root). A link to anything else (a
// directory, a name no entry created) is skipped. Devices, fifos and sockets are skipped.
//
// Errnos: EPERM naming the entry (an absolute name, a ".." component, a link whose target leaves
// the archive), EIO (a truncated or corrupt archive; the error names the last entry read),
// ENOENT (no archive), else the failing syscall's.
#pragma once

#include <string>

#include "core/result.h"

namespace strata::images {

// Owns a staging directory holding an extracted archive. Move-only.
class StagedArchive {
 public:
  // Creates `staging_parent` (mode 0700; not its parents) if missing, then a fresh
  // `<staging_parent>/load-XXXXXX` (mkdtemp, mode 0700), and extracts `archive_path` into it.
  // Errors read "image archive <archive_path>: ...". On error nothing is left behind.
  // Regular files are streamed to disk block by block: memory does not grow with their size.
  static Result<StagedArchive> Extract(const std::string& archive_path,
                                       const std::string& staging_parent);

  StagedArchive(StagedArchive&& other) noexcept;
  StagedArchive& operator=(StagedArchive&& other) noexcept;
  StagedArchive(const StagedArchive&) = delete;
  StagedArchive& operator=(const StagedArchive&) = delete;
  // Removes dir() and everything below it (best effort, never follows a symlink).
  ~StagedArchive();

  // Absolute path of the staging directory.
  const std::string& dir() const { return dir_; }

 private:
  explicit StagedArchive(std::string dir) : dir_(std::move(dir)) {}
  void Remove();

  std::string dir_;  // "" once moved from
};

}  // namespace strata::images
