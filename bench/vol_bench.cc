// strata's API side of the volume benchmarks (issue 4): volumes::Manager, as an embedding runtime
// calls it, against the real kernel (thin: run it in the VM; bench/vol.sh runs it beside the
// `strata vol` CLI and lvm2). The root, pool and volume defaults come from a strata config file,
// read as `strata --config FILE` reads it, so the API and the CLI sides see the same settings.
//   create    --count N creates of --size (1G) volumes named <prefix>1..N, each timed. One untimed
//             warm-up create first (<prefix>0, recorded as "first_create"): on thin it formats the
//             base, once per pool. Then --new-sizes K creates ("create_new_size"), each of a size
//             not made before (--size + i x 64M), so none can reuse a base grown to its size.
//   populate  fills the root up to --count volumes in all (<prefix>0001...), each timed; at the
//             thin base size (512M, the default --size) a create is a snapshot only, no grow.
//             --size 0 gives no size (local volumes without a quota).
//   list      --repeat R times: Manager::List on a manager opened once ("list"; the first call
//             runs recovery and is not recorded), and a fresh store + manager + List each time
//             ("open+list": what a short-lived process pays past its start). --expect N checks
//             the count.
//   rm        removes every volume, each Remove timed; --teardown then deletes what is left in a
//             thin pool (the bases) and deactivates the pool, so no dm or loop device remains.
// Every dm ioctl and mount call goes through timing wrappers of the seams, so each create splits
// into ioctl time, mount/umount time and the rest (store, mkfs/resize2fs processes, logic).
//
// Output: a summary table on stdout; raw samples ("strata <op> <ms>" lines) appended to
// --samples FILE. Exit 1 on any failed operation, 2 on bad usage.
// Usage: strata_vol_bench create|populate|list|rm --config FILE [--count N] [--size S]
//          [--fs ext4|xfs] [--backend thin|loop|local] [--prefix P] [--repeat R] [--expect N]
//          [--teardown] [--samples FILE] [--side NAME] [--gate GO_FIFO DONE_FIFO]
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "core/config.h"
#include "core/log.h"
#include "core/store.h"
#include "core/sys/device_mapper.h"
#include "core/sys/loop.h"
#include "core/sys/mounts.h"
#include "core/sys/quota.h"
#include "core/units.h"
#include "thinpool/pool.h"
#include "thinpool/pool_config.h"
#include "volumes/manager.h"

namespace {

using Clock = std::chrono::steady_clock;
using strata::Result;
using strata::Status;
namespace sys = strata::sys;
namespace thinpool = strata::thinpool;
namespace vol = strata::volumes;

double MsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

[[noreturn]] void Die(const std::string& what, const strata::Error& e) {
  std::fprintf(stderr, "vol_bench: %s: %s\n", what.c_str(), e.message().c_str());
  std::exit(1);
}

template <class R>
auto Must(R&& r, const std::string& what) {
  if (!r.ok()) Die(what, std::move(r).error());
  if constexpr (!std::is_same_v<std::decay_t<R>, Status>) return std::move(r).value();
}

// Time and count of calls by kind, for the seam wrappers below.
class CallTally {
 public:
  struct Calls {
    int count = 0;
    double ms = 0;
  };
  // Calls since the last Take(), by kind; resets the tally.
  std::map<std::string, Calls> Take() { return std::exchange(calls_, {}); }

 protected:
  template <class F>
  auto Timed(const std::string& kind, F&& f) -> decltype(f()) {
    auto start = Clock::now();
    auto result = f();
    Calls& c = calls_[kind];
    ++c.count;
    c.ms += MsSince(start);
    return result;
  }

 private:
  std::map<std::string, Calls> calls_;
};

// The dm seam, forwarded to the real implementation, timed per call kind.
class TimingDeviceMapper : public sys::DeviceMapper, public CallTally {
 public:
  explicit TimingDeviceMapper(sys::DeviceMapper& real) : real_(real) {}
  Status Create(const std::string& n, const std::string& u) override {
    return Timed("create", [&] { return real_.Create(n, u); });
  }
  Status Load(const std::string& n, const std::vector<sys::DmTarget>& t) override {
    return Timed("load", [&] { return real_.Load(n, t); });
  }
  Status Suspend(const std::string& n, sys::DmFlush f, sys::DmLockFs l) override {
    return Timed("suspend", [&] { return real_.Suspend(n, f, l); });
  }
  Status Resume(const std::string& n) override {
    return Timed("resume", [&] { return real_.Resume(n); });
  }
  Status Remove(const std::string& n, sys::DmRemove m) override {
    return Timed("remove", [&] { return real_.Remove(n, m); });
  }
  Result<sys::DmDeviceInfo> Info(const std::string& n) override {
    return Timed("info", [&] { return real_.Info(n); });
  }
  Result<std::vector<sys::DmTarget>> Table(const std::string& n) override {
    return Timed("table", [&] { return real_.Table(n); });
  }
  Result<std::vector<sys::DmTarget>> TargetStatus(const std::string& n, sys::DmFlush f) override {
    return Timed("status", [&] { return real_.TargetStatus(n, f); });
  }
  Result<std::string> Message(const std::string& n, uint64_t s, const std::string& m) override {
    // "create_snap 5 1" -> "message:create_snap"
    return Timed("message:" + m.substr(0, m.find(' ')), [&] { return real_.Message(n, s, m); });
  }
  Result<std::vector<sys::DmListEntry>> List() override {
    return Timed("list", [&] { return real_.List(); });
  }
  Result<std::vector<uint32_t>> TargetVersion(const std::string& t) override {
    return Timed("version", [&] { return real_.TargetVersion(t); });
  }

 private:
  sys::DeviceMapper& real_;
};

// The mount seam, forwarded and timed: a thin create that grows mounts the new volume to run
// resize2fs on it.
class TimingMounts : public sys::Mounts, public CallTally {
 public:
  explicit TimingMounts(sys::Mounts& real) : real_(real) {}
  Status MountNewApi(const std::string& fs_type, const std::vector<sys::FsParam>& params,
                     uint64_t attrs, const std::string& target) override {
    return Timed("mount", [&] { return real_.MountNewApi(fs_type, params, attrs, target); });
  }
  Status Mount(const std::string& source, const std::string& target, const std::string& fs_type,
               unsigned long flags, const std::string& data) override {
    return Timed("mount", [&] { return real_.Mount(source, target, fs_type, flags, data); });
  }
  Status Unmount(const std::string& target, int flags) override {
    return Timed("umount", [&] { return real_.Unmount(target, flags); });
  }
  Result<std::vector<sys::MountEntry>> MountInfo() override {
    return Timed("mountinfo", [&] { return real_.MountInfo(); });
  }

 private:
  sys::Mounts& real_;
};

struct Options {
  std::string command;
  std::string config_path;
  int count = -1;  // create: 20; populate: 1000
  std::string size;  // create: 1G; populate: 512M
  std::string fs = "ext4";
  std::string backend = "thin";
  std::string prefix = "v";
  int new_sizes = 0;
  int repeat = 10;
  int expect = -1;
  bool teardown = false;
  std::string samples_path;
  std::string side = "strata";
  std::string gate_go, gate_done;
};

[[noreturn]] void Usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s create|populate|list|rm --config FILE [--count N] [--size S] "
               "[--fs ext4|xfs] [--backend thin|loop|local] [--prefix P] [--new-sizes K] "
               "[--repeat R] "
               "[--expect N] [--teardown] [--samples FILE] [--side NAME] [--gate GO DONE]\n",
               argv0);
  std::exit(2);
}

Options ParseArgs(int argc, char** argv) {
  Options o;
  if (argc < 2) Usage(argv[0]);
  o.command = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Usage(argv[0]);
      return argv[++i];
    };
    if (a == "--config") o.config_path = next();
    else if (a == "--count") o.count = std::atoi(next().c_str());
    else if (a == "--size") o.size = next();
    else if (a == "--fs") o.fs = next();
    else if (a == "--backend") o.backend = next();
    else if (a == "--prefix") o.prefix = next();
    else if (a == "--new-sizes") o.new_sizes = std::atoi(next().c_str());
    else if (a == "--repeat") o.repeat = std::atoi(next().c_str());
    else if (a == "--expect") o.expect = std::atoi(next().c_str());
    else if (a == "--teardown") o.teardown = true;
    else if (a == "--samples") o.samples_path = next();
    else if (a == "--side") o.side = next();
    else if (a == "--gate") o.gate_go = next(), o.gate_done = next();
    else Usage(argv[0]);
  }
  static const std::vector<std::string> kCommands = {"create", "populate", "list", "rm"};
  if (o.config_path.empty() ||
      std::find(kCommands.begin(), kCommands.end(), o.command) == kCommands.end()) {
    Usage(argv[0]);
  }
  if (o.count < 0) o.count = o.command == "create" ? 20 : 1000;
  if (o.size.empty()) o.size = o.command == "create" ? "1G" : "512M";
  return o;
}

// Samples by operation, in first-seen order; also written to the samples file.
class Samples {
 public:
  Samples(const std::string& path, std::string side) : side_(std::move(side)) {
    if (!path.empty()) out_.open(path, std::ios::app);
  }
  void Add(const std::string& op, double ms) {
    auto it = std::find_if(ops_.begin(), ops_.end(), [&](auto& p) { return p.first == op; });
    if (it == ops_.end()) it = ops_.insert(ops_.end(), {op, {}});
    it->second.push_back(ms);
    if (out_) out_ << side_ << " " << op << " " << ms << "\n" << std::flush;
  }
  // Median (mean of the middle two for even n), p90 by nearest rank, total; as bench/dm_lib.sh.
  void Print() const {
    std::printf("%-40s %6s %10s %10s %10s\n", (side_ + " op").c_str(), "n", "median_ms",
                "p90_ms", "total_ms");
    for (auto [op, v] : ops_) {
      std::sort(v.begin(), v.end());
      size_t n = v.size();
      double median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
      double p90 = v[static_cast<size_t>(std::ceil(0.9 * n)) - 1];
      double total = 0;
      for (double x : v) total += x;
      std::printf("%-40s %6zu %10.3f %10.3f %10.1f\n", op.c_str(), n, median, p90, total);
    }
    std::fflush(stdout);
  }

 private:
  std::string side_;
  std::vector<std::pair<std::string, std::vector<double>>> ops_;
  std::ofstream out_;
};

// Optional lock-step with bench/vol.sh (--gate GO DONE, two FIFOs), as strata_dm_bench's: each
// phase (the warm-up, every create) starts when the driver writes a line to GO and reports its
// end with one on DONE, so the driver interleaves the sides create by create. Without --gate
// every call is a no-op.
class Gate {
 public:
  Gate(const std::string& go, const std::string& done) {
    if (go.empty()) return;
    go_ = std::fopen(go.c_str(), "r");  // FIFOs: each open waits for the driver's end
    done_ = go_ ? std::fopen(done.c_str(), "w") : nullptr;
    if (!done_) Fail("open " + go + " / " + done);
  }
  void Wait() {
    if (go_ && std::fgetc(go_) == EOF) Fail("the driver went away");
  }
  void Done() {
    if (done_ && (std::fputc('\n', done_) == EOF || std::fflush(done_) != 0)) Fail("signal");
  }

 private:
  [[noreturn]] static void Fail(const std::string& what) {
    std::fprintf(stderr, "vol_bench: gate: %s\n", what.c_str());
    std::exit(1);
  }
  std::FILE* go_ = nullptr;  // owned for the life of the process
  std::FILE* done_ = nullptr;
};

// The config, the store and a manager on timed seams, opened as `strata vol` opens them
// (tools/cmd_vol.cc OpenVolumes).
struct Bench {
  strata::Config config;
  thinpool::PoolConfig pool_config;
  std::unique_ptr<strata::Store> store;
  TimingDeviceMapper dm{sys::LinuxDeviceMapper()};
  TimingMounts mounts{sys::LinuxMounts()};
  std::unique_ptr<vol::Manager> manager;
};

std::unique_ptr<Bench> OpenBench(const Options& o) {
  auto b = std::make_unique<Bench>();
  strata::ConfigFlags flags;
  flags.config_path = o.config_path;
  b->config = Must(strata::LoadConfig(flags), "load config");
  Must(strata::InitLogging(b->config.log_level.value, b->config.log_file.value), "logging");
  const std::string& root = b->config.root.value;
  std::error_code ec;
  std::filesystem::create_directories(root, ec);
  if (ec) Die("create root " + root, strata::Error(ec.value(), ec.message()));
  ::chmod(root.c_str(), 0700);
  b->store = Must(strata::Store::Open(root + "/strata.db"), "open store");
  const nlohmann::json& opts = b->config.driver_opts.value;
  b->pool_config = Must(thinpool::ParsePoolConfig(opts.contains("devicemapper")
                                                      ? opts["devicemapper"]
                                                      : nlohmann::json()),
                        "pool config");
  vol::ManagerEnv env;
  env.defaults = Must(vol::ParseVolumeDefaults(b->config.volumes.value), "volume defaults");
  env.backend_env.root = root;
  env.backend_env.store = b->store.get();
  env.backend_env.mounts = &b->mounts;
  env.backend_env.loop = &sys::LinuxLoop();
  env.backend_env.dm = &b->dm;
  env.backend_env.quota = &sys::LinuxQuota();
  env.backend_env.pool_config = b->pool_config;
  b->manager = std::make_unique<vol::Manager>(std::move(env));
  return b;
}

// Runs `f` as operation `op`: its wall time, and the seam calls it made: "<op>.ioctl" (all dm
// ioctls) and "<op>.ioctl.<kind>", "<op>.mount" (mount + umount + mountinfo) and
// "<op>.mount.<kind>". The first time, prints which calls the operation made (stderr).
template <class F>
void Step(Samples& s, Bench& b, const std::string& op, F&& f) {
  static std::map<std::string, bool> described;
  (void)b.dm.Take();
  (void)b.mounts.Take();
  auto start = Clock::now();
  f();
  s.Add(op, MsSince(start));
  std::string calls;
  const std::pair<const char*, CallTally*> groups[] = {{"ioctl", &b.dm}, {"mount", &b.mounts}};
  for (auto [group, tally] : groups) {
    double ms = 0;
    for (const auto& [kind, c] : tally->Take()) {
      ms += c.ms;
      calls += " " + kind + "x" + std::to_string(c.count);
      s.Add(op + "." + group + "." + kind, c.ms);
    }
    s.Add(op + "." + group, ms);
  }
  if (!std::exchange(described[op], true)) {
    std::fprintf(stderr, "vol_bench: %s calls:%s\n", op.c_str(), calls.c_str());
  }
}

vol::CreateRequest Request(const Options& o, const std::string& name) {
  vol::CreateRequest req;
  req.name = name;
  req.backend = Must(vol::ParseBackend(o.backend), "--backend");
  req.fs = Must(vol::ParseFilesystem(o.fs), "--fs");
  if (o.size != "0") req.size_bytes = Must(strata::ParseSize(o.size), "--size");
  return req;
}

int RunCreate(const Options& o) {
  Gate gate(o.gate_go, o.gate_done);
  Samples samples(o.samples_path, o.side);
  gate.Wait();  // the warm-up
  auto b = OpenBench(o);
  Step(samples, *b, "first_create",
       [&] { Must(b->manager->Create(Request(o, o.prefix + "0")), "create " + o.prefix + "0"); });
  gate.Done();
  for (int i = 1; i <= o.count; ++i) {
    gate.Wait();
    const std::string name = o.prefix + std::to_string(i);
    Step(samples, *b, "create", [&] { Must(b->manager->Create(Request(o, name)), "create " + name); });
    gate.Done();
  }
  if (o.new_sizes > 0) gate.Wait();
  for (int i = 1; i <= o.new_sizes; ++i) {
    const std::string name = o.prefix + "size" + std::to_string(i);
    vol::CreateRequest req = Request(o, name);
    *req.size_bytes += static_cast<uint64_t>(i) << 26;  // + i x 64 MiB
    Step(samples, *b, "create_new_size", [&] { Must(b->manager->Create(req), "create " + name); });
  }
  if (o.new_sizes > 0) gate.Done();
  samples.Print();
  return 0;
}

int RunPopulate(const Options& o) {
  Samples samples(o.samples_path, o.side);
  auto b = OpenBench(o);
  const size_t have = Must(b->manager->List({}), "list").size();
  char name[64];
  for (size_t i = have; i < static_cast<size_t>(o.count); ++i) {
    std::snprintf(name, sizeof name, "%s%04zu", o.prefix.c_str(), i);
    Step(samples, *b, "populate_create",
         [&] { Must(b->manager->Create(Request(o, name)), std::string("create ") + name); });
  }
  samples.Print();
  return 0;
}

int RunList(const Options& o) {
  Samples samples(o.samples_path, o.side);
  auto b = OpenBench(o);
  size_t listed = Must(b->manager->List({}), "list").size();  // runs recovery: not recorded
  for (int i = 0; i < o.repeat; ++i) {
    Step(samples, *b, "list", [&] { listed = Must(b->manager->List({}), "list").size(); });
  }
  for (int i = 0; i < o.repeat; ++i) {
    auto start = Clock::now();
    auto fresh = OpenBench(o);
    size_t n = Must(fresh->manager->List({}), "list").size();
    samples.Add("open+list", MsSince(start));
    if (n != listed) std::fprintf(stderr, "vol_bench: list gave %zu, then %zu\n", listed, n);
  }
  std::printf("vol_bench: %zu volumes\n", listed);
  samples.Print();
  if (o.expect >= 0 && listed != static_cast<size_t>(o.expect)) {
    std::fprintf(stderr, "vol_bench: listed %zu volumes, expected %d\n", listed, o.expect);
    return 1;
  }
  return 0;
}

// Deletes every thin device left in the pool (the bases) and removes the pool device; its loop
// devices go with it. No pool: nothing to do.
void TeardownPool(Bench& b) {
  thinpool::PoolEnv env{&b.dm, &sys::LinuxLoop(), b.store.get(), b.config.root.value};
  auto pool = thinpool::ThinPool::Open(env, b.pool_config);
  if (!pool.ok() && pool.error().code() == ENOENT) return;
  std::unique_ptr<thinpool::ThinPool> p = Must(std::move(pool), "open pool");
  for (const thinpool::ThinRecord& t : Must(p->List(), "list thin devices")) {
    Must(p->Delete(t.thin_id), "delete thin device " + std::to_string(t.thin_id) + " " + t.name);
  }
  Must(p->Deactivate(), "deactivate pool");
}

int RunRemove(const Options& o) {
  Samples samples(o.samples_path, o.side);
  auto b = OpenBench(o);
  for (const vol::VolumeInfo& info : Must(b->manager->List({}), "list")) {
    const std::string& name = info.record.name;
    Step(samples, *b, "rm", [&] { Must(b->manager->Remove(name, true), "rm " + name); });
  }
  if (!Must(b->manager->List({}), "list").empty()) {
    std::fprintf(stderr, "vol_bench: volumes left after removing all\n");
    return 1;
  }
  b->manager.reset();  // closes the backends' pool handle before the teardown opens its own
  if (o.teardown) TeardownPool(*b);
  samples.Print();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = ParseArgs(argc, argv);
  if (o.command == "create") return RunCreate(o);
  if (o.command == "populate") return RunPopulate(o);
  if (o.command == "list") return RunList(o);
  return RunRemove(o);
}
