#include "tests/fakes/fake_mounts.h"

#include <cerrno>
#include <cstring>

namespace strata {
namespace {

Error Injected(int code, const std::string& what) {
  return Error(code, what + ": " + std::strerror(code) + " (injected)");
}

std::string JoinParams(const std::vector<sys::FsParam>& params) {
  std::string out;
  for (const sys::FsParam& p : params) {
    if (!out.empty()) out += ",";
    out += p.key;
    if (p.kind == sys::FsParam::Kind::kString) out += "=" + p.value;
  }
  return out;
}

}  // namespace

int FakeMounts::TakeFailure(const std::string& op) {
  auto it = failures_.find(op);
  if (it == failures_.end() || it->second.empty()) return 0;
  int code = it->second.front();
  it->second.pop_front();
  return code;
}

void FakeMounts::AddEntry(sys::MountEntry entry) {
  if (entry.mount_id == 0) entry.mount_id = next_mount_id_++;
  table_.push_back(std::move(entry));
}

bool FakeMounts::IsMounted(const std::string& target) const {
  for (const sys::MountEntry& e : table_) {
    if (e.mount_point == target) return true;
  }
  return false;
}

void FakeMounts::Push(const std::string& fs_type, const std::string& source,
                      const std::string& target, std::string options) {
  sys::MountEntry e;
  e.mount_id = next_mount_id_++;
  e.parent_id = 1;
  e.root = "/";
  e.mount_point = target;
  e.fs_type = fs_type;
  e.source = source;
  e.super_options = std::move(options);
  table_.push_back(std::move(e));
}

Status FakeMounts::MountNewApi(const std::string& fs_type, const std::vector<sys::FsParam>& params,
                               uint64_t mount_attrs, const std::string& target) {
  calls_.push_back("mount_new " + fs_type + " " + target);
  std::string source = fs_type;
  for (const sys::FsParam& p : params) {
    if (p.key == "source") source = p.value;
  }
  mount_calls_.push_back({"mount_new", fs_type, source, target, 0, "", mount_attrs, params});
  if (int code = TakeFailure("mount_new")) return Injected(code, "fsconfig " + fs_type + " create");
  Push(fs_type, source, target, JoinParams(params));
  return Ok();
}

Status FakeMounts::Mount(const std::string& source, const std::string& target,
                         const std::string& fs_type, unsigned long flags, const std::string& data) {
  calls_.push_back("mount " + (fs_type.empty() ? std::string("none") : fs_type) + " " + target);
  mount_calls_.push_back({"mount", fs_type, source, target, flags, data, 0, {}});
  if (int code = TakeFailure("mount")) return Injected(code, "mount " + source + " on " + target);
  if (flags & sys::kMsRemount) return IsMounted(target) ? Ok() : Injected(EINVAL, "remount " + target);
  Push(fs_type, source, target, data);
  return Ok();
}

Status FakeMounts::Unmount(const std::string& target, int /*flags*/) {
  calls_.push_back("umount " + target);
  if (int code = TakeFailure("umount")) return Injected(code, "umount " + target);
  for (auto it = table_.rbegin(); it != table_.rend(); ++it) {
    if (it->mount_point == target) {
      table_.erase(std::next(it).base());
      return Ok();
    }
  }
  return Error::FromErrno(EINVAL, "umount " + target);
}

Result<std::vector<sys::MountEntry>> FakeMounts::MountInfo() {
  if (int code = TakeFailure("mountinfo")) return Injected(code, "read /proc/self/mountinfo");
  return table_;
}

}  // namespace strata
