#include "tests/fakes/fake_quota.h"

#include <sys/stat.h>

#include <cerrno>

namespace strata {
namespace {

Status MustExist(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return Error::FromErrno("open " + path);
  return Ok();
}

}  // namespace

Status FakeQuota::Fail(const std::string& op) {
  auto it = failures_.find(op);
  if (it == failures_.end() || it->second.empty()) return Ok();
  int code = it->second.front();
  it->second.pop_front();
  return Error(code, op + " (injected)");
}

uint32_t FakeQuota::id(const std::string& path) const {
  auto it = ids_.find(path);
  return it == ids_.end() ? 0 : it->second;
}

uint64_t FakeQuota::limit(uint32_t project_id) const {
  auto it = usage_.find(project_id);
  return it == usage_.end() ? 0 : it->second.hard_limit_bytes;
}

Result<uint32_t> FakeQuota::GetProjectId(const std::string& path) {
  STRATA_TRY(Fail("get_id"));
  STRATA_TRY(MustExist(path));
  return id(path);
}

Status FakeQuota::SetProjectId(const std::string& path, uint32_t project_id,
                               sys::ProjectInherit inherit) {
  STRATA_TRY(Fail("set_id"));
  STRATA_TRY(MustExist(path));
  ids_[path] = project_id;
  if (inherit == sys::ProjectInherit::kYes) {
    inherit_[path] = true;
  } else {
    inherit_.erase(path);
  }
  return Ok();
}

Result<sys::ProjectQuotaState> FakeQuota::GetProjectQuotaState(const std::string&) {
  STRATA_TRY(Fail("state"));
  if (!enforced_) return Error(ESRCH, "Q_XGETQSTATV: quotas off (fake)");
  return sys::ProjectQuotaState{true, true};
}

Status FakeQuota::SetProjectLimit(const std::string&, uint32_t project_id,
                                  uint64_t hard_limit_bytes) {
  STRATA_TRY(Fail("set_limit"));
  usage_[project_id].hard_limit_bytes = hard_limit_bytes;
  return Ok();
}

Result<sys::ProjectUsage> FakeQuota::GetProjectUsage(const std::string&, uint32_t project_id) {
  STRATA_TRY(Fail("usage"));
  auto it = usage_.find(project_id);
  if (it == usage_.end()) return Error(ENOENT, "Q_XGETQUOTA: no record (fake)");
  return it->second;
}

}  // namespace strata
