#include "runtime/cgroup_plan.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <string_view>

#include "core/sys/mountinfo.h"

namespace strata::runtime {
namespace {

// The v1 controllers the kernel knows (cgroup_subsys.h); anything else in a cgroup mount's super
// options is an option ("noprefix", "clone_children", "name=systemd", "release_agent=...").
constexpr std::string_view kKnownV1Controllers[] = {
    "blkio",  "cpu",  "cpuacct", "cpuset",   "devices",    "freezer", "hugetlb",
    "memory", "misc", "net_cls", "net_prio", "perf_event", "pids",    "rdma"};

bool IsV1Controller(std::string_view name) {
  return std::find(std::begin(kKnownV1Controllers), std::end(kKnownV1Controllers), name) !=
         std::end(kKnownV1Controllers);
}

std::vector<std::string_view> Split(std::string_view text, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(sep, start);
    if (end == std::string_view::npos) end = text.size();
    parts.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

std::string JoinPath(std::string_view dir, std::string_view name) {
  std::string out(dir);
  if (out.empty() || out.back() != '/') out += '/';
  out += name;
  return out;
}

// Keeps the first candidate unless a later one shows the whole hierarchy (root "/").
bool Prefer(const std::optional<CgroupMount>& current, const sys::MountEntry& candidate) {
  return !current || (current->root != "/" && candidate.root == "/");
}

bool ValidId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (size_t i = 0; i < id.size(); ++i) {
    char c = id[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-'))) return false;
  }
  return true;
}

Status CheckPositive(const char* field, const std::optional<int64_t>& value) {
  if (value && *value <= 0) {
    return Error(
        EINVAL, std::string("resources: ") + field + " must be > 0, got " + std::to_string(*value));
  }
  return Ok();
}

Status ValidateResources(const Resources& r) {
  STRATA_TRY(CheckPositive("memory_bytes", r.memory_bytes));
  STRATA_TRY(CheckPositive("cpu_quota_us", r.cpu_quota_us));
  STRATA_TRY(CheckPositive("pids_max", r.pids_max));
  if (r.cpu_quota_us && r.cpu_period_us <= 0) {
    return Error(EINVAL,
                 "resources: cpu_period_us must be > 0, got " + std::to_string(r.cpu_period_us));
  }
  if (r.io_weight && (*r.io_weight < 1 || *r.io_weight > 10000)) {
    return Error(EINVAL,
                 "resources: io_weight must be in 1..10000, got " + std::to_string(*r.io_weight));
  }
  return Ok();
}

ResourcePlan PlanV2(const Resources& r) {
  ResourcePlan plan;
  if (r.memory_bytes) {
    plan.writes.push_back({"", "memory.max", std::to_string(*r.memory_bytes), "", ""});
    plan.v2_required.push_back("memory");
  }
  if (r.cpu_quota_us) {
    plan.writes.push_back({"", "cpu.max",
                           std::to_string(*r.cpu_quota_us) + " " + std::to_string(r.cpu_period_us),
                           "", ""});
    plan.v2_required.push_back("cpu");
  }
  if (r.pids_max) {
    plan.writes.push_back({"", "pids.max", std::to_string(*r.pids_max), "", ""});
    plan.v2_required.push_back("pids");
  }
  if (r.io_weight) {
    plan.writes.push_back({"", "io.weight", "default " + std::to_string(*r.io_weight),
                           "io.bfq.weight", std::to_string(IoWeightToBfqWeight(*r.io_weight))});
    plan.v2_required.push_back("io");
  }
  return plan;
}

Result<ResourcePlan> PlanV1(const CgroupLayout& layout, const Resources& r) {
  ResourcePlan plan;
  auto need = [&](const char* controller, const char* what) -> Status {
    if (layout.v1.count(controller)) return Ok();
    return Error(EOPNOTSUPP, std::string(what) + " needs the cgroup v1 " + controller +
                                 " controller, which is not mounted");
  };
  if (r.memory_bytes) {
    STRATA_TRY(need("memory", "memory limit"));
    plan.writes.push_back(
        {"memory", "memory.limit_in_bytes", std::to_string(*r.memory_bytes), "", ""});
  }
  if (r.cpu_quota_us) {
    STRATA_TRY(need("cpu", "cpu quota"));
    plan.writes.push_back({"cpu", "cpu.cfs_period_us", std::to_string(r.cpu_period_us), "", ""});
    plan.writes.push_back({"cpu", "cpu.cfs_quota_us", std::to_string(*r.cpu_quota_us), "", ""});
  }
  if (r.pids_max) {
    STRATA_TRY(need("pids", "pids limit"));
    plan.writes.push_back({"pids", "pids.max", std::to_string(*r.pids_max), "", ""});
  }
  if (r.io_weight) {
    STRATA_TRY(need("blkio", "io weight"));
    std::string weight = std::to_string(IoWeightToBlkioWeight(*r.io_weight));
    plan.writes.push_back({"blkio", "blkio.weight", weight, "blkio.bfq.weight", weight});
  }
  return plan;
}

}  // namespace

Result<std::vector<ProcCgroup>> ParseProcCgroup(std::string_view text) {
  std::vector<ProcCgroup> out;
  int line_no = 0;
  for (std::string_view line : Split(text, '\n')) {
    ++line_no;
    if (line.empty()) continue;
    size_t first = line.find(':');
    size_t second = first == std::string_view::npos ? first : line.find(':', first + 1);
    if (second == std::string_view::npos) {
      return Error(EINVAL, "/proc/<pid>/cgroup line " + std::to_string(line_no) +
                               ": expected \"id:controllers:path\", got \"" + std::string(line) +
                               "\"");
    }
    ProcCgroup entry;
    std::string_view controllers = line.substr(first + 1, second - first - 1);
    if (!controllers.empty()) {
      for (std::string_view c : Split(controllers, ',')) entry.controllers.emplace_back(c);
    }
    entry.path = std::string(line.substr(second + 1));
    out.push_back(std::move(entry));
  }
  return out;
}

Result<CgroupLayout> DecideCgroupLayout(const std::vector<sys::MountEntry>& mounts,
                                        std::string_view proc_self_cgroup) {
  STRATA_ASSIGN_OR_RETURN_CTX(std::vector<ProcCgroup> self, ParseProcCgroup(proc_self_cgroup),
                              "decide cgroup layout");
  auto self_path = [&](std::string_view controller) -> std::string {
    for (const ProcCgroup& e : self) {
      bool v2_line = e.controllers.empty();
      if (controller.empty() ? v2_line
                             : std::find(e.controllers.begin(), e.controllers.end(), controller) !=
                                   e.controllers.end()) {
        return e.path;
      }
    }
    return "";
  };

  CgroupLayout layout;
  for (const sys::MountEntry& m : mounts) {
    if (m.fs_type == "cgroup2") {
      if (Prefer(layout.v2, m)) layout.v2 = CgroupMount{m.mount_point, m.root, self_path("")};
    } else if (m.fs_type == "cgroup") {
      for (std::string_view option : Split(m.super_options, ',')) {
        if (!IsV1Controller(option)) continue;
        std::string controller(option);
        auto it = layout.v1.find(controller);
        std::optional<CgroupMount> current;
        if (it != layout.v1.end()) current = it->second;
        if (Prefer(current, m)) {
          layout.v1[controller] = CgroupMount{m.mount_point, m.root, self_path(controller)};
        }
      }
    }
  }
  if (!layout.v1.empty()) {
    layout.mode = layout.v2 ? CgroupMode::kHybrid : CgroupMode::kV1;
  } else if (layout.v2) {
    layout.mode = CgroupMode::kV2;
  } else {
    return Error(EOPNOTSUPP,
                 "no cgroup2 mount and no cgroup v1 controller hierarchy in the mount table");
  }
  return layout;
}

uint16_t IoWeightToBlkioWeight(uint16_t io_weight) {
  uint32_t w = std::clamp<uint32_t>(io_weight, 1, 10000);
  return static_cast<uint16_t>(10 + ((w - 1) * 990 + 4999) / 9999);
}

uint16_t IoWeightToBfqWeight(uint16_t io_weight) {
  uint32_t w = std::clamp<uint32_t>(io_weight, 1, 10000);
  return static_cast<uint16_t>(1 + ((w - 1) * 999 + 4999) / 9999);
}

Result<ResourcePlan> PlanResources(const CgroupLayout& layout, const Resources& resources) {
  STRATA_TRY(ValidateResources(resources));
  if (layout.mode == CgroupMode::kV2) return PlanV2(resources);
  return PlanV1(layout, resources);
}

namespace {

// The dir for one hierarchy. `chain`: whether to list the subtree_control chain (kV2).
Result<CgroupDir> PlanDir(const CgroupMount& mount, std::string_view id, CgroupParent parent,
                          bool chain) {
  std::string rel;  // the base cgroup relative to the mount's root, "" or "/a/b"
  if (parent == CgroupParent::kOwnCgroup) {
    const std::string& root = mount.root;
    bool under = !mount.self.empty() &&
                 (root == "/" || mount.self == root || mount.self.rfind(root + "/", 0) == 0);
    if (!under) {
      return Error(ENOENT, "cgroup mount " + mount.mount_point + ": this process's cgroup \"" +
                               mount.self + "\" is unknown or outside the mount's root \"" + root +
                               "\"");
    }
    rel = root == "/" ? mount.self : mount.self.substr(root.size());
    if (rel == "/") rel.clear();
  }
  CgroupDir dir;
  dir.mount_point = mount.mount_point;
  std::string base = rel.empty() ? mount.mount_point : JoinPath(mount.mount_point, rel.substr(1));
  dir.parent = JoinPath(base, "strata");
  dir.leaf = JoinPath(dir.parent, id);
  std::string proc_base = rel.empty() ? mount.root : JoinPath(mount.root, rel.substr(1));
  dir.proc_path = JoinPath(JoinPath(proc_base, "strata"), id);
  if (chain) {
    dir.enable_chain.push_back(mount.mount_point);
    std::string at = mount.mount_point;
    if (!rel.empty()) {
      for (std::string_view part : Split(std::string_view(rel).substr(1), '/')) {
        if (part.empty()) continue;
        at = JoinPath(at, part);
        dir.enable_chain.push_back(at);
      }
    }
    dir.enable_chain.push_back(dir.parent);
  }
  return dir;
}

}  // namespace

Result<std::vector<CgroupDir>> PlanCgroupDirs(const CgroupLayout& layout, std::string_view id,
                                              CgroupParent parent) {
  if (!ValidId(id)) {
    return Error(EINVAL, "invalid container id \"" + std::string(id) +
                             "\" (want [a-zA-Z0-9][a-zA-Z0-9_.-]{0,127})");
  }
  std::vector<CgroupDir> dirs;
  if (layout.v2 && layout.mode != CgroupMode::kV1) {
    bool v2 = layout.mode == CgroupMode::kV2;
    STRATA_ASSIGN_OR_RETURN(CgroupDir dir, PlanDir(*layout.v2, id, parent, v2));
    dir.optional = !v2;
    dirs.push_back(std::move(dir));
  }
  if (layout.mode == CgroupMode::kV2) return dirs;
  for (const char* controller : kV1Controllers) {
    auto it = layout.v1.find(controller);
    if (it == layout.v1.end()) continue;
    auto same = std::find_if(dirs.begin(), dirs.end(), [&](const CgroupDir& d) {
      return !d.controllers.empty() && d.mount_point == it->second.mount_point;
    });
    if (same != dirs.end()) {
      same->controllers.emplace_back(controller);
      continue;
    }
    STRATA_ASSIGN_OR_RETURN(CgroupDir dir, PlanDir(it->second, id, parent, false));
    dir.controllers.emplace_back(controller);
    dirs.push_back(std::move(dir));
  }
  return dirs;
}

std::optional<uint64_t> FlatKeyedValue(std::string_view text, std::string_view key) {
  for (std::string_view line : Split(text, '\n')) {
    size_t space = line.find(' ');
    if (space == std::string_view::npos || line.substr(0, space) != key) continue;
    std::string_view number = line.substr(space + 1);
    uint64_t value = 0;
    auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
    if (ec != std::errc() || end != number.data() + number.size()) return std::nullopt;
    return value;
  }
  return std::nullopt;
}

}  // namespace strata::runtime
