#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <limits>
#include <string>

#include "thinpool/tables.h"

namespace strata::thinpool {
namespace {

using ::testing::HasSubstr;

constexpr DevRef kMeta{253, 1};
constexpr DevRef kData{253, 0};
constexpr DevRef kPool{253, 3};

// The single line of a one-target table, or the error text.
template <class T>
std::string Line(const Result<T>& r) {
  if (!r.ok()) return "error: " + r.error().message();
  if (r->size() != 1) return "targets: " + std::to_string(r->size());
  return FormatTableLine((*r)[0]);
}

template <class T>
void ExpectInvalid(const Result<T>& r, std::string_view fragment) {
  ASSERT_FALSE(r.ok()) << "unexpectedly ok";
  EXPECT_EQ(r.error().code(), EINVAL) << r.error().message();
  EXPECT_THAT(r.error().message(), HasSubstr(std::string(fragment)));
}

ThinPoolParams Pool(uint32_t block_size_sectors = 128) {
  ThinPoolParams p;
  p.metadata = kMeta;
  p.data = kData;
  p.data_length_sectors = 20971520;  // 10 GiB
  p.block_size_sectors = block_size_sectors;
  p.low_water_mark_blocks = 32768;
  return p;
}

TEST(DevRefTest, FormatsAndParses) {
  EXPECT_EQ((DevRef{253, 3}).ToString(), "253:3");
  EXPECT_EQ((DevRef{7, 0}).ToString(), "7:0");
  auto r = ParseDevRef("259:1048575");
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(*r, (DevRef{259, 1048575}));
  auto max = ParseDevRef("4095:0");
  ASSERT_TRUE(max.ok());
  EXPECT_EQ(max->major, 4095u);
}

TEST(DevRefTest, RejectsPathsAndJunk) {
  for (std::string_view bad : {"", "253", "253:", ":3", "a:b", "253:3x", " 253:3", "253:-1",
                               "/dev/loop0", "253:3:1", "+1:2"}) {
    ExpectInvalid(ParseDevRef(bad), "expected <major>:<minor>");
  }
  ExpectInvalid(ParseDevRef("4096:0"), "out of range");
  ExpectInvalid(ParseDevRef("0:1048576"), "out of range");
}

TEST(SimpleTablesTest, LinearZeroError) {
  EXPECT_EQ(Line(LinearTable({7, 0}, 2048, 1000)), "0 1000 linear 7:0 2048");
  EXPECT_EQ(Line(ZeroTable(4096)), "0 4096 zero");
  EXPECT_EQ(Line(ErrorTable(1)), "0 1 error");
  auto zero = ZeroTable(8);
  ASSERT_TRUE(zero.ok());
  EXPECT_EQ((*zero)[0], (sys::DmTarget{0, 8, "zero", ""}));
}

TEST(SimpleTablesTest, RejectBadValues) {
  ExpectInvalid(LinearTable({7, 0}, 0, 0), "linear length 0");
  ExpectInvalid(ZeroTable(0), "zero length 0");
  ExpectInvalid(ErrorTable(0), "error length 0");
  ExpectInvalid(LinearTable({0, 0}, 0, 8), "linear device 0:0: not a device");
  ExpectInvalid(LinearTable({4096, 1}, 0, 8), "major above 4095");
  ExpectInvalid(LinearTable({7, 1048576}, 0, 8), "minor above 1048575");
  const uint64_t max = std::numeric_limits<uint64_t>::max();
  ExpectInvalid(LinearTable({7, 0}, max - 7, 8), "overflows");
  EXPECT_TRUE(LinearTable({7, 0}, max - 8, 8).ok());
}

TEST(ThinPoolTableTest, FieldGuideExample) {
  ThinPoolParams p = Pool();
  p.zero_blocks = false;
  EXPECT_EQ(Line(ThinPoolTable(p)),
            "0 20971520 thin-pool 253:1 253:0 128 32768 1 skip_block_zeroing");
}

TEST(ThinPoolTableTest, NoFeaturesStillWritesTheCount) {
  EXPECT_EQ(Line(ThinPoolTable(Pool())), "0 20971520 thin-pool 253:1 253:0 128 32768 0");
}

TEST(ThinPoolTableTest, EachFeatureArgByItsKernelName) {
  struct Case {
    void (*set)(ThinPoolParams&);
    std::string features;
  };
  const Case cases[] = {
      {[](ThinPoolParams& p) { p.zero_blocks = false; }, "1 skip_block_zeroing"},
      {[](ThinPoolParams& p) { p.discard = DiscardMode::kIgnore; }, "1 ignore_discard"},
      {[](ThinPoolParams& p) { p.discard = DiscardMode::kNoPassdown; }, "1 no_discard_passdown"},
      {[](ThinPoolParams& p) { p.read_only = true; }, "1 read_only"},
      {[](ThinPoolParams& p) { p.error_if_no_space = true; }, "1 error_if_no_space"},
  };
  for (const Case& c : cases) {
    ThinPoolParams p = Pool();
    c.set(p);
    EXPECT_EQ(Line(ThinPoolTable(p)), "0 20971520 thin-pool 253:1 253:0 128 32768 " + c.features);
  }
}

TEST(ThinPoolTableTest, AllFeaturesInKernelOrderWithCount) {
  ThinPoolParams p = Pool();
  p.zero_blocks = false;
  p.discard = DiscardMode::kIgnore;
  p.read_only = true;
  p.error_if_no_space = true;
  EXPECT_EQ(Line(ThinPoolTable(p)),
            "0 20971520 thin-pool 253:1 253:0 128 32768 4 skip_block_zeroing ignore_discard "
            "read_only error_if_no_space");
  p.discard = DiscardMode::kNoPassdown;
  EXPECT_EQ(Line(ThinPoolTable(p)),
            "0 20971520 thin-pool 253:1 253:0 128 32768 4 skip_block_zeroing "
            "no_discard_passdown read_only error_if_no_space");
}

TEST(ThinPoolTableTest, BlockSizeBoundaries) {
  for (uint32_t ok : {128u, 256u, 1024u, 2097152u}) {
    ThinPoolParams p = Pool(ok);
    p.data_length_sectors = 2097152 * 4;
    p.low_water_mark_blocks = 1;
    EXPECT_TRUE(ThinPoolTable(p).ok()) << ok;
  }
  for (uint32_t bad : {0u, 64u, 127u, 129u, 192u, 2097153u, 2097280u}) {
    ThinPoolParams p = Pool(bad);
    p.low_water_mark_blocks = 0;
    ExpectInvalid(ThinPoolTable(p), "data block size " + std::to_string(bad) + " sectors");
  }
}

TEST(ThinPoolTableTest, LengthMustHoldOneBlock) {
  ThinPoolParams p = Pool(1024);
  p.low_water_mark_blocks = 0;
  p.data_length_sectors = 1023;
  ExpectInvalid(ThinPoolTable(p), "thin-pool length 1023 sectors is shorter than one data block");
  p.data_length_sectors = 1024;
  EXPECT_TRUE(ThinPoolTable(p).ok());
  p.data_length_sectors = 1024 * 3 + 5;  // the tail is unused but allowed, as in the kernel
  EXPECT_EQ(Line(ThinPoolTable(p)), "0 3077 thin-pool 253:1 253:0 1024 0 0");
}

TEST(ThinPoolTableTest, LowWaterMarkIsInBlocksNotSectors) {
  ThinPoolParams p = Pool();  // 20971520 sectors of 128: 163840 blocks
  p.low_water_mark_blocks = 163840;
  EXPECT_TRUE(ThinPoolTable(p).ok());
  p.low_water_mark_blocks = 0;
  EXPECT_TRUE(ThinPoolTable(p).ok());
  p.low_water_mark_blocks = 163841;
  ExpectInvalid(ThinPoolTable(p), "low water mark 163841 blocks is more than the pool's 163840");
  p.low_water_mark_blocks = 4194304;  // 2 GiB in sectors: the classic unit mix-up
  ExpectInvalid(ThinPoolTable(p), "not in sectors");
}

TEST(ThinPoolTableTest, RejectsBadDevices) {
  ThinPoolParams p = Pool();
  p.metadata = p.data;
  ExpectInvalid(ThinPoolTable(p), "metadata and data device are both 253:0");
  p = Pool();
  p.metadata = {0, 0};
  ExpectInvalid(ThinPoolTable(p), "metadata device 0:0");
  p = Pool();
  p.data = {5000, 1};
  ExpectInvalid(ThinPoolTable(p), "data device 5000:1");
}

TEST(ThinTableTest, Lines) {
  EXPECT_EQ(Line(ThinTable(kPool, 7, 2097152)), "0 2097152 thin 253:3 7");
  EXPECT_EQ(Line(ThinTable(kPool, 7, 2097152, DevRef{8, 16})), "0 2097152 thin 253:3 7 8:16");
  EXPECT_EQ(Line(ThinTable(kPool, 0, 1)), "0 1 thin 253:3 0");
}

TEST(ThinTableTest, IdIs24Bits) {
  EXPECT_EQ(Line(ThinTable(kPool, 0xffffff, 8)), "0 8 thin 253:3 16777215");
  ExpectInvalid(ThinTable(kPool, 0x1000000, 8), "thin device id 16777216 is out of range");
}

TEST(ThinTableTest, RejectsBadValues) {
  ExpectInvalid(ThinTable(kPool, 1, 0), "thin length 0");
  ExpectInvalid(ThinTable({0, 0}, 1, 8), "pool device 0:0");
  ExpectInvalid(ThinTable(kPool, 1, 8, kPool), "external origin 253:3 is the pool");
  ExpectInvalid(ThinTable(kPool, 1, 8, DevRef{0, 0}), "external origin 0:0");
}

TEST(ParseThinPoolTest, RoundTripsEveryFeatureCombination) {
  const DiscardMode modes[] = {DiscardMode::kPassdown, DiscardMode::kNoPassdown,
                               DiscardMode::kIgnore};
  int checked = 0;
  for (int bits = 0; bits < 8; ++bits) {
    for (DiscardMode mode : modes) {
      ThinPoolParams p = Pool(256);
      p.zero_blocks = (bits & 1) == 0;
      p.read_only = (bits & 2) != 0;
      p.error_if_no_space = (bits & 4) != 0;
      p.discard = mode;
      auto table = ThinPoolTable(p);
      ASSERT_TRUE(table.ok()) << table.error().message();
      auto parsed = ParseThinPoolTable(*table);
      ASSERT_TRUE(parsed.ok()) << parsed.error().message();
      EXPECT_EQ(*parsed, p) << FormatTable(*table);
      ++checked;
    }
  }
  EXPECT_EQ(checked, 24);
}

TEST(ParseThinPoolTest, KernelLines) {
  // As DM_TABLE_STATUS with DM_STATUS_TABLE_FLAG returns them: a trailing space after features.
  auto p = ParseThinPoolParams("253:1 253:0 128 32768 1 skip_block_zeroing ");
  ASSERT_TRUE(p.ok()) << p.error().message();
  EXPECT_EQ(p->metadata, kMeta);
  EXPECT_EQ(p->data, kData);
  EXPECT_EQ(p->block_size_sectors, 128u);
  EXPECT_EQ(p->low_water_mark_blocks, 32768u);
  EXPECT_FALSE(p->zero_blocks);
  EXPECT_EQ(p->discard, DiscardMode::kPassdown);
  EXPECT_EQ(p->data_length_sectors, 0u);  // only the target knows its length

  auto bare = ParseThinPoolParams("7:1 7:0 2097152 0");  // no feature section at all
  ASSERT_TRUE(bare.ok()) << bare.error().message();
  EXPECT_TRUE(bare->zero_blocks);
  EXPECT_FALSE(bare->read_only);

  // Both discard features: ignore wins, as in the kernel.
  auto both = ParseThinPoolParams("7:1 7:0 128 0 2 no_discard_passdown ignore_discard");
  ASSERT_TRUE(both.ok()) << both.error().message();
  EXPECT_EQ(both->discard, DiscardMode::kIgnore);
}

TEST(ParseThinPoolTest, FeatureCountMustMatch) {
  ExpectInvalid(ParseThinPoolParams("253:1 253:0 128 0 2 skip_block_zeroing"),
                "feature count 2 does not match the 1 feature args");
  ExpectInvalid(ParseThinPoolParams("253:1 253:0 128 0 0 skip_block_zeroing"),
                "feature count 0 does not match the 1");
  ExpectInvalid(ParseThinPoolParams("253:1 253:0 128 0 1"), "feature count 1 does not match the 0");
  ExpectInvalid(ParseThinPoolParams("253:1 253:0 128 0 skip_block_zeroing"),
                "feature count \"skip_block_zeroing\": expected a number");
}

TEST(ParseThinPoolTest, RejectsBadFields) {
  ExpectInvalid(ParseThinPoolParams("253:1 253:0 128 0 1 block_zeroing"),
                "unknown feature \"block_zeroing\"");
  ExpectInvalid(ParseThinPoolParams("253:1 253:0 129 0"), "data block size 129 sectors");
  ExpectInvalid(ParseThinPoolParams("253:1 253:0 99999999999 0"), "block size 99999999999");
  ExpectInvalid(ParseThinPoolParams("253:1 253:0 128"), "expected <metadata dev>");
  ExpectInvalid(ParseThinPoolParams("/dev/loop1 /dev/loop0 128 0"), "metadata device");
  ExpectInvalid(ParseThinPoolParams("253:1 253:0 128 lots"), "low water mark \"lots\"");
  auto r = ParseThinPoolParams("253:1 253:0 128 x");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message(), HasSubstr("thin-pool params \"253:1 253:0 128 x\""));
}

TEST(ParseThinPoolTest, AcceptsWhatTheKernelAccepts) {
  // A low-water mark above the block count is legal in the kernel (another manager's pool).
  sys::DmTarget t{0, 2048, "thin-pool", "253:1 253:0 128 32768 0"};
  auto p = ParseThinPoolTable({t});
  ASSERT_TRUE(p.ok()) << p.error().message();
  EXPECT_EQ(p->data_length_sectors, 2048u);
  EXPECT_EQ(p->low_water_mark_blocks, 32768u);
}

TEST(ParseThinPoolTest, TableShape) {
  sys::DmTarget pool{0, 2048, "thin-pool", "253:1 253:0 128 0 0"};
  ExpectInvalid(ParseThinPoolTable({}), "expected one thin-pool target, got 0");
  ExpectInvalid(ParseThinPoolTable({pool, pool}), "got 2 targets");
  sys::DmTarget thin{0, 2048, "thin", "253:3 1"};
  ExpectInvalid(ParseThinPoolTable({thin}), "expected a thin-pool target, got \"thin\"");
  pool.start_sectors = 8;
  ExpectInvalid(ParseThinPoolTable({pool}), "starts at sector 8");
}

TEST(ParseThinTest, RoundTripsAndParses) {
  for (auto origin : {std::optional<DevRef>(), std::optional<DevRef>(DevRef{8, 16})}) {
    auto table = ThinTable(kPool, 0xffffff, 2097152, origin);
    ASSERT_TRUE(table.ok());
    auto parsed = ParseThinTable(*table);
    ASSERT_TRUE(parsed.ok()) << parsed.error().message();
    EXPECT_EQ(*parsed, (ThinParams{kPool, 0xffffff, 2097152, origin}));
  }
  auto t = ParseThinParams("253:3 7");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, (ThinParams{kPool, 7, 0, std::nullopt}));
}

TEST(ParseThinTest, RejectsBadFields) {
  ExpectInvalid(ParseThinParams("253:3"), "expected <pool dev> <dev id>");
  ExpectInvalid(ParseThinParams("253:3 7 8:16 9"), "expected <pool dev> <dev id>");
  ExpectInvalid(ParseThinParams("253:3 16777216"), "thin device id 16777216 is above 16777215");
  ExpectInvalid(ParseThinParams("253:3 seven"), "thin device id \"seven\"");
  ExpectInvalid(ParseThinParams("253:3 7 origin"), "external origin");
  ExpectInvalid(ParseThinTable({{0, 8, "linear", "7:0 0"}}), "expected a thin target");
}

TEST(FormatTableTest, DmsetupFormat) {
  EXPECT_EQ(FormatTableLine({0, 2097152, "thin", "253:3 7"}), "0 2097152 thin 253:3 7");
  EXPECT_EQ(FormatTableLine({0, 100, "zero", ""}), "0 100 zero");
  EXPECT_EQ(FormatTable({{0, 100, "linear", "7:0 0"}, {100, 50, "error", ""}}),
            "0 100 linear 7:0 0\n100 50 error\n");
  EXPECT_EQ(FormatTable({}), "");
}

TEST(FormatTableTest, ParseTableLineRoundTrips) {
  const sys::DmTarget targets[] = {
      {0, 2097152, "thin", "253:3 7"},
      {0, 100, "zero", ""},
      {8, 20971520, "thin-pool", "253:1 253:0 128 32768 1 skip_block_zeroing"}};
  for (const sys::DmTarget& t : targets) {
    auto parsed = ParseTableLine(FormatTableLine(t));
    ASSERT_TRUE(parsed.ok()) << parsed.error().message();
    EXPECT_EQ(*parsed, t);
  }
  auto spaced = ParseTableLine("  0 8 linear  7:0   16 \n");
  ASSERT_TRUE(spaced.ok());
  EXPECT_EQ(spaced->params, "7:0   16");
  ExpectInvalid(ParseTableLine("0 8"), "expected <start> <length> <type>");
  ExpectInvalid(ParseTableLine("0 x zero"), "length \"x\": expected a number");
}

TEST(FieldsTest, SplitAndDecimal) {
  EXPECT_EQ(SplitFields(""), std::vector<std::string_view>{});
  EXPECT_EQ(SplitFields(" \t\n"), std::vector<std::string_view>{});
  EXPECT_EQ(SplitFields("a  b\tc\n"), (std::vector<std::string_view>{"a", "b", "c"}));
  auto max = ParseDecimal("18446744073709551615", "n");
  ASSERT_TRUE(max.ok());
  EXPECT_EQ(*max, std::numeric_limits<uint64_t>::max());
  auto over = ParseDecimal("18446744073709551616", "n");
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().code(), ERANGE);
  for (std::string_view bad : {"", "-1", "+1", "1 ", "0x10", "1.0"}) {
    ExpectInvalid(ParseDecimal(bad, "n"), "expected a number");
  }
}

}  // namespace
}  // namespace strata::thinpool
