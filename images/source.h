// What `strata image load PATH` reads, turned into one verified description per image:
//   an OCI image layout directory, or one as a tar;
//   a `docker save` archive tar (manifest.json; layers as <id>/layer.tar, skopeo's <hex>.tar, or
//   Docker 25's blobs/sha256/<hex> with <id>/layer.tar symlinks), or one extracted to a directory.
// Tars may be plain, gzip, bzip2, xz or zstd compressed; they are extracted to a staging
// directory first (images/tar_stage.h). A directory holding `oci-layout` is read as an OCI
// layout even when it also holds manifest.json (Docker 25 writes both).
//
// Verified here: manifest and config bytes against their digests, every layer blob is a regular
// file inside the source (never reached through a symlink that leaves it) and, for an OCI layout,
// has its descriptor's size. Not verified here: layer digests and diff ids, which the applier
// checks while it streams each layer (hashing every layer twice would read the image twice).
//
// Errnos: ENOENT (no such path, a missing file or blob, no image for the platform), EINVAL
// (neither format, malformed JSON, unknown media type, not a regular file), EIO (a digest or size
// mismatch, a truncated or corrupt tar), EPERM (a tar entry or a symlink leaving the source),
// EFBIG (a JSON file over kMaxJsonBytes), EOPNOTSUPP (a digest algorithm or layout version).
// Errors name the source and the reason:
//   image archive /tmp/x.tar: entry "../etc/passwd" escapes the archive
//   image directory /srv/img: manifest.json: [0]: config "ab12...json": digest mismatch: ...
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "images/oci.h"
#include "images/tar_stage.h"

namespace strata::images {

// The index.json annotation containerd and Docker 25 write with the full image name
// ("docker.io/library/busybox:latest"); preferred over the ref.name annotation ("latest").
inline constexpr char kAnnotationContainerdImageName[] = "io.containerd.image.name";

enum class SourceFormat { kOciLayout, kDockerArchive };
std::string_view SourceFormatName(SourceFormat format);  // "oci-layout", "docker-archive"

struct SourceLayer {
  // media_type/kind, digest, size_bytes. OCI: the manifest's layer descriptor. Docker archive:
  // media_type kMediaTypeOciLayerTar and kind kLayerTar (the applier detects compression from
  // the bytes), size_bytes the file's size, and digest the sha256 the path names
  // (blobs/sha256/<hex>, top-level <hex>.tar, or the symlink-resolved path in an extracted
  // directory) or that LayerSources gives for the diff id when its size is the file's (Docker's
  // LayerSources describe foreign blobs, which differ from the uncompressed layer.tar it writes);
  // else "" (unknown: the applier computes it).
  Descriptor blob;
  std::string diff_id;  // from the config's rootfs.diff_ids (checked by CheckDigest)
  std::string path;     // absolute path of the blob: a regular file, opened by the applier
};

struct SourceImage {
  // Names as written, in order: OCI: the index entry's io.containerd.image.name annotation if
  // present, else its org.opencontainers.image.ref.name (may be a bare tag like "latest");
  // docker: RepoTags ("busybox:latest"). Possibly empty.
  std::vector<std::string> names;
  std::string manifest_json;       // OCI: the manifest blob bytes (verified); docker: ""
  Descriptor manifest_descriptor;  // OCI only; default-constructed for docker
  std::string config_json;         // verified bytes of the config blob
  std::string config_digest;       // "sha256:<hex>" of config_json (= the image id)
  ImageConfig config;
  std::vector<SourceLayer> layers;  // base first; layers.size() == config.diff_ids.size()
};

// An opened image source. Immutable after Open; owns the staging directory of a tar, so the
// layer paths stay valid for its lifetime. Thread-safety: const methods may run concurrently.
class ImageSource {
 public:
  // `path`: a directory or a regular file. A file is extracted into a fresh directory under
  // `staging_parent` (created 0700 if missing), which the destructor removes; on error nothing
  // is left there. `platform` picks the manifest of a multi-platform OCI index (docker archive
  // images are taken as they are).
  static Result<std::unique_ptr<ImageSource>> Open(const std::string& path,
                                                   const std::string& staging_parent,
                                                   const Platform& platform = HostPlatform());
  ~ImageSource();
  ImageSource(const ImageSource&) = delete;
  ImageSource& operator=(const ImageSource&) = delete;

  SourceFormat format() const { return format_; }
  const std::vector<SourceImage>& images() const { return images_; }
  // The directory read: `path` made absolute, or the staging directory of a tar.
  const std::string& dir() const { return dir_; }
  // Sum of the layer blob sizes of every image, for progress. A layer shared by several images
  // counts once per image, as each image's layers are walked (and reported) in turn.
  uint64_t TotalLayerBytes() const;

 private:
  ImageSource() = default;

  SourceFormat format_ = SourceFormat::kOciLayout;
  std::vector<SourceImage> images_;
  std::string dir_;
  std::optional<StagedArchive> staged_;  // set for a tar; removed with this object
};

}  // namespace strata::images
