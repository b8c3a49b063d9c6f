#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>

#include "thinpool/sizing.h"

namespace strata::thinpool {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kKiB = 1024, kMiB = kKiB * 1024, kGiB = kMiB * 1024, kTiB = kGiB * 1024;

template <class T>
T Value(const Result<T>& r) {
  EXPECT_TRUE(r.ok()) << r.error().message();
  return r.ok() ? *r : T{};
}

TEST(BlockSizeTest, SectorBoundaries) {
  for (uint32_t ok : {128u, 256u, 1024u, 2097024u, 2097152u}) {
    EXPECT_TRUE(ValidateBlockSizeSectors(ok).ok()) << ok;
  }
  for (uint32_t bad : {0u, 64u, 127u, 129u, 192u, 2097153u, 2097280u}) {
    Status s = ValidateBlockSizeSectors(bad);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_EQ(s.error().code(), EINVAL);
    EXPECT_THAT(s.error().message(), HasSubstr("data block size " + std::to_string(bad)));
  }
  EXPECT_THAT(ValidateBlockSizeSectors(129).error().message(), HasSubstr("multiple of 128"));
  EXPECT_THAT(ValidateBlockSizeSectors(2097153).error().message(), HasSubstr("2097152 (1 GiB)"));
}

TEST(BlockSizeTest, FromBytes) {
  EXPECT_EQ(Value(BlockSizeSectorsFromBytes(64 * kKiB)), 128u);
  EXPECT_EQ(Value(BlockSizeSectorsFromBytes(512 * kKiB)), 1024u);
  EXPECT_EQ(Value(BlockSizeSectorsFromBytes(kGiB)), 2097152u);
  for (uint64_t bad : {uint64_t{0}, 32 * kKiB, 64 * kKiB - 1, 64 * kKiB + 512, 96 * kKiB,
                       kGiB + 64 * kKiB, 2 * kGiB}) {
    auto r = BlockSizeSectorsFromBytes(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code(), EINVAL);
    EXPECT_THAT(r.error().message(), HasSubstr("block size " + std::to_string(bad) + " bytes"));
  }
}

TEST(MetadataSizeTest, KernelLimitConstant) {
  EXPECT_EQ(kMaxMetadataSectors, 33423360u);  // 255 * 16384 * 8
  EXPECT_GT(kMaxMetadataBytes, 15 * kGiB + 900 * kMiB);
  EXPECT_LT(kMaxMetadataBytes, 16 * kGiB);
}

TEST(MetadataSizeTest, NinetySixBytesPerBlock) {
  // 100 GiB at 64 KiB: 1638400 blocks * 96 = 150 MiB.
  EXPECT_EQ(Value(RecommendedMetadataBytes(100 * kGiB, 128)), 150 * kMiB);
  // The same data at 512 KiB blocks needs an eighth: 18.75 MiB.
  EXPECT_EQ(Value(RecommendedMetadataBytes(100 * kGiB, 1024)), 18 * kMiB + 768 * kKiB);
}

TEST(MetadataSizeTest, MinimumTwoMiB) {
  EXPECT_EQ(Value(RecommendedMetadataBytes(64 * kKiB, 128)), 2 * kMiB);  // one block
  EXPECT_EQ(Value(RecommendedMetadataBytes(kGiB, 128)), 2 * kMiB);       // 1.5 MiB computed
}

TEST(MetadataSizeTest, RoundsUpTo4KiB) {
  // 43691 blocks * 96 = 4194336 bytes: 1024 4 KiB blocks and 32 bytes -> 1025 blocks.
  EXPECT_EQ(Value(RecommendedMetadataBytes(43691 * 64 * kKiB, 128)), 1025 * 4 * kKiB);
  // A partial data block at the end does not count.
  EXPECT_EQ(Value(RecommendedMetadataBytes(43691 * 64 * kKiB + 65535, 128)), 1025 * 4 * kKiB);
}

TEST(MetadataSizeTest, CappedAtTheKernelMaximum) {
  EXPECT_EQ(Value(RecommendedMetadataBytes(1024 * kTiB, 128)), kMaxMetadataBytes);
  EXPECT_EQ(Value(RecommendedMetadataBytes(UINT64_MAX, 128)), kMaxMetadataBytes);
  // 178257920 blocks * 96 bytes is the maximum exactly; 128 blocks fewer is 12 KiB below it.
  EXPECT_EQ(Value(RecommendedMetadataBytes(64 * kKiB * 178257920, 128)), kMaxMetadataBytes);
  EXPECT_EQ(Value(RecommendedMetadataBytes(64 * kKiB * 178257921, 128)), kMaxMetadataBytes);
  EXPECT_EQ(Value(RecommendedMetadataBytes(64 * kKiB * 178257792, 128)),
            kMaxMetadataBytes - 12 * kKiB);
}

TEST(MetadataSizeTest, RejectsBadInputs) {
  auto small = RecommendedMetadataBytes(64 * kKiB - 1, 128);
  ASSERT_FALSE(small.ok());
  EXPECT_EQ(small.error().code(), EINVAL);
  EXPECT_THAT(small.error().message(), HasSubstr("smaller than one data block (64K)"));
  EXPECT_FALSE(RecommendedMetadataBytes(0, 128).ok());
  EXPECT_THAT(RecommendedMetadataBytes(kGiB, 129).error().message(),
              HasSubstr("data block size 129"));
}

TEST(LowWaterMarkTest, DockerValueForLargePools) {
  EXPECT_EQ(Value(DefaultLowWaterMarkBlocks(100 * kGiB, 128)), 32768u);
  EXPECT_EQ(Value(DefaultLowWaterMarkBlocks(20 * kGiB, 128)), 32768u);  // exactly 1/10
  EXPECT_EQ(Value(DefaultLowWaterMarkBlocks(10 * kTiB, 1024)), 32768u);
}

TEST(LowWaterMarkTest, ClampedToATenthForSmallPools) {
  EXPECT_EQ(Value(DefaultLowWaterMarkBlocks(20 * kGiB - 64 * kKiB, 128)), 32767u);
  EXPECT_EQ(Value(DefaultLowWaterMarkBlocks(10 * kGiB, 128)), 16384u);
  EXPECT_EQ(Value(DefaultLowWaterMarkBlocks(kGiB, 128)), 1638u);
  EXPECT_EQ(Value(DefaultLowWaterMarkBlocks(kTiB, 2097152)), 102u);  // 1024 blocks of 1 GiB
  EXPECT_EQ(Value(DefaultLowWaterMarkBlocks(10 * 64 * kKiB, 128)), 1u);
  EXPECT_EQ(Value(DefaultLowWaterMarkBlocks(9 * 64 * kKiB, 128)), 1u);  // at least 1
  EXPECT_EQ(Value(DefaultLowWaterMarkBlocks(64 * kKiB, 128)), 1u);
}

TEST(LowWaterMarkTest, RejectsBadInputs) {
  EXPECT_EQ(DefaultLowWaterMarkBlocks(1000, 128).error().code(), EINVAL);
  EXPECT_EQ(DefaultLowWaterMarkBlocks(kGiB, 2097153).error().code(), EINVAL);
}

TEST(DataBlocksTest, WholeBlocksOnly) {
  EXPECT_EQ(DataBlocks(kGiB, 128), 16384u);
  EXPECT_EQ(DataBlocks(kGiB - 1, 128), 16383u);
  EXPECT_EQ(DataBlocks(kGiB, 2097152), 1u);
}

}  // namespace
}  // namespace strata::thinpool
