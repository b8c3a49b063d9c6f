// The driver table, did-you-mean, driver-opts validation, and selection with a vfs-only setup.
#include "drivers/registry.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/sys/device_mapper.h"
#include "tests/fakes/fake_mounts.h"

namespace strata::drivers {
namespace {

namespace stdfs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (stdfs::temp_directory_path() / "strata-reg-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    env_.root = tmpl;
    env_.mounts = &mounts_;
  }
  void TearDown() override { stdfs::remove_all(env_.root); }

  FakeMounts mounts_;
  DriverEnv env_;
};

TEST(Registry, TableOrderIsAutoDetectPriority) {
  std::vector<std::string> names;
  for (const DriverEntry& entry : DriverTable()) {
    names.emplace_back(entry.name);
    EXPECT_FALSE(entry.summary.empty());
    EXPECT_NE(entry.probe, nullptr);
    EXPECT_NE(entry.create, nullptr);
  }
  EXPECT_THAT(names, ElementsAre("devicemapper", "overlay", "aufs", "vfs"));
  EXPECT_EQ(FindDriver("vfs")->name, "vfs");
  EXPECT_EQ(FindDriver("overlay2"), nullptr);
  EXPECT_EQ(FindDriver(""), nullptr);
}

TEST(Registry, DidYouMean) {
  EXPECT_EQ(DidYouMean("ovrlay"), " (did you mean \"overlay\"?)");
  EXPECT_EQ(DidYouMean("overlay2"), " (did you mean \"overlay\"?)");
  EXPECT_EQ(DidYouMean("vfss"), " (did you mean \"vfs\"?)");
  EXPECT_EQ(DidYouMean("btrfs"), "");
  EXPECT_EQ(DidYouMean("zzzzzzzz"), "");
}

TEST_F(RegistryTest, UnknownConfiguredDriver) {
  auto s = SelectDriver(env_, "ovrlay", nullptr);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), EINVAL);
  EXPECT_EQ(s.error().message(),
            "storage driver \"ovrlay\": unknown driver (did you mean \"overlay\"?)");
}

TEST_F(RegistryTest, UnknownDriverInDriverOpts) {
  auto opts = nlohmann::json::parse(R"({"vfs": {}, "ovrlay": {"mount-options": []}})");
  auto s = SelectDriver(env_, "vfs", opts);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), EINVAL);
  EXPECT_EQ(s.error().message(),
            "driver-opts.\"ovrlay\": unknown driver (did you mean \"overlay\"?)");
  EXPECT_EQ(SelectDriver(env_, "vfs", nlohmann::json::array()).error().code(), EINVAL);
}

TEST_F(RegistryTest, UnknownDriverOptionNamesTheKey) {
  auto s = SelectDriver(env_, "vfs", nlohmann::json::parse(R"({"vfs": {"size": "1G"}})"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), EINVAL);
  EXPECT_THAT(s.error().message(), HasSubstr("driver-opts.vfs.size: unknown option"));
  // Options of a driver that is not the one selected are still checked.
  auto other = SelectDriver(env_, "vfs", nlohmann::json::parse(R"({"overlay": {"sise": 1}})"));
  ASSERT_FALSE(other.ok());
  EXPECT_THAT(other.error().message(), HasSubstr("driver-opts.overlay.sise: unknown option"));
  EXPECT_FALSE(stdfs::exists(env_.root + "/vfs"));  // rejected before anything was created
  auto o = SelectDriver(env_, "overlay", nlohmann::json::parse(R"({"overlay": {"sise": 1}})"));
  ASSERT_FALSE(o.ok());
  EXPECT_THAT(o.error().message(), HasSubstr("driver-opts.overlay.sise: unknown option"));
}

TEST_F(RegistryTest, ConfiguredVfs) {
  auto s = SelectDriver(env_, "vfs", nlohmann::json::parse(R"({"vfs": {}})"));
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(s->driver->Name(), "vfs");
  EXPECT_EQ(s->why, "configured");
  EXPECT_EQ(s->driver->Home(), env_.root + "/vfs");
}

// On a kernel without device-mapper (this host), devicemapper is skipped by auto-detect with the
// reason, and choosing it fails with that reason.
TEST_F(RegistryTest, DevicemapperIsSkippedWithTheReasonWithoutDeviceMapper) {
  if (sys::ProbeDeviceMapper().ok()) GTEST_SKIP() << "this kernel has device-mapper";
  auto s = SelectDriver(env_, "", nullptr);
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_NE(s->driver->Name(), "devicemapper");
  ASSERT_FALSE(s->skipped.empty());
  EXPECT_EQ(s->skipped[0].first, "devicemapper");
  EXPECT_THAT(s->skipped[0].second, HasSubstr("device-mapper"));
  auto chosen = SelectDriver(env_, "devicemapper", nullptr);
  ASSERT_FALSE(chosen.ok());
  EXPECT_EQ(chosen.error().code(), EOPNOTSUPP);
  EXPECT_THAT(chosen.error().message(), HasSubstr("driver devicemapper: device-mapper"));
  EXPECT_FALSE(stdfs::exists(env_.root + "/devicemapper"));
}

TEST_F(RegistryTest, DevicemapperOptionsAreCheckedEvenWhenNotSelected) {
  auto s = SelectDriver(env_, "vfs",
                        nlohmann::json::parse(R"({"devicemapper": {"base-sise": "10G"}})"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), EINVAL);
  EXPECT_THAT(s.error().message(), HasSubstr("driver-opts.devicemapper.base-sise"));
  EXPECT_THAT(s.error().message(), HasSubstr("did you mean \"base-size\""));
}

TEST_F(RegistryTest, ExistingStateWins) {
  stdfs::create_directories(env_.root + "/vfs/dir/layer1");
  stdfs::create_directories(env_.root + "/overlay");  // empty: not state
  auto s = SelectDriver(env_, "", nullptr);
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(s->driver->Name(), "vfs");
  EXPECT_EQ(s->why, "auto: existing state in " + env_.root + "/vfs");
}

TEST_F(RegistryTest, StateOfSeveralDriversMustBeResolvedByConfig) {
  stdfs::create_directories(env_.root + "/vfs/dir/layer1");
  stdfs::create_directories(env_.root + "/overlay/l");
  auto s = SelectDriver(env_, "", nullptr);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), EINVAL);
  EXPECT_THAT(s.error().message(), HasSubstr("several drivers (overlay, vfs)"));
  EXPECT_TRUE(SelectDriver(env_, "vfs", nullptr).ok());
}

}  // namespace
}  // namespace strata::drivers
