// Internal to images/: the image tables (core/store.cc step 5) read and written as ImageRecords,
// and the content store's paths. Callers hold the images lock for writes that must not race a
// load or a removal.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/file_lock.h"
#include "core/result.h"
#include "core/store.h"
#include "images/image_store.h"

namespace strata::images::rows {

// The whole record of `id` ("sha256:<hex>"), or nullopt.
Result<std::optional<ImageRecord>> Read(Store& store, const std::string& id);
// Every image id.
Result<std::vector<std::string>> Ids(Store& store);
// The image id a name points at, or "".
Result<std::string> IdForName(Store& store, const std::string& name);
// Inserts the images row and its image_layers rows (not the names).
Status Insert(Store& store, const ImageRecord& image);
// Points `name` at `id` (moving it from another image if it had it).
Status SetName(Store& store, const std::string& name, const std::string& id);
Status DeleteName(Store& store, const std::string& name);
// Deletes the image, its names and its layer rows (the layers themselves stay owned).
Status Delete(Store& store, const std::string& id);
// A known layer's record from any image that has it (blob and sizes), or nullopt.
Result<std::optional<ImageLayer>> FindLayer(Store& store, const std::string& layer_id);
// Whether some image's layer rows name this blob.
Result<bool> BlobUsed(Store& store, const std::string& digest);

Status AddOwnedLayer(Store& store, const std::string& layer_id);
Status DeleteOwnedLayer(Store& store, const std::string& layer_id);
// Owned layers no image references, leaves (no owned child) first.
Result<std::vector<std::string>> UnusedOwnedLayers(Store& store);

// <dir>/blobs/sha256/<hex>
std::string BlobPath(const std::string& images_dir, std::string_view digest);
// <dir>/tmp: partial blobs, staging of tar sources, and save output before its rename.
std::string TmpDir(const std::string& images_dir);

// <root>/locks/images.lock: serialises loads and removals.
Result<FileLock> LockImages(Store& store, FileLock::Wait wait);

}  // namespace strata::images::rows
