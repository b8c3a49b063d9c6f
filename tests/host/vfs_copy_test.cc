// vfs layer copies on the real filesystem as root: owners, device nodes, trusted.* xattrs,
// hardlinks and sparse files survive Create; a copy that fails leaves nothing behind.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/sys/mounts.h"
#include "drivers/vfs/vfs_driver.h"

namespace strata::drivers::vfs {
namespace {

namespace stdfs = std::filesystem;

class VfsHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    std::string tmpl = (stdfs::temp_directory_path() / "strata-vfshost-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    auto driver = NewVfsDriver({root_, &sys::LinuxMounts()}, nullptr);
    ASSERT_TRUE(driver.ok()) << driver.error().message();
    driver_ = std::move(driver).value();
    ASSERT_TRUE(driver_->Create("base", "", LayerKind::kReadOnly, {}).ok());
    base_ = *driver_->Mount("base");
  }
  void TearDown() override {
    if (!root_.empty()) stdfs::remove_all(root_);
  }

  std::string root_, base_;
  std::unique_ptr<Driver> driver_;
};

TEST_F(VfsHostTest, CreatePreservesOwnersDevicesXattrsHardlinksAndHoles) {
  std::ofstream(base_ + "/file") << "data";
  ASSERT_EQ(::chown((base_ + "/file").c_str(), 1234, 5678), 0);
  ASSERT_EQ(::setxattr((base_ + "/file").c_str(), "trusted.k", "tv", 2, 0), 0);
  ASSERT_EQ(::link((base_ + "/file").c_str(), (base_ + "/hard").c_str()), 0);
  ASSERT_EQ(::mknod((base_ + "/null").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);
  ASSERT_EQ(::chmod((base_ + "/null").c_str(), 0666), 0);  // mknod applied the umask
  ASSERT_EQ(::mknod((base_ + "/loop").c_str(), S_IFBLK | 0660, makedev(7, 0)), 0);
  ASSERT_EQ(::symlink("file", (base_ + "/sym").c_str()), 0);
  ASSERT_EQ(::lchown((base_ + "/sym").c_str(), 42, 43), 0);
  int fd = ::open((base_ + "/sparse").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, "head", 4, 0), 4);
  ASSERT_EQ(::pwrite(fd, "tail", 4, 1 << 30), 4);  // 1 GiB hole
  ::close(fd);

  ASSERT_TRUE(driver_->Create("child", "base", LayerKind::kReadWrite, {}).ok());
  const std::string c = *driver_->Mount("child");
  struct stat file {
  }, hard{}, null{}, loop{}, sym{}, sparse{};
  ASSERT_EQ(::stat((c + "/file").c_str(), &file), 0);
  ASSERT_EQ(::stat((c + "/hard").c_str(), &hard), 0);
  EXPECT_EQ(file.st_ino, hard.st_ino);
  EXPECT_EQ(file.st_uid, 1234u);
  EXPECT_EQ(file.st_gid, 5678u);
  char value[4] = {};
  EXPECT_EQ(::getxattr((c + "/file").c_str(), "trusted.k", value, sizeof(value)), 2);
  EXPECT_EQ(std::string(value, 2), "tv");
  ASSERT_EQ(::lstat((c + "/null").c_str(), &null), 0);
  EXPECT_TRUE(S_ISCHR(null.st_mode));
  EXPECT_EQ(null.st_rdev, makedev(1, 3));
  EXPECT_EQ(null.st_mode & 0777, 0666u);
  ASSERT_EQ(::lstat((c + "/loop").c_str(), &loop), 0);
  EXPECT_TRUE(S_ISBLK(loop.st_mode));
  EXPECT_EQ(loop.st_rdev, makedev(7, 0));
  ASSERT_EQ(::lstat((c + "/sym").c_str(), &sym), 0);
  EXPECT_EQ(sym.st_uid, 42u);
  ASSERT_EQ(::stat((c + "/sparse").c_str(), &sparse), 0);
  EXPECT_EQ(sparse.st_size, (1 << 30) + 4);
  EXPECT_LT(sparse.st_blocks * 512, 1 << 20);
  std::ifstream in(c + "/sparse");
  std::string head(4, '\0');
  in.read(head.data(), 4);
  EXPECT_EQ(head, "head");
}

TEST_F(VfsHostTest, FailedCopyLeavesNothingUnderTheId) {
  // A mount point inside the parent: CopyTree refuses to cross it (EXDEV) halfway through.
  stdfs::create_directories(base_ + "/a/mnt");
  std::ofstream(base_ + "/a/before") << "x";
  ASSERT_TRUE(sys::LinuxMounts().Mount("tmpfs", base_ + "/a/mnt", "tmpfs", 0, "size=1m").ok());
  auto s = driver_->Create("child", "base", LayerKind::kReadOnly, {});
  (void)sys::LinuxMounts().Unmount(base_ + "/a/mnt", 0);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), EXDEV);
  EXPECT_FALSE(driver_->Exists("child"));
  EXPECT_FALSE(stdfs::exists(root_ + "/vfs/parents/child"));
  std::vector<std::string> left;
  for (const auto& e : stdfs::directory_iterator(root_ + "/vfs/dir")) {
    left.push_back(e.path().filename());
  }
  EXPECT_THAT(left, ::testing::ElementsAre("base"));
}

}  // namespace
}  // namespace strata::drivers::vfs
