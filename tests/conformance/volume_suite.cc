// The named-volume suite (volume_suite.h): every case runs the real `strata` binary, so what is
// tested is what a user sees: exit codes, messages, JSON, the mount table and the storage left
// on disk. Crash cases kill the CLI at each failpoint of the manager and the backend
// (STRATA_FAILPOINT) and check that the next command settles what it left.
#include "tests/conformance/volume_suite.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "core/failpoint.h"
#include "core/store.h"
#include "core/sys/device_mapper.h"
#include "core/sys/quota.h"
#include "core/units.h"
#include "tests/conformance/conformance_support.h"
#include "tests/conformance/driver_conformance.h"
#include "thinpool/pool.h"

namespace strata::volumes::conformance {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::IsMountPoint;
using testing::PathExists;

constexpr uint64_t kMiB = uint64_t{1} << 20;

// A ready volume's JSON as `vol ls --json` and `vol inspect` print it.
void ExpectReady(const nlohmann::json& v, const std::string& name, const std::string& backend) {
  EXPECT_EQ(v.value("name", ""), name) << v.dump();
  EXPECT_EQ(v.value("backend", ""), backend) << v.dump();
  EXPECT_EQ(v.value("state", ""), "ready") << v.dump();
}

std::vector<std::string> Targets(const nlohmann::json& volume) {
  std::vector<std::string> out;
  if (!volume.contains("attachments")) return out;
  for (const nlohmann::json& a : volume["attachments"]) out.push_back(a.value("target", ""));
  return out;
}

}  // namespace

int WriteText(const std::string& path, const std::string& content) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return errno;
  const ssize_t n = ::write(fd, content.data(), content.size());
  const int err = n < 0 ? errno : 0;
  ::close(fd);
  return err;
}

std::string ReadText(const std::string& path) { return testing::ReadFileOr(path, "<missing>"); }

uint64_t FsTotalBytes(const std::string& path) {
  struct statvfs st {};
  if (::statvfs(path.c_str(), &st) != 0) return 0;
  return static_cast<uint64_t>(st.f_blocks) * st.f_frsize;
}

// --- Fixture ---------------------------------------------------------------------------------

void VolumeSuite::SetUp() {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  if (is_thin()) {
    Status dm = sys::ProbeDeviceMapper();
    if (!dm.ok()) GTEST_SKIP() << "device-mapper not available: " << dm.error().message();
  }
  char tmpl[] = "/var/tmp/strata-vol-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  root_ = tmpl;
  config_ = root_ + "/config.json";
  nlohmann::json config = {{"root", root_}};
  if (is_thin()) {
    // A small pool of the test's own: loop files, which the VM keeps in RAM.
    pool_ = drivers::conformance::PoolNameFor(root_);
    config["driver-opts"] = {{"devicemapper", {{"pool-name", pool_}, {"data-size", "2G"}}}};
  }
  std::ofstream(config_) << config.dump(2) << "\n";
}

void VolumeSuite::TearDown() {
  if (root_.empty()) return;
  testing::DetachMountsUnder(root_);
  if (is_thin()) drivers::conformance::RemovePoolDevices(pool_);
  for (const std::string& device : LoopDevicesUnderRoot()) {
    (void)testing::RunCommand({"losetup", "-d", device});  // best effort: test cleanup
  }
  std::error_code ec;
  fs::remove_all(root_, ec);
}

CommandResult VolumeSuite::Strata(const std::vector<std::string>& args, const std::string& input,
                                  const std::string& failpoint) const {
  std::vector<std::string> argv;
  if (!failpoint.empty()) argv = {"env", std::string(kFailpointEnv) + "=" + failpoint};
  for (const std::string& a : {std::string(STRATA_BINARY), std::string("--root"), root_,
                               std::string("--config"), config_}) {
    argv.push_back(a);
  }
  argv.insert(argv.end(), args.begin(), args.end());
  return testing::RunCommand(argv, input);
}

std::vector<std::string> VolumeSuite::CreateArgs(const std::string& name,
                                                 const std::vector<std::string>& extra) const {
  std::vector<std::string> args = {"vol", "create", "--backend", backend()};
  const bool sized = std::find(extra.begin(), extra.end(), "--size") != extra.end();
  if (!is_local() && !sized) {
    args.push_back("--size");
    args.push_back("64M");
  }
  args.insert(args.end(), extra.begin(), extra.end());
  args.push_back("--");  // names may start with '-' in the bad-input cases
  args.push_back(name);
  return args;
}

void VolumeSuite::MustCreate(const std::string& name, const std::vector<std::string>& extra) {
  CommandResult r = Strata(CreateArgs(name, extra));
  ASSERT_EQ(r.exit_code, 0) << "create " << name << ": " << r.err;
  EXPECT_EQ(r.out, name + "\n");
}

nlohmann::json VolumeSuite::LsJson(const std::vector<std::string>& filters) const {
  std::vector<std::string> args = {"vol", "ls", "--json"};
  for (const std::string& f : filters) {
    args.push_back("--filter");
    args.push_back(f);
  }
  CommandResult r = Strata(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json parsed = nlohmann::json::parse(r.out, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_array()) {
    ADD_FAILURE() << "vol ls --json printed no JSON array: " << r.out << r.err;
    return nlohmann::json::array();
  }
  return parsed;
}

std::vector<std::string> VolumeSuite::LsNames(const std::vector<std::string>& filters) const {
  std::vector<std::string> args = {"vol", "ls", "-q"};
  for (const std::string& f : filters) {
    args.push_back("--filter");
    args.push_back(f);
  }
  CommandResult r = Strata(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> names;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) names.push_back(line);
  return names;
}

std::optional<nlohmann::json> VolumeSuite::Listed(const std::string& name) const {
  for (const nlohmann::json& v : LsJson()) {
    if (v.value("name", "") == name) return v;
  }
  return std::nullopt;
}

nlohmann::json VolumeSuite::Inspect(const std::string& name) const {
  CommandResult r = Strata({"vol", "inspect", name});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json parsed = nlohmann::json::parse(r.out, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_array() || parsed.size() != 1) {
    ADD_FAILURE() << "vol inspect " << name << ": " << r.out << r.err;
    return nlohmann::json::object();
  }
  return parsed[0];
}

std::string VolumeSuite::MustAttach(const std::string& name, const std::string& path,
                                    bool read_only) {
  std::vector<std::string> args = {"vol", "attach", name, path};
  if (read_only) args.push_back("--ro");
  CommandResult r = Strata(args);
  EXPECT_EQ(r.exit_code, 0) << "attach " << name << " at " << path << ": " << r.err;
  if (r.exit_code != 0 || r.out.empty()) return "";
  return r.out.substr(0, r.out.size() - 1);  // one line: the target
}

std::set<std::string> VolumeSuite::VolumeFiles() const {
  std::set<std::string> out;
  const fs::path dir = root_ + "/volumes";
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    out.insert(fs::relative(it->path(), dir).string());
  }
  return out;
}

std::set<std::string> VolumeSuite::DmDevices() const {
  std::set<std::string> out;
  if (!is_thin()) return out;
  CommandResult r = Strata({"dm", "ls", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json parsed = nlohmann::json::parse(r.out, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_array()) return out;
  for (const nlohmann::json& d : parsed) out.insert(d.value("name", ""));
  return out;
}

std::vector<std::string> VolumeSuite::LoopDevicesUnderRoot(const std::string& prefix) const {
  std::vector<std::string> out;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator("/sys/block", ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("loop", 0) != 0) continue;
    const std::string backing = testing::ReadFileOr(e.path().string() + "/loop/backing_file", "");
    const std::string want = prefix.empty() ? root_ + "/" : prefix;
    if (!root_.empty() && backing.rfind(want, 0) == 0) out.push_back("/dev/" + name);
  }
  return out;
}

namespace {

bool HasCapability(int cap) {
  const std::string status = testing::ReadFileOr("/proc/self/status", "");
  const size_t at = status.find("CapEff:");
  if (at == std::string::npos) return false;
  const uint64_t effective = std::strtoull(status.c_str() + at + 7, nullptr, 16);
  return (effective >> cap) & 1;
}

}  // namespace

VolumeSuite::Growable VolumeSuite::GrowableVolume() const {
  constexpr int kCapSysResource = 24;
  if (is_local() || HasCapability(kCapSysResource)) return {{"--size", "64M"}, 64 * kMiB};
  return {{"--fs", "xfs", "--size", "320M"}, 320 * kMiB};
}

bool VolumeSuite::LocalHasQuota() {
  if (!quota_) {
    auto state = sys::LinuxQuota().GetProjectQuotaState(root_);
    quota_ = state.ok() && state->enforced;
  }
  return *quota_;
}

void VolumeSuite::ExpectNoStorage(const std::string& name) {
  SCOPED_TRACE("storage of " + name);
  const std::string stage = root_ + "/volumes/mnt/" + name;
  EXPECT_FALSE(IsMountPoint(stage)) << stage;
  EXPECT_FALSE(PathExists(stage)) << stage;
  if (backend() == "loop") {
    const std::string image = root_ + "/volumes/loop/" + name + ".img";
    EXPECT_FALSE(PathExists(image)) << image;
    // Autoclear detaches at the last close; give a deferred release a moment.
    std::vector<std::string> loops = LoopDevicesUnderRoot(image);
    for (int i = 0; i < 20 && !loops.empty(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      loops = LoopDevicesUnderRoot(image);
    }
    EXPECT_THAT(loops, ::testing::IsEmpty()) << "loop devices on " << image;
  } else if (is_local()) {
    EXPECT_FALSE(PathExists(root_ + "/volumes/local/" + name));
  } else if (is_thin()) {
    auto store = Store::Open(root_ + "/strata.db");
    ASSERT_TRUE(store.ok()) << store.error().message();
    auto thins = thinpool::ListThinRecords(**store, pool_);
    ASSERT_TRUE(thins.ok()) << thins.error().message();
    for (const thinpool::ThinRecord& t : *thins) {
      EXPECT_NE(t.name, "vol:" + name) << "thin device " << t.thin_id << " (" << t.state << ")";
    }
    CommandResult check = Strata({"pool", "check"});
    EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  }
}

// --- 1. Lifecycle ----------------------------------------------------------------------------

TEST_P(VolumeSuite, CreateListInspectRemove) {
  CommandResult made = Strata(CreateArgs("vol1", {"--label", "team=db", "--json"}));
  ASSERT_EQ(made.exit_code, 0) << made.err;
  nlohmann::json created = nlohmann::json::parse(made.out, nullptr, false);
  ASSERT_FALSE(created.is_discarded()) << made.out;
  ExpectReady(created, "vol1", backend());

  CommandResult table = Strata({"vol", "ls"});
  EXPECT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out, ::testing::StartsWith("NAME "));
  EXPECT_THAT(table.out, ::testing::ContainsRegex("\nvol1 +" + backend() + " "));
  EXPECT_EQ(LsNames(), std::vector<std::string>{"vol1"});
  std::optional<nlohmann::json> listed = Listed("vol1");
  ASSERT_TRUE(listed.has_value());
  ExpectReady(*listed, "vol1", backend());
  EXPECT_EQ((*listed)["labels"], nlohmann::json({{"team", "db"}}));
  EXPECT_EQ((*listed)["attachments"], nlohmann::json::array());

  nlohmann::json info = Inspect("vol1");
  ExpectReady(info, "vol1", backend());
  EXPECT_EQ(info.value("snapshot", true), false);
  EXPECT_EQ(info.value("origin", "?"), "");
  EXPECT_EQ(info.value("device", "?"), "") << "not attached, so not active";
  if (is_local()) {
    EXPECT_EQ(info.value("size_bytes", uint64_t{1}), 0u);
    EXPECT_EQ(info.value("location", ""), root_ + "/volumes/local/vol1");
    EXPECT_TRUE(fs::is_directory(root_ + "/volumes/local/vol1"));
  } else {
    EXPECT_EQ(info.value("size_bytes", uint64_t{0}), 64 * kMiB);
    EXPECT_EQ(info.value("size", ""), "64M");
    EXPECT_EQ(info.value("fs", ""), "ext4");
    if (is_thin()) {
      EXPECT_THAT(info.value("location", ""), HasSubstr("pool " + pool_ + " thin id "));
    } else {
      EXPECT_EQ(info.value("location", ""), root_ + "/volumes/loop/vol1.img");
      EXPECT_TRUE(PathExists(root_ + "/volumes/loop/vol1.img"));
    }
  }

  // inspect of several names: the found ones print, the missing one is an error naming it.
  CommandResult two = Strata({"vol", "inspect", "vol1", "vol2"});
  EXPECT_EQ(two.exit_code, 1);
  EXPECT_THAT(two.err, HasSubstr("no such volume \"vol2\" (did you mean \"vol1\"?)"));
  nlohmann::json partial = nlohmann::json::parse(two.out, nullptr, false);
  ASSERT_TRUE(partial.is_array()) << two.out;
  EXPECT_EQ(partial.size(), 1u);

  CommandResult rm = Strata({"vol", "rm", "vol1"});
  EXPECT_EQ(rm.exit_code, 0) << rm.err;
  EXPECT_EQ(rm.out, "vol1\n");
  EXPECT_THAT(LsNames(), ::testing::IsEmpty());
  EXPECT_EQ(Strata({"vol", "inspect", "vol1"}).exit_code, 1);
  ExpectNoStorage("vol1");
  CommandResult again = Strata({"vol", "rm", "vol1"});
  EXPECT_EQ(again.exit_code, 0) << "rm is idempotent: " << again.err;
  EXPECT_EQ(again.out, "");
}

// --- 2. Bad input ----------------------------------------------------------------------------

TEST_P(VolumeSuite, BadInputIsRefusedAndChangesNothing) {
  MustCreate("dup");
  ASSERT_FALSE(HasFailure());
  struct Case {
    std::vector<std::string> args;
    std::vector<std::string> want;  // substrings of stderr
  };
  const std::string long_name(129, 'a');
  std::vector<Case> cases = {
      {CreateArgs("-x"), {"invalid volume name \"-x\"", "must start with a letter or digit"}},
      {CreateArgs("a/b"), {"invalid volume name \"a/b\"", "'/' is not allowed"}},
      {CreateArgs(long_name), {"invalid volume name \"" + long_name, "longer than 128"}},
      {CreateArgs("dup"), {"vol create \"dup\"", "volume \"dup\" already exists"}},
      {{"vol", "create", "x1", "--backend", "thinn"},
       {"vol create \"x1\"", "unknown backend \"thinn\" (did you mean \"thin\"?)"}},
      {CreateArgs("x2", {"--fs", "ext5"}), {"vol create \"x2\"", "unknown filesystem \"ext5\""}},
      {CreateArgs("x3", {"--from", "ghost"}), {"vol create \"x3\"", "no such volume \"ghost\""}},
      {{"vol", "attach", "ghost", TargetPath("ghost")},
       {"vol attach \"ghost\"", "no such volume \"ghost\""}},
      {{"vol", "ls", "--filter", "colour=red"}, {"unknown key \"colour\""}},
  };
  if (is_local()) {
    if (!LocalHasQuota()) {
      cases.push_back({CreateArgs("x4", {"--size", "64M"}),
                       {"vol create \"x4\"", "needs XFS with project quotas"}});
      cases.push_back({{"vol", "resize", "dup", "1G"}, {"vol resize \"dup\"", "project quotas"}});
    }
    cases.push_back({CreateArgs("x5", {"--path", root_ + "/nowhere"}),
                     {"vol create \"x5\"", root_ + "/nowhere"}});
  } else {
    cases.push_back({CreateArgs("x6", {"--size", "1M"}),
                     {"vol create \"x6\"", "below the ext4 minimum of 16M"}});
    cases.push_back({CreateArgs("x7", {"--fs", "xfs"}),
                     {"vol create \"x7\"", "below the xfs minimum of 300M"}});
    cases.push_back({CreateArgs("x8", {"--path", root_}),
                     {"vol create \"x8\"", "--path is for the local backend only"}});
    cases.push_back({{"vol", "resize", "dup", "32M"}, {"vol resize \"dup\"", "only grow"}});
  }
  const std::set<std::string> files = VolumeFiles();
  const nlohmann::json listing = LsJson();
  const std::set<std::string> dm = DmDevices();
  const std::vector<std::string> loops = LoopDevicesUnderRoot();  // thin: the pool's
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::PrintToString(c.args));
    CommandResult r = Strata(c.args);
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    for (const std::string& want : c.want) EXPECT_THAT(r.err, HasSubstr(want));
    EXPECT_EQ(LsJson(), listing);
    EXPECT_EQ(VolumeFiles(), files);
    EXPECT_EQ(DmDevices(), dm);
    EXPECT_EQ(LoopDevicesUnderRoot(), loops);
  }
  EXPECT_FALSE(PathExists(TargetPath("ghost"))) << "attach of an unknown volume made its target";
}

// --- 3. Attach and detach --------------------------------------------------------------------

TEST_P(VolumeSuite, AttachDetach) {
  MustCreate("data");
  MustCreate("other");
  ASSERT_FALSE(HasFailure());
  const std::string a = TargetPath("a");
  // The printed target is canonical.
  ASSERT_EQ(MustAttach("data", root_ + "/targets/x/../a/"), a);
  EXPECT_TRUE(IsMountPoint(a));
  EXPECT_EQ(WriteText(a + "/hello", "world"), 0);
  std::optional<nlohmann::json> listed = Listed("data");
  ASSERT_TRUE(listed.has_value());
  EXPECT_EQ(Targets(*listed), std::vector<std::string>{a});

  CommandResult same = Strata({"vol", "attach", "data", a});
  EXPECT_EQ(same.exit_code, 0) << "attaching again in the same mode is fine: " << same.err;
  EXPECT_EQ(same.out, a + "\n");
  CommandResult mode = Strata({"vol", "attach", "data", a, "--ro"});
  EXPECT_EQ(mode.exit_code, 1);
  EXPECT_THAT(mode.err, HasSubstr(a + " already has volume \"data\" attached with another mode"));
  CommandResult occupied = Strata({"vol", "attach", "other", a});
  EXPECT_EQ(occupied.exit_code, 1);
  EXPECT_THAT(occupied.err,
              HasSubstr("vol attach \"other\": " + a + " already has volume \"data\" attached"));
  EXPECT_EQ(Targets(Listed("other").value_or(nlohmann::json::object())),
            std::vector<std::string>{});
  EXPECT_EQ(ReadText(a + "/hello"), "world") << "the occupied target still shows data";

  CommandResult detached = Strata({"vol", "detach", "data", a});
  EXPECT_EQ(detached.exit_code, 0) << detached.err;
  EXPECT_EQ(detached.out, a + "\n");
  EXPECT_FALSE(IsMountPoint(a));
  EXPECT_FALSE(PathExists(a + "/hello"));
  CommandResult twice = Strata({"vol", "detach", "data", a});
  EXPECT_EQ(twice.exit_code, 0) << "detach is idempotent: " << twice.err;
  EXPECT_EQ(twice.out, "");
  EXPECT_EQ(Strata({"vol", "detach", "data"}).exit_code, 0);
  EXPECT_FALSE(IsMountPoint(root_ + "/volumes/mnt/data")) << "inactive once detached";
  EXPECT_THAT(LoopDevicesUnderRoot(root_ + "/volumes/"), ::testing::IsEmpty());
  EXPECT_EQ(Inspect("data").value("device", "?"), "") << "no block device while detached";

  const std::string b = MustAttach("data", TargetPath("b"));
  ASSERT_EQ(b, TargetPath("b"));
  EXPECT_EQ(ReadText(b + "/hello"), "world");
  const std::string c = MustAttach("data", TargetPath("c"), true);
  ASSERT_EQ(c, TargetPath("c"));
  EXPECT_EQ(ReadText(c + "/hello"), "world");
  EXPECT_EQ(WriteText(c + "/nope", "x"), EROFS);
  EXPECT_EQ(WriteText(b + "/shared", "both"), 0);
  EXPECT_EQ(ReadText(c + "/shared"), "both") << "two attachments, one filesystem";
  listed = Listed("data");
  ASSERT_TRUE(listed.has_value());
  ASSERT_EQ((*listed)["attachments"].size(), 2u) << listed->dump();
  for (const nlohmann::json& att : (*listed)["attachments"]) {
    EXPECT_EQ(att.value("read_only", false), att.value("target", "") == c) << att.dump();
  }

  CommandResult all = Strata({"vol", "detach", "data"});
  EXPECT_EQ(all.exit_code, 0) << all.err;
  EXPECT_THAT(all.out, HasSubstr(b + "\n"));
  EXPECT_THAT(all.out, HasSubstr(c + "\n"));
  EXPECT_FALSE(IsMountPoint(b));
  EXPECT_FALSE(IsMountPoint(c));
}

// --- 4. rm of an attached volume -------------------------------------------------------------

TEST_P(VolumeSuite, RemoveAttachedNeedsForce) {
  MustCreate("busy");
  ASSERT_FALSE(HasFailure());
  const std::string t = MustAttach("busy", TargetPath("t"));
  ASSERT_FALSE(t.empty());
  ASSERT_EQ(WriteText(t + "/f", "data"), 0);
  CommandResult refused = Strata({"vol", "rm", "busy"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr("vol rm \"busy\": attached at " + t));
  EXPECT_THAT(refused.err, HasSubstr("--force"));
  EXPECT_TRUE(Listed("busy").has_value());
  EXPECT_EQ(ReadText(t + "/f"), "data");

  CommandResult forced = Strata({"vol", "rm", "--force", "busy"});
  EXPECT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_EQ(forced.out, "busy\n");
  EXPECT_FALSE(IsMountPoint(t));
  EXPECT_FALSE(Listed("busy").has_value());
  ExpectNoStorage("busy");
}

// --- 5. Attachments across processes, reconciled with the mount table ------------------------

TEST_P(VolumeSuite, AttachmentsSurviveAndAreReconciled) {
  MustCreate("keep");
  ASSERT_FALSE(HasFailure());
  const std::string t = MustAttach("keep", TargetPath("t"), true);
  ASSERT_FALSE(t.empty());
  // Each Strata() is a new process: the attachment is in the catalog, not in memory.
  std::optional<nlohmann::json> listed = Listed("keep");
  ASSERT_TRUE(listed.has_value());
  ASSERT_EQ(Targets(*listed), std::vector<std::string>{t});
  EXPECT_TRUE((*listed)["attachments"][0].value("read_only", false));
  EXPECT_EQ(Targets(Inspect("keep")), std::vector<std::string>{t});

  CommandResult umount = testing::RunCommand({"umount", t});
  ASSERT_EQ(umount.exit_code, 0) << umount.err;
  listed = Listed("keep");
  ASSERT_TRUE(listed.has_value());
  EXPECT_EQ(Targets(*listed), std::vector<std::string>{}) << "a target unmounted by hand is gone";
  EXPECT_EQ(Targets(Inspect("keep")), std::vector<std::string>{});
  CommandResult table = Strata({"vol", "ls"});
  EXPECT_THAT(table.out, ::testing::ContainsRegex("\nkeep +" + backend() + " +[^ ]+ +[^ ]+ +- "));

  // The stale row does not block the target, nor its mode.
  EXPECT_EQ(MustAttach("keep", t), t);
  ASSERT_EQ(testing::RunCommand({"umount", t}).exit_code, 0);
  CommandResult rm = Strata({"vol", "rm", "keep"});
  EXPECT_EQ(rm.exit_code, 0) << "no live attachment, so no --force needed: " << rm.err;
  ExpectNoStorage("keep");
}

// --- 6. Snapshots ----------------------------------------------------------------------------

TEST_P(VolumeSuite, SnapshotIsPointInTime) {
  MustCreate("orig");
  ASSERT_FALSE(HasFailure());
  const std::string t1 = MustAttach("orig", TargetPath("t1"));
  ASSERT_EQ(WriteText(t1 + "/f", "A"), 0);
  CommandResult snap = Strata({"vol", "snapshot", "orig", "s1", "--label", "kind=snap"});
  ASSERT_EQ(snap.exit_code, 0) << snap.err;
  EXPECT_EQ(snap.out, "s1\n");
  ASSERT_EQ(WriteText(t1 + "/f", "B"), 0);

  std::optional<nlohmann::json> s1 = Listed("s1");
  ASSERT_TRUE(s1.has_value());
  ExpectReady(*s1, "s1", backend());
  EXPECT_EQ(s1->value("snapshot", false), true);
  EXPECT_EQ(s1->value("origin", ""), "orig");
  EXPECT_EQ((*s1)["labels"], nlohmann::json({{"kind", "snap"}}));

  const std::string t2 = MustAttach("s1", TargetPath("t2"), true);
  EXPECT_EQ(ReadText(t2 + "/f"), "A");
  CommandResult rw = Strata({"vol", "attach", "s1", TargetPath("t3")});
  EXPECT_EQ(rw.exit_code, 1);
  EXPECT_THAT(rw.err, HasSubstr("\"s1\" is a snapshot: attach it with --ro"));
  EXPECT_FALSE(IsMountPoint(TargetPath("t3")));

  CommandResult from = Strata({"vol", "create", "c1", "--from", "s1"});
  ASSERT_EQ(from.exit_code, 0) << from.err;
  nlohmann::json c1 = Inspect("c1");
  ExpectReady(c1, "c1", backend());
  EXPECT_EQ(c1.value("origin", ""), "s1");
  EXPECT_EQ(c1.value("snapshot", true), false);
  EXPECT_EQ(c1["size_bytes"], Inspect("orig")["size_bytes"]);
  const std::string t4 = MustAttach("c1", TargetPath("t4"));
  EXPECT_EQ(ReadText(t4 + "/f"), "A");
  EXPECT_EQ(WriteText(t4 + "/f", "C"), 0) << "a volume made from a snapshot is writable";
  EXPECT_EQ(ReadText(t1 + "/f"), "B");
  EXPECT_EQ(ReadText(t2 + "/f"), "A");

  CommandResult rm = Strata({"vol", "rm", "--force", "orig"});
  EXPECT_EQ(rm.exit_code, 0) << rm.err;
  EXPECT_EQ(Strata({"vol", "detach", "s1"}).exit_code, 0);
  EXPECT_EQ(MustAttach("s1", TargetPath("t5"), true), TargetPath("t5"));
  EXPECT_EQ(ReadText(TargetPath("t5") + "/f"), "A") << "the snapshot outlives its origin";
  EXPECT_EQ(ReadText(t4 + "/f"), "C");
  EXPECT_EQ(LsNames(), (std::vector<std::string>{"c1", "s1"}));
  EXPECT_EQ(Strata({"vol", "rm", "--force", "s1", "c1"}).exit_code, 0);
  ExpectNoStorage("s1");
  ExpectNoStorage("c1");
  ExpectNoStorage("orig");
}

// --- 7. Resize -------------------------------------------------------------------------------

TEST_P(VolumeSuite, ResizeGrowsOnlineAndNeverShrinks) {
  if (is_local() && !LocalHasQuota()) GTEST_SKIP() << "local --size needs project quotas here";
  const Growable plan = GrowableVolume();
  const uint64_t base = plan.size_bytes;
  const auto size = [](uint64_t bytes) { return FormatSize(bytes); };
  MustCreate("grow", plan.create_args);
  ASSERT_FALSE(HasFailure());
  const std::string t = MustAttach("grow", TargetPath("t"));
  ASSERT_EQ(WriteText(t + "/f", "keep"), 0);
  const uint64_t at_base = FsTotalBytes(t);
  ASSERT_GT(at_base, base / 2);

  CommandResult grown = Strata({"vol", "resize", "grow", size(base + 64 * kMiB)});
  ASSERT_EQ(grown.exit_code, 0) << grown.err;
  EXPECT_EQ(grown.out, size(base + 64 * kMiB) + "\n");
  const uint64_t at_plus_64 = FsTotalBytes(t);
  EXPECT_GT(at_plus_64, at_base + 48 * kMiB) << "the attached filesystem grew online";
  EXPECT_EQ(Inspect("grow").value("size_bytes", uint64_t{0}), base + 64 * kMiB);

  CommandResult plus = Strata({"vol", "resize", "grow", "+64M"});
  ASSERT_EQ(plus.exit_code, 0) << plus.err;
  EXPECT_EQ(plus.out, size(base + 128 * kMiB) + "\n");
  EXPECT_GT(FsTotalBytes(t), at_plus_64 + 48 * kMiB);
  EXPECT_EQ(Inspect("grow").value("size_bytes", uint64_t{0}), base + 128 * kMiB);

  CommandResult shrink = Strata({"vol", "resize", "grow", size(base)});
  EXPECT_EQ(shrink.exit_code, 1);
  EXPECT_THAT(shrink.err, HasSubstr("vol resize \"grow\": " + size(base) +
                                    " is smaller than its size " + size(base + 128 * kMiB)));
  CommandResult same = Strata({"vol", "resize", "grow", size(base + 128 * kMiB)});
  EXPECT_EQ(same.exit_code, 0) << same.err;
  EXPECT_EQ(Inspect("grow").value("size_bytes", uint64_t{0}), base + 128 * kMiB);

  // Offline: detached, then attached again at the new size.
  ASSERT_EQ(Strata({"vol", "detach", "grow"}).exit_code, 0);
  CommandResult offline = Strata({"vol", "resize", "grow", size(base + 192 * kMiB)});
  ASSERT_EQ(offline.exit_code, 0) << offline.err;
  EXPECT_FALSE(IsMountPoint(root_ + "/volumes/mnt/grow")) << "resize left it active";
  EXPECT_EQ(MustAttach("grow", t), t);
  EXPECT_GT(FsTotalBytes(t), at_base + 176 * kMiB);
  EXPECT_EQ(ReadText(t + "/f"), "keep");
}

// xfs: the larger minimum, and growth through xfs_growfs.
TEST_P(VolumeSuite, XfsVolume) {
  if (is_local()) GTEST_SKIP() << "local volumes have no filesystem of their own";
  MustCreate("x", {"--fs", "xfs", "--size", "300M"});
  ASSERT_FALSE(HasFailure());
  EXPECT_EQ(Inspect("x").value("fs", ""), "xfs");
  const std::string t = MustAttach("x", TargetPath("x"));
  ASSERT_EQ(WriteText(t + "/f", "xfs"), 0);
  const uint64_t before = FsTotalBytes(t);
  CommandResult grown = Strata({"vol", "resize", "x", "+100M"});
  ASSERT_EQ(grown.exit_code, 0) << grown.err;
  EXPECT_GT(FsTotalBytes(t), before + 64 * kMiB);
  CommandResult snap = Strata({"vol", "snapshot", "x", "xs"});
  ASSERT_EQ(snap.exit_code, 0) << snap.err;
  // The snapshot carries the origin's xfs uuid: mounting both at once needs nouuid.
  const std::string s = MustAttach("xs", TargetPath("xs"), true);
  EXPECT_EQ(ReadText(s + "/f"), "xfs");
  EXPECT_EQ(Strata({"vol", "rm", "--force", "x", "xs"}).exit_code, 0);
  ExpectNoStorage("x");
  ExpectNoStorage("xs");
}

// --- 8. Labels, filters and prune ------------------------------------------------------------

TEST_P(VolumeSuite, LabelsFiltersAndPrune) {
  MustCreate("l1", {"--label", "a=1", "--label", "b=x"});
  MustCreate("l2", {"--label", "a=2"});
  MustCreate("l3");
  ASSERT_FALSE(HasFailure());
  using Names = std::vector<std::string>;
  EXPECT_EQ(LsNames({"label=a"}), (Names{"l1", "l2"}));
  EXPECT_EQ(LsNames({"label=a=1"}), (Names{"l1"}));
  EXPECT_EQ(LsNames({"label=a=3"}), (Names{}));
  EXPECT_EQ(LsNames({"label=b=x"}), (Names{"l1"}));
  EXPECT_EQ(LsNames({"backend=" + backend()}), (Names{"l1", "l2", "l3"}));
  EXPECT_EQ(LsNames({std::string("backend=") + (is_local() ? "loop" : "local")}), (Names{}));
  EXPECT_EQ(LsNames({"name=l"}), (Names{"l1", "l2", "l3"}));
  EXPECT_EQ(LsNames({"name=3"}), (Names{"l3"}));
  EXPECT_EQ(LsNames({"label=a", "name=2"}), (Names{"l2"})) << "filters combine with and";
  EXPECT_EQ(LsJson({"label=a=2"}).size(), 1u);
  CommandResult bad = Strata({"vol", "ls", "--filter", "backend=thinn"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.err, HasSubstr("did you mean \"thin\"?"));

  const std::string t = MustAttach("l1", TargetPath("l1"));
  // Not a terminal (the runner gives a pipe) and no --force: refused, nothing removed.
  CommandResult asked = Strata({"vol", "prune", "--filter", "label=a"}, "y\n");
  EXPECT_EQ(asked.exit_code, 1);
  EXPECT_THAT(asked.err, HasSubstr("pass --force"));
  EXPECT_EQ(LsNames(), (Names{"l1", "l2", "l3"}));

  CommandResult pruned = Strata({"vol", "prune", "--force", "--filter", "label=a"});
  EXPECT_EQ(pruned.exit_code, 0) << pruned.err;
  EXPECT_EQ(pruned.out, "l2\n") << "l1 is attached, l3 does not match";
  EXPECT_EQ(LsNames(), (Names{"l1", "l3"}));
  ExpectNoStorage("l2");
  CommandResult rest = Strata({"vol", "prune", "--force"});
  EXPECT_EQ(rest.exit_code, 0) << rest.err;
  EXPECT_EQ(rest.out, "l3\n");
  EXPECT_EQ(LsNames(), (Names{"l1"}));
  EXPECT_TRUE(IsMountPoint(t));
}

}  // namespace strata::volumes::conformance
