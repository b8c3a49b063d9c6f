// ImageStore, part 1: opening, recovery, lookup, names and removal. Loading is in
// image_load.cc, saving in image_save.cc.
#include "images/image_store.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <set>

#include "core/digest.h"
#include "core/failpoint.h"
#include <spdlog/spdlog.h>
#include "core/strings.h"
#include "images/image_rows.h"
#include "images/reference.h"

namespace strata::images {
namespace {

Status MakeDirs(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return Error(ec.value(), "create " + path + ": " + ec.message());
  ::chmod(path.c_str(), 0700);
  return Ok();
}

std::string ShortId(std::string_view id) {
  if (id.rfind("sha256:", 0) == 0) id.remove_prefix(7);
  return std::string(id.substr(0, 12));
}

}  // namespace

Result<ImageConfig> ImageRecord::Config() const {
  return ParseImageConfig(config_json, "image " + ShortId(id) + " config");
}

std::string ImageRecord::DisplayName() const {
  return names.empty() ? ShortId(id) : names.front();
}

Result<std::vector<std::string>> ChainIds(const std::vector<std::string>& diff_ids) {
  std::vector<std::string> chain;
  chain.reserve(diff_ids.size());
  for (const std::string& diff_id : diff_ids) {
    STRATA_TRY(CheckDigest(diff_id));
    if (chain.empty()) {
      chain.push_back(diff_id);
      continue;
    }
    Sha256 sha;
    std::string text = chain.back() + " " + diff_id;
    sha.Update(text.data(), text.size());
    STRATA_ASSIGN_OR_RETURN(std::string next, sha.Final());
    chain.push_back(std::move(next));
  }
  return chain;
}

ImageStore::ImageStore(Store& store, drivers::LayerStore& layers, std::string dir)
    : store_(store), layers_(layers), dir_(std::move(dir)) {}

ImageStore::~ImageStore() = default;

Result<std::unique_ptr<ImageStore>> ImageStore::Open(Store& store, drivers::LayerStore& layers) {
  std::string dir = store.Dir() + "/images";
  STRATA_TRY(MakeDirs(dir + "/blobs/sha256"));
  STRATA_TRY(MakeDirs(rows::TmpDir(dir)));
  std::unique_ptr<ImageStore> images(new ImageStore(store, layers, std::move(dir)));
  layers.set_remove_guard("images", LayerGuard(store));
  Status recovered = images->Recover();
  if (!recovered.ok()) {
    spdlog::warn("image store: cleanup after an interrupted load or removal failed: {}",
              recovered.error().message());
  }
  return images;
}

// With the images lock free, nothing is loading or removing: an owned layer no image uses, a
// blob no image names, and anything in tmp/ are leftovers of a process that died.
Status ImageStore::Recover() {
  Result<FileLock> lock = rows::LockImages(store_, FileLock::Wait::kTry);
  if (!lock.ok()) return lock.error().code() == EWOULDBLOCK ? Ok() : lock.error();
  STRATA_ASSIGN_OR_RETURN(std::vector<std::string> unused, rows::UnusedOwnedLayers(store_));
  for (const std::string& layer : unused) {
    Status removed = layers_.Remove(layer);
    if (!removed.ok()) {
      spdlog::warn("image store: leftover layer {}: {}", layer, removed.error().message());
      continue;
    }
    STRATA_TRY(rows::DeleteOwnedLayer(store_, layer));
  }
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(rows::TmpDir(dir_), ec)) {
    std::filesystem::remove_all(entry.path(), ec);
  }
  return RemoveUnusedBlobs();
}

Status ImageStore::RemoveUnusedBlobs() {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir_ + "/blobs/sha256", ec)) {
    std::string digest = "sha256:" + entry.path().filename().string();
    STRATA_ASSIGN_OR_RETURN(bool used, rows::BlobUsed(store_, digest));
    if (!used && ::unlink(entry.path().c_str()) != 0 && errno != ENOENT) {
      return Error(errno, "remove blob " + entry.path().string());
    }
  }
  if (ec) return Error(ec.value(), "list " + dir_ + "/blobs/sha256: " + ec.message());
  return Ok();
}

Result<std::vector<ImageRecord>> ImageStore::List() {
  STRATA_ASSIGN_OR_RETURN(std::vector<std::string> ids, rows::Ids(store_));
  std::vector<ImageRecord> images;
  for (const std::string& id : ids) {
    STRATA_ASSIGN_OR_RETURN(std::optional<ImageRecord> image, rows::Read(store_, id));
    if (image) images.push_back(std::move(*image));
  }
  std::sort(images.begin(), images.end(), [](const ImageRecord& a, const ImageRecord& b) {
    if (a.names.empty() != b.names.empty()) return b.names.empty();
    if (!a.names.empty() && a.names.front() != b.names.front()) {
      return a.names.front() < b.names.front();
    }
    return a.id < b.id;
  });
  return images;
}

Result<ImageRecord> ImageStore::Get(std::string_view ref) {
  Result<ImageName> name = ParseImageName(ref);
  if (name.ok()) {
    STRATA_ASSIGN_OR_RETURN(std::string id, rows::IdForName(store_, name->ToString()));
    if (!id.empty()) {
      STRATA_ASSIGN_OR_RETURN(std::optional<ImageRecord> image, rows::Read(store_, id));
      if (image) return std::move(*image);
    }
  }
  if (LooksLikeImageId(ref)) {
    std::string_view hex = ref;
    if (hex.rfind("sha256:", 0) == 0) hex.remove_prefix(7);
    STRATA_ASSIGN_OR_RETURN(std::vector<std::string> ids, rows::Ids(store_));
    std::vector<std::string> matches;
    for (const std::string& id : ids) {
      if (std::string_view(id).substr(7).rfind(hex, 0) == 0) matches.push_back(id);
    }
    if (matches.size() > 1) {
      return Error(EINVAL, "image \"" + std::string(ref) + "\": ambiguous id prefix, matches " +
                               Join(matches, ", "));
    }
    if (matches.size() == 1) {
      STRATA_ASSIGN_OR_RETURN(std::optional<ImageRecord> image, rows::Read(store_, matches[0]));
      if (image) return std::move(*image);
    }
  }
  if (!name.ok() && !LooksLikeImageId(ref)) return name.error();
  // Not found: suggest a close name.
  STRATA_ASSIGN_OR_RETURN(Statement all, store_.Prepare("SELECT name FROM image_names"));
  std::vector<std::string> names;
  while (true) {
    STRATA_ASSIGN_OR_RETURN(bool row, all.Step());
    if (!row) break;
    names.push_back(all.ColumnText(0));
  }
  std::vector<std::string_view> candidates(names.begin(), names.end());
  std::string wanted = name.ok() ? name->ToString() : std::string(ref);
  return Error(ENOENT, "image \"" + std::string(ref) + "\": no such image" +
                           DidYouMean(wanted, candidates));
}

Result<ImageRecord> ImageStore::Tag(std::string_view ref, std::string_view new_name) {
  STRATA_ASSIGN_OR_RETURN(ImageName name, ParseImageName(new_name));
  STRATA_ASSIGN_OR_RETURN(ImageRecord image, Get(ref));
  STRATA_TRY(store_.Transaction([&]() -> Status {
    return rows::SetName(store_, name.ToString(), image.id);
  }));
  return Get(image.id);
}

Result<RemoveResult> ImageStore::Remove(std::string_view ref, bool force) {
  STRATA_ASSIGN_OR_RETURN(FileLock lock, rows::LockImages(store_, FileLock::Wait::kBlock));
  STRATA_ASSIGN_OR_RETURN(ImageRecord image, Get(ref));
  RemoveResult result;
  // By name, and the image has other names: only the name goes.
  Result<ImageName> name = ParseImageName(ref);
  bool by_name = name.ok() && std::find(image.names.begin(), image.names.end(),
                                        name->ToString()) != image.names.end();
  if (by_name && image.names.size() > 1) {
    STRATA_TRY(store_.Transaction([&]() { return rows::DeleteName(store_, name->ToString()); }));
    result.untagged.push_back(name->ToString());
    return result;
  }
  if (!by_name && image.names.size() > 1 && !force) {
    return Error(EBUSY, "image " + ShortId(image.id) + " has several names (" +
                            Join(image.names, ", ") +
                            "); remove them one by one, or use --force to remove the image");
  }
  STRATA_TRY(RemoveImage(image, result));
  return result;
}

// Refuses while a layer only this image has is in use; then drops the records (one
// transaction) and removes the layers, top first. A crash after the records went leaves owned
// layers no image uses, which the next Open removes.
Status ImageStore::RemoveImage(const ImageRecord& image, RemoveResult& result) {
  if (remove_guard_) {
    STRATA_TRY(remove_guard_(image));
  }
  std::vector<std::string> doomed;
  std::set<std::string> doomed_set;
  for (auto it = image.layers.rbegin(); it != image.layers.rend(); ++it) {
    STRATA_ASSIGN_OR_RETURN(Statement others,
                            store_.Prepare("SELECT 1 FROM image_layers WHERE layer = ?1 AND "
                                           "image != ?2 LIMIT 1"));
    STRATA_TRY(others.Bind(1, it->layer));
    STRATA_TRY(others.Bind(2, image.id));
    STRATA_ASSIGN_OR_RETURN(bool shared, others.Step());
    if (shared || doomed_set.count(it->layer)) continue;
    doomed.push_back(it->layer);
    doomed_set.insert(it->layer);
  }
  const std::string what = "image " + image.DisplayName();
  for (const std::string& id : doomed) {
    Result<drivers::LayerRecord> layer = layers_.Get(id);
    if (!layer.ok()) {
      if (layer.error().code() == ENOENT) continue;
      return layer.error();
    }
    for (const std::string& child : layer->children) {
      if (doomed_set.count(child)) continue;
      return Error(EBUSY, what + " is in use: its layer " + id.substr(0, 12) +
                              " has the child layer " + child.substr(0, 12) +
                              " (a container's layer, or one made on it); remove that first");
    }
    if (layer->mount_count > 0) {
      return Error(EBUSY, what + " is in use: its layer " + id.substr(0, 12) + " is mounted (" +
                              std::to_string(layer->mount_count) +
                              " references); unmount it first");
    }
  }
  STRATA_TRY(rows::Delete(store_, image.id));
  Failpoint("image.rm", "after-records");
  result.untagged = image.names;
  result.deleted = image.id;
  for (const std::string& id : doomed) {
    STRATA_TRY_CTX(layers_.Remove(id), what);
    STRATA_TRY(rows::DeleteOwnedLayer(store_, id));
    Failpoint("image.rm", "after-layer");
    result.deleted_layers.push_back(id);
  }
  return RemoveUnusedBlobs();
}

Result<std::map<std::string, std::vector<std::string>>> ImageStore::LayerUsers() {
  STRATA_ASSIGN_OR_RETURN(std::vector<ImageRecord> images, List());
  std::map<std::string, std::vector<std::string>> users;
  for (const ImageRecord& image : images) {
    for (const ImageLayer& layer : image.layers) {
      std::vector<std::string>& list = users[layer.layer];
      if (std::find(list.begin(), list.end(), image.DisplayName()) == list.end()) {
        list.push_back(image.DisplayName());
      }
    }
  }
  return users;
}

drivers::LayerStore::RemoveGuard ImageStore::LayerGuard(Store& store) {
  return [&store](const std::string& id) -> Status {
    STRATA_ASSIGN_OR_RETURN(
        Statement stmt,
        store.Prepare("SELECT l.image, (SELECT name FROM image_names n WHERE n.image = l.image "
                      "ORDER BY name LIMIT 1) FROM image_layers l WHERE l.layer = ?1 LIMIT 1"));
    STRATA_TRY(stmt.Bind(1, id));
    STRATA_ASSIGN_OR_RETURN(bool used, stmt.Step());
    if (!used) return Ok();
    std::string image = stmt.ColumnText(1).empty() ? ShortId(stmt.ColumnText(0))
                                                   : stmt.ColumnText(1);
    return Error(EBUSY, "layer " + id + " belongs to image " + image +
                            "; remove the image with `strata image rm " + image + "`");
  };
}

}  // namespace strata::images
