// Image names ("busybox", "busybox:1.36", "registry.example:5000/team/app:v2") as users type
// them, normalised the way docker shows them: "docker.io/library/busybox" -> "busybox",
// "docker.io/team/app" -> "team/app", and a missing tag means ":latest".
//
// Grammar (a subset of the distribution reference grammar, without digests):
//   name      := [domain '/'] component ('/' component)*
//   component := [a-z0-9]+ ( ( '.' | '_' | '__' | '-'+ ) [a-z0-9]+ )*
//   domain    := a first part that has a '.' or a ':' or is "localhost": host[:port]
//   tag       := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
// A name is at most 255 characters. Pure functions.
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"

namespace strata::images {

struct ImageName {
  std::string repository;  // normalised: "busybox", "team/app", "registry.example:5000/app"
  std::string tag;         // "latest" when none was given
  std::string ToString() const { return repository + ":" + tag; }
};

// EINVAL naming the text and the rule it breaks:
//   image name "Busybox": repository must be lowercase
//   image name "app@sha256:…": digest references are not supported
Result<ImageName> ParseImageName(std::string_view text);

// True for a string that is a tag and nothing more ("latest", "v1.2"), as OCI layouts write in
// org.opencontainers.image.ref.name.
bool IsBareTag(std::string_view text);

// True for "sha256:<64 hex>", "<64 hex>", or a hex prefix of at least 4 characters: text that
// names an image by id rather than by name.
bool LooksLikeImageId(std::string_view text);

}  // namespace strata::images
