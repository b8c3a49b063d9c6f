#include "core/random_id.h"

#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

namespace strata {
namespace {

// Fills `bytes` from getrandom(2); the errno on failure.
int FillRandom(std::string& bytes) {
  size_t got = 0;
  while (got < bytes.size()) {
    ssize_t r = ::getrandom(bytes.data() + got, bytes.size() - got, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return errno;
    got += static_cast<size_t>(r);
  }
  return 0;
}

std::string Hex(const std::string& bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    out += kHex[b >> 4];
    out += kHex[b & 0xf];
  }
  return out;
}

}  // namespace

Result<std::string> RandomHexId() {
  std::string bytes(32, '\0');
  if (int err = FillRandom(bytes); err != 0) return Error::FromErrno(err, "getrandom");
  return Hex(bytes);
}

std::string RandomHex(size_t n) {
  std::string bytes((n + 1) / 2, '\0');
  if (FillRandom(bytes) != 0) {
    bytes.assign(bytes.size(), static_cast<char>(::getpid() ^ ::time(nullptr)));
  }
  std::string out = Hex(bytes);
  out.resize(n);
  return out;
}

}  // namespace strata
