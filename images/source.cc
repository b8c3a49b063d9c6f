#include "images/source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <deque>
#include <utility>

#include "core/digest.h"
#include "images/docker_archive.h"
#include "images/oci_layout.h"

namespace strata::images {
namespace {

// Symlinks followed while resolving one path in a docker-save directory (the kernel's limit).
constexpr int kMaxSymlinkHops = 40;

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

bool IsHex64(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// The digest a content-addressed archive path names: "blobs/sha256/<hex>", or a top-level
// "<hex><suffix>" for one of `suffixes`. nullopt otherwise.
std::optional<std::string> DigestNamedBy(std::string_view path,
                                         std::initializer_list<std::string_view> suffixes) {
  constexpr std::string_view kBlobs = "blobs/sha256/";
  if (path.starts_with(kBlobs) && IsHex64(path.substr(kBlobs.size()))) {
    return "sha256:" + std::string(path.substr(kBlobs.size()));
  }
  for (std::string_view suffix : suffixes) {
    if (path.ends_with(suffix) && IsHex64(path.substr(0, path.size() - suffix.size()))) {
      return "sha256:" + std::string(path.substr(0, 64));
    }
  }
  return std::nullopt;
}

std::deque<std::string> Components(std::string_view path) {
  std::deque<std::string> out;
  for (size_t pos = 0; pos <= path.size();) {
    size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    out.emplace_back(path.substr(pos, slash - pos));
    pos = slash + 1;
  }
  return out;
}

// A regular file found inside a directory.
struct InsideFile {
  std::string rel;  // its path below the directory, symlinks resolved
  UniqueFd fd;      // open read-only
  int64_t size_bytes = 0;
};

std::string JoinComponents(const std::vector<std::string>& parts, const std::string& last) {
  std::string out;
  for (const std::string& part : parts) out += part + "/";
  return out + last;
}

// Opens `rel` below `root_fd` one component at a time with O_NOFOLLOW, resolving symlinks by
// hand so that none leads out: an absolute target or ".." past the root is EPERM. Directories
// are pinned by fd, so a component swapped for a symlink meanwhile fails instead of being
// followed. ENOENT when missing; EINVAL unless the result is a regular file. Errors do not
// repeat `rel`: the caller names it.
Result<InsideFile> OpenInside(int root_fd, std::string_view rel) {
  std::deque<std::string> todo = Components(rel);
  std::vector<std::string> done;  // resolved components
  std::vector<UniqueFd> dirs;     // dirs[i] is the directory done[0..i]; the root when empty
  std::string via;                // the last symlink followed, for errors
  int hops = 0;
  while (!todo.empty()) {
    std::string name = std::move(todo.front());
    todo.pop_front();
    int at = dirs.empty() ? root_fd : dirs.back().Get();
    if (name.empty() || name == ".") continue;
    if (name == "..") {
      if (done.empty()) return Error(EPERM, via + "leads out of the archive");
      done.pop_back();
      dirs.pop_back();
      continue;
    }
    struct stat st;
    if (::fstatat(at, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) return Error(ENOENT, "missing");
      return Error::FromErrno("stat");
    }
    if (S_ISLNK(st.st_mode)) {
      if (++hops > kMaxSymlinkHops) return Error(ELOOP, "too many levels of symlinks");
      char target[PATH_MAX];
      ssize_t n = ::readlinkat(at, name.c_str(), target, sizeof(target) - 1);
      if (n < 0) return Error::FromErrno("readlink");
      std::string_view link(target, static_cast<size_t>(n));
      via = "symlink " + Quote(JoinComponents(done, name)) + " -> " + Quote(link) + " ";
      if (link.empty() || link.front() == '/')
        return Error(EPERM, via + "leads out of the archive");
      std::deque<std::string> more = Components(link);
      todo.insert(todo.begin(), more.begin(), more.end());
      continue;
    }
    const bool last = todo.empty();
    int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (last ? O_NONBLOCK : O_DIRECTORY);
    UniqueFd fd(::openat(at, name.c_str(), flags));
    if (!fd) return Error::FromErrno("open " + Quote(JoinComponents(done, name)));
    if (!last) {
      done.push_back(name);
      dirs.push_back(std::move(fd));
      continue;
    }
    if (::fstat(fd.Get(), &st) != 0) return Error::FromErrno("stat");
    if (!S_ISREG(st.st_mode)) return Error(EINVAL, "not a regular file");
    return InsideFile{JoinComponents(done, name), std::move(fd), static_cast<int64_t>(st.st_size)};
  }
  return Error(EINVAL, "not a regular file");
}

// The whole of a small file. EFBIG over `max_bytes`.
Result<std::string> ReadAll(const InsideFile& file, int64_t max_bytes) {
  if (file.size_bytes > max_bytes) {
    return Error(EFBIG, std::to_string(file.size_bytes) + " bytes is over the " +
                            std::to_string(max_bytes) + " byte limit");
  }
  std::string out(static_cast<size_t>(file.size_bytes), '\0');
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n =
        ::pread(file.fd.Get(), out.data() + done, out.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::FromErrno("read");
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  out.resize(done);
  return out;
}

Result<std::string> Sha256Of(std::string_view bytes) {
  Sha256 sha;
  sha.Update(bytes.data(), bytes.size());
  return sha.Final();
}

// --- OCI image layout ---

Result<SourceImage> FromLayoutImage(const OciLayout& layout, LayoutImage image) {
  SourceImage out;
  auto name = image.entry_annotations.find(kAnnotationContainerdImageName);
  if (name != image.entry_annotations.end() && !name->second.empty()) {
    out.names.push_back(name->second);
  } else if (!image.ref_name.empty()) {
    out.names.push_back(image.ref_name);
  }
  const std::string where = "manifest " + image.manifest_descriptor.digest;
  STRATA_ASSIGN_OR_RETURN_CTX(out.manifest_json,
                              layout.ReadBlob(image.manifest_descriptor, kMaxJsonBytes), where);
  STRATA_ASSIGN_OR_RETURN_CTX(
      out.config_json, layout.ReadBlob(image.manifest.config, kMaxJsonBytes), where + ": config");
  out.manifest_descriptor = std::move(image.manifest_descriptor);
  out.config_digest = image.manifest.config.digest;
  // LoadImage checked one diff_id per layer.
  for (size_t i = 0; i < image.manifest.layers.size(); ++i) {
    SourceLayer layer;
    layer.blob = std::move(image.manifest.layers[i]);
    layer.diff_id = image.config.diff_ids[i];
    layer.path = layout.dir() + "/blobs/sha256/" + std::string(DigestHex(layer.blob.digest));
    out.layers.push_back(std::move(layer));
  }
  out.config = std::move(image.config);
  return out;
}

Result<std::vector<SourceImage>> LoadOciLayout(const std::string& dir, const Platform& platform) {
  STRATA_ASSIGN_OR_RETURN(OciLayout layout, OciLayout::Open(dir));
  STRATA_ASSIGN_OR_RETURN(std::vector<LayoutImage> images,
                          layout.Images(ResolveOptions{platform, LayerCheck::kSize}));
  std::vector<SourceImage> out;
  for (LayoutImage& image : images) {
    STRATA_ASSIGN_OR_RETURN(SourceImage source, FromLayoutImage(layout, std::move(image)));
    out.push_back(std::move(source));
  }
  return out;
}

// --- docker save archive ---

// The config file, verified against the digest its path names (when it names one).
Status ReadDockerConfig(int dir_fd, const DockerArchiveImage& entry, SourceImage& image) {
  STRATA_ASSIGN_OR_RETURN(InsideFile file, OpenInside(dir_fd, entry.config));
  STRATA_ASSIGN_OR_RETURN(image.config_json, ReadAll(file, kMaxJsonBytes));
  STRATA_ASSIGN_OR_RETURN(image.config_digest, Sha256Of(image.config_json));
  std::optional<std::string> named = DigestNamedBy(entry.config, {".json", ""});
  if (named && *named != image.config_digest) {
    return Error(EIO,
                 "digest mismatch: computed " + image.config_digest + ", the name says " + *named);
  }
  return Ok();
}

Result<SourceLayer> DockerLayer(const std::string& dir, int dir_fd, const DockerArchiveImage& entry,
                                size_t i, const std::string& diff_id) {
  const std::string& rel = entry.layers[i];
  STRATA_ASSIGN_OR_RETURN(InsideFile file, OpenInside(dir_fd, rel));
  SourceLayer layer;
  layer.diff_id = diff_id;
  layer.path = dir + "/" + file.rel;
  layer.blob.media_type = kMediaTypeOciLayerTar;
  layer.blob.kind = MediaKind::kLayerTar;
  layer.blob.size_bytes = file.size_bytes;
  std::optional<std::string> named = DigestNamedBy(rel, {".tar"});
  if (!named) named = DigestNamedBy(file.rel, {});
  auto source = entry.layer_sources.find(diff_id);
  if (named) {
    layer.blob.digest = std::move(*named);
  } else if (source != entry.layer_sources.end() && source->second.size_bytes == file.size_bytes) {
    layer.blob.digest = source->second.digest;
  }
  return layer;
}

Result<SourceImage> LoadDockerImage(const std::string& dir, int dir_fd,
                                    const DockerArchiveImage& entry) {
  const std::string where =
      std::string(kDockerManifestFile) + ": [" + std::to_string(entry.index) + "]";
  SourceImage image;
  image.names = entry.repo_tags;
  STRATA_TRY_CTX(ReadDockerConfig(dir_fd, entry, image), where + ": config " + Quote(entry.config));
  STRATA_ASSIGN_OR_RETURN(image.config, ParseDockerImageConfig(entry, image.config_json));
  for (size_t i = 0; i < entry.layers.size(); ++i) {
    STRATA_ASSIGN_OR_RETURN_CTX(SourceLayer layer,
                                DockerLayer(dir, dir_fd, entry, i, image.config.diff_ids[i]),
                                where + ": layer " + Quote(entry.layers[i]));
    image.layers.push_back(std::move(layer));
  }
  return image;
}

// manifest.json is authoritative for names; `repositories` (legacy) is not read at all, so a
// malformed one cannot break a load.
Result<std::vector<SourceImage>> LoadDockerArchive(const std::string& dir, int dir_fd) {
  STRATA_ASSIGN_OR_RETURN_CTX(InsideFile manifest, OpenInside(dir_fd, kDockerManifestFile),
                              kDockerManifestFile);
  STRATA_ASSIGN_OR_RETURN_CTX(std::string text, ReadAll(manifest, kMaxJsonBytes),
                              kDockerManifestFile);
  STRATA_ASSIGN_OR_RETURN(std::vector<DockerArchiveImage> entries, ParseDockerManifest(text));
  std::vector<SourceImage> images;
  for (const DockerArchiveImage& entry : entries) {
    STRATA_ASSIGN_OR_RETURN(SourceImage image, LoadDockerImage(dir, dir_fd, entry));
    images.push_back(std::move(image));
  }
  return images;
}

// --- detection ---

Result<bool> HasEntry(int dir_fd, const char* name) {
  struct stat st;
  if (::fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) return true;
  if (errno == ENOENT) return false;
  return Error::FromErrno("stat " + std::string(name));
}

// `shown` is the path the user gave, for the error naming neither format.
Result<SourceFormat> Detect(int dir_fd, const std::string& shown) {
  STRATA_ASSIGN_OR_RETURN(bool oci, HasEntry(dir_fd, "oci-layout"));
  if (oci) return SourceFormat::kOciLayout;
  STRATA_ASSIGN_OR_RETURN(bool docker, HasEntry(dir_fd, kDockerManifestFile));
  if (docker) return SourceFormat::kDockerArchive;
  return Error(EINVAL, shown +
                           " is neither an OCI image layout (no oci-layout) nor a docker-save "
                           "archive (no manifest.json)");
}

Result<std::string> AbsoluteDir(const std::string& path) {
  char resolved[PATH_MAX];
  if (::realpath(path.c_str(), resolved) == nullptr) return Error::FromErrno("resolve " + path);
  return std::string(resolved);
}

}  // namespace

std::string_view SourceFormatName(SourceFormat format) {
  switch (format) {
    case SourceFormat::kOciLayout:
      return "oci-layout";
    case SourceFormat::kDockerArchive:
      return "docker-archive";
  }
  return "unknown";
}

Result<std::unique_ptr<ImageSource>> ImageSource::Open(const std::string& path,
                                                       const std::string& staging_parent,
                                                       const Platform& platform) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return Error::FromErrno("image " + path);
  std::unique_ptr<ImageSource> source(new ImageSource());  // owns the staging dir from here
  std::string context;
  if (S_ISDIR(st.st_mode)) {
    context = "image directory " + path;
    STRATA_ASSIGN_OR_RETURN_CTX(source->dir_, AbsoluteDir(path), context);
  } else if (S_ISREG(st.st_mode)) {
    context = "image archive " + path;
    STRATA_ASSIGN_OR_RETURN(StagedArchive staged, StagedArchive::Extract(path, staging_parent));
    source->dir_ = staged.dir();
    source->staged_.emplace(std::move(staged));
  } else {
    return Error(EINVAL, "image " + path + ": not a directory or a regular file");
  }
  UniqueFd dir_fd(::open(source->dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd) return Error::FromErrno("open " + source->dir_).Wrap(context);
  STRATA_ASSIGN_OR_RETURN(source->format_, Detect(dir_fd.Get(), path));
  if (source->format_ == SourceFormat::kOciLayout) {
    STRATA_ASSIGN_OR_RETURN_CTX(source->images_, LoadOciLayout(source->dir_, platform), context);
  } else {
    STRATA_ASSIGN_OR_RETURN_CTX(source->images_, LoadDockerArchive(source->dir_, dir_fd.Get()),
                                context);
  }
  return source;
}

ImageSource::~ImageSource() = default;

uint64_t ImageSource::TotalLayerBytes() const {
  uint64_t total = 0;
  for (const SourceImage& image : images_) {
    for (const SourceLayer& layer : image.layers) {
      total += static_cast<uint64_t>(layer.blob.size_bytes);
    }
  }
  return total;
}

}  // namespace strata::images
