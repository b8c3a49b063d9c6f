// ApplyLayerTar against hostile and broken archives: every escape is rejected with an error naming
// the entry, and nothing outside the root changes.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "drivers/archive/archive.h"
#include "tests/archive_test_util.h"

namespace strata::drivers::archive {
namespace {

using test_util::BytesFd;
using test_util::Snapshot;
using test_util::TarBuilder;
using test_util::TempDir;

// A root next to an "outside" directory holding a file, and the outside's snapshot before the test.
class ArchiveMalicious : public ::testing::TestWithParam<WhiteoutFormat> {
 protected:
  void SetUp() override {
    root_ = base_ / "root";
    outside_ = base_ / "outside";
    ASSERT_EQ(mkdir(root_.c_str(), 0755), 0);
    ASSERT_EQ(mkdir(outside_.c_str(), 0755), 0);
    ASSERT_EQ(test_util::Shell("echo secret > " + outside_ + "/secret"), "");
    before_ = Snapshot(outside_);
  }
  void TearDown() override {
    EXPECT_EQ(test_util::Describe(Snapshot(outside_)), test_util::Describe(before_))
        << "something was written outside the root";
  }

  // Applies `tar` and expects an error whose message names `entry` and has `code` (-1: EIO or
  // EINVAL, what broken input gives).
  void ExpectRejected(const std::string& tar, const std::string& entry, int code) {
    UniqueFd fd = BytesFd(tar);
    Result<ApplyStats> r = ApplyLayerTar(fd.Get(), root_, GetParam());
    ASSERT_FALSE(r.ok()) << "applied: " << test_util::Describe(Snapshot(root_));
    if (code == -1) {
      EXPECT_TRUE(r.error().code() == EIO || r.error().code() == EINVAL) << r.error().message();
    } else {
      EXPECT_EQ(r.error().code(), code) << r.error().message();
    }
    EXPECT_NE(r.error().message().find("entry \"" + entry + "\""), std::string::npos)
        << r.error().message();
  }

  TempDir base_;
  std::string root_;
  std::string outside_;
  test_util::Tree before_;
};

TEST_P(ArchiveMalicious, DotDotEntry) {
  ExpectRejected(TarBuilder().File("../outside/pwned", "x").Bytes(), "../outside/pwned", EPERM);
  ExpectRejected(TarBuilder().File("a/../../outside/pwned", "x").Bytes(), "a/../../outside/pwned",
                 EPERM);
}

TEST_P(ArchiveMalicious, AbsolutePath) {
  ExpectRejected(TarBuilder().File(outside_ + "/pwned", "x").Bytes(), outside_ + "/pwned", EPERM);
}

TEST_P(ArchiveMalicious, HardlinkToDotDot) {
  ExpectRejected(TarBuilder().Hardlink("h", "../outside/secret").Bytes(), "h", EPERM);
}

TEST_P(ArchiveMalicious, HardlinkToAbsolutePath) {
  ExpectRejected(TarBuilder().Hardlink("h", outside_ + "/secret").Bytes(), "h", EPERM);
}

TEST_P(ArchiveMalicious, WriteThroughAbsoluteSymlink) {
  ExpectRejected(TarBuilder().Symlink("evil", outside_).File("evil/pwned", "x").Bytes(),
                 "evil/pwned", EXDEV);
}

TEST_P(ArchiveMalicious, WriteThroughRelativeSymlink) {
  ExpectRejected(TarBuilder().Symlink("evil", "../outside").File("evil/pwned", "x").Bytes(),
                 "evil/pwned", EXDEV);
  ExpectRejected(TarBuilder().Dir("a").Symlink("a/up", "../..").Dir("a/up/outside/sub").Bytes(),
                 "a/up/outside/sub/", EXDEV);  // libarchive writes directories with a '/'
}

TEST_P(ArchiveMalicious, SymlinkSwappedInForADirectory) {
  ExpectRejected(
      TarBuilder().Dir("d").File("d/ok", "fine").Symlink("d", outside_).File("d/x", "x").Bytes(),
      "d/x", EXDEV);
}

TEST_P(ArchiveMalicious, HardlinkThroughSymlink) {
  ExpectRejected(TarBuilder().Symlink("s", outside_).Hardlink("h", "s/secret").Bytes(), "h", EXDEV);
  struct stat st;
  EXPECT_NE(lstat((root_ + "/h").c_str(), &st), 0);
}

TEST_P(ArchiveMalicious, WhiteoutThroughSymlink) {
  ExpectRejected(TarBuilder().Symlink("s", outside_).File("s/.wh.secret", "").Bytes(),
                 "s/.wh.secret", EXDEV);
  ExpectRejected(TarBuilder().Symlink("s", outside_).File("s/.wh..wh..opq", "").Bytes(),
                 "s/.wh..wh..opq", EXDEV);
}

TEST_P(ArchiveMalicious, WhiteoutOfDotDot) {
  ExpectRejected(TarBuilder().File(".wh...", "").Bytes(), ".wh...", EPERM);
}

// Entries that land ON a symlink replace it; they never write or chmod through it.
TEST_P(ArchiveMalicious, EntriesOnASymlinkReplaceIt) {
  UniqueFd fd = BytesFd(TarBuilder()
                            .Symlink("f", outside_ + "/secret")
                            .File("f", "mine", 0666)
                            .Symlink("d", outside_)
                            .Dir("d", 0777)
                            .Symlink("n", outside_ + "/secret")
                            .Node("n", AE_IFIFO, 0, 0, 0666)
                            .Bytes());
  Result<ApplyStats> r = ApplyLayerTar(fd.Get(), root_, GetParam());
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(test_util::FileContent(root_ + "/f"), "mine");
  struct stat st;
  ASSERT_EQ(lstat((root_ + "/d").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
}

TEST_P(ArchiveMalicious, TruncatedArchiveNamesTheLastEntry) {
  std::string tar = TarBuilder().File("first", "1").File("big", std::string(100000, 'b')).Bytes();
  ExpectRejected(tar.substr(0, tar.size() / 2), "big", -1);  // in the middle of big's content
  // In the middle of big's headers: the error names the last entry read whole.
  ExpectRejected(tar.substr(0, 512 * 6), "first", -1);
}

TEST_P(ArchiveMalicious, TruncatedCompressedArchive) {
  std::string tar = TarBuilder(Compression::kGzip)
                        .File("first", "1")
                        .File("big", test_util::Shell("head -c 200000 /dev/urandom | base64"))
                        .Bytes();
  UniqueFd fd = BytesFd(tar.substr(0, tar.size() / 2));
  Result<ApplyStats> r = ApplyLayerTar(fd.Get(), root_, GetParam());
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().code() == EIO || r.error().code() == EINVAL) << r.error().message();
  EXPECT_NE(r.error().message().find("big"), std::string::npos) << r.error().message();
}

TEST_P(ArchiveMalicious, GarbageIsAnError) {
  UniqueFd fd = BytesFd(std::string(4096, 'z'));
  Result<ApplyStats> r = ApplyLayerTar(fd.Get(), root_, GetParam());
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().code() == EIO || r.error().code() == EINVAL) << r.error().message();
}

INSTANTIATE_TEST_SUITE_P(All, ArchiveMalicious,
                         ::testing::Values(WhiteoutFormat::kOverlay, WhiteoutFormat::kDelete,
                                           WhiteoutFormat::kAufs));

}  // namespace
}  // namespace strata::drivers::archive
