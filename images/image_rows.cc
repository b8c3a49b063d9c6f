#include "images/image_rows.h"

#include <chrono>
#include <ctime>

namespace strata::images::rows {
namespace {

Result<std::vector<std::string>> Column(Statement& stmt) {
  std::vector<std::string> out;
  while (true) {
    STRATA_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return out;
    out.push_back(stmt.ColumnText(0));
  }
}

int64_t Now() { return static_cast<int64_t>(std::time(nullptr)); }

constexpr std::string_view kLayerColumns =
    "layer, diff_id, blob_digest, media_type, blob_size, diff_size";

// A row of kLayerColumns.
ImageLayer LayerFromRow(const Statement& row) {
  ImageLayer layer;
  layer.layer = row.ColumnText(0);
  layer.chain_id = "sha256:" + layer.layer;
  layer.diff_id = row.ColumnText(1);
  layer.blob_digest = row.ColumnText(2);
  layer.media_type = row.ColumnText(3);
  layer.blob_size = row.ColumnInt(4);
  layer.diff_size = row.ColumnInt(5);
  return layer;
}

}  // namespace

Result<std::optional<ImageRecord>> Read(Store& store, const std::string& id) {
  STRATA_ASSIGN_OR_RETURN(
      Statement image,
      store.Prepare("SELECT manifest_digest, manifest_media_type, manifest, config, source, "
                    "size_bytes, created FROM images WHERE id = ?1"));
  STRATA_TRY(image.Bind(1, id));
  STRATA_ASSIGN_OR_RETURN(bool found, image.Step());
  if (!found) return std::optional<ImageRecord>();
  ImageRecord record;
  record.id = id;
  record.manifest_digest = image.ColumnText(0);
  record.manifest_media_type = image.ColumnText(1);
  record.manifest_json = image.ColumnText(2);
  record.config_json = image.ColumnText(3);
  record.source = image.ColumnText(4);
  record.size_bytes = image.ColumnInt(5);
  record.created_unix = image.ColumnInt(6);

  STRATA_ASSIGN_OR_RETURN(Statement names,
                          store.Prepare("SELECT name FROM image_names WHERE image = ?1 "
                                        "ORDER BY name"));
  STRATA_TRY(names.Bind(1, id));
  STRATA_ASSIGN_OR_RETURN(record.names, Column(names));

  STRATA_ASSIGN_OR_RETURN(
      Statement layers,
      store.Prepare("SELECT " + std::string(kLayerColumns) +
                    " FROM image_layers WHERE image = ?1 ORDER BY position"));
  STRATA_TRY(layers.Bind(1, id));
  while (true) {
    STRATA_ASSIGN_OR_RETURN(bool row, layers.Step());
    if (!row) break;
    record.layers.push_back(LayerFromRow(layers));
  }
  return std::optional<ImageRecord>(std::move(record));
}

Result<std::vector<std::string>> Ids(Store& store) {
  STRATA_ASSIGN_OR_RETURN(Statement stmt, store.Prepare("SELECT id FROM images ORDER BY id"));
  return Column(stmt);
}

Result<std::string> IdForName(Store& store, const std::string& name) {
  STRATA_ASSIGN_OR_RETURN(Statement stmt,
                          store.Prepare("SELECT image FROM image_names WHERE name = ?1"));
  STRATA_TRY(stmt.Bind(1, name));
  STRATA_ASSIGN_OR_RETURN(bool found, stmt.Step());
  return found ? stmt.ColumnText(0) : std::string();
}

Status Insert(Store& store, const ImageRecord& image) {
  return store.Transaction([&]() -> Status {
    STRATA_ASSIGN_OR_RETURN(
        Statement insert,
        store.Prepare("INSERT INTO images (id, manifest_digest, manifest_media_type, manifest, "
                      "config, source, size_bytes, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
                      "?8)"));
    STRATA_TRY(insert.Bind(1, image.id));
    STRATA_TRY(insert.Bind(2, image.manifest_digest));
    STRATA_TRY(insert.Bind(3, image.manifest_media_type));
    STRATA_TRY(insert.Bind(4, image.manifest_json));
    STRATA_TRY(insert.Bind(5, image.config_json));
    STRATA_TRY(insert.Bind(6, image.source));
    STRATA_TRY(insert.Bind(7, image.size_bytes));
    STRATA_TRY(insert.Bind(8, image.created_unix));
    STRATA_TRY(insert.Run());
    for (size_t i = 0; i < image.layers.size(); ++i) {
      const ImageLayer& layer = image.layers[i];
      STRATA_ASSIGN_OR_RETURN(
          Statement row,
          store.Prepare("INSERT INTO image_layers (image, position, layer, diff_id, blob_digest, "
                        "media_type, blob_size, diff_size) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
                        "?8)"));
      STRATA_TRY(row.Bind(1, image.id));
      STRATA_TRY(row.Bind(2, static_cast<int64_t>(i)));
      STRATA_TRY(row.Bind(3, layer.layer));
      STRATA_TRY(row.Bind(4, layer.diff_id));
      STRATA_TRY(row.Bind(5, layer.blob_digest));
      STRATA_TRY(row.Bind(6, layer.media_type));
      STRATA_TRY(row.Bind(7, layer.blob_size));
      STRATA_TRY(row.Bind(8, layer.diff_size));
      STRATA_TRY(row.Run());
    }
    return Ok();
  });
}

Status SetName(Store& store, const std::string& name, const std::string& id) {
  STRATA_ASSIGN_OR_RETURN(
      Statement stmt,
      store.Prepare("INSERT INTO image_names (name, image, created) VALUES (?1, ?2, ?3) "
                    "ON CONFLICT (name) DO UPDATE SET image = excluded.image, "
                    "created = excluded.created"));
  STRATA_TRY(stmt.Bind(1, name));
  STRATA_TRY(stmt.Bind(2, id));
  STRATA_TRY(stmt.Bind(3, Now()));
  return stmt.Run();
}

Status DeleteName(Store& store, const std::string& name) {
  STRATA_ASSIGN_OR_RETURN(Statement stmt,
                          store.Prepare("DELETE FROM image_names WHERE name = ?1"));
  STRATA_TRY(stmt.Bind(1, name));
  return stmt.Run();
}

Status Delete(Store& store, const std::string& id) {
  return store.Transaction([&]() -> Status {
    for (std::string_view sql : {"DELETE FROM image_names WHERE image = ?1",
                                 "DELETE FROM image_layers WHERE image = ?1",
                                 "DELETE FROM images WHERE id = ?1"}) {
      STRATA_ASSIGN_OR_RETURN(Statement stmt, store.Prepare(sql));
      STRATA_TRY(stmt.Bind(1, id));
      STRATA_TRY(stmt.Run());
    }
    return Ok();
  });
}

Result<std::optional<ImageLayer>> FindLayer(Store& store, const std::string& layer_id) {
  STRATA_ASSIGN_OR_RETURN(Statement stmt,
                          store.Prepare("SELECT " + std::string(kLayerColumns) +
                                        " FROM image_layers WHERE layer = ?1 LIMIT 1"));
  STRATA_TRY(stmt.Bind(1, layer_id));
  STRATA_ASSIGN_OR_RETURN(bool found, stmt.Step());
  if (!found) return std::optional<ImageLayer>();
  return std::optional<ImageLayer>(LayerFromRow(stmt));
}

Result<bool> BlobUsed(Store& store, const std::string& digest) {
  STRATA_ASSIGN_OR_RETURN(
      Statement stmt, store.Prepare("SELECT 1 FROM image_layers WHERE blob_digest = ?1 LIMIT 1"));
  STRATA_TRY(stmt.Bind(1, digest));
  return stmt.Step();
}

Status AddOwnedLayer(Store& store, const std::string& layer_id) {
  STRATA_ASSIGN_OR_RETURN(
      Statement stmt, store.Prepare("INSERT OR IGNORE INTO image_owned_layers (layer) VALUES (?1)"));
  STRATA_TRY(stmt.Bind(1, layer_id));
  return stmt.Run();
}

Status DeleteOwnedLayer(Store& store, const std::string& layer_id) {
  STRATA_ASSIGN_OR_RETURN(Statement stmt,
                          store.Prepare("DELETE FROM image_owned_layers WHERE layer = ?1"));
  STRATA_TRY(stmt.Bind(1, layer_id));
  return stmt.Run();
}

Result<std::vector<std::string>> UnusedOwnedLayers(Store& store) {
  // Deepest first: a layer's depth is the length of its parent chain among the layers table.
  STRATA_ASSIGN_OR_RETURN(
      Statement stmt,
      store.Prepare(
          "WITH RECURSIVE depth(id, d) AS ("
          "  SELECT id, 0 FROM layers WHERE parent IS NULL OR parent = '' "
          "  UNION ALL SELECT l.id, depth.d + 1 FROM layers l JOIN depth ON l.parent = depth.id) "
          "SELECT o.layer FROM image_owned_layers o LEFT JOIN depth ON depth.id = o.layer "
          "WHERE o.layer NOT IN (SELECT layer FROM image_layers) "
          "ORDER BY COALESCE(depth.d, 0) DESC, o.layer"));
  return Column(stmt);
}

std::string BlobPath(const std::string& images_dir, std::string_view digest) {
  std::string_view hex = digest;
  if (hex.rfind("sha256:", 0) == 0) hex.remove_prefix(7);
  return images_dir + "/blobs/sha256/" + std::string(hex);
}

std::string TmpDir(const std::string& images_dir) { return images_dir + "/tmp"; }

Result<FileLock> LockImages(Store& store, FileLock::Wait wait) {
  return FileLock::Acquire(store.Dir() + "/locks", "images", "the image store", wait,
                           std::chrono::minutes(10));
}

}  // namespace strata::images::rows
