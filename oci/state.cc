#include "oci/state.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

#include "core/read_file.h"
#include "core/unique_fd.h"
#include "runtime/process_info.h"

namespace strata::oci {
namespace {

using nlohmann::json;

json HooksJson(const std::vector<runtime::OciHook>& hooks) {
  json out = json::array();
  for (const runtime::OciHook& h : hooks) {
    json j = {{"path", h.path}, {"args", h.args}, {"env", h.env}};
    if (h.timeout_s) j["timeout"] = *h.timeout_s;
    out.push_back(std::move(j));
  }
  return out;
}

std::vector<runtime::OciHook> HooksFrom(const json& list) {
  std::vector<runtime::OciHook> out;
  if (!list.is_array()) return out;
  for (const json& j : list) {
    runtime::OciHook h;
    h.path = j.value("path", "");
    h.args = j.value("args", std::vector<std::string>());
    h.env = j.value("env", std::vector<std::string>());
    if (j.contains("timeout") && j["timeout"].is_number_integer())
      h.timeout_s = j["timeout"].get<int>();
    out.push_back(std::move(h));
  }
  return out;
}

}  // namespace

const char* StatusName(ContainerStatus s) {
  switch (s) {
    case ContainerStatus::kCreating:
      return "creating";
    case ContainerStatus::kCreated:
      return "created";
    case ContainerStatus::kRunning:
      return "running";
    case ContainerStatus::kStopped:
      return "stopped";
  }
  return "unknown";
}

std::string StateDir(const std::string& root, const std::string& id) { return root + "/" + id; }

Status RemoveStateDir(const std::string& dir) {
  std::vector<std::string> names = {kStateFile, kExecFifo};
  if (DIR* d = ::opendir(dir.c_str())) {  // a state.json temp file a crash left (WriteFileAtomic)
    while (dirent* e = ::readdir(d)) {
      if (std::string_view(e->d_name).starts_with(kTempPrefix)) names.emplace_back(e->d_name);
    }
    ::closedir(d);
  }
  for (const std::string& name : names) {
    const std::string path = dir + "/" + name;
    if (::unlink(path.c_str()) < 0 && errno != ENOENT) return Error::FromErrno("unlink " + path);
  }
  if (::rmdir(dir.c_str()) < 0 && errno != ENOENT) return Error::FromErrno("rmdir " + dir);
  return Ok();
}

Status SaveState(const std::string& dir, const ContainerState& s) {
  json j = {{"id", s.id},
            {"ociVersion", s.oci_version},
            {"pid", s.pid},
            {"startTime", s.start_time},
            {"bundle", s.bundle},
            {"rootfs", s.rootfs},
            {"created", s.created},
            {"cgroupPaths", s.cgroup_paths},
            {"annotations", s.annotations},
            {"poststart", HooksJson(s.poststart)},
            {"poststop", HooksJson(s.poststop)}};
  return WriteFileAtomic(dir + "/" + kStateFile, j.dump() + "\n", 0600);
}

Result<ContainerState> LoadState(const std::string& root, const std::string& id) {
  const std::string path = StateDir(root, id) + "/" + kStateFile;
  auto text = ReadFile(path);
  if (!text.ok() && text.error().code() == ENOENT) {
    return Error(ENOENT, "container \"" + id + "\" does not exist");
  }
  if (!text.ok()) return std::move(text).error();
  json j = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j["pid"].is_number_integer() ||
      !j["startTime"].is_number_unsigned()) {
    return Error(EINVAL, path + ": corrupt state file");
  }
  ContainerState s;
  s.id = j.value("id", id);
  s.oci_version = j.value("ociVersion", "");
  s.pid = j["pid"].get<pid_t>();
  s.start_time = j["startTime"].get<uint64_t>();
  s.bundle = j.value("bundle", "");
  s.rootfs = j.value("rootfs", "");
  s.created = j.value("created", "");
  if (j["cgroupPaths"].is_array()) {
    for (const json& p : j["cgroupPaths"]) {
      if (p.is_string()) s.cgroup_paths.push_back(p.get<std::string>());
    }
  }
  if (j["annotations"].is_object()) {
    for (const auto& [k, v] : j["annotations"].items()) {
      if (v.is_string()) s.annotations[k] = v.get<std::string>();
    }
  }
  s.poststart = HooksFrom(j["poststart"]);
  s.poststop = HooksFrom(j["poststop"]);
  return s;
}

bool InitAlive(const ContainerState& state) {
  return state.pid > 0 && runtime::ProcessMatches(state.pid, state.start_time);
}

ContainerStatus StatusOf(const std::string& root, const ContainerState& state) {
  if (!InitAlive(state)) return ContainerStatus::kStopped;
  struct stat st;
  const std::string fifo = StateDir(root, state.id) + "/" + kExecFifo;
  return ::lstat(fifo.c_str(), &st) == 0 ? ContainerStatus::kCreated : ContainerStatus::kRunning;
}

std::string StateJson(const ContainerState& state, ContainerStatus status) {
  json j = {{"ociVersion", state.oci_version.empty() ? "1.2.0" : state.oci_version},
            {"id", state.id},
            {"status", StatusName(status)},
            {"pid", status == ContainerStatus::kStopped ? 0 : state.pid},
            {"bundle", state.bundle},
            {"rootfs", state.rootfs},
            {"created", state.created},
            {"owner", ""}};
  j["annotations"] = state.annotations;
  return j.dump(2);
}

std::string NowRfc3339() {
  struct timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  ::gmtime_r(&ts.tv_sec, &tm);
  char buf[64];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%09ldZ", static_cast<long>(ts.tv_nsec));
  return buf;
}

}  // namespace strata::oci
