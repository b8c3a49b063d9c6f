// OCI image-spec JSON (and Docker's v2 schema2 equivalents) parsed into plain structs.
//
// Pure functions: no I/O, no logging. Every parser validates what a later step relies on, so a
// struct returned here is safe to act on: media types are known and of the right role, digests
// are "sha256:<64 lowercase hex>", sizes are >= 0. Errors name the source (a file name or a blob
// digest, given by the caller) and the JSON path:
//   index.json: manifests[1].digest: "sha256:abc" is not 64 lowercase hex characters
// Errnos: EINVAL for malformed or unknown content, EOPNOTSUPP for a digest algorithm other than
// sha256. Unknown fields are ignored, as the spec requires.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace strata::images {

// What a media type denotes. OCI and Docker spellings of the same thing map to the same kind.
enum class MediaKind {
  kIndex,      // OCI image index, Docker manifest list
  kManifest,   // OCI image manifest, Docker image manifest v2 schema2
  kConfig,     // OCI image config, Docker container image v1 config
  kLayerTar,   // uncompressed tar
  kLayerGzip,  // tar+gzip (OCI and Docker)
  kLayerZstd,  // tar+zstd
};

inline constexpr char kMediaTypeOciIndex[] = "application/vnd.oci.image.index.v1+json";
inline constexpr char kMediaTypeOciManifest[] = "application/vnd.oci.image.manifest.v1+json";
inline constexpr char kMediaTypeOciConfig[] = "application/vnd.oci.image.config.v1+json";
inline constexpr char kMediaTypeOciLayerTar[] = "application/vnd.oci.image.layer.v1.tar";
inline constexpr char kMediaTypeOciLayerGzip[] = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr char kMediaTypeOciLayerZstd[] = "application/vnd.oci.image.layer.v1.tar+zstd";
inline constexpr char kMediaTypeDockerManifestList[] =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr char kMediaTypeDockerManifest[] =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr char kMediaTypeDockerConfig[] = "application/vnd.docker.container.image.v1+json";
inline constexpr char kMediaTypeDockerLayerGzip[] =
    "application/vnd.docker.image.rootfs.diff.tar.gzip";

// The annotation naming an image in an OCI layout's index.json ("latest", "v1.2").
inline constexpr char kAnnotationRefName[] = "org.opencontainers.image.ref.name";

// EINVAL `unknown media type "x"` (with a did-you-mean) for anything not listed above.
Result<MediaKind> ClassifyMediaType(std::string_view media_type);
bool IsLayer(MediaKind kind);

// "sha256:" + 64 lowercase hex. EOPNOTSUPP naming any other well-formed algorithm (sha512,
// blake3, ...); EINVAL for anything else.
Status CheckDigest(std::string_view digest);
// The 64 hex characters of a digest CheckDigest accepted.
std::string_view DigestHex(std::string_view digest);

struct Platform {
  std::string os;                // "linux"
  std::string architecture;      // GOARCH spelling: "amd64", "arm64", "arm", "ppc64le", ...
  std::string variant;           // "v7", "v8", or ""
  std::string ToString() const;  // "linux/arm/v7"
};

// The GOARCH name (and variant) of a uname(2) machine: x86_64 -> amd64, aarch64 -> arm64,
// armv7l -> arm/v7. An unknown machine maps to itself.
Platform PlatformForMachine(std::string_view os, std::string_view machine);
// "os/arch[/variant]" as users type it (docker's --platform): "linux/arm64", "linux/arm/v7".
// EINVAL with the expected form otherwise.
Result<Platform> ParsePlatform(std::string_view text);
// linux/<this host's architecture>.
Platform HostPlatform();
// True when a manifest built for `have` runs on `want`: os and architecture equal, and the
// variants equal when both name one (arm64's "v8" is the default and matches "").
bool PlatformMatches(const Platform& have, const Platform& want);

struct Descriptor {
  std::string media_type;
  MediaKind kind = MediaKind::kLayerTar;
  std::string digest;  // checked by CheckDigest
  int64_t size_bytes = 0;
  std::map<std::string, std::string> annotations;
  std::optional<Platform> platform;

  // The org.opencontainers.image.ref.name annotation, or "".
  std::string RefName() const;
};

struct ImageIndex {
  std::vector<Descriptor> manifests;  // each an index or a manifest
  std::map<std::string, std::string> annotations;
};

struct ImageManifest {
  Descriptor config;               // kind kConfig
  std::vector<Descriptor> layers;  // each IsLayer(kind), base layer first
  std::map<std::string, std::string> annotations;
};

// The subset of the image config a container run and a layer store need.
struct ImageConfig {
  Platform platform;
  std::vector<std::string> env;  // "KEY=value"
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::string working_dir;
  std::string user;
  std::map<std::string, std::string> labels;
  std::vector<std::string> diff_ids;  // sha256 of each uncompressed layer, base first
};

// `source` names the document in errors ("index.json", "blob sha256:ab12...").
Result<ImageIndex> ParseImageIndex(std::string_view json, std::string_view source);
Result<ImageManifest> ParseImageManifest(std::string_view json, std::string_view source);
Result<ImageConfig> ParseImageConfig(std::string_view json, std::string_view source);

// The `oci-layout` file of an image layout: {"imageLayoutVersion": "1.0.0"}. EINVAL when
// malformed, EOPNOTSUPP naming any other version.
Status CheckOciLayoutFile(std::string_view json, std::string_view source);

// EINVAL unless the config has one diff_id per manifest layer.
Status CheckConfigMatchesManifest(const ImageManifest& manifest, const ImageConfig& config);

}  // namespace strata::images
