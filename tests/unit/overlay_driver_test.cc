// The overlay driver over FakeMounts: layout, rollback paths, mount method fallbacks, options.
// Nothing is really mounted; the layout is real files under a temp dir.
#include "drivers/overlay/overlay_driver.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "drivers/overlay/layout.h"
#include "tests/fakes/fake_mounts.h"

namespace strata::drivers::overlay {
namespace {

namespace stdfs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class OverlayDriverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (stdfs::temp_directory_path() / "strata-ovl-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    home_ = root_ + "/overlay";
    stdfs::create_directories(home_ + "/l");
    Reset(features_);
  }
  void TearDown() override { stdfs::remove_all(root_); }

  void Reset(const OverlayFeatures& features) {
    driver_ = MakeOverlayDriver(home_, mounts_, features, "extfs");
  }
  void MustCreate(const std::string& id, const std::string& parent = "") {
    auto s = driver_->Create(id, parent, LayerKind::kReadOnly, {});
    ASSERT_TRUE(s.ok()) << s.error().message();
  }
  // Entries of `dir` (names only), sorted.
  std::vector<std::string> List(const std::string& dir) {
    std::vector<std::string> out;
    for (const auto& e : stdfs::directory_iterator(dir)) out.push_back(e.path().filename());
    std::sort(out.begin(), out.end());
    return out;
  }

  OverlayFeatures features_ = [] {
    OverlayFeatures f;
    f.new_mount_api = f.index_off = f.redirect_dir_off = f.metacopy_off = true;
    return f;
  }();
  std::string root_, home_;
  FakeMounts mounts_;
  std::unique_ptr<Driver> driver_;
};

TEST_F(OverlayDriverTest, CreateWritesTheOverlay2Layout) {
  MustCreate("base");
  MustCreate("child", "base");
  const std::string base_link = Slurp(home_ + "/base/link");
  const std::string child_link = Slurp(home_ + "/child/link");
  EXPECT_TRUE(IsLinkId(base_link)) << base_link;
  EXPECT_TRUE(IsLinkId(child_link)) << child_link;
  EXPECT_EQ(stdfs::read_symlink(home_ + "/l/" + base_link), "../base/diff");
  EXPECT_EQ(stdfs::read_symlink(home_ + "/l/" + child_link), "../child/diff");
  EXPECT_FALSE(stdfs::exists(home_ + "/base/lower"));
  EXPECT_FALSE(stdfs::exists(home_ + "/base/work"));
  EXPECT_EQ(Slurp(home_ + "/child/lower"), "l/" + base_link);
  EXPECT_TRUE(stdfs::is_directory(home_ + "/child/work"));
  EXPECT_TRUE(stdfs::exists(home_ + "/base/committed"));
  EXPECT_FALSE(stdfs::exists(home_ + "/child/committed"));
  MustCreate("grandchild", "child");
  EXPECT_EQ(Slurp(home_ + "/grandchild/lower"), "l/" + child_link + ":l/" + base_link);
  EXPECT_THAT(List(home_), ElementsAre("base", "child", "grandchild", "l"));
}

TEST_F(OverlayDriverTest, CreateErrorsLeaveNothingBehind) {
  MustCreate("base");
  EXPECT_EQ(driver_->Create("base", "", LayerKind::kReadOnly, {}).error().code(), EEXIST);
  EXPECT_EQ(driver_->Create("x", "nope", LayerKind::kReadOnly, {}).error().code(), ENOENT);
  EXPECT_EQ(driver_->Create("_x", "", LayerKind::kReadOnly, {}).error().code(), EINVAL);
  EXPECT_EQ(driver_->Create("a/b", "", LayerKind::kReadOnly, {}).error().code(), EINVAL);
  CreateOptions sized;
  sized.size_bytes = 1 << 30;
  auto s = driver_->Create("rw", "base", LayerKind::kReadWrite, sized);
  EXPECT_EQ(s.error().code(), EOPNOTSUPP);
  // A failure after the link was made: the parent's committed marker cannot be written.
  stdfs::create_directory(home_ + "/base/committed");
  stdfs::create_directory(home_ + "/base/committed/block");
  s = driver_->Create("child", "base", LayerKind::kReadOnly, {});
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(List(home_), ElementsAre("base", "l"));
  EXPECT_EQ(List(home_ + "/l").size(), 1u);  // only base's link
  EXPECT_FALSE(driver_->Exists("child"));
}

TEST_F(OverlayDriverTest, IdsThatLookLikeLayoutNamesWork) {
  MustCreate("base");
  for (const std::string id : {"l", "diff", "a.tmp-0123456789ab", "x-removing"}) {
    SCOPED_TRACE(id);
    MustCreate(id, "base");
    EXPECT_TRUE(driver_->Exists(id));
    auto path = driver_->Mount(id);
    ASSERT_TRUE(path.ok()) << path.error().message();
    EXPECT_TRUE(stdfs::is_directory(*path));
    ASSERT_TRUE(driver_->Unmount(id).ok());
  }
  // "l" lives at "_l" so the link directory keeps its name.
  EXPECT_TRUE(stdfs::is_directory(home_ + "/l"));
  EXPECT_EQ(stdfs::read_symlink(home_ + "/l/" + Slurp(home_ + "/_l/link")), "../_l/diff");
  for (const std::string id : {"l", "diff", "a.tmp-0123456789ab", "x-removing"}) {
    ASSERT_TRUE(driver_->Remove(id).ok()) << id;
  }
  EXPECT_THAT(List(home_), ElementsAre("base", "l"));
  EXPECT_EQ(List(home_ + "/l").size(), 1u);
}

TEST_F(OverlayDriverTest, BaseLayerMountsAsItsDiffWithoutAMount) {
  MustCreate("base");
  auto path = driver_->Mount("base");
  ASSERT_TRUE(path.ok()) << path.error().message();
  EXPECT_EQ(*path, home_ + "/base/diff");
  EXPECT_EQ(driver_->MountPath("base"), *path);
  EXPECT_THAT(mounts_.calls(), IsEmpty());
  EXPECT_TRUE(*driver_->IsMounted("base"));
  EXPECT_TRUE(driver_->Unmount("base").ok());
  EXPECT_THAT(mounts_.calls(), IsEmpty());
}

TEST_F(OverlayDriverTest, ReadWriteMountThenCommittedParentReadOnly) {
  MustCreate("base");
  MustCreate("mid", "base");
  auto path = driver_->Mount("mid");
  ASSERT_TRUE(path.ok()) << path.error().message();
  EXPECT_EQ(*path, home_ + "/mid/merged");
  EXPECT_TRUE(stdfs::is_directory(*path));
  EXPECT_TRUE(*driver_->IsMounted("mid"));
  ASSERT_EQ(mounts_.mount_calls().size(), 1u);
  EXPECT_EQ(mounts_.mount_calls()[0].mount_attrs, 0u);
  ASSERT_TRUE(driver_->Unmount("mid").ok());
  EXPECT_FALSE(stdfs::exists(*path));
  EXPECT_FALSE(*driver_->IsMounted("mid"));

  MustCreate("top", "mid");  // mid is now committed
  mounts_.ClearCalls();
  ASSERT_TRUE(driver_->Mount("mid").ok());
  ASSERT_EQ(mounts_.mount_calls().size(), 1u);
  EXPECT_EQ(mounts_.mount_calls()[0].mount_attrs, kMountAttrRdonly);
  for (const sys::FsParam& p : mounts_.mount_calls()[0].params) {
    EXPECT_NE(p.key, "upperdir");
  }
}

TEST_F(OverlayDriverTest, FailedMountLeavesNoMergedDir) {
  MustCreate("base");
  MustCreate("top", "base");
  mounts_.FailNext("mount_new", EINVAL);
  auto path = driver_->Mount("top");
  ASSERT_FALSE(path.ok());
  EXPECT_EQ(path.error().code(), EINVAL);
  EXPECT_THAT(path.error().message(), HasSubstr("overlay mount top"));
  EXPECT_FALSE(stdfs::exists(home_ + "/top/merged"));
  EXPECT_FALSE(*driver_->IsMounted("top"));
}

TEST_F(OverlayDriverTest, FallsBackToClassicMountWhenFsopenIsMissing) {
  MustCreate("base");
  MustCreate("top", "base");
  mounts_.FailNext("mount_new", ENOSYS);
  ASSERT_TRUE(driver_->Mount("top").ok());
  EXPECT_THAT(mounts_.calls(), ElementsAre("mount_new overlay " + home_ + "/top/merged",
                                           "mount overlay " + home_ + "/top/merged"));
  EXPECT_THAT(mounts_.mount_calls()[1].data, HasSubstr("upperdir=" + home_ + "/top/diff"));
  bool classic = false;
  for (const auto& [key, value] : driver_->Describe()) {
    if (key == "Mount API") classic = value == "classic mount(2)";
  }
  EXPECT_TRUE(classic);
}

TEST_F(OverlayDriverTest, ClassicRelativeMountRunsInTheHomeAndRestoresCwd) {
  OverlayFeatures f = features_;
  f.new_mount_api = false;
  f.page_size_bytes = 200;  // absolute paths under a temp dir no longer fit
  Reset(f);
  MustCreate("base");
  MustCreate("top", "base");
  const auto cwd = stdfs::current_path();
  ASSERT_TRUE(driver_->Mount("top").ok());
  EXPECT_EQ(stdfs::current_path(), cwd);
  ASSERT_EQ(mounts_.mount_calls().size(), 1u);
  EXPECT_THAT(mounts_.mount_calls()[0].data, HasSubstr(",upperdir=top/diff,workdir=top/work"));
  EXPECT_EQ(mounts_.mount_calls()[0].target, home_ + "/top/merged");
}

TEST_F(OverlayDriverTest, RemoveUnmountsFirstAndDeletesEverything) {
  MustCreate("base");
  MustCreate("top", "base");
  const std::string link = Slurp(home_ + "/top/link");
  ASSERT_TRUE(driver_->Mount("top").ok());
  mounts_.ClearCalls();
  ASSERT_TRUE(driver_->Remove("top").ok());
  EXPECT_THAT(mounts_.calls(), ElementsAre("umount " + home_ + "/top/merged"));
  EXPECT_FALSE(mounts_.IsMounted(home_ + "/top/merged"));
  EXPECT_FALSE(driver_->Exists("top"));
  EXPECT_FALSE(stdfs::is_symlink(home_ + "/l/" + link));
  EXPECT_THAT(List(home_), ElementsAre("base", "l"));
  EXPECT_TRUE(driver_->Remove("top").ok());  // idempotent
}

TEST_F(OverlayDriverTest, UnmountFailureIsReportedAndLayerKept) {
  MustCreate("base");
  MustCreate("top", "base");
  ASSERT_TRUE(driver_->Mount("top").ok());
  mounts_.FailNext("umount", EBUSY);
  auto s = driver_->Remove("top");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), EBUSY);
  EXPECT_TRUE(driver_->Exists("top"));
}

TEST_F(OverlayDriverTest, TooDeepChainFailsAtMountNotCreate) {
  OverlayFeatures f = features_;
  f.max_lower_layers = 4;  // the kernel's 500, scaled down
  Reset(f);
  MustCreate("l0");
  for (int i = 1; i <= 4; ++i) MustCreate("l" + std::to_string(i), "l" + std::to_string(i - 1));
  EXPECT_TRUE(driver_->Mount("l4").ok());  // read-write over 4 lowers
  EXPECT_TRUE(driver_->Mount("l3").ok());  // committed: own diff + 3 lowers
  MustCreate("l5", "l4");                  // Create does not refuse a deep chain
  auto deep = driver_->Mount("l5");
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(deep.error().code(), E2BIG);
  EXPECT_THAT(deep.error().message(), HasSubstr("needs 5 lower layers"));
  EXPECT_THAT(deep.error().message(), HasSubstr("at most 4 (OVL_MAX_STACK)"));
  EXPECT_FALSE(stdfs::exists(home_ + "/l5/merged"));
}

TEST_F(OverlayDriverTest, NativeChangesAndSizeFromDiffDirs) {
  MustCreate("base");
  MustCreate("top", "base");
  stdfs::create_directories(home_ + "/base/diff/etc");
  std::ofstream(home_ + "/base/diff/etc/hosts") << "old";
  stdfs::create_directories(home_ + "/top/diff/etc");
  std::ofstream(home_ + "/top/diff/etc/hosts") << "newer";
  std::ofstream(home_ + "/top/diff/added") << "12345678";
  stdfs::create_directories(home_ + "/base/diff/same");
  stdfs::create_directories(home_ + "/top/diff/same");
  std::ofstream(home_ + "/top/diff/same/new") << "";
  // A directory counts as changed when its mode or mtime differs (not merely copied up).
  const auto t = stdfs::file_time_type::clock::now() - std::chrono::hours(1);
  stdfs::last_write_time(home_ + "/base/diff/etc", t);
  stdfs::last_write_time(home_ + "/top/diff/etc", t + std::chrono::seconds(1));
  stdfs::last_write_time(home_ + "/base/diff/same", t);
  stdfs::last_write_time(home_ + "/top/diff/same", t);
  auto changes = driver_->Changes("top");
  ASSERT_TRUE(changes.ok()) << changes.error().message();
  std::vector<std::string> got;
  for (const auto& c : *changes) {
    got.push_back(std::string(1, archive::ChangeKindLetter(c.kind)) + " " + c.path);
  }
  EXPECT_THAT(got, ElementsAre("A added", "C etc", "C etc/hosts", "A same/new"));
  auto size = driver_->DiffSize("top");
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 13u);
}

TEST(OverlayOptions, ParsesAndRejects) {
  EXPECT_TRUE(ParseOverlayOptions(nullptr)->empty());
  auto ok = ParseOverlayOptions(nlohmann::json::parse(R"({"mount-options": ["volatile"]})"));
  ASSERT_TRUE(ok.ok());
  EXPECT_THAT(*ok, ElementsAre("volatile"));
  auto unknown = ParseOverlayOptions(nlohmann::json::parse(R"({"mount-option": []})"));
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code(), EINVAL);
  EXPECT_THAT(unknown.error().message(),
              HasSubstr("driver-opts.overlay.mount-option: unknown option (known: mount-options)"));
  auto size = ParseOverlayOptions(nlohmann::json::parse(R"({"size": "10G"})"));
  EXPECT_THAT(size.error().message(), HasSubstr("driver-opts.overlay.size: unknown option"));
  for (const char* bad : {R"({"mount-options": "volatile"})", R"({"mount-options": [1]})",
                          R"({"mount-options": ["a,b"]})", R"({"mount-options": ["lowerdir=/x"]})",
                          R"({"mount-options": ["metacopy=on"]})", R"(["x"])"}) {
    auto r = ParseOverlayOptions(nlohmann::json::parse(bad));
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code(), EINVAL) << bad;
  }
  EXPECT_THAT(ParseOverlayOptions(nlohmann::json::parse(R"({"mount-options": ["index=on"]})"))
                  .error()
                  .message(),
              HasSubstr("mount-options[0]: \"index=on\" is set by strata"));
}

}  // namespace
}  // namespace strata::drivers::overlay
