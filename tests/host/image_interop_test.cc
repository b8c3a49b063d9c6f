// `strata image` against the tools that make and read OCI images, on every driver this kernel
// supports (the host: vfs, overlay; the VM tier, vm_image_interop: devicemapper too):
//   - a layout built by umoci from a busybox-static rootfs loads, as a dir and as a tar, and so
//     does the docker-save archive skopeo makes of it; the loaded files equal the source rootfs
//     (content, modes, owners, xattrs, symlinks, hardlinks; the whited-out files are gone);
//   - loading again shares every layer; a corrupted blob is refused and leaves nothing;
//   - what `strata image save` writes is read back by umoci (ls, unpack) and skopeo (inspect),
//     and loads into a fresh root as the same image.
// The fixtures are built once per suite. Without umoci or skopeo the suite fails when CI is set
// (tools/dev/deps.txt installs both) and skips otherwise.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/result.h"
#include "tests/conformance/conformance_support.h"
#include "tests/support/run_command.h"

namespace strata {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::Contains;
using ::testing::HasSubstr;
using testing::CommandResult;
using testing::RunCommand;
using testing::RunStrata;

// trusted.*, not user.*: tmpfs (the VM's /tmp) has user xattrs only since Linux 6.6.
constexpr char kXattr[] = "trusted.strata.interop";

std::string ReadFile(const std::string& path) { return testing::ReadFileOr(path, ""); }

void WriteFile(const std::string& path, const std::string& text, fs::perms mode) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
  fs::permissions(path, mode);
}

Status RunOk(const std::vector<std::string>& argv) {
  CommandResult r = RunCommand(argv);
  if (r.exit_code == 0) return Ok();
  return Error(EIO, ::testing::PrintToString(argv) + " exited " + std::to_string(r.exit_code) +
                        ": " + r.err + r.out);
}

Result<json> ReadJson(const std::string& path) {
  json j = json::parse(ReadFile(path), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Error(EINVAL, "not JSON: " + path);
  return j;
}

// A blob of an OCI layout by digest ("sha256:<hex>").
Result<json> ReadBlob(const std::string& layout, const std::string& digest) {
  return ReadJson(layout + "/blobs/sha256/" + digest.substr(7));
}

// What the fixtures' images are, read from the layout umoci wrote.
struct ImageFacts {
  std::string manifest_digest;
  std::string config_digest;
  json diff_ids;
  std::vector<std::string> layer_digests;
};

Result<ImageFacts> ReadImage(const std::string& layout, const std::string& tag) {
  STRATA_ASSIGN_OR_RETURN(json index, ReadJson(layout + "/index.json"));
  for (const json& m : index["manifests"]) {
    if (m["annotations"].value("org.opencontainers.image.ref.name", "") != tag) continue;
    ImageFacts facts;
    facts.manifest_digest = m["digest"];
    STRATA_ASSIGN_OR_RETURN(json manifest, ReadBlob(layout, facts.manifest_digest));
    facts.config_digest = manifest["config"]["digest"];
    for (const json& l : manifest["layers"]) facts.layer_digests.push_back(l["digest"]);
    STRATA_ASSIGN_OR_RETURN(json config, ReadBlob(layout, facts.config_digest));
    facts.diff_ids = config["rootfs"]["diff_ids"];
    return facts;
  }
  return Error(ENOENT, layout + ": no image tagged " + tag);
}

// Everything the tests read; built once per suite.
struct Fixtures {
  std::string dir;
  std::string layout;          // umoci's OCI layout: "latest" (2 layers), "extra" (3: latest + 1)
  std::string layout_tar;      // the same, as a tar (no "./" prefix, as skopeo's oci-archive)
  std::string docker_archive;  // skopeo copy oci:<layout>:latest docker-archive:<...>:busybox:latest
  std::string rootfs;          // the rootfs "latest" was packed from (after layer 2)
  std::string rootfs_extra;    // the rootfs "extra" was packed from
  ImageFacts latest, extra;
  std::string missing_tool;    // "umoci" or "skopeo" when one is not installed
  std::string error;           // building the fixtures failed
};

// Sets the mtime (and atime) of `path`, not following a symlink, to whole seconds: Go's
// archive/tar, which umoci packs with, rounds mtimes to the nearest second, so a fixture with
// fractional mtimes would differ from its own image.
Status SetTime(const std::string& path, time_t secs) {
  const struct timespec times[2] = {{secs, 0}, {secs, 0}};
  if (::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
    return Error::FromErrno("utimensat " + path);
  }
  return Ok();
}

Status SetTimesUnder(const std::string& dir, time_t secs) {
  STRATA_TRY(SetTime(dir, secs));
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    STRATA_TRY(SetTime(entry.path().string(), secs));
  }
  return Ok();
}

// Layer 1: a busybox-static rootfs with the cases a loader gets wrong: applet symlinks, a setuid
// file with an xattr, a hardlink, a file owned by another user, a 0700 dir, the sticky /tmp.
Status FillBase(const std::string& r) {
  WriteFile(r + "/bin/busybox", ReadFile("/bin/busybox"), fs::perms(0755));
  for (const char* applet : {"sh", "ls", "cat", "echo", "true"}) {
    fs::create_symlink("busybox", r + "/bin/" + applet);
  }
  WriteFile(r + "/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", fs::perms(0644));
  WriteFile(r + "/etc/group", "root:x:0:\n", fs::perms(0644));
  WriteFile(r + "/data/odd", "odd\n", fs::perms(0751));
  if (::chmod((r + "/data/odd").c_str(), 04751) != 0) return Error::FromErrno("chmod odd");
  if (::setxattr((r + "/data/odd").c_str(), kXattr, "hello", 5, 0) != 0) {
    return Error::FromErrno("setxattr odd");
  }
  WriteFile(r + "/data/hard1", "linked\n", fs::perms(0644));
  fs::create_hard_link(r + "/data/hard1", r + "/data/hard2");
  WriteFile(r + "/data/owned", "mine\n", fs::perms(0600));
  if (::chown((r + "/data/owned").c_str(), 1000, 1000) != 0) return Error::FromErrno("chown");
  WriteFile(r + "/data/doomed", "gone\n", fs::perms(0644));
  WriteFile(r + "/data/doomed-dir/f", "x\n", fs::perms(0644));
  WriteFile(r + "/data/private/secret", "s\n", fs::perms(0600));
  fs::permissions(r + "/data/private", fs::perms(0700));
  fs::create_directories(r + "/tmp");
  fs::permissions(r + "/tmp", fs::perms(01777));
  return SetTimesUnder(r, 1700000000);
}

// Layer 2: deletions (whiteouts of a file and of a dir), a changed file, an added one.
Status ChangeTop(const std::string& r) {
  fs::remove(r + "/data/doomed");
  fs::remove_all(r + "/data/doomed-dir");
  WriteFile(r + "/etc/passwd", "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/:/bin/sh\n",
            fs::perms(0644));
  WriteFile(r + "/etc/motd", "strata interop\n", fs::perms(0644));
  STRATA_TRY(SetTime(r + "/etc/passwd", 1700000100));
  return SetTime(r + "/etc/motd", 1700000100);
}

Status BuildFixtures(Fixtures& f) {
  const std::string img = f.layout + ":latest";
  STRATA_TRY(RunOk({"umoci", "init", "--layout", f.layout}));
  STRATA_TRY(RunOk({"umoci", "new", "--image", img}));
  STRATA_TRY(RunOk({"umoci", "unpack", "--image", img, f.dir + "/build"}));
  f.rootfs = f.dir + "/build/rootfs";
  STRATA_TRY(FillBase(f.rootfs));
  STRATA_TRY(RunOk({"umoci", "repack", "--refresh-bundle", "--image", img, f.dir + "/build"}));
  STRATA_TRY(ChangeTop(f.rootfs));
  STRATA_TRY(RunOk({"umoci", "repack", "--image", img, f.dir + "/build"}));
  STRATA_TRY(RunOk({"umoci", "config", "--image", img, "--config.entrypoint", "/bin/sh",
                  "--config.cmd", "-c", "--config.cmd", "echo hi", "--config.env", "FOO=bar",
                  "--config.workingdir", "/data", "--config.label", "org.example.test=strata"}));
  // "extra": one more layer on top of "latest", in the same layout.
  STRATA_TRY(RunOk({"umoci", "unpack", "--image", img, f.dir + "/build-extra"}));
  f.rootfs_extra = f.dir + "/build-extra/rootfs";
  WriteFile(f.rootfs_extra + "/opt/extra.txt", "extra\n", fs::perms(0644));
  STRATA_TRY(SetTime(f.rootfs_extra + "/opt/extra.txt", 1700000200));
  STRATA_TRY(RunOk({"umoci", "repack", "--image", f.layout + ":extra", f.dir + "/build-extra"}));
  STRATA_TRY(RunOk({"umoci", "gc", "--layout", f.layout}));
  STRATA_ASSIGN_OR_RETURN(f.latest, ReadImage(f.layout, "latest"));
  STRATA_ASSIGN_OR_RETURN(f.extra, ReadImage(f.layout, "extra"));

  STRATA_TRY(RunOk({"tar", "-C", f.layout, "-cf", f.layout_tar, "oci-layout", "index.json",
                  "blobs"}));
  // Offline: the oci: and docker-archive: transports need no registry, and no policy beyond
  // --insecure-policy (the host's /etc/containers/policy.json is left alone).
  return RunOk({"skopeo", "--insecure-policy", "copy", "-q", "oci:" + img,
              "docker-archive:" + f.docker_archive + ":busybox:latest"});
}

// The suite's scratch dir, holding the fixtures and every test's dir. Where /tmp is on overlayfs
// (the VM's root: a tmpfs over 9p) it gets a tmpfs of its own: there umoci 0.4.7 repacked a layer
// that umoci itself then failed to unpack ("etc/motd: link: operation not permitted": its
// hardlink detection goes by inode number, and overlay gives directories a st_dev of their own),
// and the overlay driver cannot stack on overlayfs.
std::string MakeScratch() {
  char tmpl[] = "/tmp/strata-image-interop-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  constexpr long kOverlayfsMagic = 0x794c7630;  // OVERLAYFS_SUPER_MAGIC
  struct statfs st {};
  if (::statfs(dir.c_str(), &st) == 0 && static_cast<long>(st.f_type) == kOverlayfsMagic) {
    (void)RunOk({"mount", "-t", "tmpfs", "-o", "size=2g,mode=0700", "strata-image-interop",
                 dir});  // best effort: without it the fixtures fail to build, and say why
  }
  return dir;
}

std::unique_ptr<Fixtures> MakeFixtures() {
  auto f = std::make_unique<Fixtures>();
  for (const char* tool : {"umoci", "skopeo"}) {
    if (RunCommand({tool, "--version"}).exit_code != 0) f->missing_tool = tool;
  }
  if (!f->missing_tool.empty()) return f;
  f->dir = MakeScratch();
  f->layout = f->dir + "/oci";
  f->layout_tar = f->dir + "/oci.tar";
  f->docker_archive = f->dir + "/docker.tar";
  Status built = BuildFixtures(*f);
  if (!built.ok()) f->error = built.error().message();
  return f;
}

// Which drivers `strata driver ls --json` says this kernel supports for a root in `dir` (the
// overlay driver's answer depends on the filesystem under the root).
std::map<std::string, std::string> DriverSupport(const std::string& dir) {
  std::map<std::string, std::string> out;
  CommandResult r = RunStrata(dir + "/probe-root", {"driver", "ls", "--json"});
  fs::remove_all(dir + "/probe-root");
  json j = json::parse(r.out, nullptr, false);
  if (r.exit_code != 0 || !j.is_array()) return out;
  for (const json& d : j) {
    out[d["name"]] = d.value("supported", false) ? "" : d.value("reason", std::string("no"));
  }
  return out;
}

class ImageInteropTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    fixtures_ = MakeFixtures().release();
    support_ = new std::map<std::string, std::string>();
    if (!fixtures_->dir.empty()) *support_ = DriverSupport(fixtures_->dir);
  }
  static void TearDownTestSuite() {
    if (!fixtures_->dir.empty()) {
      testing::DetachMountsUnder(fixtures_->dir);
      fs::remove_all(fixtures_->dir);
    }
    delete fixtures_;
    delete support_;
  }

  void SetUp() override {
    const Fixtures& f = *fixtures_;
    if (!f.missing_tool.empty()) {
      if (std::getenv("CI") != nullptr) FAIL() << f.missing_tool << " is not installed";
      GTEST_SKIP() << f.missing_tool << " is not installed (tools/dev/install-deps)";
    }
    ASSERT_EQ(f.error, "") << "building the umoci/skopeo fixtures failed";
    auto it = support_->find(GetParam());
    ASSERT_NE(it, support_->end()) << "`strata driver ls` does not list " << GetParam();
    if (!it->second.empty()) GTEST_SKIP() << GetParam() << " not supported: " << it->second;
    std::string tmpl = f.dir + "/test-XXXXXX";
    dir_ = ::mkdtemp(tmpl.data());
    root_ = dir_ + "/root";
  }

  void TearDown() override {
    if (dir_.empty()) return;
    testing::DetachMountsUnder(dir_);
    for (const std::string& pool : pools_) {  // devicemapper: thin devices, then the pool
      (void)RunCommand({"sh", "-c", "dmsetup ls | awk '{print $1}' | grep '^" + pool +
                                        "-thin-' | xargs -r -n1 dmsetup --noudevsync remove; "
                                        "dmsetup --noudevsync remove " + pool});
    }
    fs::remove_all(dir_);
  }

  // Runs strata on `root` with this test's driver (and for devicemapper a small pool of its own).
  CommandResult Strata(const std::string& root, std::vector<std::string> args) {
    std::vector<std::string> global = {"--driver", GetParam()};
    if (GetParam() == "devicemapper") {
      static int pools_made = 0;  // unique per process: a pool left busy is never reused
      const std::string pool = "strata-interop-" + std::to_string(::getpid()) + "-" +
                               std::to_string(pools_made);
      const std::string config = root + ".json";
      if (!fs::exists(config)) {
        ++pools_made;
        pools_.push_back(pool);
        WriteFile(config, R"({"driver-opts": {"devicemapper": {"pool-name": ")" + pool +
                              R"(", "data-size": "2G", "base-size": "64M"}}})",
                  fs::perms(0644));
      }
      global.insert(global.end(), {"--config", config});
    }
    args.insert(args.begin(), global.begin(), global.end());
    return RunStrata(root, args);
  }
  std::string MustRun(const std::string& root, const std::vector<std::string>& args) {
    CommandResult r = Strata(root, args);
    EXPECT_EQ(r.exit_code, 0) << ::testing::PrintToString(args) << ": " << r.err;
    while (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
    return r.out;
  }
  json MustJson(const std::string& root, const std::vector<std::string>& args) {
    json j = json::parse(MustRun(root, args), nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << ::testing::PrintToString(args);
    return j.is_discarded() ? json::array() : j;
  }
  // `image load --json` of `path`, by image id.
  std::map<std::string, json> Load(const std::string& root, const std::string& path,
                                   std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"image", "load", path, "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::map<std::string, json> out;
    for (const json& image : MustJson(root, args)) out[image.value("id", "")] = image;
    return out;
  }

  // Mounts the top layer of image `ref` in `root`, compares it with `want_rootfs`, unmounts.
  void ExpectFilesIntact(const std::string& root, const std::string& ref,
                         const std::string& want_rootfs) {
    json inspect = MustJson(root, {"image", "inspect", ref});
    ASSERT_EQ(inspect.size(), 1u) << inspect.dump();
    const std::string top = inspect[0].value("top_layer", "");
    ASSERT_FALSE(top.empty()) << inspect.dump();
    const std::string mnt = MustRun(root, {"layer", "mount", top});
    ASSERT_TRUE(fs::is_directory(mnt)) << "layer mount printed '" << mnt << "'";
    ExpectSameTree(want_rootfs, mnt);
    EXPECT_FALSE(testing::PathExists(mnt + "/data/doomed")) << "whiteout of a file not applied";
    EXPECT_FALSE(testing::PathExists(mnt + "/data/doomed-dir")) << "whiteout of a dir";
    // The busybox-static shell runs from the loaded image, through its applet symlink.
    CommandResult sh = RunCommand({"chroot", mnt, "/bin/sh", "-c", "echo hi; cat /etc/motd"});
    EXPECT_EQ(sh.exit_code, 0) << sh.err;
    EXPECT_EQ(sh.out, "hi\nstrata interop\n");
    MustRun(root, {"layer", "umount", top});
  }
  static void ExpectSameTree(const std::string& want_dir, const std::string& got_dir) {
    auto want = testing::SnapshotTree(want_dir);
    auto got = testing::SnapshotTree(got_dir);
    ASSERT_TRUE(want.ok()) << want.error().message();
    ASSERT_TRUE(got.ok()) << got.error().message();
    EXPECT_EQ(testing::DiffSnapshots(*want, *got), "") << want_dir << " vs " << got_dir;
  }

  static inline Fixtures* fixtures_ = nullptr;
  static inline std::map<std::string, std::string>* support_ = nullptr;  // name -> "" or reason
  std::string dir_, root_;
  std::vector<std::string> pools_;  // devicemapper pools this test's roots made
};

TEST_P(ImageInteropTest, UmociLayoutDirLoadsWithFilesIntact) {
  const Fixtures& f = *fixtures_;
  auto loaded = Load(root_, f.layout, {"--name", "busybox"});
  ASSERT_EQ(loaded.size(), 2u) << "both tags of the layout";
  ASSERT_TRUE(loaded.count(f.latest.config_digest)) << "image id = config digest";
  ASSERT_TRUE(loaded.count(f.extra.config_digest));
  const json& latest = loaded[f.latest.config_digest];
  EXPECT_THAT(latest["names"], Contains("busybox:latest"));
  EXPECT_THAT(loaded[f.extra.config_digest]["names"], Contains("busybox:extra"));
  EXPECT_EQ(latest["layers"], 2);
  EXPECT_EQ(loaded[f.extra.config_digest]["layers"], 3);
  int applied = 0;
  for (const auto& [id, image] : loaded) applied += image.value("applied", -1);
  EXPECT_EQ(applied, 3) << "the two images share two layers: 3 applied in all";
  EXPECT_GT(latest.value("bytes", 0), 1000000) << "busybox alone is ~2 MB";

  json inspect = MustJson(root_, {"image", "inspect", "busybox:latest"});
  ASSERT_EQ(inspect.size(), 1u);
  EXPECT_EQ(inspect[0]["id"], f.latest.config_digest);
  EXPECT_EQ(inspect[0]["manifest_digest"], f.latest.manifest_digest);
  EXPECT_EQ(inspect[0]["diff_ids"], f.latest.diff_ids);
  const json& config = inspect[0]["config"];
  EXPECT_THAT(config["Env"], Contains("FOO=bar"));
  EXPECT_EQ(config["Entrypoint"], json::array({"/bin/sh"}));
  EXPECT_EQ(config["Cmd"], json::array({"-c", "echo hi"}));
  EXPECT_EQ(config["WorkingDir"], "/data");
  EXPECT_EQ(config["Labels"]["org.example.test"], "strata");

  json ls = MustJson(root_, {"image", "ls", "--json"});
  EXPECT_EQ(ls.size(), 2u) << ls.dump();
  ExpectFilesIntact(root_, "busybox:latest", f.rootfs);
  ExpectFilesIntact(root_, "busybox:extra", f.rootfs_extra);
}

TEST_P(ImageInteropTest, UmociLayoutTarLoads) {
  const Fixtures& f = *fixtures_;
  auto loaded = Load(root_, f.layout_tar, {"--name", "busybox"});
  ASSERT_EQ(loaded.size(), 2u);
  ASSERT_TRUE(loaded.count(f.latest.config_digest));
  EXPECT_THAT(loaded[f.latest.config_digest]["names"], Contains("busybox:latest"));
  ExpectFilesIntact(root_, f.latest.config_digest, f.rootfs);
}

TEST_P(ImageInteropTest, UntaggedWithoutName) {
  auto loaded = Load(root_, fixtures_->layout);
  ASSERT_EQ(loaded.size(), 2u);
  for (const auto& [id, image] : loaded) {
    EXPECT_EQ(image["names"], json::array()) << "a bare tag without --name stays untagged";
  }
}

TEST_P(ImageInteropTest, SkopeoDockerArchiveLoads) {
  const Fixtures& f = *fixtures_;
  auto loaded = Load(root_, f.docker_archive);
  ASSERT_EQ(loaded.size(), 1u);
  ASSERT_TRUE(loaded.count(f.latest.config_digest)) << "the same config, so the same id";
  const json& image = loaded[f.latest.config_digest];
  EXPECT_EQ(image["layers"], 2);
  EXPECT_EQ(image["applied"], 2);
  bool named = false;  // skopeo writes docker.io/library/busybox:latest
  for (const json& name : image["names"]) {
    named |= name.get<std::string>().ends_with("busybox:latest");
  }
  EXPECT_TRUE(named) << image.dump();
  json inspect = MustJson(root_, {"image", "inspect", f.latest.config_digest});
  ASSERT_EQ(inspect.size(), 1u);
  EXPECT_EQ(inspect[0]["diff_ids"], f.latest.diff_ids);
  ExpectFilesIntact(root_, f.latest.config_digest, f.rootfs);

  // The OCI layout's layers are the same content (skopeo only decompressed them): all shared.
  auto again = Load(root_, f.layout, {"--name", "busybox"});
  ASSERT_TRUE(again.count(f.latest.config_digest));
  EXPECT_EQ(again[f.latest.config_digest]["applied"], 0);
  EXPECT_EQ(again[f.latest.config_digest]["shared"], 2);
}

TEST_P(ImageInteropTest, ReloadSharesEveryLayer) {
  const Fixtures& f = *fixtures_;
  Load(root_, f.layout, {"--name", "busybox"});
  const std::string layers_before = MustRun(root_, {"layer", "ls", "-q"});
  const std::string human = MustRun(root_, {"image", "load", f.layout, "--name", "busybox"});
  // "Loaded image NAME (<id, short>): N layers, N applied, N shared, SIZE"
  EXPECT_THAT(human, HasSubstr("Loaded image busybox:latest ("));
  EXPECT_THAT(human, HasSubstr(f.latest.config_digest.substr(7, 12) +
                               "): 2 layers, 0 applied, 2 shared"));
  EXPECT_THAT(human, HasSubstr("Loaded image busybox:extra ("));
  EXPECT_THAT(human, HasSubstr(f.extra.config_digest.substr(7, 12) +
                               "): 3 layers, 0 applied, 3 shared"));
  EXPECT_EQ(MustRun(root_, {"layer", "ls", "-q"}), layers_before) << "no layer added";
  EXPECT_EQ(MustJson(root_, {"image", "ls", "--json"}).size(), 2u);
  const std::string quiet = MustRun(root_, {"image", "load", "-q", f.layout_tar});
  EXPECT_THAT(quiet, HasSubstr(f.latest.config_digest.substr(7, 12)));
  EXPECT_THAT(quiet, ::testing::Not(HasSubstr("Loaded")));
}

TEST_P(ImageInteropTest, CorruptBlobIsRefusedAndLeavesNothing) {
  const Fixtures& f = *fixtures_;
  const std::string bad = dir_ + "/bad";
  fs::copy(f.layout, bad, fs::copy_options::recursive);
  // The base layer's blob swapped for another valid gzip tar: only its digest gives it away.
  const std::string base = f.latest.layer_digests[0].substr(7);
  const std::string other = f.latest.layer_digests[1].substr(7);
  fs::copy_file(bad + "/blobs/sha256/" + other, bad + "/blobs/sha256/" + base,
                fs::copy_options::overwrite_existing);
  CommandResult r = Strata(root_, {"image", "load", bad, "--name", "busybox"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.err, HasSubstr(base.substr(0, 12))) << "the error names the bad blob";
  EXPECT_EQ(MustRun(root_, {"image", "ls", "-q"}), "");
  EXPECT_EQ(MustRun(root_, {"layer", "ls", "-q"}), "") << "no layer of a refused image stays";
}

TEST_P(ImageInteropTest, SaveIsReadByUmociAndSkopeo) {
  const Fixtures& f = *fixtures_;
  Load(root_, f.layout, {"--name", "busybox"});
  const std::string saved = dir_ + "/saved";
  MustRun(root_, {"image", "save", "busybox:latest", "-o", saved});

  auto index = ReadJson(saved + "/index.json");
  ASSERT_TRUE(index.ok()) << index.error().message();
  ASSERT_EQ((*index)["manifests"].size(), 1u) << index->dump();
  const json& annotations = (*index)["manifests"][0]["annotations"];
  EXPECT_EQ(annotations.value("org.opencontainers.image.ref.name", ""), "latest");
  EXPECT_TRUE(annotations.value("io.containerd.image.name", "").ends_with("busybox:latest"))
      << annotations.dump();

  CommandResult ls = RunCommand({"umoci", "ls", "--layout", saved});
  EXPECT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_EQ(ls.out, "latest\n");
  CommandResult unpack = RunCommand({"umoci", "unpack", "--image", saved + ":latest",
                                     dir_ + "/bundle"});
  ASSERT_EQ(unpack.exit_code, 0) << unpack.err;
  ExpectSameTree(f.rootfs, dir_ + "/bundle/rootfs");

  CommandResult inspect = RunCommand({"skopeo", "inspect", "oci:" + saved + ":latest"});
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  json j = json::parse(inspect.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << inspect.out;
  EXPECT_EQ(j["Layers"].size(), 2u);
  EXPECT_EQ(j["Env"], json::array({"FOO=bar"}));

  MustRun(root_, {"image", "save", "busybox:latest", "-o", dir_ + "/saved.tar"});
  inspect = RunCommand({"skopeo", "inspect", "oci-archive:" + dir_ + "/saved.tar:latest"});
  EXPECT_EQ(inspect.exit_code, 0) << inspect.err;
  // And skopeo can convert the save further, to what docker load reads.
  EXPECT_TRUE(RunOk({"skopeo", "--insecure-policy", "copy", "-q", "oci:" + saved + ":latest",
                   "docker-archive:" + dir_ + "/resaved.tar:busybox:latest"}).ok());
}

TEST_P(ImageInteropTest, SaveThenLoadIntoFreshRootKeepsTheId) {
  const Fixtures& f = *fixtures_;
  Load(root_, f.layout, {"--name", "busybox"});
  json before = MustJson(root_, {"image", "inspect", "busybox:latest"});
  MustRun(root_, {"image", "save", "busybox:latest", "-o", dir_ + "/saved"});
  MustRun(root_, {"image", "save", "busybox:latest", "-o", dir_ + "/saved.tar"});
  const std::vector<std::string> saves = {dir_ + "/saved", dir_ + "/saved.tar"};
  for (size_t i = 0; i < saves.size(); ++i) {
    SCOPED_TRACE(saves[i]);
    const std::string fresh = dir_ + "/fresh" + std::to_string(i);
    auto loaded = Load(fresh, saves[i], {"--name", "busybox"});
    ASSERT_EQ(loaded.size(), 1u);
    ASSERT_TRUE(loaded.count(f.latest.config_digest));
    EXPECT_THAT(loaded[f.latest.config_digest]["names"], Contains("busybox:latest"));
    json after = MustJson(fresh, {"image", "inspect", f.latest.config_digest});
    ASSERT_EQ(after.size(), 1u);
    for (const char* key : {"id", "diff_ids", "chain_ids", "config"}) {
      EXPECT_EQ(after[0][key], before[0][key]) << key;
    }
    ExpectFilesIntact(fresh, f.latest.config_digest, f.rootfs);
  }
}

INSTANTIATE_TEST_SUITE_P(ImageInterop, ImageInteropTest,
                         ::testing::Values("vfs", "overlay", "devicemapper"),
                         [](const auto& param_info) { return param_info.param; });

}  // namespace
}  // namespace strata
