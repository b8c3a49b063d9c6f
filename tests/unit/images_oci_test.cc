// images/oci.h parsing and images/oci_layout.h reading: layouts are built in a temp dir by the
// test (JSON and blobs with real sha256 digests), then broken one way at a time.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "core/digest.h"
#include "images/oci.h"
#include "images/oci_layout.h"

namespace strata::images {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

const Platform kAmd64{"linux", "amd64", ""};
const Platform kArm64{"linux", "arm64", "v8"};

std::string Sha(const std::string& bytes) {
  Sha256 sha;
  sha.Update(bytes.data(), bytes.size());
  return *sha.Final();
}

std::string Hex(const std::string& digest) { return digest.substr(7); }

json Desc(const std::string& media_type, const std::string& bytes) {
  return {{"mediaType", media_type}, {"digest", Sha(bytes)}, {"size", bytes.size()}};
}

// An image layout under a fresh temp dir, removed at scope exit.
class ImagesOciLayout : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = std::filesystem::temp_directory_path().string() + "/strata-oci-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    std::filesystem::create_directories(dir_ + "/blobs/sha256");
    Write("oci-layout", R"({"imageLayoutVersion": "1.0.0"})");
  }
  void TearDown() override {
    std::error_code ignored;  // best effort: a failed test already reports
    std::filesystem::remove_all(dir_, ignored);
  }

  void Write(const std::string& rel, const std::string& bytes) {
    std::ofstream(dir_ + "/" + rel, std::ios::binary | std::ios::trunc) << bytes;
  }
  std::string BlobPath(const std::string& digest) { return dir_ + "/blobs/sha256/" + Hex(digest); }
  // Stores `bytes` as a blob and returns its descriptor.
  json Blob(const std::string& media_type, const std::string& bytes) {
    Write("blobs/sha256/" + Hex(Sha(bytes)), bytes);
    return Desc(media_type, bytes);
  }
  json Config(const std::string& arch, size_t diff_ids) {
    json c = {{"architecture", arch},
              {"os", "linux"},
              {"config",
               {{"Env", {"PATH=/usr/bin"}},
                {"Entrypoint", {"/bin/sh", "-c"}},
                {"Cmd", {"echo hi"}},
                {"WorkingDir", "/srv"},
                {"User", "1000:1000"},
                {"Labels", {{"org.example", "yes"}}}}},
              {"rootfs", {{"type", "layers"}, {"diff_ids", json::array()}}}};
    for (size_t i = 0; i < diff_ids; ++i) c["rootfs"]["diff_ids"].push_back(Sha("layer"));
    return c;
  }
  // A one-layer image: stores layer, config and manifest; returns the manifest's descriptor.
  json Image(const std::string& arch = "amd64",
             const std::string& layer_type = kMediaTypeOciLayerGzip,
             const std::string& manifest_type = kMediaTypeOciManifest,
             const std::string& config_type = kMediaTypeOciConfig, size_t diff_ids = 1) {
    layer_ = Blob(layer_type, "layer-bytes-" + arch);
    config_ = Blob(config_type, Config(arch, diff_ids).dump());
    json manifest = {{"schemaVersion", 2},
                     {"mediaType", manifest_type},
                     {"config", config_},
                     {"layers", json::array({layer_})}};
    return Blob(manifest_type, manifest.dump());
  }
  // A vector, not a json: a braced single descriptor would copy-construct the object itself.
  void Index(const std::vector<json>& manifests) {
    json index = {
        {"schemaVersion", 2}, {"mediaType", kMediaTypeOciIndex}, {"manifests", manifests}};
    Write("index.json", index.dump());
  }
  Result<std::vector<LayoutImage>> Load(LayerCheck check = LayerCheck::kDigest,
                                        const Platform& platform = kAmd64) {
    STRATA_ASSIGN_OR_RETURN(OciLayout layout, OciLayout::Open(dir_));
    return layout.Images({platform, check});
  }

  std::string dir_;
  json layer_, config_;  // of the last Image()
};

TEST_F(ImagesOciLayout, ValidLayoutParses) {
  json manifest = Image();
  manifest["annotations"] = {{kAnnotationRefName, "latest"}};
  Index({manifest});
  auto images = Load();
  ASSERT_TRUE(images.ok()) << images.error().message();
  ASSERT_EQ(images->size(), 1u);
  const LayoutImage& image = (*images)[0];
  EXPECT_EQ(image.ref_name, "latest");
  EXPECT_EQ(image.manifest_descriptor.digest, manifest["digest"]);
  EXPECT_EQ(image.manifest.config.digest, config_["digest"]);
  ASSERT_EQ(image.layers().size(), 1u);
  EXPECT_EQ(image.layers()[0].digest, layer_["digest"]);
  EXPECT_EQ(image.layers()[0].kind, MediaKind::kLayerGzip);
  EXPECT_EQ(image.layers()[0].size_bytes, 17);
  EXPECT_EQ(image.config.platform.ToString(), "linux/amd64");
  EXPECT_EQ(image.config.env, std::vector<std::string>{"PATH=/usr/bin"});
  EXPECT_EQ(image.config.entrypoint, (std::vector<std::string>{"/bin/sh", "-c"}));
  EXPECT_EQ(image.config.cmd, std::vector<std::string>{"echo hi"});
  EXPECT_EQ(image.config.working_dir, "/srv");
  EXPECT_EQ(image.config.user, "1000:1000");
  EXPECT_EQ(image.config.labels.at("org.example"), "yes");
  EXPECT_EQ(image.config.diff_ids, std::vector<std::string>{Sha("layer")});
}

TEST_F(ImagesOciLayout, NestedIndexPicksThePlatform) {
  json amd = Image("amd64");
  amd["platform"] = {{"architecture", "amd64"}, {"os", "linux"}};
  std::string amd_layer = layer_["digest"];
  json arm = Image("arm64");
  arm["platform"] = {{"architecture", "arm64"}, {"os", "linux"}, {"variant", "v8"}};
  json nested = {
      {"schemaVersion", 2}, {"mediaType", kMediaTypeOciIndex}, {"manifests", {arm, amd}}};
  json entry = Blob(kMediaTypeOciIndex, nested.dump());
  entry["annotations"] = {{kAnnotationRefName, "multi"}};
  Index({entry});

  auto images = Load(LayerCheck::kDigest, kAmd64);
  ASSERT_TRUE(images.ok()) << images.error().message();
  ASSERT_EQ(images->size(), 1u);
  EXPECT_EQ((*images)[0].ref_name, "multi");
  EXPECT_EQ((*images)[0].manifest_descriptor.digest, amd["digest"]);
  EXPECT_EQ((*images)[0].layers()[0].digest, amd_layer);

  images = Load(LayerCheck::kDigest, Platform{"linux", "arm64", ""});
  ASSERT_TRUE(images.ok()) << images.error().message();
  EXPECT_EQ((*images)[0].manifest_descriptor.digest, arm["digest"]);
  EXPECT_EQ((*images)[0].config.platform.architecture, "arm64");

  images = Load(LayerCheck::kDigest, Platform{"linux", "s390x", ""});
  ASSERT_FALSE(images.ok());
  EXPECT_EQ(images.error().code(), ENOENT);
  EXPECT_THAT(images.error().message(), HasSubstr("no manifest for linux/s390x"));
  EXPECT_THAT(images.error().message(), HasSubstr("linux/arm64/v8, linux/amd64"));
}

TEST_F(ImagesOciLayout, TopLevelEntriesForOtherPlatformsAreSkipped) {
  json arm = Image("arm64");
  arm["platform"] = {{"architecture", "arm64"}, {"os", "linux"}};
  Index({arm});
  auto images = Load(LayerCheck::kSize, kAmd64);
  ASSERT_FALSE(images.ok());
  EXPECT_EQ(images.error().code(), ENOENT);
  EXPECT_THAT(images.error().message(), HasSubstr("index.json: no image for linux/amd64"));
  EXPECT_TRUE(Load(LayerCheck::kSize, kArm64).ok());
}

TEST_F(ImagesOciLayout, DockerMediaTypesAccepted) {
  json manifest =
      Image("amd64", kMediaTypeDockerLayerGzip, kMediaTypeDockerManifest, kMediaTypeDockerConfig);
  manifest["platform"] = {{"architecture", "amd64"}, {"os", "linux"}};
  json list = {{"schemaVersion", 2},
               {"mediaType", kMediaTypeDockerManifestList},
               {"manifests", json::array({manifest})}};
  Index({Blob(kMediaTypeDockerManifestList, list.dump())});
  auto images = Load();
  ASSERT_TRUE(images.ok()) << images.error().message();
  EXPECT_EQ((*images)[0].manifest_descriptor.media_type, kMediaTypeDockerManifest);
  EXPECT_EQ((*images)[0].manifest.config.kind, MediaKind::kConfig);
  EXPECT_EQ((*images)[0].layers()[0].kind, MediaKind::kLayerGzip);
}

TEST_F(ImagesOciLayout, UnknownLayerMediaTypeNamesItAndTheDescriptor) {
  Index({Image("amd64", "application/vnd.oci.image.layer.v1.tar+bzip2")});
  auto images = Load();
  ASSERT_FALSE(images.ok());
  EXPECT_EQ(images.error().code(), EINVAL);
  EXPECT_THAT(images.error().message(),
              HasSubstr("layers[0].mediaType: descriptor " + layer_["digest"].get<std::string>()));
  EXPECT_THAT(images.error().message(),
              HasSubstr("unknown media type \"application/vnd.oci.image.layer.v1.tar+bzip2\""));
}

TEST_F(ImagesOciLayout, BadDigestInIndexNamesTheJsonPath) {
  json ok = Image();
  json bad = ok;
  bad["digest"] = "sha256:" + std::string(64, 'A');
  Index({ok, bad});
  auto images = Load();
  ASSERT_FALSE(images.ok());
  EXPECT_EQ(images.error().code(), EINVAL);
  EXPECT_THAT(images.error().message(), HasSubstr("index.json: manifests[1].digest: "));
  EXPECT_THAT(images.error().message(), HasSubstr("64 lowercase hex"));
}

TEST_F(ImagesOciLayout, MissingBlob) {
  Index({Image()});
  ASSERT_EQ(::unlink(BlobPath(layer_["digest"]).c_str()), 0);
  auto images = Load(LayerCheck::kSize);
  ASSERT_FALSE(images.ok());
  EXPECT_EQ(images.error().code(), ENOENT);
  EXPECT_THAT(images.error().message(),
              HasSubstr("layers[0]: blob " + layer_["digest"].get<std::string>() +
                        ": blobs/sha256/" + Hex(layer_["digest"]) + ": missing"));
}

TEST_F(ImagesOciLayout, SizeMismatch) {
  Image();
  layer_["size"] = 20;  // the blob holds 17 bytes
  json manifest = {{"schemaVersion", 2}, {"config", config_}, {"layers", json::array({layer_})}};
  Index({Blob(kMediaTypeOciManifest, manifest.dump())});
  auto images = Load(LayerCheck::kSize);
  ASSERT_FALSE(images.ok());
  EXPECT_EQ(images.error().code(), EIO);
  EXPECT_THAT(images.error().message(), HasSubstr("size 17 != 20 in the descriptor"));
}

TEST_F(ImagesOciLayout, DigestMismatchInALayer) {
  Index({Image()});
  Write("blobs/sha256/" + Hex(layer_["digest"]), "LAYER-BYTES-amd64");  // same size
  auto images = Load(LayerCheck::kDigest);
  ASSERT_FALSE(images.ok());
  EXPECT_EQ(images.error().code(), EIO);
  EXPECT_THAT(images.error().message(),
              HasSubstr("blob " + layer_["digest"].get<std::string>() +
                        ": digest mismatch: computed " + Sha("LAYER-BYTES-amd64")));
  // kSize leaves the layer hash to the caller, by contract.
  EXPECT_TRUE(Load(LayerCheck::kSize).ok());
}

TEST_F(ImagesOciLayout, DigestMismatchInAManifestFailsEvenWithSizeChecks) {
  json manifest = Image();
  Index({manifest});
  std::string path = BlobPath(manifest["digest"]);
  std::string bytes((std::istreambuf_iterator<char>(std::ifstream(path).rdbuf())), {});
  bytes[bytes.find("layers")] = 'L';
  Write("blobs/sha256/" + Hex(manifest["digest"]), bytes);
  auto images = Load(LayerCheck::kSize);
  ASSERT_FALSE(images.ok());
  EXPECT_EQ(images.error().code(), EIO);
  EXPECT_THAT(images.error().message(), HasSubstr("digest mismatch"));
}

TEST_F(ImagesOciLayout, TruncatedConfig) {
  Index({Image()});
  ASSERT_EQ(::truncate(BlobPath(config_["digest"]).c_str(), 10), 0);
  auto images = Load(LayerCheck::kSize);
  ASSERT_FALSE(images.ok());
  EXPECT_EQ(images.error().code(), EIO);
  EXPECT_THAT(images.error().message(),
              HasSubstr("config: blob " + config_["digest"].get<std::string>() + ": size 10 != " +
                        std::to_string(config_["size"].get<int>()) + " in the descriptor"));
}

TEST_F(ImagesOciLayout, MissingOciLayout) {
  Index({Image()});
  ASSERT_EQ(::unlink((dir_ + "/oci-layout").c_str()), 0);
  auto layout = OciLayout::Open(dir_);
  ASSERT_FALSE(layout.ok());
  EXPECT_EQ(layout.error().code(), ENOENT);
  EXPECT_THAT(layout.error().message(),
              HasSubstr("image layout " + dir_ + ": oci-layout: missing"));
}

TEST_F(ImagesOciLayout, WrongImageLayoutVersion) {
  Write("oci-layout", R"({"imageLayoutVersion": "2.0.0"})");
  auto layout = OciLayout::Open(dir_);
  ASSERT_FALSE(layout.ok());
  EXPECT_EQ(layout.error().code(), EOPNOTSUPP);
  EXPECT_THAT(layout.error().message(),
              HasSubstr("oci-layout: imageLayoutVersion: \"2.0.0\" is not supported"));
  Write("oci-layout", "{not json");
  layout = OciLayout::Open(dir_);
  ASSERT_FALSE(layout.ok());
  EXPECT_EQ(layout.error().code(), EINVAL);
  EXPECT_THAT(layout.error().message(), HasSubstr("oci-layout: invalid JSON"));
}

TEST_F(ImagesOciLayout, DiffIdsCountMismatch) {
  Index({Image("amd64", kMediaTypeOciLayerGzip, kMediaTypeOciManifest, kMediaTypeOciConfig, 2)});
  auto images = Load();
  ASSERT_FALSE(images.ok());
  EXPECT_EQ(images.error().code(), EINVAL);
  EXPECT_THAT(images.error().message(),
              HasSubstr("rootfs.diff_ids has 2 entries but the manifest has 1 layers"));
}

TEST_F(ImagesOciLayout, SymlinkedBlobIsRefused) {
  Index({Image()});
  // The right bytes, outside the layout: still refused, a layout's blobs are its own files.
  std::string outside = dir_ + "-outside";
  std::ofstream(outside) << "layer-bytes-amd64";
  std::string path = BlobPath(layer_["digest"]);
  ASSERT_EQ(::unlink(path.c_str()), 0);
  ASSERT_EQ(::symlink(outside.c_str(), path.c_str()), 0);
  auto images = Load(LayerCheck::kDigest);
  (void)::unlink(outside.c_str());  // best effort: test cleanup
  ASSERT_FALSE(images.ok());
  EXPECT_EQ(images.error().code(), ELOOP);
  EXPECT_THAT(images.error().message(),
              HasSubstr("blobs/sha256/" + Hex(layer_["digest"]) + " is a symlink"));
}

TEST_F(ImagesOciLayout, SymlinkedBlobDirectoryIsRefused) {
  Index({Image()});
  std::string moved = dir_ + "-blobs";
  std::filesystem::rename(dir_ + "/blobs/sha256", moved);
  std::filesystem::create_directory_symlink(moved, dir_ + "/blobs/sha256");
  auto images = Load(LayerCheck::kSize);
  std::error_code ignored;
  std::filesystem::remove_all(moved, ignored);  // best effort: test cleanup
  ASSERT_FALSE(images.ok());
  EXPECT_EQ(images.error().code(), ELOOP);
  EXPECT_THAT(images.error().message(), HasSubstr("blobs/sha256 is a symlink"));
}

// Pure parsing.

TEST(ImagesOciParse, CheckDigest) {
  EXPECT_TRUE(CheckDigest(Sha("x")).ok());
  EXPECT_EQ(CheckDigest("sha256:" + std::string(63, 'a')).error().code(), EINVAL);
  EXPECT_EQ(CheckDigest("sha256:" + std::string(64, 'g')).error().code(), EINVAL);
  EXPECT_EQ(CheckDigest(std::string(64, 'a')).error().code(), EINVAL);
  EXPECT_EQ(CheckDigest("sha256:").error().code(), EINVAL);
  EXPECT_EQ(CheckDigest("SHA256:" + std::string(64, 'a')).error().code(), EINVAL);
  Status sha512 = CheckDigest("sha512:" + std::string(128, 'a'));
  ASSERT_FALSE(sha512.ok());
  EXPECT_EQ(sha512.error().code(), EOPNOTSUPP);
  EXPECT_THAT(sha512.error().message(), HasSubstr("\"sha512\""));
  EXPECT_EQ(DigestHex(Sha("x")), Hex(Sha("x")));
}

TEST(ImagesOciParse, MediaTypes) {
  EXPECT_EQ(*ClassifyMediaType(kMediaTypeOciLayerZstd), MediaKind::kLayerZstd);
  EXPECT_EQ(*ClassifyMediaType(kMediaTypeOciLayerTar), MediaKind::kLayerTar);
  EXPECT_EQ(*ClassifyMediaType(kMediaTypeDockerManifestList), MediaKind::kIndex);
  auto typo = ClassifyMediaType("application/vnd.oci.image.layer.v1.tar+gzp");
  ASSERT_FALSE(typo.ok());
  EXPECT_EQ(typo.error().code(), EINVAL);
  EXPECT_THAT(typo.error().message(), HasSubstr("did you mean"));
  EXPECT_FALSE(ClassifyMediaType("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip").ok());
}

TEST(ImagesOciParse, DescriptorErrorsNameTheJsonPath) {
  json layer = Desc(kMediaTypeOciLayerTar, "x");
  json config = Desc(kMediaTypeOciConfig, "{}");
  auto parse = [&](const json& l) {
    return ParseImageManifest(
        json{{"schemaVersion", 2}, {"config", config}, {"layers", {layer, l}}}.dump(), "m.json");
  };
  EXPECT_TRUE(parse(layer).ok());
  json negative = layer;
  negative["size"] = -1;
  EXPECT_THAT(parse(negative).error().message(),
              HasSubstr("m.json: layers[1].size: -1 is negative"));
  json fractional = layer;
  fractional["size"] = 1.5;
  EXPECT_THAT(parse(fractional).error().message(), HasSubstr("is not an integer"));
  json no_digest = layer;
  no_digest.erase("digest");
  EXPECT_THAT(parse(no_digest).error().message(), HasSubstr("m.json: layers[1].digest: missing"));
  json config_as_layer = config;
  EXPECT_THAT(parse(config_as_layer).error().message(),
              HasSubstr("is an image config, not a layer"));
  json bad_annotation = layer;
  bad_annotation["annotations"] = {{"a", 1}};
  EXPECT_THAT(parse(bad_annotation).error().message(),
              HasSubstr("layers[1].annotations.a: not a string"));
}

TEST(ImagesOciParse, ManifestAndIndexHeaders) {
  json config = Desc(kMediaTypeOciConfig, "{}");
  auto v1 = ParseImageManifest(
      json{{"schemaVersion", 1}, {"config", config}, {"layers", json::array()}}.dump(), "m");
  EXPECT_THAT(v1.error().message(), HasSubstr("m: schemaVersion: must be 2, not 1"));
  auto wrong = ParseImageManifest(json{{"schemaVersion", 2},
                                       {"mediaType", kMediaTypeOciIndex},
                                       {"config", config},
                                       {"layers", json::array()}}
                                      .dump(),
                                  "m");
  EXPECT_THAT(wrong.error().message(), HasSubstr("is an image index, not an image manifest"));
  EXPECT_EQ(ParseImageIndex("[]", "i").error().message(), "i: not a JSON object");
  EXPECT_THAT(ParseImageIndex(R"({"schemaVersion": 2})", "i").error().message(),
              HasSubstr("i: manifests: missing"));
}

TEST(ImagesOciParse, DockerConfigWithNulls) {
  json c = {{"architecture", "amd64"},
            {"os", "linux"},
            {"config",
             {{"Env", nullptr}, {"Cmd", nullptr}, {"Entrypoint", nullptr}, {"Labels", nullptr}}},
            {"rootfs", {{"type", "layers"}, {"diff_ids", {Sha("a")}}}}};
  auto config = ParseImageConfig(c.dump(), "c");
  ASSERT_TRUE(config.ok()) << config.error().message();
  EXPECT_TRUE(config->cmd.empty());
  EXPECT_TRUE(config->labels.empty());
  c["rootfs"]["diff_ids"] = {Sha("a"), "md5:abc"};
  EXPECT_THAT(ParseImageConfig(c.dump(), "c").error().message(),
              HasSubstr("c: rootfs.diff_ids[1]: "));
  c.erase("rootfs");
  EXPECT_THAT(ParseImageConfig(c.dump(), "c").error().message(), HasSubstr("c: rootfs: missing"));
}

TEST(ImagesOciParse, Platforms) {
  EXPECT_EQ(PlatformForMachine("linux", "x86_64").ToString(), "linux/amd64");
  EXPECT_EQ(PlatformForMachine("linux", "aarch64").ToString(), "linux/arm64");
  EXPECT_EQ(PlatformForMachine("linux", "armv7l").ToString(), "linux/arm/v7");
  EXPECT_EQ(PlatformForMachine("linux", "mystery").ToString(), "linux/mystery");
  EXPECT_TRUE(PlatformMatches(kArm64, Platform{"linux", "arm64", ""}));
  EXPECT_FALSE(PlatformMatches(Platform{"linux", "arm", "v6"}, Platform{"linux", "arm", "v7"}));
  EXPECT_FALSE(PlatformMatches(kAmd64, Platform{"windows", "amd64", ""}));
  EXPECT_FALSE(PlatformMatches(kAmd64, kArm64));
  EXPECT_EQ(HostPlatform().os, "linux");
  EXPECT_FALSE(HostPlatform().architecture.empty());
}

}  // namespace
}  // namespace strata::images
