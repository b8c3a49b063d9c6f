// Image names and chain ids.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "images/image_store.h"
#include "images/reference.h"

namespace strata::images {
namespace {

using ::testing::HasSubstr;

TEST(ImageReferenceTest, NormalisesNames) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"busybox", "busybox:latest"},
      {"busybox:1.36", "busybox:1.36"},
      {"docker.io/library/busybox:1", "busybox:1"},
      {"docker.io/team/app", "team/app:latest"},
      {"index.docker.io/library/x:y", "x:y"},
      {"registry.example:5000/team/app:v2", "registry.example:5000/team/app:v2"},
      {"localhost/app", "localhost/app:latest"},
      {"a__b-c--d/f_g.h:V_1.0-rc", "a__b-c--d/f_g.h:V_1.0-rc"},
  };
  for (const auto& [in, want] : cases) {
    auto parsed = ParseImageName(in);
    ASSERT_TRUE(parsed.ok()) << in << ": " << parsed.error().message();
    EXPECT_EQ(parsed->ToString(), want) << in;
  }
}

TEST(ImageReferenceTest, RefusesBadNamesWithTheReason) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "empty"},
      {"Busybox", "lowercase"},
      {"app@sha256:abc", "digest references"},
      {"app:", "tag"},
      {"app:-x", "tag"},
      {":tag", "no repository"},
      {"a..b", "path component"},
      {"a/", "path component"},
      {"registry.example:port/app", "host[:port]"},
      {std::string(300, 'a'), "255"},
  };
  for (const auto& [in, why] : cases) {
    auto parsed = ParseImageName(in);
    ASSERT_FALSE(parsed.ok()) << in;
    EXPECT_EQ(parsed.error().code(), EINVAL);
    EXPECT_THAT(parsed.error().message(), HasSubstr(why)) << in;
  }
}

TEST(ImageReferenceTest, BareTagsAndIds) {
  EXPECT_TRUE(IsBareTag("latest"));
  EXPECT_TRUE(IsBareTag("v1.2_rc-3"));
  EXPECT_FALSE(IsBareTag("busybox:latest"));
  EXPECT_FALSE(IsBareTag("a/b"));
  EXPECT_FALSE(IsBareTag("-x"));
  EXPECT_TRUE(LooksLikeImageId("sha256:" + std::string(64, 'a')));
  EXPECT_TRUE(LooksLikeImageId("abcd12"));
  EXPECT_FALSE(LooksLikeImageId("abc"));
  EXPECT_FALSE(LooksLikeImageId("busybox"));
}

TEST(ImageChainIdTest, FollowsTheImageSpec) {
  const std::string a = "sha256:" + std::string(64, 'a');
  const std::string b = "sha256:" + std::string(64, 'b');
  const std::string c = "sha256:" + std::string(64, 'c');
  auto chain = ChainIds({a, b, c});
  ASSERT_TRUE(chain.ok());
  // Computed with python hashlib: sha256("<chain> <diff>").
  EXPECT_THAT(*chain,
              ::testing::ElementsAre(
                  a, "sha256:ccd722928bd92476ba1745586fed6e45a102504185ad88cd89e01ff116fd146c",
                  "sha256:c1377126441fb2f5ec2c21ae2a60255331d639e830f0ee1b40a36e52d4c40588"));
  EXPECT_FALSE(ChainIds({"sha256:xyz"}).ok());
}

}  // namespace
}  // namespace strata::images

namespace strata::images {
namespace {

TEST(ImagePlatformTest, ParsesWhatUsersType) {
  auto arm = ParsePlatform("linux/arm/v7");
  ASSERT_TRUE(arm.ok());
  EXPECT_EQ(arm->os, "linux");
  EXPECT_EQ(arm->architecture, "arm");
  EXPECT_EQ(arm->variant, "v7");
  auto amd = ParsePlatform("linux/amd64");
  ASSERT_TRUE(amd.ok());
  EXPECT_EQ(amd->ToString(), "linux/amd64");
  for (const char* bad : {"", "linux", "linux/", "Linux/amd64", "a/b/c/d", "linux//v7"}) {
    auto parsed = ParsePlatform(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_THAT(parsed.error().message(), ::testing::HasSubstr("OS/ARCH[/VARIANT]"));
  }
}

}  // namespace
}  // namespace strata::images
