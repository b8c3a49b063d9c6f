// TreeChanges and ExportChanges on real trees (root): the naive diff of a layer against its
// parent, and its round trip through ApplyLayerTar(kDelete) onto a copy of the parent.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "drivers/archive/archive.h"
#include "tests/archive_test_util.h"

namespace strata::drivers::archive {
namespace {

using test_util::Shell;
using test_util::Snapshot;
using test_util::TempDir;

std::vector<std::string> Render(const std::vector<Change>& changes) {
  std::vector<std::string> out;
  for (const Change& c : changes)
    out.push_back(std::string(1, ChangeKindLetter(c.kind)) + " " + c.path);
  return out;
}

std::vector<std::string> Changes(const std::string& layer, const std::string& parent) {
  Result<std::vector<Change>> changes = TreeChanges(layer, parent);
  EXPECT_TRUE(changes.ok()) << changes.error().message();
  return changes.ok() ? Render(*changes) : std::vector<std::string>{"error"};
}

// parent: the lower tree; layer: a copy of it with one change of every kind.
class ArchiveChanges : public ::testing::Test {
 protected:
  void SetUp() override {
    Shell("set -e; cd " + parent_.path() +
          "; mkdir -p d/sub e keep; printf a > a; printf b > b; printf c > c; printf m > m"
          "; printf x > d/sub/x; printf f > e/f; printf k > keep/k; ln -s a s"
          "; setfattr -n user.x -v 1 keep; touch -d @1500000000.5 a b c m d/sub/x e/f keep/k"
          " d/sub d e keep");
    Shell("cp -a " + parent_.path() + "/. " + layer_.path());
    Shell("set -e; cd " + layer_.path() +
          "; rm b; rm -r d; printf new > n; mkdir -p g; printf h > g/h; chmod 0600 m"
          "; printf longer > c; touch -d @1500000000.5 c; ln -sfn m s"
          "; setfattr -n user.new -v 1 a; rm -r e; printf now-a-file > e"
          "; printf linked > new1; ln new1 new2; setfattr -n user.x -v 2 keep");
  }

  TempDir parent_, layer_;
};

TEST_F(ArchiveChanges, ReportsEveryKindSortedByPath) {
  EXPECT_EQ(Changes(layer_.path(), parent_.path()),
            (std::vector<std::string>{"C a", "D b", "C c", "D d", "C e", "A g", "A g/h", "C keep",
                                      "C m", "A n", "A new1", "A new2", "C s"}));
}

TEST_F(ArchiveChanges, IdenticalTreesHaveNoChanges) {
  EXPECT_EQ(Changes(parent_.path(), parent_.path()), std::vector<std::string>{});
}

TEST_F(ArchiveChanges, WithoutAParentEverythingIsAdded) {
  EXPECT_EQ(Changes(parent_.path(), ""),
            (std::vector<std::string>{"A a", "A b", "A c", "A d", "A d/sub", "A d/sub/x", "A e",
                                      "A e/f", "A keep", "A keep/k", "A m", "A s"}));
}

TEST_F(ArchiveChanges, SameSizeAndMtimeIsUnchangedContent) {
  // Documented limit: content is not read.
  Shell("cd " + layer_.path() + " && printf X > keep/k && touch -d @1500000000.5 keep/k");
  std::vector<std::string> changes = Changes(layer_.path(), parent_.path());
  EXPECT_EQ(std::count(changes.begin(), changes.end(), "C keep/k"), 0);
}

TEST_F(ArchiveChanges, ExportedChangesRebuildTheLayerOnItsParent) {
  Result<std::vector<Change>> changes = TreeChanges(layer_.path(), parent_.path());
  ASSERT_TRUE(changes.ok()) << changes.error().message();
  TempDir out, rebuilt;
  std::string tar_path = out / "diff.tar";
  UniqueFd tar(open(tar_path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  Result<ExportStats> stats = ExportChanges(layer_.path(), *changes, tar.Get(), Compression::kGzip);
  ASSERT_TRUE(stats.ok()) << stats.error().message();
  EXPECT_EQ(stats->digest, "sha256:" + Shell("sha256sum " + tar_path).substr(0, 64));
  std::vector<std::string> names = test_util::ListTar(test_util::ReadAll(tar.Get()));
  // A deleted directory is one whiteout, not one per child.
  EXPECT_NE(std::find(names.begin(), names.end(), "f:.wh.d"), names.end());
  EXPECT_EQ(std::find(names.begin(), names.end(), "f:d/.wh.sub"), names.end());

  Shell("cp -a " + parent_.path() + "/. " + rebuilt.path());
  ASSERT_EQ(lseek(tar.Get(), 0, SEEK_SET), 0);
  Result<ApplyStats> applied = ApplyLayerTar(tar.Get(), rebuilt.path(), WhiteoutFormat::kDelete);
  ASSERT_TRUE(applied.ok()) << applied.error().message();
  EXPECT_EQ(test_util::Describe(Snapshot(rebuilt.path())),
            test_util::Describe(Snapshot(layer_.path())));
  EXPECT_EQ(Changes(rebuilt.path(), layer_.path()), std::vector<std::string>{});
}

TEST_F(ArchiveChanges, ChangesWithParentsWriteTheParentsOnce) {
  TempDir out;
  std::vector<Change> changes = {
      {"g/h", Change::Kind::kAdd}, {"g", Change::Kind::kAdd}, {"keep/k", Change::Kind::kDelete}};
  std::string tar_path = out / "diff.tar";
  UniqueFd tar(open(tar_path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  Result<ExportStats> stats = ExportChanges(layer_.path(), changes, tar.Get(), Compression::kNone);
  ASSERT_TRUE(stats.ok()) << stats.error().message();
  EXPECT_EQ(test_util::ListTar(test_util::ReadAll(tar.Get())),
            (std::vector<std::string>{"d:g/", "f:g/h", "d:keep/ xattr=user.x", "f:keep/.wh.k"}));
}

TEST_F(ArchiveChanges, RejectsChangesOutsideTheRoot) {
  TempDir out;
  UniqueFd tar(open((out / "x").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  Result<ExportStats> stats = ExportChanges(layer_.path(), {{"../etc/passwd", Change::Kind::kAdd}},
                                            tar.Get(), Compression::kNone);
  ASSERT_FALSE(stats.ok());
  EXPECT_EQ(stats.error().code(), EPERM);
}

}  // namespace
}  // namespace strata::drivers::archive
