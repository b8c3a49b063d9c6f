#include "aufs/union_model.h"

#include <unordered_set>

#include "core/strings.h"

namespace strata::aufs {
namespace {

Error Invalid(std::string message) { return Error(EINVAL, std::move(message)); }

std::vector<std::string_view> SplitOn(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t end = s.find(sep, start);
    parts.push_back(s.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

Result<BranchMode> ParseMode(std::string_view mode) {
  if (mode == "rw") return BranchMode::kReadWrite;
  if (mode == "ro") return BranchMode::kReadOnly;
  if (mode == "ro+wh") return BranchMode::kReadOnlyWhiteouts;
  return Invalid("unknown mode \"" + std::string(mode) + "\" (rw, ro, ro+wh)");
}

// Applies one -o item to `opts`. br_seen guards against two branch lists.
Status ApplyOption(std::string_view item, Options& opts, bool& br_seen,
                   const std::function<Result<std::string>(const std::string&)>& read_file) {
  auto value_of = [&](std::string_view key) { return item.substr(key.size()); };
  std::string spec;
  if (item.starts_with("br=") || item.starts_with("br:")) {
    spec = value_of("br=");
  } else if (item.starts_with("br_file=")) {
    std::string path(value_of("br_file="));
    STRATA_ASSIGN_OR_RETURN_CTX(spec, read_file(path), "option br_file=" + path);
    while (!spec.empty() && (spec.back() == '\n' || spec.back() == '\r')) spec.pop_back();
    if (spec.starts_with("br=") || spec.starts_with("br:")) spec.erase(0, 3);
  } else if (item == "ro") {
    opts.read_only = true;
    return Ok();
  } else if (item == "rw" || item == "dio" || item == "noxino" || item == "default_permissions") {
    return Ok();  // accepted for aufs compatibility; default_permissions is always on
  } else if (item == "allow_other") {
    opts.allow_other = true;
    return Ok();
  } else if (item == "dirperm1") {
    opts.dirperm1 = true;
    return Ok();
  } else if (item.starts_with("xino=")) {
    opts.xino_path = value_of("xino=");
    return Ok();
  } else {
    std::string name(item.substr(0, item.find('=')));
    return Invalid("unknown option \"" + std::string(item) + "\"" +
                   DidYouMean(name, {"br", "br_file", "ro", "rw", "allow_other", "dirperm1",
                                     "xino", "noxino", "dio"}));
  }
  if (br_seen) return Invalid("option br: given twice (br= and br_file= are one option)");
  br_seen = true;
  STRATA_ASSIGN_OR_RETURN_CTX(opts.branches, ParseBranchSpec(spec), "option br");
  return Ok();
}

}  // namespace

Result<std::vector<Branch>> ParseBranchSpec(std::string_view spec) {
  if (spec.empty()) return Invalid("no branches");
  std::vector<Branch> branches;
  for (std::string_view item : SplitOn(spec, ':')) {
    size_t n = branches.size() + 1;
    std::string where = "branch " + std::to_string(n) + " \"" + std::string(item) + "\"";
    if (item.empty()) return Invalid(where + ": empty (a stray ':'?)");
    Branch b;
    size_t eq = item.rfind('=');
    if (eq == std::string_view::npos) {
      // aufs: without a mode the first branch is rw and the others ro.
      b.path = item;
      b.mode = branches.empty() ? BranchMode::kReadWrite : BranchMode::kReadOnly;
    } else {
      b.path = item.substr(0, eq);
      STRATA_ASSIGN_OR_RETURN_CTX(b.mode, ParseMode(item.substr(eq + 1)), where);
    }
    if (b.path.empty()) return Invalid(where + ": empty path");
    if (b.mode == BranchMode::kReadWrite && !branches.empty()) {
      bool first_rw = branches.front().mode == BranchMode::kReadWrite;
      return Invalid(where + (first_rw ? ": a second rw branch (at most one)"
                                       : ": rw branch not first (only the top branch may be rw)"));
    }
    branches.push_back(std::move(b));
    if (branches.size() > kMaxBranches) {
      return Invalid("too many branches: more than " + std::to_string(kMaxBranches));
    }
  }
  return branches;
}

Result<Options> ParseCommandLine(
    const std::vector<std::string>& args,
    const std::function<Result<std::string>(const std::string&)>& read_file) {
  Options opts;
  bool br_seen = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    std::string_view optstr;
    if (a == "-f") {
      opts.foreground = true;
      continue;
    } else if (a == "-d") {
      opts.debug = opts.foreground = true;
      continue;
    } else if (a == "-o") {
      if (i + 1 == args.size()) return Invalid("-o needs an argument");
      optstr = args[++i];
    } else if (a.starts_with("-o")) {
      optstr = std::string_view(a).substr(2);
    } else if (a.starts_with("-") && a.size() > 1) {
      return Invalid("unknown flag \"" + a + "\" (-f, -d, -o OPTIONS)");
    } else {
      if (!opts.mountpoint.empty()) return Invalid("more than one mountpoint: \"" + a + "\"");
      opts.mountpoint = a;
      continue;
    }
    for (std::string_view item : SplitOn(optstr, ',')) {
      if (item.empty()) continue;
      STRATA_TRY(ApplyOption(item, opts, br_seen, read_file));
    }
  }
  if (opts.mountpoint.empty()) return Invalid("no mountpoint");
  if (!br_seen) return Invalid("no branches: pass -o br=DIR=rw:DIR=ro+wh... or -o br_file=PATH");
  if (opts.branches.front().mode != BranchMode::kReadWrite) opts.read_only = true;
  return opts;
}

std::string WhiteoutName(std::string_view name) {
  std::string s(kWhiteoutPrefix);
  s += name;
  return s;
}

std::string_view WhitedOutName(std::string_view entry) {
  if (!entry.starts_with(kWhiteoutPrefix)) return {};
  std::string_view rest = entry.substr(kWhiteoutPrefix.size());
  if (rest.empty() || rest.starts_with(kWhiteoutPrefix)) return {};  // aufs meta names
  return rest;
}

Resolution ResolveEntry(size_t count, const std::function<BranchEntry(size_t)>& observe) {
  Resolution r;
  for (size_t i = 0; i < count; ++i) {
    BranchEntry e = observe(i);
    if (e.type == EntryType::kAbsent) {
      if (e.whiteout) return r;  // hides this name in every lower branch
      continue;
    }
    if (r.type == EntryType::kAbsent) {
      r.type = e.type;
    } else if (e.type == EntryType::kOther) {
      return r;  // a non-directory under a merged directory ends the merge
    }
    r.layers.push_back(static_cast<uint8_t>(i));
    if (e.type == EntryType::kOther || e.opaque) return r;
  }
  return r;
}

std::vector<DirEntry> MergeListings(const std::vector<std::vector<DirEntry>>& listings) {
  std::vector<DirEntry> merged;
  std::unordered_set<std::string_view> seen;    // names already emitted (or shadowed)
  std::unordered_set<std::string_view> hidden;  // whited out by a higher branch
  for (size_t layer = 0; layer < listings.size(); ++layer) {
    std::vector<std::string_view> whiteouts;
    for (const DirEntry& e : listings[layer]) {
      if (IsInternalName(e.name)) {
        std::string_view target = WhitedOutName(e.name);
        if (!target.empty()) whiteouts.push_back(target);
        continue;
      }
      if (e.name == "." || e.name == ".." || hidden.contains(e.name)) continue;
      if (!seen.insert(e.name).second) continue;
      merged.push_back(DirEntry{e.name, e.d_type, layer, e.ino});
    }
    // A whiteout hides lower branches only, never an entry of its own branch.
    for (std::string_view w : whiteouts) hidden.insert(w);
  }
  return merged;
}

std::string_view ParentPath(std::string_view path) {
  size_t slash = path.rfind('/');
  if (slash == 0 || slash == std::string_view::npos) return "/";
  return path.substr(0, slash);
}

std::string_view BaseName(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::string_view BranchRelative(std::string_view path) {
  while (path.starts_with('/')) path.remove_prefix(1);
  return path.empty() ? std::string_view(".") : path;
}

std::string JoinPath(std::string_view dir, std::string_view name) {
  std::string s(dir);
  if (s.empty() || s.back() != '/') s += '/';
  s += name;
  return s;
}

uint64_t InodeTable::Get(const std::string& path) {
  if (path == "/") return 1;
  std::lock_guard lock(mu_);
  auto [it, inserted] = inos_.try_emplace(path, next_);
  if (inserted) ++next_;
  return it->second;
}

uint64_t InodeTable::GetLinked(const std::string& path, size_t branch, uint64_t ino) {
  std::lock_guard lock(mu_);
  auto found = inos_.find(path);
  if (found != inos_.end()) return found->second;
  auto [it, inserted] = linked_.try_emplace({branch, ino}, next_);
  if (inserted) ++next_;
  inos_.emplace(path, it->second);
  return it->second;
}

void InodeTable::Link(const std::string& existing, const std::string& new_path) {
  uint64_t ino = Get(existing);
  std::lock_guard lock(mu_);
  inos_[new_path] = ino;
}

void InodeTable::Forget(const std::string& path) {
  std::lock_guard lock(mu_);
  inos_.erase(path);
}

void InodeTable::Rename(const std::string& from, const std::string& to) {
  std::lock_guard lock(mu_);
  // Drop whatever the target names held, then move the source subtree over.
  auto in_subtree = [](const std::string& key, const std::string& root) {
    return key == root || (key.size() > root.size() && key.starts_with(root) && key[root.size()] == '/');
  };
  for (auto it = inos_.lower_bound(to); it != inos_.end() && it->first.starts_with(to);) {
    it = in_subtree(it->first, to) ? inos_.erase(it) : std::next(it);
  }
  std::vector<std::pair<std::string, uint64_t>> moved;
  for (auto it = inos_.lower_bound(from); it != inos_.end() && it->first.starts_with(from);) {
    if (!in_subtree(it->first, from)) {
      ++it;
      continue;
    }
    moved.emplace_back(to + it->first.substr(from.size()), it->second);
    it = inos_.erase(it);
  }
  for (auto& [path, ino] : moved) inos_[path] = ino;
}

size_t InodeTable::size() const {
  std::lock_guard lock(mu_);
  return inos_.size();
}

}  // namespace strata::aufs
