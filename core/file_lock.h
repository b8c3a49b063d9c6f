// FileLock: an exclusive flock(2) on <dir>/<name>.lock, serialising work on one named thing (a
// layer, a thin pool) across strata processes.
//
// The kernel drops a flock when its holder dies, so a held lock always means a live holder.
// flock locks belong to the open file: never take the same lock twice in one process (a second
// open of the same file would wait for the first); callers that nest keep a depth count.
#pragma once

#include <chrono>
#include <string>
#include <utility>

#include "core/result.h"
#include "core/unique_fd.h"

namespace strata {

class FileLock {
 public:
  enum class Wait {
    kBlock,  // wait up to the timeout
    kTry,    // fail at once with EWOULDBLOCK when held elsewhere
  };

  // Locks <dir>/<name>.lock (dir created 0700 if missing). `what` names the locked thing in
  // errors: EBUSY "<what> is locked by another strata process (waited 5s); try again" after
  // `timeout` (kBlock); EWOULDBLOCK (kTry); errors of mkdir/open.
  static Result<FileLock> Acquire(const std::string& dir, const std::string& name,
                                  const std::string& what, Wait wait,
                                  std::chrono::milliseconds timeout);

  FileLock(FileLock&&) noexcept = default;
  FileLock& operator=(FileLock&&) noexcept = default;
  // Closing the fd releases the lock.
  ~FileLock() = default;

  // Deletes the lock file while still holding it (the thing is gone), so the directory does not
  // grow. Waiters that opened the old file notice and retry on a fresh one.
  void RemoveFile();

  const std::string& path() const { return path_; }

 private:
  FileLock(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}

  UniqueFd fd_;
  std::string path_;
};

}  // namespace strata
