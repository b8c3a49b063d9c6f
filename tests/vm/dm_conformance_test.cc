// The driver conformance suite (tests/conformance/) for devicemapper, on the VM's kernel: the
// same cases vfs and overlay pass on the host, each on its own small loop-file pool.
#include "tests/conformance/driver_conformance.h"

namespace strata::drivers::conformance {
namespace {

INSTANTIATE_TEST_SUITE_P(Drivers, DriverConformanceTest, ::testing::Values("devicemapper"),
                         [](const ::testing::TestParamInfo<std::string>& param_info) {
                           return param_info.param;
                         });

}  // namespace
}  // namespace strata::drivers::conformance
