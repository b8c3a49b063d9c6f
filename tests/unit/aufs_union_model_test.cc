// strata-aufs's pure union model: command line and branch parsing, whiteout names, name
// resolution across branches, the readdir merge and the inode table.
#include <dirent.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "aufs/union_model.h"

namespace strata::aufs {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

Result<std::string> NoFiles(const std::string& path) { return Error(ENOENT, path + ": no such file"); }

Result<Options> Parse(std::vector<std::string> args) { return ParseCommandLine(args, NoFiles); }

TEST(AufsBranchSpec, ParsesModesTopFirst) {
  auto b = ParseBranchSpec("/u=rw:/l1=ro+wh:/l2=ro");
  ASSERT_TRUE(b.ok()) << b.error().message();
  ASSERT_EQ(b->size(), 3u);
  EXPECT_EQ((*b)[0].path, "/u");
  EXPECT_EQ((*b)[0].mode, BranchMode::kReadWrite);
  EXPECT_EQ((*b)[1].mode, BranchMode::kReadOnlyWhiteouts);
  EXPECT_EQ((*b)[2].mode, BranchMode::kReadOnly);
}

TEST(AufsBranchSpec, ModeDefaultsAsAufsAndPathMayHoldEquals) {
  auto b = ParseBranchSpec("/u:/a=b=ro");
  ASSERT_TRUE(b.ok()) << b.error().message();
  EXPECT_EQ((*b)[0].mode, BranchMode::kReadWrite);
  EXPECT_EQ((*b)[1].path, "/a=b");
}

TEST(AufsBranchSpec, RejectsBadInputNamingTheBranch) {
  struct Case {
    const char* spec;
    const char* message;
  } cases[] = {
      {"/u=rw:/l=rx", "branch 2 \"/l=rx\": unknown mode \"rx\""},
      {"/u=rw:/l=rw", "branch 2 \"/l=rw\": a second rw branch"},
      {"/l=ro:/u=rw", "branch 2 \"/u=rw\": rw branch not first"},
      {"/u=rw::/l=ro", "branch 2 \"\": empty"},
      {"=rw", "empty path"},
      {"", "no branches"},
  };
  for (const Case& c : cases) {
    auto b = ParseBranchSpec(c.spec);
    ASSERT_FALSE(b.ok()) << c.spec;
    EXPECT_EQ(b.error().code(), EINVAL);
    EXPECT_THAT(b.error().message(), HasSubstr(c.message)) << c.spec;
  }
}

TEST(AufsBranchSpec, LimitIs127Branches) {
  std::string spec = "/u=rw";
  for (int i = 1; i < 127; ++i) spec += ":/l" + std::to_string(i) + "=ro+wh";
  EXPECT_TRUE(ParseBranchSpec(spec).ok());
  auto over = ParseBranchSpec(spec + ":/one-more=ro");
  ASSERT_FALSE(over.ok());
  EXPECT_THAT(over.error().message(), HasSubstr("too many branches"));
}

TEST(AufsCommandLine, ParsesFlagsOptionsAndMountpoint) {
  auto o = Parse({"-f", "-o", "br=/u=rw:/l=ro+wh,allow_other,dirperm1,xino=/dev/shm/x", "/mnt"});
  ASSERT_TRUE(o.ok()) << o.error().message();
  EXPECT_TRUE(o->foreground);
  EXPECT_TRUE(o->allow_other);
  EXPECT_TRUE(o->dirperm1);
  EXPECT_FALSE(o->read_only);
  EXPECT_EQ(o->xino_path, "/dev/shm/x");
  EXPECT_EQ(o->mountpoint, "/mnt");
  EXPECT_EQ(o->branches.size(), 2u);
  auto colon = Parse({"-obr:/u=rw", "-o", "ro", "/m"});
  ASSERT_TRUE(colon.ok()) << colon.error().message();
  EXPECT_TRUE(colon->read_only);
  EXPECT_FALSE(colon->foreground);
}

TEST(AufsCommandLine, NoRwBranchMeansReadOnlyUnion) {
  auto o = Parse({"-o", "br=/a=ro:/b=ro+wh", "/m"});
  ASSERT_TRUE(o.ok()) << o.error().message();
  EXPECT_TRUE(o->read_only);
}

TEST(AufsCommandLine, BranchFileCarriesAnyLength) {
  std::string spec = "/u=rw";
  for (int i = 0; i < 126; ++i) spec += ":/" + std::string(4000, 'x') + std::to_string(i) + "=ro+wh";
  auto read = [&](const std::string& path) -> Result<std::string> {
    if (path != "/run/br") return Error(ENOENT, path);
    return "br:" + spec + "\n";
  };
  auto o = ParseCommandLine({"-o", "br_file=/run/br", "/m"}, read);
  ASSERT_TRUE(o.ok()) << o.error().message();
  EXPECT_EQ(o->branches.size(), 127u);
  EXPECT_EQ(o->branches.back().path, "/" + std::string(4000, 'x') + "125");
}

TEST(AufsCommandLine, ErrorsNameTheProblem) {
  struct Case {
    std::vector<std::string> args;
    const char* message;
  } cases[] = {
      {{"-o", "br=/u=rw"}, "no mountpoint"},
      {{"/m"}, "no branches"},
      {{"-o", "br=/u=rw,brr=/x", "/m"}, "unknown option \"brr=/x\" (did you mean \"br\"?)"},
      {{"-o", "br=/u=rw", "-o", "br=/v=rw", "/m"}, "given twice"},
      {{"-o", "br_file=/nope", "/m"}, "option br_file=/nope: /nope"},
      {{"-x", "/m"}, "unknown flag \"-x\""},
      {{"-o", "br=/u=rw", "/m", "/n"}, "more than one mountpoint"},
      {{"-o", "br=/a=ro:/b=rw", "/m"}, "option br: branch 2 \"/b=rw\": rw branch not first"},
      {{"-o"}, "-o needs an argument"},
  };
  for (const Case& c : cases) {
    auto o = Parse(c.args);
    ASSERT_FALSE(o.ok()) << c.message;
    // A missing br_file keeps the read's errno; everything else is EINVAL.
    EXPECT_EQ(o.error().code(), c.args.size() > 1 && c.args[1].starts_with("br_file") ? ENOENT : EINVAL);
    EXPECT_THAT(o.error().message(), HasSubstr(c.message));
  }
}

TEST(AufsNames, InternalNamesAndWhiteouts) {
  for (const char* n : {".wh.x", ".wh..wh..opq", ".wh..wh.aufs", ".wh..wh.plnk", ".wh..wh.orph"}) {
    EXPECT_TRUE(IsInternalName(n)) << n;
  }
  EXPECT_FALSE(IsInternalName(".whx"));
  EXPECT_FALSE(IsInternalName("a.wh.b"));
  EXPECT_EQ(WhiteoutName("a"), ".wh.a");
  EXPECT_EQ(WhitedOutName(".wh.a"), "a");
  EXPECT_EQ(WhitedOutName(".wh..wh..opq"), "");
  EXPECT_EQ(WhitedOutName(".wh..wh.plnk"), "");
  EXPECT_EQ(WhitedOutName("a"), "");
  EXPECT_EQ(WhitedOutName(".wh."), "");
}

TEST(AufsPaths, ParentBaseAndBranchRelative) {
  EXPECT_EQ(ParentPath("/a/b"), "/a");
  EXPECT_EQ(ParentPath("/a"), "/");
  EXPECT_EQ(BaseName("/a/b"), "b");
  EXPECT_EQ(BranchRelative("/"), ".");
  EXPECT_EQ(BranchRelative("/a/b"), "a/b");
  EXPECT_EQ(JoinPath("/", "a"), "/a");
  EXPECT_EQ(JoinPath("/a", "b"), "/a/b");
}

// Runs ResolveEntry over a fixed column of observations and records which were looked at.
struct Column {
  explicit Column(std::vector<BranchEntry> e) : entries(std::move(e)) {}
  std::vector<BranchEntry> entries;
  std::vector<size_t> observed;
  Resolution Resolve() {
    return ResolveEntry(entries.size(), [this](size_t i) {
      observed.push_back(i);
      return entries[i];
    });
  }
};
constexpr BranchEntry kAbsent{};
constexpr BranchEntry kWhiteout{EntryType::kAbsent, true, false};
constexpr BranchEntry kFile{EntryType::kOther, false, false};
constexpr BranchEntry kDir{EntryType::kDirectory, false, false};
constexpr BranchEntry kOpaqueDir{EntryType::kDirectory, false, true};

TEST(AufsResolve, FirstBranchWithTheNameWinsAndFilesStopTheSearch) {
  Column c({kAbsent, kFile, kFile});
  Resolution r = c.Resolve();
  EXPECT_EQ(r.type, EntryType::kOther);
  EXPECT_THAT(r.layers, ElementsAre(1));
  EXPECT_THAT(c.observed, ElementsAre(0, 1));  // lazy: the third branch is never probed
}

TEST(AufsResolve, WhiteoutHidesLowerBranches) {
  Column c({kAbsent, kWhiteout, kFile});
  EXPECT_EQ(c.Resolve().type, EntryType::kAbsent);
  EXPECT_THAT(c.observed, ElementsAre(0, 1));
}

TEST(AufsResolve, EntryBeatsAWhiteoutInItsOwnBranch) {
  // Observe reports whiteout only for absent names; an entry with its whiteout beside it wins.
  Column c({BranchEntry{EntryType::kOther, true, false}, kFile});
  Resolution r = c.Resolve();
  EXPECT_EQ(r.type, EntryType::kOther);
  EXPECT_THAT(r.layers, ElementsAre(0));
}

TEST(AufsResolve, DirectoriesMergeUntilOpaqueWhiteoutOrFile) {
  Column merged({kDir, kAbsent, kDir, kDir});
  EXPECT_THAT(merged.Resolve().layers, ElementsAre(0, 2, 3));
  Column opaque({kAbsent, kOpaqueDir, kDir});
  Resolution r = opaque.Resolve();
  EXPECT_EQ(r.type, EntryType::kDirectory);
  EXPECT_THAT(r.layers, ElementsAre(1));
  EXPECT_THAT(opaque.observed, ElementsAre(0, 1));
  Column whited({kDir, kWhiteout, kDir});
  EXPECT_THAT(whited.Resolve().layers, ElementsAre(0));
  Column file_below({kDir, kFile, kDir});
  EXPECT_THAT(file_below.Resolve().layers, ElementsAre(0));
  Column opaque_lower({kDir, kOpaqueDir, kDir});
  EXPECT_THAT(opaque_lower.Resolve().layers, ElementsAre(0, 1));
}

TEST(AufsResolve, DirectoryOverFileHidesIt) {
  Column c({kAbsent, kDir, kFile});
  Resolution r = c.Resolve();
  EXPECT_EQ(r.type, EntryType::kDirectory);
  EXPECT_THAT(r.layers, ElementsAre(1));
}

TEST(AufsResolve, NothingAnywhereIsAbsent) {
  Column c({kAbsent, kAbsent});
  EXPECT_EQ(c.Resolve().type, EntryType::kAbsent);
  EXPECT_EQ(ResolveEntry(0, [](size_t) { return kFile; }).type, EntryType::kAbsent);
}

std::vector<DirEntry> Listing(std::vector<std::pair<std::string, uint8_t>> names) {
  std::vector<DirEntry> out;
  for (auto& [n, t] : names) out.push_back(DirEntry{n, t, 0});
  return out;
}

std::map<std::string, std::pair<uint8_t, size_t>> ByName(const std::vector<DirEntry>& merged) {
  std::map<std::string, std::pair<uint8_t, size_t>> m;
  for (const DirEntry& e : merged) {
    EXPECT_TRUE(m.emplace(e.name, std::make_pair(e.d_type, e.layer)).second) << "twice: " << e.name;
  }
  return m;
}

TEST(AufsMerge, UnionOfBranchesEachNameOnceTopWins) {
  auto merged = MergeListings({Listing({{"a", DT_REG}, {"d", DT_DIR}}),
                               Listing({{"a", DT_DIR}, {"b", DT_REG}}),
                               Listing({{"c", DT_LNK}, {"b", DT_DIR}})});
  auto m = ByName(merged);
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m["a"], std::make_pair(uint8_t{DT_REG}, size_t{0}));
  EXPECT_EQ(m["b"], std::make_pair(uint8_t{DT_REG}, size_t{1}));
  EXPECT_EQ(m["c"], std::make_pair(uint8_t{DT_LNK}, size_t{2}));
  EXPECT_EQ(m["d"], std::make_pair(uint8_t{DT_DIR}, size_t{0}));
}

TEST(AufsMerge, WhiteoutsHideLowerOnlyAndInternalNamesNeverShow) {
  auto merged = MergeListings({Listing({{".wh.b", DT_REG}, {".wh.x", DT_REG}, {"x", DT_REG},
                                        {".wh..wh..opq", DT_REG}, {".wh..wh.plnk", DT_DIR},
                                        {".wh..wh.aufs", DT_REG}, {".wh..wh.orph", DT_DIR}}),
                               Listing({{"b", DT_REG}, {"x", DT_DIR}, {"c", DT_REG}, {".wh.c", DT_REG}}),
                               Listing({{"c", DT_DIR}, {"e", DT_REG}, {".", DT_DIR}, {"..", DT_DIR}})});
  auto m = ByName(merged);
  EXPECT_EQ(m.size(), 3u);
  EXPECT_TRUE(m.contains("x"));  // its whiteout sits in the same branch: the entry wins
  EXPECT_EQ(m["x"].second, 0u);
  EXPECT_TRUE(m.contains("c"));  // .wh.c in branch 1 hides only branch 2's c
  EXPECT_EQ(m["c"].second, 1u);
  EXPECT_TRUE(m.contains("e"));
  EXPECT_FALSE(m.contains("b"));
}

TEST(AufsMerge, WhiteoutAlsoHidesNamesInEveryLowerBranch) {
  auto merged = MergeListings({Listing({{".wh.a", DT_REG}}), Listing({}), Listing({{"a", DT_REG}})});
  EXPECT_TRUE(merged.empty());
}

TEST(AufsInodes, StablePerPathLinksShareAndRenamesMoveSubtrees) {
  InodeTable t;
  EXPECT_EQ(t.Get("/"), 1u);
  uint64_t a = t.Get("/a");
  uint64_t d = t.Get("/d");
  uint64_t dx = t.Get("/d/x");
  uint64_t dd = t.Get("/dd/y");
  EXPECT_EQ(t.Get("/a"), a);
  EXPECT_NE(a, d);
  t.Link("/a", "/b");
  EXPECT_EQ(t.Get("/b"), a);
  t.Rename("/d", "/e");
  EXPECT_EQ(t.Get("/e"), d);
  EXPECT_EQ(t.Get("/e/x"), dx);
  EXPECT_EQ(t.Get("/dd/y"), dd);  // a sibling sharing the prefix does not move
  EXPECT_NE(t.Get("/d/x"), dx);   // the old name is a new file now
  t.Forget("/a");
  EXPECT_NE(t.Get("/a"), a);
  EXPECT_EQ(t.Get("/b"), a);
}

}  // namespace
}  // namespace strata::aufs
