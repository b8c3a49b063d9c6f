// ImageStore, part 2: `image load`. Every layer work of every image in the source happens first
// (layers applied or shared, blobs copied into the content store); then one transaction records
// all images and names. Any error before that removes the layers this load made, so a load is
// all or nothing.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <vector>

#include "core/digest.h"
#include "core/failpoint.h"
#include "core/unique_fd.h"
#include "images/image_rows.h"
#include "images/image_store.h"
#include "images/layer_stream.h"
#include "images/reference.h"
#include "images/source.h"

namespace strata::images {
namespace {

std::string Hex(std::string_view digest) {
  return std::string(digest.rfind("sha256:", 0) == 0 ? digest.substr(7) : digest);
}

std::string LayerMediaType(drivers::archive::Compression compression) {
  switch (compression) {
    case drivers::archive::Compression::kGzip:
      return kMediaTypeOciLayerGzip;
    case drivers::archive::Compression::kZstd:
      return kMediaTypeOciLayerZstd;
    case drivers::archive::Compression::kNone:
      break;
  }
  return kMediaTypeOciLayerTar;
}

bool Exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// A blob on its way into the content store: written to tmp/, renamed into place once verified.
class PendingBlob {
 public:
  static Result<PendingBlob> Create(const std::string& tmp_dir) {
    std::string path = tmp_dir + "/blob-XXXXXX";
    int fd = ::mkostemp(path.data(), O_CLOEXEC);
    if (fd < 0) return Error(errno, "create " + path);
    return PendingBlob(UniqueFd(fd), std::move(path));
  }
  PendingBlob(PendingBlob&&) noexcept = default;
  ~PendingBlob() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  int fd() const { return fd_.Get(); }
  const std::string& path() const { return path_; }
  // fsync and rename to `target` (a blob that is already there wins: same bytes).
  Status Commit(const std::string& target) {
    if (::fsync(fd_.Get()) != 0) return Error(errno, "fsync " + path_);
    if (!Exists(target) && ::rename(path_.c_str(), target.c_str()) != 0) {
      return Error(errno, "rename " + path_ + " to " + target);
    }
    ::unlink(path_.c_str());
    path_.clear();
    return Ok();
  }

 private:
  PendingBlob(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
  UniqueFd fd_;
  std::string path_;
};

Status CopyToEnd(int in, int out) {
  std::vector<char> buf(1 << 20);
  while (true) {
    ssize_t n = ::read(in, buf.data(), buf.size());
    if (n == 0) return Ok();
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error(errno, "read");
    for (ssize_t done = 0; done < n;) {
      ssize_t w = ::write(out, buf.data() + done, static_cast<size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return Error(errno, "write");
      done += w;
    }
  }
}

Result<UniqueFd> OpenBlobFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return Error(errno, "open " + path);
  return UniqueFd(fd);
}

Status Drain(int fd) {
  std::vector<char> buf(1 << 18);
  while (true) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n == 0) return Ok();
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error(errno, "read layer stream");
    }
  }
}


// The manifest strata writes for an image from a docker-save archive (which has none).
std::string SynthesizeManifest(const ImageRecord& image) {
  nlohmann::ordered_json layers = nlohmann::ordered_json::array();
  for (const ImageLayer& layer : image.layers) {
    layers.push_back({{"mediaType", layer.media_type},
                      {"digest", layer.blob_digest},
                      {"size", layer.blob_size}});
  }
  nlohmann::ordered_json manifest = {
      {"schemaVersion", 2},
      {"mediaType", kMediaTypeOciManifest},
      {"config",
       {{"mediaType", kMediaTypeOciConfig},
        {"digest", image.id},
        {"size", static_cast<int64_t>(image.config_json.size())}}},
      {"layers", layers}};
  return manifest.dump();
}

}  // namespace

// What one image of the source needs recorded once every layer is in place.
struct ImageStore::PendingImage {
  LoadedImage loaded;
  bool exists = false;               // same id already in the store: only names are added
  std::vector<std::string> names;  // normalised names to point at it
};

Result<std::vector<LoadedImage>> ImageStore::Load(const std::string& path,
                                                  const LoadOptions& options) {
  if (!options.repository.empty()) {
    STRATA_TRY_CTX(ParseImageName(options.repository + ":latest"), "--name");
  }
  STRATA_ASSIGN_OR_RETURN(FileLock lock, rows::LockImages(store_, FileLock::Wait::kBlock));
  // "-": the archive comes on stdin (`docker save x | strata image load -`); spooled to tmp/,
  // under the lock, so an interrupted spool is cleaned up like any other leftover.
  std::optional<PendingBlob> spool;
  if (path == "-") {
    STRATA_ASSIGN_OR_RETURN(PendingBlob created, PendingBlob::Create(rows::TmpDir(dir_)));
    spool.emplace(std::move(created));
    STRATA_TRY_CTX(CopyToEnd(STDIN_FILENO, spool->fd()), "load from stdin");
  }
  STRATA_ASSIGN_OR_RETURN(
      std::unique_ptr<ImageSource> source,
      ImageSource::Open(spool ? spool->path() : path, rows::TmpDir(dir_), options.platform));
  if (options.progress != nullptr) {
    int layers = 0;
    for (const SourceImage& image : source->images()) layers += static_cast<int>(image.layers.size());
    options.progress->bytes_total = source->TotalLayerBytes();
    options.progress->layers_total = layers;
  }
  const std::string format(SourceFormatName(source->format()));
  created_.clear();
  std::vector<PendingImage> pending;
  Status prepared = [&]() -> Status {
    for (const SourceImage& image : source->images()) {
      STRATA_ASSIGN_OR_RETURN(PendingImage one, PrepareImage(image, format, options));
      pending.push_back(std::move(one));
    }
    Failpoint("image.load", "before-records");
    return store_.Transaction([&]() -> Status {
      for (PendingImage& one : pending) {
        if (!one.exists) STRATA_TRY(rows::Insert(store_, one.loaded.image));
        for (const std::string& name : one.names) {
          STRATA_TRY(rows::SetName(store_, name, one.loaded.image.id));
        }
      }
      return Ok();
    });
  }();
  if (!prepared.ok()) {
    RollBackCreated();
    return std::move(prepared).error().Wrap("load " + path);
  }
  created_.clear();
  std::vector<LoadedImage> loaded;
  for (PendingImage& one : pending) {
    STRATA_ASSIGN_OR_RETURN(std::optional<ImageRecord> record, rows::Read(store_, one.loaded.image.id));
    if (record) one.loaded.image = std::move(*record);
    loaded.push_back(std::move(one.loaded));
  }
  return loaded;
}

// Removes what this load made, newest first. A failure here leaves owned layers no image uses,
// which the next Open removes.
void ImageStore::RollBackCreated() {
  for (auto it = created_.rbegin(); it != created_.rend(); ++it) {
    if (layers_.Remove(*it).ok()) (void)rows::DeleteOwnedLayer(store_, *it);
  }
  created_.clear();
  (void)RemoveUnusedBlobs();
}

Result<ImageStore::PendingImage> ImageStore::PrepareImage(const SourceImage& image,
                                                          const std::string& format,
                                                          const LoadOptions& options) {
  PendingImage pending;
  for (const std::string& name : image.names) {
    bool bare = format == SourceFormatName(SourceFormat::kOciLayout) && IsBareTag(name) &&
                name.find(':') == std::string::npos;
    if (bare && options.repository.empty()) {
      pending.loaded.untagged.push_back(name);
      continue;
    }
    STRATA_ASSIGN_OR_RETURN(ImageName parsed,
                            ParseImageName(bare ? options.repository + ":" + name : name));
    pending.names.push_back(parsed.ToString());
  }
  STRATA_ASSIGN_OR_RETURN(std::optional<ImageRecord> existing,
                          rows::Read(store_, image.config_digest));
  LoadProgress* progress = options.progress;
  if (existing) {
    pending.exists = true;
    pending.loaded.image = std::move(*existing);
    pending.loaded.shared = static_cast<int>(image.layers.size());
    if (progress != nullptr) {
      for (const SourceLayer& layer : image.layers) progress->bytes_done += layer.blob.size_bytes;
      progress->layers_done += static_cast<int>(image.layers.size());
    }
    return pending;
  }
  STRATA_ASSIGN_OR_RETURN(std::vector<std::string> chain, ChainIds(image.config.diff_ids));
  if (chain.size() != image.layers.size()) {
    return Error(EINVAL, "image " + image.config_digest + ": config has " +
                             std::to_string(chain.size()) + " diff ids for " +
                             std::to_string(image.layers.size()) + " layers");
  }
  ImageRecord& record = pending.loaded.image;
  record.id = image.config_digest;
  record.config_json = image.config_json;
  record.source = format;
  record.created_unix = static_cast<int64_t>(std::time(nullptr));
  const size_t n = image.layers.size();
  for (size_t i = 0; i < n; ++i) {
    const SourceLayer& src = image.layers[i];
    ImageLayer want;
    want.layer = Hex(chain[i]);
    want.chain_id = chain[i];
    want.diff_id = src.diff_id;
    want.blob_digest = src.blob.digest;
    // A docker archive's layers get the OCI media type of what they turn out to be.
    want.media_type = format == SourceFormatName(SourceFormat::kOciLayout) ? src.blob.media_type
                                                                           : std::string();
    want.blob_size = src.blob.size_bytes;
    const std::string what = "layer " + std::to_string(i + 1) + "/" + std::to_string(n) + " (" +
                             (src.blob.digest.empty() ? src.path : src.blob.digest) + ")";
    const std::string parent = i == 0 ? "" : Hex(chain[i - 1]);
    ImageLayer got;
    if (layers_.Get(want.layer).ok()) {
      STRATA_ASSIGN_OR_RETURN(got, ShareLayer(src, want, what, progress));
      ++pending.loaded.shared;
    } else {
      STRATA_ASSIGN_OR_RETURN(got, ApplyLayer(src, parent, want, what, progress));
      ++pending.loaded.applied;
      pending.loaded.applied_bytes += got.diff_size;
    }
    if (progress != nullptr) ++progress->layers_done;
    record.size_bytes += got.diff_size;
    record.layers.push_back(std::move(got));
  }
  if (image.manifest_json.empty()) {
    record.manifest_json = SynthesizeManifest(record);
    record.manifest_media_type = kMediaTypeOciManifest;
    Sha256 sha;
    sha.Update(record.manifest_json.data(), record.manifest_json.size());
    STRATA_ASSIGN_OR_RETURN(record.manifest_digest, sha.Final());
  } else {
    record.manifest_json = image.manifest_json;
    record.manifest_media_type = image.manifest_descriptor.media_type;
    record.manifest_digest = image.manifest_descriptor.digest;
  }
  return pending;
}

// The layer is there already (another image has it). Only the blob may be missing from the
// content store (same layer, other compression): then it is read once, checked, and copied.
Result<ImageLayer> ImageStore::ShareLayer(const SourceLayer& src, const ImageLayer& want,
                                          const std::string& what, LoadProgress* progress) {
  ImageLayer out = want;
  STRATA_ASSIGN_OR_RETURN(std::optional<ImageLayer> known, rows::FindLayer(store_, want.layer));
  bool have_blob = !src.blob.digest.empty() && Exists(rows::BlobPath(dir_, src.blob.digest));
  if (have_blob && known && (!out.media_type.empty() || known->blob_digest == src.blob.digest)) {
    out.diff_size = known->diff_size;
    if (out.media_type.empty()) out.media_type = known->media_type;
    if (progress != nullptr) progress->bytes_done += src.blob.size_bytes;
    return out;
  }
  STRATA_ASSIGN_OR_RETURN(UniqueFd blob, OpenBlobFile(src.path));
  STRATA_ASSIGN_OR_RETURN(PendingBlob pending, PendingBlob::Create(rows::TmpDir(dir_)));
  LayerStreamOptions options;
  options.expected_digest = src.blob.digest;
  options.expected_size = src.blob.digest.empty() ? -1 : src.blob.size_bytes;
  options.expected_diff_id = src.diff_id;
  options.copy_fd = pending.fd();
  options.bytes_read = progress != nullptr ? &progress->bytes_done : nullptr;
  options.what = what;
  STRATA_ASSIGN_OR_RETURN(LayerStreamResult stream, StreamLayer(blob.Get(), options, Drain));
  STRATA_TRY(pending.Commit(rows::BlobPath(dir_, stream.digest)));
  out.blob_digest = stream.digest;
  out.blob_size = static_cast<int64_t>(stream.size);
  out.diff_size = static_cast<int64_t>(stream.diff_size);
  if (out.media_type.empty()) out.media_type = LayerMediaType(stream.compression);
  return out;
}

// A new layer: recorded as owned first (so a crash leaves something recovery finds), then
// filled in one pass that verifies, copies the blob and applies.
Result<ImageLayer> ImageStore::ApplyLayer(const SourceLayer& src, const std::string& parent,
                                          ImageLayer out, const std::string& what,
                                          LoadProgress* progress) {
  STRATA_ASSIGN_OR_RETURN(UniqueFd blob, OpenBlobFile(src.path));
  std::optional<PendingBlob> pending;
  if (src.blob.digest.empty() || !Exists(rows::BlobPath(dir_, src.blob.digest))) {
    STRATA_ASSIGN_OR_RETURN(PendingBlob created, PendingBlob::Create(rows::TmpDir(dir_)));
    pending.emplace(std::move(created));
  }
  LayerStreamOptions options;
  options.expected_digest = src.blob.digest;
  options.expected_size = src.blob.digest.empty() ? -1 : src.blob.size_bytes;
  options.expected_diff_id = src.diff_id;
  options.copy_fd = pending ? pending->fd() : -1;
  options.bytes_read = progress != nullptr ? &progress->bytes_done : nullptr;
  options.what = what;

  STRATA_TRY(store_.Transaction([&]() { return rows::AddOwnedLayer(store_, out.layer); }));
  created_.push_back(out.layer);
  Failpoint("image.load", "after-owned");
  LayerStreamResult stream;
  auto apply = [&](drivers::Driver& driver,
                   const std::string& id) -> Result<drivers::archive::ApplyStats> {
    drivers::archive::ApplyStats stats;
    STRATA_ASSIGN_OR_RETURN(stream, StreamLayer(blob.Get(), options, [&](int tar_fd) -> Status {
                              STRATA_ASSIGN_OR_RETURN(stats, driver.ApplyDiff(id, tar_fd));
                              return Ok();
                            }));
    return stats;
  };
  STRATA_TRY(layers_.Import(out.layer, parent, apply));
  Failpoint("image.load", "after-layer");
  if (pending) STRATA_TRY(pending->Commit(rows::BlobPath(dir_, stream.digest)));
  out.blob_digest = stream.digest;
  out.blob_size = static_cast<int64_t>(stream.size);
  out.diff_size = static_cast<int64_t>(stream.diff_size);
  if (out.media_type.empty()) out.media_type = LayerMediaType(stream.compression);
  return out;
}

}  // namespace strata::images
