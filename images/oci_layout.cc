#include "images/oci_layout.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>
#include <vector>

#include "core/digest.h"
#include "core/strings.h"

namespace strata::images {
namespace {

// Nested indexes deeper than this are refused (ELOOP): a real image has one level.
constexpr int kMaxIndexDepth = 8;

// Opens `name` in `dir_fd` without following a symlink. O_NONBLOCK so a FIFO planted in the
// layout cannot block the open; regular-file reads ignore it.
Result<UniqueFd> OpenNoFollow(int dir_fd, const std::string& name, int flags,
                              const std::string& shown) {
  UniqueFd fd(::openat(dir_fd, name.c_str(), flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  if (fd) return fd;
  int err = errno;
  struct stat st;
  // With O_DIRECTORY the kernel reports a symlink as ENOTDIR, not ELOOP: look before saying so.
  if (err == ELOOP ||
      (err == ENOTDIR && ::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
       S_ISLNK(st.st_mode))) {
    return Error(ELOOP, shown + " is a symlink (not followed: a layout's files must be inside it)");
  }
  if (err == ENOENT) return Error(ENOENT, shown + ": missing");
  return Error::FromErrno(err, "open " + shown);
}

Status CheckRegular(int fd, const std::string& shown, struct stat* st) {
  if (::fstat(fd, st) != 0) return Error::FromErrno("stat " + shown);
  if (!S_ISREG(st->st_mode)) return Error(EINVAL, shown + " is not a regular file");
  return Ok();
}

// A small file of the layout itself (oci-layout, index.json), read whole.
Result<std::string> ReadLayoutFile(int dir_fd, const std::string& name) {
  STRATA_ASSIGN_OR_RETURN(UniqueFd fd, OpenNoFollow(dir_fd, name, O_RDONLY, name));
  struct stat st;
  STRATA_TRY(CheckRegular(fd.Get(), name, &st));
  if (st.st_size > kMaxJsonBytes) {
    return Error(EFBIG, name + ": " + std::to_string(st.st_size) + " bytes is over the " +
                            std::to_string(kMaxJsonBytes) + " byte limit");
  }
  std::string out(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::pread(fd.Get(), out.data() + done, out.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::FromErrno("read " + name);
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  out.resize(done);
  return out;
}

std::string BlobName(const Descriptor& d) { return "blob " + d.digest; }

// EIO unless `fd` is a regular file of the descriptor's size: the cheap check before a hash.
Status CheckBlobSize(int fd, const Descriptor& d) {
  struct stat st;
  STRATA_TRY(CheckRegular(fd, BlobName(d), &st));
  if (st.st_size == d.size_bytes) return Ok();
  return Error(EIO, BlobName(d) + ": size " + std::to_string(st.st_size) +
                        " != " + std::to_string(d.size_bytes) + " in the descriptor");
}

// "linux/amd64, linux/arm64/v8" for an error naming what an index offers.
std::string Platforms(const ImageIndex& index) {
  std::vector<std::string> names;
  for (const Descriptor& d : index.manifests) {
    names.push_back(d.platform ? d.platform->ToString() : "(no platform)");
  }
  return names.empty() ? "none" : Join(names, ", ");
}

}  // namespace

Status VerifyBlobFd(int fd, const Descriptor& d, std::string* contents) {
  STRATA_TRY(CheckBlobSize(fd, d));
  Sha256 sha;
  std::vector<char> buf(1 << 20);
  int64_t total = 0;
  // Reading stops one past the declared size, so a file growing underneath stays bounded.
  while (total <= d.size_bytes) {
    ssize_t n = ::pread(fd, buf.data(), buf.size(), static_cast<off_t>(total));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::FromErrno("read " + BlobName(d));
    if (n == 0) break;
    sha.Update(buf.data(), static_cast<size_t>(n));
    if (contents != nullptr) contents->append(buf.data(), static_cast<size_t>(n));
    total += n;
  }
  if (total != d.size_bytes) {
    return Error(EIO, BlobName(d) + ": size " + std::to_string(total) + " != " +
                          std::to_string(d.size_bytes) + " in the descriptor (changed while read)");
  }
  STRATA_ASSIGN_OR_RETURN(std::string computed, sha.Final());
  if (computed != d.digest) {
    return Error(EIO, BlobName(d) + ": digest mismatch: computed " + computed);
  }
  return Ok();
}

Result<OciLayout> OciLayout::Open(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return Error::FromErrno("open image layout " + dir);
  STRATA_ASSIGN_OR_RETURN_CTX(std::string text, ReadLayoutFile(fd.Get(), "oci-layout"),
                              "image layout " + dir);
  STRATA_TRY_CTX(CheckOciLayoutFile(text, "oci-layout"), "image layout " + dir);
  return OciLayout(dir, std::move(fd));
}

Result<ImageIndex> OciLayout::ReadIndex() const {
  STRATA_ASSIGN_OR_RETURN(std::string text, ReadLayoutFile(dir_fd_.Get(), "index.json"));
  return ParseImageIndex(text, "index.json");
}

Result<UniqueFd> OciLayout::OpenBlob(const Descriptor& d) const {
  // Component by component: O_NOFOLLOW on a full path would only guard the last one.
  const std::string hex(DigestHex(d.digest));
  STRATA_ASSIGN_OR_RETURN_CTX(UniqueFd blobs,
                              OpenNoFollow(dir_fd_.Get(), "blobs", O_RDONLY | O_DIRECTORY, "blobs"),
                              BlobName(d));
  STRATA_ASSIGN_OR_RETURN_CTX(
      UniqueFd sha, OpenNoFollow(blobs.Get(), "sha256", O_RDONLY | O_DIRECTORY, "blobs/sha256"),
      BlobName(d));
  STRATA_ASSIGN_OR_RETURN_CTX(
      UniqueFd fd, OpenNoFollow(sha.Get(), hex, O_RDONLY, "blobs/sha256/" + hex), BlobName(d));
  return fd;
}

Status OciLayout::VerifyBlob(const Descriptor& d) const {
  STRATA_ASSIGN_OR_RETURN(UniqueFd fd, OpenBlob(d));
  return VerifyBlobFd(fd.Get(), d);
}

Result<std::string> OciLayout::ReadBlob(const Descriptor& d, int64_t max_bytes) const {
  if (d.size_bytes > max_bytes) {
    return Error(EFBIG, BlobName(d) + ": " + std::to_string(d.size_bytes) + " bytes is over the " +
                            std::to_string(max_bytes) + " byte limit for " + d.media_type);
  }
  STRATA_ASSIGN_OR_RETURN(UniqueFd fd, OpenBlob(d));
  std::string contents;
  contents.reserve(static_cast<size_t>(d.size_bytes));
  STRATA_TRY(VerifyBlobFd(fd.Get(), d, &contents));
  return contents;
}

Result<Descriptor> OciLayout::SelectManifest(const Descriptor& entry, const Platform& platform,
                                             int depth) const {
  if (entry.kind == MediaKind::kManifest) return entry;
  if (depth >= kMaxIndexDepth) {
    return Error(ELOOP, "index " + entry.digest + ": nested more than " +
                            std::to_string(kMaxIndexDepth) + " deep");
  }
  STRATA_ASSIGN_OR_RETURN(std::string text, ReadBlob(entry, kMaxJsonBytes));
  STRATA_ASSIGN_OR_RETURN(ImageIndex index, ParseImageIndex(text, "index " + entry.digest));
  const Descriptor* chosen = nullptr;
  for (const Descriptor& d : index.manifests) {
    if (d.platform && PlatformMatches(*d.platform, platform)) {
      chosen = &d;
      break;
    }
  }
  // An index of one manifest without a platform (a single-platform image wrapped in an index).
  if (chosen == nullptr && index.manifests.size() == 1 && !index.manifests[0].platform) {
    chosen = &index.manifests[0];
  }
  if (chosen == nullptr) {
    return Error(ENOENT, "index " + entry.digest + ": no manifest for " + platform.ToString() +
                             " (has " + Platforms(index) + ")");
  }
  return SelectManifest(*chosen, platform, depth + 1);
}

Result<LayoutImage> OciLayout::LoadImage(const Descriptor& manifest_descriptor,
                                         LayerCheck layer_check) const {
  LayoutImage image;
  image.manifest_descriptor = manifest_descriptor;
  const std::string& digest = manifest_descriptor.digest;
  STRATA_ASSIGN_OR_RETURN(std::string text, ReadBlob(manifest_descriptor, kMaxJsonBytes));
  STRATA_ASSIGN_OR_RETURN(image.manifest, ParseImageManifest(text, "manifest " + digest));
  const Descriptor& config = image.manifest.config;
  STRATA_ASSIGN_OR_RETURN_CTX(text, ReadBlob(config, kMaxJsonBytes),
                              "manifest " + digest + ": config");
  STRATA_ASSIGN_OR_RETURN(image.config, ParseImageConfig(text, "config " + config.digest));
  STRATA_TRY_CTX(CheckConfigMatchesManifest(image.manifest, image.config), "manifest " + digest);
  for (size_t i = 0; i < image.manifest.layers.size(); ++i) {
    const Descriptor& layer = image.manifest.layers[i];
    std::string where = "manifest " + digest + ": layers[" + std::to_string(i) + "]";
    if (layer_check == LayerCheck::kDigest) {
      STRATA_TRY_CTX(VerifyBlob(layer), where);
      continue;
    }
    STRATA_ASSIGN_OR_RETURN_CTX(UniqueFd fd, OpenBlob(layer), where);
    STRATA_TRY_CTX(CheckBlobSize(fd.Get(), layer), where);
  }
  return image;
}

Result<std::vector<LayoutImage>> OciLayout::Images(const ResolveOptions& options) const {
  STRATA_ASSIGN_OR_RETURN(ImageIndex index, ReadIndex());
  std::vector<LayoutImage> images;
  for (size_t i = 0; i < index.manifests.size(); ++i) {
    const Descriptor& entry = index.manifests[i];
    if (entry.platform && !PlatformMatches(*entry.platform, options.platform)) continue;
    std::string where = "index.json: manifests[" + std::to_string(i) + "]";
    STRATA_ASSIGN_OR_RETURN_CTX(Descriptor chosen, SelectManifest(entry, options.platform, 0),
                                where);
    STRATA_ASSIGN_OR_RETURN_CTX(LayoutImage image, LoadImage(chosen, options.layer_check), where);
    image.ref_name = entry.RefName();
    image.entry_annotations = entry.annotations;
    images.push_back(std::move(image));
  }
  if (images.empty()) {
    return Error(ENOENT, "index.json: no image for " + options.platform.ToString() + " (has " +
                             Platforms(index) + ")");
  }
  return images;
}

}  // namespace strata::images
