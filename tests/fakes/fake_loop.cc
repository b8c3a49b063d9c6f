#include "tests/fakes/fake_loop.h"

#include <fcntl.h>

#include <cerrno>
#include <cstring>

namespace strata {
namespace {

Error Injected(int code, const std::string& what) {
  return Error(code, what + ": " + std::strerror(code) + " (injected)");
}

std::string Describe(int index, const std::string& file, const sys::LoopConfig& c) {
  std::string s = "configure " + std::to_string(index) + " " + file;
  if (c.access == sys::LoopAccess::kReadOnly) s += " ro";
  if (c.io == sys::LoopIo::kDirect) s += " dio";
  if (c.autoclear == sys::LoopAutoclear::kOnLastClose) s += " autoclear";
  return s;
}

}  // namespace

int FakeLoop::TakeFailure(const std::string& op) {
  auto it = failures_.find(op);
  if (it == failures_.end() || it->second.empty()) return 0;
  int code = it->second.front();
  it->second.pop_front();
  return code;
}

Result<int> FakeLoop::GetFree() {
  calls_.push_back("get_free");
  if (int code = TakeFailure("get_free")) return Injected(code, "LOOP_CTL_GET_FREE");
  int index = 0;
  while (bound_.count(index)) ++index;
  return index;
}

Result<UniqueFd> FakeLoop::Configure(int index, const std::string& backing_file,
                                     const sys::LoopConfig& config) {
  calls_.push_back(Describe(index, backing_file, config));
  std::string what = "LOOP_CONFIGURE /dev/loop" + std::to_string(index) + " " + backing_file;
  if (int code = TakeFailure("configure")) return Injected(code, what);
  if (bound_.count(index)) return Error::FromErrno(EBUSY, what);
  bound_[index] = Bound{backing_file, config, file_sizes_[backing_file]};
  return UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
}

Status FakeLoop::Detach(const sys::LoopDevice& device) {
  calls_.push_back("detach " + device.path);
  if (int code = TakeFailure("detach")) return Injected(code, "LOOP_CLR_FD " + device.path);
  if (bound_.erase(device.index) == 0) return Error::FromErrno(ENXIO, "LOOP_CLR_FD " + device.path);
  return Ok();
}

Result<sys::LoopDevice> FakeLoop::FindByBackingFile(const std::string& backing_file) {
  calls_.push_back("find " + backing_file);
  if (int code = TakeFailure("find")) return Injected(code, "find loop " + backing_file);
  for (const auto& [index, b] : bound_) {
    if (b.backing_file == backing_file) return sys::LoopDeviceFor(index);
  }
  return Error(ENOENT, "no loop device backed by " + backing_file);
}

Status FakeLoop::SetCapacity(const sys::LoopDevice& device) {
  calls_.push_back("set_capacity " + device.path);
  std::string what = "LOOP_SET_CAPACITY " + device.path;
  if (int code = TakeFailure("set_capacity")) return Injected(code, what);
  auto it = bound_.find(device.index);
  if (it == bound_.end()) return Error::FromErrno(ENXIO, what);
  it->second.size_bytes = file_sizes_[it->second.backing_file];
  return Ok();
}

Result<uint64_t> FakeLoop::SizeBytes(const sys::LoopDevice& device) {
  calls_.push_back("size " + device.path);
  if (int code = TakeFailure("size")) return Injected(code, "BLKGETSIZE64 " + device.path);
  auto it = bound_.find(device.index);
  return it == bound_.end() ? uint64_t{0} : it->second.size_bytes;
}

}  // namespace strata
