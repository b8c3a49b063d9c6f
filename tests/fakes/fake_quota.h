// FakeQuota: an in-memory sys::Quota for tests of the project-quota policy on filesystems that
// cannot enforce project quotas (or kernels without quota support). Project ids are kept per
// path string; the paths must exist (GetProjectId/SetProjectId stat them, ENOENT otherwise).
// Fails on demand: quota.FailNext("set_limit", EDQUOT). Not thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "core/sys/quota.h"

namespace strata {

class FakeQuota : public sys::Quota {
 public:
  // The next call of `op` fails with `code`; ops: "get_id", "set_id", "state", "set_limit",
  // "usage".
  void FailNext(const std::string& op, int code) { failures_[op].push_back(code); }
  void set_enforced(bool enforced) { enforced_ = enforced; }
  // Gives `project_id` a quota record, as another user of the filesystem would.
  void SetUsage(uint32_t project_id, sys::ProjectUsage usage) { usage_[project_id] = usage; }
  // Project id per path (0 for paths never set) and the limits set.
  uint32_t id(const std::string& path) const;
  uint64_t limit(uint32_t project_id) const;
  bool inherits(const std::string& path) const { return inherit_.count(path) > 0; }

  Result<uint32_t> GetProjectId(const std::string& path) override;
  Status SetProjectId(const std::string& path, uint32_t project_id,
                      sys::ProjectInherit inherit) override;
  Result<sys::ProjectQuotaState> GetProjectQuotaState(const std::string& path) override;
  Status SetProjectLimit(const std::string& path, uint32_t project_id,
                         uint64_t hard_limit_bytes) override;
  Result<sys::ProjectUsage> GetProjectUsage(const std::string& path, uint32_t project_id) override;

 private:
  Status Fail(const std::string& op);

  bool enforced_ = true;
  std::map<std::string, uint32_t> ids_;
  std::map<std::string, bool> inherit_;
  std::map<uint32_t, sys::ProjectUsage> usage_;
  std::map<std::string, std::deque<int>> failures_;
};

}  // namespace strata
