#include "core/write_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "core/random_id.h"
#include "core/unique_fd.h"

namespace strata {

std::string TempName(const std::string& name) {
  return std::string(kTempPrefix) + name + "-" + RandomHex(12);
}

Status WriteFile(const std::string& path, const std::string& content) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return Error::FromErrno("open " + path);
  ssize_t n;
  do {
    n = ::write(fd.Get(), content.data(), content.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) return Error::FromErrno("write " + path);
  if (static_cast<size_t>(n) != content.size())
    return Error(EIO, "write " + path + ": short write");
  return Ok();
}

Status WriteFileAtomic(const std::string& path, const std::string& content, mode_t mode) {
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "" : path.substr(0, slash + 1);
  const std::string tmp = dir + TempName(path.substr(dir.size()));
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (!fd) return Error::FromErrno("create " + tmp);
  auto cleanup = MakeGuard([&] { (void)::unlink(tmp.c_str()); });  // best effort: temp file
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd.Get(), content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::FromErrno("write " + tmp);
    done += static_cast<size_t>(n);
  }
  // fsync before rename: otherwise a crash can leave the new name pointing at an empty file
  // (delayed allocation). An empty file has no data to lose: the journal orders its creation
  // before the rename.
  if (!content.empty() && ::fsync(fd.Get()) != 0) return Error::FromErrno("fsync " + tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Error::FromErrno("rename to " + path);
  cleanup.Release();
  return Ok();
}

}  // namespace strata
