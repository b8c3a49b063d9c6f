// The loop-device seam: one thin call per kernel operation, no retries, no fallbacks, no policy.
// Policy (retrying a raced free index, falling back from direct I/O, the owning guard) lives in
// core/loop.h. Fakes live in tests/fakes/.
#pragma once

#include <cstdint>
#include <string>

#include "core/result.h"
#include "core/unique_fd.h"

namespace strata::sys {

struct LoopDevice {
  int index = -1;
  std::string path;  // "/dev/loop<index>"
};

enum class LoopAccess { kReadWrite, kReadOnly };
enum class LoopIo { kBuffered, kDirect };
// kOnLastClose: the kernel detaches the device when its last opener closes (LO_FLAGS_AUTOCLEAR),
// so a mount of it keeps it alive and unmounting frees it.
enum class LoopAutoclear { kOnLastClose, kNever };

struct LoopConfig {  // the LOOP_CONFIGURE parameters strata uses
  LoopAccess access = LoopAccess::kReadWrite;
  LoopIo io = LoopIo::kBuffered;
  LoopAutoclear autoclear = LoopAutoclear::kOnLastClose;
  uint32_t block_size_bytes = 0;  // 0 = kernel default (512)
};

class Loop {
 public:
  virtual ~Loop() = default;

  // LOOP_CTL_GET_FREE on /dev/loop-control: the index of an unbound device, created if needed.
  // Another process may bind it before we do (Configure then fails with EBUSY).
  // Errors: ENOENT without /dev/loop-control (no loop driver), the ioctl's errno (ENOSPC...).
  virtual Result<int> GetFree() = 0;

  // Opens `backing_file` (O_RDWR, or O_RDONLY for kReadOnly) and /dev/loop<index>, then
  // LOOP_CONFIGURE. Returns the open device fd, which the caller now owns: with kOnLastClose,
  // closing the last fd of an unmounted device detaches it.
  // Errors: EBUSY when the device is already bound; EINVAL for parameters the kernel refuses
  // (on recent kernels: direct I/O the backing file cannot do); ENOENT/EACCES opening files.
  virtual Result<UniqueFd> Configure(int index, const std::string& backing_file,
                                     const LoopConfig& config) = 0;

  // LOOP_CLR_FD. If the device is still open elsewhere the kernel defers the detach to the last
  // close. Errors: ENXIO when the device is not bound; ENOENT when it does not exist.
  virtual Status Detach(const LoopDevice& device) = 0;

  // The bound device whose backing file is `backing_file` (same st_dev/st_ino when the sysfs
  // path can be stat()ed, else the same path string); the lowest index when several are.
  // Errors: ENOENT when none is; the errno of stat(backing_file).
  virtual Result<LoopDevice> FindByBackingFile(const std::string& backing_file) = 0;

  // LOOP_SET_CAPACITY: re-reads the backing file's size (after the file grew). Errors: ENXIO
  // when not bound.
  virtual Status SetCapacity(const LoopDevice& device) = 0;

  // BLKGETSIZE64: the device size in bytes (0 when unbound).
  virtual Result<uint64_t> SizeBytes(const LoopDevice& device) = 0;
};

// "/dev/loop<index>".
inline LoopDevice LoopDeviceFor(int index) {
  return LoopDevice{index, "/dev/loop" + std::to_string(index)};
}

// The Linux implementation (core/sys/linux_loop.cc). Lives for the whole process.
Loop& LinuxLoop();

}  // namespace strata::sys
