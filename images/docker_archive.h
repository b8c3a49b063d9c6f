// The JSON of a `docker save` archive, parsed into plain structs.
//
//   manifest.json   [{"Config": "<hex>.json",
//                     "RepoTags": ["busybox:latest"],        (or null: an untagged image)
//                     "Layers": ["<id>/layer.tar", ...],     (base layer first)
//                     "LayerSources": {"sha256:<diff id>": descriptor, ...}}, ...]   (optional)
//   repositories    {"busybox": {"latest": "<64 hex layer id>"}}   (legacy; may be absent)
//
// Docker 25 and later write the same manifest.json inside an OCI layout, with Config and Layers
// as "blobs/sha256/<hex>"; both spellings are accepted as they are.
//
// Pure functions: no I/O, no logging. Every path in a parsed manifest is checked by
// CheckArchivePath, so a later step can look it up in the archive without re-checking. Errors
// name the file and the JSON path:
//   manifest.json: [0].Layers[2]: "../x" escapes the archive
// Errnos: EINVAL for malformed content (and from ParseImageConfig), EOPNOTSUPP for a digest
// algorithm other than sha256 in LayerSources. Unknown fields are ignored.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "images/oci.h"

namespace strata::images {

inline constexpr char kDockerManifestFile[] = "manifest.json";
inline constexpr char kDockerRepositoriesFile[] = "repositories";

// Where a foreign (non-distributable) layer came from: a subset of an OCI descriptor. Its
// media type is kept as written, not classified: Docker writes its own foreign-layer types.
struct DockerLayerSource {
  std::string media_type;
  std::string digest;  // checked by CheckDigest
  int64_t size_bytes = 0;
  std::vector<std::string> urls;
};

// One image of manifest.json.
struct DockerArchiveImage {
  size_t index = 0;                    // position in manifest.json, for error messages
  std::string config;                  // archive path of the image config; CheckArchivePath'd
  std::vector<std::string> repo_tags;  // as written ("name:tag"); empty when null or absent
  std::vector<std::string> layers;     // archive paths of the layer tars, base first; checked
  std::map<std::string, DockerLayerSource> layer_sources;  // keyed by diff id; usually empty
};

struct DockerRepositoryTag {
  std::string repository;  // "busybox", "registry.example/app"
  std::string tag;         // "latest"
  std::string layer_id;    // 64 lowercase hex: the directory of the top layer's layer.tar
};

// A path inside the archive, as manifest.json must spell it: relative, and no empty, "." or
// ".." component. EINVAL otherwise, with the path quoted:
//   "../x" escapes the archive
//   "/etc/passwd" is absolute
//   "a//b" has an empty component
Status CheckArchivePath(std::string_view path);

// manifest.json. EINVAL unless it is a non-empty array of objects, each with a Config path, a
// Layers array of paths, RepoTags absent, null or an array of strings, and LayerSources absent,
// null or an object of descriptors keyed by digest.
Result<std::vector<DockerArchiveImage>> ParseDockerManifest(std::string_view json);

// The legacy `repositories` file, flattened and sorted by repository then tag. An empty object
// gives an empty list.
Result<std::vector<DockerRepositoryTag>> ParseDockerRepositories(std::string_view json);

// The image config `config_json` (the contents of image.config), parsed by ParseImageConfig
// with image.config as its source. EINVAL when its rootfs.diff_ids count differs from the
// number of Layers:
//   manifest.json: [0]: config "ab12.json": rootfs.diff_ids has 1 entries but Layers has 2
Result<ImageConfig> ParseDockerImageConfig(const DockerArchiveImage& image,
                                           std::string_view config_json);

}  // namespace strata::images
