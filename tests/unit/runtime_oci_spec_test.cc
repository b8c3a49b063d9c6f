// ParseOciConfig: runc's default `runc spec` config, each mapping, and bad input naming the field.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <nlohmann/json.hpp>

#include "runtime/oci_spec.h"
#include "runtime/rootfs.h"

namespace strata::runtime {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// `runc spec` output (runc 1.1), trimmed of nothing.
json RuncSpec() {
  return json::parse(R"({
  "ociVersion": "1.0.2-dev",
  "process": {
    "terminal": true,
    "user": {"uid": 0, "gid": 0},
    "args": ["sh"],
    "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
    "cwd": "/",
    "capabilities": {
      "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "ambient": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    },
    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
    "noNewPrivileges": true
  },
  "root": {"path": "rootfs", "readonly": true},
  "hostname": "runc",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
     "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
     "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
     "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
     "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs",
     "options": ["nosuid", "noexec", "nodev", "ro"]},
    {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
     "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
  ],
  "linux": {
    "resources": {"devices": [{"allow": false, "access": "rwm"}]},
    "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"},
                   {"type": "mount"}, {"type": "cgroup"}],
    "maskedPaths": ["/proc/acpi", "/proc/kcore", "/sys/firmware"],
    "readonlyPaths": ["/proc/bus", "/proc/sys"]
  }
})");
}

Result<OciConfig> Parse(const json& j) { return ParseOciConfig(j.dump(), "/b", "c1"); }

// The error message of parsing `j`, "" when it parses.
std::string ErrorOf(const json& j, int* code = nullptr) {
  auto r = Parse(j);
  if (r.ok()) return "";
  if (code) *code = r.error().code();
  return r.error().message();
}

TEST(RuntimeOciSpec, RuncDefaultConfig) {
  auto r = Parse(RuncSpec());
  ASSERT_TRUE(r.ok()) << r.error().message();
  const ContainerSpec& s = r->spec;
  EXPECT_EQ(r->oci_version, "1.0.2-dev");
  EXPECT_EQ(s.id, "c1");
  EXPECT_EQ(s.rootfs, "/b/rootfs");  // relative to the bundle
  EXPECT_TRUE(s.readonly_rootfs);
  EXPECT_THAT(s.args, ElementsAre("sh"));
  EXPECT_EQ(s.env.size(), 2u);
  EXPECT_EQ(s.cwd, "/");
  EXPECT_EQ(s.hostname, "runc");
  EXPECT_TRUE(r->terminal);
  EXPECT_TRUE(s.no_new_privileges);
  EXPECT_THAT(s.capabilities, ElementsAre("CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"));
  ASSERT_EQ(s.rlimits.size(), 1u);
  EXPECT_EQ(s.rlimits[0].resource, RLIMIT_NOFILE);
  EXPECT_EQ(s.rlimits[0].soft, 1024u);
  EXPECT_TRUE(s.namespaces.pid && s.namespaces.net && s.namespaces.ipc && s.namespaces.uts &&
              s.namespaces.mount && s.namespaces.cgroup);
  EXPECT_FALSE(s.namespaces.user);
  EXPECT_TRUE(r->joins.empty());
  EXPECT_THAT(s.masked_paths, ElementsAre("/proc/acpi", "/proc/kcore", "/sys/firmware"));
  EXPECT_THAT(s.readonly_paths, ElementsAre("/proc/bus", "/proc/sys"));
  ASSERT_EQ(s.mounts.size(), 7u);
  EXPECT_EQ(s.mounts[1].kind, Mount::Kind::kFilesystem);
  EXPECT_EQ(s.mounts[1].fstype, "tmpfs");
  EXPECT_EQ(s.mounts[1].flags, kMsNosuid | kMsStrictatime);
  EXPECT_EQ(s.mounts[1].options, "mode=755,size=65536k");
  EXPECT_EQ(s.mounts[5].flags, kMsNosuid | kMsNoexec | kMsNodev | kMsRdonly);
  EXPECT_TRUE(r->warnings.empty()) << r->warnings.front();  // uid 0: ambient changes nothing
}

TEST(RuntimeOciSpec, DefaultMountsTakeTheDefaultsPlaces) {
  json j = RuncSpec();
  j["mounts"][3]["options"] = {"nosuid", "nodev", "mode=1777", "size=1m"};  // /dev/shm
  auto r = Parse(j);
  ASSERT_TRUE(r.ok()) << r.error().message();
  RootfsPlan plan = PlanRootfs(r->spec);
  int shm = 0, dev = 0;
  for (const RootfsStep& step : plan.in_root) {
    if (step.kind != RootfsStep::Kind::kMount) continue;
    if (step.target == "/dev/shm") {
      ++shm;
      EXPECT_EQ(step.data, "mode=1777,size=1m");
      EXPECT_EQ(step.flags, kMsNosuid | kMsNodev);
    }
    dev += step.target == "/dev";
  }
  EXPECT_EQ(shm, 1);  // replaced in place, not stacked
  EXPECT_EQ(dev, 1);
}

TEST(RuntimeOciSpec, BindMountsAndOptions) {
  json j = RuncSpec();
  j["mounts"].push_back({{"destination", "/data"},
                         {"type", "bind"},
                         {"source", "vol"},
                         {"options", {"rbind", "ro", "nosuid", "rslave"}}});
  j["mounts"].push_back({{"destination", "/etc/hosts"},
                         {"type", "none"},
                         {"source", "/srv/hosts"},
                         {"options", {"bind", "rw"}}});
  auto r = Parse(j);
  ASSERT_TRUE(r.ok()) << r.error().message();
  const Mount& data = r->spec.mounts[7];
  EXPECT_EQ(data.kind, Mount::Kind::kBind);
  EXPECT_EQ(data.source, "/b/vol");
  EXPECT_TRUE(data.recursive);
  EXPECT_TRUE(data.read_only);
  EXPECT_EQ(data.flags, kMsNosuid);
  EXPECT_EQ(data.propagation, kMsSlave | kMsRec);
  const Mount& hosts = r->spec.mounts[8];
  EXPECT_EQ(hosts.kind, Mount::Kind::kBind);
  EXPECT_FALSE(hosts.recursive);
  EXPECT_FALSE(hosts.read_only);
  // The plan: rbind, then nosuid+ro set recursively, then the propagation.
  RootfsPlan plan = PlanRootfs(r->spec);
  size_t i = 0;
  while (i < plan.in_root.size() && plan.in_root[i].target != "/data") ++i;
  ASSERT_LT(i + 2, plan.in_root.size());
  EXPECT_EQ(plan.in_root[i].flags, kMsBind | kMsRec);
  EXPECT_EQ(plan.in_root[i + 1].kind, RootfsStep::Kind::kSetFlags);
  EXPECT_EQ(plan.in_root[i + 1].flags, kMsNosuid | kMsRdonly | kMsRec);
  EXPECT_EQ(plan.in_root[i + 2].flags, kMsSlave | kMsRec);
}

TEST(RuntimeOciSpec, NamespacesJoinsAndIdMaps) {
  json j = RuncSpec();
  j["linux"]["namespaces"] = {
      {{"type", "mount"}}, {{"type", "network"}, {"path", "/proc/1/ns/net"}}, {{"type", "user"}}};
  j["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
  j["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
  auto r = Parse(j);
  ASSERT_TRUE(r.ok()) << r.error().message();
  const Namespaces& ns = r->spec.namespaces;
  EXPECT_TRUE(ns.mount && ns.user);
  EXPECT_FALSE(ns.pid || ns.net || ns.ipc || ns.uts || ns.cgroup);  // unlisted: inherited
  ASSERT_EQ(r->joins.size(), 1u);
  EXPECT_EQ(r->joins[0].type, "network");
  EXPECT_EQ(r->joins[0].path, "/proc/1/ns/net");
  ASSERT_EQ(ns.uid_map.size(), 1u);
  EXPECT_EQ(ns.uid_map[0].host_id, 100000u);
  EXPECT_EQ(ns.gid_map[0].size, 65536u);
}

TEST(RuntimeOciSpec, ResourcesUserHooksAnnotationsPropagation) {
  json j = RuncSpec();
  j["linux"]["resources"] = {{"memory", {{"limit", 67108864}, {"swap", 1}}},
                             {"cpu", {{"quota", 50000}, {"period", 100000}, {"shares", 512}}},
                             {"pids", {{"limit", 32}}},
                             {"blockIO", {{"weight", 1000}}}};
  j["linux"]["rootfsPropagation"] = "rslave";
  j["linux"]["cgroupsPath"] = "/default/c1";
  j["linux"]["seccomp"] = {{"defaultAction", "SCMP_ACT_ERRNO"}};
  j["process"]["user"] = {{"uid", 1000}, {"gid", 100}, {"additionalGids", {5, 6}}};
  j["process"]["oomScoreAdj"] = 100;
  j["hooks"] = {{"poststop", {{{"path", "/bin/echo"}, {"args", {"echo", "bye"}}, {"timeout", 5}}}}};
  j["annotations"] = {{"org.example", "x"}};
  auto r = Parse(j);
  ASSERT_TRUE(r.ok()) << r.error().message();
  const Resources& res = r->spec.resources;
  EXPECT_EQ(res.memory_bytes, 67108864);
  EXPECT_EQ(res.cpu_quota_us, 50000);
  EXPECT_EQ(res.cpu_period_us, 100000);
  EXPECT_EQ(res.pids_max, 32);
  EXPECT_EQ(res.io_weight, 10000);  // blkio 1000 -> io.weight 10000
  EXPECT_EQ(r->spec.rootfs_propagation, kMsSlave | kMsRec);
  EXPECT_EQ(r->cgroups_path, "/default/c1");
  EXPECT_EQ(r->spec.uid, 1000u);
  EXPECT_EQ(r->spec.gid, 100u);
  EXPECT_THAT(r->spec.additional_gids, ElementsAre(5u, 6u));
  EXPECT_EQ(r->oom_score_adj, 100);
  ASSERT_EQ(r->hooks.poststop.size(), 1u);
  EXPECT_EQ(r->hooks.poststop[0].timeout_s, 5);
  EXPECT_EQ(r->annotations.at("org.example"), "x");
  std::string warnings;
  for (const std::string& w : r->warnings) warnings += w + "\n";
  EXPECT_THAT(warnings, HasSubstr("linux.seccomp"));
  EXPECT_THAT(warnings, HasSubstr("memory.swap"));
  EXPECT_THAT(warnings, HasSubstr("cpu.shares"));
  EXPECT_THAT(warnings, HasSubstr("ambient"));  // uid 1000: the ambient set would matter
}

TEST(RuntimeOciSpec, BadInputNamesTheField) {
  EXPECT_THAT(ParseOciConfig("{", "/b", "c").error().message(), HasSubstr("not valid JSON"));
  json j = RuncSpec();
  j["ociVersion"] = "2.0.0";
  EXPECT_THAT(ErrorOf(j), HasSubstr("ociVersion \"2.0.0\""));
  j = RuncSpec();
  j.erase("root");
  EXPECT_THAT(ErrorOf(j), HasSubstr("root: missing"));
  j = RuncSpec();
  j["process"]["args"] = json::array();
  EXPECT_THAT(ErrorOf(j), HasSubstr("process.args"));
  j = RuncSpec();
  j["process"]["args"] = {"sh", 3};
  EXPECT_THAT(ErrorOf(j), HasSubstr("process.args"));
  j = RuncSpec();
  j["process"]["cwd"] = "relative";
  EXPECT_THAT(ErrorOf(j), HasSubstr("process.cwd"));
  j = RuncSpec();
  j["process"]["capabilities"]["bounding"] = {"CAP_NOPE"};
  EXPECT_THAT(ErrorOf(j), HasSubstr("CAP_NOPE"));
  j = RuncSpec();
  j["process"]["rlimits"] = {{{"type", "RLIMIT_BOGUS"}, {"soft", 1}, {"hard", 1}}};
  EXPECT_THAT(ErrorOf(j), HasSubstr("RLIMIT_BOGUS"));
  j = RuncSpec();
  j["process"]["user"]["uid"] = -1;
  EXPECT_THAT(ErrorOf(j), HasSubstr("process.user.uid"));
  j = RuncSpec();
  j["mounts"][0].erase("destination");
  EXPECT_THAT(ErrorOf(j), HasSubstr("mounts[0].destination"));
  j = RuncSpec();
  j["mounts"][2]["options"] = "nosuid";
  EXPECT_THAT(ErrorOf(j), HasSubstr("/dev/pts"));
  j = RuncSpec();
  j["linux"]["namespaces"].push_back({{"type", "pid"}});
  EXPECT_THAT(ErrorOf(j), HasSubstr("linux.namespaces pid: listed twice"));
  j = RuncSpec();
  j["linux"]["namespaces"].push_back({{"type", "bogus"}});
  EXPECT_THAT(ErrorOf(j), HasSubstr("bogus"));
  j = RuncSpec();
  j["linux"]["resources"]["blockIO"] = {{"weight", 5}};
  EXPECT_THAT(ErrorOf(j), HasSubstr("blockIO.weight"));
  j = RuncSpec();
  j["linux"]["rootfsPropagation"] = "sideways";
  EXPECT_THAT(ErrorOf(j), HasSubstr("rootfsPropagation"));
  j = RuncSpec();
  j["hooks"] = {{"prestart", {{{"path", "relative/hook"}}}}};
  EXPECT_THAT(ErrorOf(j), HasSubstr("hooks.prestart"));
}

TEST(RuntimeOciSpec, UnsupportedIsEopnotsupp) {
  int code = 0;
  json j = RuncSpec();
  j["linux"]["namespaces"] = {{{"type", "pid"}}};  // no mount namespace
  EXPECT_THAT(ErrorOf(j, &code), HasSubstr("mount namespace"));
  EXPECT_EQ(code, EOPNOTSUPP);
  j = RuncSpec();
  j["linux"]["namespaces"] = {{{"type", "mount"}, {"path", "/proc/1/ns/mnt"}}};
  EXPECT_THAT(ErrorOf(j, &code), HasSubstr("linux.namespaces mount"));
  EXPECT_EQ(code, EOPNOTSUPP);
  j = RuncSpec();
  j["linux"]["namespaces"].push_back({{"type", "time"}});
  EXPECT_THAT(ErrorOf(j, &code), HasSubstr("time"));
  EXPECT_EQ(code, EOPNOTSUPP);
  j = RuncSpec();
  j["mounts"].push_back(
      {{"destination", "/x"}, {"type", "bind"}, {"source", "/y"}, {"options", {"rbind", "idmap"}}});
  EXPECT_THAT(ErrorOf(j, &code), HasSubstr("idmap"));
  EXPECT_EQ(code, EOPNOTSUPP);
}

TEST(RuntimeOciSpec, VersionsAccepted) {
  for (const char* v : {"1.0.0", "1.0.2-dev", "1.1.0", "1.2.0", "1.2.1"}) {
    json j = RuncSpec();
    j["ociVersion"] = v;
    EXPECT_EQ(ErrorOf(j), "") << v;
  }
  for (const char* v : {"0.9.0", "1.3.0", "1.10.0", ""}) {
    json j = RuncSpec();
    j["ociVersion"] = v;
    EXPECT_NE(ErrorOf(j), "") << v;
  }
}

}  // namespace
}  // namespace strata::runtime
