// Loop-device policy on top of the sys::Loop seam: attach with retry and fallback, and the owning
// guard that detaches.
#pragma once

#include <string>
#include <utility>

#include "core/result.h"
#include "core/sys/loop.h"
#include "core/unique_fd.h"

namespace strata {

// How many times AttachLoop re-asks for a free index when another process binds it first.
inline constexpr int kLoopAttachAttempts = 8;

// Owns one loop attachment: the open device fd and the duty to detach. Move-only. The destructor
// detaches (best effort) unless Release()d. Not thread-safe.
class LoopAttachment {
 public:
  // Takes ownership of `device_fd` and of detaching `device`. `loop` must outlive this.
  LoopAttachment(sys::Loop& loop, sys::LoopDevice device, UniqueFd device_fd, sys::LoopIo io)
      : loop_(&loop), device_(std::move(device)), fd_(std::move(device_fd)), io_(io) {}
  LoopAttachment(LoopAttachment&& other) noexcept;
  LoopAttachment& operator=(LoopAttachment&& other) noexcept;
  LoopAttachment(const LoopAttachment&) = delete;
  LoopAttachment& operator=(const LoopAttachment&) = delete;
  ~LoopAttachment() { (void)Detach(); }  // best effort: destructors never fail

  const sys::LoopDevice& device() const { return device_; }
  // The I/O mode actually configured: kBuffered when direct I/O was asked for but refused.
  sys::LoopIo io() const { return io_; }
  int fd() const { return fd_.Get(); }

  // Detaches now (LOOP_CLR_FD, then closes the device fd; the kernel finishes the detach at the
  // last close). Idempotent: a released or already detached attachment returns Ok. Errors: the
  // seam's (ENXIO: someone else detached it).
  Status Detach();

  // Stops owning the detach: the device stays attached. The device fd still closes with this
  // object, so an autoclear device then goes away unless something else (a mount) holds it open.
  sys::LoopDevice Release();

 private:
  sys::Loop* loop_;
  sys::LoopDevice device_;
  UniqueFd fd_;
  sys::LoopIo io_;
  bool armed_ = true;
};

// Attaches `backing_file` to a free loop device: GetFree + Configure, retried up to
// kLoopAttachAttempts times when another process takes the free index first (EBUSY). When
// direct I/O is asked for and the kernel refuses it (EINVAL), configures buffered I/O instead
// (see LoopAttachment::io()).
// Errors: EBUSY after all attempts; otherwise the seam's errno (ENOENT, EACCES, ENOSPC, ...),
// wrapped with "attach loop <backing_file>".
Result<LoopAttachment> AttachLoop(sys::Loop& loop, const std::string& backing_file,
                                  const sys::LoopConfig& config);

}  // namespace strata
