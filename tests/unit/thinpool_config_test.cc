#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <string>

#include "thinpool/pool_config.h"

namespace strata::thinpool {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

constexpr uint64_t kMiB = uint64_t{1} << 20, kGiB = uint64_t{1} << 30;
constexpr ConfigSource kDefault = ConfigSource::kDefault;
constexpr ConfigSource kFile = ConfigSource::kConfigFile;

PoolConfig Parsed(const json& options) {
  auto r = ParsePoolConfig(options);
  EXPECT_TRUE(r.ok()) << options.dump() << ": " << r.error().message();
  return r.ok() ? *r : PoolConfig{};
}

void ExpectInvalid(const json& options, std::string_view fragment) {
  auto r = ParsePoolConfig(options);
  ASSERT_FALSE(r.ok()) << "accepted: " << options.dump();
  EXPECT_EQ(r.error().code(), EINVAL);
  EXPECT_THAT(r.error().message(), HasSubstr(std::string(fragment))) << options.dump();
}

TEST(PoolConfigTest, Defaults) {
  for (const json& options : {json(nullptr), json::object()}) {
    PoolConfig c = Parsed(options);
    EXPECT_EQ(c.backing, PoolBacking::kLoopFiles);
    EXPECT_EQ(c.pool_name.value, "strata-pool");
    EXPECT_EQ(c.data_size_bytes.value, 100 * kGiB);
    EXPECT_EQ(c.metadata_size_bytes.value, 150 * kMiB);  // computed: 96 B per 64 KiB block
    EXPECT_EQ(c.metadata_size_bytes.source, kDefault);
    EXPECT_EQ(c.block_size_sectors.value, 128u);
    EXPECT_EQ(c.low_water_mark_blocks.value, std::nullopt);
    EXPECT_TRUE(c.zero_blocks.value);
    EXPECT_EQ(c.discard.value, DiscardMode::kPassdown);
    EXPECT_TRUE(c.error_if_no_space.value);
    EXPECT_EQ(c.min_free_space_percent.value, 10u);
    EXPECT_EQ(c.auto_extend_threshold_percent.value, 80u);
    EXPECT_EQ(c.auto_extend_percent.value, 20u);
    EXPECT_EQ(c.base_size_bytes.value, 10 * kGiB);
    EXPECT_EQ(c.fs.value, Filesystem::kExt4);
    EXPECT_TRUE(c.mkfs_options.value.empty());
    EXPECT_EQ(c.pool_name.source, kDefault);
    EXPECT_EQ(c.data_size_bytes.source, kDefault);
  }
  ExpectInvalid(json::array(), "driver-opts.devicemapper: expected an object");
}

json FullLoopConfig() {
  return {{"pool-name", "pool0"},
          {"data-size", "20G"},
          {"metadata-size", "1G"},
          {"block-size", "512K"},
          {"low-water-mark", 4096},
          {"zero-blocks", false},
          {"discard", "no-passdown"},
          {"error-if-no-space", false},
          {"min-free-space", "5%"},
          {"auto-extend-threshold", "90%"},
          {"auto-extend-percent", "50%"},
          {"base-size", "20G"},
          {"fs", "xfs"},
          {"mkfs-options", {"-m", "reflink=0"}},
          {"mount-options", {"noatime", "logbsize=256k"}}};
}

TEST(PoolConfigTest, EveryOptionTypedAndFromTheFile) {
  PoolConfig c = Parsed(FullLoopConfig());
  EXPECT_EQ(c.backing, PoolBacking::kLoopFiles);
  EXPECT_EQ(c.pool_name.value, "pool0");
  EXPECT_EQ(c.data_size_bytes.value, 20 * kGiB);
  EXPECT_EQ(c.metadata_size_bytes.value, kGiB);
  EXPECT_EQ(c.block_size_sectors.value, 1024u);
  EXPECT_EQ(c.low_water_mark_blocks.value, 4096u);
  EXPECT_FALSE(c.zero_blocks.value);
  EXPECT_EQ(c.discard.value, DiscardMode::kNoPassdown);
  EXPECT_FALSE(c.error_if_no_space.value);
  EXPECT_EQ(c.min_free_space_percent.value, 5u);
  EXPECT_EQ(c.auto_extend_threshold_percent.value, 90u);
  EXPECT_EQ(c.auto_extend_percent.value, 50u);
  EXPECT_EQ(c.base_size_bytes.value, 20 * kGiB);
  EXPECT_EQ(c.fs.value, Filesystem::kXfs);
  EXPECT_EQ(c.mkfs_options.value, (std::vector<std::string>{"-m", "reflink=0"}));
  EXPECT_EQ(c.mount_options.value, (std::vector<std::string>{"noatime", "logbsize=256k"}));
  EXPECT_EQ(c.pool_name.source, kFile);
  EXPECT_EQ(c.metadata_size_bytes.source, kFile);
  EXPECT_EQ(c.mount_options.source, kFile);
  EXPECT_EQ(c.thin_pool_device.source, kDefault);
}

TEST(PoolConfigTest, UnknownKeys) {
  ExpectInvalid(
      {{"blocksize", "64K"}},
      "driver-opts.devicemapper.blocksize: unknown option (did you mean \"block-size\"?");
  ExpectInvalid({{"thin-pool-devce", "/dev/mapper/x"}}, "did you mean \"thin-pool-device\"?");
  ExpectInvalid({{"zero_blocks", true}}, "did you mean \"zero-blocks\"?");
  // Docker's dm.* names, with or without the prefix.
  ExpectInvalid({{"dm.thinpooldev", "/dev/mapper/x"}},
                "dm.thinpooldev: unknown option (did you mean \"thin-pool-device\"? "
                "\"dm.thinpooldev\" is docker's name)");
  ExpectInvalid({{"loopdatasize", "100G"}}, "did you mean \"data-size\"?");
  ExpectInvalid({{"frobnicate", 1}}, "frobnicate: unknown option (known: pool-name, data-size");
}

TEST(PoolConfigTest, WrongTypes) {
  ExpectInvalid({{"data-size", 100}}, "data-size: expected a size string like \"10G\"");
  ExpectInvalid({{"zero-blocks", "yes"}}, "zero-blocks: expected true or false");
  ExpectInvalid({{"low-water-mark", "32768"}}, "low-water-mark: expected a number of data blocks");
  ExpectInvalid({{"low-water-mark", -1}}, "low-water-mark: expected a number");
  ExpectInvalid({{"low-water-mark", 1.5}}, "low-water-mark: expected a number");
  ExpectInvalid({{"pool-name", 7}}, "pool-name: expected a string");
  ExpectInvalid({{"mkfs-options", "-m"}}, "mkfs-options: expected an array of strings");
  ExpectInvalid({{"mkfs-options", {"-m", 0}}}, "mkfs-options[1]: expected a string");
  ExpectInvalid({{"mount-options", {""}}}, "mount-options[0]: expected a non-empty string");
  ExpectInvalid({{"mount-options", {"noatime,nodev"}}}, "mount-options[0]: \"noatime,nodev\"");
  ExpectInvalid({{"min-free-space", 10}}, "min-free-space: expected a percentage string");
  ExpectInvalid({{"data-size", "lots"}}, "data-size: ");
}

TEST(PoolConfigTest, BlockSizeBoundaries) {
  EXPECT_EQ(Parsed({{"block-size", "64K"}}).block_size_sectors.value, 128u);
  EXPECT_EQ(Parsed({{"block-size", "128K"}}).block_size_sectors.value, 256u);
  EXPECT_EQ(Parsed({{"block-size", "1G"}, {"data-size", "100G"}}).block_size_sectors.value,
            2097152u);
  EXPECT_EQ(Parsed({{"block-size", "64K"}}).block_size_sectors.source, kFile);
  ExpectInvalid({{"block-size", "32K"}}, "block-size: block size 32768 bytes (32K): must be 64K");
  ExpectInvalid({{"block-size", "96K"}}, "must be a multiple of 64K");
  ExpectInvalid({{"block-size", "2G"}}, "must be 64K to 1G");
  ExpectInvalid({{"block-size", "65540"}}, "not a multiple of 4K");
}

TEST(PoolConfigTest, Choices) {
  EXPECT_EQ(Parsed({{"discard", "ignore"}}).discard.value, DiscardMode::kIgnore);
  EXPECT_EQ(Parsed({{"discard", "passdown"}}).discard.source, kFile);
  ExpectInvalid({{"discard", "pasdown"}},
                "discard: \"pasdown\": expected one of passdown, no-passdown, ignore (did you "
                "mean \"passdown\"?)");
  ExpectInvalid({{"fs", "ext3"}}, "fs: \"ext3\": expected one of ext4, xfs (did you mean");
  ExpectInvalid({{"fs", "btrfs"}}, "expected one of ext4, xfs");
}

TEST(PoolConfigTest, Percentages) {
  EXPECT_EQ(Parsed({{"min-free-space", "0%"}}).min_free_space_percent.value, 0u);
  EXPECT_EQ(Parsed({{"min-free-space", "99%"}, {"auto-extend-threshold", "1%"}})
                .min_free_space_percent.value,
            99u);
  EXPECT_EQ(Parsed({{"auto-extend-percent", "1000%"}}).auto_extend_percent.value, 1000u);
  ExpectInvalid({{"min-free-space", "100%"}}, "min-free-space: \"100%\": must be 0% to 99%");
  ExpectInvalid({{"min-free-space", "10"}}, "expected a percentage like \"10%\"");
  ExpectInvalid({{"min-free-space", "10.5%"}}, "expected a percentage");
  ExpectInvalid({{"min-free-space", "%"}}, "expected a percentage");
  ExpectInvalid({{"min-free-space", "-1%"}}, "expected a percentage");
  ExpectInvalid({{"min-free-space", "10%%"}}, "expected a percentage");
  ExpectInvalid({{"auto-extend-threshold", "0%"}}, "must be 1% to 99%");
  ExpectInvalid({{"auto-extend-percent", "1001%"}}, "must be 1% to 1000%");
}

TEST(PoolConfigTest, AutoExtendMustTriggerBeforeMinFreeSpace) {
  EXPECT_TRUE(ParsePoolConfig({{"min-free-space", "10%"}, {"auto-extend-threshold", "90%"}}).ok());
  ExpectInvalid({{"min-free-space", "10%"}, {"auto-extend-threshold", "91%"}},
                "auto-extend-threshold: 91% must be at most 90% (100% - min-free-space 10%)");
  ExpectInvalid({{"min-free-space", "30%"}}, "80% must be at most 70%");  // default threshold
}

TEST(PoolConfigTest, ExistingPoolExcludesTheOthers) {
  PoolConfig c = Parsed({{"thin-pool-device", "/dev/mapper/docker-thinpool"}});
  EXPECT_EQ(c.backing, PoolBacking::kExistingPool);
  EXPECT_EQ(c.thin_pool_device.value, "/dev/mapper/docker-thinpool");
  EXPECT_EQ(Parsed({{"thin-pool-device", "vg-pool"}}).thin_pool_device.value, "vg-pool");
  for (const char* key : {"data-size", "metadata-size", "block-size"}) {
    ExpectInvalid({{"thin-pool-device", "pool"}, {key, "1G"}},
                  "thin-pool-device: cannot be combined with " + std::string(key));
  }
  ExpectInvalid({{"thin-pool-device", "pool"}, {"data-device", "/dev/sdb"}},
                "cannot be combined with data-device");
  ExpectInvalid({{"thin-pool-device", "pool"}, {"metadata-device", "/dev/sdc"}},
                "cannot be combined with metadata-device");
  ExpectInvalid({{"thin-pool-device", "pool"}, {"auto-extend-threshold", "70%"}},
                "auto-extend-threshold: only for loop-backed pools (strata cannot grow existing "
                "pool)");
  ExpectInvalid({{"thin-pool-device", ""}}, "thin-pool-device: \"\"");
  ExpectInvalid({{"thin-pool-device", "mapper/pool"}}, "expected a dm name or an absolute path");
  // Table features still apply to an existing pool.
  EXPECT_FALSE(Parsed({{"thin-pool-device", "pool"}, {"zero-blocks", false}}).zero_blocks.value);
}

TEST(PoolConfigTest, DevicesComeInPairs) {
  PoolConfig c = Parsed({{"data-device", "/dev/sdb"}, {"metadata-device", "/dev/sdc"}});
  EXPECT_EQ(c.backing, PoolBacking::kDevices);
  EXPECT_EQ(c.data_device.value, "/dev/sdb");
  EXPECT_EQ(c.metadata_device.value, "/dev/sdc");
  ExpectInvalid({{"data-device", "/dev/sdb"}}, "data-device: requires metadata-device");
  ExpectInvalid({{"metadata-device", "/dev/sdc"}}, "metadata-device: requires data-device");
  ExpectInvalid({{"data-device", "/dev/sdb"}, {"metadata-device", "/dev/sdb"}},
                "\"/dev/sdb\" is also the data-device");
  ExpectInvalid({{"data-device", "/dev/sdb"}, {"metadata-device", "/dev/sdc"}, {"data-size", "1G"}},
                "data-size: only for loop-backed pools");
  ExpectInvalid(
      {{"data-device", "/dev/sdb"}, {"metadata-device", "/dev/sdc"}, {"metadata-size", "1G"}},
      "metadata-size: only for loop-backed pools");
  ExpectInvalid({{"data-device", "sdb"}, {"metadata-device", "/dev/sdc"}},
                "data-device: \"sdb\": expected an absolute path");
  ExpectInvalid(
      {{"data-device", "/dev/sdb"}, {"metadata-device", "/dev/sdc"}, {"auto-extend-percent", "5%"}},
      "auto-extend-percent: only for loop-backed pools (strata cannot grow devices)");
}

TEST(PoolConfigTest, LoopSizes) {
  ExpectInvalid({{"data-size", "32K"}}, "data-size: 32K is smaller than one data block (64K)");
  ExpectInvalid({{"data-size", "1.3G"}},
                "data-size: \"1.3G\" (1395864371 bytes) is not a multiple");
  ExpectInvalid({{"metadata-size", "1M"}}, "metadata-size: 1M: must be 2M to 15.9G");
  ExpectInvalid({{"metadata-size", "16G"}}, "must be 2M to");
  EXPECT_EQ(Parsed({{"metadata-size", "2M"}}).metadata_size_bytes.value, 2 * kMiB);
  // The computed metadata size follows data-size and block-size.
  EXPECT_EQ(Parsed({{"data-size", "1G"}}).metadata_size_bytes.value, 2 * kMiB);
  EXPECT_EQ(Parsed({{"data-size", "100G"}, {"block-size", "512K"}}).metadata_size_bytes.value,
            18 * kMiB + 768 * 1024);
}

TEST(PoolConfigTest, LowWaterMarkAgainstLoopDataSize) {
  // 1G of 64K blocks: 16384 blocks.
  EXPECT_EQ(Parsed({{"data-size", "1G"}, {"low-water-mark", 16384}}).low_water_mark_blocks.value,
            16384u);
  ExpectInvalid({{"data-size", "1G"}, {"low-water-mark", 16385}},
                "low-water-mark: 16385 blocks is more than the pool's 16384 data blocks of 64K "
                "(the mark is in data blocks, not sectors or bytes)");
}

TEST(PoolConfigTest, EffectiveLowWaterMark) {
  PoolConfig defaults = Parsed(json::object());
  auto lwm = EffectiveLowWaterMarkBlocks(defaults, 100 * kGiB);
  ASSERT_TRUE(lwm.ok());
  EXPECT_EQ(*lwm, 32768u);
  auto small = EffectiveLowWaterMarkBlocks(defaults, kGiB);
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(*small, 1638u);
  PoolConfig set = Parsed({{"thin-pool-device", "pool"}, {"low-water-mark", 32768}});
  auto fits = EffectiveLowWaterMarkBlocks(set, 100 * kGiB);
  ASSERT_TRUE(fits.ok());
  EXPECT_EQ(*fits, 32768u);
  auto too_big = EffectiveLowWaterMarkBlocks(set, kGiB);  // an existing 1G pool
  ASSERT_FALSE(too_big.ok());
  EXPECT_EQ(too_big.error().code(), EINVAL);
}

TEST(PoolConfigTest, BaseSizeMinimumPerFilesystem) {
  EXPECT_EQ(Parsed({{"base-size", "16M"}}).base_size_bytes.value, 16 * kMiB);
  ExpectInvalid({{"base-size", "15M"}}, "base-size: 15M is below the minimum 16M for ext4");
  ExpectInvalid({{"base-size", "200M"}, {"fs", "xfs"}}, "below the minimum 300M for xfs");
  EXPECT_EQ(Parsed({{"base-size", "300M"}, {"fs", "xfs"}}).base_size_bytes.value, 300 * kMiB);
}

TEST(PoolConfigTest, PoolName) {
  const std::string longest(64, 'a');
  EXPECT_EQ(Parsed({{"pool-name", longest}}).pool_name.value, longest);
  EXPECT_EQ(Parsed({{"pool-name", "Pool_1.a+b-c"}}).pool_name.value, "Pool_1.a+b-c");
  for (const std::string& bad : {std::string(), std::string("my pool"), std::string("-x"),
                                 std::string("a/b"), longest + "a"}) {
    ExpectInvalid({{"pool-name", bad}}, "pool-name: \"" + bad + "\": expected 1 to 64");
  }
}

TEST(PoolConfigTest, JsonRoundTrip) {
  const PoolConfig c = Parsed(FullLoopConfig());
  const json out = PoolConfigToJson(c);
  EXPECT_EQ(out["backing"], "loop files");
  EXPECT_EQ(out["block-size"]["value"], "512K");
  EXPECT_EQ(out["min-free-space"]["value"], "5%");
  EXPECT_EQ(out["data-device"]["source"], "default");
  json again = json::object();
  for (const auto& [key, entry] : out.items()) {
    if (key != "backing" && entry["source"] == "config file") again[key] = entry["value"];
  }
  EXPECT_EQ(again, FullLoopConfig());
  EXPECT_EQ(PoolConfigToJson(Parsed(again)), out);
  // Defaults print too, with the computed metadata size and no low-water mark.
  const json defaults = PoolConfigToJson(Parsed(nullptr));
  EXPECT_EQ(defaults["metadata-size"]["value"], "150M");
  EXPECT_EQ(defaults["low-water-mark"]["value"], nullptr);
  EXPECT_EQ(defaults["data-size"]["source"], "default");
}

}  // namespace
}  // namespace strata::thinpool
