#include "tools/progress.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "core/units.h"

namespace strata::cli {

Progress::Progress(std::function<std::optional<std::string>()> line) : line_(std::move(line)) {
  if (::isatty(STDERR_FILENO)) thread_ = std::thread([this] { Loop(); });
}

Progress::~Progress() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  if (printed_) std::fputs("\n", stderr);
}

void Progress::Loop() {
  using namespace std::chrono_literals;
  std::unique_lock<std::mutex> lock(mu_);
  if (cv_.wait_for(lock, 1s, [this] { return stop_; })) return;
  do {
    std::optional<std::string> line = line_();
    if (!line) continue;
    std::fprintf(stderr, "\r%-70s", line->c_str());
    printed_ = true;
  } while (!cv_.wait_for(lock, 250ms, [this] { return stop_; }));
}

FdProgress::FdProgress(std::string label, int fd, uint64_t total_bytes)
    : progress_([label = std::move(label), fd, total_bytes]() -> std::optional<std::string> {
        off_t pos = ::lseek(fd, 0, SEEK_CUR);
        if (pos < 0) return std::nullopt;
        std::string line = label + ": " + FormatSize(static_cast<uint64_t>(pos));
        if (total_bytes > 0) {
          line += " / " + FormatSize(total_bytes) + " (" +
                  std::to_string(static_cast<uint64_t>(pos) * 100 / total_bytes) + "%)";
        }
        return line;
      }) {}

}  // namespace strata::cli
