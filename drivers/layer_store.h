// LayerStore: layer records and mount references in the metadata store, on top of one Driver.
//
// - Records: id, parent, kind, driver, created time, state. Creation is two-phase (a 'creating'
//   record, the driver step, then 'ready'), so a crash leaves a record that Open() rolls back.
// - Mount references are counted in the store, survive process exit, and are reconciled against
//   /proc/self/mountinfo: a count whose mount is gone (reboot, manual umount) is reset.
// - Operations on one id are serialised across processes with a per-id lock file.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/store.h"
#include "drivers/driver.h"

namespace strata::drivers {

struct LayerRecord {
  std::string id;
  std::string parent;  // empty for a base layer
  LayerKind kind = LayerKind::kReadOnly;
  std::string driver;
  int64_t created_unix = 0;
  int mount_count = 0;
  std::vector<std::string> children;  // filled by Get/List
};

struct ImportResult {
  LayerRecord layer;
  archive::ApplyStats stats;
};

class LayerStore {
 public:
  // `store` and `driver` must outlive the LayerStore. Reconciles half-made layers on open.
  static Result<std::unique_ptr<LayerStore>> Open(Store& store, Driver& driver);

  // Creates a layer. `id` empty: a random 64-hex id. ENOENT: parent unknown; EEXIST: id taken;
  // EINVAL: bad id.
  Result<LayerRecord> Create(const std::string& id, const std::string& parent, LayerKind kind,
                             const CreateOptions& options);
  // Creates a read-only layer on `parent` and applies the tar from `in_fd`. All or nothing.
  Result<ImportResult> Import(const std::string& id, const std::string& parent, int in_fd);
  Result<archive::ExportStats> Export(const std::string& id, int out_fd,
                                      archive::Compression compression);
  Result<std::vector<archive::Change>> Changes(const std::string& id);
  Result<uint64_t> DiffSize(const std::string& id);

  // Mount takes one reference and returns the root path; Unmount drops one (at zero the driver
  // unmounts). Unmount of an unmounted layer is success.
  Result<std::string> Mount(const std::string& id);
  Status Unmount(const std::string& id);

  // Removes a layer. EBUSY when mounted (names the references and path) or when it is a parent
  // (names the children). Idempotent: an unknown id is success.
  Status Remove(const std::string& id);

  // Looks up by full id or unique prefix. ENOENT: none; EINVAL: ambiguous prefix.
  Result<LayerRecord> Get(const std::string& id_or_prefix);
  Result<std::vector<LayerRecord>> List();
  // Parent chain of `id`, nearest first, `id` itself first.
  Result<std::vector<std::string>> Chain(const std::string& id);

  Driver& driver() { return driver_; }

 private:
  LayerStore(Store& store, Driver& driver) : store_(store), driver_(driver) {}
  Store& store_;
  Driver& driver_;
};

}  // namespace strata::drivers
