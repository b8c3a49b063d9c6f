// The container process's user and environment.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "runtime/process_config.h"

namespace strata::runtime {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kPasswd[] =
    "root:x:0:0:root:/root:/bin/sh\n"
    "# comment\n"
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    "app:x:1000:1000:App:/home/app:/bin/sh\n";
constexpr char kGroup[] =
    "root:x:0:\n"
    "app:x:1000:\n"
    "audio:x:29:app,daemon\n"
    "video:x:44:daemon\n";

TEST(RuntimeUserTest, ResolvesNamesAndIds) {
  auto app = ResolveUser("app", kPasswd, kGroup);
  ASSERT_TRUE(app.ok()) << app.error().message();
  EXPECT_EQ(app->uid, 1000u);
  EXPECT_EQ(app->gid, 1000u);
  EXPECT_THAT(app->additional_gids, ElementsAre(29u));
  EXPECT_EQ(app->home, "/home/app");

  auto by_id = ResolveUser("1", kPasswd, kGroup);
  ASSERT_TRUE(by_id.ok());
  EXPECT_EQ(by_id->gid, 1u);
  EXPECT_THAT(by_id->additional_gids, ElementsAre(29u, 44u));

  auto unknown_id = ResolveUser("4242:7", kPasswd, kGroup);
  ASSERT_TRUE(unknown_id.ok());
  EXPECT_EQ(unknown_id->uid, 4242u);
  EXPECT_EQ(unknown_id->gid, 7u);

  auto named_group = ResolveUser("app:audio", kPasswd, kGroup);
  ASSERT_TRUE(named_group.ok());
  EXPECT_EQ(named_group->gid, 29u);

  auto root = ResolveUser("", "", "");
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(root->uid, 0u);
}

TEST(RuntimeUserTest, ErrorsNameWhatIsMissing) {
  auto no_user = ResolveUser("nobody", kPasswd, kGroup);
  ASSERT_FALSE(no_user.ok());
  EXPECT_EQ(no_user.error().code(), ENOENT);
  EXPECT_THAT(no_user.error().message(), HasSubstr("\"nobody\""));
  auto no_group = ResolveUser("app:wheel", kPasswd, kGroup);
  ASSERT_FALSE(no_group.ok());
  EXPECT_THAT(no_group.error().message(), HasSubstr("group \"wheel\""));
  for (const char* bad : {"a:b:c", ":1", "1:"}) {
    auto r = ResolveUser(bad, kPasswd, kGroup);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code(), EINVAL);
  }
}

TEST(RuntimeEnvTest, MergesOverridesInOrder) {
  auto env = MergeEnv({"PATH=/bin", "A=1", "B=2"}, {"B=3", "C=4", "A"}, "/home/app");
  EXPECT_THAT(env, ElementsAre("PATH=/bin", "B=3", "C=4", "HOME=/home/app"));
  auto defaults = MergeEnv({}, {}, "");
  EXPECT_THAT(defaults,
              ElementsAre("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                          "HOME=/"));
}

}  // namespace
}  // namespace strata::runtime
