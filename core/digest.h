// SHA-256 digests as OCI writes them ("sha256:<64 hex>"), on OpenSSL's libcrypto.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/result.h"

namespace strata {

// Incremental SHA-256 on the calling thread.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(const void* data, size_t size);
  // "sha256:<hex>". Call once.
  Result<std::string> Final();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// SHA-256 computed on a worker thread, so hashing overlaps the caller's I/O (an export writes
// and hashes the same bytes; on two cores this takes the hash off the critical path). Update
// copies into 1 MiB chunks handed to the worker; at most kMaxQueuedChunks wait, so memory stays
// bounded and a slow hash back-pressures the caller. Thread-safety: one producer thread.
class BackgroundSha256 {
 public:
  BackgroundSha256();
  ~BackgroundSha256();  // joins the worker
  BackgroundSha256(const BackgroundSha256&) = delete;
  BackgroundSha256& operator=(const BackgroundSha256&) = delete;

  void Update(const void* data, size_t size);
  // Waits for the worker and returns "sha256:<hex>". Call once.
  Result<std::string> Final();

 private:
  static constexpr size_t kChunkBytes = 1 << 20;
  static constexpr size_t kMaxQueuedChunks = 4;
  void Submit();
  void Work();

  Sha256 sha_;  // touched only by the worker until Final joins it
  std::vector<char> chunk_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::vector<char>> queue_;
  bool done_ = false;
  std::thread worker_;
};

}  // namespace strata
