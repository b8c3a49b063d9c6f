// Progress for long operations: while alive, a background thread prints a status line
// ("import: 120M / 512M (23%)") on stderr, rewritten in place every 250 ms, but only when stderr
// is a terminal and only after the operation has run for a second, so quick commands and
// scripts see nothing.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace strata::cli {

class Progress {
 public:
  // `line` runs on the background thread and returns the text to show (nullopt: none now). It
  // must only read state that is safe to read concurrently (atomics).
  explicit Progress(std::function<std::optional<std::string>()> line);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

 private:
  void Loop();
  std::function<std::optional<std::string>()> line_;
  bool printed_ = false;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// How far reading `fd` has got: its file position against `total_bytes` (0: unknown). `fd` must
// stay open while this object lives; a pipe (no position) shows nothing.
class FdProgress {
 public:
  FdProgress(std::string label, int fd, uint64_t total_bytes);

 private:
  Progress progress_;
};

}  // namespace strata::cli
