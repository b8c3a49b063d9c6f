// The driver conformance suite (tests/conformance/) for the drivers this host's kernel runs.
// devicemapper runs it in the VM tier (tests/vm/dm_conformance_test.cc).
#include <stdlib.h>

#include <filesystem>

#include "drivers/aufs/aufs_driver.h"
#include "tests/conformance/driver_conformance.h"

namespace strata::drivers::conformance {
namespace {

// aufs mounts with the strata-aufs helper, built next to strata, not next to this test binary.
// Set before any test runs; an explicit setting in the environment wins.
[[maybe_unused]] const bool kAufsHelperSet =
    ::setenv(aufs::kHelperEnv,
             (std::filesystem::path(STRATA_BINARY).parent_path() / "strata-aufs").c_str(),
             /*overwrite=*/0) == 0;

INSTANTIATE_TEST_SUITE_P(Drivers, DriverConformanceTest,
                         ::testing::Values("vfs", "overlay", "aufs"),
                         [](const ::testing::TestParamInfo<std::string>& param_info) {
                           return param_info.param;
                         });

}  // namespace
}  // namespace strata::drivers::conformance
