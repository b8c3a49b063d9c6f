#include "images/docker_archive.h"
#include "images/json_util.h"

#include <cerrno>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <utility>

namespace strata::images {
namespace {

using nlohmann::json;
using internal::Find;
using internal::Guarded;
using internal::Where;

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

// An optional array of strings at `key`; empty when absent or null.
Result<std::vector<std::string>> Strings(const json& obj, std::string_view key, const Where& w) {
  std::vector<std::string> out;
  const json* v = Find(obj, key);
  if (v == nullptr) return out;
  if (!v->is_array()) return w.Key(key).Fail("not an array");
  for (size_t i = 0; i < v->size(); ++i) {
    if (!(*v)[i].is_string()) return w.Key(key).At(i).Fail((*v)[i].dump() + " is not a string");
    out.push_back((*v)[i].get_ref<const std::string&>());
  }
  return out;
}

// The archive path at `key`, required.
Result<std::string> PathMember(const json& obj, std::string_view key, const Where& w) {
  const json* v = Find(obj, key);
  if (v == nullptr) return w.Key(key).Fail("missing");
  if (!v->is_string()) return w.Key(key).Fail(v->dump() + " is not a string");
  const std::string& path = v->get_ref<const std::string&>();
  if (Status s = CheckArchivePath(path); !s.ok()) return w.Key(key).Wrap(std::move(s).error());
  return path;
}

Result<std::vector<std::string>> LayerPaths(const json& obj, const Where& w) {
  if (Find(obj, "Layers") == nullptr) return w.Key("Layers").Fail("missing");
  STRATA_ASSIGN_OR_RETURN(std::vector<std::string> layers, Strings(obj, "Layers", w));
  for (size_t i = 0; i < layers.size(); ++i) {
    if (Status s = CheckArchivePath(layers[i]); !s.ok()) {
      return w.Key("Layers").At(i).Wrap(std::move(s).error());
    }
  }
  return layers;
}

Result<DockerLayerSource> LayerSource(const json& j, const Where& w) {
  if (!j.is_object()) return w.Fail("not an object");
  DockerLayerSource src;
  const json* media_type = Find(j, "mediaType");
  const json* digest = Find(j, "digest");
  const json* size = Find(j, "size");
  if (media_type == nullptr || !media_type->is_string()) {
    return w.Key("mediaType").Fail("missing or not a string");
  }
  if (digest == nullptr || !digest->is_string())
    return w.Key("digest").Fail("missing or not a string");
  if (size == nullptr || !size->is_number_unsigned() ||
      size->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
    return w.Key("size").Fail("missing or not a non-negative integer");
  }
  src.media_type = media_type->get<std::string>();
  src.digest = digest->get<std::string>();
  if (Status s = CheckDigest(src.digest); !s.ok())
    return w.Key("digest").Wrap(std::move(s).error());
  src.size_bytes = static_cast<int64_t>(size->get<uint64_t>());
  STRATA_ASSIGN_OR_RETURN(src.urls, Strings(j, "urls", w));
  return src;
}

Result<std::map<std::string, DockerLayerSource>> LayerSources(const json& obj, const Where& w) {
  std::map<std::string, DockerLayerSource> out;
  const json* v = Find(obj, "LayerSources");
  if (v == nullptr) return out;
  Where sw = w.Key("LayerSources");
  if (!v->is_object()) return sw.Fail("not an object");
  for (const auto& [diff_id, value] : v->items()) {
    if (Status s = CheckDigest(diff_id); !s.ok()) return sw.Wrap(std::move(s).error());
    STRATA_ASSIGN_OR_RETURN(out[diff_id], LayerSource(value, sw.Key(diff_id)));
  }
  return out;
}

Result<DockerArchiveImage> ParseImage(const json& j, const Where& w, size_t index) {
  if (!j.is_object()) return w.Fail("not an object");
  DockerArchiveImage image;
  image.index = index;
  STRATA_ASSIGN_OR_RETURN(image.config, PathMember(j, "Config", w));
  STRATA_ASSIGN_OR_RETURN(image.repo_tags, Strings(j, "RepoTags", w));
  STRATA_ASSIGN_OR_RETURN(image.layers, LayerPaths(j, w));
  STRATA_ASSIGN_OR_RETURN(image.layer_sources, LayerSources(j, w));
  return image;
}

bool IsLayerId(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Result<json> Parse(std::string_view text, std::string_view source) {
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Error(EINVAL, std::string(source) + ": invalid JSON");
  return j;
}

}  // namespace

Status CheckArchivePath(std::string_view path) {
  if (path.empty()) return Error(EINVAL, "\"\" is not a path");
  if (path.front() == '/') return Error(EINVAL, Quote(path) + " is absolute");
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view component = path.substr(start, end - start);
    if (component == "..") return Error(EINVAL, Quote(path) + " escapes the archive");
    if (component.empty()) return Error(EINVAL, Quote(path) + " has an empty component");
    // Tar entry names are matched after CleanEntryName drops "." components, so "./x" would
    // never be found; refusing it here gives the clearer error.
    if (component == ".") return Error(EINVAL, Quote(path) + " has a \".\" component");
    start = end + 1;
  }
  return Ok();
}

Result<std::vector<DockerArchiveImage>> ParseDockerManifest(std::string_view text) {
  return Guarded<std::vector<DockerArchiveImage>>(
      kDockerManifestFile, [&]() -> Result<std::vector<DockerArchiveImage>> {
        STRATA_ASSIGN_OR_RETURN(json j, Parse(text, kDockerManifestFile));
        Where w{kDockerManifestFile, ""};
        if (!j.is_array()) return w.Fail("not a JSON array");
        if (j.empty()) return w.Fail("no images");
        std::vector<DockerArchiveImage> images;
        for (size_t i = 0; i < j.size(); ++i) {
          STRATA_ASSIGN_OR_RETURN(DockerArchiveImage image, ParseImage(j[i], w.At(i), i));
          images.push_back(std::move(image));
        }
        return images;
      });
}

Result<std::vector<DockerRepositoryTag>> ParseDockerRepositories(std::string_view text) {
  return Guarded<std::vector<DockerRepositoryTag>>(
      kDockerRepositoriesFile, [&]() -> Result<std::vector<DockerRepositoryTag>> {
        STRATA_ASSIGN_OR_RETURN(json j, Parse(text, kDockerRepositoriesFile));
        Where w{kDockerRepositoriesFile, ""};
        if (!j.is_object()) return w.Fail("not a JSON object");
        std::vector<DockerRepositoryTag> out;  // json objects iterate sorted by key
        for (const auto& [repository, tags] : j.items()) {
          Where rw = w.Key(repository);
          if (repository.empty()) return w.Fail("empty repository name");
          if (!tags.is_object()) return rw.Fail("not an object");
          for (const auto& [tag, id] : tags.items()) {
            if (tag.empty()) return rw.Fail("empty tag");
            if (!id.is_string() || !IsLayerId(id.get_ref<const std::string&>())) {
              return rw.Key(tag).Fail(id.dump() + " is not a layer id (64 lowercase hex)");
            }
            out.push_back({repository, tag, id.get<std::string>()});
          }
        }
        return out;
      });
}

Result<ImageConfig> ParseDockerImageConfig(const DockerArchiveImage& image,
                                           std::string_view config_json) {
  Where w = Where{kDockerManifestFile, ""}.At(image.index);
  auto config = ParseImageConfig(config_json, image.config);
  if (!config.ok()) return w.Key("Config").Wrap(std::move(config).error());
  if (config->diff_ids.size() != image.layers.size()) {
    return w.Fail("config " + Quote(image.config) + ": rootfs.diff_ids has " +
                  std::to_string(config->diff_ids.size()) + " entries but Layers has " +
                  std::to_string(image.layers.size()));
  }
  return config;
}

}  // namespace strata::images
