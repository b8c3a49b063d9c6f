#include "core/digest.h"

#include <gtest/gtest.h>

#include <string>

namespace strata {
namespace {

constexpr char kEmpty[] = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr char kAbc[] = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

TEST(DigestTest, KnownVectors) {
  Sha256 empty;
  EXPECT_EQ(*empty.Final(), kEmpty);
  Sha256 abc;
  abc.Update("a", 1);
  abc.Update("bc", 2);
  EXPECT_EQ(*abc.Final(), kAbc);
}

TEST(DigestTest, BackgroundMatchesInlineAcrossChunkBoundaries) {
  std::string data(3 * (1 << 20) + 12345, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7 + (i >> 11));
  Sha256 inline_sha;
  inline_sha.Update(data.data(), data.size());
  BackgroundSha256 background;
  // Odd-sized pieces so chunk boundaries fall inside updates.
  for (size_t off = 0; off < data.size(); off += 65537) {
    background.Update(data.data() + off, std::min<size_t>(65537, data.size() - off));
  }
  EXPECT_EQ(*background.Final(), *inline_sha.Final());
}

TEST(DigestTest, BackgroundOfNothingIsTheEmptyDigest) {
  BackgroundSha256 background;
  EXPECT_EQ(*background.Final(), kEmpty);
}

TEST(DigestTest, BackgroundDestroyedWithoutFinalJoinsCleanly) {
  BackgroundSha256 background;
  std::string data(5 << 20, 'x');
  background.Update(data.data(), data.size());
}

}  // namespace
}  // namespace strata
