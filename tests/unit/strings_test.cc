#include "core/strings.h"

#include <gtest/gtest.h>

namespace strata {
namespace {

TEST(StringsTest, EditDistance) {
  EXPECT_EQ(EditDistance("", ""), 0u);
  EXPECT_EQ(EditDistance("overlay", "overlay"), 0u);
  EXPECT_EQ(EditDistance("ovrlay", "overlay"), 1u);
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3u);
}

TEST(StringsTest, DidYouMeanFindsCloseName) {
  EXPECT_EQ(DidYouMean("ovrlay", {"vfs", "overlay"}), " (did you mean \"overlay\"?)");
  EXPECT_EQ(DidYouMean("lyer", {"info", "layer", "driver"}), " (did you mean \"layer\"?)");
}

TEST(StringsTest, DidYouMeanStaysQuietWhenNothingIsClose) {
  EXPECT_EQ(DidYouMean("zzzzzz", {"vfs", "overlay"}), "");
}

TEST(StringsTest, Join) {
  EXPECT_EQ(Join({"a", "b", "c"}, ", "), "a, b, c");
  EXPECT_EQ(Join({}, ", "), "");
}

}  // namespace
}  // namespace strata
