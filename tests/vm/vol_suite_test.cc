// The volume suite (tests/conformance/volume_suite.h) for the thin backend, on the VM's kernel:
// the cases local and loop pass on the host, each test on its own small loop-file pool.
#include "tests/conformance/volume_suite.h"

namespace strata::volumes::conformance {
namespace {

INSTANTIATE_TEST_SUITE_P(Volumes, VolumeSuite, ::testing::Values("thin"),
                         [](const ::testing::TestParamInfo<std::string>& param_info) {
                           return param_info.param;
                         });

}  // namespace
}  // namespace strata::volumes::conformance
