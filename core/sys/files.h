// The file seam for what plain open/read/write do not cover: reflink clones, sparse-aware copy
// steps, and freezing a filesystem. One thin call per kernel operation, no retries, no
// fallbacks, no policy: the "clone, else copy the data extents" decision and the freeze/thaw
// pairing live with the caller (volumes/loop_backend.cc: CopyImage).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/result.h"

namespace strata::sys {

class Files {
 public:
  virtual ~Files() = default;

  // FICLONE: makes `dst_fd`'s content a reflinked copy of all of `src_fd` (the destination's
  // size becomes the source's). Errors: EOPNOTSUPP (or ENOTTY/EINVAL) when the filesystem cannot
  // share extents, EXDEV across filesystems; callers then copy.
  virtual Status Clone(int src_fd, int dst_fd) = 0;

  // lseek(SEEK_DATA): the first offset >= `offset_bytes` holding data; nullopt when there is no
  // more data (ENXIO: only a hole up to the end of the file).
  virtual Result<std::optional<uint64_t>> SeekData(int fd, uint64_t offset_bytes) = 0;

  // lseek(SEEK_HOLE): the first offset >= `offset_bytes` in a hole (the file size at the end).
  virtual Result<uint64_t> SeekHole(int fd, uint64_t offset_bytes) = 0;

  // One copy_file_range(2) of up to `length_bytes` at the same offset in both files. Returns the
  // bytes copied, which may be fewer than asked (0 at the source's end of file).
  virtual Result<uint64_t> CopyRange(int src_fd, int dst_fd, uint64_t offset_bytes,
                                     uint64_t length_bytes) = 0;

  // FIFREEZE on the filesystem mounted at `mount_point`: flushes it and blocks new writes until
  // Thaw. Errors: EBUSY when already frozen, EOPNOTSUPP when the filesystem cannot freeze.
  virtual Status Freeze(const std::string& mount_point) = 0;

  // FITHAW. Errors: EINVAL when not frozen.
  virtual Status Thaw(const std::string& mount_point) = 0;
};

// The Linux implementation (core/sys/linux_files.cc). Lives for the whole process.
Files& LinuxFiles();

}  // namespace strata::sys
