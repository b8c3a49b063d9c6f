// Small string helpers shared by every layer.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace strata {

// Levenshtein distance.
size_t EditDistance(std::string_view a, std::string_view b);

// The closest candidate to `name` within a small edit distance, formatted for an error message:
// ` (did you mean "overlay"?)`, or "" when none is close. Use it for every unknown-name error.
std::string DidYouMean(std::string_view name, const std::vector<std::string_view>& candidates);

// "a, b, c"
std::string Join(const std::vector<std::string>& parts, std::string_view separator);

}  // namespace strata
