// The named-volume suite: `strata vol` end to end through the built CLI binary, the same cases
// for every backend. Instantiated per tier: local and loop in tests/host/vol_suite_test.cc, thin
// in tests/vm/vol_suite_test.cc (device-mapper runs in the VM only). The tests are in
// volume_suite.cc.
//
// Each test gets its own strata root under /var/tmp and a config file naming it; for thin the
// config also gives the test a small embedded pool of its own (dm names are per host), which
// TearDown removes with everything mounted under the root.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "tests/support/run_command.h"

namespace strata::volumes::conformance {

using testing::CommandResult;

// The parameter is the backend name: "local", "loop" or "thin".
class VolumeSuite : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override;
  void TearDown() override;

  const std::string& backend() const { return GetParam(); }
  bool is_local() const { return backend() == "local"; }
  bool is_thin() const { return backend() == "thin"; }

  // `strata --root <root> --config <config> args...`; with `failpoint`, run with
  // STRATA_FAILPOINT=<failpoint> in its environment.
  CommandResult Strata(const std::vector<std::string>& args, const std::string& input = "",
                       const std::string& failpoint = "") const;
  // `vol create NAME --backend <param>` plus a size the backend accepts (loop, thin: 64M; local:
  // none), then `extra`.
  std::vector<std::string> CreateArgs(const std::string& name,
                                      const std::vector<std::string>& extra = {}) const;
  // Creates or fails the test.
  void MustCreate(const std::string& name, const std::vector<std::string>& extra = {});
  // `vol ls --json [--filter f]...`, parsed; fails the test (returns []) on error.
  nlohmann::json LsJson(const std::vector<std::string>& filters = {}) const;
  // Names from `vol ls -q [--filter f]...`.
  std::vector<std::string> LsNames(const std::vector<std::string>& filters = {}) const;
  // The entry of `vol ls --json` named `name`, or nullopt.
  std::optional<nlohmann::json> Listed(const std::string& name) const;
  // `vol inspect name`'s single element, or null json on error (test failed).
  nlohmann::json Inspect(const std::string& name) const;
  // `vol attach`; returns the printed target, or "" (test failed).
  std::string MustAttach(const std::string& name, const std::string& path, bool read_only = false);

  // A fresh path for an attachment target under the root (not created).
  std::string TargetPath(const std::string& label) const { return root_ + "/targets/" + label; }
  // Every path under <root>/volumes (relative), for "nothing changed" checks.
  std::set<std::string> VolumeFiles() const;
  // Names of strata's dm devices (`strata dm ls --json`); empty off device-mapper.
  std::set<std::string> DmDevices() const;
  // Loop devices whose backing file is under the root (or starts with `prefix`).
  std::vector<std::string> LoopDevicesUnderRoot(const std::string& prefix = "") const;
  // Whether the local backend can enforce --size here (project quotas under the root).
  bool LocalHasQuota();
  // How the resize tests make a volume that grows online: ext4 grows online only with
  // CAP_SYS_RESOURCE (the kernel's ext4 resize ioctl checks it), which some container hosts drop;
  // then xfs, whose growfs needs CAP_SYS_ADMIN only. local: a quota size.
  struct Growable {
    std::vector<std::string> create_args;  // --size (and --fs)
    uint64_t size_bytes = 0;
  };
  Growable GrowableVolume() const;
  // No storage of `name` is left: no stage mount, no image / directory, no loop device, no thin
  // record named "vol:<name>" and a clean `pool check`.
  void ExpectNoStorage(const std::string& name);

  std::string root_;
  std::string config_;
  std::string pool_;  // thin: this test's pool
  std::optional<bool> quota_;
};

// Writes `content` to `path`; returns errno (0 on success).
int WriteText(const std::string& path, const std::string& content);
// Contents of `path`, or "<missing>".
std::string ReadText(const std::string& path);
// statvfs total bytes of the filesystem at `path` (0 on error).
uint64_t FsTotalBytes(const std::string& path);

}  // namespace strata::volumes::conformance
