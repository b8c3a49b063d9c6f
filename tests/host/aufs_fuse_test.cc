// strata-aufs mounted for real (root, then as nobody through fusermount3): lookup and readdir
// merge, whiteouts and opaque directories from lower branches, copy-up keeping content, mode,
// owner, xattrs and times (holes kept, truncates copying only what they keep, symlink and fifo
// xattrs, a large copy-up not stalling other changes), writes through the writeback cache,
// whiteouts left by unlink/rmdir, opaque mkdir, rename and link, EROFS, option errors, and a
// SIGKILLed helper seen as ENOTCONN and cleaned with a lazy unmount.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/run_command.h"

namespace strata {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::RunCommand;

std::string AufsBinary() { return fs::path(STRATA_BINARY).parent_path().string() + "/strata-aufs"; }

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void Put(const std::string& path, const std::string& content) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << content;
}

// The mountinfo line of a strata-aufs mount at `mnt`, or "".
std::string MountLine(const std::string& mnt) {
  std::istringstream in(Slurp("/proc/self/mountinfo"));
  for (std::string line; std::getline(in, line);) {
    if (line.find(" " + mnt + " ") != std::string::npos &&
        line.find(" - fuse.strata-aufs ") != std::string::npos) {
      return line;
    }
  }
  return "";
}

std::set<std::string> Names(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
  return names;
}

int ErrnoOf(int r) { return r < 0 ? errno : 0; }

struct stat Lstat(const std::string& path) {
  struct stat st = {};
  EXPECT_EQ(lstat(path.c_str(), &st), 0) << path << ": " << strerror(errno);
  return st;
}

std::string Xattr(const std::string& path, const char* name) {
  char buf[256];
  ssize_t n = lgetxattr(path.c_str(), name, buf, sizeof buf);
  return n < 0 ? "<" + std::string(strerror(errno)) + ">"
               : std::string(buf, static_cast<size_t>(n));
}

class AufsFuseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (the non-root flow runs via setpriv)";
    ASSERT_TRUE(fs::exists(AufsBinary())) << AufsBinary();
    char tmpl[] = "/var/tmp/strata-aufs-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    chmod(root_.c_str(), 0755);
    for (const char* d : {"up", "l1", "l2", "mnt"}) fs::create_directories(root_ + "/" + d);
    up_ = root_ + "/up";
    l1_ = root_ + "/l1";
    l2_ = root_ + "/l2";
    mnt_ = root_ + "/mnt";
  }
  void TearDown() override {
    if (root_.empty()) return;
    if (!MountLine(mnt_).empty()) (void)umount2(mnt_.c_str(), MNT_DETACH);
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  std::string Br() const { return "br=" + up_ + "=rw:" + l1_ + "=ro+wh:" + l2_ + "=ro"; }

  // strata-aufs -f as a child of this process, waited for until its mount shows (5 s at most).
  pid_t StartInForeground() {
    pid_t pid = fork();
    if (pid == 0) {
      execl(AufsBinary().c_str(), "strata-aufs", "-f", "-o", Br().c_str(), mnt_.c_str(), nullptr);
      _exit(127);
    }
    for (int i = 0; i < 500 && MountLine(mnt_).empty(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return pid;
  }

  void Mount(const std::string& opts, const std::string& top = "") {
    auto r = RunCommand({AufsBinary(), "-o", opts, mnt_});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ASSERT_THAT(MountLine(mnt_), HasSubstr(" strata-aufs:" + (top.empty() ? up_ : top) + " "));
  }

  // A lower tree with a bit of everything.
  void Populate() {
    Put(l2_ + "/a", "l2a");
    Put(l1_ + "/a", "l1a");
    Put(l2_ + "/only2", "2");
    Put(l2_ + "/gone", "g");
    Put(l1_ + "/.wh.gone", "");
    Put(l2_ + "/d/x", "x");
    Put(l1_ + "/d/y", "y");
    Put(l2_ + "/d/sub/z", "z");
    Put(l2_ + "/op/hidden", "h");
    Put(l1_ + "/op/visible", "v");
    Put(l1_ + "/op/.wh..wh..opq", "");
    Put(l2_ + "/empty/.keep", "");
    Put(l1_ + "/empty/.wh..keep", "");
  }

  std::string root_, up_, l1_, l2_, mnt_;
};

TEST_F(AufsFuseTest, LookupAndReaddirMergeHonourWhiteoutsAndOpaqueDirs) {
  Populate();
  Mount(Br());
  EXPECT_EQ(Slurp(mnt_ + "/a"), "l1a");  // the top branch holding the name wins
  EXPECT_EQ(Slurp(mnt_ + "/only2"), "2");
  EXPECT_EQ(Names(mnt_), (std::set<std::string>{"a", "only2", "d", "op", "empty"}));
  EXPECT_EQ(Names(mnt_ + "/d"), (std::set<std::string>{"x", "y", "sub"}));
  EXPECT_EQ(Names(mnt_ + "/op"), (std::set<std::string>{"visible"}));
  EXPECT_TRUE(Names(mnt_ + "/empty").empty());
  struct stat st;
  EXPECT_EQ(ErrnoOf(lstat((mnt_ + "/gone").c_str(), &st)), ENOENT);
  EXPECT_EQ(ErrnoOf(lstat((mnt_ + "/op/hidden").c_str(), &st)), ENOENT);
  EXPECT_EQ(ErrnoOf(lstat((mnt_ + "/.wh.gone").c_str(), &st)), ENOENT);
  EXPECT_EQ(ErrnoOf(lstat((mnt_ + "/op/.wh..wh..opq").c_str(), &st)), ENOENT);
  // Inode numbers are stable per path and readdir agrees with stat.
  ino_t ino = Lstat(mnt_ + "/d/x").st_ino;
  EXPECT_EQ(Lstat(mnt_ + "/d/x").st_ino, ino);
  for (const auto& e : fs::directory_iterator(mnt_ + "/d")) {
    EXPECT_EQ(Lstat(e.path().string()).st_ino, Lstat(e.path().string()).st_ino);
  }
  EXPECT_NE(Lstat(mnt_ + "/d/y").st_ino, ino);
  EXPECT_TRUE(fs::is_empty(up_));  // reads never write
}

TEST_F(AufsFuseTest, CopyUpKeepsContentModeOwnerXattrsAndTimes) {
  Put(l1_ + "/dir/f", "lower");
  Put(l1_ + "/dir/g", "keep");
  Put(l1_ + "/dir/h", "hhh");
  std::string f = l1_ + "/dir/f", g = l1_ + "/dir/g", dir = l1_ + "/dir";
  for (const std::string& p : {f, g, dir}) {
    ASSERT_EQ(chown(p.c_str(), 1234, 5678), 0);
    ASSERT_EQ(setxattr(p.c_str(), "user.k", "v", 1, 0), 0);
    ASSERT_EQ(setxattr(p.c_str(), "trusted.k", "t", 1, 0), 0);
  }
  ASSERT_EQ(chmod(f.c_str(), 0640), 0);
  ASSERT_EQ(chmod(g.c_str(), 0604), 0);
  ASSERT_EQ(chmod(dir.c_str(), 0750), 0);
  struct timespec old[2] = {{1000000000, 5}, {1100000000, 7}};
  for (const std::string& p : {f, g, dir}) ASSERT_EQ(utimensat(AT_FDCWD, p.c_str(), old, 0), 0);
  ASSERT_EQ(symlink("target", (l1_ + "/dir/link").c_str()), 0);
  Mount(Br());

  // setxattr on g: a metadata-only copy-up keeps everything, times included.
  ASSERT_EQ(setxattr((mnt_ + "/dir/g").c_str(), "user.new", "n", 1, 0), 0);
  struct stat ug = Lstat(up_ + "/dir/g");
  EXPECT_EQ(Slurp(up_ + "/dir/g"), "keep");
  EXPECT_EQ(ug.st_mode & 07777, 0604u);
  EXPECT_EQ(ug.st_uid, 1234u);
  EXPECT_EQ(ug.st_gid, 5678u);
  EXPECT_EQ(ug.st_mtim.tv_sec, 1100000000);
  EXPECT_EQ(ug.st_mtim.tv_nsec, 7);
  EXPECT_EQ(ug.st_atim.tv_sec, 1000000000);
  EXPECT_EQ(Xattr(up_ + "/dir/g", "user.k"), "v");
  EXPECT_EQ(Xattr(up_ + "/dir/g", "trusted.k"), "t");
  EXPECT_EQ(Xattr(mnt_ + "/dir/g", "user.new"), "n");
  // The ancestor directory came up with its own metadata.
  struct stat ud = Lstat(up_ + "/dir");
  EXPECT_EQ(ud.st_mode & 07777, 0750u);
  EXPECT_EQ(ud.st_uid, 1234u);
  EXPECT_EQ(Xattr(up_ + "/dir", "trusted.k"), "t");

  // Open for append: content kept, mode and owner too.
  { std::ofstream(mnt_ + "/dir/f", std::ios::app) << "+more"; }
  EXPECT_EQ(Slurp(mnt_ + "/dir/f"), "lower+more");
  EXPECT_EQ(Slurp(up_ + "/dir/f"), "lower+more");
  EXPECT_EQ(Slurp(f), "lower");  // the lower branch is untouched
  struct stat uf = Lstat(up_ + "/dir/f");
  EXPECT_EQ(uf.st_mode & 07777, 0640u);
  EXPECT_EQ(uf.st_uid, 1234u);
  EXPECT_EQ(Xattr(up_ + "/dir/f", "user.k"), "v");

  // chown, chmod, truncate and utimens each copy up first.
  ASSERT_EQ(lchown((mnt_ + "/dir/link").c_str(), 7, 8), 0);
  EXPECT_EQ(fs::read_symlink(up_ + "/dir/link"), "target");
  EXPECT_EQ(Lstat(up_ + "/dir/link").st_uid, 7u);
  ASSERT_EQ(truncate((mnt_ + "/dir/h").c_str(), 2), 0);
  EXPECT_EQ(Slurp(up_ + "/dir/h"), "hh");
  EXPECT_EQ(Lstat(mnt_ + "/dir/h").st_size, 2);
  ASSERT_EQ(chmod((mnt_ + "/dir/link/../h").c_str(), 0600), -1);  // no such dir: a symlink
  ASSERT_EQ(chmod((mnt_ + "/a-missing").c_str(), 0600), -1);
}

TEST_F(AufsFuseTest, CopyUpKeepsHolesCopiesOnlyWhatATruncateKeepsAndSpecialFilesXattrs) {
  // A 256 MiB file with 4 KiB of data at each end: the copy must stay sparse.
  std::string sparse = l1_ + "/sparse";
  {
    int fd = open(sparse.c_str(), O_WRONLY | O_CREAT, 0644);
    ASSERT_GE(fd, 0);
    std::string head(4096, 'h'), tail(4096, 't');
    ASSERT_EQ(pwrite(fd, head.data(), head.size(), 0), 4096);
    ASSERT_EQ(pwrite(fd, tail.data(), tail.size(), (256 << 20) - 4096), 4096);
    close(fd);
  }
  // A 64 MiB dense file, opened with O_TRUNC and truncated through the union.
  Put(l1_ + "/big", std::string(64 << 20, 'b'));
  Put(l1_ + "/cut", "0123456789");
  ASSERT_EQ(symlink("target", (l1_ + "/link").c_str()), 0);
  ASSERT_EQ(mkfifo((l1_ + "/fifo").c_str(), 0640), 0);
  for (const char* name : {"/link", "/fifo"}) {
    ASSERT_EQ(lsetxattr((l1_ + name).c_str(), "trusted.k", "t", 1, 0), 0) << name;
  }
  Mount(Br());

  ASSERT_EQ(chmod((mnt_ + "/sparse").c_str(), 0600), 0);  // a metadata change copies up
  struct stat us = Lstat(up_ + "/sparse");
  EXPECT_EQ(us.st_size, 256 << 20);
  EXPECT_LT(us.st_blocks * 512, 1 << 20) << "the copy-up filled the holes";
  std::string got = Slurp(mnt_ + "/sparse");
  ASSERT_EQ(got.size(), 256u << 20);
  EXPECT_EQ(got.substr(0, 4096), std::string(4096, 'h'));
  EXPECT_EQ(got.substr((256 << 20) - 4096), std::string(4096, 't'));
  EXPECT_EQ(got.find_first_not_of('\0', 4096), static_cast<size_t>((256 << 20) - 4096));

  {
    int fd = open((mnt_ + "/big").c_str(), O_WRONLY | O_TRUNC);
    ASSERT_GE(fd, 0) << strerror(errno);
    ASSERT_EQ(write(fd, "new", 3), 3);
    close(fd);
  }
  EXPECT_EQ(Slurp(mnt_ + "/big"), "new");
  EXPECT_EQ(Lstat(l1_ + "/big").st_size, 64 << 20);  // the lower branch is untouched
  ASSERT_EQ(truncate((mnt_ + "/cut").c_str(), 4), 0);
  EXPECT_EQ(Slurp(up_ + "/cut"), "0123");
  ASSERT_EQ(truncate((mnt_ + "/cut").c_str(), 6), 0);  // growing again reads zeros, not "45"
  EXPECT_EQ(Slurp(mnt_ + "/cut"), std::string("0123\0\0", 6));

  // Symlinks and fifos carry their xattrs up (through their paths: they have no fd).
  ASSERT_EQ(lchown((mnt_ + "/link").c_str(), 7, 8), 0);
  ASSERT_EQ(lchown((mnt_ + "/fifo").c_str(), 7, 8), 0);
  EXPECT_EQ(Xattr(up_ + "/link", "trusted.k"), "t");
  EXPECT_EQ(Xattr(up_ + "/fifo", "trusted.k"), "t");
  EXPECT_TRUE(S_ISFIFO(Lstat(up_ + "/fifo").st_mode));
  EXPECT_EQ(Lstat(up_ + "/fifo").st_mode & 07777, 0640u);
}

// A large copy-up runs outside the namespace lock: while a 256 MiB file is being copied up
// (its internal temporary is in the rw branch), another file is created, renamed and removed.
// Two writers of the same lower file share one copy.
TEST_F(AufsFuseTest, LargeCopyUpDoesNotStallOtherChanges) {
  Put(l1_ + "/d/big", std::string(256 << 20, 'b'));
  Mount(Br());
  auto copying = [&] {
    if (!fs::exists(up_ + "/d")) return false;
    for (const auto& e : fs::directory_iterator(up_ + "/d")) {
      if (e.path().filename().string().starts_with(".wh..wh.copyup.")) return true;
    }
    return false;
  };
  std::vector<std::thread> writers;
  std::vector<int> results(2, -1);
  for (int i = 0; i < 2; ++i) {
    writers.emplace_back([&, i] {
      int fd = open((mnt_ + "/d/big").c_str(), O_WRONLY);
      results[static_cast<size_t>(i)] = fd < 0 ? errno : 0;
      if (fd >= 0) {
        (void)pwrite(fd, "W", 1, 0);
        close(fd);
      }
    });
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!copying() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_TRUE(copying()) << "the copy-up never started";
  Put(mnt_ + "/other", "o");
  ASSERT_EQ(rename((mnt_ + "/other").c_str(), (mnt_ + "/moved").c_str()), 0);
  ASSERT_EQ(mkdir((mnt_ + "/newdir").c_str(), 0755), 0);
  bool still_copying = copying();
  for (auto& t : writers) t.join();
  EXPECT_TRUE(still_copying) << "creating, renaming and mkdir waited for the copy-up";
  EXPECT_EQ(results, (std::vector<int>{0, 0}));
  EXPECT_FALSE(copying());  // no temporary left
  EXPECT_EQ(Lstat(up_ + "/d/big").st_size, 256 << 20);
  std::string got = Slurp(mnt_ + "/d/big");
  EXPECT_EQ(got.substr(0, 2), "Wb");
  EXPECT_EQ(got.find_first_not_of('b', 1), std::string::npos);
  EXPECT_EQ(Slurp(mnt_ + "/moved"), "o");
}

TEST_F(AufsFuseTest, WritesThroughTheWritebackCacheKeepAppendAndPartialPages) {
  Put(l1_ + "/log", "one\n");
  Put(l1_ + "/page", std::string(10000, 'p'));
  Mount(Br());
  // O_APPEND from two opens: the kernel keeps the size, so each write lands at the end.
  for (const char* line : {"two\n", "three\n"}) {
    int fd = open((mnt_ + "/log").c_str(), O_WRONLY | O_APPEND);
    ASSERT_GE(fd, 0) << strerror(errno);
    ASSERT_EQ(write(fd, line, strlen(line)), static_cast<ssize_t>(strlen(line)));
    close(fd);
  }
  EXPECT_EQ(Slurp(mnt_ + "/log"), "one\ntwo\nthree\n");
  // A write-only open writing into the middle of a page: the rest of the page survives (the
  // kernel reads it through a handle opened write-only).
  {
    int fd = open((mnt_ + "/page").c_str(), O_WRONLY);
    ASSERT_GE(fd, 0) << strerror(errno);
    ASSERT_EQ(pwrite(fd, "XY", 2, 5000), 2);
    ASSERT_EQ(fsync(fd), 0);
    close(fd);
  }
  std::string want(10000, 'p');
  want.replace(5000, 2, "XY");
  EXPECT_EQ(Slurp(up_ + "/page"), want);
  EXPECT_EQ(Slurp(mnt_ + "/page"), want);
  // A new file written in 1 MiB pieces and fsynced is all in the rw branch.
  {
    int fd = open((mnt_ + "/new").c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
    ASSERT_GE(fd, 0) << strerror(errno);
    std::string chunk(1 << 20, 'n');
    for (int i = 0; i < 8; ++i) ASSERT_EQ(write(fd, chunk.data(), chunk.size()), 1 << 20);
    ASSERT_EQ(fsync(fd), 0);
    close(fd);
  }
  EXPECT_EQ(Lstat(up_ + "/new").st_size, 8 << 20);
  EXPECT_EQ(Lstat(mnt_ + "/new").st_size, 8 << 20);
}

TEST_F(AufsFuseTest, UnlinkAndRmdirLeaveWhiteoutsOnlyWhenNeeded) {
  Populate();
  Mount(Br());
  ASSERT_EQ(unlink((mnt_ + "/only2").c_str()), 0);
  EXPECT_TRUE(fs::exists(up_ + "/.wh.only2"));
  EXPECT_TRUE(fs::exists(l2_ + "/only2"));
  EXPECT_FALSE(fs::exists(mnt_ + "/only2"));
  Put(mnt_ + "/fresh", "new");
  EXPECT_EQ(Slurp(up_ + "/fresh"), "new");
  ASSERT_EQ(unlink((mnt_ + "/fresh").c_str()), 0);
  EXPECT_FALSE(fs::exists(up_ + "/.wh.fresh"));  // nothing below: no whiteout
  EXPECT_EQ(ErrnoOf(rmdir((mnt_ + "/d").c_str())), ENOTEMPTY);
  EXPECT_EQ(ErrnoOf(unlink((mnt_ + "/d").c_str())), EISDIR);
  ASSERT_EQ(rmdir((mnt_ + "/empty").c_str()), 0);  // empty in the merged view
  EXPECT_TRUE(fs::exists(up_ + "/.wh.empty"));
  fs::remove_all(mnt_ + "/d");  // unlinks each lower file, then the merged dirs
  EXPECT_FALSE(fs::exists(mnt_ + "/d"));
  EXPECT_TRUE(fs::exists(up_ + "/.wh.d"));
  EXPECT_FALSE(fs::exists(up_ + "/d"));  // the rw copy and its whiteouts went with it
  EXPECT_EQ(Names(mnt_), (std::set<std::string>{"a", "op"}));
}

TEST_F(AufsFuseTest, MkdirOverAWhiteoutIsOpaqueAndCreateRemovesTheWhiteout) {
  Populate();
  Mount(Br());
  fs::remove_all(mnt_ + "/d");
  ASSERT_EQ(mkdir((mnt_ + "/d").c_str(), 0711), 0);
  EXPECT_TRUE(fs::exists(up_ + "/d/.wh..wh..opq"));
  EXPECT_FALSE(fs::exists(up_ + "/.wh.d"));
  EXPECT_TRUE(Names(mnt_ + "/d").empty());  // nothing from l1/d or l2/d shows through
  EXPECT_EQ(Lstat(mnt_ + "/d").st_mode & 07777, 0711u);
  ASSERT_EQ(unlink((mnt_ + "/a").c_str()), 0);
  Put(mnt_ + "/a", "again");
  EXPECT_FALSE(fs::exists(up_ + "/.wh.a"));
  EXPECT_EQ(Slurp(mnt_ + "/a"), "again");
  // Whiteout names cannot be made through the union.
  EXPECT_EQ(ErrnoOf(mkdir((mnt_ + "/.wh.x").c_str(), 0755)), EPERM);
}

TEST_F(AufsFuseTest, RenameAndLink) {
  Populate();
  Mount(Br());
  ASSERT_EQ(rename((mnt_ + "/a").c_str(), (mnt_ + "/b").c_str()), 0);
  EXPECT_EQ(Slurp(mnt_ + "/b"), "l1a");
  EXPECT_FALSE(fs::exists(mnt_ + "/a"));
  EXPECT_TRUE(fs::exists(up_ + "/.wh.a"));
  // A directory merged with lower branches: EXDEV (tools fall back to copy + delete).
  EXPECT_EQ(ErrnoOf(rename((mnt_ + "/d").c_str(), (mnt_ + "/d2").c_str())), EXDEV);
  // A directory only in the rw branch renames; over a lower name it becomes opaque.
  ASSERT_EQ(mkdir((mnt_ + "/new").c_str(), 0755), 0);
  Put(mnt_ + "/new/f", "f");
  fs::remove_all(mnt_ + "/op");
  ASSERT_EQ(rename((mnt_ + "/new").c_str(), (mnt_ + "/op").c_str()), 0);
  EXPECT_EQ(Names(mnt_ + "/op"), (std::set<std::string>{"f"}));
  EXPECT_TRUE(fs::exists(up_ + "/op/.wh..wh..opq"));
  EXPECT_FALSE(fs::exists(up_ + "/.wh.op"));
  // Hard link of a lower file: copied up once, linked in the rw branch, one inode number.
  ASSERT_EQ(link((mnt_ + "/only2").c_str(), (mnt_ + "/only2-link").c_str()), 0);
  EXPECT_EQ(Lstat(up_ + "/only2").st_ino, Lstat(up_ + "/only2-link").st_ino);
  EXPECT_EQ(Lstat(mnt_ + "/only2").st_ino, Lstat(mnt_ + "/only2-link").st_ino);
  EXPECT_EQ(Slurp(mnt_ + "/only2-link"), "2");
  // rename(2) of a file over another and RENAME_NOREPLACE.
  EXPECT_EQ(ErrnoOf(renameat2(AT_FDCWD, (mnt_ + "/b").c_str(), AT_FDCWD, (mnt_ + "/only2").c_str(),
                              RENAME_NOREPLACE)),
            EEXIST);
  ASSERT_EQ(rename((mnt_ + "/b").c_str(), (mnt_ + "/only2").c_str()), 0);
  EXPECT_EQ(Slurp(mnt_ + "/only2"), "l1a");
}

TEST_F(AufsFuseTest, ReadOnlyUnionAnswersErofs) {
  Populate();
  Mount("br=" + l1_ + "=ro+wh:" + l2_ + "=ro", l1_);
  EXPECT_EQ(Slurp(mnt_ + "/d/x"), "x");
  EXPECT_EQ(ErrnoOf(open((mnt_ + "/a").c_str(), O_WRONLY)), EROFS);
  EXPECT_EQ(ErrnoOf(mkdir((mnt_ + "/n").c_str(), 0755)), EROFS);
  EXPECT_EQ(ErrnoOf(unlink((mnt_ + "/a").c_str())), EROFS);
  ASSERT_EQ(umount2(mnt_.c_str(), 0), 0);
  Mount(Br() + ",ro");
  EXPECT_EQ(ErrnoOf(open((mnt_ + "/new").c_str(), O_WRONLY | O_CREAT, 0644)), EROFS);
  EXPECT_TRUE(fs::is_empty(up_));
}

TEST_F(AufsFuseTest, BadOptionsNameTheProblemAndMountNothing) {
  struct Case {
    std::string opts;
    std::string message;
  } cases[] = {
      {"br=" + up_ + "=rw:" + root_ + "/missing=ro",
       "branch 2 \"" + root_ + "/missing\": No such file"},
      {"br=" + up_ + "=rw:" + l1_ + "=rw", "a second rw branch"},
      {"br=" + l1_ + "=ro:" + up_ + "=rw", "rw branch not first"},
      {"br=" + up_ + "=rw:" + l1_ + "=rx", "unknown mode \"rx\""},
      {Br() + ",bogus", "unknown option \"bogus\""},
      {"br=" + up_ + "=rw:" + up_ + "=ro", "same directory as another branch"},
  };
  for (const Case& c : cases) {
    auto r = RunCommand({AufsBinary(), "-o", c.opts, mnt_});
    EXPECT_NE(r.exit_code, 0) << c.opts;
    EXPECT_THAT(r.err, HasSubstr(c.message)) << c.opts;
    EXPECT_THAT(r.err, HasSubstr("strata-aufs: "));
    EXPECT_EQ(MountLine(mnt_), "");
  }
  auto r = RunCommand({AufsBinary(), "-o", Br(), root_ + "/nomnt"});
  EXPECT_THAT(r.err, HasSubstr("mountpoint \"" + root_ + "/nomnt\""));
}

TEST_F(AufsFuseTest, BranchFileCarriesA127BranchList) {
  std::string spec = "br:" + up_ + "=rw";
  std::string deep = root_ + "/" + std::string(200, 'p');
  for (int i = 0; i < 126; ++i) {
    std::string dir = deep + "/layer-" + std::to_string(i);
    Put(dir + "/f" + std::to_string(i), std::to_string(i));
    spec += ":" + dir + "=ro+wh";
  }
  Put(root_ + "/br", spec + "\n");
  Mount("br_file=" + root_ + "/br");
  EXPECT_EQ(Names(mnt_).size(), 126u);
  EXPECT_EQ(Slurp(mnt_ + "/f125"), "125");
}

TEST_F(AufsFuseTest, CleanUnmountEndsTheHelper) {
  pid_t pid = StartInForeground();
  ASSERT_NE(MountLine(mnt_), "");
  auto r = RunCommand({"fusermount3", "-u", mnt_});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(MountLine(mnt_), "");
}

TEST_F(AufsFuseTest, KilledHelperIsEnotconnAndLazilyUnmounted) {
  Populate();
  pid_t pid = StartInForeground();
  ASSERT_NE(MountLine(mnt_), "");
  EXPECT_EQ(Slurp(mnt_ + "/a"), "l1a");
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  ASSERT_EQ(waitpid(pid, nullptr, 0), pid);
  // What the driver sees: the mount is still listed, and stat says ENOTCONN.
  std::string line = MountLine(mnt_);
  EXPECT_THAT(line, HasSubstr(" - fuse.strata-aufs strata-aufs:" + up_ + " "));
  // statfs(2) always asks the helper; stat(2) may answer from the one-second attribute cache.
  struct statfs sfs;
  EXPECT_EQ(ErrnoOf(statfs(mnt_.c_str(), &sfs)), ENOTCONN);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  struct stat st;
  EXPECT_EQ(ErrnoOf(stat(mnt_.c_str(), &st)), ENOTCONN);
  EXPECT_EQ(ErrnoOf(stat((mnt_ + "/a").c_str(), &st)), ENOTCONN);
  ASSERT_EQ(umount2(mnt_.c_str(), MNT_DETACH), 0);
  EXPECT_EQ(MountLine(mnt_), "");
  EXPECT_EQ(stat(mnt_.c_str(), &st), 0);
}

// The same basic flow as an unprivileged user, through setuid fusermount3
// (testing::RunAsNobodyWithFuse: a private mount namespace with its own 0666 /dev/fuse). Skips
// only when that setup itself is impossible. Only this test's mount point is counted: the namespace
// starts with a copy of the host's mounts, which may hold other tests' strata-aufs mounts (ctest
// runs tests in parallel).
TEST_F(AufsFuseTest, NonRootBasicFlow) {
  Populate();
  ASSERT_EQ(setxattr((l2_ + "/only2").c_str(), "user.k", "v", 1, 0), 0);
  auto r0 = RunCommand({"chown", "-R", "65534:65534", root_});
  ASSERT_EQ(r0.exit_code, 0) << r0.err;
  std::string script = "set -e; cd " + root_ + "\n" + AufsBinary() + " -o " + Br() + " mnt\n" +
                       R"(cat mnt/a; echo
LC_ALL=C ls mnt | tr '\n' ' '; echo
echo more >> mnt/only2
cat up/only2
getfattr --only-values -n user.k up/only2 2>/dev/null || python3 -c 'import os;print(os.getxattr("up/only2","user.k").decode())'
echo
rm mnt/d/x
test -e up/d/.wh.x && echo whiteout
rm -r mnt/op; mkdir mnt/op; test -e up/op/.wh..wh..opq && echo opaque
ls mnt/op | wc -l
mv mnt/a mnt/b; cat mnt/b; echo
ln mnt/b mnt/c; stat -c %h up/c
ours() { awk -v m="$PWD/mnt" '$5 == m && / - fuse.strata-aufs /' /proc/self/mountinfo | wc -l; }
ours
fusermount3 -u mnt
ours
echo done
)";
  std::string skip;
  auto r = testing::RunAsNobodyWithFuse(root_, script, &skip);
  if (!skip.empty()) GTEST_SKIP() << skip;
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out,
            "l1a\n"
            "a d empty only2 op \n"
            "2more\n"
            "v\n"
            "whiteout\n"
            "opaque\n"
            "0\n"
            "l1a\n"
            "2\n"
            "1\n"
            "0\n"
            "done\n");
  EXPECT_EQ(MountLine(mnt_), "");
  EXPECT_EQ(Lstat(up_ + "/only2").st_uid, 65534u);
}

}  // namespace
}  // namespace strata
