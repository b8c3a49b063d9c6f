// ApplyLayerTar on the real filesystem (root): every file kind and its metadata, compression,
// whiteout formats, and replacing what is already there.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "drivers/archive/archive.h"
#include "tests/archive_test_util.h"

namespace strata::drivers::archive {
namespace {

using test_util::BytesFd;
using test_util::Snapshot;
using test_util::TarBuilder;
using test_util::TempDir;
using test_util::Xattrs;

Result<ApplyStats> Apply(const std::string& tar, const std::string& root,
                         WhiteoutFormat format = WhiteoutFormat::kOverlay) {
  UniqueFd fd = BytesFd(tar);
  return ApplyLayerTar(fd.Get(), root, format);
}

struct stat Lstat(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(lstat(path.c_str(), &st), 0) << path;
  return st;
}

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

class ArchiveApplyCompression : public ::testing::TestWithParam<Compression> {};

TEST_P(ArchiveApplyCompression, AppliesFilesAndCountsThem) {
  TempDir root;
  std::string tar = TarBuilder(GetParam())
                        .Dir("./etc/")
                        .File("./etc/hostname", "box\n")
                        .File("usr/bin/tool", std::string(100000, 'x'), 0755)
                        .Bytes();
  Result<ApplyStats> stats = Apply(tar, root.path());
  ASSERT_TRUE(stats.ok()) << stats.error().message();
  EXPECT_EQ(stats->entries, 3u);
  EXPECT_EQ(stats->size_bytes, 4u + 100000u);
  EXPECT_EQ(test_util::FileContent(root / "etc/hostname"), "box\n");
  EXPECT_EQ(Lstat(root / "usr/bin/tool").st_mode & 07777, 0755u);
  EXPECT_EQ(Lstat(root / "usr").st_mode & 07777, 0755u);  // implied parents: 0755 like tar
}

INSTANTIATE_TEST_SUITE_P(All, ArchiveApplyCompression,
                         ::testing::Values(Compression::kNone, Compression::kGzip,
                                           Compression::kZstd));

TEST(ArchiveApply, KeepsModesOwnersTimesAndXattrs) {
  TempDir root;
  std::string tar = TarBuilder()
                        .Xattr("user.color", "blue")
                        .Dir("d", 0750, 1234, 5678, 1500000000)
                        .Xattr("user.k", "v")
                        .Xattr("trusted.t", "secret")
                        .File("d/f", "data", 04755, 1234, 5678, 1400000000)
                        .File("d/ro", "r", 0400)
                        .Bytes();
  ASSERT_TRUE(Apply(tar, root.path()).ok());
  struct stat f = Lstat(root / "d/f");
  EXPECT_EQ(f.st_mode & 07777, 04755u);  // setuid survives the chown that would clear it
  EXPECT_EQ(f.st_uid, 1234u);
  EXPECT_EQ(f.st_gid, 5678u);
  EXPECT_EQ(f.st_mtim.tv_sec, 1400000000);
  EXPECT_EQ(f.st_mtim.tv_nsec, 123456789);
  EXPECT_EQ(Lstat(root / "d/ro").st_mode & 07777, 0400u);
  struct stat d = Lstat(root / "d");
  EXPECT_EQ(d.st_mode & 07777, 0750u);
  EXPECT_EQ(d.st_uid, 1234u);
  EXPECT_EQ(d.st_mtim.tv_sec, 1500000000);  // restored after its children were written
  EXPECT_EQ(d.st_mtim.tv_nsec, 123456789);
  EXPECT_EQ(Xattrs(root / "d"), (std::map<std::string, std::string>{{"user.color", "blue"}}));
  EXPECT_EQ(Xattrs(root / "d/f"),
            (std::map<std::string, std::string>{{"trusted.t", "secret"}, {"user.k", "v"}}));
}

// Files are chowned only when creating them did not already give the right owner; a set-group-ID
// directory hands its group to new files, so there the chown is needed even for root:root.
TEST(ArchiveApply, OwnersUnderASetgidDirectory) {
  TempDir root;
  ASSERT_EQ(chown(root.path().c_str(), 0, 777), 0);
  ASSERT_EQ(chmod(root.path().c_str(), 02755), 0);
  ASSERT_TRUE(
      Apply(
          TarBuilder().File("top", "t").File("sub/f", "f").File("mine", "m", 0644, 0, 777).Bytes(),
          root.path())
          .ok());
  EXPECT_EQ(Lstat(root / "top").st_gid, 0u);
  EXPECT_EQ(Lstat(root / "sub/f").st_gid, 0u);  // sub inherited the setgid bit and group 777
  EXPECT_EQ(Lstat(root / "mine").st_gid, 777u);
}

TEST(ArchiveApply, LinksNodesFifosAndSparseFiles) {
  TempDir root;
  std::string tar = TarBuilder()
                        .File("a", "shared")
                        .Hardlink("dir/b", "./a")
                        .Symlink("s", "../../anywhere")
                        .Node("null", AE_IFCHR, 1, 3, 0666)
                        .Node("blk", AE_IFBLK, 7, 0, 0600)
                        .Node("fifo", AE_IFIFO, 0, 0, 0640)
                        .Sparse("sparse", 64 << 20, 32 << 20, "middle")
                        .Bytes();
  Result<ApplyStats> stats = Apply(tar, root.path());
  ASSERT_TRUE(stats.ok()) << stats.error().message();
  struct stat a = Lstat(root / "a");
  struct stat b = Lstat(root / "dir/b");
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(a.st_nlink, 2u);
  EXPECT_EQ(std::filesystem::read_symlink(root / "s"), "../../anywhere");
  struct stat null = Lstat(root / "null");
  EXPECT_TRUE(S_ISCHR(null.st_mode));
  EXPECT_EQ(null.st_rdev, makedev(1, 3));
  EXPECT_EQ(null.st_mode & 07777, 0666u);
  EXPECT_TRUE(S_ISBLK(Lstat(root / "blk").st_mode));
  struct stat fifo = Lstat(root / "fifo");
  EXPECT_TRUE(S_ISFIFO(fifo.st_mode));
  EXPECT_EQ(fifo.st_mode & 07777, 0640u);
  struct stat sparse = Lstat(root / "sparse");
  EXPECT_EQ(sparse.st_size, 64 << 20);
  EXPECT_LT(sparse.st_blocks * 512, 1 << 20) << "holes were filled";
  std::string content = test_util::FileContent(root / "sparse");
  EXPECT_EQ(content.substr(32 << 20, 6), "middle");
  EXPECT_EQ(content.find_first_not_of('\0'), static_cast<size_t>(32 << 20));
}

TEST(ArchiveApply, OverlayWhiteoutsBecomeDevicesAndOpaqueXattrs) {
  TempDir root;
  ASSERT_EQ(mkdir((root / "gone").c_str(), 0755), 0);  // replaced by the whiteout
  std::string tar = TarBuilder()
                        .Dir("d")
                        .File("d/.wh..wh..opq", "")
                        .File("d/kept", "k")
                        .File(".wh.gone", "", 0600, 1234, 5678)
                        .File("e/.wh.x", "")  // in a directory the tar never created
                        .File(".wh..wh.plnk/123.456", "aufs meta")
                        .Bytes();
  Result<ApplyStats> stats = Apply(tar, root.path(), WhiteoutFormat::kOverlay);
  ASSERT_TRUE(stats.ok()) << stats.error().message();
  EXPECT_EQ(stats->entries, 5u);  // the aufs meta entry does not count
  struct stat gone = Lstat(root / "gone");
  EXPECT_TRUE(S_ISCHR(gone.st_mode));
  EXPECT_EQ(gone.st_rdev, makedev(0, 0));
  EXPECT_EQ(gone.st_uid, 1234u);
  EXPECT_TRUE(S_ISCHR(Lstat(root / "e/x").st_mode));
  EXPECT_EQ(Xattrs(root / "d"),
            (std::map<std::string, std::string>{{"trusted.overlay.opaque", "y"}}));
  EXPECT_FALSE(Exists(root / "d/.wh..wh..opq"));
  EXPECT_FALSE(Exists(root / ".wh.gone"));
  EXPECT_FALSE(Exists(root / ".wh..wh.plnk"));
  EXPECT_TRUE(Exists(root / "d/kept"));
}

TEST(ArchiveApply, DeleteWhiteoutsRemoveFromAFullTree) {
  TempDir root;
  // The parent layer's tree: a file, a directory with content, an opaque-to-be directory.
  ASSERT_TRUE(Apply(TarBuilder()
                        .File("file", "old")
                        .File("dir/sub/deep", "old")
                        .File("opq/old1", "old")
                        .File("opq/keepdir/old2", "old")
                        .File("opq/keepdir/rewritten", "old")
                        .Bytes(),
                    root.path(), WhiteoutFormat::kDelete)
                  .ok());
  std::string layer = TarBuilder()
                          .File(".wh.file", "")
                          .File(".wh.dir", "")
                          .Dir("opq")
                          .File("opq/.wh..wh..opq", "")
                          .File("opq/keepdir/rewritten", "new")
                          .File("opq/new", "new")
                          .File(".wh.never-existed", "")
                          .Bytes();
  Result<ApplyStats> stats = Apply(layer, root.path(), WhiteoutFormat::kDelete);
  ASSERT_TRUE(stats.ok()) << stats.error().message();
  EXPECT_FALSE(Exists(root / "file"));
  EXPECT_FALSE(Exists(root / "dir"));
  EXPECT_FALSE(Exists(root / "opq/old1"));
  EXPECT_FALSE(Exists(root / "opq/keepdir/old2"));  // lower content below a rewritten dir goes too
  EXPECT_EQ(test_util::FileContent(root / "opq/keepdir/rewritten"), "new");
  EXPECT_EQ(test_util::FileContent(root / "opq/new"), "new");
  EXPECT_FALSE(Exists(root / ".wh.file"));
  EXPECT_FALSE(Exists(root / "opq/.wh..wh..opq"));
}

TEST(ArchiveApply, AufsKeepsWhiteoutFilesAndSkipsMeta) {
  TempDir root;
  std::string tar = TarBuilder()
                        .File(".wh.gone", "")
                        .Dir("d")
                        .File("d/.wh..wh..opq", "")
                        .Dir(".wh..wh.plnk")
                        .File(".wh..wh.plnk/1.2", "x")
                        .File(".wh..wh.aufs", "")
                        .Bytes();
  Result<ApplyStats> stats = Apply(tar, root.path(), WhiteoutFormat::kAufs);
  ASSERT_TRUE(stats.ok()) << stats.error().message();
  EXPECT_TRUE(S_ISREG(Lstat(root / ".wh.gone").st_mode));
  EXPECT_TRUE(S_ISREG(Lstat(root / "d/.wh..wh..opq").st_mode));
  EXPECT_TRUE(Xattrs(root / "d").empty());
  EXPECT_FALSE(Exists(root / ".wh..wh.plnk"));
  EXPECT_FALSE(Exists(root / ".wh..wh.aufs"));
  EXPECT_EQ(stats->entries, 3u);
}

TEST(ArchiveApply, ReplacesWhatIsThere) {
  TempDir root;
  std::string tar = TarBuilder()
                        .File("x/inner", "i")     // x is a directory with content ...
                        .File("x", "now a file")  // ... replaced by a file
                        .Symlink("l", "t1")
                        .Symlink("l", "t2")
                        .File("f", "one")
                        .Dir("f")  // a file replaced by a directory
                        .File("f/child", "c")
                        .Dir("keep", 0700)
                        .File("keep/a", "a")
                        .Dir("keep", 0755)  // an existing directory keeps its children
                        .Bytes();
  ASSERT_TRUE(Apply(tar, root.path()).ok());
  EXPECT_EQ(test_util::FileContent(root / "x"), "now a file");
  EXPECT_EQ(std::filesystem::read_symlink(root / "l"), "t2");
  EXPECT_EQ(test_util::FileContent(root / "f/child"), "c");
  EXPECT_EQ(test_util::FileContent(root / "keep/a"), "a");
  EXPECT_EQ(Lstat(root / "keep").st_mode & 07777, 0755u);
}

TEST(ArchiveApply, DropsOverlayXattrsFromTheArchive) {
  TempDir root;
  std::string tar =
      TarBuilder().Xattr("trusted.overlay.redirect", "/etc").Xattr("user.ok", "1").Dir("d").Bytes();
  ASSERT_TRUE(Apply(tar, root.path()).ok());
  EXPECT_EQ(Xattrs(root / "d"), (std::map<std::string, std::string>{{"user.ok", "1"}}));
}

TEST(ArchiveApply, EmptyInputIsAnEmptyLayer) {
  TempDir root;
  Result<ApplyStats> stats = Apply("", root.path());
  ASSERT_TRUE(stats.ok()) << stats.error().message();
  EXPECT_EQ(stats->entries, 0u);
}

}  // namespace
}  // namespace strata::drivers::archive
