// Progress for long operations: while alive, a background thread prints how far an fd has got
// ("import: 120M / 512M (23%)") on stderr, but only when stderr is a terminal and only after the
// operation has run for a second, so quick commands and scripts see nothing.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace strata::cli {

class FdProgress {
 public:
  // `fd` must stay open while this object lives; `total_bytes` 0 means unknown.
  FdProgress(std::string label, int fd, uint64_t total_bytes);
  ~FdProgress();
  FdProgress(const FdProgress&) = delete;
  FdProgress& operator=(const FdProgress&) = delete;

 private:
  void Loop();
  std::string label_;
  int fd_;
  uint64_t total_bytes_;
  bool printed_ = false;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace strata::cli
