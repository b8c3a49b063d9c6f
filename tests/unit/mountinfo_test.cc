#include "core/sys/mountinfo.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>

#include "tests/fakes/fake_mounts.h"

namespace strata::sys {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kSample[] =
    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro\n"
    "36 22 98:0 /mnt1 /mnt\\040with\\040space rw,noatime master:1 propagate_from:2 - ext3 "
    "/dev/root rw,errors=continue\n"
    "40 22 0:35 / /run rw,nosuid - tmpfs tmpfs rw,size=1024k\n";

TEST(ParseMountInfoTest, ParsesFieldsAndOptionalFields) {
  auto r = ParseMountInfo(kSample);
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->size(), 3u);
  const MountEntry& a = (*r)[0];
  EXPECT_EQ(a.mount_id, 22);
  EXPECT_EQ(a.parent_id, 1);
  EXPECT_EQ(a.root, "/");
  EXPECT_EQ(a.mount_point, "/");
  EXPECT_EQ(a.fs_type, "ext4");
  EXPECT_EQ(a.source, "/dev/sda1");
  EXPECT_EQ(a.super_options, "rw,errors=remount-ro");
  const MountEntry& b = (*r)[1];  // two optional fields before the separator
  EXPECT_EQ(b.mount_id, 36);
  EXPECT_EQ(b.root, "/mnt1");
  EXPECT_EQ(b.mount_point, "/mnt with space");
  EXPECT_EQ(b.fs_type, "ext3");
  EXPECT_EQ(b.source, "/dev/root");
  const MountEntry& c = (*r)[2];  // no optional fields
  EXPECT_EQ(c.fs_type, "tmpfs");
  EXPECT_EQ(c.super_options, "rw,size=1024k");
}

TEST(ParseMountInfoTest, EmptyTextIsEmptyTable) {
  auto r = ParseMountInfo("");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
}

TEST(ParseMountInfoTest, NoTrailingNewline) {
  auto r = ParseMountInfo("40 22 0:35 / /run rw - tmpfs tmpfs rw");
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].mount_point, "/run");
}

TEST(ParseMountInfoTest, RejectsMissingSeparator) {
  auto r = ParseMountInfo(
      "22 1 8:1 / / rw shared:1 - ext4 /dev/sda1 rw\n"
      "40 22 0:35 / /run rw shared:2 tmpfs tmpfs rw x\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), EINVAL);
  EXPECT_THAT(r.error().message(), HasSubstr("line 2"));
  EXPECT_THAT(r.error().message(), HasSubstr("separator"));
}

TEST(ParseMountInfoTest, RejectsShortLineAndBadId) {
  EXPECT_EQ(ParseMountInfo("22 1 8:1 / /\n").error().code(), EINVAL);
  auto r = ParseMountInfo("x 1 8:1 / / rw - ext4 /dev/sda1 rw\n");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message(), HasSubstr("mount id"));
  EXPECT_FALSE(ParseMountInfo("22 1 8:1 / / rw - ext4 /dev/sda1\n").ok());
}

TEST(UnescapeMountFieldTest, DecodesOctalEscapes) {
  EXPECT_EQ(UnescapeMountField("a\\040b\\011c\\012d\\134e"), "a b\tc\nd\\e");
  EXPECT_EQ(UnescapeMountField("plain"), "plain");
  EXPECT_EQ(UnescapeMountField("trail\\04"), "trail\\04");  // incomplete escape kept
  EXPECT_EQ(UnescapeMountField("bad\\089"), "bad\\089");    // not octal
}

TEST(FakeMountsTest, RecordsCallsAndTracksTable) {
  FakeMounts m;
  ASSERT_TRUE(m.MountNewApi(
                   "overlay",
                   {{FsParam::Kind::kString, "lowerdir+", "/l1"}, {FsParam::Kind::kFlag, "ro", ""}},
                   0, "/target")
                  .ok());
  ASSERT_TRUE(m.Mount("tmpfs", "/t2", "tmpfs", 0, "size=1m").ok());
  EXPECT_TRUE(m.IsMounted("/target"));
  auto info = m.MountInfo();
  ASSERT_TRUE(info.ok());
  ASSERT_EQ(info->size(), 2u);
  EXPECT_EQ((*info)[0].fs_type, "overlay");
  EXPECT_EQ((*info)[0].super_options, "lowerdir+=/l1,ro");
  ASSERT_TRUE(m.Unmount("/target", 0).ok());
  EXPECT_FALSE(m.IsMounted("/target"));
  EXPECT_EQ(m.Unmount("/target", 0).error().code(), EINVAL);
  EXPECT_THAT(m.calls(), ElementsAre("mount_new overlay /target", "mount tmpfs /t2",
                                     "umount /target", "umount /target"));
  EXPECT_EQ(m.mount_calls()[1].data, "size=1m");
}

TEST(FakeMountsTest, FailNextFailsOnceWithoutMounting) {
  FakeMounts m;
  m.FailNext("mount_new", EBUSY);
  auto r = m.MountNewApi("overlay", {}, 0, "/t");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), EBUSY);
  EXPECT_FALSE(m.IsMounted("/t"));
  EXPECT_TRUE(m.MountNewApi("overlay", {}, 0, "/t").ok());
  m.FailNext("umount", EBUSY);
  EXPECT_EQ(m.Unmount("/t", 0).error().code(), EBUSY);
  EXPECT_TRUE(m.IsMounted("/t"));
  m.FailNext("mountinfo", EIO);
  EXPECT_EQ(m.MountInfo().error().code(), EIO);
}

}  // namespace
}  // namespace strata::sys
