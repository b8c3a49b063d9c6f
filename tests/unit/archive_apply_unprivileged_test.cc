// ApplyLayerTar without privileges: entries owned by the caller need no chown, so path checks and
// the kDelete/kAufs whiteout formats run as any user. (Owners, devices and the overlay format need
// root: tests/host/archive_*_test.cc.)
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drivers/archive/archive.h"
#include "tests/archive_test_util.h"

namespace strata::drivers::archive {
namespace {

using test_util::BytesFd;
using test_util::TarBuilder;
using test_util::TempDir;

class ArchiveApplyUnprivileged : public ::testing::Test {
 protected:
  TarBuilder& File(TarBuilder& tar, const std::string& name, const std::string& content) {
    return tar.File(name, content, 0644, uid_, gid_);
  }
  Result<ApplyStats> Apply(const std::string& bytes, WhiteoutFormat format) {
    UniqueFd fd = BytesFd(bytes);
    return ApplyLayerTar(fd.Get(), root_.path(), format);
  }
  bool Exists(const std::string& rel) {
    struct stat st;
    return lstat((root_ / rel).c_str(), &st) == 0;
  }

  int64_t uid_ = geteuid();
  int64_t gid_ = getegid();
  TempDir root_;
};

TEST_F(ArchiveApplyUnprivileged, RejectsDotDotAndStopsThere) {
  TarBuilder tar;
  tar.Owner(uid_, gid_);
  File(tar, "ok", "1");
  File(tar, "a/../../escape", "x");
  Result<ApplyStats> r = Apply(tar.Bytes(), WhiteoutFormat::kDelete);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), EPERM);
  EXPECT_EQ(r.error().message(), "entry \"a/../../escape\": path escapes the layer root");
  EXPECT_TRUE(Exists("ok"));  // earlier entries stay: callers apply into a fresh layer
  EXPECT_FALSE(Exists("a"));
}

TEST_F(ArchiveApplyUnprivileged, RejectsWritingThroughASwappedInSymlink) {
  TempDir outside;
  TarBuilder tar;
  tar.Owner(uid_, gid_).Dir("d", 0755, uid_, gid_).Symlink("d", outside.path());
  File(tar, "d/x", "x");
  Result<ApplyStats> r = Apply(tar.Bytes(), WhiteoutFormat::kDelete);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), EXDEV);
  EXPECT_EQ(r.error().message(), "entry \"d/x\": \"d\" is a symlink: path escapes the layer root");
  struct stat st;
  EXPECT_NE(lstat((outside / "x").c_str(), &st), 0);
}

TEST_F(ArchiveApplyUnprivileged, DeleteFormatRemovesWhitedOutPaths) {
  TarBuilder lower;
  lower.Owner(uid_, gid_);
  File(lower, "gone", "g");
  File(lower, "dir/a", "a");
  ASSERT_TRUE(Apply(lower.Bytes(), WhiteoutFormat::kDelete).ok());
  TarBuilder upper;
  upper.Owner(uid_, gid_);
  File(upper, ".wh.gone", "");
  File(upper, "dir/.wh..wh..opq", "");
  File(upper, "dir/b", "b");
  Result<ApplyStats> r = Apply(upper.Bytes(), WhiteoutFormat::kDelete);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_FALSE(Exists("gone"));
  EXPECT_FALSE(Exists("dir/a"));
  EXPECT_TRUE(Exists("dir/b"));
  EXPECT_FALSE(Exists(".wh.gone"));
}

TEST_F(ArchiveApplyUnprivileged, AufsFormatKeepsWhiteoutFiles) {
  TarBuilder tar;
  tar.Owner(uid_, gid_);
  File(tar, ".wh.gone", "");
  File(tar, ".wh..wh.orph/x", "");
  ASSERT_TRUE(Apply(tar.Bytes(), WhiteoutFormat::kAufs).ok());
  EXPECT_TRUE(Exists(".wh.gone"));
  EXPECT_FALSE(Exists(".wh..wh.orph"));
}

}  // namespace
}  // namespace strata::drivers::archive
