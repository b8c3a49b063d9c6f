// Reading an OCI image layout directory (image-spec image-layout.md):
//   oci-layout           {"imageLayoutVersion": "1.0.0"}
//   index.json           an image index; each entry is one image, named by its
//                        org.opencontainers.image.ref.name annotation
//   blobs/sha256/<hex>   content-addressed blobs: manifests, indexes, configs, layers
//
// Every blob is checked against its descriptor (size and sha256) before it is used: JSON blobs
// are read whole, hashed and compared before parsing. Nothing under the layout directory is
// reached through a symlink (each component is opened O_NOFOLLOW), so a crafted layout cannot
// make strata read a file outside it.
//
// Errnos: ENOENT (missing file or blob, or no manifest for the platform), ELOOP (a symlink where
// a blob or blob directory should be), EIO (size or digest mismatch: truncated or corrupt blob),
// EINVAL (malformed JSON, unknown media type, not a regular file), EOPNOTSUPP (digest algorithm
// or layout version), EFBIG (a JSON blob over kMaxJsonBytes).
// Thread-safety: an OciLayout is immutable after Open; its methods may run concurrently.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/unique_fd.h"
#include "images/oci.h"

namespace strata::images {

// How Images() checks layer blobs. Hashing every layer reads the whole image, so a caller that
// hashes while it applies (and fails the apply on a mismatch) asks for kSize.
enum class LayerCheck {
  kSize,    // the blob exists, is a regular file and has the descriptor's size
  kDigest,  // and its sha256 matches (VerifyBlob)
};

struct ResolveOptions {
  // Picks the manifest out of a multi-platform index; a top-level index.json entry whose
  // platform does not match is skipped.
  Platform platform = HostPlatform();
  LayerCheck layer_check = LayerCheck::kSize;
};

// One image of a layout, resolved to a single-platform manifest.
struct LayoutImage {
  std::string ref_name;            // the index.json entry's ref.name annotation, or ""
  // All annotations of the index.json entry (io.containerd.image.name, ref.name, ...).
  std::map<std::string, std::string> entry_annotations;
  Descriptor manifest_descriptor;  // the chosen manifest (after following nested indexes)
  ImageManifest manifest;
  ImageConfig config;  // has one diff_id per layer

  const std::vector<Descriptor>& layers() const { return manifest.layers; }
};

// Index, manifest and config blobs larger than this are refused (containerd's limit too).
inline constexpr int64_t kMaxJsonBytes = 4 << 20;

class OciLayout {
 public:
  // Opens `dir` and checks its oci-layout file.
  static Result<OciLayout> Open(const std::string& dir);

  const std::string& dir() const { return dir_; }

  // index.json, parsed.
  Result<ImageIndex> ReadIndex() const;

  // Every image index.json lists, following nested indexes to the manifest for
  // `options.platform`. Manifest and config blobs are verified; layers per options.layer_check.
  // ENOENT when no entry is for the platform.
  Result<std::vector<LayoutImage>> Images(const ResolveOptions& options) const;

  // blobs/sha256/<hex> opened read-only, never through a symlink. The fd is the caller's.
  Result<UniqueFd> OpenBlob(const Descriptor& descriptor) const;

  // Streams the blob through sha256 and checks its size and digest.
  Status VerifyBlob(const Descriptor& descriptor) const;

  // The whole blob, verified. EFBIG when the descriptor is over `max_bytes`.
  Result<std::string> ReadBlob(const Descriptor& descriptor, int64_t max_bytes) const;

 private:
  OciLayout(std::string dir, UniqueFd dir_fd) : dir_(std::move(dir)), dir_fd_(std::move(dir_fd)) {}
  Result<Descriptor> SelectManifest(const Descriptor& entry, const Platform& platform,
                                    int depth) const;
  Result<LayoutImage> LoadImage(const Descriptor& manifest, LayerCheck layer_check) const;

  std::string dir_;
  UniqueFd dir_fd_;  // the layout directory; every lookup is relative to it
};

// Reads `fd` from offset 0 to its end through sha256 and checks it against `descriptor`:
//   EIO "blob sha256:...: size 10 != 12 in the descriptor"
//   EIO "blob sha256:...: digest mismatch: computed sha256:..."
// When `contents` is not null the bytes are appended to it.
Status VerifyBlobFd(int fd, const Descriptor& descriptor, std::string* contents = nullptr);

}  // namespace strata::images
