// LayerLock: the FileLock (core/file_lock.h) on <locks dir>/<id>.lock, serialising operations on
// one layer id across strata processes (create, mount, unmount, remove, export).
//
// Crash recovery uses LayerLock::Wait::kTry to tell a half-made layer of a dead process (lock
// free) from one a live process is still making (lock held).
//
// Lock order: a layer before its parent. Never take the same id twice in one process.
#pragma once

#include <chrono>
#include <string>
#include <utility>

#include "core/file_lock.h"
#include "core/result.h"

namespace strata::drivers {

class LayerLock {
 public:
  using Wait = FileLock::Wait;

  // Locks `id` in `locks_dir`. Errors: EBUSY "layer <id> is locked by another strata process
  // (waited ...)" after `timeout` (kBlock); EWOULDBLOCK (kTry); errors of mkdir/open.
  static Result<LayerLock> Acquire(const std::string& locks_dir, const std::string& id, Wait wait,
                                   std::chrono::milliseconds timeout) {
    STRATA_ASSIGN_OR_RETURN(FileLock lock,
                            FileLock::Acquire(locks_dir, id, "layer " + id, wait, timeout));
    return LayerLock(std::move(lock));
  }

  // Deletes the lock file while still holding it (the layer is gone).
  void RemoveFile() { lock_.RemoveFile(); }
  const std::string& path() const { return lock_.path(); }

 private:
  explicit LayerLock(FileLock lock) : lock_(std::move(lock)) {}
  FileLock lock_;
};

}  // namespace strata::drivers
