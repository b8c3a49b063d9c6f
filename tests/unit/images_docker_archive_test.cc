// images/docker_archive.h: manifest.json and repositories of a `docker save` archive, as Docker
// 24 (classic <id>/layer.tar) and Docker 25+ (blobs/sha256/<hex>) write them, then broken one
// way at a time. Each error test checks the errno and that the message names the file, the JSON
// path and the offending value.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "images/docker_archive.h"
#include "images/oci.h"

namespace strata::images {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

const std::string kHexA(64, 'a');
const std::string kHexB(64, 'b');
const std::string kHexC(64, 'c');

// What `docker save busybox:latest busybox:musl` wrote with Docker 24.
json Classic() {
  return json::array({{{"Config", kHexA + ".json"},
                       {"RepoTags", {"busybox:latest", "busybox:musl"}},
                       {"Layers", {kHexB + "/layer.tar", kHexC + "/layer.tar"}}}});
}

// Docker 25+: the same image inside an OCI layout, with a foreign layer's source.
json NewStyle() {
  return json::array(
      {{{"Config", "blobs/sha256/" + kHexA},
        {"RepoTags", {"app:1.0"}},
        {"Layers", {"blobs/sha256/" + kHexB}},
        {"LayerSources",
         {{"sha256:" + kHexB,
           {{"mediaType", "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"},
            {"size", 1234},
            {"digest", "sha256:" + kHexC},
            {"urls", {"https://example.com/layer"}}}}}}}});
}

std::string ConfigJson(size_t diff_ids) {
  json c = {{"architecture", "amd64"},
            {"os", "linux"},
            {"rootfs", {{"type", "layers"}, {"diff_ids", json::array()}}}};
  for (size_t i = 0; i < diff_ids; ++i) c["rootfs"]["diff_ids"].push_back("sha256:" + kHexB);
  return c.dump();
}

// The error of parsing `manifest`, which must fail with `code`.
std::string ManifestError(const json& manifest, int code = EINVAL) {
  auto parsed = ParseDockerManifest(manifest.dump());
  EXPECT_FALSE(parsed.ok());
  if (parsed.ok()) return "";
  EXPECT_EQ(parsed.error().code(), code) << parsed.error().message();
  return parsed.error().message();
}

TEST(ImagesDockerArchive, ClassicManifestParses) {
  auto images = ParseDockerManifest(Classic().dump());
  ASSERT_TRUE(images.ok()) << images.error().message();
  ASSERT_EQ(images->size(), 1u);
  const DockerArchiveImage& image = (*images)[0];
  EXPECT_EQ(image.index, 0u);
  EXPECT_EQ(image.config, kHexA + ".json");
  EXPECT_EQ(image.repo_tags, (std::vector<std::string>{"busybox:latest", "busybox:musl"}));
  EXPECT_EQ(image.layers, (std::vector<std::string>{kHexB + "/layer.tar", kHexC + "/layer.tar"}));
  EXPECT_TRUE(image.layer_sources.empty());
}

TEST(ImagesDockerArchive, NewStyleManifestParses) {
  auto images = ParseDockerManifest(NewStyle().dump());
  ASSERT_TRUE(images.ok()) << images.error().message();
  ASSERT_EQ(images->size(), 1u);
  const DockerArchiveImage& image = (*images)[0];
  EXPECT_EQ(image.config, "blobs/sha256/" + kHexA);
  EXPECT_EQ(image.repo_tags, std::vector<std::string>{"app:1.0"});
  EXPECT_EQ(image.layers, std::vector<std::string>{"blobs/sha256/" + kHexB});
  ASSERT_EQ(image.layer_sources.size(), 1u);
  const DockerLayerSource& src = image.layer_sources.at("sha256:" + kHexB);
  EXPECT_EQ(src.media_type, "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip");
  EXPECT_EQ(src.size_bytes, 1234);
  EXPECT_EQ(src.digest, "sha256:" + kHexC);
  EXPECT_EQ(src.urls, std::vector<std::string>{"https://example.com/layer"});
}

TEST(ImagesDockerArchive, NullOrAbsentRepoTagsIsAnUntaggedImage) {
  json m = Classic();
  m.push_back(Classic()[0]);
  m[0]["RepoTags"] = nullptr;
  m[1].erase("RepoTags");
  auto images = ParseDockerManifest(m.dump());
  ASSERT_TRUE(images.ok()) << images.error().message();
  ASSERT_EQ(images->size(), 2u);
  EXPECT_TRUE((*images)[0].repo_tags.empty());
  EXPECT_TRUE((*images)[1].repo_tags.empty());
  EXPECT_EQ((*images)[1].index, 1u);
  EXPECT_EQ((*images)[1].layers.size(), 2u);
}

TEST(ImagesDockerArchive, RepoTagsAreKeptAsWritten) {
  json m = Classic();
  m[0]["RepoTags"] = {"busybox", "registry.example:5000/app:v2"};
  auto images = ParseDockerManifest(m.dump());
  ASSERT_TRUE(images.ok()) << images.error().message();
  // No ":latest" is added to a tagless name.
  EXPECT_EQ((*images)[0].repo_tags,
            (std::vector<std::string>{"busybox", "registry.example:5000/app:v2"}));
}

TEST(ImagesDockerArchive, LayerPathEscapingTheArchive) {
  json m = Classic();
  m[0]["Layers"].push_back("../x");
  EXPECT_THAT(ManifestError(m),
              HasSubstr("manifest.json: [0].Layers[2]: \"../x\" escapes the archive"));
  m[0]["Layers"][2] = "blobs/../../etc/passwd";
  EXPECT_THAT(ManifestError(m), HasSubstr("[0].Layers[2]: \"blobs/../../etc/passwd\" escapes"));
}

TEST(ImagesDockerArchive, AbsoluteConfigPath) {
  json m = Classic();
  m[0]["Config"] = "/etc/passwd";
  EXPECT_THAT(ManifestError(m),
              HasSubstr("manifest.json: [0].Config: \"/etc/passwd\" is absolute"));
}

TEST(ImagesDockerArchive, EmptyAndDotComponents) {
  json m = Classic();
  m[0]["Layers"][0] = "blobs//sha256";
  EXPECT_THAT(ManifestError(m),
              HasSubstr("[0].Layers[0]: \"blobs//sha256\" has an empty component"));
  m[0]["Layers"][0] = kHexB + "/";
  EXPECT_THAT(ManifestError(m), HasSubstr("has an empty component"));
  m[0]["Layers"][0] = "";
  EXPECT_THAT(ManifestError(m), HasSubstr("[0].Layers[0]: \"\" is not a path"));
  m[0]["Layers"][0] = "./" + kHexB + "/layer.tar";
  EXPECT_THAT(ManifestError(m), HasSubstr("has a \".\" component"));
}

TEST(ImagesDockerArchive, CheckArchivePathAcceptsBothSpellings) {
  EXPECT_TRUE(CheckArchivePath(kHexA + ".json").ok());
  EXPECT_TRUE(CheckArchivePath(kHexB + "/layer.tar").ok());
  EXPECT_TRUE(CheckArchivePath("blobs/sha256/" + kHexC).ok());
  EXPECT_TRUE(CheckArchivePath("..hidden/x..").ok());  // ".." only as a whole component
  EXPECT_FALSE(CheckArchivePath("..").ok());
  EXPECT_FALSE(CheckArchivePath("a/..").ok());
}

TEST(ImagesDockerArchive, EmptyManifestHasNoImages) {
  EXPECT_THAT(ManifestError(json::array()), HasSubstr("manifest.json: no images"));
}

TEST(ImagesDockerArchive, NotAnArrayOrNotJson) {
  EXPECT_THAT(ManifestError(Classic()[0]), HasSubstr("manifest.json: not a JSON array"));
  auto parsed = ParseDockerManifest("[{\"Config\": ");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().code(), EINVAL);
  EXPECT_EQ(parsed.error().message(), "manifest.json: invalid JSON");
  EXPECT_THAT(ManifestError(json::array({"x"})), HasSubstr("manifest.json: [0]: not an object"));
}

TEST(ImagesDockerArchive, MissingConfig) {
  json m = Classic();
  m.push_back(Classic()[0]);
  m[1].erase("Config");
  EXPECT_THAT(ManifestError(m), HasSubstr("manifest.json: [1].Config: missing"));
  m[1]["Config"] = 7;
  EXPECT_THAT(ManifestError(m), HasSubstr("manifest.json: [1].Config: 7 is not a string"));
}

TEST(ImagesDockerArchive, MissingOrMalformedLayers) {
  json m = Classic();
  m[0].erase("Layers");
  EXPECT_THAT(ManifestError(m), HasSubstr("manifest.json: [0].Layers: missing"));
  m[0]["Layers"] = kHexB + "/layer.tar";
  EXPECT_THAT(ManifestError(m), HasSubstr("manifest.json: [0].Layers: not an array"));
  m[0]["Layers"] = {kHexB + "/layer.tar", 3};
  EXPECT_THAT(ManifestError(m), HasSubstr("manifest.json: [0].Layers[1]: 3 is not a string"));
}

TEST(ImagesDockerArchive, NonStringRepoTag) {
  json m = Classic();
  m[0]["RepoTags"] = {"busybox:latest", nullptr};
  EXPECT_THAT(ManifestError(m), HasSubstr("manifest.json: [0].RepoTags[1]: null is not a string"));
  m[0]["RepoTags"] = "busybox:latest";
  EXPECT_THAT(ManifestError(m), HasSubstr("manifest.json: [0].RepoTags: not an array"));
}

TEST(ImagesDockerArchive, BadLayerSources) {
  json m = NewStyle();
  m[0]["LayerSources"] = {{"sha256:abc", json::object()}};
  EXPECT_THAT(ManifestError(m), HasSubstr("manifest.json: [0].LayerSources: \"sha256:abc\""));
  m[0]["LayerSources"] = {{"sha512:" + kHexB, json::object()}};
  EXPECT_THAT(ManifestError(m, EOPNOTSUPP), HasSubstr("\"sha512\" is not supported"));
  m = NewStyle();
  m[0]["LayerSources"]["sha256:" + kHexB]["size"] = -1;
  EXPECT_THAT(ManifestError(m), HasSubstr("[0].LayerSources.sha256:" + kHexB + ".size: missing"));
}

TEST(ImagesDockerArchive, RepositoriesParse) {
  json r = {{"busybox", {{"musl", kHexC}, {"latest", kHexB}}}, {"app", {{"1.0", kHexA}}}};
  auto tags = ParseDockerRepositories(r.dump());
  ASSERT_TRUE(tags.ok()) << tags.error().message();
  ASSERT_EQ(tags->size(), 3u);
  EXPECT_EQ((*tags)[0].repository, "app");
  EXPECT_EQ((*tags)[0].tag, "1.0");
  EXPECT_EQ((*tags)[0].layer_id, kHexA);
  EXPECT_EQ((*tags)[1].repository, "busybox");
  EXPECT_EQ((*tags)[1].tag, "latest");
  EXPECT_EQ((*tags)[1].layer_id, kHexB);
  EXPECT_EQ((*tags)[2].tag, "musl");
  auto empty = ParseDockerRepositories("{}");
  ASSERT_TRUE(empty.ok()) << empty.error().message();
  EXPECT_TRUE(empty->empty());
}

TEST(ImagesDockerArchive, BadRepositories) {
  auto not_object = ParseDockerRepositories("[]");
  ASSERT_FALSE(not_object.ok());
  EXPECT_EQ(not_object.error().message(), "repositories: not a JSON object");
  auto bad_tags = ParseDockerRepositories(json({{"busybox", "latest"}}).dump());
  ASSERT_FALSE(bad_tags.ok());
  EXPECT_EQ(bad_tags.error().message(), "repositories: busybox: not an object");
  // A layer id names a directory of the archive: "../x" must not get through.
  auto bad_id = ParseDockerRepositories(json({{"busybox", {{"latest", "../x"}}}}).dump());
  ASSERT_FALSE(bad_id.ok());
  EXPECT_EQ(bad_id.error().code(), EINVAL);
  EXPECT_THAT(bad_id.error().message(),
              HasSubstr("repositories: busybox.latest: \"../x\" is not a layer id"));
}

TEST(ImagesDockerArchive, ConfigMatchingLayersParses) {
  auto images = ParseDockerManifest(Classic().dump());
  ASSERT_TRUE(images.ok()) << images.error().message();
  auto config = ParseDockerImageConfig((*images)[0], ConfigJson(2));
  ASSERT_TRUE(config.ok()) << config.error().message();
  EXPECT_EQ(config->platform.ToString(), "linux/amd64");
  EXPECT_EQ(config->diff_ids.size(), 2u);
}

TEST(ImagesDockerArchive, ConfigDiffIdsCountMismatch) {
  json m = Classic();
  m.push_back(NewStyle()[0]);
  auto images = ParseDockerManifest(m.dump());
  ASSERT_TRUE(images.ok()) << images.error().message();
  auto config = ParseDockerImageConfig((*images)[1], ConfigJson(2));
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().code(), EINVAL);
  EXPECT_EQ(config.error().message(), "manifest.json: [1]: config \"blobs/sha256/" + kHexA +
                                          "\": rootfs.diff_ids has 2 entries but Layers has 1");
}

TEST(ImagesDockerArchive, MalformedConfigNamesManifestEntryAndConfigFile) {
  auto images = ParseDockerManifest(Classic().dump());
  ASSERT_TRUE(images.ok()) << images.error().message();
  auto config = ParseDockerImageConfig((*images)[0], R"({"architecture": "amd64", "os": "linux"})");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().code(), EINVAL);
  EXPECT_EQ(config.error().message(),
            "manifest.json: [0].Config: " + kHexA + ".json: rootfs: missing");
}

}  // namespace
}  // namespace strata::images
