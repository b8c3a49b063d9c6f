// FakeMounts: an in-memory sys::Mounts for unit tests. Records every call, keeps a simulated mount
// table (so MountInfo reflects what was mounted), and fails on demand:
//   FakeMounts mounts;
//   mounts.FailNext("mount_new", EBUSY);
//   EXPECT_EQ(driver.Mount(...).error().code(), EBUSY);
//   EXPECT_THAT(mounts.calls(), ElementsAre("mount_new overlay /t"));
// Not thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "core/sys/mounts.h"

namespace strata {

class FakeMounts : public sys::Mounts {
 public:
  // Full arguments of one mount call, for assertions beyond calls().
  struct MountCall {
    std::string op;  // "mount_new" or "mount"
    std::string fs_type;
    std::string source;  // Mount: the source; MountNewApi: the "source" param or fs_type
    std::string target;
    unsigned long flags = 0;           // Mount only
    std::string data;                  // Mount only
    uint64_t mount_attrs = 0;          // MountNewApi only
    std::vector<sys::FsParam> params;  // MountNewApi only
  };

  // The next call of `op` fails with `code` instead of acting; queued per op, each used once.
  // ops: "mount_new", "mount", "umount", "mountinfo".
  void FailNext(const std::string& op, int code) { failures_[op].push_back(code); }

  // One string per call, including failed ones, in order:
  //   "mount_new <fs_type> <target>", "mount <fs_type|none> <target>", "umount <target>".
  // MountInfo calls are not recorded.
  const std::vector<std::string>& calls() const { return calls_; }
  const std::vector<MountCall>& mount_calls() const { return mount_calls_; }
  void ClearCalls() {
    calls_.clear();
    mount_calls_.clear();
  }

  // The simulated table, oldest first. Tests may seed it (e.g. a pre-existing mount).
  const std::vector<sys::MountEntry>& table() const { return table_; }
  void AddEntry(sys::MountEntry entry);
  bool IsMounted(const std::string& target) const;

  Status MountNewApi(const std::string& fs_type, const std::vector<sys::FsParam>& params,
                     uint64_t mount_attrs, const std::string& target) override;
  Status Mount(const std::string& source, const std::string& target, const std::string& fs_type,
               unsigned long flags, const std::string& data) override;
  // Removes the topmost mount on `target`; EINVAL when nothing is mounted there (as umount2).
  Status Unmount(const std::string& target, int flags) override;
  Result<std::vector<sys::MountEntry>> MountInfo() override;

 private:
  // Pops a queued failure for `op`: returns its errno, or 0 when none is queued.
  int TakeFailure(const std::string& op);
  void Push(const std::string& fs_type, const std::string& source, const std::string& target,
            std::string options);

  std::map<std::string, std::deque<int>> failures_;
  std::vector<std::string> calls_;
  std::vector<MountCall> mount_calls_;
  std::vector<sys::MountEntry> table_;
  int next_mount_id_ = 100;
};

}  // namespace strata
