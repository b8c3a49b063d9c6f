// strata's side of the device-mapper benchmarks (issue 3), through the ThinPool API against the
// real kernel (run it in the VM; bench/dm.sh runs it beside its dmsetup and lvm2 peers):
//   cycle  --cycles N times: Snapshot(origin) -> Activate -> mount ext4 (the /dev/mapper node
//          strata made) -> umount -> Deactivate -> Delete, each step timed. The origin is a thin
//          device formatted once with ext4 and left inactive (as docker's base device), so
//          Snapshot sends create_snap without suspending it; --origin-active keeps it active,
//          and Snapshot then suspends and resumes it around create_snap.
//   many   --devices N: CreateThin x N, List, Delete x N, each call timed.
// The pool is a loop-file pool under ROOT with a file-backed SQLite store at ROOT/strata.db.
// Every dm ioctl goes through a timing wrapper of the seam, so the report splits each step into
// kernel (ioctl) time and the rest (store, logic).
//
// Output: a summary table on stdout; raw samples ("strata <op> <ms>" lines) appended to
// --samples FILE for bench/dm.sh. Exit 1 on any failed operation.
// Usage: strata_dm_bench [--cycles N] [--devices N] [--data-size S] [--metadata-size S]
//                        [--origin-size S] [--low-water-mark BLOCKS] [--samples FILE]
//                        [--origin-active] [--gate GO_FIFO DONE_FIFO] ROOT
//        (ROOT must not exist; needs root)
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/store.h"
#include "core/sys/device_mapper.h"
#include "core/sys/loop.h"
#include "core/sys/mounts.h"
#include "thinpool/pool.h"
#include "thinpool/pool_config.h"

namespace {

using Clock = std::chrono::steady_clock;
using strata::Result;
using strata::Status;
namespace sys = strata::sys;
namespace tp = strata::thinpool;

double MsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

[[noreturn]] void Die(const std::string& what, const strata::Error& e) {
  std::fprintf(stderr, "dm_bench: %s: %s\n", what.c_str(), e.message().c_str());
  std::exit(1);
}

template <class R>
auto Must(R&& r, const std::string& what) {
  if (!r.ok()) Die(what, std::move(r).error());
  if constexpr (!std::is_same_v<std::decay_t<R>, Status>) return std::move(r).value();
}

// The seam, forwarded to the real implementation, with the time and count of each call kind.
class TimingDeviceMapper : public sys::DeviceMapper {
 public:
  explicit TimingDeviceMapper(sys::DeviceMapper& real) : real_(real) {}
  struct Calls {
    int count = 0;
    double ms = 0;
  };
  // Calls since the last Take(), by kind; resets the tally.
  std::map<std::string, Calls> Take() { return std::exchange(calls_, {}); }

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
  template <class F>
  auto Timed(const std::string& kind, F&& f) -> decltype(f()) {
    auto start = Clock::now();
    auto result = f();
    Calls& c = calls_[kind];
    ++c.count;
    c.ms += MsSince(start);
    return result;
  }
  sys::DeviceMapper& real_;
  std::map<std::string, Calls> calls_;
};

struct Options {
  int cycles = 100;
  int devices = 1000;
  std::string data_size = "2G", metadata_size = "64M", origin_size = "256M";
  uint64_t low_water_mark_blocks = 1024;
  std::string samples_path;
  bool origin_active = false;
  std::string gate_go, gate_done;
  std::string root;
};

Options ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "dm_bench: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--cycles") o.cycles = std::atoi(next().c_str());
    else if (a == "--devices") o.devices = std::atoi(next().c_str());
    else if (a == "--data-size") o.data_size = next();
    else if (a == "--metadata-size") o.metadata_size = next();
    else if (a == "--origin-size") o.origin_size = next();
    else if (a == "--low-water-mark") o.low_water_mark_blocks = std::stoull(next());
    else if (a == "--samples") o.samples_path = next();
    else if (a == "--origin-active") o.origin_active = true;
    else if (a == "--gate") o.gate_go = next(), o.gate_done = next();
    else if (!a.empty() && a[0] != '-' && o.root.empty()) o.root = a;
    else {
      std::fprintf(stderr, "usage: %s [--cycles N] [--devices N] [--data-size S] "
                   "[--metadata-size S] [--origin-size S] [--low-water-mark BLOCKS] "
                   "[--samples FILE] [--origin-active] [--gate GO DONE] ROOT\n", argv[0]);
      std::exit(2);
    }
  }
  if (o.root.empty()) ParseArgs(0, argv);  // prints the usage
  return o;
}

uint64_t SizeBytes(const std::string& text) {
  static const std::map<char, uint64_t> kUnits = {{'K', 1ull << 10}, {'M', 1ull << 20},
                                                  {'G', 1ull << 30}};
  auto unit = kUnits.find(text.empty() ? '\0' : text.back());
  return std::stoull(text) * (unit == kUnits.end() ? 1 : unit->second);
}

// Samples by operation, in first-seen order; also written to the samples file.
class Samples {
 public:
  explicit Samples(const std::string& path) {
    if (!path.empty()) out_.open(path, std::ios::app);
  }
  void Add(const std::string& op, double ms) {
    auto it = std::find_if(ops_.begin(), ops_.end(), [&](auto& p) { return p.first == op; });
    if (it == ops_.end()) it = ops_.insert(ops_.end(), {op, {}});
    it->second.push_back(ms);
    if (out_) out_ << "strata " << op << " " << ms << "\n";
  }
  // Median (mean of the middle two for even n), p90 by nearest rank, total; as bench/dm_lib.sh.
  void Print() const {
    std::printf("%-36s %6s %10s %10s %10s\n", "strata op", "n", "median_ms", "p90_ms",
                "total_ms");
    for (auto [op, v] : ops_) {
      std::sort(v.begin(), v.end());
      size_t n = v.size();
      double median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
      double p90 = v[static_cast<size_t>(std::ceil(0.9 * n)) - 1];
      double total = 0;
      for (double x : v) total += x;
      std::printf("%-36s %6zu %10.3f %10.3f %10.1f\n", op.c_str(), n, median, p90, total);
    }
  }

 private:
  std::vector<std::pair<std::string, std::vector<double>>> ops_;
  std::ofstream out_;
};

// Runs `f` as operation `op`: its wall time, its ioctl time as "<op>.ioctl" and that split by
// call kind as "<op>.ioctl.<kind>". The first time, prints which ioctls the operation made
// (stderr). The wall time minus the ioctl time is the store and the logic around them.
template <class F>
void Step(Samples& s, TimingDeviceMapper& dm, const std::string& op, F&& f) {
  static std::map<std::string, bool> described;
  (void)dm.Take();
  auto start = Clock::now();
  f();
  s.Add(op, MsSince(start));
  double ioctl_ms = 0;
  std::string calls;
  for (const auto& [kind, c] : dm.Take()) {
    ioctl_ms += c.ms;
    calls += " " + kind + "x" + std::to_string(c.count);
    s.Add(op + ".ioctl." + kind, c.ms);
  }
  s.Add(op + ".ioctl", ioctl_ms);
  if (!std::exchange(described[op], true)) {
    std::fprintf(stderr, "dm_bench: %s ioctls:%s\n", op.c_str(), calls.c_str());
  }
}

int Run(const std::vector<std::string>& argv) {
  std::string cmd;
  for (const auto& a : argv) cmd += "'" + a + "' ";
  return std::system(cmd.c_str());
}

// Optional lock-step with bench/dm.sh (--gate GO DONE, two FIFOs): each phase (setup, every
// cycle, the many-devices run, teardown) starts when the driver writes a byte to GO and reports
// its end with a byte to DONE, so the driver can interleave the sides cycle by cycle and none
// runs while another is measured. Without --gate every call is a no-op.
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
    std::fprintf(stderr, "dm_bench: gate: %s\n", what.c_str());
    std::exit(1);
  }
  std::FILE* go_ = nullptr;  // owned for the life of the process
  std::FILE* done_ = nullptr;
};

// The origin: a thin device with ext4, left inactive unless --origin-active.
uint32_t MakeOrigin(const Options& o, tp::ThinPool& pool) {
  uint32_t origin = Must(pool.CreateThin(SizeBytes(o.origin_size) / 512, "origin"), "origin");
  Must(pool.Activate(origin), "activate origin");
  const std::string origin_node = std::string(sys::kDmNodeDir) + "/" + tp::ThinDmName(pool.name(), origin);
  // The same mkfs options on every side (bench/dm_lib.sh): no lazy init, so no mount of a
  // snapshot starts a background inode-table zeroing thread.
  if (Run({"mkfs.ext4", "-q", "-F", "-E", "nodiscard,lazy_itable_init=0,lazy_journal_init=0",
           origin_node}) != 0) {
    std::fprintf(stderr, "dm_bench: mkfs.ext4 %s failed\n", origin_node.c_str());
    std::exit(1);
  }
  if (!o.origin_active) Must(pool.Deactivate(origin), "deactivate origin");
  return origin;
}

// One snapshot cycle of `origin`, mounted at `mnt`.
void Cycle(tp::ThinPool& pool, TimingDeviceMapper& dm, Samples& out, uint32_t origin,
           const std::string& mnt) {
  sys::Mounts& mounts = sys::LinuxMounts();
  auto start = Clock::now();
  uint32_t snap = 0;
  Step(out, dm, "snapshot", [&] { snap = Must(pool.Snapshot(origin), "snapshot"); });
  Step(out, dm, "activate", [&] { Must(pool.Activate(snap), "activate"); });
  const std::string node = std::string(sys::kDmNodeDir) + "/" + tp::ThinDmName(pool.name(), snap);
  Step(out, dm, "mount", [&] { Must(mounts.Mount(node, mnt, "ext4", 0, ""), "mount"); });
  Step(out, dm, "umount", [&] { Must(mounts.Unmount(mnt, 0), "umount"); });
  Step(out, dm, "deactivate", [&] { Must(pool.Deactivate(snap), "deactivate"); });
  Step(out, dm, "delete", [&] { Must(pool.Delete(snap), "delete"); });
  out.Add("cycle", MsSince(start));
}

void Many(const Options& o, tp::ThinPool& pool, TimingDeviceMapper& dm, Samples& s) {
  std::vector<uint32_t> ids;
  for (int i = 0; i < o.devices; ++i) {
    Step(s, dm, "create_thin", [&] {
      ids.push_back(Must(pool.CreateThin(SizeBytes(o.origin_size) / 512), "create thin"));
    });
  }
  size_t listed = 0;
  Step(s, dm, "list", [&] { listed = Must(pool.List(), "list").size(); });
  if (listed != ids.size() + 1) {  // and the origin
    std::fprintf(stderr, "dm_bench: List gave %zu devices, expected %zu\n", listed,
                 ids.size() + 1);
    std::exit(1);
  }
  for (uint32_t id : ids) Step(s, dm, "delete_thin", [&] { Must(pool.Delete(id), "delete"); });
  if (Must(pool.List(), "list").size() != 1) {
    std::fprintf(stderr, "dm_bench: devices left after deleting all\n");
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = ParseArgs(argc, argv);
  Gate gate(o.gate_go, o.gate_done);
  gate.Wait();  // setup
  if (::mkdir(o.root.c_str(), 0700) != 0) {
    std::perror(("dm_bench: mkdir " + o.root).c_str());
    return 1;
  }
  auto store = Must(strata::Store::Open(o.root + "/strata.db"), "open store");
  TimingDeviceMapper dm(sys::LinuxDeviceMapper());
  tp::PoolEnv env{&dm, &sys::LinuxLoop(), store.get(), o.root};
  nlohmann::json options = {{"data-size", o.data_size},
                            {"metadata-size", o.metadata_size},
                            {"block-size", "64K"},
                            {"low-water-mark", o.low_water_mark_blocks},
                            {"pool-name", "strata-bench-pool"}};
  auto config = Must(tp::ParsePoolConfig(options), "pool config");
  auto pool = Must(tp::ThinPool::Create(env, config), "create pool");
  for (const sys::DmTarget& t : Must(dm.Table(pool->name()), "pool table")) {
    std::fprintf(stderr, "dm_bench: pool table: %lu %lu %s %s\n",
                 static_cast<unsigned long>(t.start_sectors),
                 static_cast<unsigned long>(t.length_sectors), t.type.c_str(), t.params.c_str());
  }
  const uint32_t origin = MakeOrigin(o, *pool);
  const std::string mnt = o.root + "/mnt";
  ::mkdir(mnt.c_str(), 0755);
  gate.Done();

  Samples samples(o.samples_path), warmup("");
  for (int i = -1; i < o.cycles; ++i) {  // cycle -1 warms up and is not recorded
    gate.Wait();
    Cycle(*pool, dm, i < 0 ? warmup : samples, origin, mnt);
    gate.Done();
  }
  if (o.devices > 0) {
    gate.Wait();
    Many(o, *pool, dm, samples);
    gate.Done();
  }
  gate.Wait();  // teardown
  Must(pool->Delete(origin), "delete origin");
  samples.Print();
  std::fflush(stdout);
  Must(pool->Deactivate(), "deactivate pool");
  gate.Done();
  return 0;
}
