#include "images/oci.h"
#include "images/json_util.h"

#include <sys/utsname.h>

#include <cerrno>
#include <climits>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <utility>
#include <variant>

#include "core/strings.h"

namespace strata::images {
namespace {

using nlohmann::json;
using internal::Find;
using internal::Guarded;
using internal::Where;

struct MediaTypeEntry {
  std::string_view name;
  MediaKind kind;
};
constexpr MediaTypeEntry kMediaTypes[] = {
    {kMediaTypeOciIndex, MediaKind::kIndex},
    {kMediaTypeOciManifest, MediaKind::kManifest},
    {kMediaTypeOciConfig, MediaKind::kConfig},
    {kMediaTypeOciLayerTar, MediaKind::kLayerTar},
    {kMediaTypeOciLayerGzip, MediaKind::kLayerGzip},
    {kMediaTypeOciLayerZstd, MediaKind::kLayerZstd},
    {kMediaTypeDockerManifestList, MediaKind::kIndex},
    {kMediaTypeDockerManifest, MediaKind::kManifest},
    {kMediaTypeDockerConfig, MediaKind::kConfig},
    {kMediaTypeDockerLayerGzip, MediaKind::kLayerGzip},
};

std::string_view KindName(MediaKind kind) {
  switch (kind) {
    case MediaKind::kIndex:
      return "an image index";
    case MediaKind::kManifest:
      return "an image manifest";
    case MediaKind::kConfig:
      return "an image config";
    case MediaKind::kLayerTar:
    case MediaKind::kLayerGzip:
    case MediaKind::kLayerZstd:
      return "a layer";
  }
  return "unknown";
}

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// The image-spec algorithm grammar: [a-z0-9]+([+._-][a-z0-9]+)*
bool IsAlgorithm(std::string_view s) {
  bool need_alnum = true;
  for (char c : s) {
    bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (alnum) {
      need_alnum = false;
    } else if (!need_alnum && (c == '+' || c == '.' || c == '_' || c == '-')) {
      need_alnum = true;
    } else {
      return false;
    }
  }
  return !need_alnum;
}

enum class Need { kRequired, kOptional };

Result<const json*> Member(const json& obj, std::string_view key, const Where& w, Need need) {
  const json* v = Find(obj, key);
  if (v == nullptr && need == Need::kRequired) return w.Key(key).Fail("missing");
  return v;
}

Result<std::string> String(const json& obj, std::string_view key, const Where& w, Need need) {
  STRATA_ASSIGN_OR_RETURN(const json* v, Member(obj, key, w, need));
  if (v == nullptr) return std::string();
  if (!v->is_string()) return w.Key(key).Fail("not a string");
  return v->get_ref<const std::string&>();
}

Result<std::vector<std::string>> Strings(const json& obj, std::string_view key, const Where& w) {
  STRATA_ASSIGN_OR_RETURN(const json* v, Member(obj, key, w, Need::kOptional));
  std::vector<std::string> out;
  if (v == nullptr) return out;
  if (!v->is_array()) return w.Key(key).Fail("not an array");
  for (size_t i = 0; i < v->size(); ++i) {
    if (!(*v)[i].is_string()) return w.Key(key).At(i).Fail("not a string");
    out.push_back((*v)[i].get_ref<const std::string&>());
  }
  return out;
}

Result<std::map<std::string, std::string>> StringMap(const json& obj, std::string_view key,
                                                     const Where& w) {
  STRATA_ASSIGN_OR_RETURN(const json* v, Member(obj, key, w, Need::kOptional));
  std::map<std::string, std::string> out;
  if (v == nullptr) return out;
  if (!v->is_object()) return w.Key(key).Fail("not an object");
  for (const auto& [k, value] : v->items()) {
    if (!value.is_string()) return w.Key(key).Key(k).Fail("not a string");
    out[k] = value.get_ref<const std::string&>();
  }
  return out;
}

Result<json> ParseObject(std::string_view text, std::string_view source) {
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Error(EINVAL, std::string(source) + ": invalid JSON");
  if (!j.is_object()) return Error(EINVAL, std::string(source) + ": not a JSON object");
  return j;
}

// schemaVersion must be 2; the top-level mediaType, optional in OCI, must be of `kind` if set.
Status CheckHeader(const json& j, const Where& w, MediaKind kind) {
  STRATA_ASSIGN_OR_RETURN(const json* version, Member(j, "schemaVersion", w, Need::kRequired));
  if (!version->is_number_integer() || version->get<int64_t>() != 2) {
    return w.Key("schemaVersion").Fail("must be 2, not " + version->dump());
  }
  STRATA_ASSIGN_OR_RETURN(std::string media_type, String(j, "mediaType", w, Need::kOptional));
  if (media_type.empty()) return Ok();
  auto got = ClassifyMediaType(media_type);
  if (!got.ok()) return w.Key("mediaType").Wrap(std::move(got).error());
  if (*got != kind) {
    return w.Key("mediaType")
        .Fail("\"" + media_type + "\" is " + std::string(KindName(*got)) + ", not " +
              std::string(KindName(kind)));
  }
  return Ok();
}

Result<int64_t> Size(const json& j, const Where& w) {
  STRATA_ASSIGN_OR_RETURN(const json* v, Member(j, "size", w, Need::kRequired));
  if (v->is_number_unsigned()) {
    if (v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
      return w.Key("size").Fail(v->dump() + " is out of range");
    }
    return static_cast<int64_t>(v->get<uint64_t>());
  }
  if (!v->is_number_integer()) return w.Key("size").Fail(v->dump() + " is not an integer");
  return w.Key("size").Fail(v->dump() + " is negative");  // a non-negative one is unsigned
}

Result<std::optional<Platform>> ParsePlatform(const json& j, const Where& w) {
  STRATA_ASSIGN_OR_RETURN(const json* v, Member(j, "platform", w, Need::kOptional));
  if (v == nullptr) return std::optional<Platform>();
  Where pw = w.Key("platform");
  if (!v->is_object()) return pw.Fail("not an object");
  Platform p;
  STRATA_ASSIGN_OR_RETURN(p.architecture, String(*v, "architecture", pw, Need::kRequired));
  STRATA_ASSIGN_OR_RETURN(p.os, String(*v, "os", pw, Need::kRequired));
  STRATA_ASSIGN_OR_RETURN(p.variant, String(*v, "variant", pw, Need::kOptional));
  return std::optional<Platform>(std::move(p));
}

// A descriptor at `w`, whose media type must be one of `accepted`'s kinds.
Result<Descriptor> ParseDescriptor(const json& j, const Where& w,
                                   std::initializer_list<MediaKind> accepted,
                                   std::string_view role) {
  if (!j.is_object()) return w.Fail("not an object");
  Descriptor d;
  STRATA_ASSIGN_OR_RETURN(d.digest, String(j, "digest", w, Need::kRequired));
  if (Status s = CheckDigest(d.digest); !s.ok()) return w.Key("digest").Wrap(std::move(s).error());
  STRATA_ASSIGN_OR_RETURN(d.size_bytes, Size(j, w));
  STRATA_ASSIGN_OR_RETURN(d.media_type, String(j, "mediaType", w, Need::kRequired));
  auto kind = ClassifyMediaType(d.media_type);
  if (!kind.ok()) {
    return w.Key("mediaType").Wrap(std::move(kind).error().Wrap("descriptor " + d.digest));
  }
  d.kind = *kind;
  bool ok = false;
  for (MediaKind k : accepted) ok = ok || k == d.kind;
  if (!ok) {
    return w.Key("mediaType")
        .Fail("descriptor " + d.digest + ": \"" + d.media_type + "\" is " +
              std::string(KindName(d.kind)) + ", not " + std::string(role));
  }
  STRATA_ASSIGN_OR_RETURN(d.annotations, StringMap(j, "annotations", w));
  STRATA_ASSIGN_OR_RETURN(d.platform, ParsePlatform(j, w));
  return d;
}

}  // namespace

Result<MediaKind> ClassifyMediaType(std::string_view media_type) {
  std::vector<std::string_view> names;
  for (const MediaTypeEntry& e : kMediaTypes) {
    if (e.name == media_type) return e.kind;
    names.push_back(e.name);
  }
  return Error(EINVAL, "unknown media type \"" + std::string(media_type) + "\"" +
                           DidYouMean(media_type, names));
}

bool IsLayer(MediaKind kind) {
  return kind == MediaKind::kLayerTar || kind == MediaKind::kLayerGzip ||
         kind == MediaKind::kLayerZstd;
}

Status CheckDigest(std::string_view digest) {
  size_t colon = digest.find(':');
  std::string quoted = "\"" + std::string(digest) + "\"";
  if (colon == std::string_view::npos || !IsAlgorithm(digest.substr(0, colon)) ||
      colon + 1 == digest.size()) {
    return Error(EINVAL, quoted + " is not a digest (want sha256:<64 hex>)");
  }
  std::string_view algorithm = digest.substr(0, colon);
  std::string_view hex = digest.substr(colon + 1);
  if (algorithm != "sha256") {
    return Error(EOPNOTSUPP, "digest algorithm \"" + std::string(algorithm) +
                                 "\" is not supported (only sha256)");
  }
  if (hex.size() != 64 || !IsLowerHex(hex)) {
    return Error(EINVAL, quoted + " is not sha256: followed by 64 lowercase hex characters");
  }
  return Ok();
}

std::string_view DigestHex(std::string_view digest) { return digest.substr(digest.find(':') + 1); }

std::string Platform::ToString() const {
  return os + "/" + architecture + (variant.empty() ? "" : "/" + variant);
}

Platform PlatformForMachine(std::string_view os, std::string_view machine) {
  struct Entry {
    std::string_view machine, architecture, variant;
  };
  static constexpr Entry kMachines[] = {
      {"x86_64", "amd64", ""},
      {"amd64", "amd64", ""},
      {"i386", "386", ""},
      {"i686", "386", ""},
      {"aarch64", "arm64", ""},
      {"arm64", "arm64", ""},
      {"armv7l", "arm", "v7"},
      {"armv6l", "arm", "v6"},
      {"armv5tel", "arm", "v5"},
      {"ppc64le", "ppc64le", ""},
      {"s390x", "s390x", ""},
      {"riscv64", "riscv64", ""},
      {"loongarch64", "loong64", ""},
  };
  for (const Entry& e : kMachines) {
    if (e.machine == machine) {
      return {std::string(os), std::string(e.architecture), std::string(e.variant)};
    }
  }
  return {std::string(os), std::string(machine), ""};
}

Result<Platform> ParsePlatform(std::string_view text) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t slash = text.find('/', start);
    parts.emplace_back(text.substr(start, slash == std::string_view::npos ? slash : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  auto word = [](const std::string& w) {
    if (w.empty()) return false;
    for (char c : w) {
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
    }
    return true;
  };
  bool ok = parts.size() >= 2 && parts.size() <= 3;
  for (const std::string& part : parts) ok = ok && word(part);
  if (!ok) {
    return Error(EINVAL, "platform \"" + std::string(text) +
                             "\": want OS/ARCH[/VARIANT] in lowercase, e.g. linux/arm64 or "
                             "linux/arm/v7");
  }
  return Platform{parts[0], parts[1], parts.size() == 3 ? parts[2] : ""};
}

Platform HostPlatform() {
  struct utsname u {};
  if (uname(&u) != 0) return {"linux", "unknown", ""};  // uname cannot fail with a valid buffer
  return PlatformForMachine("linux", u.machine);
}

bool PlatformMatches(const Platform& have, const Platform& want) {
  return have.os == want.os && have.architecture == want.architecture &&
         (have.variant.empty() || want.variant.empty() || have.variant == want.variant);
}

std::string Descriptor::RefName() const {
  auto it = annotations.find(kAnnotationRefName);
  return it == annotations.end() ? std::string() : it->second;
}

Result<ImageIndex> ParseImageIndex(std::string_view text, std::string_view source) {
  return Guarded<ImageIndex>(source, [&]() -> Result<ImageIndex> {
    STRATA_ASSIGN_OR_RETURN(json j, ParseObject(text, source));
    Where w{source, ""};
    STRATA_TRY(CheckHeader(j, w, MediaKind::kIndex));
    STRATA_ASSIGN_OR_RETURN(const json* manifests, Member(j, "manifests", w, Need::kRequired));
    if (!manifests->is_array()) return w.Key("manifests").Fail("not an array");
    ImageIndex index;
    for (size_t i = 0; i < manifests->size(); ++i) {
      STRATA_ASSIGN_OR_RETURN(
          Descriptor d,
          ParseDescriptor((*manifests)[i], w.Key("manifests").At(i),
                          {MediaKind::kIndex, MediaKind::kManifest}, "an image manifest or index"));
      index.manifests.push_back(std::move(d));
    }
    STRATA_ASSIGN_OR_RETURN(index.annotations, StringMap(j, "annotations", w));
    return index;
  });
}

Result<ImageManifest> ParseImageManifest(std::string_view text, std::string_view source) {
  return Guarded<ImageManifest>(source, [&]() -> Result<ImageManifest> {
    STRATA_ASSIGN_OR_RETURN(json j, ParseObject(text, source));
    Where w{source, ""};
    STRATA_TRY(CheckHeader(j, w, MediaKind::kManifest));
    ImageManifest m;
    STRATA_ASSIGN_OR_RETURN(const json* config, Member(j, "config", w, Need::kRequired));
    STRATA_ASSIGN_OR_RETURN(m.config, ParseDescriptor(*config, w.Key("config"),
                                                      {MediaKind::kConfig}, "an image config"));
    STRATA_ASSIGN_OR_RETURN(const json* layers, Member(j, "layers", w, Need::kRequired));
    if (!layers->is_array()) return w.Key("layers").Fail("not an array");
    for (size_t i = 0; i < layers->size(); ++i) {
      STRATA_ASSIGN_OR_RETURN(
          Descriptor d,
          ParseDescriptor((*layers)[i], w.Key("layers").At(i),
                          {MediaKind::kLayerTar, MediaKind::kLayerGzip, MediaKind::kLayerZstd},
                          "a layer"));
      m.layers.push_back(std::move(d));
    }
    STRATA_ASSIGN_OR_RETURN(m.annotations, StringMap(j, "annotations", w));
    return m;
  });
}

namespace {

// The optional "config" member of an image config: how to run the image.
Status ParseRunConfig(const json& j, const Where& w, ImageConfig& c) {
  STRATA_ASSIGN_OR_RETURN(const json* run, Member(j, "config", w, Need::kOptional));
  if (run == nullptr) return Ok();
  Where rw = w.Key("config");
  if (!run->is_object()) return rw.Fail("not an object");
  STRATA_ASSIGN_OR_RETURN(c.env, Strings(*run, "Env", rw));
  STRATA_ASSIGN_OR_RETURN(c.entrypoint, Strings(*run, "Entrypoint", rw));
  STRATA_ASSIGN_OR_RETURN(c.cmd, Strings(*run, "Cmd", rw));
  STRATA_ASSIGN_OR_RETURN(c.working_dir, String(*run, "WorkingDir", rw, Need::kOptional));
  STRATA_ASSIGN_OR_RETURN(c.user, String(*run, "User", rw, Need::kOptional));
  STRATA_ASSIGN_OR_RETURN(c.labels, StringMap(*run, "Labels", rw));
  return Ok();
}

Status ParseRootfs(const json& j, const Where& w, ImageConfig& c) {
  STRATA_ASSIGN_OR_RETURN(const json* rootfs, Member(j, "rootfs", w, Need::kRequired));
  Where rw = w.Key("rootfs");
  if (!rootfs->is_object()) return rw.Fail("not an object");
  STRATA_ASSIGN_OR_RETURN(std::string type, String(*rootfs, "type", rw, Need::kRequired));
  if (type != "layers") return rw.Key("type").Fail("\"" + type + "\" is not \"layers\"");
  STRATA_TRY(Member(*rootfs, "diff_ids", rw, Need::kRequired));  // Strings allows it absent
  STRATA_ASSIGN_OR_RETURN(c.diff_ids, Strings(*rootfs, "diff_ids", rw));
  for (size_t i = 0; i < c.diff_ids.size(); ++i) {
    if (Status s = CheckDigest(c.diff_ids[i]); !s.ok()) {
      return rw.Key("diff_ids").At(i).Wrap(std::move(s).error());
    }
  }
  return Ok();
}

}  // namespace

Result<ImageConfig> ParseImageConfig(std::string_view text, std::string_view source) {
  return Guarded<ImageConfig>(source, [&]() -> Result<ImageConfig> {
    STRATA_ASSIGN_OR_RETURN(json j, ParseObject(text, source));
    Where w{source, ""};
    ImageConfig c;
    STRATA_ASSIGN_OR_RETURN(c.platform.architecture, String(j, "architecture", w, Need::kRequired));
    STRATA_ASSIGN_OR_RETURN(c.platform.os, String(j, "os", w, Need::kRequired));
    STRATA_ASSIGN_OR_RETURN(c.platform.variant, String(j, "variant", w, Need::kOptional));
    STRATA_TRY(ParseRunConfig(j, w, c));
    STRATA_TRY(ParseRootfs(j, w, c));
    return c;
  });
}

Status CheckOciLayoutFile(std::string_view text, std::string_view source) {
  auto checked = Guarded<std::monostate>(source, [&]() -> Result<std::monostate> {
    STRATA_ASSIGN_OR_RETURN(json j, ParseObject(text, source));
    Where w{source, ""};
    STRATA_ASSIGN_OR_RETURN(std::string version,
                            String(j, "imageLayoutVersion", w, Need::kRequired));
    if (version != "1.0.0") {
      return w.Key("imageLayoutVersion")
          .Wrap(Error(EOPNOTSUPP, "\"" + version + "\" is not supported (want 1.0.0)"));
    }
    return std::monostate();
  });
  if (!checked.ok()) return std::move(checked).error();
  return Ok();
}

Status CheckConfigMatchesManifest(const ImageManifest& manifest, const ImageConfig& config) {
  if (manifest.layers.size() == config.diff_ids.size()) return Ok();
  return Error(EINVAL, "config " + manifest.config.digest + ": rootfs.diff_ids has " +
                           std::to_string(config.diff_ids.size()) +
                           " entries but the manifest has " +
                           std::to_string(manifest.layers.size()) + " layers");
}

}  // namespace strata::images
