#include "core/file_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <thread>

namespace strata {
namespace {

Status MakeDir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST) return Ok();
  return Error::FromErrno("create lock directory " + dir);
}

// One flock attempt without blocking: true when taken, false when held elsewhere.
Result<bool> TryFlock(int fd, const std::string& path) {
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) return false;
    if (errno != EINTR) return Error::FromErrno("flock " + path);
  }
  return true;
}

// After locking: is `fd` still the file at `path`? RemoveFile may have unlinked it between our
// open and our flock; then the lock guards nothing and we must retry on the new file.
Result<bool> StillLinked(int fd, const std::string& path) {
  struct stat by_fd {};
  struct stat by_path {};
  if (::fstat(fd, &by_fd) != 0) return Error::FromErrno("fstat " + path);
  if (::stat(path.c_str(), &by_path) != 0) {
    if (errno == ENOENT) return false;
    return Error::FromErrno("stat " + path);
  }
  return by_fd.st_dev == by_path.st_dev && by_fd.st_ino == by_path.st_ino;
}

std::string FormatWait(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + "s";
  return std::to_string(d.count()) + "ms";
}

}  // namespace

Result<FileLock> FileLock::Acquire(const std::string& dir, const std::string& name,
                                   const std::string& what, Wait wait,
                                   std::chrono::milliseconds timeout) {
  STRATA_TRY(MakeDir(dir));
  const std::string path = dir + "/" + name + ".lock";
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto backoff = std::chrono::milliseconds(2);
  while (true) {
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd) return Error::FromErrno("open lock file " + path);
    // Polling instead of a blocking flock bounds the wait: a wedged holder yields an error, not
    // a hang.
    while (true) {
      STRATA_ASSIGN_OR_RETURN(bool locked, TryFlock(fd.Get(), path));
      if (locked) break;
      if (wait == Wait::kTry) {
        return Error(EWOULDBLOCK, what + " is locked by another strata process");
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        return Error(EBUSY, what + " is locked by another strata process (waited " +
                            FormatWait(timeout) + "); try again");
      }
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(50));
    }
    STRATA_ASSIGN_OR_RETURN(bool linked, StillLinked(fd.Get(), path));
    if (linked) return FileLock(std::move(fd), path);
    // Unlinked under us: drop this lock and take the one on the current file.
  }
}

void FileLock::RemoveFile() {
  if (!fd_) return;
  (void)::unlink(path_.c_str());  // best effort: a leftover lock file is harmless
}

}  // namespace strata
