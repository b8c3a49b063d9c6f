// The cgroup manager (runtime/cgroup.h) against the real cgroup filesystems, as root. Runs on
// whatever this host has: hybrid on the dev host (v1 controllers + /sys/fs/cgroup/unified), pure
// v2 in the test VM. Each test uses its own container id and removes what it created.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "runtime/cgroup.h"

namespace strata::runtime {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

std::vector<pid_t> Procs(const std::string& leaf) {
  std::vector<pid_t> pids;
  std::istringstream in(ReadFile(leaf + "/cgroup.procs"));
  for (pid_t pid; in >> pid;) pids.push_back(pid);
  return pids;
}

void WriteAll(int fd, const void* data, size_t size) {
  if (::write(fd, data, size) != static_cast<ssize_t>(size)) ::_exit(120);
}

// A forked child that blocks until Go(), then runs `body` and exits 0. The destructor SIGKILLs
// and reaps it if the test did not. Single-threaded test binary: fork is safe here.
class Child {
 public:
  template <class F>
  explicit Child(F body) {
    int go[2];
    if (::pipe2(go, O_CLOEXEC) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(go[1]);
      char c;
      while (::read(go[0], &c, 1) < 0 && errno == EINTR) {
      }
      body();
      ::_exit(0);
    }
    ::close(go[0]);
    go_fd_ = go[1];
  }
  ~Child() {
    if (go_fd_ >= 0) ::close(go_fd_);
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      (void)Wait();
    }
  }
  pid_t pid() const { return pid_; }
  void Go() {
    char c = 'g';
    EXPECT_EQ(::write(go_fd_, &c, 1), 1);
  }
  int Wait() {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
    return status;
  }

 private:
  pid_t pid_ = -1;
  int go_fd_ = -1;
  bool reaped_ = false;
};

void PauseForever() {
  for (;;) ::pause();
}

class CgroupHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    auto layout = DetectCgroups();
    ASSERT_TRUE(layout.ok()) << layout.error().message();
    layout_ = *layout;
  }
  std::string Id(const std::string& name) {
    return "strata-test-" + std::to_string(::getpid()) + "-" + name;
  }
  // The leaf of the hierarchy holding `v1_controller` ("" or on v2: the v2 leaf).
  std::string LeafFor(const Cgroup& cg, const std::string& v1_controller) {
    std::vector<std::string> paths = cg.paths();
    if (layout_.mode == CgroupMode::kV2 || v1_controller.empty()) return paths.front();
    std::string mount = layout_.v1.at(v1_controller).mount_point + "/";
    for (const std::string& p : paths) {
      if (p.rfind(mount, 0) == 0) return p;
    }
    ADD_FAILURE() << "no leaf for " << v1_controller;
    return "";
  }
  Result<Cgroup> Create(const std::string& name, const Resources& r,
                        CgroupParent parent = CgroupParent::kHierarchyRoot) {
    return Cgroup::Create(layout_, Id(name), r, parent);
  }

  CgroupLayout layout_;
};

TEST_F(CgroupHostTest, CreateAppliesLimitsThatReadBack) {
  Resources r;
  r.memory_bytes = 16 << 20;
  r.cpu_quota_us = 50000;
  r.cpu_period_us = 100000;
  r.pids_max = 8;
  r.io_weight = 100;
  auto cg = Create("limits", r);
  ASSERT_TRUE(cg.ok()) << cg.error().message();
  for (const std::string& p : cg->paths()) EXPECT_TRUE(Exists(p)) << p;
  if (layout_.mode == CgroupMode::kV2) {
    std::string leaf = cg->paths().front();
    EXPECT_EQ(Trim(ReadFile(leaf + "/memory.max")), "16777216");
    EXPECT_EQ(Trim(ReadFile(leaf + "/cpu.max")), "50000 100000");
    EXPECT_EQ(Trim(ReadFile(leaf + "/pids.max")), "8");
    std::string io = Exists(leaf + "/io.weight") ? ReadFile(leaf + "/io.weight")
                                                 : ReadFile(leaf + "/io.bfq.weight");
    EXPECT_THAT(io, ::testing::AnyOf(HasSubstr("default 100"), HasSubstr("default 11")));
    EXPECT_GE(cg->dir_fd(), 0);
  } else {
    EXPECT_EQ(Trim(ReadFile(LeafFor(*cg, "memory") + "/memory.limit_in_bytes")), "16777216");
    EXPECT_EQ(Trim(ReadFile(LeafFor(*cg, "cpu") + "/cpu.cfs_quota_us")), "50000");
    EXPECT_EQ(Trim(ReadFile(LeafFor(*cg, "cpu") + "/cpu.cfs_period_us")), "100000");
    EXPECT_EQ(Trim(ReadFile(LeafFor(*cg, "pids") + "/pids.max")), "8");
    std::string blkio = LeafFor(*cg, "blkio");
    std::string weight = Exists(blkio + "/blkio.weight") ? ReadFile(blkio + "/blkio.weight")
                                                         : ReadFile(blkio + "/blkio.bfq.weight");
    EXPECT_THAT(weight, HasSubstr("20"));  // io_weight 100 scaled to 10..1000
    EXPECT_EQ(cg->dir_fd() >= 0, layout_.mode == CgroupMode::kHybrid);
  }
  ASSERT_TRUE(cg->Remove().ok());
}

TEST_F(CgroupHostTest, AddProcessPutsTheChildInEveryHierarchy) {
  auto cg = Create("add", Resources{});
  ASSERT_TRUE(cg.ok()) << cg.error().message();
  Child child(PauseForever);
  ASSERT_GT(child.pid(), 0);
  Status added = cg->AddProcess(child.pid());
  ASSERT_TRUE(added.ok()) << added.error().message();
  for (const std::string& leaf : cg->paths()) {
    EXPECT_THAT(Procs(leaf), Contains(child.pid())) << leaf;
  }
  EXPECT_TRUE(cg->AddProcess(child.pid()).ok());  // already there: nothing to do
  auto pids = cg->Pids();
  ASSERT_TRUE(pids.ok());
  EXPECT_EQ(*pids, std::vector<pid_t>{child.pid()});
  auto stats = cg->Stats();
  ASSERT_TRUE(stats.ok()) << stats.error().message();
  EXPECT_EQ(stats->pids_current, 1u);

  Status killed = cg->KillAll();
  ASSERT_TRUE(killed.ok()) << killed.error().message();
  int status = child.Wait();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  for (const std::string& leaf : cg->paths()) EXPECT_THAT(Procs(leaf), IsEmpty()) << leaf;
  ASSERT_TRUE(cg->Remove().ok());
}

TEST_F(CgroupHostTest, AddProcessOfAGoneProcessIsEsrch) {
  auto cg = Create("gone", Resources{});
  ASSERT_TRUE(cg.ok()) << cg.error().message();
  Child child([] {});
  child.Go();
  child.Wait();
  Status s = cg->AddProcess(child.pid());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), ESRCH);
}

TEST_F(CgroupHostTest, ProcessOverTheMemoryLimitIsOomKilled) {
  std::string swaps = ReadFile("/proc/swaps");
  if (swaps.find('\n') != swaps.rfind('\n')) GTEST_SKIP() << "swap is on: the limit would swap";
  Resources r;
  r.memory_bytes = 16 << 20;
  auto cg = Create("oom", r);
  ASSERT_TRUE(cg.ok()) << cg.error().message();
  Child child([] {
    const size_t size = 64u << 20;
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) ::_exit(2);
    std::memset(p, 0x5a, size);  // touches every page: 64 MiB charged to a 16 MiB cgroup
  });
  ASSERT_TRUE(cg->AddProcess(child.pid()).ok());
  child.Go();
  int status = child.Wait();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      << "want SIGKILL by the OOM killer, got status " << status;
  auto stats = cg->Stats();
  ASSERT_TRUE(stats.ok()) << stats.error().message();
  EXPECT_GE(stats->oom_kills, 1u);
  EXPECT_GE(stats->memory_limit_hits, 1u);
  ASSERT_TRUE(stats->memory_peak_bytes.has_value());
  EXPECT_GE(*stats->memory_peak_bytes, uint64_t{15} << 20);
  EXPECT_LE(*stats->memory_peak_bytes, uint64_t{16} << 20);
}

TEST_F(CgroupHostTest, PidsMaxStopsAForkLoop) {
  Resources r;
  r.pids_max = 8;
  auto cg = Create("pids", r);
  ASSERT_TRUE(cg.ok()) << cg.error().message();
  int result[2];
  ASSERT_EQ(::pipe2(result, O_CLOEXEC), 0);
  Child child([fd = result[1]] {
    int forked = 0;
    int err = 0;
    for (int i = 0; i < 64; ++i) {
      pid_t pid = ::fork();
      if (pid == 0) PauseForever();
      if (pid < 0) {
        err = errno;
        break;
      }
      ++forked;
    }
    int report[2] = {forked, err};
    WriteAll(fd, report, sizeof(report));
    PauseForever();
  });
  ::close(result[1]);
  ASSERT_TRUE(cg->AddProcess(child.pid()).ok());
  child.Go();
  int report[2] = {0, 0};
  ASSERT_EQ(::read(result[0], report, sizeof(report)), static_cast<ssize_t>(sizeof(report)));
  ::close(result[0]);
  EXPECT_EQ(report[0], 7) << "the child plus 7 forks make 8";
  EXPECT_EQ(report[1], EAGAIN) << std::strerror(report[1]);
  auto stats = cg->Stats();
  ASSERT_TRUE(stats.ok()) << stats.error().message();
  EXPECT_EQ(stats->pids_current, 8u);

  Status killed = cg->KillAll();
  ASSERT_TRUE(killed.ok()) << killed.error().message();
  auto pids = cg->Pids();
  ASSERT_TRUE(pids.ok());
  EXPECT_THAT(*pids, IsEmpty());
  int status = child.Wait();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
}

TEST_F(CgroupHostTest, RemoveKillsAndLeavesNoDirAndIsIdempotent) {
  auto cg = Create("remove", Resources{});
  ASSERT_TRUE(cg.ok()) << cg.error().message();
  std::vector<std::string> paths = cg->paths();
  ASSERT_FALSE(paths.empty());
  Child child(PauseForever);
  ASSERT_TRUE(cg->AddProcess(child.pid()).ok());
  Status removed = cg->Remove();
  ASSERT_TRUE(removed.ok()) << removed.error().message();
  for (const std::string& p : paths) EXPECT_FALSE(Exists(p)) << p;
  EXPECT_THAT(cg->paths(), IsEmpty());
  EXPECT_EQ(cg->dir_fd(), -1);
  EXPECT_TRUE(cg->Remove().ok());
  int status = child.Wait();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
}

TEST_F(CgroupHostTest, DestructorRemovesTheDirs) {
  std::vector<std::string> paths;
  {
    auto cg = Create("dtor", Resources{});
    ASSERT_TRUE(cg.ok()) << cg.error().message();
    paths = cg->paths();
    for (const std::string& p : paths) ASSERT_TRUE(Exists(p)) << p;
  }
  for (const std::string& p : paths) EXPECT_FALSE(Exists(p)) << p;
}

TEST_F(CgroupHostTest, ValueTheKernelRefusesFailsCreateAndLeavesNothing) {
  Resources r;
  r.memory_bytes = 16 << 20;
  r.cpu_quota_us = 100000;
  r.cpu_period_us = 2000000;  // the kernel caps the period at 1 s: EINVAL
  auto planned = PlanCgroupDirs(layout_, Id("bad"), CgroupParent::kHierarchyRoot);
  ASSERT_TRUE(planned.ok());
  auto cg = Create("bad", r);
  ASSERT_FALSE(cg.ok());
  EXPECT_EQ(cg.error().code(), EINVAL);
  EXPECT_THAT(cg.error().message(), HasSubstr(Id("bad")));
  EXPECT_THAT(cg.error().message(),
              HasSubstr(layout_.mode == CgroupMode::kV2 ? "cpu.max" : "cpu.cfs_period_us"));
  for (const CgroupDir& d : *planned) EXPECT_FALSE(Exists(d.leaf)) << d.leaf;
}

TEST_F(CgroupHostTest, ExistingIdIsEexistAndLeavesTheExistingCgroupAlone) {
  auto first = Create("twice", Resources{});
  ASSERT_TRUE(first.ok()) << first.error().message();
  auto second = Create("twice", Resources{});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code(), EEXIST);
  EXPECT_THAT(second.error().message(), HasSubstr(first->paths().front()));
  for (const std::string& p : first->paths()) EXPECT_TRUE(Exists(p)) << p;
}

TEST_F(CgroupHostTest, OwnCgroupPlacementNestsUnderThisProcess) {
  if (layout_.mode == CgroupMode::kV2) {
    GTEST_SKIP() << "v2: this process's cgroup holds processes (no-internal-process rule)";
  }
  Resources r;
  r.memory_bytes = 32 << 20;
  auto cg = Create("own", r, CgroupParent::kOwnCgroup);
  ASSERT_TRUE(cg.ok()) << cg.error().message();
  const CgroupMount& mem = layout_.v1.at("memory");
  std::string want = mem.mount_point + (mem.self == "/" ? "" : mem.self) + "/strata/" + Id("own");
  EXPECT_EQ(LeafFor(*cg, "memory"), want);
  Child child(PauseForever);
  ASSERT_TRUE(cg->AddProcess(child.pid()).ok());
  EXPECT_THAT(ReadFile("/proc/" + std::to_string(child.pid()) + "/cgroup"),
              HasSubstr(":memory:" + (mem.self == "/" ? "" : mem.self) + "/strata/" + Id("own")));
  ASSERT_TRUE(cg->Remove().ok());
  EXPECT_FALSE(Exists(want));
}

// The v2 apply path (enable chain, cgroup.controllers check) on a real cgroup2 mount: on a
// hybrid host the unified mount holds no controllers, so a v2 layout over it can place processes
// but must refuse limits. In the pure-v2 VM the other tests cover this path with controllers.
TEST_F(CgroupHostTest, V2LayoutWithoutControllersPlacesButRefusesLimits) {
  if (layout_.mode != CgroupMode::kHybrid) GTEST_SKIP() << "needs hybrid's controller-less cgroup2";
  CgroupLayout v2{CgroupMode::kV2, layout_.v2, {}};
  auto cg = Cgroup::Create(v2, Id("v2"), Resources{});
  ASSERT_TRUE(cg.ok()) << cg.error().message();
  ASSERT_EQ(cg->paths().size(), 1u);
  EXPECT_GE(cg->dir_fd(), 0);
  Child child(PauseForever);
  ASSERT_TRUE(cg->AddProcess(child.pid()).ok());
  EXPECT_THAT(Procs(cg->paths().front()), Contains(child.pid()));
  auto stats = cg->Stats();
  ASSERT_TRUE(stats.ok()) << stats.error().message();
  EXPECT_FALSE(stats->memory_current_bytes.has_value());  // memory is not in this tree
  ASSERT_TRUE(cg->Remove().ok());                         // cgroup.kill
  int status = child.Wait();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;

  Resources r;
  r.pids_max = 8;
  auto refused = Cgroup::Create(v2, Id("v2-limits"), r);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), EOPNOTSUPP);
  EXPECT_THAT(refused.error().message(), HasSubstr("controller pids is not available"));
  EXPECT_FALSE(Exists(layout_.v2->mount_point + "/strata/" + Id("v2-limits")));
}

// clone3(CLONE_INTO_CGROUP) with dir_fd(): the child starts in the v2 leaf with no cgroup.procs
// write; on hybrid AddProcess then adds it to the v1 hierarchies.
struct CloneArgs {  // struct clone_args, CLONE_ARGS_SIZE_VER2 (Linux 5.7)
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
      set_tid_size, cgroup;
};
constexpr uint64_t kCloneIntoCgroup = 0x200000000ULL;

TEST_F(CgroupHostTest, Clone3IntoCgroupLandsInTheV2Leaf) {
  auto cg = Create("clone3", Resources{});
  ASSERT_TRUE(cg.ok()) << cg.error().message();
  if (cg->dir_fd() < 0) GTEST_SKIP() << "no v2 leaf on this host";
  CloneArgs args{};
  args.flags = kCloneIntoCgroup;
  args.exit_signal = SIGCHLD;
  args.cgroup = static_cast<uint64_t>(cg->dir_fd());
  long pid = ::syscall(SYS_clone3, &args, sizeof(args));
  if (pid == 0) PauseForever();
  ASSERT_GT(pid, 0) << std::strerror(errno);
  std::string v2_leaf = cg->paths().front();
  EXPECT_THAT(Procs(v2_leaf), Contains(static_cast<pid_t>(pid)));
  Status added = cg->AddProcess(static_cast<pid_t>(pid));
  EXPECT_TRUE(added.ok()) << added.error().message();
  for (const std::string& leaf : cg->paths()) {
    EXPECT_THAT(Procs(leaf), Contains(static_cast<pid_t>(pid))) << leaf;
  }
  EXPECT_TRUE(cg->Remove().ok());
  int status = 0;
  EXPECT_EQ(::waitpid(static_cast<pid_t>(pid), &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
}

}  // namespace
}  // namespace strata::runtime
