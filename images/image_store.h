// ImageStore: images in the metadata store, their layers in the LayerStore, their layer blobs in
// a content store (<root>/images/blobs/sha256/<hex>, kept so `image save` writes the very bytes
// that were loaded and the image keeps its id).
//
// - An image is identified by its config digest (docker's image id). Its layers are read-only
//   layers whose ids are the hex of their chain ids (image-spec config.md: ChainID(L0) =
//   DiffID(L0), ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))), so two images with the
//   same base share it: a layer already present is never applied again.
// - Load streams each new layer blob once: sha256 and size of the blob (against the manifest),
//   sha256 of the uncompressed tar (against the config's diff id), a copy into the content
//   store, and the apply into a fresh layer all happen in that one pass; a mismatch removes the
//   layer, and the whole load of an image is all-or-nothing.
// - Layers made by loads are recorded (image_owned_layers) before they are made. Whatever no
//   image references (an interrupted load, an interrupted rm) is removed by the next Open that
//   gets the images lock, with the content-store blobs no image needs.
// - Loads and removals take <root>/locks/images.lock, so they run one at a time; reads do not.
//
// Thread-safety: one thread per ImageStore; processes are serialised by the lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/store.h"
#include "drivers/layer_store.h"
#include "images/oci.h"

namespace strata::images {

struct SourceImage;  // images/source.h
struct SourceLayer;

struct ImageLayer {
  std::string layer;        // the LayerStore id: hex of chain_id
  std::string chain_id;     // "sha256:<hex>"
  std::string diff_id;      // "sha256:<hex>" of the uncompressed tar
  std::string blob_digest;  // "sha256:<hex>" of the blob as stored (maybe compressed)
  std::string media_type;   // the blob's media type
  int64_t blob_size = 0;
  int64_t diff_size = 0;  // uncompressed bytes
};

struct ImageRecord {
  std::string id;                  // "sha256:<hex>" of the config blob
  std::vector<std::string> names;  // "repository:tag", sorted; empty for an untagged image
  std::string manifest_digest;
  std::string manifest_media_type;
  std::string manifest_json;  // as loaded (OCI) or as written by strata (docker archives)
  std::string config_json;    // the config blob's bytes
  std::string source;         // "oci-layout" or "docker-archive"
  int64_t size_bytes = 0;     // uncompressed size of all layers
  int64_t created_unix = 0;   // when it was loaded
  std::vector<ImageLayer> layers;  // base first

  // The layer a container is made on: the last layer's id, "" for an image without layers.
  std::string top_layer() const { return layers.empty() ? "" : layers.back().layer; }
  // The parsed config: entrypoint, cmd, env, working dir, user, labels.
  Result<ImageConfig> Config() const;
  // The first name, or the id's first 12 hex digits.
  std::string DisplayName() const;
};

// Chain ids of a diff id list (base first).
Result<std::vector<std::string>> ChainIds(const std::vector<std::string>& diff_ids);

// Advanced by Load while it works, read by a progress printer on another thread.
struct LoadProgress {
  std::atomic<uint64_t> bytes_done{0};   // blob bytes read (applied or shared-but-copied)
  std::atomic<uint64_t> bytes_total{0};  // set once the source is open
  std::atomic<int> layers_done{0};
  std::atomic<int> layers_total{0};
};

struct LoadOptions {
  // Names bare OCI ref.name tags ("latest") as REPOSITORY:tag. Empty: such images load untagged.
  std::string repository;
  Platform platform = HostPlatform();
  LoadProgress* progress = nullptr;
};

struct LoadedImage {
  ImageRecord image;
  int applied = 0;              // layers applied by this load
  int shared = 0;               // layers already present
  int64_t applied_bytes = 0;    // uncompressed bytes applied
  std::vector<std::string> untagged;  // bare ref names left unnamed (no LoadOptions::repository)
};

struct RemoveResult {
  std::vector<std::string> untagged;        // names removed
  std::string deleted;                      // image id, when the image itself went
  std::vector<std::string> deleted_layers;  // layer ids removed with it
};

enum class SaveFormat { kDirectory, kTar };

class ImageStore {
 public:
  // `store` and `layers` must outlive the ImageStore. Creates <root>/images and, when no other
  // process holds the images lock, cleans up after interrupted loads and removals.
  static Result<std::unique_ptr<ImageStore>> Open(Store& store, drivers::LayerStore& layers);
  ~ImageStore();

  // Loads every image in `path` (an OCI layout directory or tar, or a docker-save archive).
  // All or nothing per image: on error the images loaded before it stay, nothing of it does.
  Result<std::vector<LoadedImage>> Load(const std::string& path, const LoadOptions& options);

  // Sorted by name (untagged images last, by id).
  Result<std::vector<ImageRecord>> List();
  // By name ("busybox" = "busybox:latest"), id ("sha256:<hex>"), or unique id prefix.
  // ENOENT with a did-you-mean; EINVAL for an ambiguous prefix or a malformed name.
  Result<ImageRecord> Get(std::string_view ref);
  // Adds NEW_NAME to the image `ref` names; a name another image had moves to this one.
  Result<ImageRecord> Tag(std::string_view ref, std::string_view new_name);
  // By name: removes that name, and the image with its last name. By id: removes the image;
  // EBUSY when it has several names, unless `force`. EBUSY (naming the layer and what uses it)
  // when a layer only this image has is mounted or has a child layer (a container's layer, or
  // one made with `layer create --parent`). ENOENT for an unknown ref.
  Result<RemoveResult> Remove(std::string_view ref, bool force);
  // Writes the images as one OCI image layout (index.json entry per name, or one per untagged
  // image) to `path`, which must not exist. Written to a temporary name and renamed into place.
  Status Save(const std::vector<std::string>& refs, const std::string& path, SaveFormat format);

  // Layer id -> display names of the images that use it.
  Result<std::map<std::string, std::vector<std::string>>> LayerUsers();

  // Consulted before an image itself is removed (not when only a name goes); an error refuses
  // the removal. The container store uses it to keep images that containers run on.
  using RemoveGuard = std::function<Status(const ImageRecord& image)>;
  void set_remove_guard(RemoveGuard guard) { remove_guard_ = std::move(guard); }

  // A LayerStore::RemoveGuard that refuses to remove a layer an image uses.
  static drivers::LayerStore::RemoveGuard LayerGuard(Store& store);

  const std::string& dir() const { return dir_; }

 private:
  struct PendingImage;
  ImageStore(Store& store, drivers::LayerStore& layers, std::string dir);
  Result<PendingImage> PrepareImage(const SourceImage& image, const std::string& format,
                                    const LoadOptions& options);
  Result<ImageLayer> ShareLayer(const SourceLayer& layer, const ImageLayer& want,
                                const std::string& what, LoadProgress* progress);
  Result<ImageLayer> ApplyLayer(const SourceLayer& layer, const std::string& parent,
                                ImageLayer out, const std::string& what, LoadProgress* progress);
  void RollBackCreated();
  Status RemoveImage(const ImageRecord& image, RemoveResult& result);
  Status Recover();
  Status RemoveUnusedBlobs();

  Store& store_;
  drivers::LayerStore& layers_;
  std::string dir_;  // <root>/images
  std::vector<std::string> created_;  // layers the load in progress made, oldest first
  RemoveGuard remove_guard_;
};

}  // namespace strata::images
