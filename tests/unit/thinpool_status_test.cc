#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <limits>
#include <string>

#include "thinpool/status.h"

namespace strata::thinpool {
namespace {

using ::testing::HasSubstr;

ThinPoolStatus Parsed(std::string_view line) {
  auto r = ParseThinPoolStatus(line);
  EXPECT_TRUE(r.ok()) << line << ": " << r.error().message();
  return r.ok() ? *r : ThinPoolStatus{};
}

void ExpectInvalid(std::string_view line, std::string_view fragment) {
  auto r = ParseThinPoolStatus(line);
  ASSERT_FALSE(r.ok()) << "parsed: " << line;
  EXPECT_EQ(r.error().code(), EINVAL);
  EXPECT_THAT(r.error().message(), HasSubstr(std::string(fragment)));
  EXPECT_THAT(r.error().message(), HasSubstr("thin-pool status \"" + std::string(line) + "\""));
}

void ExpectError(const Status& s, int code, std::string_view fragment) {
  ASSERT_FALSE(s.ok()) << "unexpectedly ok";
  EXPECT_EQ(s.error().code(), code) << s.error().message();
  EXPECT_THAT(s.error().message(), HasSubstr(std::string(fragment)));
}

TEST(ThinPoolStatusTest, ModernKernelLine) {
  // A new pool on Linux 6.1 (DMEMIT leaves a trailing space).
  ThinPoolStatus s =
      Parsed("0 141/4161600 0/32768000 - rw discard_passdown queue_if_no_space - 1024 ");
  EXPECT_EQ(s.transaction_id, 0u);
  EXPECT_EQ(s.used_metadata_blocks, 141u);
  EXPECT_EQ(s.total_metadata_blocks, 4161600u);
  EXPECT_EQ(s.used_data_blocks, 0u);
  EXPECT_EQ(s.total_data_blocks, 32768000u);
  EXPECT_EQ(s.held_metadata_root, std::nullopt);
  EXPECT_EQ(s.mode, PoolMode::kReadWrite);
  EXPECT_EQ(s.discards, DiscardMode::kPassdown);
  EXPECT_FALSE(s.error_if_no_space);
  EXPECT_FALSE(s.needs_check);
  EXPECT_EQ(s.metadata_low_watermark_blocks, 1024u);
}

TEST(ThinPoolStatusTest, HeldRootAndOtherFlags) {
  ThinPoolStatus s = Parsed(
      "18446744073709551615 201/4096 512/16384 189 rw no_discard_passdown "
      "error_if_no_space - 1024");
  EXPECT_EQ(s.transaction_id, std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(s.held_metadata_root, 189u);
  EXPECT_EQ(s.discards, DiscardMode::kNoPassdown);
  EXPECT_TRUE(s.error_if_no_space);
  EXPECT_EQ(Parsed("1 1/4 1/4 - rw ignore_discard queue_if_no_space - 1").discards,
            DiscardMode::kIgnore);
}

TEST(ThinPoolStatusTest, ReadOnlyNeedsCheckAndOutOfDataSpace) {
  ThinPoolStatus ro =
      Parsed("7 4096/4096 100/16384 - ro discard_passdown queue_if_no_space needs_check 1024");
  EXPECT_EQ(ro.mode, PoolMode::kReadOnly);
  EXPECT_TRUE(ro.needs_check);
  EXPECT_EQ(ro.MetadataFreeBlocks(), 0u);
  ThinPoolStatus full = Parsed(
      "3 300/4096 16384/16384 - out_of_data_space discard_passdown error_if_no_space - 1024");
  EXPECT_EQ(full.mode, PoolMode::kOutOfDataSpace);
  EXPECT_EQ(full.DataFreeBlocks(), 0u);
  EXPECT_TRUE(full.error_if_no_space);  // flipped by no_space_timeout
}

TEST(ThinPoolStatusTest, FailAndError) {
  EXPECT_EQ(Parsed("Fail").mode, PoolMode::kFail);
  EXPECT_EQ(Parsed("Fail ").mode, PoolMode::kFail);
  EXPECT_EQ(Parsed("Error").mode, PoolMode::kError);
  ThinPoolStatus fail = Parsed("Fail");
  EXPECT_EQ(fail.total_data_blocks, 0u);
  EXPECT_EQ(fail.DataUsedPercent(), 0.0);
  ExpectInvalid("Fail now", "expected at least 5 fields");
}

TEST(ThinPoolStatusTest, OlderKernelsEndEarly) {
  // No field 9 (metadata low watermark), then no needs_check, no no-space policy, no discards.
  ThinPoolStatus s = Parsed("5 141/4096 10/16384 - rw discard_passdown queue_if_no_space -");
  EXPECT_EQ(s.metadata_low_watermark_blocks, std::nullopt);
  EXPECT_FALSE(s.needs_check);
  ThinPoolStatus s7 = Parsed("5 141/4096 10/16384 - rw no_discard_passdown error_if_no_space");
  EXPECT_TRUE(s7.error_if_no_space);
  EXPECT_EQ(s7.discards, DiscardMode::kNoPassdown);
  ThinPoolStatus s6 = Parsed("5 141/4096 10/16384 - ro ignore_discard");
  EXPECT_EQ(s6.mode, PoolMode::kReadOnly);
  EXPECT_EQ(s6.discards, DiscardMode::kIgnore);
  EXPECT_FALSE(s6.error_if_no_space);
  ThinPoolStatus s5 = Parsed("5 141/4096 10/16384 - rw");
  EXPECT_EQ(s5.transaction_id, 5u);
  EXPECT_EQ(s5.discards, DiscardMode::kPassdown);
}

TEST(ThinPoolStatusTest, FieldsAfterTheNinthAreIgnored) {
  ThinPoolStatus s =
      Parsed("0 1/4 1/4 - rw discard_passdown queue_if_no_space - 1024 future_flag 7");
  EXPECT_EQ(s.metadata_low_watermark_blocks, 1024u);
}

TEST(ThinPoolStatusTest, RejectsMalformedLines) {
  ExpectInvalid("", "expected at least 5 fields");
  ExpectInvalid("0 1/4 1/4 -", "got 4");
  ExpectInvalid("x 1/4 1/4 - rw", "transaction id \"x\"");
  ExpectInvalid("0 14 1/4 - rw", "metadata blocks \"14\": expected <used>/<total>");
  ExpectInvalid("0 1/4 5/4 - rw", "data blocks \"5/4\": more used than total");
  ExpectInvalid("0 1/4 1/x - rw", "data blocks \"x\": expected a number");
  ExpectInvalid("0 1/4 1/4 root rw", "held metadata root \"root\"");
  ExpectInvalid("0 1/4 1/4 - wr", "mode \"wr\": unknown value");
  ExpectInvalid("0 1/4 1/4 - rw discard", "discards \"discard\": unknown value");
  ExpectInvalid("0 1/4 1/4 - rw discard_passdown queue", "no-space policy \"queue\"");
  ExpectInvalid("0 1/4 1/4 - rw discard_passdown queue_if_no_space needs_repair",
                "needs_check flag \"needs_repair\"");
  ExpectInvalid("0 1/4 1/4 - rw discard_passdown queue_if_no_space - many",
                "metadata low watermark \"many\"");
}

TEST(ThinPoolStatusTest, ByteAndPercentHelpers) {
  ThinPoolStatus s = Parsed("0 1024/4096 16384/65536 - rw");
  EXPECT_EQ(s.DataUsedBytes(128), uint64_t{16384} * 65536);  // 1 GiB at 64 KiB blocks
  EXPECT_EQ(s.DataTotalBytes(128), uint64_t{4} << 30);
  EXPECT_EQ(s.DataUsedBytes(1024), uint64_t{8} << 30);  // 512 KiB blocks
  EXPECT_EQ(s.MetadataUsedBytes(), uint64_t{4} << 20);  // 4 KiB metadata blocks
  EXPECT_EQ(s.MetadataTotalBytes(), uint64_t{16} << 20);
  EXPECT_EQ(s.DataFreeBlocks(), 49152u);
  EXPECT_EQ(s.MetadataFreeBlocks(), 3072u);
  EXPECT_DOUBLE_EQ(s.DataUsedPercent(), 25.0);
  EXPECT_DOUBLE_EQ(s.MetadataUsedPercent(), 25.0);
  ThinPoolStatus huge = Parsed("0 1/4 18446744073709551615/18446744073709551615 - rw");
  EXPECT_EQ(huge.DataUsedBytes(128), std::numeric_limits<uint64_t>::max());  // saturates
}

TEST(ThinPoolStatusTest, ModeNames) {
  EXPECT_EQ(PoolModeName(PoolMode::kReadWrite), "rw");
  EXPECT_EQ(PoolModeName(PoolMode::kReadOnly), "ro");
  EXPECT_EQ(PoolModeName(PoolMode::kOutOfDataSpace), "out_of_data_space");
  EXPECT_EQ(PoolModeName(PoolMode::kFail), "Fail");
  EXPECT_EQ(PoolModeName(PoolMode::kError), "Error");
}

TEST(ThinStatusTest, KernelLines) {
  auto mapped = ParseThinStatus("2097152 4194303");
  ASSERT_TRUE(mapped.ok()) << mapped.error().message();
  EXPECT_EQ(*mapped, (ThinStatus{2097152, 4194303, false}));
  auto empty = ParseThinStatus("0 -");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, (ThinStatus{0, std::nullopt, false}));
  auto unopened = ParseThinStatus("-");
  ASSERT_TRUE(unopened.ok());
  EXPECT_EQ(*unopened, (ThinStatus{0, std::nullopt, false}));
  for (std::string_view failed : {"Fail", "Error", "Fail "}) {
    auto r = ParseThinStatus(failed);
    ASSERT_TRUE(r.ok()) << failed;
    EXPECT_TRUE(r->failed) << failed;
  }
}

TEST(ThinStatusTest, RejectsMalformedLines) {
  for (std::string_view bad : {"", "1", "1 2 3", "- -"}) {
    auto r = ParseThinStatus(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code(), EINVAL);
  }
  auto r = ParseThinStatus("x 7");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message(), HasSubstr("thin status \"x 7\": mapped sectors \"x\""));
  auto h = ParseThinStatus("128 high");
  ASSERT_FALSE(h.ok());
  EXPECT_THAT(h.error().message(), HasSubstr("highest mapped sector \"high\""));
}

TEST(CheckPoolUsableTest, EachState) {
  EXPECT_TRUE(CheckPoolUsable(Parsed("0 1/4 1/4 - rw")).ok());
  ExpectError(CheckPoolUsable(Parsed("Fail")), EOPNOTSUPP, "pool is in fail mode");
  ExpectError(CheckPoolUsable(Parsed("Error")), EOPNOTSUPP, "pool status is Error");
  ExpectError(CheckPoolUsable(Parsed("0 1/4 1/4 - ro")), EOPNOTSUPP,
              "pool is in read-only mode: run `strata pool check --repair`");
  ExpectError(CheckPoolUsable(Parsed("0 1/4 4/4 - out_of_data_space")), ENOSPC,
              "extend it with `strata pool extend`");
  // needs_check is reported as such, before ro (a pool with needs_check is read-only).
  ExpectError(
      CheckPoolUsable(Parsed("0 4/4 1/4 - ro discard_passdown queue_if_no_space needs_check")),
      EOPNOTSUPP, "needs_check");
  ExpectError(
      CheckPoolUsable(Parsed("0 4/4 1/4 - rw discard_passdown queue_if_no_space needs_check")),
      EOPNOTSUPP, "`strata pool check --repair`");
}

TEST(MinFreeSpaceTest, DataBoundary) {
  // 100 data blocks of 64 KiB, 10%: 10 free passes, 9 free fails.
  EXPECT_TRUE(MinFreeSpaceCheck(Parsed("0 1/1000 90/100 - rw"), 128, 10).ok());
  Status s = MinFreeSpaceCheck(Parsed("0 1/1000 91/100 - rw"), 128, 10);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), ENOSPC);
  EXPECT_EQ(s.error().message(),
            "thin pool has 9 free data blocks (576K), less than the minimum free space of 10% "
            "(10 blocks, 640K); extend it with `strata pool extend`");
}

TEST(MinFreeSpaceTest, MetadataBoundary) {
  EXPECT_TRUE(MinFreeSpaceCheck(Parsed("0 900/1000 1/100 - rw"), 128, 10).ok());
  Status s = MinFreeSpaceCheck(Parsed("0 901/1000 1/100 - rw"), 128, 10);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), ENOSPC);
  EXPECT_THAT(s.error().message(),
              HasSubstr("thin pool has 99 free metadata blocks (396K), less than the minimum "
                        "free space of 10% (100 blocks, 400K)"));
}

TEST(MinFreeSpaceTest, RoundsTheMinimumUp) {
  // 15 blocks at 10% is 1.5 blocks: 2 are required.
  EXPECT_FALSE(MinFreeSpaceCheck(Parsed("0 0/1000 14/15 - rw"), 128, 10).ok());
  EXPECT_TRUE(MinFreeSpaceCheck(Parsed("0 0/1000 13/15 - rw"), 128, 10).ok());
  // At least one block whenever the rule is on, even for a tiny or empty total.
  EXPECT_FALSE(MinFreeSpaceCheck(Parsed("0 0/1000 0/0 - rw"), 128, 1).ok());
  EXPECT_TRUE(MinFreeSpaceCheck(Parsed("0 0/1000 0/1 - rw"), 128, 1).ok());
}

TEST(MinFreeSpaceTest, ZeroDisablesAndBadInputs) {
  EXPECT_TRUE(MinFreeSpaceCheck(Parsed("0 1000/1000 100/100 - rw"), 128, 0).ok());
  // 100%: only an empty pool passes.
  EXPECT_TRUE(MinFreeSpaceCheck(Parsed("0 0/1000 0/100 - rw"), 128, 100).ok());
  EXPECT_FALSE(MinFreeSpaceCheck(Parsed("0 0/1000 1/100 - rw"), 128, 100).ok());
  ExpectError(MinFreeSpaceCheck(Parsed("0 0/1000 0/100 - rw"), 128, 101), EINVAL, "101%");
  ExpectError(MinFreeSpaceCheck(Parsed("0 0/1000 0/100 - rw"), 129, 10), EINVAL,
              "data block size 129");
}

}  // namespace
}  // namespace strata::thinpool
