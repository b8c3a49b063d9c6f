#include "tools/progress.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "core/units.h"

namespace strata::cli {

FdProgress::FdProgress(std::string label, int fd, uint64_t total_bytes)
    : label_(std::move(label)), fd_(fd), total_bytes_(total_bytes) {
  if (::isatty(STDERR_FILENO)) thread_ = std::thread([this] { Loop(); });
}

FdProgress::~FdProgress() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  if (printed_) std::fputs("\n", stderr);
}

void FdProgress::Loop() {
  using namespace std::chrono_literals;
  std::unique_lock<std::mutex> lock(mu_);
  if (cv_.wait_for(lock, 1s, [this] { return stop_; })) return;
  do {
    off_t pos = ::lseek(fd_, 0, SEEK_CUR);  // a pipe has no position: show nothing for it
    if (pos < 0) return;
    std::string line = label_ + ": " + FormatSize(static_cast<uint64_t>(pos));
    if (total_bytes_ > 0) {
      line += " / " + FormatSize(total_bytes_) + " (" +
              std::to_string(static_cast<uint64_t>(pos) * 100 / total_bytes_) + "%)";
    }
    std::fprintf(stderr, "\r%-60s", line.c_str());
    printed_ = true;
  } while (!cv_.wait_for(lock, 250ms, [this] { return stop_; }));
}

}  // namespace strata::cli
