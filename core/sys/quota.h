// The project-quota seam: a directory's project id and the per-project block limits of the
// filesystem holding it (XFS project quotas; ext4 with the "project" feature works the same).
// One thin call per kernel operation, no retries, no fallbacks, no policy: project id
// allocation and "is --size possible here" live in volumes/local_backend.cc.
//
// Quota calls take any path on the filesystem and use quotactl_fd(2) (Linux >= 5.14) on it, so
// callers never need to know the block device.
#pragma once

#include <cstdint>
#include <string>

#include "core/result.h"

namespace strata::sys {

enum class ProjectInherit { kYes, kNo };

struct ProjectQuotaState {
  bool accounting = false;  // FS_QUOTA_PDQ_ACCT: usage is tracked
  bool enforced = false;    // FS_QUOTA_PDQ_ENFD: limits are enforced (mount option prjquota)
};

struct ProjectUsage {
  uint64_t used_bytes = 0;
  uint64_t hard_limit_bytes = 0;  // 0: no limit
};

class Quota {
 public:
  virtual ~Quota() = default;

  // FS_IOC_FSGETXATTR on `path` (a directory or regular file, not followed if a symlink): its
  // project id. Errors: ENOTTY/EOPNOTSUPP when the filesystem has no project ids.
  virtual Result<uint32_t> GetProjectId(const std::string& path) = 0;

  // FS_IOC_FSGETXATTR + FS_IOC_FSSETXATTR on `path`: sets its project id and, for kYes, the
  // PROJINHERIT flag (new entries of a directory get its project id); other flags are kept.
  virtual Status SetProjectId(const std::string& path, uint32_t project_id,
                              ProjectInherit inherit) = 0;

  // quotactl Q_XGETQSTATV (PRJQUOTA) on the filesystem holding `path`. Errors: ENOSYS when the
  // filesystem has no quota support at all; ESRCH when quotas are off.
  virtual Result<ProjectQuotaState> GetProjectQuotaState(const std::string& path) = 0;

  // quotactl Q_XSETQLIM (PRJQUOTA): the hard block limit of `project_id` (0 removes it).
  virtual Status SetProjectLimit(const std::string& path, uint32_t project_id,
                                 uint64_t hard_limit_bytes) = 0;

  // quotactl Q_XGETQUOTA (PRJQUOTA). Errors: ENOENT when the project has no quota record.
  virtual Result<ProjectUsage> GetProjectUsage(const std::string& path, uint32_t project_id) = 0;
};

// The Linux implementation (core/sys/linux_quota.cc). Lives for the whole process.
Quota& LinuxQuota();

}  // namespace strata::sys
