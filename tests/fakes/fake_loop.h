// FakeLoop: an in-memory sys::Loop for unit tests. Records calls, simulates bound devices and
// backing-file sizes, and fails on demand:
//   FakeLoop loop;
//   loop.FailNext("configure", EBUSY);  // another process took the free index
//   auto a = AttachLoop(loop, "/f", {});
//   EXPECT_THAT(loop.calls(), ElementsAre("get_free", "configure 0 /f", "get_free", ...));
// Not thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "core/sys/loop.h"

namespace strata {

class FakeLoop : public sys::Loop {
 public:
  struct Bound {
    std::string backing_file;
    sys::LoopConfig config;
    uint64_t size_bytes = 0;  // the capacity the device was given (at configure/set_capacity)
  };

  // The next call of `op` fails with `code`; queued per op, each used once. ops: "get_free",
  // "configure", "detach", "find", "set_capacity", "size".
  void FailNext(const std::string& op, int code) { failures_[op].push_back(code); }
  // Sets a simulated backing file's size (default 0). Configure/SetCapacity read it.
  void SetFileSize(const std::string& path, uint64_t size_bytes) { file_sizes_[path] = size_bytes; }

  // "get_free", "configure <index> <file> [ro] [dio] [autoclear]", "detach <path>",
  // "find <file>", "set_capacity <path>", "size <path>"; failed calls included.
  const std::vector<std::string>& calls() const { return calls_; }
  void ClearCalls() { calls_.clear(); }
  // Bound devices by index.
  const std::map<int, Bound>& bound() const { return bound_; }

  // The lowest unbound index.
  Result<int> GetFree() override;
  // EBUSY when `index` is bound. Returns an fd of /dev/null standing in for the device.
  Result<UniqueFd> Configure(int index, const std::string& backing_file,
                             const sys::LoopConfig& config) override;
  Status Detach(const sys::LoopDevice& device) override;  // ENXIO when unbound
  Result<sys::LoopDevice> FindByBackingFile(const std::string& backing_file) override;
  Status SetCapacity(const sys::LoopDevice& device) override;          // ENXIO when unbound
  Result<uint64_t> SizeBytes(const sys::LoopDevice& device) override;  // 0 when unbound

 private:
  int TakeFailure(const std::string& op);

  std::map<std::string, std::deque<int>> failures_;
  std::map<std::string, uint64_t> file_sizes_;
  std::vector<std::string> calls_;
  std::map<int, Bound> bound_;
};

}  // namespace strata
