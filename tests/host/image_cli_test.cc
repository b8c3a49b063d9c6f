// `strata image` end to end as a user runs it (vfs driver): load, ls, inspect, tag, layer ls,
// rm, save, and the errors for bad input.
#include <csignal>
#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/conformance/oci_builder.h"
#include "tests/support/run_command.h"

namespace strata {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::RunStrata;
using testing::TarBuilder;

class ImageCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/var/tmp/strata-image-cli-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    root_ = dir_ + "/root";
    testing::TestImage image;
    image.layers.push_back(TarBuilder().Dir("etc").File("etc/hello", "hello\n"));
    image.layers.push_back(TarBuilder().File("top", "top\n"));
    image.ref_name = "1.0";
    image.entrypoint = {"/bin/sh"};
    auto written = testing::WriteOciLayout(dir_ + "/layout", {image});
    ASSERT_TRUE(written.ok()) << written.error().message();
    id_ = (*written)[0].id;
  }
  void TearDown() override { fs::remove_all(dir_); }
  testing::CommandResult Strata(std::vector<std::string> args, const std::string& input = "") {
    args.insert(args.begin(), {"--driver", "vfs"});
    return RunStrata(root_, args, input);
  }
  nlohmann::json Json(std::vector<std::string> args) {
    auto r = Strata(std::move(args));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out, nullptr, false);
  }
  std::string dir_, root_, id_;
};

TEST_F(ImageCliTest, LoadListInspectTagRemove) {
  auto load = Strata({"image", "load", dir_ + "/layout", "--name", "app"});
  ASSERT_EQ(load.exit_code, 0) << load.err;
  EXPECT_THAT(load.out, HasSubstr("Loaded image app:1.0 (" + id_.substr(7, 12) +
                                  "): 2 layers, 2 applied, 0 shared"));
  auto ls = Json({"image", "ls", "--json"});
  ASSERT_EQ(ls.size(), 1u);
  EXPECT_EQ(ls[0]["id"], id_);
  EXPECT_EQ(ls[0]["names"], nlohmann::json({"app:1.0"}));
  auto inspect = Json({"image", "inspect", "app:1.0"});
  ASSERT_EQ(inspect.size(), 1u);
  EXPECT_EQ(inspect[0]["config"]["Entrypoint"], nlohmann::json({"/bin/sh"}));
  EXPECT_EQ(inspect[0]["chain_ids"].size(), 2u);
  const std::string top = inspect[0]["top_layer"];

  ASSERT_EQ(Strata({"image", "tag", id_.substr(7, 8), "app"}).exit_code, 0);
  auto table = Strata({"image", "ls"});
  EXPECT_THAT(table.out, HasSubstr("app         latest"));
  EXPECT_THAT(table.out, HasSubstr("1.0"));
  auto layers = Json({"layer", "ls", "--json"});
  ASSERT_EQ(layers.size(), 2u);
  for (const auto& layer : layers) {
    EXPECT_EQ(layer["images"], nlohmann::json({"app:1.0"})) << layer.dump();
  }
  auto layer_rm = Strata({"layer", "rm", top});
  EXPECT_EQ(layer_rm.exit_code, 1);
  EXPECT_THAT(layer_rm.err, HasSubstr("belongs to image app:1.0"));

  auto by_id = Strata({"image", "rm", id_});
  EXPECT_EQ(by_id.exit_code, 1);
  EXPECT_THAT(by_id.err, HasSubstr("several names (app:1.0, app:latest)"));
  auto untag = Strata({"image", "rm", "app"});
  ASSERT_EQ(untag.exit_code, 0) << untag.err;
  EXPECT_EQ(untag.out, "Untagged: app:latest\n");
  auto rm = Strata({"image", "rm", "app:1.0"});
  ASSERT_EQ(rm.exit_code, 0) << rm.err;
  EXPECT_THAT(rm.out, HasSubstr("Deleted: " + id_ + " (2 layers removed)"));
  EXPECT_EQ(Json({"layer", "ls", "--json"}).size(), 0u);
  auto again = Strata({"image", "rm", "app:1.0"});
  EXPECT_EQ(again.exit_code, 0);
  EXPECT_THAT(again.err, HasSubstr("nothing to remove"));
}

TEST_F(ImageCliTest, SaveThenLoadKeepsIdAndNames) {
  ASSERT_EQ(Strata({"image", "load", dir_ + "/layout", "--name", "app"}).exit_code, 0);
  auto save = Strata({"image", "save", "app:1.0", "-o", dir_ + "/out.tar"});
  ASSERT_EQ(save.exit_code, 0) << save.err;
  auto twice = Strata({"image", "save", "app:1.0", "-o", dir_ + "/out.tar"});
  EXPECT_EQ(twice.exit_code, 1);
  EXPECT_THAT(twice.err, HasSubstr("already exists"));
  ASSERT_EQ(Strata({"image", "rm", "app:1.0"}).exit_code, 0);
  auto load = Json({"image", "load", dir_ + "/out.tar", "--json"});
  ASSERT_EQ(load.size(), 1u);
  EXPECT_EQ(load[0]["id"], id_);
  EXPECT_EQ(load[0]["names"], nlohmann::json({"app:1.0"}));
  EXPECT_EQ(load[0]["applied"], 2);

  // The same archive on stdin, as `docker save x | strata image load -`.
  std::ifstream in(dir_ + "/out.tar", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  auto piped = Strata({"image", "load", "-", "-q"}, bytes);
  ASSERT_EQ(piped.exit_code, 0) << piped.err;
  EXPECT_EQ(piped.out, id_ + "\n");
  EXPECT_TRUE(fs::is_empty(root_ + "/images/tmp"));
}

TEST_F(ImageCliTest, BadInputIsACleanError) {
  auto missing = Strata({"image", "load", dir_ + "/nope"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr(dir_ + "/nope"));
  fs::create_directories(dir_ + "/empty");
  auto neither = Strata({"image", "load", dir_ + "/empty"});
  EXPECT_EQ(neither.exit_code, 1);
  EXPECT_THAT(neither.err, HasSubstr("neither an OCI image layout"));
  auto bad_name = Strata({"image", "load", dir_ + "/layout", "--name", "App"});
  EXPECT_EQ(bad_name.exit_code, 1);
  EXPECT_THAT(bad_name.err, HasSubstr("lowercase"));
  auto unknown = Strata({"image", "inspect", "nosuch"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_THAT(unknown.err, HasSubstr("no such image"));
  auto format = Strata({"image", "save", "x", "-o", dir_ + "/o", "--format", "zip"});
  EXPECT_EQ(format.exit_code, 1);
  EXPECT_THAT(format.err, HasSubstr("want dir or tar"));
  // Nothing was made by any of it.
  EXPECT_EQ(Json({"image", "ls", "--json"}).size(), 0u);
  EXPECT_EQ(Json({"layer", "ls", "--json"}).size(), 0u);
}

// SIGKILL at every failpoint of load and rm: the next command finds no half image, no leftover
// layer, blob or temp file, and the same load or rm then works.
TEST_F(ImageCliTest, KilledLoadsAndRemovalsAreCleanedUp) {
  auto killed_at = [&](const std::string& failpoint, std::vector<std::string> args) {
    std::vector<std::string> argv = {"env", "STRATA_FAILPOINT=" + failpoint, STRATA_BINARY,
                                     "--root", root_, "--driver", "vfs"};
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::RunCommand(argv);
  };
  auto files = [](const std::string& dir) {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) out.push_back(e.path().filename());
    return out;
  };
  const std::vector<std::string> load = {"image", "load", dir_ + "/layout", "--name", "app"};
  for (const std::string fp : {"image.load.after-owned", "image.load.after-layer",
                               "image.load.before-records"}) {
    SCOPED_TRACE(fp);
    auto r = killed_at(fp, load);
    ASSERT_EQ(r.exit_code, 128 + SIGKILL) << r.err;
    EXPECT_EQ(Json({"image", "ls", "--json"}).size(), 0u);
    EXPECT_EQ(Json({"layer", "ls", "--json"}).size(), 0u);
    EXPECT_THAT(files(root_ + "/images/blobs/sha256"), ::testing::IsEmpty());
    EXPECT_THAT(files(root_ + "/images/tmp"), ::testing::IsEmpty());
  }
  for (const std::string fp : {"image.rm.after-records", "image.rm.after-layer"}) {
    SCOPED_TRACE(fp);
    ASSERT_EQ(Strata(load).exit_code, 0);
    auto r = killed_at(fp, {"image", "rm", "app:1.0"});
    ASSERT_EQ(r.exit_code, 128 + SIGKILL) << r.err;
    EXPECT_EQ(Json({"image", "ls", "--json"}).size(), 0u);
    EXPECT_EQ(Json({"layer", "ls", "--json"}).size(), 0u);
    EXPECT_THAT(files(root_ + "/images/blobs/sha256"), ::testing::IsEmpty());
  }
  // Every failpoint in images/ has a case above.
  auto grep = testing::RunCommand(
      {"sh", "-c", "grep -ho 'Failpoint(\"image[^)]*)' " STRATA_SOURCE_DIR "/images/*.cc"});
  EXPECT_EQ(grep.out,
            "Failpoint(\"image.load\", \"before-records\")\n"
            "Failpoint(\"image.load\", \"after-owned\")\n"
            "Failpoint(\"image.load\", \"after-layer\")\n"
            "Failpoint(\"image.rm\", \"after-records\")\n"
            "Failpoint(\"image.rm\", \"after-layer\")\n");
}

}  // namespace
}  // namespace strata
