// The overlay driver on the real kernel (root): chains, read-only committed parents, whiteouts,
// opaque dirs, the 500-layer limit through the new mount API, and the classic fallbacks.
#include "drivers/overlay/overlay_driver.h"

#include <errno.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/sys/mounts.h"
#include "drivers/overlay/layout.h"

namespace strata::drivers::overlay {
namespace {

namespace stdfs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
void Write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

class OverlayHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    std::string tmpl = (stdfs::temp_directory_path() / "strata-ovlhost-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    ASSERT_TRUE(ProbeOverlay(Env()).ok());
    auto driver = NewOverlayDriver(Env(), nullptr);
    ASSERT_TRUE(driver.ok()) << driver.error().message();
    driver_ = std::move(driver).value();
  }
  void TearDown() override {
    if (root_.empty()) return;
    for (const std::string& id : created_) (void)driver_->Unmount(id);  // best effort: cleanup
    driver_.reset();
    stdfs::remove_all(root_);
  }
  DriverEnv Env() { return {root_, &sys::LinuxMounts()}; }
  void MustCreate(Driver& driver, const std::string& id, const std::string& parent = "") {
    auto s = driver.Create(id, parent, LayerKind::kReadOnly, {});
    ASSERT_TRUE(s.ok()) << s.error().message();
    created_.push_back(id);
  }
  std::string MustMount(Driver& driver, const std::string& id) {
    auto path = driver.Mount(id);
    EXPECT_TRUE(path.ok()) << path.error().message();
    return path.ok() ? *path : "";
  }
  std::string Diff(const std::string& id) { return root_ + "/overlay/" + id + "/diff"; }

  std::string root_;
  std::unique_ptr<Driver> driver_;
  std::vector<std::string> created_;
};

TEST_F(OverlayHostTest, ChainOfThreeShowsMergedContent) {
  MustCreate(*driver_, "base");
  Write(MustMount(*driver_, "base") + "/a", "from base");
  MustCreate(*driver_, "mid", "base");
  const std::string mid = MustMount(*driver_, "mid");
  EXPECT_EQ(Slurp(mid + "/a"), "from base");
  Write(mid + "/b", "from mid");
  ASSERT_TRUE(driver_->Unmount("mid").ok());
  EXPECT_EQ(Slurp(Diff("mid") + "/b"), "from mid");  // the write went to mid's upper
  EXPECT_FALSE(stdfs::exists(mid));

  MustCreate(*driver_, "top", "mid");
  const std::string top = MustMount(*driver_, "top");
  EXPECT_TRUE(*driver_->IsMounted("top"));
  EXPECT_EQ(Slurp(top + "/a"), "from base");
  EXPECT_EQ(Slurp(top + "/b"), "from mid");
  Write(top + "/c", "from top");
  ASSERT_TRUE(driver_->Unmount("top").ok());
  EXPECT_FALSE(*driver_->IsMounted("top"));
  EXPECT_TRUE(driver_->Unmount("top").ok());  // idempotent
  EXPECT_EQ(Slurp(Diff("top") + "/c"), "from top");
  auto changes = driver_->Changes("top");
  ASSERT_TRUE(changes.ok()) << changes.error().message();
  ASSERT_EQ(changes->size(), 1u);
  EXPECT_EQ((*changes)[0].path, "c");
}

TEST_F(OverlayHostTest, CommittedParentIsMountedReadOnly) {
  MustCreate(*driver_, "base");
  MustCreate(*driver_, "mid", "base");
  MustCreate(*driver_, "top", "mid");
  const std::string mid = MustMount(*driver_, "mid");
  EXPECT_TRUE(*driver_->IsMounted("mid"));
  int fd = ::open((mid + "/new").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  EXPECT_EQ(fd, -1);
  EXPECT_EQ(errno, EROFS);
  if (fd >= 0) ::close(fd);
  // The child mounts at the same time over the parent's diff.
  Write(MustMount(*driver_, "top") + "/x", "x");
}

TEST_F(OverlayHostTest, WhiteoutsAndOpaqueDirsHideLowerFiles) {
  MustCreate(*driver_, "base");
  Write(Diff("base") + "/gone", "1");
  Write(Diff("base") + "/kept", "2");
  stdfs::create_directories(Diff("base") + "/d");
  Write(Diff("base") + "/d/old", "3");
  MustCreate(*driver_, "top", "base");
  ASSERT_EQ(::mknod((Diff("top") + "/gone").c_str(), S_IFCHR | 0, makedev(0, 0)), 0);
  stdfs::create_directories(Diff("top") + "/d");
  ASSERT_EQ(::setxattr((Diff("top") + "/d").c_str(), "trusted.overlay.opaque", "y", 1, 0), 0);
  Write(Diff("top") + "/d/new", "4");
  const std::string top = MustMount(*driver_, "top");
  EXPECT_FALSE(stdfs::exists(top + "/gone"));
  EXPECT_TRUE(stdfs::exists(top + "/kept"));
  EXPECT_FALSE(stdfs::exists(top + "/d/old"));
  EXPECT_TRUE(stdfs::exists(top + "/d/new"));
  auto changes = driver_->Changes("top");
  ASSERT_TRUE(changes.ok()) << changes.error().message();
  std::vector<std::string> got;
  for (const auto& c : *changes) {
    if (c.path != "d")
      got.push_back(std::string(1, archive::ChangeKindLetter(c.kind)) + " " + c.path);
  }
  EXPECT_THAT(got, ElementsAre("A d/new", "D d/old", "D gone"));
}

TEST_F(OverlayHostTest, FiveHundredLowerLayersMountThroughTheNewApiAndMoreFail) {
  MustCreate(*driver_, "layer0");
  Write(Diff("layer0") + "/bottom", "deepest");
  for (int i = 1; i <= 500; ++i) {
    MustCreate(*driver_, "layer" + std::to_string(i), "layer" + std::to_string(i - 1));
  }
  const std::string top = MustMount(*driver_, "layer500");  // read-write over 500 lowers
  EXPECT_EQ(Slurp(top + "/bottom"), "deepest");
  ASSERT_TRUE(driver_->Unmount("layer500").ok());
  MustCreate(*driver_, "layer501", "layer500");
  auto deep = driver_->Mount("layer501");
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(deep.error().code(), E2BIG);
  EXPECT_THAT(deep.error().message(), HasSubstr("needs 501 lower layers"));
  EXPECT_THAT(deep.error().message(), HasSubstr("at most 500 (OVL_MAX_STACK)"));
  EXPECT_FALSE(stdfs::exists(root_ + "/overlay/layer501/merged"));
  // Committed layers mount read-only with their own diff as one more lower: layer499 (own diff +
  // 499 parents) is exactly at the limit, layer500 (own diff + 500) is past it.
  EXPECT_EQ(Slurp(MustMount(*driver_, "layer499") + "/bottom"), "deepest");
  EXPECT_EQ(driver_->Mount("layer500").error().code(), E2BIG);
}

TEST_F(OverlayHostTest, ClassicMountAbsoluteAndRelativeForReal) {
  auto features = DetectFeatures(kOverlayParamDir);
  ASSERT_TRUE(features.ok());
  features->new_mount_api = false;
  auto classic = MakeOverlayDriver(root_ + "/overlay", sys::LinuxMounts(), *features, "extfs");
  MustCreate(*classic, "base");
  Write(Diff("base") + "/f", "base");
  MustCreate(*classic, "top", "base");
  EXPECT_EQ(Slurp(MustMount(*classic, "top") + "/f"), "base");
  ASSERT_TRUE(classic->Unmount("top").ok());

  features->page_size_bytes = 160;  // pretend absolute paths do not fit: relative after chdir
  auto relative = MakeOverlayDriver(root_ + "/overlay", sys::LinuxMounts(), *features, "extfs");
  const auto cwd = stdfs::current_path();
  EXPECT_EQ(Slurp(MustMount(*relative, "top") + "/f"), "base");
  EXPECT_EQ(stdfs::current_path(), cwd);
  ASSERT_TRUE(relative->Unmount("top").ok());
}

TEST_F(OverlayHostTest, RemoveOfAMountedLayerUnmountsIt) {
  MustCreate(*driver_, "base");
  MustCreate(*driver_, "top", "base");
  const std::string top = MustMount(*driver_, "top");
  ASSERT_TRUE(driver_->Remove("top").ok());
  EXPECT_FALSE(stdfs::exists(root_ + "/overlay/top"));
  auto table = sys::LinuxMounts().MountInfo();
  ASSERT_TRUE(table.ok());
  for (const auto& entry : *table) EXPECT_NE(entry.mount_point, top);
  EXPECT_EQ(stdfs::directory_iterator(root_ + "/overlay/l") != stdfs::directory_iterator(), true);
}

TEST_F(OverlayHostTest, StatusAndProbe) {
  std::map<std::string, std::string> status;
  for (const auto& [k, v] : driver_->Describe()) status[k] = v;
  EXPECT_EQ(status["Backing Filesystem"], FsName(*FsMagic(root_)));
  EXPECT_EQ(status["Supports d_type"], "true");
  EXPECT_EQ(status["Native Overlay Diff"], "true");
  EXPECT_EQ(status["Mount API"], "new (fsopen, lowerdir+)");
  EXPECT_EQ(status["index"], "off");
  // A root on overlayfs itself is refused with the reason.
  MustCreate(*driver_, "base");
  MustCreate(*driver_, "top", "base");
  const std::string merged = MustMount(*driver_, "top");
  auto nested = ProbeOverlay({merged + "/strata", &sys::LinuxMounts()});
  ASSERT_FALSE(nested.ok());
  EXPECT_EQ(nested.error().code(), EOPNOTSUPP);
  EXPECT_THAT(nested.error().message(), HasSubstr("is on overlayfs"));
}

}  // namespace
}  // namespace strata::drivers::overlay
