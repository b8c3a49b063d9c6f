#include "core/digest.h"

#include <openssl/evp.h>

#include <cstring>

#include "core/unique_fd.h"

namespace strata {

struct Sha256::State {
  CPtr<EVP_MD_CTX, EVP_MD_CTX_free> ctx{EVP_MD_CTX_new()};
  bool ok = false;
};

Sha256::Sha256() : state_(std::make_unique<State>()) {
  state_->ok = state_->ctx && EVP_DigestInit_ex(state_->ctx.get(), EVP_sha256(), nullptr) == 1;
}

Sha256::~Sha256() = default;

void Sha256::Update(const void* data, size_t size) {
  if (state_->ok) state_->ok = EVP_DigestUpdate(state_->ctx.get(), data, size) == 1;
}

Result<std::string> Sha256::Final() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned size = 0;
  if (!state_->ok || EVP_DigestFinal_ex(state_->ctx.get(), digest, &size) != 1) {
    return Error(EIO, "sha256: libcrypto failed");
  }
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out = "sha256:";
  for (unsigned i = 0; i < size; ++i) {
    out += kDigits[digest[i] >> 4];
    out += kDigits[digest[i] & 0xf];
  }
  return out;
}

BackgroundSha256::BackgroundSha256() : worker_([this] { Work(); }) {
  chunk_.reserve(kChunkBytes);
}

BackgroundSha256::~BackgroundSha256() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void BackgroundSha256::Update(const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    size_t n = std::min(size, kChunkBytes - chunk_.size());
    chunk_.insert(chunk_.end(), p, p + n);
    p += n;
    size -= n;
    if (chunk_.size() == kChunkBytes) Submit();
  }
}

void BackgroundSha256::Submit() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return queue_.size() < kMaxQueuedChunks; });
  queue_.push_back(std::move(chunk_));
  chunk_ = std::vector<char>();
  chunk_.reserve(kChunkBytes);
  lock.unlock();
  cv_.notify_all();
}

void BackgroundSha256::Work() {
  for (;;) {
    std::vector<char> chunk;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return done_ || !queue_.empty(); });
      if (queue_.empty()) return;  // done_ and drained
      chunk = std::move(queue_.front());
      queue_.pop_front();
    }
    cv_.notify_all();
    sha_.Update(chunk.data(), chunk.size());
  }
}

Result<std::string> BackgroundSha256::Final() {
  if (!chunk_.empty()) Submit();
  {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
  return sha_.Final();
}

}  // namespace strata
