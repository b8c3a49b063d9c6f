// The driver conformance fixture, shared by the tiers that instantiate it (host: vfs, overlay;
// vm: devicemapper). The tests are in driver_conformance.cc.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/store.h"
#include "core/sys/mounts.h"
#include "drivers/layer_store.h"
#include "drivers/registry.h"
#include "tests/conformance/conformance_support.h"

namespace strata::drivers::conformance {

using testing::TarBuilder;

// Everything one strata process holds. Children of fork() build their own.
struct Stack {
  std::unique_ptr<Store> store;
  std::unique_ptr<Driver> driver;
  std::unique_ptr<LayerStore> layers;
};

// Store, driver (with the suite's options for it) and LayerStore on `root`.
Result<Stack> OpenStack(const std::string& name, const std::string& root);
// devicemapper: the pool of the test rooted at `root` (one per test: dm names are per host).
std::string PoolNameFor(const std::string& root);
// Removes pool `pool`'s thin devices (by uuid), then the pool device; the loops have autoclear.
void RemovePoolDevices(const std::string& pool);

// The parameter is the driver name.
class DriverConformanceTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    const DriverEntry* entry = FindDriver(GetParam());
    if (entry == nullptr) GTEST_SKIP() << "driver " << GetParam() << " not in the registry yet";
    char tmpl[] = "/var/tmp/strata-conformance-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    Status probe = entry->probe(DriverEnv{root_, &sys::LinuxMounts(), nullptr});
    if (!probe.ok())
      GTEST_SKIP() << GetParam() << " not supported here: " << probe.error().message();
    Result<Stack> stack = OpenStack(GetParam(), root_);
    ASSERT_TRUE(stack.ok()) << stack.error().message();
    stack_ = std::move(stack).value();
  }

  void TearDown() override {
    if (root_.empty()) return;
    stack_ = Stack{};
    testing::DetachMountsUnder(root_);
    if (GetParam() == "devicemapper") RemovePoolDevices(PoolNameFor(root_));
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }

  LayerStore& layers() { return *stack_.layers; }
  Driver& driver() { return *stack_.driver; }

  Result<LayerRecord> Import(const std::string& id, const std::string& parent,
                             const TarBuilder& tar) {
    STRATA_ASSIGN_OR_RETURN(UniqueFd fd, tar.Finish());
    STRATA_ASSIGN_OR_RETURN(ImportResult result, layers().Import(id, parent, fd.Get()));
    return result.layer;
  }

  // Imports or fails the test (returns "" then).
  std::string MustImport(const std::string& id, const std::string& parent, const TarBuilder& tar) {
    auto record = Import(id, parent, tar);
    EXPECT_TRUE(record.ok()) << "import " << id << ": " << record.error().message();
    return record.ok() ? record->id : "";
  }

  std::string MustMount(const std::string& id) {
    auto path = layers().Mount(id);
    EXPECT_TRUE(path.ok()) << "mount " << id << ": " << path.error().message();
    return path.ok() ? *path : "/nonexistent";
  }

  std::vector<std::string> LayerIds() {
    std::vector<std::string> ids;
    auto list = layers().List();
    EXPECT_TRUE(list.ok()) << list.error().message();
    if (list.ok()) {
      for (const LayerRecord& r : *list) ids.push_back(r.id);
    }
    return ids;
  }

  // A base layer most tests build on.
  std::string MakeBase() {
    return MustImport("base", "",
                      TarBuilder()
                          .Dir("etc")
                          .File("etc/keep", "keep\n")
                          .File("etc/mod", "old\n")
                          .File("etc/gone", "gone\n")
                          .File("x", "x\n")
                          .Dir("d")
                          .File("d/old", "old\n")
                          .Dir("opq")
                          .File("opq/old", "old\n"));
  }

  std::string root_;
  Stack stack_;
};

}  // namespace strata::drivers::conformance
