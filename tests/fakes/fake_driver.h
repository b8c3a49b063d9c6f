// FakeDriver: an in-memory drivers::Driver for LayerStore unit tests. Keeps a map of layers,
// records every call, and fails on demand:
//   FakeDriver driver;
//   driver.FailNext("apply", EIO);
//   EXPECT_FALSE(layers->Import("", "", fd).ok());
//   EXPECT_THAT(driver.calls(), Contains("remove l1"));
// Not thread-safe. Its state lives in memory only, so a "crashed" LayerStore can be reopened on
// the same FakeDriver to test recovery.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "drivers/driver.h"

namespace strata {

class FakeDriver : public drivers::Driver {
 public:
  struct Layer {
    std::string parent;
    drivers::LayerKind kind = drivers::LayerKind::kReadOnly;
    bool mounted = false;
    uint64_t applied_bytes = 0;  // bytes ApplyDiff read from its fd
  };

  // The next call of `op` fails with `code` (after recording the call, before acting); queued per
  // op, each used once. ops: "create", "remove", "mount", "unmount", "ismounted", "apply",
  // "diff", "changes", "diffsize".
  void FailNext(const std::string& op, int code) { failures_[op].push_back(code); }

  // "<op> <id>" per call, failed ones included, in order.
  const std::vector<std::string>& calls() const { return calls_; }
  int CallCount(const std::string& call) const;  // how often exactly `call` was recorded
  void ClearCalls() { calls_.clear(); }

  std::map<std::string, Layer>& layers() { return layers_; }
  // Simulates a reboot or a manual umount: the layer is no longer mounted.
  void LoseMount(const std::string& id);
  // What Changes() answers.
  void SetChanges(std::vector<drivers::archive::Change> changes) { changes_ = std::move(changes); }

  std::string Name() const override { return "fake"; }
  std::string Home() const override { return "/fake"; }
  drivers::StatusFields Describe() const override { return {{"Fake", "yes"}}; }
  drivers::archive::WhiteoutFormat Whiteouts() const override {
    return drivers::archive::WhiteoutFormat::kDelete;
  }

  strata::Status Create(const std::string& id, const std::string& parent, drivers::LayerKind kind,
                        const drivers::CreateOptions& options) override;
  strata::Status Remove(const std::string& id) override;
  bool Exists(const std::string& id) const override { return layers_.count(id) != 0; }
  Result<std::string> Mount(const std::string& id) override;
  strata::Status Unmount(const std::string& id) override;
  std::string MountPath(const std::string& id) const override { return "/fake/" + id + "/merged"; }
  Result<bool> IsMounted(const std::string& id) override;
  Result<std::vector<drivers::archive::Change>> Changes(const std::string& id) override;
  Result<drivers::archive::ExportStats> Diff(const std::string& id, int out_fd,
                                             drivers::archive::Compression compression) override;
  Result<drivers::archive::ApplyStats> ApplyDiff(const std::string& id, int in_fd) override;
  Result<uint64_t> DiffSize(const std::string& id) override;

 private:
  // Records "<op> <id>"; returns the queued failure for `op`, if any.
  strata::Status Record(const std::string& op, const std::string& id);

  std::map<std::string, Layer> layers_;
  std::map<std::string, std::deque<int>> failures_;
  std::vector<std::string> calls_;
  std::vector<drivers::archive::Change> changes_;
};

}  // namespace strata
