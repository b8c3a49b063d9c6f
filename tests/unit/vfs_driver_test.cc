// The vfs driver and its tree helpers, unprivileged: layout, copies, rollback, removal.
// Ownership, devices and trusted.* xattrs need root: tests/host/vfs_copy_test.cc.
#include "drivers/vfs/vfs_driver.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

#include "drivers/fs_tree.h"

namespace strata::drivers::vfs {
namespace {

namespace stdfs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class VfsDriverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (stdfs::temp_directory_path() / "strata-vfs-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    auto driver = NewVfsDriver({root_, nullptr}, nullptr);
    ASSERT_TRUE(driver.ok()) << driver.error().message();
    driver_ = std::move(driver).value();
  }
  void TearDown() override { stdfs::remove_all(root_); }

  void MustCreate(const std::string& id, const std::string& parent = "") {
    auto s = driver_->Create(id, parent, LayerKind::kReadOnly, {});
    ASSERT_TRUE(s.ok()) << s.error().message();
  }
  std::string Dir(const std::string& id) { return root_ + "/vfs/dir/" + id; }
  std::vector<std::string> List(const std::string& dir) {
    std::vector<std::string> out;
    for (const auto& e : stdfs::directory_iterator(dir)) out.push_back(e.path().filename());
    std::sort(out.begin(), out.end());
    return out;
  }

  std::string root_;
  std::unique_ptr<Driver> driver_;
};

TEST_F(VfsDriverTest, CreateCopiesTheParentAndMountIsTheDir) {
  MustCreate("base");
  auto base = driver_->Mount("base");
  ASSERT_TRUE(base.ok());
  EXPECT_EQ(*base, Dir("base"));
  stdfs::create_directories(*base + "/etc");
  std::ofstream(*base + "/etc/hosts") << "127.0.0.1 localhost\n";
  stdfs::create_symlink("etc/hosts", *base + "/hosts");
  MustCreate("child", "base");
  std::ifstream in(Dir("child") + "/etc/hosts");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "127.0.0.1 localhost\n");
  EXPECT_EQ(stdfs::read_symlink(Dir("child") + "/hosts"), "etc/hosts");
  EXPECT_TRUE(*driver_->IsMounted("child"));
  EXPECT_TRUE(driver_->Unmount("child").ok());
  EXPECT_EQ(driver_->MountPath("child"), Dir("child"));
  EXPECT_EQ(driver_->Whiteouts(), archive::WhiteoutFormat::kDelete);
  std::ifstream parent(root_ + "/vfs/parents/child");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(parent), {}), "base");
  EXPECT_FALSE(stdfs::exists(root_ + "/vfs/parents/base"));
}

TEST_F(VfsDriverTest, ErrorsLeaveNothingUnderTheId) {
  MustCreate("base");
  EXPECT_EQ(driver_->Create("base", "", LayerKind::kReadOnly, {}).error().code(), EEXIST);
  EXPECT_EQ(driver_->Create("x", "missing", LayerKind::kReadOnly, {}).error().code(), ENOENT);
  EXPECT_EQ(driver_->Create("../x", "", LayerKind::kReadOnly, {}).error().code(), EINVAL);
  CreateOptions sized;
  sized.size_bytes = 1 << 20;
  auto s = driver_->Create("rw", "base", LayerKind::kReadWrite, sized);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), EOPNOTSUPP);
  EXPECT_THAT(s.error().message(), HasSubstr("vfs cannot enforce a size limit"));
  EXPECT_THAT(List(root_ + "/vfs/dir"), ElementsAre("base"));
  EXPECT_FALSE(driver_->Mount("nope").ok());
}

TEST_F(VfsDriverTest, RemoveIsIdempotentAndLeavesNoLeftovers) {
  MustCreate("base");
  MustCreate("child", "base");
  ASSERT_TRUE(driver_->Remove("child").ok());
  EXPECT_FALSE(driver_->Exists("child"));
  EXPECT_FALSE(stdfs::exists(root_ + "/vfs/parents/child"));
  EXPECT_TRUE(driver_->Remove("child").ok());
  EXPECT_THAT(List(root_ + "/vfs/dir"), ElementsAre("base"));
}

TEST_F(VfsDriverTest, IdsThatLookLikeInternalNamesWork) {
  MustCreate("base");
  for (const std::string id : {"a.tmp-0123456789ab", "x-removing", "l"}) {
    MustCreate(id, "base");
    EXPECT_TRUE(driver_->Exists(id)) << id;
  }
  ASSERT_TRUE(driver_->Remove("x").ok());  // must not touch "x-removing"
  EXPECT_TRUE(driver_->Exists("x-removing"));
  auto again = NewVfsDriver({root_, nullptr}, nullptr);  // init GC must not touch them either
  ASSERT_TRUE(again.ok());
  EXPECT_THAT(List(root_ + "/vfs/dir"),
              ElementsAre("a.tmp-0123456789ab", "base", "l", "x-removing"));
}

TEST_F(VfsDriverTest, InitCollectsInterruptedRemoves) {
  stdfs::create_directories(root_ + "/vfs/dir/.removing-dead/sub");
  stdfs::create_directories(root_ + "/vfs/dir/.tmp-young-0123456789ab");
  auto driver = NewVfsDriver({root_, nullptr}, nullptr);
  ASSERT_TRUE(driver.ok());
  // The young temp dir may be a Create running in another process: kept.
  EXPECT_THAT(List(root_ + "/vfs/dir"), ElementsAre(".tmp-young-0123456789ab"));
}

TEST(VfsOptions, AnyKeyIsUnknown) {
  auto r = NewVfsDriver({"/nonexistent", nullptr}, nlohmann::json::parse(R"({"xattrs": true})"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), EINVAL);
  EXPECT_THAT(r.error().message(), HasSubstr("driver-opts.vfs.xattrs: unknown option"));
}

TEST(VfsCopyTree, PreservesLinksModesTimesXattrsAndHoles) {
  std::string tmpl = (stdfs::temp_directory_path() / "strata-copy-XXXXXX").string();
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  const std::string src = tmpl + "/src", dst = tmpl + "/dst";
  stdfs::create_directories(src + "/d");
  std::ofstream(src + "/d/a") << "hello";
  ASSERT_EQ(::link((src + "/d/a").c_str(), (src + "/b").c_str()), 0);
  ASSERT_EQ(::chmod((src + "/d/a").c_str(), 04751), 0);
  ASSERT_EQ(::mkfifo((src + "/fifo").c_str(), 0640), 0);
  stdfs::create_symlink("d/a", src + "/sym");
  {
    int fd = ::open((src + "/sparse").c_str(), O_WRONLY | O_CREAT, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, "x", 1, 64 << 20), 1);  // 64 MiB hole, then one byte
    ::close(fd);
  }
  const bool xattrs = ::setxattr((src + "/d/a").c_str(), "user.k", "v", 1, 0) == 0;
  struct timespec times[2] = {{1000, 5}, {2000, 123456789}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (src + "/d").c_str(), times, 0), 0);

  auto stats = fs::CopyTree(src, dst);
  ASSERT_TRUE(stats.ok()) << stats.error().message();
  struct stat a {
  }, b{}, d{}, sparse{}, fifo{};
  ASSERT_EQ(::stat((dst + "/d/a").c_str(), &a), 0);
  ASSERT_EQ(::stat((dst + "/b").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(a.st_nlink, 2u);
  EXPECT_EQ(a.st_mode & 07777, 04751u);
  ASSERT_EQ(::stat((dst + "/d").c_str(), &d), 0);
  EXPECT_EQ(d.st_mtim.tv_sec, 2000);
  EXPECT_EQ(d.st_mtim.tv_nsec, 123456789);
  ASSERT_EQ(::lstat((dst + "/fifo").c_str(), &fifo), 0);
  EXPECT_TRUE(S_ISFIFO(fifo.st_mode));
  EXPECT_EQ(fifo.st_mode & 0777, 0640u);
  EXPECT_EQ(stdfs::read_symlink(dst + "/sym"), "d/a");
  ASSERT_EQ(::stat((dst + "/sparse").c_str(), &sparse), 0);
  EXPECT_EQ(sparse.st_size, (64 << 20) + 1);
  EXPECT_LT(sparse.st_blocks * 512, 1 << 20);  // still sparse
  if (xattrs) {
    char value[8] = {};
    EXPECT_EQ(::getxattr((dst + "/d/a").c_str(), "user.k", value, sizeof(value)), 1);
    EXPECT_EQ(value[0], 'v');
  }
  EXPECT_EQ(fs::CopyTree(src, dst).error().code(), EEXIST);  // never into an existing dir
  stdfs::remove_all(tmpl);
}

TEST(VfsFsTree, RemoveTreeAndAtomicWrite) {
  std::string tmpl = (stdfs::temp_directory_path() / "strata-rm-XXXXXX").string();
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  stdfs::create_directories(tmpl + "/t/a/b/c");
  std::ofstream(tmpl + "/t/a/b/c/f") << "x";
  stdfs::create_symlink("/etc", tmpl + "/t/a/etc");  // must not be followed
  ASSERT_TRUE(fs::RemoveTree(tmpl + "/t").ok());
  EXPECT_FALSE(stdfs::exists(tmpl + "/t"));
  EXPECT_TRUE(stdfs::exists("/etc/hostname") || stdfs::exists("/etc"));
  EXPECT_TRUE(fs::RemoveTree(tmpl + "/t").ok());  // idempotent
  ASSERT_TRUE(fs::WriteFileAtomic(tmpl + "/f", "one").ok());
  ASSERT_TRUE(fs::WriteFileAtomic(tmpl + "/f", "two").ok());
  EXPECT_EQ(*fs::ReadFile(tmpl + "/f"), "two");
  EXPECT_EQ(stdfs::directory_iterator(tmpl) != stdfs::directory_iterator(), true);
  EXPECT_EQ(fs::ReadFile(tmpl + "/missing").error().code(), ENOENT);
  stdfs::remove_all(tmpl);
}

}  // namespace
}  // namespace strata::drivers::vfs
