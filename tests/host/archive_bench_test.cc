// Apply/export timings against GNU tar on a 20,000-file layer. Disabled: benchmarks never decide
// pass/fail. Run with
//   strata_host_tests --gtest_also_run_disabled_tests --gtest_filter='ArchiveBench.*'
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <random>

#include "drivers/archive/archive.h"
#include "tests/archive_test_util.h"

namespace strata::drivers::archive {
namespace {

using test_util::Shell;
using test_util::TempDir;

// 200 directories of 100 files, 0-4 KiB each: the shape of a distro base layer.
void BuildTree(const std::string& root) {
  std::mt19937 rng(42);
  std::string buf(4096, 'x');
  for (int d = 0; d < 200; ++d) {
    std::string dir = root + "/d" + std::to_string(d);
    ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
    for (int f = 0; f < 100; ++f) {
      std::string path = dir + "/file" + std::to_string(f);
      UniqueFd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
      size_t size = rng() % 4097;
      ASSERT_EQ(write(fd.Get(), buf.data(), size), static_cast<ssize_t>(size));
    }
  }
}

double Seconds(const std::function<void()>& run) {
  auto start = std::chrono::steady_clock::now();
  run();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string Summary(std::vector<double> times) {
  std::sort(times.begin(), times.end());
  char out[64];
  std::snprintf(out, sizeof(out), "min %.3fs median %.3fs", times.front(), times[times.size() / 2]);
  return out;
}

constexpr int kRuns = 7;

TEST(ArchiveBench, DISABLED_ApplyAndExportVsGnuTar) {
  TempDir work;
  std::string src = work / "src";
  ASSERT_EQ(mkdir(src.c_str(), 0755), 0);
  BuildTree(src);
  std::string tar = work / "layer.tar";
  Shell("tar -C " + src + " -cf " + tar + " .");
  std::string out = work / "out";
  std::vector<double> gnu_x, ours_x, gnu_c, ours_c;
  for (int i = 0; i < kRuns; ++i) {
    Shell("rm -rf " + out + " && mkdir " + out + " && sync");
    gnu_x.push_back(Seconds([&] { Shell("tar -xpf " + tar + " -C " + out); }));
    Shell("rm -rf " + out + " && mkdir " + out + " && sync");
    ours_x.push_back(Seconds([&] {
      UniqueFd in(open(tar.c_str(), O_RDONLY | O_CLOEXEC));
      ASSERT_TRUE(ApplyLayerTar(in.Get(), out, WhiteoutFormat::kOverlay).ok());
    }));
    gnu_c.push_back(Seconds([&] { Shell("tar -C " + src + " -cf " + work.path() + "/g.tar ."); }));
    ours_c.push_back(Seconds([&] {
      UniqueFd fd(open((work / "o.tar").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
      ASSERT_TRUE(ExportTree(src, WhiteoutFormat::kOverlay, fd.Get(), Compression::kNone).ok());
    }));
  }
  std::printf("apply 20000 files:  GNU tar -x %s | ApplyLayerTar %s\n", Summary(gnu_x).c_str(),
              Summary(ours_x).c_str());
  std::printf("export 20000 files: GNU tar -c %s | ExportTree    %s\n", Summary(gnu_c).c_str(),
              Summary(ours_c).c_str());
}

}  // namespace
}  // namespace strata::drivers::archive
