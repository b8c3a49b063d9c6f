// LayerLock: an exclusive flock(2) on <locks dir>/<id>.lock, serialising operations on one layer
// id across strata processes (create, mount, unmount, remove, export).
//
// The kernel drops a flock when its holder dies, so a held lock always means a live holder: crash
// recovery uses LayerLock::kTry to tell a half-made layer of a dead process (lock free) from one a
// live process is still making (lock held).
//
// Lock order: a layer before its parent. Never take the same id twice in one process (flock locks
// belong to the open file, so a second open of the same file would wait for the first).
#pragma once

#include <chrono>
#include <string>
#include <utility>

#include "core/result.h"
#include "core/unique_fd.h"

namespace strata::drivers {

class LayerLock {
 public:
  enum class Wait {
    kBlock,  // wait up to the timeout
    kTry,    // fail at once with EWOULDBLOCK when held elsewhere
  };

  // Locks `id` in `locks_dir` (created 0700 if missing). Errors: EBUSY naming the id after
  // `timeout` (kBlock); EWOULDBLOCK (kTry); errors of mkdir/open.
  static Result<LayerLock> Acquire(const std::string& locks_dir, const std::string& id, Wait wait,
                                   std::chrono::milliseconds timeout);

  LayerLock(LayerLock&&) noexcept = default;
  LayerLock& operator=(LayerLock&&) noexcept = default;
  // Closing the fd releases the lock.
  ~LayerLock() = default;

  // Deletes the lock file while still holding it (the layer is gone), so the locks directory
  // does not grow. Waiters that opened the old file notice and retry on a fresh one.
  void RemoveFile();

  const std::string& path() const { return path_; }

 private:
  LayerLock(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}

  UniqueFd fd_;
  std::string path_;
};

}  // namespace strata::drivers
