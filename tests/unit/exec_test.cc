#include "core/exec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>

namespace strata {
namespace {

using ::testing::HasSubstr;

TEST(ExecTest, CapturesStdoutStderrAndExitCode) {
  auto r = RunProgram({"sh", "-c", "echo out; echo err >&2; exit 3"});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
  EXPECT_EQ(r->exit_code, 3);
}

TEST(ExecTest, MissingProgramIsEnoentWithHint) {
  ExecOptions options;
  options.install_hint = "install strata-nothing";
  auto r = RunProgram({"strata-no-such-program-xyz"}, options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ENOENT);
  EXPECT_THAT(r.error().message(), HasSubstr("strata-no-such-program-xyz: not found"));
  EXPECT_THAT(r.error().message(), HasSubstr("install strata-nothing"));
}

TEST(ExecTest, OkVariantNamesCommandStatusAndStderrTail) {
  auto r = RunProgramOk({"sh", "-c", "echo one >&2; echo two >&2; echo three >&2; echo four >&2; exit 2"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), EIO);
  // The command line, then the status, then only the last three lines of stderr.
  EXPECT_THAT(r.error().message(), ::testing::EndsWith("exit 2: exit status 2: two; three; four"));
}

TEST(ExecTest, EnvironmentOverrides) {
  auto r = RunProgramOk({"sh", "-c", "printf %s \"$STRATA_EXEC_TEST\""}, {{"STRATA_EXEC_TEST=yes"}, ""});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->out, "yes");
}

TEST(ExecTest, LargeOutputOnBothStreamsDoesNotDeadlock) {
  auto r = RunProgramOk({"sh", "-c", "head -c 300000 /dev/zero; head -c 300000 /dev/zero >&2"});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->out.size(), 300000u);
  EXPECT_EQ(r->err.size(), 300000u);
}

}  // namespace
}  // namespace strata
