#include "tests/conformance/oci_builder.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/digest.h"
#include "images/oci.h"
#include "tests/support/run_command.h"

namespace strata::testing {
namespace {

namespace fs = std::filesystem;

std::string ReadAll(int fd) {
  std::string out;
  char buf[1 << 16];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

void WriteFile(const std::string& path, const std::string& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<std::string> PlainTar(const TarBuilder& layer) {
  STRATA_ASSIGN_OR_RETURN(UniqueFd fd, layer.Finish());
  return ReadAll(fd.Get());
}

std::string Gzip(const std::string& dir, const std::string& bytes) {
  std::string tmp = dir + "/.gz-tmp";
  WriteFile(tmp, bytes);
  RunCommand({"gzip", "-n", "-f", tmp});
  std::string out = ReadFile(tmp + ".gz");
  fs::remove(tmp + ".gz");
  return out;
}

std::string ConfigJson(const TestImage& image, const std::vector<std::string>& diff_ids) {
  images::Platform host = images::HostPlatform();
  nlohmann::json config = {{"Env", image.env}};
  if (!image.entrypoint.empty()) config["Entrypoint"] = image.entrypoint;
  if (!image.working_dir.empty()) config["WorkingDir"] = image.working_dir;
  if (!image.labels.empty()) config["Labels"] = image.labels;
  nlohmann::json doc = {{"architecture", host.architecture},
                        {"os", "linux"},
                        {"config", config},
                        {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}};
  return doc.dump();
}

std::string Hex(const std::string& digest) { return digest.substr(7); }

}  // namespace

std::string Sha256Of(const std::string& bytes) {
  Sha256 sha;
  sha.Update(bytes.data(), bytes.size());
  return *sha.Final();
}

std::string Sha256OfFile(const std::string& path) { return Sha256Of(ReadFile(path)); }

Result<std::vector<WrittenImage>> WriteOciLayout(const std::string& dir,
                                                 const std::vector<TestImage>& images) {
  fs::create_directories(dir + "/blobs/sha256");
  WriteFile(dir + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
  nlohmann::json manifests = nlohmann::json::array();
  std::vector<WrittenImage> written;
  for (const TestImage& image : images) {
    WrittenImage out;
    nlohmann::json layers = nlohmann::json::array();
    for (const TarBuilder& layer : image.layers) {
      STRATA_ASSIGN_OR_RETURN(std::string tar, PlainTar(layer));
      out.diff_ids.push_back(Sha256Of(tar));
      std::string blob = image.gzip ? Gzip(dir, tar) : tar;
      std::string digest = Sha256Of(blob);
      std::string path = dir + "/blobs/sha256/" + Hex(digest);
      WriteFile(path, blob);
      out.layer_blobs.push_back(path);
      layers.push_back({{"mediaType", image.gzip ? images::kMediaTypeOciLayerGzip
                                                 : images::kMediaTypeOciLayerTar},
                        {"digest", digest},
                        {"size", blob.size()}});
    }
    std::string config = ConfigJson(image, out.diff_ids);
    out.id = Sha256Of(config);
    out.config_path = dir + "/blobs/sha256/" + Hex(out.id);
    WriteFile(out.config_path, config);
    nlohmann::json manifest = {
        {"schemaVersion", 2},
        {"mediaType", images::kMediaTypeOciManifest},
        {"config",
         {{"mediaType", images::kMediaTypeOciConfig}, {"digest", out.id}, {"size", config.size()}}},
        {"layers", layers}};
    std::string manifest_bytes = manifest.dump();
    std::string manifest_digest = Sha256Of(manifest_bytes);
    WriteFile(dir + "/blobs/sha256/" + Hex(manifest_digest), manifest_bytes);
    nlohmann::json entry = {{"mediaType", images::kMediaTypeOciManifest},
                            {"digest", manifest_digest},
                            {"size", manifest_bytes.size()}};
    if (!image.ref_name.empty()) {
      entry["annotations"] = {{images::kAnnotationRefName, image.ref_name}};
    }
    manifests.push_back(entry);
    written.push_back(std::move(out));
  }
  nlohmann::json index = {{"schemaVersion", 2},
                          {"mediaType", images::kMediaTypeOciIndex},
                          {"manifests", manifests}};
  WriteFile(dir + "/index.json", index.dump());
  return written;
}

Result<std::vector<WrittenImage>> WriteDockerArchiveDir(const std::string& dir,
                                                        const std::vector<TestImage>& images) {
  fs::create_directories(dir);
  nlohmann::json manifest = nlohmann::json::array();
  std::vector<WrittenImage> written;
  int n = 0;
  for (const TestImage& image : images) {
    WrittenImage out;
    nlohmann::json layers = nlohmann::json::array();
    for (const TarBuilder& layer : image.layers) {
      STRATA_ASSIGN_OR_RETURN(std::string tar, PlainTar(layer));
      out.diff_ids.push_back(Sha256Of(tar));
      std::string rel = "layer" + std::to_string(n++) + "/layer.tar";
      WriteFile(dir + "/" + rel, tar);
      out.layer_blobs.push_back(dir + "/" + rel);
      layers.push_back(rel);
    }
    std::string config = ConfigJson(image, out.diff_ids);
    out.id = Sha256Of(config);
    out.config_path = dir + "/" + Hex(out.id) + ".json";
    WriteFile(out.config_path, config);
    nlohmann::json tags = nlohmann::json::array();
    if (!image.ref_name.empty()) tags.push_back(image.ref_name);
    manifest.push_back(
        {{"Config", Hex(out.id) + ".json"}, {"RepoTags", tags}, {"Layers", layers}});
    written.push_back(std::move(out));
  }
  WriteFile(dir + "/manifest.json", manifest.dump());
  return written;
}

Status TarDirectory(const std::string& dir, const std::string& out) {
  CommandResult r = RunCommand({"tar", "-C", dir, "-cf", out, "."});
  if (r.exit_code != 0) return Error(EIO, "tar " + dir + ": " + r.err);
  return Ok();
}

}  // namespace strata::testing
