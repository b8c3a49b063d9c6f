#include "runtime/cgroup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <thread>
#include <utility>

#include "core/strings.h"
#include "core/read_file.h"
#include "core/sys/mountinfo.h"

namespace strata::runtime {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// One write(2): cgroup files take a value per write.
Status WriteText(const std::string& path, const std::string& value) {
  std::string what = "write \"" + value + "\" to " + path;
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return Error::FromErrno(what);
  ssize_t n;
  do {
    n = ::write(fd.Get(), value.data(), value.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) return Error::FromErrno(what);
  if (static_cast<size_t>(n) != value.size()) return Error(EIO, what + ": short write");
  return Ok();
}

std::vector<std::string> Words(std::string_view text) {
  std::vector<std::string> words;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\n')) ++i;
    size_t start = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\n') ++i;
    if (i > start) words.emplace_back(text.substr(start, i - start));
  }
  return words;
}

bool Contains(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

// A number file ("123\n", or "max"); nullopt when the file does not exist or is not a number.
Result<std::optional<uint64_t>> ReadNumber(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok() && text.error().code() == ENOENT) return std::optional<uint64_t>();
  if (!text.ok()) return std::move(text).error();
  std::string_view s = *text;
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.remove_suffix(1);
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size()) return std::optional<uint64_t>();
  return std::optional<uint64_t>(value);
}

// Enables the controllers in every subtree_control of the chain, writing only the missing ones.
Status EnableControllers(const CgroupDir& dir, const std::vector<std::string>& required) {
  std::vector<std::string> wanted = required;
  for (const char* c : kV2OptionalControllers) {
    if (!Contains(wanted, c)) wanted.emplace_back(c);
  }
  for (const std::string& at : dir.enable_chain) {
    STRATA_ASSIGN_OR_RETURN(std::string available, ReadFile(at + "/cgroup.controllers"));
    STRATA_ASSIGN_OR_RETURN(std::string enabled, ReadFile(at + "/cgroup.subtree_control"));
    std::vector<std::string> available_list = Words(available);
    std::vector<std::string> enabled_list = Words(enabled);
    std::string add;
    for (const std::string& c : wanted) {
      if (Contains(enabled_list, c)) continue;
      if (!Contains(available_list, c)) {
        if (!Contains(required, c)) continue;  // optional: Stats reads what exists
        return Error(EOPNOTSUPP, "cgroup " + at + ": controller " + c +
                                     " is not available (cgroup.controllers: \"" +
                                     Join(available_list, " ") + "\")");
      }
      add += (add.empty() ? "+" : " +") + c;
    }
    if (add.empty()) continue;
    Status s = WriteText(at + "/cgroup.subtree_control", add);
    if (!s.ok() && s.error().code() == EBUSY) {
      return std::move(s).error().Wrap("no-internal-process rule: " + at +
                                       " holds processes and cannot enable controllers");
    }
    STRATA_TRY(std::move(s));
  }
  return Ok();
}

// Step 1 and 2 of Create for one dir; the leaf mkdir is last, so on error no leaf exists.
Status CreateDir(const CgroupDir& dir, CgroupMode mode, const ResourcePlan& plan) {
  if (::mkdir(dir.parent.c_str(), 0755) != 0 && errno != EEXIST) {
    return Error::FromErrno("mkdir " + dir.parent);
  }
  if (mode == CgroupMode::kV2 && dir.controllers.empty()) {
    STRATA_TRY(EnableControllers(dir, plan.v2_required));
  }
  if (::mkdir(dir.leaf.c_str(), 0755) != 0) {
    if (errno == EEXIST) {
      return Error(EEXIST, "mkdir " + dir.leaf + ": already exists (a stale container?)");
    }
    return Error::FromErrno("mkdir " + dir.leaf);
  }
  return Ok();
}

Status ApplyWrite(const CgroupDir& dir, const CgroupWrite& w) {
  Status s = WriteText(dir.leaf + "/" + w.file, w.value);
  if (s.ok() || s.error().code() != ENOENT || w.alt_file.empty()) return s;
  Status alt = WriteText(dir.leaf + "/" + w.alt_file, w.alt_value);
  if (!alt.ok() && alt.error().code() == ENOENT) {
    return Error(ENOENT, "cgroup " + dir.leaf + ": neither " + w.file + " nor " + w.alt_file +
                             " exists (no I/O scheduler with cgroup weights?)");
  }
  return alt;
}

// rmdir with a short bounded retry: a v1 leaf can report EBUSY for a moment after its last task
// exited. ENOENT counts as removed.
Status RemoveLeaf(const std::string& leaf) {
  auto deadline = steady_clock::now() + milliseconds(1000);
  milliseconds pause(1);
  for (;;) {
    if (::rmdir(leaf.c_str()) == 0 || errno == ENOENT) return Ok();
    if (errno != EBUSY || steady_clock::now() >= deadline) return Error::FromErrno("rmdir " + leaf);
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, milliseconds(20));
  }
}

}  // namespace

Result<CgroupLayout> DetectCgroups(const std::string& mountinfo_path,
                                   const std::string& proc_cgroup_path) {
  STRATA_ASSIGN_OR_RETURN_CTX(std::string mountinfo, ReadFile(mountinfo_path), "detect cgroups");
  STRATA_ASSIGN_OR_RETURN_CTX(std::string self, ReadFile(proc_cgroup_path), "detect cgroups");
  STRATA_ASSIGN_OR_RETURN_CTX(std::vector<sys::MountEntry> mounts, sys::ParseMountInfo(mountinfo),
                              "detect cgroups: " + mountinfo_path);
  return DecideCgroupLayout(mounts, self).Wrap("detect cgroups");
}

Result<Cgroup> Cgroup::Create(const CgroupLayout& layout, const std::string& id,
                              const Resources& resources, CgroupParent parent) {
  const std::string ctx = "create cgroup for container \"" + id + "\"";
  STRATA_ASSIGN_OR_RETURN_CTX(ResourcePlan plan, PlanResources(layout, resources), ctx);
  STRATA_ASSIGN_OR_RETURN_CTX(std::vector<CgroupDir> dirs, PlanCgroupDirs(layout, id, parent), ctx);
  std::vector<CgroupDir> created;
  auto undo = MakeGuard([&created] {
    for (auto it = created.rbegin(); it != created.rend(); ++it) {
      (void)::rmdir(it->leaf.c_str());  // best effort: rolling back a failed create; empty leaf
    }
  });
  for (CgroupDir& dir : dirs) {
    Status s = CreateDir(dir, layout.mode, plan);
    if (!s.ok()) {
      int code = s.error().code();
      if (dir.optional && (code == EROFS || code == EACCES || code == EPERM)) continue;
      return std::move(s).error().Wrap(ctx);
    }
    created.push_back(std::move(dir));
  }
  UniqueFd fd;
  if (!created.empty() && created.front().controllers.empty()) {
    const std::string& leaf = created.front().leaf;
    fd.Reset(::open(leaf.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return Error::FromErrno("open " + leaf).Wrap(ctx);
  }
  // From here the Cgroup owns the leaves: its destructor rolls back a failed write.
  undo.Release();
  Cgroup cgroup(layout.mode, std::move(created), std::move(fd));
  for (const CgroupWrite& w : plan.writes) {
    const CgroupDir* dir = cgroup.DirFor(w.controller);
    if (dir == nullptr) {
      return Error(EOPNOTSUPP, "no cgroup dir for controller \"" + w.controller + "\"").Wrap(ctx);
    }
    STRATA_TRY_CTX(ApplyWrite(*dir, w), ctx);
  }
  return cgroup;
}

Result<Cgroup> Cgroup::Adopt(const CgroupLayout& layout, const std::string& id,
                             CgroupParent parent) {
  const std::string ctx = "cgroup of container \"" + id + "\"";
  STRATA_ASSIGN_OR_RETURN_CTX(std::vector<CgroupDir> dirs, PlanCgroupDirs(layout, id, parent), ctx);
  std::vector<CgroupDir> found;
  for (CgroupDir& dir : dirs) {
    struct stat st;
    if (::stat(dir.leaf.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) found.push_back(std::move(dir));
  }
  if (found.empty()) return Error(ENOENT, ctx + ": no cgroup dir exists");
  UniqueFd fd;
  if (found.front().controllers.empty()) {
    fd.Reset(::open(found.front().leaf.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return Error::FromErrno("open " + found.front().leaf).Wrap(ctx);
  }
  return Cgroup(layout.mode, std::move(found), std::move(fd));
}

Cgroup& Cgroup::operator=(Cgroup&& other) noexcept {
  if (this != &other) {
    (void)Remove();  // best effort, as in the destructor
    mode_ = other.mode_;
    dirs_ = std::exchange(other.dirs_, {});
    dir_fd_ = std::move(other.dir_fd_);
  }
  return *this;
}

Cgroup::~Cgroup() {
  (void)Remove();  // best effort: bounded by kCgroupKillTimeout plus a short rmdir retry
}

const CgroupDir* Cgroup::DirFor(const std::string& controller) const {
  for (const CgroupDir& dir : dirs_) {
    if (controller.empty() ? dir.controllers.empty() : Contains(dir.controllers, controller)) {
      return &dir;
    }
  }
  return nullptr;
}

Status Cgroup::AddProcess(pid_t pid) {
  const std::string ctx = "add process " + std::to_string(pid) + " to cgroup";
  auto text = ReadFile("/proc/" + std::to_string(pid) + "/cgroup");
  if (!text.ok() && text.error().code() == ENOENT) {
    return Error(ESRCH, ctx + ": no such process");
  }
  if (!text.ok()) return std::move(text).error().Wrap(ctx);
  STRATA_ASSIGN_OR_RETURN_CTX(std::vector<ProcCgroup> current, ParseProcCgroup(*text), ctx);
  for (const CgroupDir& dir : dirs_) {
    auto in = std::find_if(current.begin(), current.end(), [&](const ProcCgroup& e) {
      return dir.controllers.empty() ? e.controllers.empty()
                                     : Contains(e.controllers, dir.controllers.front());
    });
    if (in != current.end() && in->path == dir.proc_path) continue;  // already there: no rwsem
    STRATA_TRY_CTX(WriteText(dir.leaf + "/cgroup.procs", std::to_string(pid)), ctx);
  }
  return Ok();
}

Result<std::vector<pid_t>> Cgroup::Pids() const {
  std::vector<pid_t> pids;
  for (const CgroupDir& dir : dirs_) {
    auto text = ReadFile(dir.leaf + "/cgroup.procs");
    if (!text.ok() && text.error().code() == ENOENT) continue;
    if (!text.ok()) return std::move(text).error();
    for (const std::string& word : Words(*text)) {
      pid_t pid = 0;
      auto [end, ec] = std::from_chars(word.data(), word.data() + word.size(), pid);
      if (ec != std::errc() || end != word.data() + word.size()) {
        return Error(EINVAL, dir.leaf + "/cgroup.procs: not a pid: \"" + word + "\"");
      }
      pids.push_back(pid);
    }
  }
  std::sort(pids.begin(), pids.end());
  pids.erase(std::unique(pids.begin(), pids.end()), pids.end());
  return pids;
}

Status Cgroup::KillAll() {
  if (dirs_.empty()) return Ok();
  const std::string ctx = "kill cgroup " + dirs_.front().leaf;
  if (const CgroupDir* v2 = DirFor(""); v2 != nullptr) {
    Status s = WriteText(v2->leaf + "/cgroup.kill", "1");
    // ENOENT: a kernel before 5.14 (or the leaf is gone); the loop below does the work.
    if (!s.ok() && s.error().code() != ENOENT) return std::move(s).error().Wrap(ctx);
  }
  const pid_t self = ::getpid();
  const auto deadline = steady_clock::now() + kCgroupKillTimeout;
  milliseconds pause(1);
  for (;;) {
    STRATA_ASSIGN_OR_RETURN_CTX(std::vector<pid_t> pids, Pids(), ctx);
    pids.erase(std::remove(pids.begin(), pids.end(), self), pids.end());
    if (pids.empty()) return Ok();
    if (steady_clock::now() >= deadline) {
      std::vector<std::string> names;
      for (pid_t pid : pids) names.push_back(std::to_string(pid));
      return Error(ETIMEDOUT, ctx + ": " + std::to_string(pids.size()) + " processes left after " +
                                  std::to_string(kCgroupKillTimeout.count()) +
                                  " ms: " + Join(names, " "));
    }
    for (pid_t pid : pids) (void)::kill(pid, SIGKILL);  // ESRCH: exited since the read
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, milliseconds(20));
  }
}

Status Cgroup::Remove() {
  if (dirs_.empty()) return Ok();
  const std::string ctx = "remove cgroup " + dirs_.front().leaf;
  STRATA_TRY_CTX(KillAll(), ctx);
  std::vector<CgroupDir> left;
  Status first_error;
  for (CgroupDir& dir : dirs_) {
    Status s = RemoveLeaf(dir.leaf);
    if (s.ok()) {
      if (dir.controllers.empty()) dir_fd_.Reset();
      continue;
    }
    if (first_error.ok()) first_error = std::move(s);
    left.push_back(std::move(dir));
  }
  dirs_ = std::move(left);
  if (!first_error.ok()) return std::move(first_error).error().Wrap(ctx);
  return Ok();
}

Result<CgroupStats> Cgroup::Stats() const {
  CgroupStats stats;
  const std::string ctx = "stats of cgroup " + (dirs_.empty() ? "(removed)" : dirs_.front().leaf);
  if (mode_ == CgroupMode::kV2) {
    const CgroupDir* dir = DirFor("");
    if (dir == nullptr) return Error(ENOENT, ctx + ": the cgroup was removed");
    const std::string& leaf = dir->leaf;
    STRATA_ASSIGN_OR_RETURN_CTX(stats.memory_current_bytes, ReadNumber(leaf + "/memory.current"),
                                ctx);
    STRATA_ASSIGN_OR_RETURN_CTX(stats.memory_peak_bytes, ReadNumber(leaf + "/memory.peak"), ctx);
    STRATA_ASSIGN_OR_RETURN_CTX(stats.pids_current, ReadNumber(leaf + "/pids.current"), ctx);
    auto events = ReadFile(leaf + "/memory.events");
    if (!events.ok() && events.error().code() != ENOENT) return std::move(events).error().Wrap(ctx);
    if (events.ok()) {
      stats.oom_kills = FlatKeyedValue(*events, "oom_kill").value_or(0);
      stats.memory_limit_hits = FlatKeyedValue(*events, "max").value_or(0);
    }
    return stats;
  }
  if (const CgroupDir* mem = DirFor("memory"); mem != nullptr) {
    const std::string& leaf = mem->leaf;
    STRATA_ASSIGN_OR_RETURN_CTX(stats.memory_current_bytes,
                                ReadNumber(leaf + "/memory.usage_in_bytes"), ctx);
    STRATA_ASSIGN_OR_RETURN_CTX(stats.memory_peak_bytes,
                                ReadNumber(leaf + "/memory.max_usage_in_bytes"), ctx);
    STRATA_ASSIGN_OR_RETURN_CTX(auto failcnt, ReadNumber(leaf + "/memory.failcnt"), ctx);
    stats.memory_limit_hits = failcnt.value_or(0);
    auto control = ReadFile(leaf + "/memory.oom_control");
    if (!control.ok() && control.error().code() != ENOENT) {
      return std::move(control).error().Wrap(ctx);
    }
    if (control.ok()) stats.oom_kills = FlatKeyedValue(*control, "oom_kill").value_or(0);
  }
  if (const CgroupDir* pids = DirFor("pids"); pids != nullptr) {
    STRATA_ASSIGN_OR_RETURN_CTX(stats.pids_current, ReadNumber(pids->leaf + "/pids.current"), ctx);
  }
  return stats;
}

std::vector<std::string> Cgroup::paths() const {
  std::vector<std::string> out;
  for (const CgroupDir& dir : dirs_) out.push_back(dir.leaf);
  return out;
}

std::vector<std::string> Cgroup::Release() {
  std::vector<std::string> out = paths();
  dirs_.clear();
  dir_fd_.Reset();
  return out;
}

}  // namespace strata::runtime
