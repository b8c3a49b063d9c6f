// core/failpoint.h: an armed failpoint SIGKILLs the process; any other name does nothing.
#include "core/failpoint.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

namespace strata {
namespace {

class FailpointTest : public ::testing::Test {
 protected:
  void TearDown() override {
    ::unsetenv(kFailpointEnv);
    ReloadFailpointFromEnv();
  }
  void Arm(const char* name) {
    ::setenv(kFailpointEnv, name, 1);
    ReloadFailpointFromEnv();
  }
};

TEST_F(FailpointTest, UnarmedDoesNothing) {
  ::unsetenv(kFailpointEnv);
  ReloadFailpointFromEnv();
  Failpoint("thin.create_thin.after-intent");
  Failpoint("thin.create_thin", "after-intent");
  Failpoint("");
  Failpoint("", "");
}

TEST_F(FailpointTest, OtherNamesDoNothing) {
  Arm("thin.delete.after-txid");
  Failpoint("thin.delete.after-commit");
  Failpoint("thin.delete", "after-txi");
  Failpoint("thin.delet", "eafter-txid");  // same characters, "." in the wrong place
  Failpoint("thin.delete.after", "txid");
  Failpoint("thin", "delete.after-txid-x");
}

TEST_F(FailpointTest, ArmedNameKillsTheProcess) {
  Arm("thin.delete.after-txid");
  EXPECT_EXIT(Failpoint("thin.delete.after-txid"), ::testing::KilledBySignal(SIGKILL), "");
  EXPECT_EXIT(Failpoint("thin.delete", "after-txid"), ::testing::KilledBySignal(SIGKILL), "");
}

TEST_F(FailpointTest, EnvironmentIsReadOnceUntilReloaded) {
  Arm("a.b");
  ::setenv(kFailpointEnv, "c.d", 1);  // not reloaded: still a.b
  Failpoint("c.d");
  EXPECT_EXIT(Failpoint("a.b"), ::testing::KilledBySignal(SIGKILL), "");
}

}  // namespace
}  // namespace strata
