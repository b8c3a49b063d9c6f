#include "core/units.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>

namespace strata {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kKiB = 1024, kMiB = kKiB * 1024, kGiB = kMiB * 1024, kTiB = kGiB * 1024;

uint64_t Parsed(std::string_view s) {
  auto r = ParseSize(s);
  EXPECT_TRUE(r.ok()) << s << ": " << r.error().message();
  return r.ok() ? *r : 0;
}

TEST(ParseSizeTest, AcceptsCommonSpellings) {
  EXPECT_EQ(Parsed("4096"), 4096u);
  EXPECT_EQ(Parsed("0"), 0u);
  EXPECT_EQ(Parsed("512B"), 512u);
  EXPECT_EQ(Parsed("64K"), 64 * kKiB);
  EXPECT_EQ(Parsed("512M"), 512 * kMiB);
  EXPECT_EQ(Parsed("10G"), 10 * kGiB);
  EXPECT_EQ(Parsed("10GiB"), 10 * kGiB);
  EXPECT_EQ(Parsed("10gb"), 10 * kGiB);
  EXPECT_EQ(Parsed("10g"), 10 * kGiB);
  EXPECT_EQ(Parsed("10GIB"), 10 * kGiB);
  EXPECT_EQ(Parsed("2T"), 2 * kTiB);
  EXPECT_EQ(Parsed("1P"), 1024 * kTiB);
  EXPECT_EQ(Parsed(" 10 G "), 10 * kGiB);
}

TEST(ParseSizeTest, Fractions) {
  EXPECT_EQ(Parsed("1.5G"), kGiB + kGiB / 2);
  EXPECT_EQ(Parsed("0.5K"), 512u);
  EXPECT_EQ(Parsed(".5K"), 512u);
  EXPECT_EQ(Parsed("1.3K"), 1331u);  // 1331.2, truncated
  EXPECT_EQ(Parsed("4096.0"), 4096u);
  EXPECT_EQ(Parsed("1.0000000000000000000000001K"), 1024u);  // digits past 18 ignored
}

void ExpectError(std::string_view input, int code, std::string_view fragment) {
  auto r = ParseSize(input);
  ASSERT_FALSE(r.ok()) << input << " parsed as " << *r;
  EXPECT_EQ(r.error().code(), code) << r.error().message();
  EXPECT_THAT(r.error().message(), HasSubstr(fragment));
  EXPECT_THAT(r.error().message(), HasSubstr("\"" + std::string(input) + "\""));
}

TEST(ParseSizeTest, RejectsBadInput) {
  ExpectError("", EINVAL, "empty");
  ExpectError("   ", EINVAL, "empty");
  ExpectError("-1G", EINVAL, "negative");
  ExpectError("G", EINVAL, "not a number");
  ExpectError(".", EINVAL, "not a number");
  ExpectError("1.5", EINVAL, "fraction of a byte");
  ExpectError("1.5B", EINVAL, "fraction of a byte");
  ExpectError("1e3", EINVAL, "unknown unit \"e3\"");
  ExpectError("10Bi", EINVAL, "unknown unit");
  ExpectError("10BiB", EINVAL, "unknown unit");
  ExpectError("10GG", EINVAL, "unknown unit");
  ExpectError("1.2.3G", EINVAL, "unknown unit");
}

TEST(ParseSizeTest, UnknownUnitMessageNamesExpectedUnits) {
  auto r = ParseSize("10X");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(),
            "size \"10X\": unknown unit \"X\" (expected B, K, M, G, T, P with optional iB)");
}

TEST(ParseSizeTest, Overflow) {
  EXPECT_EQ(Parsed("18446744073709551615"), UINT64_MAX);
  ExpectError("18446744073709551616", ERANGE, "too large");
  ExpectError("99999999999999999999999999", ERANGE, "too large");
  ExpectError("16384P", ERANGE, "too large");
  ExpectError("16777216T", ERANGE, "too large");
  EXPECT_EQ(Parsed("16383P"), 16383 * 1024 * kTiB);
}

TEST(FormatSizeTest, HumanForms) {
  EXPECT_EQ(FormatSize(0), "0B");
  EXPECT_EQ(FormatSize(512), "512B");
  EXPECT_EQ(FormatSize(1023), "1023B");
  EXPECT_EQ(FormatSize(1024), "1K");
  EXPECT_EQ(FormatSize(1536), "1.5K");
  EXPECT_EQ(FormatSize(kMiB + kMiB / 2), "1.5M");
  EXPECT_EQ(FormatSize(10 * kGiB), "10G");
  EXPECT_EQ(FormatSize(kMiB - 1), "1023.9K");  // truncated, never rounded up to 1024.0K
  EXPECT_EQ(FormatSize(2 * kTiB), "2T");
  EXPECT_EQ(FormatSize(UINT64_MAX), "16383.9P");
}

TEST(FormatSizeTest, RoundTripsThroughParseSize) {
  for (uint64_t v : {uint64_t{0}, uint64_t{512}, kKiB, 3 * kKiB / 2, 10 * kGiB, 5 * kTiB / 2,
                     kMiB - 1, UINT64_MAX}) {
    uint64_t back = Parsed(FormatSize(v));
    EXPECT_LE(back, v) << FormatSize(v);
  }
  EXPECT_EQ(Parsed(FormatSize(kGiB + kGiB / 2)), kGiB + kGiB / 2);
}

}  // namespace
}  // namespace strata
