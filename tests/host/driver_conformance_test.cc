// The driver conformance suite (tests/conformance/) for the drivers this host's kernel runs.
// devicemapper runs it in the VM tier (tests/vm/dm_conformance_test.cc).
#include "tests/conformance/driver_conformance.h"

namespace strata::drivers::conformance {
namespace {

INSTANTIATE_TEST_SUITE_P(Drivers, DriverConformanceTest, ::testing::Values("vfs", "overlay"),
                         [](const ::testing::TestParamInfo<std::string>& param_info) {
                           return param_info.param;
                         });

}  // namespace
}  // namespace strata::drivers::conformance
