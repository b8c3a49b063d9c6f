// ExportTree on real trees (root): round trips through ApplyLayerTar, whiteout conversion, the
// digest and determinism.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "drivers/archive/archive.h"
#include "tests/archive_test_util.h"

namespace strata::drivers::archive {
namespace {

using test_util::Shell;
using test_util::Snapshot;
using test_util::TempDir;

void SetXattr(const std::string& path, const std::string& name, const std::string& value) {
  ASSERT_EQ(lsetxattr(path.c_str(), name.c_str(), value.data(), value.size(), 0), 0)
      << path << " " << name << ": " << strerror(errno);
}

// A POSIX ACL as the kernel stores it in system.posix_acl_access: user::rw-, user:1234:rw-,
// group::r--, mask::rw-, other::r-- (no setfacl on this host).
std::string AclXattr() {
  std::string acl;
  auto u32 = [&](uint32_t v) { acl.append(reinterpret_cast<const char*>(&v), 4); };
  auto entry = [&](uint16_t tag, uint16_t perm, uint32_t id) {
    acl.append(reinterpret_cast<const char*>(&tag), 2);
    acl.append(reinterpret_cast<const char*>(&perm), 2);
    u32(id);
  };
  u32(2);  // version
  entry(0x01, 6, 0xffffffff);
  entry(0x02, 6, 1234);
  entry(0x04, 4, 0xffffffff);
  entry(0x10, 6, 0xffffffff);
  entry(0x20, 4, 0xffffffff);
  return acl;
}

// An overlay upper dir with every kind of object a layer holds.
void BuildUpperDir(const std::string& root) {
  auto at = [&](const std::string& rel) { return root + "/" + rel; };
  Shell("set -e; cd " + root +
        "; mkdir -p d opq/sub; printf data > d/f; ln d/f d/f2; ln -s d/f l; : > empty"
        "; mknod null c 1 3; mkfifo p; chmod 0640 p; printf x > opq/sub/x"
        "; truncate -s 64M sparse; printf middle | dd of=sparse bs=1 seek=33554432 conv=notrunc"
        " 2>/dev/null; printf u > 'h\xc3\xa9llo'; head -c 300000 /dev/urandom > big");
  ASSERT_EQ(mknod(at("wo").c_str(), S_IFCHR | 0, makedev(0, 0)), 0);  // overlay whiteout
  ASSERT_EQ(chown(at("d").c_str(), 1234, 5678), 0);
  ASSERT_EQ(chmod(at("d").c_str(), 0750), 0);
  ASSERT_EQ(chown(at("d/f").c_str(), 1234, 5678), 0);
  ASSERT_EQ(chmod(at("d/f").c_str(), 04755), 0);
  ASSERT_EQ(lchown(at("l").c_str(), 42, 43), 0);
  SetXattr(at("d"), "user.dir", "1");
  SetXattr(at("d/f"), "user.k", "v");
  SetXattr(at("d/f"), "trusted.t", std::string("bin\0ary", 7));
  SetXattr(at("l"), "trusted.on-symlink", "s");
  SetXattr(at("opq"), "trusted.overlay.opaque", "y");
  SetXattr(at("empty"), "system.posix_acl_access", AclXattr());
  for (const char* rel : {"d/f", "l", "empty", "null", "p", "sparse", "wo", "opq/sub/x", "big",
                          "opq/sub", "opq", "d"}) {
    test_util::SetMtime(at(rel), 1500000000 + static_cast<long>(strlen(rel)), 987654321);
  }
}

struct Exported {
  ExportStats stats;
  std::string bytes;
  std::string path;
};

Exported Export(const std::string& root, WhiteoutFormat format, Compression compression,
                const TempDir& out_dir, const std::string& name = "layer.tar") {
  Exported out;
  out.path = out_dir / name;
  UniqueFd fd(open(out.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  Result<ExportStats> stats = ExportTree(root, format, fd.Get(), compression);
  EXPECT_TRUE(stats.ok()) << stats.error().message();
  if (stats.ok()) out.stats = *stats;
  out.bytes = test_util::FileContent(out.path);
  return out;
}

class ArchiveExportRoundTrip : public ::testing::TestWithParam<Compression> {};

TEST_P(ArchiveExportRoundTrip, OverlayTreeSurvivesExportAndApply) {
  TempDir upper, applied, out;
  BuildUpperDir(upper.path());
  Exported tar = Export(upper.path(), WhiteoutFormat::kOverlay, GetParam(), out);
  UniqueFd in(open(tar.path.c_str(), O_RDONLY | O_CLOEXEC));
  Result<ApplyStats> stats = ApplyLayerTar(in.Get(), applied.path(), WhiteoutFormat::kOverlay);
  ASSERT_TRUE(stats.ok()) << stats.error().message();
  EXPECT_EQ(test_util::Describe(Snapshot(applied.path())),
            test_util::Describe(Snapshot(upper.path())));
  EXPECT_EQ(Snapshot(applied.path()), Snapshot(upper.path()));
  struct stat sparse;
  ASSERT_EQ(lstat((applied / "sparse").c_str(), &sparse), 0);
  EXPECT_LT(sparse.st_blocks * 512, 1 << 20) << "the sparse file was filled";
  EXPECT_LT(tar.stats.size_bytes, 4u << 20) << "holes were exported as data";
}

TEST_P(ArchiveExportRoundTrip, DigestIsSha256OfTheOutputAndDeterministic) {
  TempDir upper, out;
  BuildUpperDir(upper.path());
  Exported first = Export(upper.path(), WhiteoutFormat::kOverlay, GetParam(), out, "1.tar");
  Exported second = Export(upper.path(), WhiteoutFormat::kOverlay, GetParam(), out, "2.tar");
  std::string sum = Shell("sha256sum " + first.path);
  EXPECT_EQ(first.stats.digest, "sha256:" + sum.substr(0, 64));
  EXPECT_EQ(first.stats.size_bytes, first.bytes.size());
  EXPECT_EQ(first.stats.digest, second.stats.digest);
  EXPECT_EQ(first.bytes, second.bytes);
  EXPECT_EQ(first.stats.entries, test_util::ListTar(first.bytes).size());
}

INSTANTIATE_TEST_SUITE_P(All, ArchiveExportRoundTrip,
                         ::testing::Values(Compression::kNone, Compression::kGzip,
                                           Compression::kZstd));

TEST(ArchiveExport, OverlayWhiteoutsBecomeWhFilesAndOpaqueMarkers) {
  TempDir upper, out;
  BuildUpperDir(upper.path());
  SetXattr(upper / "d/f", "trusted.overlay.origin", "fh");
  Exported tar = Export(upper.path(), WhiteoutFormat::kOverlay, Compression::kNone, out);
  std::vector<std::string> names = test_util::ListTar(tar.bytes);
  auto has = [&](const std::string& line) {
    return std::find(names.begin(), names.end(), line) != names.end();
  };
  EXPECT_TRUE(has("f:.wh.wo")) << ::testing::PrintToString(names);
  EXPECT_FALSE(has("c:wo"));
  auto opq = std::find(names.begin(), names.end(), "d:opq/");
  ASSERT_NE(opq, names.end()) << ::testing::PrintToString(names);
  ASSERT_NE(opq + 1, names.end());
  EXPECT_EQ(*(opq + 1), "f:opq/.wh..wh..opq");  // right after its directory, before children
  EXPECT_TRUE(has("h:d/f2"));
  EXPECT_TRUE(has("c:null"));
  EXPECT_TRUE(has("p:p"));
  EXPECT_EQ(tar.bytes.find("trusted.overlay"), std::string::npos) << "overlay xattrs leaked";
  EXPECT_TRUE(has("f:d/f xattr=trusted.t xattr=user.k") ||
              has("f:d/f xattr=user.k xattr=trusted.t"))
      << ::testing::PrintToString(names);
  // Names are relative, without "./", and in sorted depth-first order.
  EXPECT_EQ(names.front(), "f:big");
}

TEST(ArchiveExport, WhiteoutEntriesAreEmptyFilesWithMode0600) {
  TempDir upper, out, applied;
  ASSERT_EQ(mknod((upper / "gone").c_str(), S_IFCHR | 0, makedev(0, 0)), 0);
  Exported tar = Export(upper.path(), WhiteoutFormat::kOverlay, Compression::kNone, out);
  // Apply as aufs keeps the .wh. file as it is in the tar.
  UniqueFd in(open(tar.path.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(ApplyLayerTar(in.Get(), applied.path(), WhiteoutFormat::kAufs).ok());
  struct stat st;
  ASSERT_EQ(lstat((applied / ".wh.gone").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_size, 0);
}

TEST(ArchiveExport, AufsBranchKeepsWhFilesAndSkipsMeta) {
  TempDir branch, out;
  Shell("set -e; cd " + branch.path() +
        "; mkdir -p d .wh..wh.plnk .wh..wh.orph; : > .wh.gone; : > d/.wh..wh..opq"
        "; : > .wh..wh.aufs; : > .wh..wh.plnk/1.2; printf x > d/file");
  Exported tar = Export(branch.path(), WhiteoutFormat::kAufs, Compression::kNone, out);
  EXPECT_EQ(test_util::ListTar(tar.bytes),
            (std::vector<std::string>{"f:.wh.gone", "d:d/", "f:d/.wh..wh..opq", "f:d/file"}));
}

TEST(ArchiveExport, MissingRootIsENOENT) {
  TempDir out;
  UniqueFd fd(open((out / "x").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  Result<ExportStats> r =
      ExportTree(out / "missing", WhiteoutFormat::kOverlay, fd.Get(), Compression::kNone);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ENOENT);
}

TEST(ArchiveExport, WriteErrorsAreReported) {
  TempDir upper;
  BuildUpperDir(upper.path());
  UniqueFd fd(open("/dev/full", O_WRONLY | O_CLOEXEC));
  Result<ExportStats> r =
      ExportTree(upper.path(), WhiteoutFormat::kOverlay, fd.Get(), Compression::kNone);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ENOSPC) << r.error().message();
}

}  // namespace
}  // namespace strata::drivers::archive
