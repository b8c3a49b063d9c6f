// The Linux Quota seam: FS_IOC_FSGETXATTR/FSSETXATTR and quotactl_fd(2) with the XFS quota
// commands (which ext4 also serves through the generic quota code).
#include <fcntl.h>
#include <linux/dqblk_xfs.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/quota.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "core/sys/quota.h"
#include "core/unique_fd.h"

namespace strata::sys {
namespace {

// XFS quota figures count 512-byte "basic blocks".
constexpr uint64_t kBasicBlockBytes = 512;

// O_NONBLOCK: a fifo must not block the open; O_NOFOLLOW: symlinks are refused (ELOOP).
Result<UniqueFd> OpenPath(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd) return Error::FromErrno("open " + path);
  return fd;
}

// glibc has no quotactl_fd wrapper (the syscall is Linux 5.14+).
Status QuotactlFd(const std::string& path, int command, uint32_t id, void* addr,
                  const char* name) {
  STRATA_ASSIGN_OR_RETURN(UniqueFd fd, OpenPath(path));
  if (::syscall(SYS_quotactl_fd, fd.Get(), QCMD(command, PRJQUOTA), id, addr) != 0) {
    return Error::FromErrno(std::string(name) + " (project " + std::to_string(id) + ") on " + path);
  }
  return Ok();
}

class LinuxQuotaImpl final : public Quota {
 public:
  Result<uint32_t> GetProjectId(const std::string& path) override {
    STRATA_ASSIGN_OR_RETURN(UniqueFd fd, OpenPath(path));
    struct fsxattr attr {};
    if (::ioctl(fd.Get(), FS_IOC_FSGETXATTR, &attr) != 0) {
      return Error::FromErrno("FS_IOC_FSGETXATTR " + path);
    }
    return attr.fsx_projid;
  }

  Status SetProjectId(const std::string& path, uint32_t project_id,
                      ProjectInherit inherit) override {
    STRATA_ASSIGN_OR_RETURN(UniqueFd fd, OpenPath(path));
    struct fsxattr attr {};
    if (::ioctl(fd.Get(), FS_IOC_FSGETXATTR, &attr) != 0) {
      return Error::FromErrno("FS_IOC_FSGETXATTR " + path);
    }
    attr.fsx_projid = project_id;
    if (inherit == ProjectInherit::kYes) {
      attr.fsx_xflags |= FS_XFLAG_PROJINHERIT;
    } else {
      attr.fsx_xflags &= ~static_cast<uint32_t>(FS_XFLAG_PROJINHERIT);
    }
    if (::ioctl(fd.Get(), FS_IOC_FSSETXATTR, &attr) != 0) {
      return Error::FromErrno("FS_IOC_FSSETXATTR " + path);
    }
    return Ok();
  }

  Result<ProjectQuotaState> GetProjectQuotaState(const std::string& path) override {
    struct fs_quota_statv stat {};
    stat.qs_version = FS_QSTATV_VERSION1;
    STRATA_TRY(QuotactlFd(path, Q_XGETQSTATV, 0, &stat, "Q_XGETQSTATV"));
    ProjectQuotaState state;
    state.accounting = (stat.qs_flags & FS_QUOTA_PDQ_ACCT) != 0;
    state.enforced = (stat.qs_flags & FS_QUOTA_PDQ_ENFD) != 0;
    return state;
  }

  Status SetProjectLimit(const std::string& path, uint32_t project_id,
                         uint64_t hard_limit_bytes) override {
    struct fs_disk_quota quota {};
    quota.d_version = FS_DQUOT_VERSION;
    quota.d_flags = FS_PROJ_QUOTA;
    quota.d_id = project_id;
    quota.d_fieldmask = FS_DQ_BHARD;
    quota.d_blk_hardlimit = (hard_limit_bytes + kBasicBlockBytes - 1) / kBasicBlockBytes;
    return QuotactlFd(path, Q_XSETQLIM, project_id, &quota, "Q_XSETQLIM");
  }

  Result<ProjectUsage> GetProjectUsage(const std::string& path, uint32_t project_id) override {
    struct fs_disk_quota quota {};
    STRATA_TRY(QuotactlFd(path, Q_XGETQUOTA, project_id, &quota, "Q_XGETQUOTA"));
    ProjectUsage usage;
    usage.used_bytes = quota.d_bcount * kBasicBlockBytes;
    usage.hard_limit_bytes = quota.d_blk_hardlimit * kBasicBlockBytes;
    return usage;
  }
};

}  // namespace

Quota& LinuxQuota() {
  static LinuxQuotaImpl* impl = new LinuxQuotaImpl();  // never destroyed: process lifetime
  return *impl;
}

}  // namespace strata::sys
