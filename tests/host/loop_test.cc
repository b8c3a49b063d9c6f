// LinuxLoop and AttachLoop against the real kernel (root, /dev/loop-control).
#include "core/loop.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "core/sys/loop.h"

namespace strata {
namespace {

constexpr uint64_t kMiB = 1024 * 1024;

std::string ReadSysfs(const sys::LoopDevice& dev, const std::string& attr) {
  std::ifstream in("/sys/block/loop" + std::to_string(dev.index) + "/" + attr);
  std::string value;
  std::getline(in, value);
  return value;  // "" when the attribute is absent (device unbound)
}

// The kernel may finish an autoclear detach just after the last close returns.
bool WaitUnbound(const sys::LoopDevice& dev) {
  for (int i = 0; i < 200; ++i) {
    if (ReadSysfs(dev, "loop/backing_file").empty()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

class LoopHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0 || ::access("/dev/loop-control", F_OK) != 0) {
      GTEST_SKIP() << "needs root and /dev/loop-control";
    }
    char tmpl[] = "/var/tmp/strata-loop-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    file_ = dir_ + "/disk.img";
    Resize(64 * kMiB);
  }
  void TearDown() override {
    if (!dir_.empty()) (void)std::system(("rm -rf " + dir_).c_str());  // best effort: scratch
  }
  void Resize(uint64_t size_bytes) {  // sparse
    int fd = ::open(file_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(size_bytes)), 0);
    ::close(fd);
  }
  static sys::LoopConfig Persistent() {
    sys::LoopConfig c;
    c.autoclear = sys::LoopAutoclear::kNever;
    return c;
  }
  std::string dir_, file_;
};

TEST_F(LoopHostTest, AttachGrowFindDetach) {
  auto a = AttachLoop(sys::LinuxLoop(), file_, Persistent());
  ASSERT_TRUE(a.ok()) << a.error().message();
  const sys::LoopDevice dev = a->device();
  EXPECT_EQ(ReadSysfs(dev, "loop/backing_file"), file_);
  EXPECT_EQ(ReadSysfs(dev, "loop/autoclear"), "0");
  EXPECT_EQ(ReadSysfs(dev, "size"), std::to_string(64 * kMiB / 512));
  EXPECT_EQ(*sys::LinuxLoop().SizeBytes(dev), 64 * kMiB);

  Resize(128 * kMiB);
  EXPECT_EQ(ReadSysfs(dev, "size"), std::to_string(64 * kMiB / 512));  // not until told
  ASSERT_TRUE(sys::LinuxLoop().SetCapacity(dev).ok());
  EXPECT_EQ(ReadSysfs(dev, "size"), std::to_string(128 * kMiB / 512));
  EXPECT_EQ(*sys::LinuxLoop().SizeBytes(dev), 128 * kMiB);

  auto found = sys::LinuxLoop().FindByBackingFile(file_);
  ASSERT_TRUE(found.ok()) << found.error().message();
  EXPECT_EQ(found->index, dev.index);
  EXPECT_EQ(found->path, dev.path);
  // A different spelling of the same file matches by st_dev/st_ino, not by string.
  std::string link = dir_ + "/link.img";
  ASSERT_EQ(::symlink(file_.c_str(), link.c_str()), 0);
  found = sys::LinuxLoop().FindByBackingFile(link);
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->index, dev.index);

  ASSERT_TRUE(a->Detach().ok());
  EXPECT_TRUE(WaitUnbound(dev));
  EXPECT_EQ(sys::LinuxLoop().FindByBackingFile(file_).error().code(), ENOENT);
  EXPECT_EQ(sys::LinuxLoop().Detach(dev).error().code(), ENXIO);
}

TEST_F(LoopHostTest, DestructorDetaches) {
  sys::LoopDevice dev;
  {
    auto a = AttachLoop(sys::LinuxLoop(), file_, Persistent());
    ASSERT_TRUE(a.ok()) << a.error().message();
    dev = a->device();
    EXPECT_EQ(ReadSysfs(dev, "loop/backing_file"), file_);
  }
  EXPECT_TRUE(WaitUnbound(dev));
}

TEST_F(LoopHostTest, AutoclearDetachesAtLastClose) {
  sys::LoopConfig config;  // autoclear is the default
  auto a = AttachLoop(sys::LinuxLoop(), file_, config);
  ASSERT_TRUE(a.ok()) << a.error().message();
  const sys::LoopDevice dev = a->device();
  EXPECT_EQ(ReadSysfs(dev, "loop/autoclear"), "1");
  int holder = ::open(dev.path.c_str(), O_RDONLY | O_CLOEXEC);  // stands in for a mount
  ASSERT_GE(holder, 0);
  a->Release();
  { LoopAttachment gone = std::move(*a); }  // closes the attachment's fd, no LOOP_CLR_FD
  EXPECT_EQ(ReadSysfs(dev, "loop/backing_file"), file_);  // still held open
  ::close(holder);
  EXPECT_TRUE(WaitUnbound(dev));
}

TEST_F(LoopHostTest, ReadOnlyAndDirectIo) {
  sys::LoopConfig config = Persistent();
  config.access = sys::LoopAccess::kReadOnly;
  config.io = sys::LoopIo::kDirect;
  auto a = AttachLoop(sys::LinuxLoop(), file_, config);
  ASSERT_TRUE(a.ok()) << a.error().message();
  EXPECT_EQ(ReadSysfs(a->device(), "ro"), "1");
  // Whichever mode was configured, sysfs agrees (the fallback reports kBuffered).
  EXPECT_EQ(ReadSysfs(a->device(), "loop/dio"), a->io() == sys::LoopIo::kDirect ? "1" : "0");
}

TEST_F(LoopHostTest, MissingBackingFileIsEnoent) {
  auto a = AttachLoop(sys::LinuxLoop(), dir_ + "/missing.img", Persistent());
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().code(), ENOENT);
  EXPECT_THAT(a.error().message(), ::testing::HasSubstr("attach loop " + dir_ + "/missing.img"));
}

}  // namespace
}  // namespace strata
