#include "images/reference.h"

#include <cerrno>

namespace strata::images {
namespace {

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsHex(char c) { return (c >= 'a' && c <= 'f') || (c >= '0' && c <= '9'); }

// component := [a-z0-9]+ ( ( '.' | '_' | '__' | '-'+ ) [a-z0-9]+ )*
bool IsComponent(std::string_view c) {
  if (c.empty() || !IsLowerAlnum(c.front()) || !IsLowerAlnum(c.back())) return false;
  for (size_t i = 0; i < c.size();) {
    if (IsLowerAlnum(c[i])) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < c.size() && !IsLowerAlnum(c[j])) ++j;
    std::string_view sep = c.substr(i, j - i);
    bool dashes = sep.find_first_not_of('-') == std::string_view::npos;
    if (!(sep == "." || sep == "_" || sep == "__" || dashes)) return false;
    i = j;
  }
  return true;
}

bool IsDomain(std::string_view d) {
  if (d.empty()) return false;
  size_t colon = d.find(':');
  std::string_view host = d.substr(0, colon);
  if (colon != std::string_view::npos) {
    std::string_view port = d.substr(colon + 1);
    if (port.empty() || port.find_first_not_of("0123456789") != std::string_view::npos) {
      return false;
    }
  }
  if (host.empty()) return false;
  for (char c : host) {
    if (!(IsLowerAlnum(c) || (c >= 'A' && c <= 'Z') || c == '.' || c == '-')) return false;
  }
  return true;
}

Error Bad(std::string_view text, const std::string& why) {
  return Error(EINVAL, "image name \"" + std::string(text) + "\": " + why);
}

}  // namespace

bool IsBareTag(std::string_view text) {
  if (text.empty() || text.size() > 128) return false;
  auto word = [](char c) {
    return IsLowerAlnum(c) || (c >= 'A' && c <= 'Z') || c == '_';
  };
  if (!word(text.front())) return false;
  for (char c : text) {
    if (!(word(c) || c == '.' || c == '-')) return false;
  }
  return true;
}

bool LooksLikeImageId(std::string_view text) {
  if (text.rfind("sha256:", 0) == 0) text.remove_prefix(7);
  if (text.size() < 4 || text.size() > 64) return false;
  for (char c : text) {
    if (!IsHex(c)) return false;
  }
  return true;
}

Result<ImageName> ParseImageName(std::string_view text) {
  if (text.empty()) return Bad(text, "empty");
  if (text.size() > 255) return Bad(text, "longer than 255 characters");
  if (text.find('@') != std::string_view::npos) {
    return Bad(text, "digest references are not supported; use the image id");
  }
  ImageName name;
  std::string_view repo = text;
  size_t slash = text.rfind('/');
  size_t colon = text.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    name.tag = std::string(text.substr(colon + 1));
    repo = text.substr(0, colon);
    if (!IsBareTag(name.tag)) {
      return Bad(text, "tag \"" + name.tag + "\" must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}");
    }
  } else {
    name.tag = "latest";
  }
  if (repo.empty()) return Bad(text, "no repository before the tag");
  // Split off a domain: a first component with '.', ':' or "localhost", followed by more.
  std::string_view domain;
  std::string_view path = repo;
  size_t first = repo.find('/');
  if (first != std::string_view::npos) {
    std::string_view head = repo.substr(0, first);
    if (head.find('.') != std::string_view::npos || head.find(':') != std::string_view::npos ||
        head == "localhost") {
      if (!IsDomain(head)) return Bad(text, "registry \"" + std::string(head) + "\" is not host[:port]");
      domain = head;
      path = repo.substr(first + 1);
    }
  }
  if (path.empty()) return Bad(text, "no repository after the registry");
  size_t start = 0;
  while (true) {
    size_t end = path.find('/', start);
    std::string_view component = path.substr(start, end == std::string_view::npos ? end : end - start);
    if (!IsComponent(component)) {
      bool upper = false;
      for (char c : component) upper = upper || (c >= 'A' && c <= 'Z');
      if (upper) return Bad(text, "repository must be lowercase");
      return Bad(text, "\"" + std::string(component) +
                           "\" is not a valid path component (lowercase letters, digits, and "
                           "single '.', '_', '__' or '-' runs between them)");
    }
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  if (domain == "docker.io" || domain == "index.docker.io") {
    constexpr std::string_view kLibrary = "library/";
    if (path.rfind(kLibrary, 0) == 0 && path.find('/', kLibrary.size()) == std::string_view::npos) {
      path.remove_prefix(kLibrary.size());
    }
    name.repository = std::string(path);
  } else if (domain.empty()) {
    name.repository = std::string(path);
  } else {
    name.repository = std::string(domain) + "/" + std::string(path);
  }
  return name;
}

}  // namespace strata::images
