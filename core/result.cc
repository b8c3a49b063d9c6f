#include "core/result.h"

#include <cstring>

namespace strata {

Error Error::FromErrno(int code, std::string_view what) {
  std::string message(what);
  message += ": ";
  message += std::strerror(code);
  return Error(code, std::move(message));
}

}  // namespace strata
