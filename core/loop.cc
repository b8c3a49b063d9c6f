#include "core/loop.h"

#include <cerrno>
#include <utility>

namespace strata {

LoopAttachment::LoopAttachment(LoopAttachment&& other) noexcept
    : loop_(other.loop_),
      device_(std::move(other.device_)),
      fd_(std::move(other.fd_)),
      io_(other.io_),
      armed_(std::exchange(other.armed_, false)) {}

LoopAttachment& LoopAttachment::operator=(LoopAttachment&& other) noexcept {
  if (this != &other) {
    (void)Detach();  // best effort: the old attachment is being replaced
    loop_ = other.loop_;
    device_ = std::move(other.device_);
    fd_ = std::move(other.fd_);
    io_ = other.io_;
    armed_ = std::exchange(other.armed_, false);
  }
  return *this;
}

Status LoopAttachment::Detach() {
  if (!armed_) return Ok();
  armed_ = false;
  Status st = loop_->Detach(device_);
  fd_.Reset();  // after LOOP_CLR_FD: our fd was an opener, the last close completes the detach
  return st;
}

sys::LoopDevice LoopAttachment::Release() {
  armed_ = false;
  return device_;
}

namespace {

// One GetFree + Configure round. EBUSY means the index was taken between the two calls.
Result<LoopAttachment> TryAttach(sys::Loop& loop, const std::string& backing_file,
                                 const sys::LoopConfig& config) {
  STRATA_ASSIGN_OR_RETURN(int index, loop.GetFree());
  STRATA_ASSIGN_OR_RETURN(UniqueFd fd, loop.Configure(index, backing_file, config));
  return LoopAttachment(loop, sys::LoopDeviceFor(index), std::move(fd), config.io);
}

Result<LoopAttachment> AttachWithRetry(sys::Loop& loop, const std::string& backing_file,
                                       const sys::LoopConfig& config) {
  for (int attempt = 1;; ++attempt) {
    Result<LoopAttachment> r = TryAttach(loop, backing_file, config);
    if (r.ok() || r.error().code() != EBUSY || attempt >= kLoopAttachAttempts) return r;
  }
}

}  // namespace

Result<LoopAttachment> AttachLoop(sys::Loop& loop, const std::string& backing_file,
                                  const sys::LoopConfig& config) {
  const std::string context = "attach loop " + backing_file;
  Result<LoopAttachment> r = AttachWithRetry(loop, backing_file, config);
  if (r.ok() || config.io != sys::LoopIo::kDirect || r.error().code() != EINVAL) {
    return std::move(r).Wrap(context);
  }
  sys::LoopConfig buffered = config;  // direct I/O refused: the backing fs cannot do O_DIRECT
  buffered.io = sys::LoopIo::kBuffered;
  return AttachWithRetry(loop, backing_file, buffered).Wrap(context);
}

}  // namespace strata
