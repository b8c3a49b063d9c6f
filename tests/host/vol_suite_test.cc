// The volume suite (tests/conformance/volume_suite.h) for the backends this host's kernel runs:
// local directories and loop-file images. thin runs it in the VM tier
// (tests/vm/vol_suite_test.cc).
#include "tests/conformance/volume_suite.h"

namespace strata::volumes::conformance {
namespace {

INSTANTIATE_TEST_SUITE_P(Volumes, VolumeSuite, ::testing::Values("local", "loop"),
                         [](const ::testing::TestParamInfo<std::string>& param_info) {
                           return param_info.param;
                         });

}  // namespace
}  // namespace strata::volumes::conformance
