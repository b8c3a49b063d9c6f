// LinuxMounts against the real kernel (root). Each test mounts under its own mkdtemp directory.
#include "core/sys/mounts.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <string>

namespace strata::sys {
namespace {

using ::testing::HasSubstr;

class LinuxMountsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    char tmpl[] = "/tmp/strata-mounts-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (dir_.empty()) return;
    for (const std::string& m : mounted_) (void)LinuxMounts().Unmount(m, 2 /*MNT_DETACH*/);
    (void)std::system(("rm -rf " + dir_).c_str());  // best effort: test scratch
  }
  std::string MakeDir(const std::string& name) {
    std::string p = dir_ + "/" + name;
    EXPECT_EQ(::mkdir(p.c_str(), 0755), 0);
    return p;
  }
  const MountEntry* Find(const std::vector<MountEntry>& table, const std::string& target) {
    const MountEntry* found = nullptr;
    for (const MountEntry& e : table) {
      if (e.mount_point == target) found = &e;  // last one is the topmost
    }
    return found;
  }
  std::string dir_;
  std::vector<std::string> mounted_;
};

TEST_F(LinuxMountsTest, TmpfsWithClassicMount) {
  std::string target = MakeDir("classic dir");  // a space exercises mountinfo unescaping
  ASSERT_TRUE(LinuxMounts().Mount("strata-test", target, "tmpfs", 0, "size=1m").ok());
  mounted_.push_back(target);
  auto table = LinuxMounts().MountInfo();
  ASSERT_TRUE(table.ok()) << table.error().message();
  const MountEntry* e = Find(*table, target);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->fs_type, "tmpfs");
  EXPECT_EQ(e->source, "strata-test");
  ASSERT_TRUE(LinuxMounts().Unmount(target, 0).ok());
  mounted_.clear();
  table = LinuxMounts().MountInfo();
  ASSERT_TRUE(table.ok());
  EXPECT_EQ(Find(*table, target), nullptr);
  EXPECT_EQ(LinuxMounts().Unmount(target, 0).error().code(), EINVAL);
}

TEST_F(LinuxMountsTest, TmpfsWithNewApi) {
  std::string target = MakeDir("new");
  auto st = LinuxMounts().MountNewApi(
      "tmpfs",
      {{FsParam::Kind::kString, "source", "strata-new"}, {FsParam::Kind::kString, "size", "1m"}}, 0,
      target);
  ASSERT_TRUE(st.ok()) << st.error().message();
  mounted_.push_back(target);
  auto table = LinuxMounts().MountInfo();
  ASSERT_TRUE(table.ok());
  const MountEntry* e = Find(*table, target);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->fs_type, "tmpfs");
  EXPECT_EQ(e->source, "strata-new");
  ASSERT_TRUE(LinuxMounts().Unmount(target, 0).ok());
  mounted_.clear();
}

TEST_F(LinuxMountsTest, NewApiErrorCarriesKernelLog) {
  std::string target = MakeDir("bad");
  auto st = LinuxMounts().MountNewApi("tmpfs", {{FsParam::Kind::kString, "no-such-option", "1"}}, 0,
                                      target);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), EINVAL);
  EXPECT_THAT(st.error().message(), HasSubstr("fsconfig tmpfs no-such-option=1"));
  EXPECT_THAT(st.error().message(), HasSubstr("kernel:"));
  EXPECT_EQ(LinuxMounts().MountNewApi("no-such-fs-type", {}, 0, target).error().code(), ENODEV);
}

TEST_F(LinuxMountsTest, OverlayWithTwoLowersViaLowerdirPlus) {
  std::string l1 = MakeDir("l1"), l2 = MakeDir("l2"), up = MakeDir("up"), work = MakeDir("work");
  std::string merged = MakeDir("merged");
  std::ofstream(l1 + "/a") << "from l1";
  std::ofstream(l2 + "/a") << "from l2";
  std::ofstream(l2 + "/b") << "only l2";
  auto st = LinuxMounts().MountNewApi("overlay",
                                      {{FsParam::Kind::kString, "source", "strata-overlay"},
                                       {FsParam::Kind::kString, "lowerdir+", l1},
                                       {FsParam::Kind::kString, "lowerdir+", l2},
                                       {FsParam::Kind::kString, "upperdir", up},
                                       {FsParam::Kind::kString, "workdir", work}},
                                      0, merged);
  ASSERT_TRUE(st.ok()) << st.error().message();
  mounted_.push_back(merged);
  std::string a, b;
  std::getline(std::ifstream(merged + "/a"), a);
  std::getline(std::ifstream(merged + "/b"), b);
  EXPECT_EQ(a, "from l1");  // first lowerdir+ is the top lower layer
  EXPECT_EQ(b, "only l2");
  auto table = LinuxMounts().MountInfo();
  ASSERT_TRUE(table.ok());
  const MountEntry* e = Find(*table, merged);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->fs_type, "overlay");
  EXPECT_THAT(e->super_options, HasSubstr(l2));
  ASSERT_TRUE(LinuxMounts().Unmount(merged, 0).ok());
  mounted_.clear();
}

}  // namespace
}  // namespace strata::sys
