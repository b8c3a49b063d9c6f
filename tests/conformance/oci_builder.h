// Test images: OCI image layouts and docker-save archives written from TarBuilder layers, with
// real digests, for the image tests of every tier that has drivers (host, vm).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/result.h"
#include "tests/conformance/conformance_support.h"

namespace strata::testing {

struct TestImage {
  std::vector<TarBuilder> layers;  // base first
  bool gzip = true;                // OCI layouts: gzip the layer blobs
  std::string ref_name;            // OCI: org.opencontainers.image.ref.name; docker: a RepoTag
  std::vector<std::string> env = {"PATH=/usr/bin:/bin"};
  std::vector<std::string> entrypoint;
  std::string working_dir;
  std::map<std::string, std::string> labels;
};

// What the writer made, for assertions and for corrupting.
struct WrittenImage {
  std::string id;                         // config digest
  std::vector<std::string> diff_ids;      // sha256 of each plain tar
  std::vector<std::string> layer_blobs;   // paths of the layer blobs as written
  std::string config_path;
};

// Writes an OCI image layout into `dir` (created), one index.json entry per image.
Result<std::vector<WrittenImage>> WriteOciLayout(const std::string& dir,
                                                 const std::vector<TestImage>& images);
// Writes a docker-save directory (manifest.json, <hex>.json, <n>/layer.tar) into `dir`.
Result<std::vector<WrittenImage>> WriteDockerArchiveDir(const std::string& dir,
                                                        const std::vector<TestImage>& images);
// tar -C dir -cf out . (GNU tar)
Status TarDirectory(const std::string& dir, const std::string& out);

// sha256 of a file or a string, "sha256:<hex>".
std::string Sha256OfFile(const std::string& path);
std::string Sha256Of(const std::string& bytes);

}  // namespace strata::testing
