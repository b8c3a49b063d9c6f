// The volume catalog: the `volumes` and `volume_attachments` tables of the store (schema step 4).
//
// Rows carry a state (volume.h VolumeState); the manager changes it with one durable transaction
// per step, so a crash leaves a row that says what was in flight. Queries here only read and
// write rows: locking and recovery are the manager's.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/store.h"
#include "volumes/volume.h"

namespace strata::volumes {

class Catalog {
 public:
  explicit Catalog(Store& store) : store_(&store) {}

  // Adds a row. EEXIST "volume "x" already exists" when the name is taken (in any state).
  Status Insert(const VolumeRecord& volume);
  // Rewrites every column of the row named volume.name. ENOENT when there is none.
  Status Update(const VolumeRecord& volume);
  // Deletes the row and its attachments. Absent: Ok.
  Status Delete(const std::string& name);

  Result<std::optional<VolumeRecord>> Find(const std::string& name);
  // Every row, by name; `state` limits to one state.
  Result<std::vector<VolumeRecord>> List(std::optional<VolumeState> state = std::nullopt);
  // Rows not in kReady state (operations in flight or interrupted).
  Result<std::vector<VolumeRecord>> Unsettled();
  // Names of all rows, for did-you-mean.
  Result<std::vector<std::string>> Names();

  // Attachments of one volume, or of all volumes (volume == nullopt), by volume then target.
  Result<std::vector<Attachment>> Attachments(std::optional<std::string> volume = std::nullopt);
  Result<std::optional<Attachment>> AttachmentAt(const std::string& target);
  // EEXIST when the target already has an attachment.
  Status AddAttachment(const Attachment& attachment);
  // Absent: Ok.
  Status RemoveAttachment(const std::string& volume, const std::string& target);

 private:
  Store* store_;
};

}  // namespace strata::volumes
