// ImageStore, part 3: `image save`, an OCI image layout (directory or tar) of stored images,
// with the very manifest, config and layer blobs that were loaded, so ids and digests survive a
// save and load round trip.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/unique_fd.h"
#include "drivers/archive/archive_handles.h"
#include "images/image_rows.h"
#include "images/image_store.h"
#include "images/reference.h"

namespace strata::images {
namespace {

namespace fs = std::filesystem;
using drivers::archive::ArchiveError;
using drivers::archive::Entry;
using drivers::archive::WriteArchive;

constexpr char kAnnotationImageName[] = "io.containerd.image.name";

// Where a blob's bytes come from: the content store (a file) or the store's records (text).
struct BlobSource {
  std::string file;
  std::string text;
  int64_t size = 0;
};

struct Layout {
  std::string index_json;
  std::map<std::string, BlobSource> blobs;  // digest -> source
};

std::string Hex(const std::string& digest) { return digest.substr(7); }

Result<Layout> Plan(const std::vector<std::pair<ImageRecord, std::vector<std::string>>>& entries,
                    const std::string& images_dir) {
  Layout layout;
  nlohmann::ordered_json manifests = nlohmann::ordered_json::array();
  for (const auto& [image, names] : entries) {
    nlohmann::ordered_json base = {{"mediaType", image.manifest_media_type},
                                   {"digest", image.manifest_digest},
                                   {"size", static_cast<int64_t>(image.manifest_json.size())}};
    if (names.empty()) manifests.push_back(base);
    for (const std::string& name : names) {
      STRATA_ASSIGN_OR_RETURN(ImageName parsed, ParseImageName(name));
      nlohmann::ordered_json entry = base;
      entry["annotations"] = {{kAnnotationImageName, parsed.ToString()},
                              {kAnnotationRefName, parsed.tag}};
      manifests.push_back(entry);
    }
    layout.blobs[image.manifest_digest] =
        BlobSource{"", image.manifest_json, static_cast<int64_t>(image.manifest_json.size())};
    layout.blobs[image.id] =
        BlobSource{"", image.config_json, static_cast<int64_t>(image.config_json.size())};
    for (const ImageLayer& layer : image.layers) {
      std::string file = rows::BlobPath(images_dir, layer.blob_digest);
      struct stat st {};
      if (::stat(file.c_str(), &st) != 0 || st.st_size != layer.blob_size) {
        return Error(EIO, "image " + image.DisplayName() + ": layer blob " + layer.blob_digest +
                              " is missing or damaged in the content store (" + file + ")");
      }
      layout.blobs[layer.blob_digest] = BlobSource{file, "", layer.blob_size};
    }
  }
  nlohmann::ordered_json index = {{"schemaVersion", 2},
                                  {"mediaType", kMediaTypeOciIndex},
                                  {"manifests", manifests}};
  layout.index_json = index.dump();
  return layout;
}

Status WriteText(const std::string& path, const std::string& text) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd.valid()) return Error(errno, "create " + path);
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd.Get(), text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error(errno, "write " + path);
    }
    done += static_cast<size_t>(n);
  }
  return Ok();
}

Status WriteDirectory(const Layout& layout, const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir + "/blobs/sha256", ec);
  if (ec) return Error(ec.value(), "create " + dir + "/blobs/sha256: " + ec.message());
  STRATA_TRY(WriteText(dir + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})"));
  STRATA_TRY(WriteText(dir + "/index.json", layout.index_json));
  for (const auto& [digest, source] : layout.blobs) {
    std::string target = dir + "/blobs/sha256/" + Hex(digest);
    if (source.file.empty()) {
      STRATA_TRY(WriteText(target, source.text));
      continue;
    }
    // copy_file_range, which reflinks where the filesystem can.
    fs::copy_file(source.file, target, fs::copy_options::none, ec);
    if (ec) return Error(ec.value(), "copy " + source.file + " to " + target + ": " + ec.message());
  }
  return Ok();
}

Status AddEntry(struct archive* a, const std::string& name, mode_t type, int64_t size) {
  Entry entry(archive_entry_new());
  archive_entry_set_pathname(entry.get(), name.c_str());
  archive_entry_set_filetype(entry.get(), type);
  archive_entry_set_perm(entry.get(), type == AE_IFDIR ? 0755 : 0644);
  archive_entry_set_size(entry.get(), type == AE_IFDIR ? 0 : size);
  if (archive_write_header(a, entry.get()) != ARCHIVE_OK) return ArchiveError(a, name);
  return Ok();
}

Status AddData(struct archive* a, const std::string& name, const char* data, size_t size) {
  while (size > 0) {
    la_ssize_t n = archive_write_data(a, data, size);
    if (n < 0) return ArchiveError(a, name);
    data += n;
    size -= static_cast<size_t>(n);
  }
  return Ok();
}

Status WriteTar(const Layout& layout, const std::string& path) {
  UniqueFd out(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!out.valid()) return Error(errno, "create " + path);
  WriteArchive a(archive_write_new());
  archive_write_set_format_pax_restricted(a.get());
  archive_write_set_bytes_in_last_block(a.get(), 1);
  if (archive_write_open_fd(a.get(), out.Get()) != ARCHIVE_OK) return ArchiveError(a.get(), path);
  const std::string layout_json = R"({"imageLayoutVersion":"1.0.0"})";
  STRATA_TRY(AddEntry(a.get(), "oci-layout", AE_IFREG, static_cast<int64_t>(layout_json.size())));
  STRATA_TRY(AddData(a.get(), "oci-layout", layout_json.data(), layout_json.size()));
  STRATA_TRY(AddEntry(a.get(), "index.json", AE_IFREG,
                      static_cast<int64_t>(layout.index_json.size())));
  STRATA_TRY(AddData(a.get(), "index.json", layout.index_json.data(), layout.index_json.size()));
  STRATA_TRY(AddEntry(a.get(), "blobs/", AE_IFDIR, 0));
  STRATA_TRY(AddEntry(a.get(), "blobs/sha256/", AE_IFDIR, 0));
  std::vector<char> buf(1 << 20);
  for (const auto& [digest, source] : layout.blobs) {
    std::string name = "blobs/sha256/" + Hex(digest);
    STRATA_TRY(AddEntry(a.get(), name, AE_IFREG, source.size));
    if (source.file.empty()) {
      STRATA_TRY(AddData(a.get(), name, source.text.data(), source.text.size()));
      continue;
    }
    UniqueFd in(::open(source.file.c_str(), O_RDONLY | O_CLOEXEC));
    if (!in.valid()) return Error(errno, "open " + source.file);
    int64_t left = source.size;
    while (left > 0) {
      ssize_t n = ::read(in.Get(), buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Error(errno, "read " + source.file);
      if (n == 0) return Error(EIO, source.file + ": shorter than its recorded size");
      size_t take = static_cast<size_t>(std::min<int64_t>(n, left));
      STRATA_TRY(AddData(a.get(), name, buf.data(), take));
      left -= static_cast<int64_t>(take);
    }
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK) return ArchiveError(a.get(), path);
  if (::fsync(out.Get()) != 0) return Error(errno, "fsync " + path);
  return Ok();
}

}  // namespace

Status ImageStore::Save(const std::vector<std::string>& refs, const std::string& path,
                        SaveFormat format) {
  if (refs.empty()) return Error(EINVAL, "image save: no image named");
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    return Error(EEXIST, "image save: " + path + " already exists; pick a new path");
  }
  // One entry per image, with the names the refs chose (all its names for an id).
  std::vector<std::pair<ImageRecord, std::vector<std::string>>> entries;
  for (const std::string& ref : refs) {
    STRATA_ASSIGN_OR_RETURN(ImageRecord image, Get(ref));
    Result<ImageName> name = ParseImageName(ref);
    std::vector<std::string> names = image.names;
    if (name.ok() && std::find(names.begin(), names.end(), name->ToString()) != names.end()) {
      names = {name->ToString()};
    }
    auto same = std::find_if(entries.begin(), entries.end(),
                             [&](const auto& e) { return e.first.id == image.id; });
    if (same == entries.end()) {
      entries.emplace_back(std::move(image), std::move(names));
      continue;
    }
    for (const std::string& n : names) {
      if (std::find(same->second.begin(), same->second.end(), n) == same->second.end()) {
        same->second.push_back(n);
      }
    }
  }
  STRATA_ASSIGN_OR_RETURN(Layout layout, Plan(entries, dir_));

  fs::path target = fs::absolute(path);
  std::string tmp = (target.parent_path() / ("." + target.filename().string() + ".tmp-XXXXXX"));
  if (format == SaveFormat::kDirectory) {
    if (::mkdtemp(tmp.data()) == nullptr) return Error(errno, "image save: create " + tmp);
  } else {
    int fd = ::mkstemp(tmp.data());
    if (fd < 0) return Error(errno, "image save: create " + tmp);
    ::close(fd);
    ::unlink(tmp.c_str());
  }
  Status written = format == SaveFormat::kDirectory ? WriteDirectory(layout, tmp)
                                                    : WriteTar(layout, tmp);
  if (written.ok() && ::rename(tmp.c_str(), target.c_str()) != 0) {
    written = Error(errno, "rename " + tmp + " to " + target.string());
  }
  if (!written.ok()) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    return std::move(written).error().Wrap("image save");
  }
  return Ok();
}

}  // namespace strata::images
