// Pure functions over layer-tar entry names: cleaning and validating a name before anything touches
// the disk, and recognising the .wh. whiteout conventions (FIELD-GUIDE §3.7, §3.9).
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"

namespace strata::drivers::archive {

inline constexpr std::string_view kWhiteoutPrefix = ".wh.";
inline constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";

// Cleans a name from an archive (an entry or a hardlink target) into a path relative to the layer
// root. Error: EPERM "path escapes the layer root" (no entry context: see CleanEntryName).
Result<std::string> CleanRelativePath(std::string_view name);

// Cleans an entry name into a path relative to the layer root: strips "./" prefixes, empty and "."
// components and a trailing '/'. "." and "./" clean to "" (the root itself).
// Errors (EPERM, naming the entry): an absolute name, or any ".." component
//   entry "../../etc/passwd": path escapes the layer root
// A cleaned name never starts or ends with '/', has no "//", "." or ".." component, so joining it
// to a directory fd with *at() calls stays below that directory as long as no component is a
// symlink (DirResolver checks that part on disk).
Result<std::string> CleanEntryName(std::string_view name);

// Splits a cleaned name into its parent ("" for top level) and its last component.
struct SplitName {
  std::string_view dir;
  std::string_view base;
};
SplitName SplitEntryName(std::string_view clean);

// What a cleaned name means under the .wh. conventions.
struct WhiteoutName {
  enum class Kind {
    kNone,      // an ordinary entry
    kWhiteout,  // DIR/.wh.NAME: NAME is deleted; `dir` is DIR, `target` is DIR/NAME
    kOpaque,    // DIR/.wh..wh..opq: DIR hides everything below it from lower layers; `dir` is DIR
    kAufsMeta,  // .wh..wh.plnk, .wh..wh.aufs, .wh..wh.orph or anything under them: skipped
  };
  Kind kind = Kind::kNone;
  std::string dir;
  std::string target;
};

// Classifies a cleaned name. A whiteout of "." or ".." (".wh..", ".wh...") or of nothing (".wh.")
// is an error (EPERM) naming `raw_name`, the name as it appeared in the archive.
Result<WhiteoutName> ParseWhiteout(std::string_view clean, std::string_view raw_name);

// `entry "NAME"`: the prefix every per-entry error carries.
std::string EntryContext(std::string_view raw_name);

// Whether `path` is `prefix` or lies below it ("a/b" is under "a", "ab" is not). "" is the root.
bool IsAtOrUnder(std::string_view path, std::string_view prefix);

// Joins a cleaned parent and a component: JoinEntryName("", "x") == "x".
std::string JoinEntryName(std::string_view dir, std::string_view base);

}  // namespace strata::drivers::archive
