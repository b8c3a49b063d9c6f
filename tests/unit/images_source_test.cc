// images/source.h: each test builds an image source in a temp dir (OCI layouts and docker-save
// archives with real sha256 digests, as a directory or as a tar written with libarchive so that
// entries can be crafted), opens it and checks the description; the error tests break it one way
// and check the errno, the message, and that no staging directory is left behind.
#include <archive.h>
#include <archive_entry.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "core/digest.h"
#include "core/unique_fd.h"
#include "images/oci.h"
#include "images/source.h"

namespace strata::images {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::StartsWith;

const Platform kAmd64{"linux", "amd64", ""};

std::string Sha(const std::string& bytes) {
  Sha256 sha;
  sha.Update(bytes.data(), bytes.size());
  return *sha.Final();
}
std::string Hex(const std::string& digest) { return digest.substr(7); }
std::string BlobPath(const std::string& bytes) { return "blobs/sha256/" + Hex(Sha(bytes)); }

json Desc(const std::string& media_type, const std::string& bytes) {
  return {{"mediaType", media_type}, {"digest", Sha(bytes)}, {"size", bytes.size()}};
}

// One file-system object of a fixture, written to a directory or a tar alike.
struct Node {
  enum Kind { kFile, kDir, kSymlink, kHardlink } kind;
  std::string name;
  std::string data;  // file contents, or the link target
};
using Tree = std::vector<Node>;

// A fixture and what Open should find in it.
struct Built {
  Tree tree;
  std::vector<std::string> layers;    // layer bytes, base first (uncompressed: digest == diff id)
  std::vector<std::string> diff_ids;  // Sha of each
  std::string config_json;
  std::string manifest_json;  // OCI only
};

Built Layers(size_t n) {
  Built b;
  for (size_t i = 0; i < n; ++i) {
    b.layers.push_back("layer " + std::to_string(i) + ":" +
                       std::string(4096 * (i + 1), static_cast<char>('a' + i)));
    b.diff_ids.push_back(Sha(b.layers.back()));
  }
  json config = {{"architecture", "amd64"},
                 {"os", "linux"},
                 {"config", {{"Env", {"PATH=/bin"}}, {"Cmd", {"sh"}}}},
                 {"rootfs", {{"type", "layers"}, {"diff_ids", b.diff_ids}}}};
  b.config_json = config.dump();
  return b;
}

// An OCI layout of one image; `annotations` go on its index.json entry.
Built Oci(size_t n, const json& annotations,
          const std::string& layer_type = kMediaTypeOciLayerTar) {
  Built b = Layers(n);
  b.tree.push_back({Node::kFile, "oci-layout", R"({"imageLayoutVersion": "1.0.0"})"});
  json manifest = {{"schemaVersion", 2},
                   {"mediaType", kMediaTypeOciManifest},
                   {"config", Desc(kMediaTypeOciConfig, b.config_json)},
                   {"layers", json::array()}};
  for (const std::string& layer : b.layers) {
    b.tree.push_back({Node::kFile, BlobPath(layer), layer});
    manifest["layers"].push_back(Desc(layer_type, layer));
  }
  b.tree.push_back({Node::kFile, BlobPath(b.config_json), b.config_json});
  b.manifest_json = manifest.dump();
  b.tree.push_back({Node::kFile, BlobPath(b.manifest_json), b.manifest_json});
  json entry = Desc(kMediaTypeOciManifest, b.manifest_json);
  if (!annotations.empty()) entry["annotations"] = annotations;
  json index = {{"schemaVersion", 2},
                {"mediaType", kMediaTypeOciIndex},
                {"manifests", std::vector<json>{entry}}};
  b.tree.push_back({Node::kFile, "index.json", index.dump()});
  return b;
}

enum class Docker {
  kClassic,    // Docker 24: <id>/layer.tar, <hex>.json, a (here malformed) repositories file
  kSkopeo,     // <diff id hex>.tar, <hex>.json
  kDocker25,   // an OCI layout plus manifest.json; <id>/layer.tar link to blobs/sha256/<hex>
  kLinkedOnly  // kDocker25 without oci-layout: read as a docker archive through the links
};

const char kContainerdName[] = "docker.io/library/app:1.0";
std::string LayerId(size_t i) { return Hex(Sha("id " + std::to_string(i))); }

// A docker-save archive of one image with `n` layers. In kDocker25/kLinkedOnly layer 0 is a
// symlink (as Docker writes it) and the others are hardlinks.
Built DockerSave(Docker style, const std::vector<std::string>& repo_tags, size_t n = 2) {
  const bool linked = style == Docker::kDocker25 || style == Docker::kLinkedOnly;
  Built b =
      linked
          ? Oci(n, {{kAnnotationContainerdImageName, kContainerdName}, {kAnnotationRefName, "1.0"}})
          : Layers(n);
  if (style == Docker::kLinkedOnly) {
    std::erase_if(b.tree, [](const Node& node) {
      return node.name == "oci-layout" || node.name == "index.json";
    });
  }
  json entry = {{"RepoTags", repo_tags}, {"Layers", json::array()}};
  if (linked) {
    entry["Config"] = BlobPath(b.config_json);
  } else {
    entry["Config"] = Hex(Sha(b.config_json)) + ".json";
    b.tree.push_back({Node::kFile, entry["Config"].get<std::string>(), b.config_json});
  }
  for (size_t i = 0; i < n; ++i) {
    std::string path =
        style == Docker::kSkopeo ? Hex(b.diff_ids[i]) + ".tar" : LayerId(i) + "/layer.tar";
    entry["Layers"].push_back(path);
    if (!linked) {
      b.tree.push_back({Node::kFile, path, b.layers[i]});
    } else if (i == 0) {
      b.tree.push_back({Node::kSymlink, path, "../" + BlobPath(b.layers[i])});
    } else {
      b.tree.push_back({Node::kHardlink, path, BlobPath(b.layers[i])});
    }
  }
  b.tree.push_back({Node::kFile, "manifest.json", json::array({entry}).dump()});
  if (style == Docker::kClassic) b.tree.push_back({Node::kFile, "repositories", "{not json"});
  return b;
}

enum class Filter { kNone, kGzip, kZstd };

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class ImageSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = fs::temp_directory_path().string() + "/strata-source-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    tmp_ = tmpl;
    staging_ = tmp_ + "/staging";
  }
  void TearDown() override {
    std::error_code ignored;  // best effort: a failed test already reports
    fs::remove_all(tmp_, ignored);
  }

  // Writes `tree` below tmp_/name; links become real symlinks and hardlinks. Returns the path.
  std::string WriteDir(const std::string& name, const Tree& tree) {
    const std::string root = tmp_ + "/" + name;
    fs::create_directories(root);
    for (const Node& node : tree) {
      fs::path path = fs::path(root) / node.name;
      if (node.kind != Node::kDir) fs::create_directories(path.parent_path());
      switch (node.kind) {
        case Node::kFile:
          std::ofstream(path, std::ios::binary) << node.data;
          break;
        case Node::kDir:
          fs::create_directories(path);
          break;
        case Node::kSymlink:
          fs::create_symlink(node.data, path);
          break;
        case Node::kHardlink:
          fs::create_hard_link(fs::path(root) / node.data, path);
          break;
      }
    }
    return root;
  }

  // Writes `tree` as a pax tar at tmp_/name, entry names exactly as given. Returns the path.
  std::string WriteTar(const std::string& name, const Tree& tree, Filter filter = Filter::kNone) {
    const std::string path = tmp_ + "/" + name;
    CPtr<struct archive, archive_write_free> a(archive_write_new());
    EXPECT_EQ(archive_write_set_format_pax_restricted(a.get()), ARCHIVE_OK);
    int r = filter == Filter::kGzip   ? archive_write_add_filter_gzip(a.get())
            : filter == Filter::kZstd ? archive_write_add_filter_zstd(a.get())
                                      : archive_write_add_filter_none(a.get());
    EXPECT_EQ(r, ARCHIVE_OK) << archive_error_string(a.get());
    EXPECT_EQ(archive_write_open_filename(a.get(), path.c_str()), ARCHIVE_OK);
    for (const Node& node : tree) {
      CPtr<archive_entry, archive_entry_free> e(archive_entry_new());
      archive_entry_set_pathname(e.get(), node.name.c_str());
      archive_entry_set_perm(e.get(), node.kind == Node::kDir ? 0755 : 0644);
      archive_entry_set_filetype(e.get(), node.kind == Node::kDir       ? AE_IFDIR
                                          : node.kind == Node::kSymlink ? AE_IFLNK
                                                                        : AE_IFREG);
      if (node.kind == Node::kSymlink) archive_entry_set_symlink(e.get(), node.data.c_str());
      if (node.kind == Node::kHardlink) archive_entry_set_hardlink(e.get(), node.data.c_str());
      if (node.kind == Node::kFile) archive_entry_set_size(e.get(), node.data.size());
      EXPECT_EQ(archive_write_header(a.get(), e.get()), ARCHIVE_OK)
          << archive_error_string(a.get());
      if (node.kind == Node::kFile) {
        EXPECT_EQ(archive_write_data(a.get(), node.data.data(), node.data.size()),
                  static_cast<la_ssize_t>(node.data.size()));
      }
    }
    EXPECT_EQ(archive_write_close(a.get()), ARCHIVE_OK);
    return path;
  }

  Result<std::unique_ptr<ImageSource>> Open(const std::string& path) {
    return ImageSource::Open(path, staging_, kAmd64);
  }

  // Opening `path` must fail with `code`; returns the message. No staging dir may remain.
  std::string OpenError(const std::string& path, int code) {
    auto source = Open(path);
    EXPECT_FALSE(source.ok());
    EXPECT_EQ(Staged(), std::vector<std::string>{});
    if (source.ok()) return "";
    EXPECT_EQ(source.error().code(), code) << source.error().message();
    return source.error().message();
  }

  // Names under the staging parent.
  std::vector<std::string> Staged() {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(staging_, ec)) {
      names.push_back(e.path().filename().string());
    }
    return names;
  }

  // The checks every source of `b` passes: config, diff ids, and each layer path holding the
  // layer's bytes in a regular file.
  void ExpectImage(const ImageSource& source, const Built& b) {
    ASSERT_EQ(source.images().size(), 1u);
    const SourceImage& image = source.images()[0];
    EXPECT_EQ(image.config_json, b.config_json);
    EXPECT_EQ(image.config_digest, Sha(b.config_json));
    EXPECT_EQ(image.config.diff_ids, b.diff_ids);
    EXPECT_EQ(image.config.platform.ToString(), "linux/amd64");
    ASSERT_EQ(image.layers.size(), b.layers.size());
    uint64_t total = 0;
    for (size_t i = 0; i < b.layers.size(); ++i) {
      const SourceLayer& layer = image.layers[i];
      EXPECT_EQ(layer.diff_id, b.diff_ids[i]);
      EXPECT_EQ(layer.blob.size_bytes, static_cast<int64_t>(b.layers[i].size()));
      EXPECT_THAT(layer.path, StartsWith(source.dir() + "/"));
      EXPECT_EQ(layer.path.front(), '/');
      struct stat st;
      ASSERT_EQ(::lstat(layer.path.c_str(), &st), 0) << layer.path;
      EXPECT_TRUE(S_ISREG(st.st_mode)) << layer.path;
      EXPECT_EQ(ReadFile(layer.path), b.layers[i]) << layer.path;
      total += b.layers[i].size();
    }
    EXPECT_EQ(source.TotalLayerBytes(), total);
  }

  std::string tmp_;
  std::string staging_;
};

void ExpectOciImage(const SourceImage& image, const Built& b) {
  EXPECT_EQ(image.manifest_json, b.manifest_json);
  EXPECT_EQ(image.manifest_descriptor.digest, Sha(b.manifest_json));
  for (size_t i = 0; i < image.layers.size() && i < b.layers.size(); ++i) {
    EXPECT_EQ(image.layers[i].blob.digest, Sha(b.layers[i]));
    EXPECT_EQ(image.layers[i].blob.kind, MediaKind::kLayerTar);
  }
}

// --- the formats ---

TEST_F(ImageSourceTest, OciDirectory) {
  Built b = Oci(2, {{kAnnotationRefName, "latest"}});
  std::string dir = WriteDir("oci", b.tree);
  auto source = Open(dir);
  ASSERT_TRUE(source.ok()) << source.error().message();
  EXPECT_EQ((*source)->format(), SourceFormat::kOciLayout);
  EXPECT_EQ(SourceFormatName((*source)->format()), "oci-layout");
  EXPECT_EQ((*source)->dir(), fs::canonical(dir).string());
  ExpectImage(**source, b);
  ExpectOciImage((*source)->images()[0], b);
  EXPECT_EQ((*source)->images()[0].names, std::vector<std::string>{"latest"});
  EXPECT_EQ((*source)->images()[0].layers[1].path,
            fs::canonical(dir).string() + "/" + BlobPath(b.layers[1]));
  EXPECT_EQ(Staged(), std::vector<std::string>{});  // a directory is read in place
}

TEST_F(ImageSourceTest, OciTarIsStagedAndRemoved) {
  Built b = Oci(2, {});
  std::string tar = WriteTar("oci.tar", b.tree);
  {
    auto source = Open(tar);
    ASSERT_TRUE(source.ok()) << source.error().message();
    EXPECT_EQ((*source)->format(), SourceFormat::kOciLayout);
    ExpectImage(**source, b);
    ExpectOciImage((*source)->images()[0], b);
    EXPECT_EQ((*source)->images()[0].names, std::vector<std::string>{});
    std::vector<std::string> staged = Staged();
    ASSERT_EQ(staged.size(), 1u);
    EXPECT_THAT(staged[0], StartsWith("load-"));
    EXPECT_EQ((*source)->dir(), fs::canonical(staging_).string() + "/" + staged[0]);
    struct stat st;
    ASSERT_EQ(::stat(staging_.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
  }
  EXPECT_EQ(Staged(), std::vector<std::string>{});
}

TEST_F(ImageSourceTest, OciTarGzNamesFromContainerdAnnotation) {
  Built b = Oci(1, {{kAnnotationRefName, "1.0"}, {kAnnotationContainerdImageName, kContainerdName}},
                kMediaTypeOciLayerGzip);
  auto source = Open(WriteTar("oci.tar.gz", b.tree, Filter::kGzip));
  ASSERT_TRUE(source.ok()) << source.error().message();
  ExpectImage(**source, b);
  EXPECT_EQ((*source)->images()[0].names, std::vector<std::string>{kContainerdName});
  EXPECT_EQ((*source)->images()[0].layers[0].blob.kind, MediaKind::kLayerGzip);
}

TEST_F(ImageSourceTest, OciTarZstd) {
  Built b = Oci(3, {{kAnnotationRefName, "v3"}});
  auto source = Open(WriteTar("oci.tar.zst", b.tree, Filter::kZstd));
  ASSERT_TRUE(source.ok()) << source.error().message();
  ExpectImage(**source, b);
  EXPECT_EQ((*source)->images()[0].names, std::vector<std::string>{"v3"});
}

TEST_F(ImageSourceTest, DockerSaveTarClassic) {
  Built b = DockerSave(Docker::kClassic, {"busybox:latest", "busybox:musl"});
  auto source = Open(WriteTar("busybox.tar", b.tree));
  ASSERT_TRUE(source.ok()) << source.error().message();  // the malformed repositories is ignored
  EXPECT_EQ((*source)->format(), SourceFormat::kDockerArchive);
  EXPECT_EQ(SourceFormatName((*source)->format()), "docker-archive");
  ExpectImage(**source, b);
  const SourceImage& image = (*source)->images()[0];
  EXPECT_EQ(image.names, (std::vector<std::string>{"busybox:latest", "busybox:musl"}));
  EXPECT_EQ(image.manifest_json, "");
  for (size_t i = 0; i < image.layers.size(); ++i) {
    EXPECT_EQ(image.layers[i].blob.digest, "") << "an <id>/layer.tar path names no digest";
    EXPECT_EQ(image.layers[i].blob.kind, MediaKind::kLayerTar);
    EXPECT_EQ(image.layers[i].path, (*source)->dir() + "/" + LayerId(i) + "/layer.tar");
  }
}

TEST_F(ImageSourceTest, Docker25TarIsReadAsOciLayout) {
  Built b = DockerSave(Docker::kDocker25, {"app:1.0"});
  auto source = Open(WriteTar("app.tar", b.tree));
  ASSERT_TRUE(source.ok()) << source.error().message();
  EXPECT_EQ((*source)->format(), SourceFormat::kOciLayout);
  ExpectImage(**source, b);
  ExpectOciImage((*source)->images()[0], b);
  EXPECT_EQ((*source)->images()[0].names, std::vector<std::string>{kContainerdName});
}

TEST_F(ImageSourceTest, DockerTarWithLinkedLayersBecomesHardlinks) {
  Built b = DockerSave(Docker::kLinkedOnly, {"app:1.0"}, 3);
  auto source = Open(WriteTar("app.tar", b.tree, Filter::kGzip));
  ASSERT_TRUE(source.ok()) << source.error().message();
  EXPECT_EQ((*source)->format(), SourceFormat::kDockerArchive);
  ExpectImage(**source, b);  // each layer path is a regular file with the blob's bytes
  const SourceImage& image = (*source)->images()[0];
  EXPECT_EQ(image.names, std::vector<std::string>{"app:1.0"});
  for (size_t i = 0; i < image.layers.size(); ++i) {
    EXPECT_EQ(image.layers[i].path, (*source)->dir() + "/" + LayerId(i) + "/layer.tar");
    struct stat link_st, blob_st;
    ASSERT_EQ(::lstat(image.layers[i].path.c_str(), &link_st), 0);
    ASSERT_EQ(::lstat(((*source)->dir() + "/" + BlobPath(b.layers[i])).c_str(), &blob_st), 0);
    EXPECT_EQ(link_st.st_ino, blob_st.st_ino) << "layer " << i << " is a hardlink to its blob";
  }
}

TEST_F(ImageSourceTest, DockerDirectoryFollowsSymlinksInside) {
  Built b = DockerSave(Docker::kLinkedOnly, {"app:1.0"}, 2);
  std::string dir = WriteDir("app", b.tree);
  auto source = Open(dir);
  ASSERT_TRUE(source.ok()) << source.error().message();
  EXPECT_EQ((*source)->format(), SourceFormat::kDockerArchive);
  ExpectImage(**source, b);
  const SourceImage& image = (*source)->images()[0];
  // Layer 0 is a symlink into blobs/sha256: the resolved path names the digest. Layer 1 is a
  // hardlink: its path is its own and names nothing.
  EXPECT_EQ(image.layers[0].path, (*source)->dir() + "/" + BlobPath(b.layers[0]));
  EXPECT_EQ(image.layers[0].blob.digest, Sha(b.layers[0]));
  EXPECT_EQ(image.layers[1].path, (*source)->dir() + "/" + LayerId(1) + "/layer.tar");
  EXPECT_EQ(image.layers[1].blob.digest, "");
  EXPECT_EQ(Staged(), std::vector<std::string>{});
}

TEST_F(ImageSourceTest, SkopeoTarLayersNameTheirDigest) {
  Built b = DockerSave(Docker::kSkopeo, {"quay.io/app:2"});
  auto source = Open(WriteTar("skopeo.tar", b.tree));
  ASSERT_TRUE(source.ok()) << source.error().message();
  EXPECT_EQ((*source)->format(), SourceFormat::kDockerArchive);
  ExpectImage(**source, b);
  const SourceImage& image = (*source)->images()[0];
  EXPECT_EQ(image.names, std::vector<std::string>{"quay.io/app:2"});
  for (size_t i = 0; i < image.layers.size(); ++i) {
    EXPECT_EQ(image.layers[i].blob.digest, b.diff_ids[i]);
  }
}

TEST_F(ImageSourceTest, TotalCountsEachImagesLayers) {
  Built b = DockerSave(Docker::kSkopeo, {"a:1"});
  json manifest = json::parse(std::find_if(b.tree.begin(), b.tree.end(), [](const Node& n) {
                                return n.name == "manifest.json";
                              })->data);
  manifest.push_back(manifest[0]);
  manifest[1]["RepoTags"] = {"b:1"};
  b.tree.push_back({Node::kFile, "manifest.json", manifest.dump()});  // replaces the first
  auto source = Open(WriteTar("two.tar", b.tree));
  ASSERT_TRUE(source.ok()) << source.error().message();
  ASSERT_EQ((*source)->images().size(), 2u);
  EXPECT_EQ((*source)->images()[1].names, std::vector<std::string>{"b:1"});
  EXPECT_EQ((*source)->images()[1].layers[1].path, (*source)->images()[0].layers[1].path);
  EXPECT_EQ((*source)->TotalLayerBytes(), 2 * (b.layers[0].size() + b.layers[1].size()));
}

// --- errors ---

TEST_F(ImageSourceTest, MissingPathIsEnoent) {
  std::string message = OpenError(tmp_ + "/nope.tar", ENOENT);
  EXPECT_THAT(message, HasSubstr(tmp_ + "/nope.tar"));
}

TEST_F(ImageSourceTest, NeitherFormatIsEinval) {
  Tree tree = {{Node::kFile, "hello.txt", "hi"}};
  std::string tar = WriteTar("hello.tar", tree);
  EXPECT_EQ(OpenError(tar, EINVAL), tar +
                                        " is neither an OCI image layout (no oci-layout) nor a "
                                        "docker-save archive (no manifest.json)");
  std::string dir = WriteDir("hello", tree);
  EXPECT_THAT(OpenError(dir, EINVAL), StartsWith(dir + " is neither"));
}

TEST_F(ImageSourceTest, ConfigDigestMismatchIsEio) {
  Built b = DockerSave(Docker::kClassic, {"x:1"});
  std::string name = Hex(Sha(b.config_json)) + ".json";
  for (Node& node : b.tree) {
    if (node.name == name) node.data = Layers(2).config_json + " ";  // same meaning, other bytes
  }
  std::string tar = WriteTar("bad.tar", b.tree);
  std::string message = OpenError(tar, EIO);
  EXPECT_THAT(message, HasSubstr("image archive " + tar));
  EXPECT_THAT(message, HasSubstr("config \"" + name + "\": digest mismatch"));
}

TEST_F(ImageSourceTest, MissingBlobIsEnoent) {
  Built b = Oci(2, {});
  std::erase_if(b.tree, [&](const Node& n) { return n.name == BlobPath(b.layers[1]); });
  std::string message = OpenError(WriteDir("oci", b.tree), ENOENT);
  EXPECT_THAT(message, HasSubstr(Hex(Sha(b.layers[1]))));
  EXPECT_THAT(message, HasSubstr("missing"));
}

TEST_F(ImageSourceTest, MissingDockerLayerIsEnoent) {
  Built b = DockerSave(Docker::kClassic, {"x:1"});
  std::erase_if(b.tree, [](const Node& n) { return n.name == LayerId(1) + "/layer.tar"; });
  std::string message = OpenError(WriteTar("x.tar", b.tree), ENOENT);
  EXPECT_THAT(message, HasSubstr("layer \"" + LayerId(1) + "/layer.tar\": missing"));
}

TEST_F(ImageSourceTest, UnknownMediaTypeIsEinval) {
  Built b = Oci(1, {}, "application/vnd.example.layer.v1");
  std::string message = OpenError(WriteTar("x.tar", b.tree), EINVAL);
  EXPECT_THAT(message, HasSubstr("application/vnd.example.layer.v1"));
}

TEST_F(ImageSourceTest, EscapingEntryIsEperm) {
  Built b = Oci(1, {});
  b.tree.insert(b.tree.begin() + 1, Node{Node::kFile, "../etc/passwd", "root::0:0::/:/bin/sh\n"});
  std::string tar = WriteTar("evil.tar", b.tree);
  EXPECT_EQ(OpenError(tar, EPERM),
            "image archive " + tar + ": entry \"../etc/passwd\" escapes the archive");
  EXPECT_FALSE(fs::exists(tmp_ + "/etc")) << "nothing was written outside the staging dir";
  EXPECT_FALSE(fs::exists(staging_ + "/etc"));
}

TEST_F(ImageSourceTest, AbsoluteEntryIsEperm) {
  std::string target = tmp_ + "/abs";
  Tree tree = {{Node::kFile, target, "x"}};
  EXPECT_THAT(OpenError(WriteTar("abs.tar", tree), EPERM),
              HasSubstr("entry \"" + target + "\" is absolute"));
  EXPECT_FALSE(fs::exists(target));
}

TEST_F(ImageSourceTest, EscapingSymlinkIsEperm) {
  Built b = DockerSave(Docker::kClassic, {"x:1"}, 1);
  std::string layer = LayerId(0) + "/layer.tar";
  for (Node& node : b.tree) {
    if (node.name == layer) node = {Node::kSymlink, layer, "../../etc/passwd"};
  }
  EXPECT_THAT(OpenError(WriteTar("evil.tar", b.tree), EPERM),
              HasSubstr("entry \"" + layer + "\": symlink to \"../../etc/passwd\" escapes"));
}

TEST_F(ImageSourceTest, EscapingHardlinkIsEperm) {
  Tree tree = {{Node::kFile, "manifest.json", "[]"}, {Node::kHardlink, "x", "../../etc/passwd"}};
  EXPECT_THAT(OpenError(WriteTar("evil.tar", tree), EPERM),
              HasSubstr("entry \"x\": hardlink to \"../../etc/passwd\" escapes"));
}

TEST_F(ImageSourceTest, DockerDirectorySymlinkLeavingIsEperm) {
  std::string outside = tmp_ + "/outside.tar";
  std::ofstream(outside) << "not yours";
  Built b = DockerSave(Docker::kClassic, {"x:1"}, 1);
  std::string layer = LayerId(0) + "/layer.tar";
  for (Node& node : b.tree) {
    if (node.name == layer) node = {Node::kSymlink, layer, "../../outside.tar"};
  }
  std::string message = OpenError(WriteDir("img", b.tree), EPERM);
  EXPECT_THAT(message, HasSubstr("layer \"" + layer + "\""));
  EXPECT_THAT(message, HasSubstr("symlink \"" + layer +
                                 "\" -> \"../../outside.tar\" leads out of the archive"));
}

TEST_F(ImageSourceTest, TruncatedTarIsEio) {
  Built b = Oci(3, {});
  std::string tar = WriteTar("cut.tar", b.tree);
  // Cut inside the last layer's data.
  size_t data = ReadFile(tar).find("layer 2:");
  ASSERT_NE(data, std::string::npos);
  fs::resize_file(tar, data + 100);
  std::string message = OpenError(tar, EIO);
  EXPECT_THAT(message, HasSubstr("image archive " + tar));
  EXPECT_THAT(message, HasSubstr(BlobPath(b.layers[2])));
}

TEST_F(ImageSourceTest, CorruptGzipIsEio) {
  std::string tar = WriteTar("x.tar.gz", Oci(1, {}).tree, Filter::kGzip);
  fs::resize_file(tar, fs::file_size(tar) - 40);
  EXPECT_THAT(OpenError(tar, EIO), HasSubstr("image archive " + tar));
}

TEST_F(ImageSourceTest, WrongPlatformIsEnoent) {
  Built b = Oci(1, {});
  for (Node& node : b.tree) {
    if (node.name != "index.json") continue;
    json index = json::parse(node.data);
    index["manifests"][0]["platform"] = {{"os", "linux"}, {"architecture", "amd64"}};
    node.data = index.dump();
  }
  std::string dir = WriteDir("oci", b.tree);
  ASSERT_TRUE(ImageSource::Open(dir, staging_, kAmd64).ok());
  auto source = ImageSource::Open(dir, staging_, {"linux", "s390x", ""});
  ASSERT_FALSE(source.ok());
  EXPECT_EQ(source.error().code(), ENOENT) << source.error().message();
  EXPECT_THAT(source.error().message(), HasSubstr("linux/s390x"));
}

}  // namespace
}  // namespace strata::images
