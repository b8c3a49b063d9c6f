// Pure name handling of layer tars: cleaning/validation and whiteout classification.
#include <gtest/gtest.h>

#include <cerrno>

#include "drivers/archive/entry_name.h"
#include "drivers/archive/tree_writer.h"

namespace strata::drivers::archive {
namespace {

std::string Clean(std::string_view name) {
  Result<std::string> r = CleanEntryName(name);
  return r.ok() ? *r : "ERROR: " + r.error().message();
}

TEST(ArchiveEntryName, CleansHarmlessForms) {
  EXPECT_EQ(Clean("a/b"), "a/b");
  EXPECT_EQ(Clean("./a/b/"), "a/b");
  EXPECT_EQ(Clean("a//b/./c"), "a/b/c");
  EXPECT_EQ(Clean("././a"), "a");
  EXPECT_EQ(Clean("."), "");
  EXPECT_EQ(Clean("./"), "");
  EXPECT_EQ(Clean(""), "");
  EXPECT_EQ(Clean("..a/b.."), "..a/b..");  // dots inside a name are just characters
  EXPECT_EQ(Clean("a/..."), "a/...");
}

TEST(ArchiveEntryName, RejectsDotDotNamingTheEntry) {
  Result<std::string> r = CleanEntryName("../../etc/passwd");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), EPERM);
  EXPECT_EQ(r.error().message(), "entry \"../../etc/passwd\": path escapes the layer root");
  EXPECT_FALSE(CleanEntryName("a/../b").ok());
  EXPECT_FALSE(CleanEntryName("a/b/..").ok());
  EXPECT_FALSE(CleanEntryName("./..").ok());
  EXPECT_FALSE(CleanEntryName("a/./../../x").ok());
}

TEST(ArchiveEntryName, RejectsAbsoluteNames) {
  Result<std::string> r = CleanEntryName("/etc/shadow");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), EPERM);
  EXPECT_EQ(r.error().message(), "entry \"/etc/shadow\": path escapes the layer root");
  EXPECT_FALSE(CleanEntryName("//x").ok());
  EXPECT_FALSE(CleanEntryName("/").ok());
}

TEST(ArchiveEntryName, RelativePathErrorHasNoEntryContext) {
  Result<std::string> r = CleanRelativePath("../x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "path escapes the layer root");
}

WhiteoutName Parse(std::string_view clean) {
  Result<WhiteoutName> r = ParseWhiteout(clean, clean);
  EXPECT_TRUE(r.ok()) << clean;
  return r.ok() ? *r : WhiteoutName{};
}

TEST(ArchiveWhiteoutName, OrdinaryNames) {
  EXPECT_EQ(Parse("a/b").kind, WhiteoutName::Kind::kNone);
  EXPECT_EQ(Parse("x.wh.y").kind, WhiteoutName::Kind::kNone);
  EXPECT_EQ(Parse("a.wh./b").kind, WhiteoutName::Kind::kNone);
  EXPECT_EQ(Parse(".whfoo").kind, WhiteoutName::Kind::kNone);
}

TEST(ArchiveWhiteoutName, Whiteouts) {
  WhiteoutName top = Parse(".wh.foo");
  EXPECT_EQ(top.kind, WhiteoutName::Kind::kWhiteout);
  EXPECT_EQ(top.dir, "");
  EXPECT_EQ(top.target, "foo");
  WhiteoutName deep = Parse("a/b/.wh.c.txt");
  EXPECT_EQ(deep.kind, WhiteoutName::Kind::kWhiteout);
  EXPECT_EQ(deep.dir, "a/b");
  EXPECT_EQ(deep.target, "a/b/c.txt");
  // A whiteout of a file whose own name starts with .wh. is still a whiteout of that name.
  EXPECT_EQ(Parse("d/.wh..wh.x").target, "d/.wh.x");
}

TEST(ArchiveWhiteoutName, OpaqueMarker) {
  WhiteoutName opaque = Parse("etc/apt/.wh..wh..opq");
  EXPECT_EQ(opaque.kind, WhiteoutName::Kind::kOpaque);
  EXPECT_EQ(opaque.dir, "etc/apt");
  EXPECT_EQ(Parse(".wh..wh..opq").dir, "");
}

TEST(ArchiveWhiteoutName, AufsMetaAndEverythingBelowIt) {
  EXPECT_EQ(Parse(".wh..wh.plnk").kind, WhiteoutName::Kind::kAufsMeta);
  EXPECT_EQ(Parse(".wh..wh.plnk/1234.5678").kind, WhiteoutName::Kind::kAufsMeta);
  EXPECT_EQ(Parse(".wh..wh.aufs").kind, WhiteoutName::Kind::kAufsMeta);
  EXPECT_EQ(Parse(".wh..wh.orph/x/y").kind, WhiteoutName::Kind::kAufsMeta);
  EXPECT_EQ(Parse("a/.wh..wh.orph").kind, WhiteoutName::Kind::kAufsMeta);
}

TEST(ArchiveWhiteoutName, RejectsWhiteoutsOfDotAndDotDot) {
  Result<WhiteoutName> up = ParseWhiteout("a/.wh...", "./a/.wh...");
  ASSERT_FALSE(up.ok());
  EXPECT_EQ(up.error().code(), EPERM);
  EXPECT_EQ(up.error().message(), "entry \"./a/.wh...\": path escapes the layer root");
  EXPECT_FALSE(ParseWhiteout(".wh..", ".wh..").ok());
  EXPECT_FALSE(ParseWhiteout("a/.wh.", "a/.wh.").ok());
}

TEST(ArchiveEntryName, SplitJoinAndPrefix) {
  EXPECT_EQ(SplitEntryName("a/b/c").dir, "a/b");
  EXPECT_EQ(SplitEntryName("a/b/c").base, "c");
  EXPECT_EQ(SplitEntryName("c").dir, "");
  EXPECT_EQ(SplitEntryName("c").base, "c");
  EXPECT_EQ(JoinEntryName("", "x"), "x");
  EXPECT_EQ(JoinEntryName("a/b", "x"), "a/b/x");
  EXPECT_TRUE(IsAtOrUnder("a/b", "a"));
  EXPECT_TRUE(IsAtOrUnder("a", "a"));
  EXPECT_TRUE(IsAtOrUnder("a", ""));
  EXPECT_FALSE(IsAtOrUnder("ab", "a"));
  EXPECT_FALSE(IsAtOrUnder("a-b/c", "a"));
  EXPECT_FALSE(IsAtOrUnder("a", "a/b"));
}

TEST(ArchiveEntryName, OverlayXattrsAreNotLayerContent) {
  EXPECT_TRUE(IsOverlayXattr("trusted.overlay.opaque"));
  EXPECT_TRUE(IsOverlayXattr("trusted.overlay.redirect"));
  EXPECT_TRUE(IsOverlayXattr("user.overlay.metacopy"));
  EXPECT_FALSE(IsOverlayXattr("trusted.other"));
  EXPECT_FALSE(IsOverlayXattr("user.overlayish"));
  EXPECT_FALSE(IsOverlayXattr("security.capability"));
}

}  // namespace
}  // namespace strata::drivers::archive
