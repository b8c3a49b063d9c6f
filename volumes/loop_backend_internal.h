// Internals of the loop backend, exposed for tests: the image copy policy and a factory that
// takes the file seam (NewLoopBackend uses sys::LinuxFiles()).
#pragma once

#include <memory>
#include <string>

#include "core/result.h"
#include "core/sys/files.h"
#include "volumes/backend.h"

namespace strata::volumes {

// <root>/volumes/loop/<name>.img
std::string LoopImagePath(const std::string& root, const std::string& name);

// Copies the file open as `src_fd` into the empty file `dst_fd`, preserving holes: a reflink
// (FICLONE) where the filesystem shares extents, else the data extents one by one (SEEK_DATA /
// SEEK_HOLE + copy_file_range, which the kernel may still turn into a reflink), after sizing the
// destination to the source's `size_bytes` so the tail hole stays a hole.
// Errors: the seam's, wrapped with "copy".
Status CopyImage(sys::Files& files, int src_fd, int dst_fd, uint64_t size_bytes);

std::unique_ptr<Backend> NewLoopBackendWithFiles(const BackendEnv& env, sys::Files& files);

}  // namespace strata::volumes
