// The named-volume suite, part 2 (volume_suite.h): crash safety at every failpoint, and
// concurrent creates. Part 1 (volume_suite.cc) has the lifecycle, input and attachment cases.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include <gmock/gmock.h>

#include "core/failpoint.h"
#include "core/units.h"
#include "tests/conformance/conformance_support.h"
#include "tests/conformance/volume_suite.h"

namespace strata::volumes::conformance {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::IsMountPoint;
using testing::PathExists;

constexpr uint64_t kMiB = uint64_t{1} << 20;

}  // namespace

// --- 9. Crash safety -------------------------------------------------------------------------

namespace {

enum class Op { kCreate, kCreateLarge, kSnapshot, kResize, kRemove, kRemoveAttached };

const char* OpName(Op op) {
  static constexpr const char* kNames[] = {"create", "create 1G", "snapshot",
                                           "resize", "rm",        "rm --force (attached)"};
  return kNames[static_cast<int>(op)];
}

struct CrashCase {
  std::string failpoint;
  Op op;
};

// Every failpoint a command on `backend` can reach, with a command that reaches it. Order
// matters for thin: the base failpoints need the pool's first large create.
std::vector<CrashCase> CrashCases(const std::string& backend) {
  std::vector<CrashCase> cases;
  if (backend == "thin") {
    cases = {{"vol.thin.base-created", Op::kCreateLarge},
             {"vol.thin.base-formatted", Op::kCreateLarge},
             {"vol.thin.after-snapshot", Op::kCreateLarge},
             {"vol.thin.after-snapshot", Op::kSnapshot},
             {"vol.thin.after-create-thin", Op::kCreate},
             {"vol.thin.after-grow", Op::kResize},
             {"vol.thin.after-fs-grow", Op::kResize}};
  }
  const std::vector<CrashCase> manager = {{"vol.create.after-record", Op::kCreate},
                                          {"vol.create.after-backend", Op::kCreate},
                                          {"vol.create.after-record", Op::kSnapshot},
                                          {"vol.create.after-backend", Op::kSnapshot},
                                          {"vol.resize.after-record", Op::kResize},
                                          {"vol.resize.after-grow", Op::kResize},
                                          {"vol.rm.after-record", Op::kRemove},
                                          {"vol.rm.after-deactivate", Op::kRemove},
                                          {"vol.rm.after-destroy", Op::kRemove},
                                          {"vol.rm.after-record", Op::kRemoveAttached},
                                          {"vol.rm.after-deactivate", Op::kRemoveAttached}};
  cases.insert(cases.end(), manager.begin(), manager.end());
  return cases;
}

// The failpoints in volumes/*.cc: Failpoint("scope", "step"), Failpoint("name") and
// Failpoint(kFailpointScope, "step") with the file's kFailpointScope.
std::set<std::string> FailpointsInSource() {
  std::set<std::string> out;
  const std::regex scope_re(R"re(kFailpointScope\[\]\s*=\s*"([^"]+)")re");
  const std::regex call_re(
      R"re(Failpoint\(\s*(kFailpointScope|"[^"]+")\s*(?:,\s*"([^"]+)")?\s*\))re");
  std::error_code ec;
  for (const fs::directory_entry& e :
       fs::directory_iterator(std::string(STRATA_SOURCE_DIR) + "/volumes", ec)) {
    if (e.path().extension() != ".cc") continue;
    const std::string text = testing::ReadFileOr(e.path().string(), "");
    std::smatch scope;
    const std::string file_scope = std::regex_search(text, scope, scope_re) ? scope[1].str() : "?";
    for (auto it = std::sregex_iterator(text.begin(), text.end(), call_re);
         it != std::sregex_iterator(); ++it) {
      const std::string first = (*it)[1].str();
      std::string name =
          first == "kFailpointScope" ? file_scope : first.substr(1, first.size() - 2);
      if ((*it)[2].matched) name += "." + (*it)[2].str();
      out.insert(name);
    }
  }
  return out;
}

}  // namespace

TEST_P(VolumeSuite, CrashCasesCoverEveryFailpoint) {
  const std::set<std::string> found = FailpointsInSource();
  ASSERT_FALSE(found.empty()) << "no failpoints found under " << STRATA_SOURCE_DIR << "/volumes";
  std::set<std::string> covered;
  for (const CrashCase& c : CrashCases(backend())) covered.insert(c.failpoint);
  for (const std::string& name : found) {
    const bool backend_scope = name.rfind("vol.thin.", 0) == 0 || name.rfind("vol.loop.", 0) == 0 ||
                               name.rfind("vol.local.", 0) == 0;
    if (backend_scope && name.rfind("vol." + backend() + ".", 0) != 0) continue;
    EXPECT_TRUE(covered.count(name)) << name << " has no crash case for " << backend();
  }
}

TEST_P(VolumeSuite, CrashAtEveryFailpointIsSettled) {
  // A first volume makes the directories every later state is compared with.
  MustCreate("warm");
  ASSERT_FALSE(HasFailure());
  ASSERT_EQ(Strata({"vol", "rm", "warm"}).exit_code, 0);
  const bool can_resize = !is_local() || LocalHasQuota();
  const Growable plan = GrowableVolume();
  const uint64_t grown_bytes = plan.size_bytes + 64 * kMiB;
  const std::string name = "crash";  // the same name every time: it must be reusable
  for (const CrashCase& c : CrashCases(backend())) {
    if (c.op == Op::kResize && !can_resize) continue;
    SCOPED_TRACE(c.failpoint + " during " + OpName(c.op));
    const std::set<std::string> files = VolumeFiles();
    const std::set<std::string> dm = DmDevices();
    std::string target;
    std::vector<std::string> args;
    switch (c.op) {
      case Op::kCreate:
        args = CreateArgs(name);
        break;
      case Op::kCreateLarge:
        args = CreateArgs(name, {"--size", "1G"});
        break;
      case Op::kSnapshot:
        MustCreate("origin");
        args = {"vol", "snapshot", "origin", name};
        break;
      case Op::kResize:
        MustCreate(name, plan.create_args);
        args = {"vol", "resize", name, FormatSize(grown_bytes)};
        break;
      case Op::kRemove:
        MustCreate(name);
        args = {"vol", "rm", name};
        break;
      case Op::kRemoveAttached:
        MustCreate(name);
        target = MustAttach(name, TargetPath("crash"));
        args = {"vol", "rm", "--force", name};
        break;
    }
    if (HasFailure()) return;
    CommandResult killed = Strata(args, "", c.failpoint);
    EXPECT_EQ(killed.exit_code, 137) << "failpoint not reached: " << killed.out << killed.err;

    std::optional<nlohmann::json> after = Listed(name);  // the next command settles it
    if (c.op == Op::kResize) {
      ASSERT_TRUE(after.has_value()) << "a resized volume must survive";
      EXPECT_EQ(after->value("state", ""), "ready");
      const uint64_t size = after->value("size_bytes", uint64_t{0});
      EXPECT_TRUE(size == plan.size_bytes || size == grown_bytes) << size;
      // The filesystem matches what the catalog says.
      const std::string t = MustAttach(name, TargetPath("resized"));
      EXPECT_GT(FsTotalBytes(t), size * 3 / 4) << "size_bytes " << size;
      EXPECT_EQ(Strata({"vol", "detach", name}).exit_code, 0);
      CommandResult rm = Strata({"vol", "rm", name});
      EXPECT_EQ(rm.exit_code, 0) << rm.err;
    } else {
      EXPECT_FALSE(after.has_value()) << "half volume: " << after->dump();
      if (!target.empty()) {
        EXPECT_FALSE(IsMountPoint(target));
      }
      CommandResult rm = Strata({"vol", "rm", name});
      EXPECT_EQ(rm.exit_code, 0) << rm.err;
      EXPECT_EQ(rm.out, "") << "already gone";
    }
    ExpectNoStorage(name);

    MustCreate(name);  // the name is free again
    EXPECT_TRUE(Listed(name).has_value());
    CommandResult rm = Strata({"vol", "rm", name, "origin"});
    EXPECT_EQ(rm.exit_code, 0) << rm.err;
    ExpectNoStorage(name);
    EXPECT_EQ(VolumeFiles(), files);
    const std::set<std::string> dm_after = DmDevices();
    for (const std::string& d : dm_after) EXPECT_TRUE(dm.count(d)) << "dm device left: " << d;
    EXPECT_THAT(LsNames(), ::testing::IsEmpty());
    if (HasFailure()) return;  // one broken case is enough to read
  }
}

// --- 10. Concurrency -------------------------------------------------------------------------

TEST_P(VolumeSuite, ConcurrentCreates) {
  constexpr int kProcesses = 8;
  std::vector<CommandResult> results(kProcesses);
  std::vector<std::thread> threads;
  for (int i = 0; i < kProcesses; ++i) {
    threads.emplace_back([&, i] { results[i] = Strata(CreateArgs("p" + std::to_string(i))); });
  }
  for (std::thread& t : threads) t.join();
  std::vector<std::string> want;
  for (int i = 0; i < kProcesses; ++i) {
    EXPECT_EQ(results[i].exit_code, 0) << "p" << i << ": " << results[i].err;
    want.push_back("p" + std::to_string(i));
  }
  EXPECT_EQ(LsNames(), want);

  threads.clear();
  for (int i = 0; i < kProcesses; ++i) {
    threads.emplace_back([&, i] { results[i] = Strata(CreateArgs("same")); });
  }
  for (std::thread& t : threads) t.join();
  int winners = 0;
  for (const CommandResult& r : results) {
    if (r.exit_code == 0) {
      ++winners;
      continue;
    }
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_THAT(r.err, HasSubstr("volume \"same\" already exists"));
  }
  EXPECT_EQ(winners, 1);
  want.push_back("same");
  EXPECT_EQ(LsNames(), want);
  for (const nlohmann::json& v : LsJson()) EXPECT_EQ(v.value("state", ""), "ready") << v.dump();

  std::vector<std::string> rm = {"vol", "rm"};
  rm.insert(rm.end(), want.begin(), want.end());
  CommandResult removed = Strata(rm);
  EXPECT_EQ(removed.exit_code, 0) << removed.err;
  for (const std::string& name : want) ExpectNoStorage(name);
}

}  // namespace strata::volumes::conformance
