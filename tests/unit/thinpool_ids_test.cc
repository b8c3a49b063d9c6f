#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <set>

#include "thinpool/thin_ids.h"

namespace strata::thinpool {
namespace {

using ::testing::HasSubstr;

uint32_t Next(uint32_t last, const std::set<uint32_t>& in_use) {
  auto r = NextThinId(last, in_use);
  EXPECT_TRUE(r.ok()) << r.error().message();
  return r.ok() ? *r : 0xdeadbeef;
}

TEST(ThinIdsTest, FreshPoolStartsAtOne) { EXPECT_EQ(Next(0, {}), 1u); }

TEST(ThinIdsTest, MonotonicNeverReusesAFreedId) {
  // Ids 1..5 were handed out and 2 and 3 deleted: the next id is still 6, not 2.
  EXPECT_EQ(Next(5, {1, 4, 5}), 6u);
  EXPECT_EQ(Next(5, {}), 6u);
}

TEST(ThinIdsTest, SkipsIdsStillInUse) {
  // An orphan found in the pool, or an id quarantined until its delete is confirmed.
  EXPECT_EQ(Next(5, {6, 7, 9}), 8u);
  EXPECT_EQ(Next(5, {7}), 6u);
}

TEST(ThinIdsTest, WrapsAfterTheLast24BitId) {
  EXPECT_EQ(Next(0xfffffe, {}), 0xffffffu);
  EXPECT_EQ(Next(0xffffff, {}), 0u);
  EXPECT_EQ(Next(0xffffff, {0, 1, 2}), 3u);
  EXPECT_EQ(Next(0xfffffe, {0xffffff, 0}), 1u);
  EXPECT_EQ(Next(0xfffffd, {0xfffffe, 0xffffff}), 0u);
}

TEST(ThinIdsTest, RejectsIdsAbove24Bits) {
  auto last = NextThinId(0x1000000, {});
  ASSERT_FALSE(last.ok());
  EXPECT_EQ(last.error().code(), EINVAL);
  EXPECT_THAT(last.error().message(), HasSubstr("last allocated id 16777216 is out of range"));
  auto used = NextThinId(1, {5, 0x1000000});
  ASSERT_FALSE(used.ok());
  EXPECT_EQ(used.error().code(), EINVAL);
  EXPECT_THAT(used.error().message(), HasSubstr("id in use 16777216"));
  EXPECT_TRUE(ValidateThinId(0xffffff).ok());
  EXPECT_EQ(ValidateThinId(0x1000000).error().code(), EINVAL);
}

TEST(ThinIdsTest, ExhaustionIsEnospc) {
  // The same policy on an 8-id space, so the full set is small.
  const std::set<uint32_t> all = {0, 1, 2, 3, 4, 5, 6, 7};
  for (uint32_t last = 0; last <= 7; ++last) {
    auto r = NextId(last, all, 7);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), ENOSPC);
    EXPECT_THAT(r.error().message(), HasSubstr("all 8 ids are in use"));
  }
  std::set<uint32_t> all_but_one = all;
  all_but_one.erase(3);
  for (uint32_t last = 0; last <= 7; ++last) {
    auto r = NextId(last, all_but_one, 7);
    ASSERT_TRUE(r.ok()) << last;
    EXPECT_EQ(*r, 3u) << last;
  }
}

TEST(ThinIdsTest, LongRunWithDeletesNeverRepeatsBeforeWrap) {
  // Allocate 200 ids on a 256-id space, deleting every other one right away: no id repeats
  // until the counter wraps, and after the wrap only freed ids come back.
  std::set<uint32_t> in_use, handed_out;
  uint32_t last = 0;
  for (int i = 0; i < 200; ++i) {
    auto id = NextId(last, in_use, 255);
    ASSERT_TRUE(id.ok());
    EXPECT_TRUE(handed_out.insert(*id).second) << "reused " << *id;
    last = *id;
    if (i % 2 == 0) in_use.insert(*id);
  }
  EXPECT_EQ(last, 200u);
  for (int i = 0; i < 100; ++i) {
    auto id = NextId(last, in_use, 255);
    ASSERT_TRUE(id.ok());
    EXPECT_EQ(in_use.count(*id), 0u) << *id;
    in_use.insert(*id);
    last = *id;
  }
  // 55 fresh ids (201..255), then 0 (never used), then 44 ids freed in the first run.
  EXPECT_EQ(in_use.count(255), 1u);
  EXPECT_EQ(in_use.count(0), 1u);
  EXPECT_EQ(last, 88u);
}

}  // namespace
}  // namespace strata::thinpool
