// StageDir (backend.h): where the block-device backends mount a volume's filesystem.
#include <string>

#include "volumes/backend.h"

namespace strata::volumes {

std::string StageDir(const std::string& root, const std::string& name) {
  return root + "/volumes/mnt/" + name;
}

}  // namespace strata::volumes
