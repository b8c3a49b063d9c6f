#include "drivers/devicemapper/dm_mount.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>

namespace strata::drivers::devicemapper {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using thinpool::Filesystem;

std::vector<std::string> Keys(const MountSpec& spec) {
  std::vector<std::string> keys;
  for (const sys::FsParam& p : spec.params) {
    keys.push_back(p.kind == sys::FsParam::Kind::kFlag ? p.key : p.key + "=" + p.value);
  }
  return keys;
}

TEST(DmMountTest, Ext4SplitsPerMountAttributesFromFilesystemOptions) {
  auto spec = PlanMount(Filesystem::kExt4, {"noatime", "nodev", "discard", "commit=30"},
                        "/dev/mapper/strata-pool-thin-3", false);
  ASSERT_TRUE(spec.ok()) << spec.error().message();
  EXPECT_EQ(spec->fs_type, "ext4");
  EXPECT_THAT(Keys(*spec), ElementsAre("source=/dev/mapper/strata-pool-thin-3", "discard", "commit=30"));
  EXPECT_EQ(spec->attrs, sys::kMountAttrNoatime | sys::kMountAttrNodev);
}

TEST(DmMountTest, ReadOnlyIsAPerMountAttribute) {
  auto spec = PlanMount(Filesystem::kExt4, {}, "/dev/x", true);
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->attrs, sys::kMountAttrRdonly);
  EXPECT_THAT(Keys(*spec), ElementsAre("source=/dev/x"));
}

TEST(DmMountTest, XfsAlwaysGetsNouuidOnce) {
  auto spec = PlanMount(Filesystem::kXfs, {"nouuid", "logbsize=256k"}, "/dev/x", false);
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->fs_type, "xfs");
  EXPECT_THAT(Keys(*spec), ElementsAre("source=/dev/x", "nouuid", "logbsize=256k"));
}

TEST(DmMountTest, RoAndRwAreRefused) {
  for (const char* opt : {"ro", "rw"}) {
    auto spec = PlanMount(Filesystem::kExt4, {opt}, "/dev/x", false);
    ASSERT_FALSE(spec.ok()) << opt;
    EXPECT_EQ(spec.error().code(), EINVAL);
    EXPECT_THAT(spec.error().message(), HasSubstr("mount-options"));
  }
}

TEST(DmMountTest, MkfsCommandsDoNotDiscardAndAppendUserOptionsBeforeTheDevice) {
  EXPECT_THAT(MkfsCommand(Filesystem::kExt4, {"-b", "4096"}, "/dev/d"),
              ElementsAre("mkfs.ext4", "-q", "-F", "-E", "nodiscard,assume_storage_prezeroed=1",
                          "-m", "0", "-b", "4096", "/dev/d"));
  EXPECT_THAT(MkfsCommand(Filesystem::kXfs, {}, "/dev/d"),
              ElementsAre("mkfs.xfs", "-q", "-f", "-K", "/dev/d"));
}

TEST(DmMountTest, GrowCommands) {
  EXPECT_THAT(GrowFsCommand(Filesystem::kExt4, "/dev/d", "/m"), ElementsAre("resize2fs", "/dev/d"));
  EXPECT_THAT(GrowFsCommand(Filesystem::kXfs, "/dev/d", "/m"), ElementsAre("xfs_growfs", "/m"));
}

}  // namespace
}  // namespace strata::drivers::devicemapper
