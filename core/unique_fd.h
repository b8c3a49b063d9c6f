// Owning types for kernel objects and C handles.
#pragma once

#include <unistd.h>

#include <memory>
#include <utility>

namespace strata {

// UniqueFd owns one file descriptor. Move-only; closes on destruction. Every fd strata opens is
// O_CLOEXEC so a spawned helper never inherits it.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) Reset(other.Release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }

  int Get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }
  // Hands the fd to the caller, who now owns it.
  int Release() { return std::exchange(fd_, -1); }
  void Reset(int fd = -1) {
    if (fd_ >= 0) (void)::close(fd_);  // best effort: nothing to do about a failed close here
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// CPtr<T, Fn> owns a C handle freed by Fn: CPtr<archive, archive_read_free>.
template <auto Fn>
struct CDeleter {
  template <class T>
  void operator()(T* p) const {
    if (p) (void)Fn(p);
  }
};
template <class T, auto Fn>
using CPtr = std::unique_ptr<T, CDeleter<Fn>>;

// ScopeGuard runs a rollback action at scope exit unless Release()d.
//   auto undo = MakeGuard([&] { (void)fs.Remove(dir); });  ...  undo.Release();
template <class F>
class ScopeGuard {
 public:
  explicit ScopeGuard(F f) : f_(std::move(f)) {}
  ScopeGuard(ScopeGuard&& o) noexcept : f_(std::move(o.f_)), armed_(std::exchange(o.armed_, false)) {}
  ScopeGuard(const ScopeGuard&) = delete;
  ScopeGuard& operator=(const ScopeGuard&) = delete;
  ~ScopeGuard() {
    if (armed_) f_();
  }
  void Release() { armed_ = false; }

 private:
  F f_;
  bool armed_ = true;
};
template <class F>
ScopeGuard<F> MakeGuard(F f) {
  return ScopeGuard<F>(std::move(f));
}

}  // namespace strata
