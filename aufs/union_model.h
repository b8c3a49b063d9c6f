// The pure half of strata-aufs: command line and branch parsing, aufs whiteout naming, name
// resolution across branches and the readdir merge. No syscalls here; fuse_fs.cc feeds these
// functions what it observes in the branch directories and applies what they decide.
//
// Branch semantics follow kernel aufs (FIELD-GUIDE §3.9): branch 0 is the top; at most one rw
// branch and only at the top; `.wh.<name>` in a branch hides <name> in the branches below it (but
// not a <name> in the same branch); a directory holding `.wh..wh..opq` hides the same directory in
// every branch below. Read-only branches are treated as `ro+wh` (their whiteouts are honoured).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/result.h"

namespace strata::aufs {

inline constexpr std::string_view kWhiteoutPrefix = ".wh.";
inline constexpr std::string_view kOpaqueName = ".wh..wh..opq";
inline constexpr size_t kMaxBranches = 127;  // the compiled aufs default (moby#2897)

enum class BranchMode { kReadWrite, kReadOnly, kReadOnlyWhiteouts };

struct Branch {
  std::string path;  // as given; main.cc makes it absolute before mounting
  BranchMode mode = BranchMode::kReadOnlyWhiteouts;
};

struct Options {
  std::vector<Branch> branches;  // top first
  bool foreground = false;
  bool debug = false;        // -d: libfuse request tracing, implies -f
  bool read_only = false;    // -o ro, or no rw branch
  bool allow_other = false;
  bool dirperm1 = false;     // accepted: attributes always come from the winning branch anyway
  std::string xino_path;     // accepted and unused: inode numbers live in memory (InodeTable)
  std::string mountpoint;
};

// Parses "DIR1=rw:DIR2=ro+wh:..." (the value of br= / br:). Errors are EINVAL and name the
// offending branch: `branch 2 "/l1=rx": unknown mode "rx" (rw, ro, ro+wh)`. Checks the branch
// count, at most one rw branch and that it is first; does not touch the filesystem.
Result<std::vector<Branch>> ParseBranchSpec(std::string_view spec);

// Parses the strata-aufs argv (argv[0] excluded):
//   [-f] [-d] [-o opt[,opt...]]... MOUNTPOINT
// `read_file` loads br_file=PATH (a seam so tests need no files). EINVAL names the option.
Result<Options> ParseCommandLine(const std::vector<std::string>& args,
                                 const std::function<Result<std::string>(const std::string&)>& read_file);

// True for names the union never shows or lets be looked up: every `.wh.*` name (whiteouts,
// `.wh..wh..opq`, `.wh..wh.aufs`, `.wh..wh.plnk`, `.wh..wh.orph`, copy-up temporaries).
inline bool IsInternalName(std::string_view name) { return name.starts_with(kWhiteoutPrefix); }
// ".wh.<name>"
std::string WhiteoutName(std::string_view name);
// For a whiteout name ".wh.x" (not an aufs meta name ".wh..wh.*"), "x"; otherwise "".
std::string_view WhitedOutName(std::string_view entry);

// What one branch holds for one name, as fuse_fs.cc observes it (lazily, top down).
enum class EntryType : uint8_t { kAbsent, kDirectory, kOther };
struct BranchEntry {
  EntryType type = EntryType::kAbsent;
  bool whiteout = false;  // `.wh.<name>` exists in that branch (only looked at when kAbsent)
  bool opaque = false;    // a directory holding `.wh..wh..opq` (only looked at for kDirectory)
};

// The result of resolving one name in a merged directory.
struct Resolution {
  EntryType type = EntryType::kAbsent;
  // Positions (indices into the parent's view, ascending) of the branches whose entry makes up
  // the union's entry: the winner first; more than one only for a merged directory.
  std::vector<uint8_t> layers;
};

// Resolves a name across `count` branches (the parent directory's view, top first), calling
// observe(i) for i = 0, 1, ... only as far as needed: a non-directory ends the search, a
// whiteout hides everything below, an opaque directory ends the merge, and a non-directory under
// a directory ends the merge too (as overlayfs does).
Resolution ResolveEntry(size_t count, const std::function<BranchEntry(size_t)>& observe);

// One directory entry as read from a branch.
struct DirEntry {
  std::string name;
  uint8_t d_type = 0;  // DT_* from readdir
  size_t layer = 0;    // filled by MergeListings: which listing the entry came from
  uint64_t ino = 0;    // the branch's own inode number (d_ino), kept by MergeListings
};

// Merges the listings of one directory's view (top first): each name once, the highest branch's
// entry winning; names whited out by a higher branch dropped; internal names dropped. "." and ".."
// are not expected in the input.
std::vector<DirEntry> MergeListings(const std::vector<std::vector<DirEntry>>& listings);

// Paths inside the union are "/"-rooted ("/", "/a", "/a/b"), as the FUSE high-level API gives them.
std::string_view ParentPath(std::string_view path);  // "/a/b" -> "/a", "/a" -> "/"
std::string_view BaseName(std::string_view path);    // "/a/b" -> "b", "/" -> ""
// The path relative to a branch root for *at() calls: "/" -> ".", "/a/b" -> "a/b".
std::string_view BranchRelative(std::string_view path);
std::string JoinPath(std::string_view dir, std::string_view name);

// Union inode numbers: stable per path for the mount's life (a path->ino table). A non-directory
// seen first through a branch gets the number of its (branch, branch inode) pair, so hard links
// inside a layer share one number, as on the layer itself; hard links made through the union
// share a number too (Link). Thread-safe.
class InodeTable {
 public:
  uint64_t Get(const std::string& path);  // assigns the next number on first sight; "/" is 1
  // As Get, but a path seen for the first time takes the number already given to (branch, ino).
  uint64_t GetLinked(const std::string& path, size_t branch, uint64_t ino);
  void Link(const std::string& existing, const std::string& new_path);
  void Forget(const std::string& path);  // unlink/rmdir: the name may come back as a new file
  // Renames `from` and everything under it to `to` (the old numbers follow the names).
  void Rename(const std::string& from, const std::string& to);
  size_t size() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, uint64_t, std::less<>> inos_;  // ordered: Rename moves a subtree
  std::map<std::pair<size_t, uint64_t>, uint64_t> linked_;  // (branch, branch ino) -> number
  uint64_t next_ = 2;
};

}  // namespace strata::aufs
