#include "tests/fakes/fake_driver.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace strata {

using drivers::archive::ApplyStats;
using drivers::archive::Change;
using drivers::archive::ExportStats;

int FakeDriver::CallCount(const std::string& call) const {
  return static_cast<int>(std::count(calls_.begin(), calls_.end(), call));
}

void FakeDriver::LoseMount(const std::string& id) {
  auto it = layers_.find(id);
  if (it != layers_.end()) it->second.mounted = false;
}

strata::Status FakeDriver::Record(const std::string& op, const std::string& id) {
  calls_.push_back(op + " " + id);
  auto it = failures_.find(op);
  if (it == failures_.end() || it->second.empty()) return Ok();
  int code = it->second.front();
  it->second.pop_front();
  return Error::FromErrno(code, "fake " + op + " " + id);
}

strata::Status FakeDriver::Create(const std::string& id, const std::string& parent,
                                  drivers::LayerKind kind, const drivers::CreateOptions&) {
  STRATA_TRY(Record("create", id));
  if (layers_.count(id)) return Error(EEXIST, "fake create " + id + ": exists");
  if (!parent.empty() && !layers_.count(parent)) {
    return Error(ENOENT, "fake create " + id + ": no parent " + parent);
  }
  layers_[id] = Layer{parent, kind, false, 0};
  return Ok();
}

strata::Status FakeDriver::Remove(const std::string& id) {
  STRATA_TRY(Record("remove", id));
  layers_.erase(id);
  return Ok();
}

Result<std::string> FakeDriver::Mount(const std::string& id) {
  STRATA_TRY(Record("mount", id));
  auto it = layers_.find(id);
  if (it == layers_.end()) return Error(ENOENT, "fake mount " + id + ": no such layer");
  it->second.mounted = true;
  return MountPath(id);
}

strata::Status FakeDriver::Unmount(const std::string& id) {
  STRATA_TRY(Record("unmount", id));
  auto it = layers_.find(id);
  if (it != layers_.end()) it->second.mounted = false;
  return Ok();
}

Result<bool> FakeDriver::IsMounted(const std::string& id) {
  STRATA_TRY(Record("ismounted", id));
  auto it = layers_.find(id);
  return it != layers_.end() && it->second.mounted;
}

Result<std::vector<Change>> FakeDriver::Changes(const std::string& id) {
  STRATA_TRY(Record("changes", id));
  if (!layers_.count(id)) return Error(ENOENT, "fake changes " + id + ": no such layer");
  return changes_;
}

Result<ExportStats> FakeDriver::Diff(const std::string& id, int out_fd,
                                     drivers::archive::Compression) {
  STRATA_TRY(Record("diff", id));
  if (!layers_.count(id)) return Error(ENOENT, "fake diff " + id + ": no such layer");
  const std::string body = "fake diff of " + id;
  if (::write(out_fd, body.data(), body.size()) != static_cast<ssize_t>(body.size())) {
    return Error::FromErrno("fake diff write");
  }
  return ExportStats{"sha256:" + std::string(64, 'f'), body.size(), 1};
}

// Reads the whole stream first, so an injected failure happens after a (partial) apply.
Result<ApplyStats> FakeDriver::ApplyDiff(const std::string& id, int in_fd) {
  uint64_t total = 0;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(in_fd, buf, sizeof(buf))) > 0) total += static_cast<uint64_t>(n);
  if (n < 0) return Error::FromErrno("fake apply read");
  auto it = layers_.find(id);
  if (it != layers_.end()) it->second.applied_bytes = total;
  STRATA_TRY(Record("apply", id));
  if (it == layers_.end()) return Error(ENOENT, "fake apply " + id + ": no such layer");
  return ApplyStats{1, total};
}

Result<uint64_t> FakeDriver::DiffSize(const std::string& id) {
  STRATA_TRY(Record("diffsize", id));
  auto it = layers_.find(id);
  if (it == layers_.end()) return Error(ENOENT, "fake diffsize " + id + ": no such layer");
  return it->second.applied_bytes;
}

}  // namespace strata
